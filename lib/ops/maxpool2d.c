// maxpool2d.c: torch.nn.functional.max_pool2d(x, kernel, stride, padding) with
// ceil_mode=False and dilation 1 (grad_fn MaxPool2DWithIndicesBackward0). Padding acts as
// -inf. Each output remembers the flat index (ih*W + iw) of the first maximum of its window
// (or its last NaN, as in PyTorch); backward adds dout there.
#include <math.h>
#include <stdint.h>

#include "ops.h"
#include "parallel.h"

typedef struct {
    int kernel, stride, pad;
    int64_t H, W, OH, OW;
    int32_t *argmax;  // (N, C, OH, OW): index into the (H, W) plane of the input
} maxpool_saved;

typedef struct {
    float *out;
    int32_t *argmax;
    const float *x;
    int k, s, p;
    int64_t H, W, OH, OW;
} maxpool_job;

// planes [p0, p1) of (N*C, H, W)
static void maxpool_task(void *arg, int64_t p0, int64_t p1) {
    const maxpool_job *j = arg;
    for (int64_t pl = p0; pl < p1; pl++) {
        const float *x = j->x + pl * j->H * j->W;
        float *out = j->out + pl * j->OH * j->OW;
        int32_t *am = j->argmax + pl * j->OH * j->OW;
        for (int64_t oh = 0; oh < j->OH; oh++) {
            int64_t h0 = oh * j->s - j->p, h1 = h0 + j->k;
            if (h0 < 0) h0 = 0;
            if (h1 > j->H) h1 = j->H;
            for (int64_t ow = 0; ow < j->OW; ow++) {
                int64_t w0 = ow * j->s - j->p, w1 = w0 + j->k;
                if (w0 < 0) w0 = 0;
                if (w1 > j->W) w1 = j->W;
                float best = -INFINITY;
                int64_t bi = h0 * j->W + w0;
                for (int64_t h = h0; h < h1; h++)
                    for (int64_t w = w0; w < w1; w++) {
                        float v = x[h * j->W + w];
                        if (v > best || v != v) {  // as PyTorch: the last NaN wins
                            best = v;
                            bi = h * j->W + w;
                        }
                    }
                out[oh * j->OW + ow] = best;
                am[oh * j->OW + ow] = (int32_t)bi;
            }
        }
    }
}

static tg_status maxpool_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const maxpool_saved *s = n->saved;
    tg_tensor *x = n->in[0];
    float *dx = tg_grad_buf(c, x);
    if (!dx) return tg_ctx_status(c);
    const int64_t planes = x->shape[0] * x->shape[1], O = s->OH * s->OW, I = s->H * s->W;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *d = dout + pl * O;
        const int32_t *am = s->argmax + pl * O;
        float *q = dx + pl * I;
        for (int64_t i = 0; i < O; i++) q[am[i]] += d[i];
    }
    return TG_OK;
}

static const tg_op maxpool_op = {"MaxPool2DWithIndicesBackward0", maxpool_backward};

tg_tensor *tg_maxpool2d(tg_ctx *c, tg_tensor *x, int kernel, int stride, int pad) {
    if (!x) return NULL;
    char sx[TG_SHAPE_STR_MAX];
    if (x->ndim != 4 || kernel < 1 || stride < 1 || pad < 0 || pad > kernel / 2 ||
        x->shape[2] + 2 * pad < kernel || x->shape[3] + 2 * pad < kernel ||
        x->shape[2] * x->shape[3] > INT32_MAX) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "maxpool2d: input %s with kernel %d stride %d padding %d does not fit "
                     "(want (N, C, H, W), padding at most half the kernel)",
                     tg_shape_str(x, sx, sizeof sx), kernel, stride, pad);
        return NULL;
    }
    const int64_t H = x->shape[2], W = x->shape[3];
    const int64_t OH = (H + 2 * pad - kernel) / stride + 1, OW = (W + 2 * pad - kernel) / stride + 1;
    int64_t shape[4] = {x->shape[0], x->shape[1], OH, OW};
    tg_tensor *in[1] = {x};
    maxpool_saved *s = NULL;
    tg_tensor *out = tg_op_output(c, &maxpool_op, 4, shape, 1, in, (void **)&s, sizeof *s);
    if (!out) return NULL;
    const int64_t planes = x->shape[0] * x->shape[1];
    int32_t *am = tg_ctx_alloc(c, (size_t)(out->numel ? out->numel : 1) * sizeof(int32_t));
    if (!am) return NULL;
    maxpool_job j = {out->data, am, x->data, kernel, stride, pad, H, W, OH, OW};
    tg_parallel_for(planes, H * W, maxpool_task, &j);
    if (s) *s = (maxpool_saved){kernel, stride, pad, H, W, OH, OW, am};
    return out;
}
