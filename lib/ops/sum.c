// sum.c: the sum of all elements, a 0-dim tensor (torch.sum(a), grad_fn SumBackward0).
#include "ops/broadcast.h"
#include "ops/ops.h"

// out (1,) = sum(a), accumulated in double (8 partial sums) so long sums keep float precision
static void sum_forward(float *out, const float *a, int64_t n) {
    double s = tg_sum_f64(a, n);
    out[0] = (float)s;
}

// d(sum a)/da_i = 1: da (n,) += dout[0]
static void sum_backward(float *da, const float *dout, int64_t n) {
    float g = dout[0];
    for (int64_t i = 0; i < n; i++) da[i] += g;
}

static tg_status sum_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    float *da;
    if (!tg_ops_grad(c, n->in[0], &da)) return TG_ERR_NOMEM;
    if (da) sum_backward(da, dout, n->in[0]->numel);
    return TG_OK;
}

static const tg_op sum_op = {"SumBackward0", sum_node_backward};

tg_tensor *tg_sum(tg_ctx *c, tg_tensor *a) {
    if (!a) return NULL;
    tg_tensor *out = tg_op_output(c, &sum_op, 0, NULL, 1, &a, NULL, 0);
    if (!out) return NULL;
    sum_forward(out->data, a->data, a->numel);
    return out;
}
