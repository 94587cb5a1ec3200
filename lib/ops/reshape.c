// reshape.c: a new shape over the same data (torch.reshape on a contiguous tensor, which
// returns a view; torch 1.13 names its grad_fn ReshapeAliasBackward0), and flatten
// (torch.flatten(x, 1), the same node). The output shares its input's data: no copy.
#include <stdio.h>
#include <string.h>

#include "ops/broadcast.h"
#include "ops/ops.h"

// d(reshape a)/da is the identity on the flat data: da (n,) += dout
static void reshape_backward(float *da, const float *dout, int64_t n) {
    for (int64_t i = 0; i < n; i++) da[i] += dout[i];
}

static tg_status reshape_node_backward(tg_ctx *c, tg_node *n, const float *dout) {
    float *da;
    if (!tg_ops_grad(c, n->in[0], &da)) return TG_ERR_NOMEM;
    if (da) reshape_backward(da, dout, n->out->numel);
    return TG_OK;
}

static const tg_op reshape_op = {"ReshapeAliasBackward0", reshape_node_backward};

// "[2, -1]" for messages
static void dims_str(char *buf, size_t n, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

tg_tensor *tg_reshape(tg_ctx *c, tg_tensor *a, int ndim, const int64_t *shape) {
    if (!a) return NULL;
    char want[TG_SHAPE_STR_MAX], have[TG_SHAPE_STR_MAX];
    if (ndim < 0 || ndim > TG_MAX_DIMS) {
        tg_error_set(&c->err, TG_ERR_SHAPE, "reshape: %d dimensions requested, at most %d",
                     ndim, TG_MAX_DIMS);
        return NULL;
    }
    dims_str(want, sizeof want, ndim, shape);
    int64_t dims[TG_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0) {
                tg_error_set(&c->err, TG_ERR_SHAPE,
                             "reshape: shape %s: only one dimension can be inferred", want);
                return NULL;
            }
            infer = i;
        } else if (shape[i] < 0) {
            tg_error_set(&c->err, TG_ERR_SHAPE, "reshape: shape %s: invalid size %lld", want,
                         (long long)shape[i]);
            return NULL;
        } else {
            if (shape[i] && known > INT64_MAX / shape[i]) {
                known = -1;  // overflows: cannot match any input
                break;
            }
            known *= shape[i];
        }
    }
    if (infer >= 0 && known > 0 && a->numel % known == 0) dims[infer] = a->numel / known;
    if (known < 0 || (infer >= 0 && (known == 0 || a->numel % known != 0)) ||
        (infer < 0 && known != a->numel)) {
        tg_error_set(&c->err, TG_ERR_SHAPE, "reshape: shape %s is invalid for input of shape %s "
                     "(%lld elements)", want, tg_shape_str(a, have, sizeof have),
                     (long long)a->numel);
        return NULL;
    }
    // The node's output is made 0-dim (one spare float in the arena) and then pointed at
    // the input's data with the new shape: a view, as in PyTorch.
    tg_tensor *out = tg_op_output(c, &reshape_op, 0, NULL, 1, &a, NULL, 0);
    if (!out) return NULL;
    out->ndim = ndim;
    memcpy(out->shape, dims, (size_t)ndim * sizeof dims[0]);
    out->numel = a->numel;
    out->data = a->data;
    out->dtype = a->dtype;
    return out;
}

tg_tensor *tg_flatten(tg_ctx *c, tg_tensor *a) {
    if (!a) return NULL;
    if (a->ndim < 2) {
        char s[TG_SHAPE_STR_MAX];
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "flatten: expected a tensor of at least 2 dimensions (N, ...), got shape %s",
                     tg_shape_str(a, s, sizeof s));
        return NULL;
    }
    int64_t shape[2] = {a->shape[0], -1};
    if (a->shape[0] == 0) shape[1] = tg_shape_numel(a->ndim - 1, a->shape + 1);
    return tg_reshape(c, a, 2, shape);
}
