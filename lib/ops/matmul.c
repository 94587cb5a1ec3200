// matmul.c: the product of two matrices, (M, K) @ (K, N) -> (M, N) (torch.mm, and
// torch.matmul / @ on 2-D tensors; grad_fn MmBackward0), through OpenBLAS's cblas_sgemm.
#include <cblas.h>
#include <string.h>

#include "ops/broadcast.h"
#include "ops/ops.h"

typedef struct {
    int64_t M, K, N;
} matmul_saved;

// out (M, N) = a (M, K) @ b (K, N)
static void matmul_forward(float *out, const float *a, const float *b, int64_t M, int64_t K,
                           int64_t N) {
    if (M == 0 || N == 0) return;
    if (K == 0) {
        memset(out, 0, (size_t)(M * N) * sizeof(float));
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, a,
                (int)K, b, (int)N, 0.0f, out, (int)N);
}

// For out = a @ b: da (M, K) += dout (M, N) @ b^T (N, K); db (K, N) += a^T (K, M) @ dout.
// Either of da, db may be NULL (that input needs no gradient).
static void matmul_backward(float *da, float *db, const float *dout, const float *a,
                            const float *b, int64_t M, int64_t K, int64_t N) {
    if (M == 0 || N == 0 || K == 0) return;
    if (da)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)K, (int)N, 1.0f, dout,
                    (int)N, b, (int)N, 1.0f, da, (int)K);
    if (db)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)N, (int)M, 1.0f, a,
                    (int)K, dout, (int)N, 1.0f, db, (int)N);
}

static tg_status matmul_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const matmul_saved *sv = n->saved;
    float *da, *db;
    if (!tg_ops_grad(c, n->in[0], &da) || !tg_ops_grad(c, n->in[1], &db)) return TG_ERR_NOMEM;
    matmul_backward(da, db, dout, n->in[0]->data, n->in[1]->data, sv->M, sv->K, sv->N);
    return TG_OK;
}

static const tg_op matmul_op = {"MmBackward0", matmul_node_backward};

tg_tensor *tg_matmul(tg_ctx *c, tg_tensor *a, tg_tensor *b) {
    if (!a || !b) return NULL;
    char sa[TG_SHAPE_STR_MAX], sb[TG_SHAPE_STR_MAX];
    if (a->ndim != 2 || b->ndim != 2 || a->shape[1] != b->shape[0]) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "matmul: shapes %s and %s cannot be multiplied: expected (M, K) and (K, N)",
                     tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    int64_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    if (M > INT32_MAX || K > INT32_MAX || N > INT32_MAX) {
        tg_error_set(&c->err, TG_ERR_SHAPE, "matmul: shapes %s and %s are too large for BLAS",
                     tg_shape_str(a, sa, sizeof sa), tg_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    int64_t shape[2] = {M, N};
    tg_tensor *in[2] = {a, b};
    void *saved;
    tg_tensor *out = tg_op_output(c, &matmul_op, 2, shape, 2, in, &saved, sizeof(matmul_saved));
    if (!out) return NULL;
    if (saved) *(matmul_saved *)saved = (matmul_saved){M, K, N};
    matmul_forward(out->data, a->data, b->data, M, K, N);
    return out;
}
