// linear.c: torch.nn.functional.linear(x, w, b) = x @ w^T + b (grad_fn AddmmBackward0).
// Backward: dx += dout @ w, dw += dout^T @ x, db += sum over the batch of dout (dw and db
// stored instead when their zeroing was deferred, see tg_grad_buf_w).
#include <cblas.h>
#include <string.h>

#include "ops.h"

static tg_status linear_backward(tg_ctx *c, tg_node *n, const float *dout) {
    tg_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    bool dw_new, db_new;  // true: the buffer holds nothing yet, store into it
    float *dx = tg_grad_buf(c, x), *dw = tg_grad_buf_w(c, w, &dw_new),
          *db = tg_grad_buf_w(c, b, &db_new);
    if ((x->requires_grad && !dx) || (w->requires_grad && !dw) || (b && b->requires_grad && !db))
        return tg_ctx_status(c);
    const int N = (int)x->shape[0], IN = (int)x->shape[1], OUT = (int)w->shape[0];
    if (db && db_new) memset(db, 0, (size_t)OUT * sizeof(float));
    if (N == 1) {  // the tutorial's batch of one: matrix-vector products, no packing of w
        if (dx)
            cblas_sgemv(CblasRowMajor, CblasTrans, OUT, IN, 1.0f, w->data, IN, dout, 1, 1.0f, dx,
                        1);
        if (dw && dw_new)
            for (int o = 0; o < OUT; o++)
                for (int i = 0; i < IN; i++) dw[(int64_t)o * IN + i] = dout[o] * x->data[i];
        else if (dw)
            cblas_sger(CblasRowMajor, OUT, IN, 1.0f, dout, 1, x->data, 1, dw, IN);
        if (db)
            for (int o = 0; o < OUT; o++) db[o] += dout[o];
        return TG_OK;
    }
    if (dw && dw_new && N == 0) memset(dw, 0, (size_t)OUT * IN * sizeof(float));
    if (dx)  // (N, IN) += (N, OUT) @ (OUT, IN)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IN, OUT, 1.0f, dout, OUT,
                    w->data, IN, 1.0f, dx, IN);
    if (dw)  // (OUT, IN) += (N, OUT)^T @ (N, IN)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, N, 1.0f, dout, OUT,
                    x->data, IN, dw_new ? 0.0f : 1.0f, dw, IN);
    if (db)
        for (int i = 0; i < N; i++)
            for (int o = 0; o < OUT; o++) db[o] += dout[(int64_t)i * OUT + o];
    return TG_OK;
}

static const tg_op linear_op = {"AddmmBackward0", linear_backward};

tg_tensor *tg_linear(tg_ctx *c, tg_tensor *x, tg_tensor *w, tg_tensor *b) {
    if (!x || !w) return NULL;
    char sx[TG_SHAPE_STR_MAX], sw[TG_SHAPE_STR_MAX], sb[TG_SHAPE_STR_MAX];
    if (x->ndim != 2 || w->ndim != 2 || x->shape[1] != w->shape[1] ||
        (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "linear: input %s, weight %s and bias %s do not fit (want (N, IN), "
                     "(OUT, IN), (OUT,))",
                     tg_shape_str(x, sx, sizeof sx), tg_shape_str(w, sw, sizeof sw),
                     b ? tg_shape_str(b, sb, sizeof sb) : "none");
        return NULL;
    }
    const int N = (int)x->shape[0], IN = (int)x->shape[1], OUT = (int)w->shape[0];
    int64_t shape[2] = {N, OUT};
    tg_tensor *in[3] = {x, w, b};
    tg_tensor *out = tg_op_output(c, &linear_op, 2, shape, 3, in, NULL, 0);
    if (!out) return NULL;
    for (int i = 0; i < N; i++)
        for (int o = 0; o < OUT; o++) out->data[(int64_t)i * OUT + o] = b ? b->data[o] : 0.0f;
    if (N == 1 && OUT > 0 && IN > 0)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, OUT, IN, 1.0f, w->data, IN, x->data, 1, 1.0f,
                    out->data, 1);
    else if (N > 0 && OUT > 0 && IN > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OUT, IN, 1.0f, x->data, IN,
                    w->data, IN, 1.0f, out->data, OUT);
    return out;
}
