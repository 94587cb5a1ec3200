// relu.c: torch.relu and torch.relu_ (in place, as nn.ReLU(inplace=True) in torchvision's
// ResNet), grad_fn ReluBackward0 for both. Backward uses the output, as PyTorch's
// threshold_backward does: dx += dout except where out <= 0.
#include "core/parallel.h"
#include "ops.h"
#include "relu.h"

typedef struct {
    float *out;
    const float *x;
} relu_job;

static void relu_task(void *arg, int64_t i0, int64_t i1) {
    relu_job *j = arg;
    for (int64_t i = i0; i < i1; i++) {
        float v = j->x[i];
        j->out[i] = v > 0.0f ? v : (v != v ? v : 0.0f);  // NaN propagates, as in PyTorch
    }
}

typedef struct {
    float *dx;
    const float *dout, *out;
} relu_bjob;

static void relu_backward_task(void *arg, int64_t i0, int64_t i1) {
    relu_bjob *j = arg;
    float *dx = j->dx;
    const float *dout = j->dout, *out = j->out;
    // where(out <= 0, 0, dout) as threshold_backward: a NaN output passes its gradient
    for (int64_t i = i0; i < i1; i++) dx[i] += out[i] <= 0.0f ? 0.0f : dout[i];
}

#define RELU_CHUNK 4096  // items of tg_parallel_for are chunks of this many elements

static void relu_chunks(void *arg, int64_t c0, int64_t c1, int64_t n, tg_parallel_fn fn) {
    int64_t i1 = c1 * RELU_CHUNK;
    fn(arg, c0 * RELU_CHUNK, i1 < n ? i1 : n);
}

typedef struct {
    void *job;
    tg_parallel_fn fn;
    int64_t n;
} chunk_job;

static void chunk_task(void *arg, int64_t c0, int64_t c1) {
    chunk_job *j = arg;
    relu_chunks(j->job, c0, c1, j->n, j->fn);
}

static void run_chunked(int64_t n, tg_parallel_fn fn, void *job) {
    chunk_job cj = {job, fn, n};
    tg_parallel_for((n + RELU_CHUNK - 1) / RELU_CHUNK, RELU_CHUNK, chunk_task, &cj);
}

// dx (= dout's own buffer, handed over) = where(out <= 0, 0, dout), in place
static void relu_backward_inplace_task(void *arg, int64_t i0, int64_t i1) {
    relu_bjob *j = arg;
    float *dx = j->dx;
    const float *out = j->out;
    for (int64_t i = i0; i < i1; i++) dx[i] = out[i] <= 0.0f ? 0.0f : dx[i];
}

void tg_relu_mask(float *d, const float *out, int64_t n) {
    relu_bjob j = {d, d, out};
    run_chunked(n, relu_backward_inplace_task, &j);
}

static tg_status relu_backward(tg_ctx *c, tg_node *n, const float *dout) {
    float *dx = tg_grad_take(c, n, n->in[0]);
    if (dx) {
        tg_relu_mask(dx, n->out->data, n->out->numel);
        return TG_OK;
    }
    dx = tg_grad_buf(c, n->in[0]);
    if (!dx) return tg_ctx_status(c);
    relu_bjob j = {dx, dout, n->out->data};
    run_chunked(n->out->numel, relu_backward_task, &j);
    return TG_OK;
}

static const tg_op relu_op = {"ReluBackward0", relu_backward};

tg_tensor *tg_relu(tg_ctx *c, tg_tensor *x) {
    if (!x) return NULL;
    tg_tensor *in[1] = {x};
    tg_tensor *out = tg_op_output(c, &relu_op, x->ndim, x->shape, 1, in, NULL, 0);
    if (!out) return NULL;
    relu_job j = {out->data, x->data};
    run_chunked(x->numel, relu_task, &j);
    return out;
}

// In place: x's buffer becomes the output (saving one activation per BatchNorm + ReLU).
// Safe when the op that produced x does not read its own output in backward (conv2d,
// batchnorm2d, add, linear, maxpool2d here); like PyTorch, a leaf that requires grad is
// refused.
tg_tensor *tg_relu_(tg_ctx *c, tg_tensor *x) {
    if (!x) return NULL;
    if (x->requires_grad && !x->grad_fn && tg_grad_enabled(c)) {
        tg_error_set(&c->err, TG_ERR_STATE,
                     "relu_: a leaf tensor that requires grad (%s) cannot be modified in place",
                     x->name ? x->name : "unnamed");
        return NULL;
    }
    // A header over x's buffer, recorded as tg_op_output would (which allocates data).
    tg_tensor *out = tg_ctx_wrap(c, x->ndim, x->shape, x->data);
    if (!out) return NULL;
    if (tg_grad_enabled(c) && x->requires_grad) {
        tg_node *n = tg_ctx_calloc(c, sizeof *n);
        if (!n) return NULL;
        n->op = &relu_op;
        n->out = out;
        n->n_in = 1;
        n->in[0] = x;
        out->grad_fn = n;
        out->requires_grad = true;
    }
    relu_job j = {x->data, x->data};
    run_chunked(x->numel, relu_task, &j);
    return out;
}
