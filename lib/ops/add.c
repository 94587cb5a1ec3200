// add.c: a + b with broadcasting (torch.add, grad_fn AddBackward0) and a + s with a
// Python-style scalar (torch 1.13 wraps the scalar in a tensor, so that grad_fn is also
// named AddBackward0).
#include "ops/broadcast.h"
#include "ops/ops.h"

// out (bc->numel,) = a + b, a and b broadcast to the output shape
static void add_forward(float *out, const float *a, const float *b, const tg_bcast *bc) {
    tg_broadcast_apply(TG_BIN_ADD, out, a, b, bc);
}

// d(a+b)/da = d(a+b)/db = 1: da += sum_to(dout), db += sum_to(dout)
static void add_backward(float *da, float *db, const float *dout, const tg_bcast *bc) {
    if (da) tg_broadcast_reduce(bc, 0, da, dout, 1.0f);
    if (db) tg_broadcast_reduce(bc, 1, db, dout, 1.0f);
}

static tg_status add_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const tg_bcast *bc = n->saved;
    float *da, *db;
    // same shapes: a's gradient is dout itself, so a can take dout's buffer as it is
    if (bc->same && n->in[0] != n->in[1] && tg_grad_take(c, n, n->in[0])) {
        if (!tg_ops_grad(c, n->in[1], &db)) return TG_ERR_NOMEM;
        add_backward(NULL, db, dout, bc);
        return TG_OK;
    }
    if (!tg_ops_grad(c, n->in[0], &da) || !tg_ops_grad(c, n->in[1], &db)) return TG_ERR_NOMEM;
    add_backward(da, db, dout, bc);
    return TG_OK;
}

static const tg_op add_op = {"AddBackward0", add_node_backward};

tg_tensor *tg_add(tg_ctx *c, tg_tensor *a, tg_tensor *b) {
    return tg_broadcast_op(c, "add", &add_op, a, b, add_forward);
}

// In place (a += b, as torchvision's `out += identity`): a's buffer becomes the output,
// saving one activation per residual block. b broadcasts to a's shape; a must not be a
// leaf that requires grad, and its producer must not read its own output in backward.
tg_tensor *tg_add_(tg_ctx *c, tg_tensor *a, tg_tensor *b) {
    if (!a || !b) return NULL;
    tg_bcast bc;
    if (!tg_broadcast_init(c, "add_", a, b, &bc)) return NULL;
    char sa[TG_SHAPE_STR_MAX], sb[TG_SHAPE_STR_MAX];
    if (bc.ndim != a->ndim || bc.numel != a->numel) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "add_: %s cannot be added in place into %s (the output would be larger)",
                     tg_shape_str(b, sb, sizeof sb), tg_shape_str(a, sa, sizeof sa));
        return NULL;
    }
    if (a->requires_grad && !a->grad_fn && tg_grad_enabled(c)) {
        tg_error_set(&c->err, TG_ERR_STATE,
                     "add_: a leaf tensor that requires grad (%s) cannot be modified in place",
                     a->name ? a->name : "unnamed");
        return NULL;
    }
    // A header over a's buffer, recorded as tg_op_output would (which allocates data).
    tg_tensor *out = tg_ctx_wrap(c, a->ndim, a->shape, a->data);
    if (!out) return NULL;
    if (tg_grad_enabled(c) && (a->requires_grad || b->requires_grad)) {
        tg_node *n = tg_ctx_calloc(c, sizeof *n);
        tg_bcast *saved = tg_ctx_alloc(c, sizeof *saved);
        if (!n || !saved) return NULL;
        *saved = bc;
        n->op = &add_op;
        n->out = out;
        n->n_in = 2;
        n->in[0] = a;
        n->in[1] = b;
        n->saved = saved;
        out->grad_fn = n;
        out->requires_grad = true;
    }
    add_forward(a->data, a->data, b->data, &bc);
    return out;
}

// ---- a + s ----

// out (n,) = a + s
static void add_scalar_forward(float *out, const float *a, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = a[i] + s;
}

// da (n,) += dout
static void add_scalar_backward(float *da, const float *dout, int64_t n) {
    for (int64_t i = 0; i < n; i++) da[i] += dout[i];
}

static tg_status add_scalar_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    float *da;
    if (!tg_ops_grad(c, n->in[0], &da)) return TG_ERR_NOMEM;
    if (da) add_scalar_backward(da, dout, n->out->numel);
    return TG_OK;
}

static const tg_op add_scalar_op = {"AddBackward0", add_scalar_node_backward};

tg_tensor *tg_add_scalar(tg_ctx *c, tg_tensor *a, float s) {
    if (!a) return NULL;
    tg_tensor *in[2] = {a, NULL};  // the scalar: next function None, as in torch
    tg_tensor *out = tg_op_output(c, &add_scalar_op, a->ndim, a->shape, 2, in, NULL, 0);
    if (!out) return NULL;
    add_scalar_forward(out->data, a->data, s, a->numel);
    return out;
}
