// mse_loss.c: torch.nn.functional.mse_loss(a, b) with mean reduction (grad_fn
// MseLossBackward0): mean((a - b)^2); backward da += 2 (a - b) / n * dout, db -= the same.
#include <math.h>

#include "ops.h"

static tg_status mse_backward(tg_ctx *c, tg_node *n, const float *dout) {
    tg_tensor *a = n->in[0], *b = n->in[1];
    float *da = tg_grad_buf(c, a), *db = tg_grad_buf(c, b);
    if ((a->requires_grad && !da) || (b->requires_grad && !db)) return tg_ctx_status(c);
    const int64_t N = a->numel;
    const float k = 2.0f * dout[0] / (float)N;
    for (int64_t i = 0; i < N; i++) {
        float g = k * (a->data[i] - b->data[i]);
        if (da) da[i] += g;
        if (db) db[i] -= g;
    }
    return TG_OK;
}

static const tg_op mse_op = {"MseLossBackward0", mse_backward};

tg_tensor *tg_mse_loss(tg_ctx *c, tg_tensor *a, tg_tensor *b) {
    if (!a || !b) return NULL;
    if (!tg_shape_eq(a, b)) {
        char sa[TG_SHAPE_STR_MAX], sb[TG_SHAPE_STR_MAX];
        tg_error_set(&c->err, TG_ERR_SHAPE, "mse_loss: input %s and target %s differ in shape",
                     tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    tg_tensor *in[2] = {a, b};
    tg_tensor *out = tg_op_output(c, &mse_op, 0, NULL, 2, in, NULL, 0);
    if (!out) return NULL;
    double s = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        double d = (double)a->data[i] - b->data[i];
        s += d * d;
    }
    out->data[0] = (float)(a->numel ? s / (double)a->numel : NAN);
    return out;
}
