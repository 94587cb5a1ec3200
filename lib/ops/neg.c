// neg.c: -a (torch.neg, grad_fn NegBackward0).
#include "ops/broadcast.h"
#include "ops/ops.h"

// out (n,) = -a
static void neg_forward(float *out, const float *a, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = -a[i];
}

// d(-a)/da = -1: da (n,) -= dout
static void neg_backward(float *da, const float *dout, int64_t n) {
    for (int64_t i = 0; i < n; i++) da[i] -= dout[i];
}

static tg_status neg_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    float *da;
    if (!tg_ops_grad(c, n->in[0], &da)) return TG_ERR_NOMEM;
    if (da) neg_backward(da, dout, n->out->numel);
    return TG_OK;
}

static const tg_op neg_op = {"NegBackward0", neg_node_backward};

tg_tensor *tg_neg(tg_ctx *c, tg_tensor *a) {
    if (!a) return NULL;
    tg_tensor *out = tg_op_output(c, &neg_op, a->ndim, a->shape, 1, &a, NULL, 0);
    if (!out) return NULL;
    neg_forward(out->data, a->data, a->numel);
    return out;
}
