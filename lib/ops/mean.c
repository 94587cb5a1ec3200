// mean.c: the mean of all elements, a 0-dim tensor (torch.mean(a), grad_fn MeanBackward0).
// The mean of no elements is NaN, as in PyTorch.
#include "ops/broadcast.h"
#include "ops/ops.h"

// out (1,) = sum(a) / n, the sum accumulated in double (8 partial sums)
static void mean_forward(float *out, const float *a, int64_t n) {
    double s = tg_sum_f64(a, n);
    out[0] = (float)(s / (double)n);
}

// d(mean a)/da_i = 1/n: da (n,) += dout[0] / n
static void mean_backward(float *da, const float *dout, int64_t n) {
    float g = dout[0] / (float)n;
    for (int64_t i = 0; i < n; i++) da[i] += g;
}

static tg_status mean_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    float *da;
    if (!tg_ops_grad(c, n->in[0], &da)) return TG_ERR_NOMEM;
    if (da) mean_backward(da, dout, n->in[0]->numel);
    return TG_OK;
}

static const tg_op mean_op = {"MeanBackward0", mean_node_backward};

tg_tensor *tg_mean(tg_ctx *c, tg_tensor *a) {
    if (!a) return NULL;
    tg_tensor *out = tg_op_output(c, &mean_op, 0, NULL, 1, &a, NULL, 0);
    if (!out) return NULL;
    mean_forward(out->data, a->data, a->numel);
    return out;
}
