// scale.c: a * s and a / s for a float s (torch.mul and torch.div with a Python scalar;
// torch 1.13 wraps the scalar in a tensor, so the grad_fns are MulBackward0 and
// DivBackward0, with next functions a and None). Both scale a, and both backwards apply
// the forward's operator to the gradient: d(a*s)/da = s and d(a/s)/da = 1/s, so
// da += dout op s (dout / s a true division, as torch computes it, not dout * (1/s)).
// The broadcasting forms a * b and a / b are mul.c and div.c.
#include "ops/broadcast.h"
#include "ops/ops.h"

typedef struct {
    tg_bin_op bin;  // TG_BIN_MUL or TG_BIN_DIV
    float s;        // the scalar factor or divisor
} scale_saved;

// out (n,) = a op s; op a constant at each call (the loop is inlined per operator)
TG_BIN_INLINE void scale_forward(tg_bin_op op, float *out, const float *a, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = tg_bin_apply(op, a[i], s);
}

// da (n,) += dout op s
TG_BIN_INLINE void scale_backward(tg_bin_op op, float *da, const float *dout, float s,
                                  int64_t n) {
    for (int64_t i = 0; i < n; i++) da[i] += tg_bin_apply(op, dout[i], s);
}

// out = a op s, recorded with a node of `op` saving the operator and s
static tg_tensor *scale_op(tg_ctx *c, const tg_op *op, tg_bin_op bin, tg_tensor *a, float s) {
    if (!a) return NULL;
    tg_tensor *in[2] = {a, NULL};  // the scalar: next function None, as in torch
    void *saved;
    tg_tensor *out = tg_op_output(c, op, a->ndim, a->shape, 2, in, &saved, sizeof(scale_saved));
    if (!out) return NULL;
    if (saved) *(scale_saved *)saved = (scale_saved){bin, s};
    if (bin == TG_BIN_MUL)
        scale_forward(TG_BIN_MUL, out->data, a->data, s, a->numel);
    else
        scale_forward(TG_BIN_DIV, out->data, a->data, s, a->numel);
    return out;
}

static tg_status scale_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const scale_saved *sv = n->saved;
    float *da;
    if (!tg_ops_grad(c, n->in[0], &da)) return TG_ERR_NOMEM;
    if (!da) return TG_OK;
    if (sv->bin == TG_BIN_MUL)
        scale_backward(TG_BIN_MUL, da, dout, sv->s, n->out->numel);
    else
        scale_backward(TG_BIN_DIV, da, dout, sv->s, n->out->numel);
    return TG_OK;
}

static const tg_op mul_scalar_op = {"MulBackward0", scale_node_backward};
static const tg_op div_scalar_op = {"DivBackward0", scale_node_backward};

tg_tensor *tg_mul_scalar(tg_ctx *c, tg_tensor *a, float s) {
    return scale_op(c, &mul_scalar_op, TG_BIN_MUL, a, s);
}

tg_tensor *tg_div_scalar(tg_ctx *c, tg_tensor *a, float s) {
    return scale_op(c, &div_scalar_op, TG_BIN_DIV, a, s);
}
