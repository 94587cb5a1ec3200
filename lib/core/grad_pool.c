// grad_pool.c: recycled gradient buffers for backward (see tensor.h).
// A training step's backward needs, at any moment, only the gradients of the tensors on
// its frontier; handing each buffer back once its node has run keeps that memory to a few
// activations' worth instead of one gradient per activation. Buffers are malloc'd once
// and reused step after step (best fit by size), so steady-state steps allocate nothing.
#include <stdlib.h>
#include <string.h>

#include "tensor.h"

typedef struct {
    float *p;
    size_t cap;  // floats
    int state;   // 0 free, 1 in use, 2 in use until tg_ctx_reset
} pool_buf;

struct tg_grad_pool {
    pool_buf *b;
    size_t n, cap;
};

float *tg_grad_pool_get(tg_ctx *c, int64_t n, bool until_reset) {
    size_t want = (size_t)(n > 0 ? n : 1);
    if (!c->gpool) {
        c->gpool = calloc(1, sizeof *c->gpool);
        if (!c->gpool) goto nomem;
    }
    tg_grad_pool *g = c->gpool;
    pool_buf *best = NULL;
    for (size_t i = 0; i < g->n; i++)
        if (g->b[i].state == 0 && g->b[i].cap >= want && (!best || g->b[i].cap < best->cap))
            best = &g->b[i];
    if (!best) {
        if (g->n == g->cap) {
            size_t nc = g->cap ? g->cap * 2 : 64;
            pool_buf *nb = realloc(g->b, nc * sizeof *nb);
            if (!nb) goto nomem;
            g->b = nb;
            g->cap = nc;
        }
        float *p = malloc(want * sizeof(float));
        if (!p) goto nomem;
        best = &g->b[g->n++];
        best->p = p;
        best->cap = want;
    }
    best->state = until_reset ? 2 : 1;
    memset(best->p, 0, want * sizeof(float));
    return best->p;
nomem:
    tg_error_set(&c->err, TG_ERR_NOMEM, "out of memory allocating a gradient of %lld floats",
                 (long long)want);
    return NULL;
}

void tg_grad_pool_put(tg_ctx *c, float *p) {
    if (!p || !c->gpool) return;
    tg_grad_pool *g = c->gpool;
    for (size_t i = 0; i < g->n; i++)
        if (g->b[i].p == p) {
            g->b[i].state = 0;
            return;
        }
    TG_ASSERT(0, "tg_grad_pool_put of a buffer the pool did not hand out");
}

void tg_grad_pool_reset(tg_ctx *c) {
    if (!c->gpool) return;
    for (size_t i = 0; i < c->gpool->n; i++) c->gpool->b[i].state = 0;
}

void tg_grad_pool_free(tg_ctx *c) {
    if (!c->gpool) return;
    for (size_t i = 0; i < c->gpool->n; i++) free(c->gpool->b[i].p);
    free(c->gpool->b);
    free(c->gpool);
    c->gpool = NULL;
}

size_t tg_grad_pool_bytes(const tg_ctx *c) {
    size_t s = 0;
    if (c->gpool)
        for (size_t i = 0; i < c->gpool->n; i++) s += c->gpool->b[i].cap * sizeof(float);
    return s;
}
