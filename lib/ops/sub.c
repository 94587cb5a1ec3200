// sub.c: a - b with broadcasting (torch.sub, grad_fn SubBackward0), a - s (torch 1.13
// names it SubBackward0 as well: the scalar becomes a wrapped tensor) and s - a
// (torch.rsub, RsubBackward1).
#include "ops/broadcast.h"
#include "ops/ops.h"

// out (bc->numel,) = a - b, a and b broadcast to the output shape
static void sub_forward(float *out, const float *a, const float *b, const tg_bcast *bc) {
    tg_broadcast_apply(TG_BIN_SUB, out, a, b, bc);
}

// d(a-b)/da = 1, d(a-b)/db = -1: da += sum_to(dout), db -= sum_to(dout)
static void sub_backward(float *da, float *db, const float *dout, const tg_bcast *bc) {
    if (da) tg_broadcast_reduce(bc, 0, da, dout, 1.0f);
    if (db) tg_broadcast_reduce(bc, 1, db, dout, -1.0f);
}

static tg_status sub_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    float *da, *db;
    if (!tg_ops_grad(c, n->in[0], &da) || !tg_ops_grad(c, n->in[1], &db)) return TG_ERR_NOMEM;
    sub_backward(da, db, dout, n->saved);
    return TG_OK;
}

static const tg_op sub_op = {"SubBackward0", sub_node_backward};

tg_tensor *tg_sub(tg_ctx *c, tg_tensor *a, tg_tensor *b) {
    return tg_broadcast_op(c, "sub", &sub_op, a, b, sub_forward);
}

// ---- a - s and s - a ----

// out (n,) = sign * a + s: a - s is (sign 1, -s), s - a is (sign -1, s)
static void sub_scalar_forward(float *out, const float *a, float sign, float s, int64_t n) {
    if (sign > 0) {
        for (int64_t i = 0; i < n; i++) out[i] = a[i] + s;
    } else {
        for (int64_t i = 0; i < n; i++) out[i] = s - a[i];
    }
}

// da (n,) += sign * dout
static void sub_scalar_backward(float *da, const float *dout, float sign, int64_t n) {
    for (int64_t i = 0; i < n; i++) da[i] += sign * dout[i];
}

static tg_status sub_scalar_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    float *da;
    if (!tg_ops_grad(c, n->in[0], &da)) return TG_ERR_NOMEM;
    if (da) sub_scalar_backward(da, dout, 1.0f, n->out->numel);
    return TG_OK;
}

static tg_status rsub_scalar_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    float *da;
    if (!tg_ops_grad(c, n->in[0], &da)) return TG_ERR_NOMEM;
    if (da) sub_scalar_backward(da, dout, -1.0f, n->out->numel);
    return TG_OK;
}

static const tg_op sub_scalar_op = {"SubBackward0", sub_scalar_node_backward};
static const tg_op rsub_scalar_op = {"RsubBackward1", rsub_scalar_node_backward};

tg_tensor *tg_sub_scalar(tg_ctx *c, tg_tensor *a, float s) {
    if (!a) return NULL;
    tg_tensor *in[2] = {a, NULL};  // the scalar: next function None, as in torch
    tg_tensor *out = tg_op_output(c, &sub_scalar_op, a->ndim, a->shape, 2, in, NULL, 0);
    if (!out) return NULL;
    sub_scalar_forward(out->data, a->data, 1.0f, -s, a->numel);
    return out;
}

tg_tensor *tg_rsub_scalar(tg_ctx *c, float s, tg_tensor *a) {
    if (!a) return NULL;
    tg_tensor *out = tg_op_output(c, &rsub_scalar_op, a->ndim, a->shape, 1, &a, NULL, 0);
    if (!out) return NULL;
    sub_scalar_forward(out->data, a->data, -1.0f, s, a->numel);
    return out;
}
