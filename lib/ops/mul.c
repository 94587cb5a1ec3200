// mul.c: a * b with broadcasting (torch.mul, grad_fn MulBackward0) and a * s with a
// scalar (torch 1.13 wraps the scalar in a tensor: MulBackward0 too).
#include "ops/broadcast.h"
#include "ops/ops.h"

// out (bc->numel,) = a * b, a and b broadcast to the output shape
static void mul_forward(float *out, const float *a, const float *b, const tg_bcast *bc) {
    if (bc->same) {
        for (int64_t i = 0; i < bc->numel; i++) out[i] = a[i] * b[i];
        return;
    }
    int64_t n = bc->inner, sa = bc->sa_in, sb = bc->sb_in;
    for (int64_t r = 0; r < bc->rows; r++) {
        int64_t oa, ob;
        tg_broadcast_row(bc, r, &oa, &ob);
        float *o = out + r * n;
        const float *pa = a + oa, *pb = b + ob;
        if (sa && sb) {
            for (int64_t j = 0; j < n; j++) o[j] = pa[j] * pb[j];
        } else if (sa) {
            for (int64_t j = 0; j < n; j++) o[j] = pa[j] * pb[0];
        } else if (sb) {
            for (int64_t j = 0; j < n; j++) o[j] = pa[0] * pb[j];
        } else {
            for (int64_t j = 0; j < n; j++) o[j] = pa[0] * pb[0];
        }
    }
}

// One row of a broadcast product's backward: d (stride sd) += g (n,) * x (stride sx),
// summed into d[0] when d was broadcast along the row (sd == 0).
static void mul_backward_row(float *d, int64_t sd, const float *g, const float *x,
                             int64_t sx, int64_t n) {
    if (sd && sx) {
        for (int64_t j = 0; j < n; j++) d[j] += g[j] * x[j];
    } else if (sd) {
        for (int64_t j = 0; j < n; j++) d[j] += g[j] * x[0];
    } else if (sx) {
        float acc = 0;
        for (int64_t j = 0; j < n; j++) acc += g[j] * x[j];
        d[0] += acc;
    } else {
        float acc = 0;
        for (int64_t j = 0; j < n; j++) acc += g[j];
        d[0] += acc * x[0];
    }
}

// d(ab)/da = b, d(ab)/db = a: da += sum_to(dout * b), db += sum_to(dout * a).
// da, db: the inputs' shapes (either may be NULL); dout (bc->numel,)
static void mul_backward(float *da, float *db, const float *dout, const float *a,
                         const float *b, const tg_bcast *bc) {
    if (bc->same) {
        if (da)
            for (int64_t i = 0; i < bc->numel; i++) da[i] += dout[i] * b[i];
        if (db)
            for (int64_t i = 0; i < bc->numel; i++) db[i] += dout[i] * a[i];
        return;
    }
    int64_t n = bc->inner, sa = bc->sa_in, sb = bc->sb_in;
    for (int64_t r = 0; r < bc->rows; r++) {
        int64_t oa, ob;
        tg_broadcast_row(bc, r, &oa, &ob);
        const float *g = dout + r * n;
        if (da) mul_backward_row(da + oa, sa, g, b + ob, sb, n);
        if (db) mul_backward_row(db + ob, sb, g, a + oa, sa, n);
    }
}

static tg_status mul_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    float *da, *db;
    if (!tg_ops_grad(c, n->in[0], &da) || !tg_ops_grad(c, n->in[1], &db)) return TG_ERR_NOMEM;
    mul_backward(da, db, dout, n->in[0]->data, n->in[1]->data, n->saved);
    return TG_OK;
}

static const tg_op mul_op = {"MulBackward0", mul_node_backward};

tg_tensor *tg_mul(tg_ctx *c, tg_tensor *a, tg_tensor *b) {
    return tg_broadcast_op(c, "mul", &mul_op, a, b, mul_forward);
}

// ---- a * s ----

typedef struct {
    float s;  // the scalar factor
} mul_scalar_saved;

// out (n,) = a * s
static void mul_scalar_forward(float *out, const float *a, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = a[i] * s;
}

// da (n,) += dout * s
static void mul_scalar_backward(float *da, const float *dout, float s, int64_t n) {
    for (int64_t i = 0; i < n; i++) da[i] += dout[i] * s;
}

static tg_status mul_scalar_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const mul_scalar_saved *sv = n->saved;
    float *da;
    if (!tg_ops_grad(c, n->in[0], &da)) return TG_ERR_NOMEM;
    if (da) mul_scalar_backward(da, dout, sv->s, n->out->numel);
    return TG_OK;
}

static const tg_op mul_scalar_op = {"MulBackward0", mul_scalar_node_backward};

tg_tensor *tg_mul_scalar(tg_ctx *c, tg_tensor *a, float s) {
    if (!a) return NULL;
    tg_tensor *in[2] = {a, NULL};  // the scalar: next function None, as in torch
    void *saved;
    tg_tensor *out = tg_op_output(c, &mul_scalar_op, a->ndim, a->shape, 2, in, &saved,
                                  sizeof(mul_scalar_saved));
    if (!out) return NULL;
    if (saved) ((mul_scalar_saved *)saved)->s = s;
    mul_scalar_forward(out->data, a->data, s, a->numel);
    return out;
}
