// broadcast.h: NumPy/PyTorch broadcasting of two shapes for the elementwise ops
// (add.c, sub.c, mul.c, div.c, eq.c), and the reduction of a broadcast result's gradient
// back to the shape of one input (sum over the dimensions it was expanded along), as
// torch's sum_to() does in the backward of a broadcasting op.
//
// Shapes are aligned at the right; a dimension of size 1 (or a missing leading one)
// stretches to the other's size. The output is walked in rows of its innermost dimension:
// row r starts at offset oa in a and ob in b, and element j of the row is
// a[oa + j * sa_in], b[ob + j * sb_in].
#ifndef TG_OPS_BROADCAST_H
#define TG_OPS_BROADCAST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tensor.h"

typedef struct {
    int ndim;                    // output rank = max of the inputs' ranks
    int64_t shape[TG_MAX_DIMS];  // output shape
    int64_t numel;
    int64_t sa[TG_MAX_DIMS];     // a's stride along each output dim, 0 where broadcast
    int64_t sb[TG_MAX_DIMS];     // b's stride, likewise
    bool same;                   // equal shapes: plain flat elementwise loop
    int64_t inner;               // length of a row (innermost output dim; 1 for 0-dim)
    int64_t rows;                // numel / inner
    int64_t sa_in, sb_in;        // strides along the innermost dim (0 or 1)
} tg_bcast;

// Broadcasts a's and b's shapes into bc. On a mismatch sets c's error (TG_ERR_SHAPE,
// naming `op`, both shapes and the dimension) and returns false.
bool tg_broadcast_init(tg_ctx *c, const char *op, const tg_tensor *a, const tg_tensor *b,
                       tg_bcast *bc);

// Offsets of row r (0 <= r < bc->rows) into a's and b's data.
void tg_broadcast_row(const tg_bcast *bc, int64_t r, int64_t *oa, int64_t *ob);

// din += scale * sum_to(dout): reduces a gradient of the output's shape, dout
// (bc->numel,), back to input `which` (0 = a, 1 = b), din (that input's numel,).
void tg_broadcast_reduce(const tg_bcast *bc, int which, float *din, const float *dout,
                         float scale);

// out (bc->numel,) = a op b, a and b broadcast to the output shape
typedef void (*tg_bcast_forward_fn)(float *out, const float *a, const float *b,
                                    const tg_bcast *bc);

// ---- the forward loops of add, sub, mul and div, written once ----
// The operator is a parameter of always-inlined functions and every call passes a constant,
// so the switch folds away and each op gets its own copy of the loops, vectorised as the
// loops written out per op were (gcc -fopt-info-vec: every loop, in every op).
typedef enum { TG_BIN_ADD, TG_BIN_SUB, TG_BIN_MUL, TG_BIN_DIV } tg_bin_op;

#define TG_BIN_INLINE static inline __attribute__((always_inline))

// x op y
TG_BIN_INLINE float tg_bin_apply(tg_bin_op op, float x, float y) {
    switch (op) {
    case TG_BIN_ADD: return x + y;
    case TG_BIN_SUB: return x - y;
    case TG_BIN_MUL: return x * y;
    case TG_BIN_DIV: return x / y;
    }
    return 0.0f;
}

// out (bc->numel,) = a op b, a and b broadcast to the output shape: one flat loop for equal
// shapes, else row by row, each input either walking along the row or standing at one
// element (inner stride 0); out may be a (in-place add).
TG_BIN_INLINE void tg_broadcast_apply(tg_bin_op op, float *out, const float *a, const float *b,
                                      const tg_bcast *bc) {
    if (bc->same) {
        for (int64_t i = 0; i < bc->numel; i++) out[i] = tg_bin_apply(op, a[i], b[i]);
        return;
    }
    int64_t n = bc->inner, sa = bc->sa_in, sb = bc->sb_in;
    for (int64_t r = 0; r < bc->rows; r++) {
        int64_t oa, ob;
        tg_broadcast_row(bc, r, &oa, &ob);
        float *o = out + r * n;
        const float *pa = a + oa, *pb = b + ob;
        if (sa && sb) {
            for (int64_t j = 0; j < n; j++) o[j] = tg_bin_apply(op, pa[j], pb[j]);
        } else if (sa) {
            for (int64_t j = 0; j < n; j++) o[j] = tg_bin_apply(op, pa[j], pb[0]);
        } else if (sb) {
            for (int64_t j = 0; j < n; j++) o[j] = tg_bin_apply(op, pa[0], pb[j]);
        } else {
            for (int64_t j = 0; j < n; j++) o[j] = tg_bin_apply(op, pa[0], pb[0]);
        }
    }
}

// The backward of a broadcasting op's node: the gradient buffers of the inputs that need one
// (NULL for the others), then bwd(da, db, dout, a, b, bc) with the node's tg_bcast.
typedef void (*tg_bcast_backward_fn)(float *da, float *db, const float *dout, const float *a,
                                     const float *b, const tg_bcast *bc);
tg_status tg_broadcast_backward(tg_ctx *c, tg_node *n, const float *dout,
                                tg_bcast_backward_fn bwd);

// The graph builder shared by the broadcasting binary ops (add, sub, mul, div):
// broadcasts the shapes (an error names `name`), allocates the output, records a node of
// `op` with the tg_bcast as its saved struct when a or b requires grad, and fills the
// output with fwd. NULL (error in c) on failure or a NULL input.
tg_tensor *tg_broadcast_op(tg_ctx *c, const char *name, const tg_op *op, tg_tensor *a,
                           tg_tensor *b, tg_bcast_forward_fn fwd);

// Gradient buffer of input t in an op's backward (tg_grad_buf): *g is NULL when t needs
// no gradient. Returns false only when allocating the buffer failed (error set in c).
static inline bool tg_ops_grad(tg_ctx *c, tg_tensor *t, float **g) {
    *g = tg_grad_buf(c, t);
    return *g || !t || !t->requires_grad;
}

// Sum of x (n,) in double with 8 independent partial sums (vectorisable, deterministic).
static inline double tg_sum_f64(const float *x, int64_t n) {
    double part[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) part[k] += x[i + k];
    double s = 0;
    for (; i < n; i++) s += x[i];
    for (int k = 0; k < 8; k++) s += part[k];
    return s;
}

#endif
