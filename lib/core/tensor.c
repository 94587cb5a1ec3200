// tensor.c: tensor storage and shapes, persistent and arena tensors, the context.
#include "tensor.h"

#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

void tg_ctx_init(tg_ctx *c) {
    memset(c, 0, sizeof *c);
    tg_arena_init(&c->arena);
}

void tg_ctx_free(tg_ctx *c) {
    tg_arena_free(&c->arena);
    tg_grad_pool_free(c);
}

void tg_ctx_reset(tg_ctx *c) {
    tg_arena_reset(&c->arena);
    tg_grad_pool_reset(c);
    tg_error_clear(&c->err);
}

const char *tg_ctx_error(const tg_ctx *c) { return c->err.msg; }
tg_status tg_ctx_status(const tg_ctx *c) { return c->err.status; }
void tg_no_grad_enter(tg_ctx *c) { c->no_grad++; }
void tg_no_grad_exit(tg_ctx *c) {
    TG_ASSERT(c->no_grad > 0, "tg_no_grad_exit without tg_no_grad_enter");
    c->no_grad--;
}
bool tg_grad_enabled(const tg_ctx *c) { return c->no_grad == 0; }

void *tg_ctx_alloc(tg_ctx *c, size_t bytes) {
    void *p = tg_arena_alloc(&c->arena, bytes);
    if (!p) tg_error_set(&c->err, TG_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *tg_ctx_calloc(tg_ctx *c, size_t bytes) {
    void *p = tg_arena_calloc(&c->arena, bytes);
    if (!p) tg_error_set(&c->err, TG_ERR_NOMEM, "out of memory allocating %zu bytes", bytes);
    return p;
}

int64_t tg_shape_numel(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] != 0 && n > INT64_MAX / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

bool tg_shape_eq(const tg_tensor *a, const tg_tensor *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

char *tg_shape_str(const tg_tensor *t, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, n - k, "(");
    for (int i = 0; i < t->ndim && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)t->shape[i]);
    if (t->ndim == 1 && k < n) k += (size_t)snprintf(buf + k, n - k, ",");
    if (k < n) snprintf(buf + k, n - k, ")");
    return buf;
}

static bool header_init(tg_tensor *t, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > TG_MAX_DIMS) return false;
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = tg_shape_numel(ndim, shape);
    return t->numel >= 0;
}

tg_tensor *tg_tensor_new(int ndim, const int64_t *shape) {
    tg_tensor *t = malloc(sizeof *t);
    if (!t) return NULL;
    if (!header_init(t, ndim, shape)) {
        free(t);
        return NULL;
    }
    t->data = calloc((size_t)(t->numel ? t->numel : 1), sizeof(float));
    if (!t->data) {
        free(t);
        return NULL;
    }
    t->persistent = true;
    t->owns_data = true;
    return t;
}

tg_tensor *tg_tensor_from(int ndim, const int64_t *shape, const float *values) {
    tg_tensor *t = tg_tensor_new(ndim, shape);
    if (t && values) memcpy(t->data, values, (size_t)t->numel * sizeof(float));
    return t;
}

tg_tensor *tg_tensor_zeros(int ndim, const int64_t *shape) { return tg_tensor_new(ndim, shape); }

tg_tensor *tg_tensor_full(int ndim, const int64_t *shape, float value) {
    tg_tensor *t = tg_tensor_new(ndim, shape);
    if (t)
        for (int64_t i = 0; i < t->numel; i++) t->data[i] = value;
    return t;
}

tg_tensor *tg_tensor_ones(int ndim, const int64_t *shape) {
    return tg_tensor_full(ndim, shape, 1.0f);
}

tg_tensor *tg_tensor_arange(float start, float end, float step) {
    if (step == 0.0f || !((end - start) / step >= 0)) return NULL;
    int64_t shape[1] = {(int64_t)ceil((double)(end - start) / step)};
    tg_tensor *t = tg_tensor_new(1, shape);
    if (t)
        for (int64_t i = 0; i < t->numel; i++) t->data[i] = start + (float)i * step;
    return t;
}

tg_tensor *tg_tensor_rand(int ndim, const int64_t *shape, tg_rng *rng) {
    tg_tensor *t = tg_tensor_new(ndim, shape);
    if (t)
        for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)tg_rng_uniform(rng);
    return t;
}

tg_tensor *tg_tensor_randn(int ndim, const int64_t *shape, tg_rng *rng) {
    tg_tensor *t = tg_tensor_new(ndim, shape);
    if (t)
        for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)tg_rng_normal(rng);
    return t;
}

void tg_tensor_free(tg_tensor *t) {
    if (!t) return;
    TG_ASSERT(t->persistent, "tg_tensor_free on an arena tensor: tg_ctx_reset releases those");
    if (t->owns_data) free(t->data);
    free(t->grad);
    free(t);
}

void tg_tensor_set_requires_grad(tg_tensor *t, bool on) {
    TG_ASSERT(t->grad_fn == NULL, "requires_grad can only be changed on leaf tensors");
    t->requires_grad = on;
}

void tg_tensor_zero_grad(tg_tensor *t) {
    if (t && t->grad) memset(t->grad, 0, (size_t)t->numel * sizeof(float));
    if (t) t->grad_zero = false;
}

void tg_tensor_zero_grad_lazy(tg_tensor *t) {
    if (t && t->grad) t->grad_zero = true;
}

float *tg_tensor_grad(tg_tensor *t) {
    if (t && t->grad_zero) tg_tensor_zero_grad(t);
    return t ? t->grad : NULL;
}

tg_tensor *tg_ctx_wrap(tg_ctx *c, int ndim, const int64_t *shape, float *data) {
    tg_tensor *t = tg_arena_alloc(&c->arena, sizeof *t);
    if (!t) {
        tg_error_set(&c->err, TG_ERR_NOMEM, "out of memory allocating a tensor header");
        return NULL;
    }
    if (!header_init(t, ndim, shape)) {
        tg_error_set(&c->err, TG_ERR_SHAPE, "invalid shape (ndim %d)", ndim);
        return NULL;
    }
    t->data = data;
    return t;
}

tg_tensor *tg_ctx_tensor(tg_ctx *c, int ndim, const int64_t *shape) {
    int64_t n = tg_shape_numel(ndim, shape);
    if (ndim < 0 || ndim > TG_MAX_DIMS || n < 0) {
        tg_error_set(&c->err, TG_ERR_SHAPE, "invalid shape (ndim %d)", ndim);
        return NULL;
    }
    float *d = tg_ctx_alloc(c, (size_t)(n ? n : 1) * sizeof(float));
    if (!d) return NULL;
    return tg_ctx_wrap(c, ndim, shape, d);
}

tg_tensor *tg_ctx_tensor_like(tg_ctx *c, const tg_tensor *t) {
    return tg_ctx_tensor(c, t->ndim, t->shape);
}
