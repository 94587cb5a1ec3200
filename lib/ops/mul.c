// mul.c: a * b with broadcasting (torch.mul, grad_fn MulBackward0). a * s with a scalar is in
// scale.c.
#include "ops/broadcast.h"
#include "ops/ops.h"

// out (bc->numel,) = a * b, a and b broadcast to the output shape
static void mul_forward(float *out, const float *a, const float *b, const tg_bcast *bc) {
    tg_broadcast_apply(TG_BIN_MUL, out, a, b, bc);
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
    return tg_broadcast_backward(c, n, dout, mul_backward);
}

static const tg_op mul_op = {"MulBackward0", mul_node_backward};

tg_tensor *tg_mul(tg_ctx *c, tg_tensor *a, tg_tensor *b) {
    return tg_broadcast_op(c, "mul", &mul_op, a, b, mul_forward);
}
