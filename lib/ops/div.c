// div.c: a / b with broadcasting (torch.div, grad_fn DivBackward0) and a / s with a
// scalar (torch 1.13 wraps the scalar in a tensor: DivBackward0 too).
#include "ops/broadcast.h"
#include "ops/ops.h"

// out (bc->numel,) = a / b, a and b broadcast to the output shape
static void div_forward(float *out, const float *a, const float *b, const tg_bcast *bc) {
    if (bc->same) {
        for (int64_t i = 0; i < bc->numel; i++) out[i] = a[i] / b[i];
        return;
    }
    int64_t n = bc->inner, sa = bc->sa_in, sb = bc->sb_in;
    for (int64_t r = 0; r < bc->rows; r++) {
        int64_t oa, ob;
        tg_broadcast_row(bc, r, &oa, &ob);
        float *o = out + r * n;
        const float *pa = a + oa, *pb = b + ob;
        if (sa && sb) {
            for (int64_t j = 0; j < n; j++) o[j] = pa[j] / pb[j];
        } else if (sa) {
            for (int64_t j = 0; j < n; j++) o[j] = pa[j] / pb[0];
        } else if (sb) {
            for (int64_t j = 0; j < n; j++) o[j] = pa[0] / pb[j];
        } else {
            for (int64_t j = 0; j < n; j++) o[j] = pa[0] / pb[0];
        }
    }
}

// d(a/b)/da = 1/b, d(a/b)/db = -a/b^2, computed as torch does: -dout * ((a / b) / b).
// da += sum_to(dout / b), db += sum_to(-dout * a / b / b); dout (bc->numel,)
static void div_backward(float *da, float *db, const float *dout, const float *a,
                         const float *b, const tg_bcast *bc) {
    if (bc->same) {
        if (da)
            for (int64_t i = 0; i < bc->numel; i++) da[i] += dout[i] / b[i];
        if (db)
            for (int64_t i = 0; i < bc->numel; i++) db[i] += -dout[i] * ((a[i] / b[i]) / b[i]);
        return;
    }
    int64_t n = bc->inner, sa = bc->sa_in, sb = bc->sb_in;
    for (int64_t r = 0; r < bc->rows; r++) {
        int64_t oa, ob;
        tg_broadcast_row(bc, r, &oa, &ob);
        const float *g = dout + r * n, *pa = a + oa, *pb = b + ob;
        if (da) {
            if (sa) {
                for (int64_t j = 0; j < n; j++) da[oa + j] += g[j] / pb[j * sb];
            } else {  // a broadcast along the row: sum into one element
                float acc = 0;
                for (int64_t j = 0; j < n; j++) acc += g[j] / pb[j * sb];
                da[oa] += acc;
            }
        }
        if (db) {
            if (sb) {
                for (int64_t j = 0; j < n; j++) db[ob + j] += -g[j] * ((pa[j * sa] / pb[j]) / pb[j]);
            } else {
                float acc = 0, bv = pb[0];
                for (int64_t j = 0; j < n; j++) acc += -g[j] * ((pa[j * sa] / bv) / bv);
                db[ob] += acc;
            }
        }
    }
}

static tg_status div_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    float *da, *db;
    if (!tg_ops_grad(c, n->in[0], &da) || !tg_ops_grad(c, n->in[1], &db)) return TG_ERR_NOMEM;
    div_backward(da, db, dout, n->in[0]->data, n->in[1]->data, n->saved);
    return TG_OK;
}

static const tg_op div_op = {"DivBackward0", div_node_backward};

tg_tensor *tg_div(tg_ctx *c, tg_tensor *a, tg_tensor *b) {
    return tg_broadcast_op(c, "div", &div_op, a, b, div_forward);
}

// ---- a / s ----

typedef struct {
    float s;  // the divisor
} div_scalar_saved;

// out (n,) = a / s (a true division, as torch: not a multiplication by 1/s)
static void div_scalar_forward(float *out, const float *a, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = a[i] / s;
}

// da (n,) += dout / s
static void div_scalar_backward(float *da, const float *dout, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) da[i] += dout[i] / s;
}

static tg_status div_scalar_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const div_scalar_saved *sv = n->saved;
    float *da;
    if (!tg_ops_grad(c, n->in[0], &da)) return TG_ERR_NOMEM;
    if (da) div_scalar_backward(da, dout, sv->s, n->out->numel);
    return TG_OK;
}

static const tg_op div_scalar_op = {"DivBackward0", div_scalar_node_backward};

tg_tensor *tg_div_scalar(tg_ctx *c, tg_tensor *a, float s) {
    if (!a) return NULL;
    tg_tensor *in[2] = {a, NULL};  // the scalar: next function None, as in torch
    void *saved;
    tg_tensor *out = tg_op_output(c, &div_scalar_op, a->ndim, a->shape, 2, in, &saved,
                                  sizeof(div_scalar_saved));
    if (!out) return NULL;
    if (saved) ((div_scalar_saved *)saved)->s = s;
    div_scalar_forward(out->data, a->data, s, a->numel);
    return out;
}
