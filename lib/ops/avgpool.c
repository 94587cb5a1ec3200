// avgpool.c: torch.nn.functional.adaptive_avg_pool2d(x, (1, 1)), the mean over H and W.
// PyTorch records it as MeanBackward1 (it takes the mean path for a 1x1 output); the op
// is named AdaptiveAvgPool2DBackward0 here, as ops.h says. Backward spreads dout / (H*W).
#include "ops.h"

static tg_status avgpool_backward(tg_ctx *c, tg_node *n, const float *dout) {
    tg_tensor *x = n->in[0];
    float *dx = tg_grad_buf(c, x);
    if (!dx) return tg_ctx_status(c);
    const int64_t NC = x->shape[0] * x->shape[1], HW = x->shape[2] * x->shape[3];
    for (int64_t i = 0; i < NC; i++) {
        const float d = dout[i] / (float)HW;
        float *q = dx + i * HW;
        for (int64_t k = 0; k < HW; k++) q[k] += d;
    }
    return TG_OK;
}

static const tg_op avgpool_op = {"AdaptiveAvgPool2DBackward0", avgpool_backward};

tg_tensor *tg_adaptive_avgpool2d_1x1(tg_ctx *c, tg_tensor *x) {
    if (!x) return NULL;
    char sx[TG_SHAPE_STR_MAX];
    if (x->ndim != 4 || x->shape[2] * x->shape[3] == 0) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "adaptive_avgpool2d: input %s is not (N, C, H, W) with H, W > 0",
                     tg_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    const int64_t NC = x->shape[0] * x->shape[1], HW = x->shape[2] * x->shape[3];
    int64_t shape[4] = {x->shape[0], x->shape[1], 1, 1};
    tg_tensor *in[1] = {x};
    tg_tensor *out = tg_op_output(c, &avgpool_op, 4, shape, 1, in, NULL, 0);
    if (!out) return NULL;
    for (int64_t i = 0; i < NC; i++) {
        const float *p = x->data + i * HW;
        double s = 0;
        for (int64_t k = 0; k < HW; k++) s += p[k];
        out->data[i] = (float)(s / (double)HW);
    }
    return out;
}
