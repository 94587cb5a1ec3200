// broadcast.c: shape broadcasting and gradient reduction, and the graph plumbing shared by
// the broadcasting binary ops (see broadcast.h).
#include "broadcast.h"

bool tg_broadcast_init(tg_ctx *c, const char *op, const tg_tensor *a, const tg_tensor *b,
                       tg_bcast *bc) {
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    bc->ndim = nd;
    bc->same = tg_shape_eq(a, b);
    // contiguous strides of a and b, aligned at the right of the output
    int64_t stra = 1, strb = 1;
    for (int d = nd - 1; d >= 0; d--) {
        int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
        int64_t na = da >= 0 ? a->shape[da] : 1;
        int64_t nb = db >= 0 ? b->shape[db] : 1;
        if (na != nb && na != 1 && nb != 1) {
            char sa[TG_SHAPE_STR_MAX], sb[TG_SHAPE_STR_MAX];
            tg_error_set(&c->err, TG_ERR_SHAPE,
                         "%s: shapes %s and %s cannot be broadcast: the size of tensor a "
                         "(%lld) must match the size of tensor b (%lld) at non-singleton "
                         "dimension %d",
                         op, tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb),
                         (long long)na, (long long)nb, d);
            return false;
        }
        int64_t n = na > nb ? na : nb;
        if (na == 0 || nb == 0) n = 0;
        bc->shape[d] = n;
        bc->sa[d] = na == 1 ? 0 : stra;
        bc->sb[d] = nb == 1 ? 0 : strb;
        stra *= na;
        strb *= nb;
    }
    bc->numel = tg_shape_numel(nd, bc->shape);
    bc->inner = nd ? bc->shape[nd - 1] : 1;
    bc->rows = bc->inner ? bc->numel / bc->inner : 0;
    bc->sa_in = nd ? bc->sa[nd - 1] : 0;
    bc->sb_in = nd ? bc->sb[nd - 1] : 0;
    return true;
}

void tg_broadcast_row(const tg_bcast *bc, int64_t r, int64_t *oa, int64_t *ob) {
    int64_t a = 0, b = 0;
    for (int d = bc->ndim - 2; d >= 0 && r; d--) {
        int64_t i = r % bc->shape[d];
        r /= bc->shape[d];
        a += i * bc->sa[d];
        b += i * bc->sb[d];
    }
    *oa = a;
    *ob = b;
}

void tg_broadcast_reduce(const tg_bcast *bc, int which, float *din, const float *dout,
                         float scale) {
    if (bc->same) {
        for (int64_t i = 0; i < bc->numel; i++) din[i] += scale * dout[i];
        return;
    }
    int64_t s = which ? bc->sb_in : bc->sa_in, n = bc->inner;
    for (int64_t r = 0; r < bc->rows; r++) {
        int64_t oa, ob;
        tg_broadcast_row(bc, r, &oa, &ob);
        float *d = din + (which ? ob : oa);
        const float *g = dout + r * n;
        if (s) {
            for (int64_t j = 0; j < n; j++) d[j] += scale * g[j];
        } else {
            float acc = 0;
            for (int64_t j = 0; j < n; j++) acc += g[j];
            d[0] += scale * acc;
        }
    }
}

tg_tensor *tg_broadcast_op(tg_ctx *c, const char *name, const tg_op *op, tg_tensor *a,
                           tg_tensor *b, tg_bcast_forward_fn fwd) {
    if (!a || !b) return NULL;
    tg_bcast bc;
    if (!tg_broadcast_init(c, name, a, b, &bc)) return NULL;
    tg_tensor *in[2] = {a, b};
    void *saved;
    tg_tensor *out = tg_op_output(c, op, bc.ndim, bc.shape, 2, in, &saved, sizeof bc);
    if (!out) return NULL;
    if (saved) *(tg_bcast *)saved = bc;
    fwd(out->data, a->data, b->data, &bc);
    return out;
}

tg_status tg_broadcast_backward(tg_ctx *c, tg_node *n, const float *dout,
                                tg_bcast_backward_fn bwd) {
    float *da, *db;
    if (!tg_ops_grad(c, n->in[0], &da) || !tg_ops_grad(c, n->in[1], &db)) return TG_ERR_NOMEM;
    bwd(da, db, dout, n->in[0]->data, n->in[1]->data, n->saved);
    return TG_OK;
}
