// div.c: a / b with broadcasting (torch.div, grad_fn DivBackward0). a / s with a scalar is in
// scale.c.
#include "ops/broadcast.h"
#include "ops/ops.h"

// out (bc->numel,) = a / b, a and b broadcast to the output shape
static void div_forward(float *out, const float *a, const float *b, const tg_bcast *bc) {
    tg_broadcast_apply(TG_BIN_DIV, out, a, b, bc);
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
    return tg_broadcast_backward(c, n, dout, div_backward);
}

static const tg_op div_op = {"DivBackward0", div_node_backward};

tg_tensor *tg_div(tg_ctx *c, tg_tensor *a, tg_tensor *b) {
    return tg_broadcast_op(c, "div", &div_op, a, b, div_forward);
}
