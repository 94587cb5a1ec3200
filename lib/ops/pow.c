// pow.c: a ** p for a scalar exponent p (torch.pow(Tensor, Scalar), grad_fn PowBackward0).
#include <math.h>

#include "ops/broadcast.h"
#include "ops/ops.h"

typedef struct {
    float p;  // the exponent
} pow_saved;

// out (n,) = a ** p; squaring is exact as a product (the tutorial's b**2, y**2)
static void pow_forward(float *out, const float *a, float p, int64_t n) {
    if (p == 2.0f) {
        for (int64_t i = 0; i < n; i++) out[i] = a[i] * a[i];
    } else if (p == 1.0f) {
        for (int64_t i = 0; i < n; i++) out[i] = a[i];
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = powf(a[i], p);
    }
}

// d(a^p)/da = p * a^(p-1), zero for p == 0 (torch's pow_backward): da (n,) += dout * that
static void pow_backward(float *da, const float *dout, const float *a, float p, int64_t n) {
    if (p == 0.0f) return;
    if (p == 2.0f) {
        for (int64_t i = 0; i < n; i++) da[i] += dout[i] * (2.0f * a[i]);
    } else if (p == 1.0f) {
        for (int64_t i = 0; i < n; i++) da[i] += dout[i];
    } else {
        for (int64_t i = 0; i < n; i++) da[i] += dout[i] * (p * powf(a[i], p - 1.0f));
    }
}

static tg_status pow_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const pow_saved *sv = n->saved;
    float *da;
    if (!tg_ops_grad(c, n->in[0], &da)) return TG_ERR_NOMEM;
    if (da) pow_backward(da, dout, n->in[0]->data, sv->p, n->out->numel);
    return TG_OK;
}

static const tg_op pow_op = {"PowBackward0", pow_node_backward};

tg_tensor *tg_pow_scalar(tg_ctx *c, tg_tensor *a, float p) {
    if (!a) return NULL;
    void *saved;
    tg_tensor *out = tg_op_output(c, &pow_op, a->ndim, a->shape, 1, &a, &saved,
                                  sizeof(pow_saved));
    if (!out) return NULL;
    if (saved) ((pow_saved *)saved)->p = p;
    pow_forward(out->data, a->data, p, a->numel);
    return out;
}
