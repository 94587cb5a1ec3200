// eq.c: a == b elementwise with broadcasting (torch.eq): a TG_BOOL tensor holding 1.0f
// for equal and 0.0f otherwise. Comparisons have no gradient, so nothing is recorded and
// the result never requires grad, as in PyTorch.
#include "ops/broadcast.h"
#include "ops/ops.h"

// out (bc->numel,) = (a == b) as 1.0f / 0.0f
static void eq_forward(float *out, const float *a, const float *b, const tg_bcast *bc) {
    if (bc->same) {
        for (int64_t i = 0; i < bc->numel; i++) out[i] = a[i] == b[i] ? 1.0f : 0.0f;
        return;
    }
    int64_t n = bc->inner, sa = bc->sa_in, sb = bc->sb_in;
    for (int64_t r = 0; r < bc->rows; r++) {
        int64_t oa, ob;
        tg_broadcast_row(bc, r, &oa, &ob);
        for (int64_t j = 0; j < n; j++)
            out[r * n + j] = a[oa + j * sa] == b[ob + j * sb] ? 1.0f : 0.0f;
    }
}

tg_tensor *tg_eq(tg_ctx *c, tg_tensor *a, tg_tensor *b) {
    if (!a || !b) return NULL;
    tg_bcast bc;
    if (!tg_broadcast_init(c, "eq", a, b, &bc)) return NULL;
    tg_tensor *out = tg_ctx_tensor(c, bc.ndim, bc.shape);
    if (!out) return NULL;
    out->dtype = TG_BOOL;
    eq_forward(out->data, a->data, b->data, &bc);
    return out;
}
