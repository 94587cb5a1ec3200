// grad_pool.c: the step's recycled buffers (see tensor.h): gradients of backward and the
// conv kernels' column and transform scratch.
// A training step's backward needs, at any moment, only the gradients of the tensors on
// its frontier; handing each buffer back once its node has run keeps that memory to a few
// activations' worth instead of one gradient per activation. The scratch of the conv
// kernels peaks at layer4 while the gradients peak at the stem, so both come from one
// region: blocks are split on allocation (best fit; scratch from the top of a hole, away
// from the gradients) and merged with their free neighbours when handed back, so the
// region's touched pages are about the live peak, not the sum of each size's peak.
// The region only changes size while no block is live (between steps, or between layers
// of a forward): a request that does not fit gets its own mapped block, unmapped when
// handed back, and the region grows to the live peak (or, if it was only too fragmented,
// by what the last hole lacked) the next time it is empty. Steady-state steps allocate
// nothing and touch no new pages.
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tensor.h"

#define POOL_ALIGN 64  // bytes: kernels store whole cache lines
// The region is reserved as address space only: a page costs memory once a block on it
// is first used, so its resident size is the highest offset handed out, and it can be
// large enough that steps never spill. Smaller if the system refuses (no overcommit).
#define POOL_RESERVE ((size_t)16 << 30)
#define POOL_RESERVE_MIN ((size_t)64 << 20)

typedef struct {
    size_t off, len;  // bytes within the region
    int state;        // 0 free, 1 in use, 2 in use until tg_ctx_reset
} pool_block;

typedef struct {
    float *p;
    size_t len;  // bytes
    int state;   // as above; 0: slot unused
} pool_spill;

struct tg_grad_pool {
    char *base;                // the region (POOL_ALIGN aligned), NULL while size is 0
    size_t size;               // bytes
    pool_block *b;             // blocks in address order, covering the region
    size_t n, cap;
    pool_spill *s;             // malloc'd blocks of requests the region could not serve
    size_t ns, scap;
    size_t live;               // bytes in use (region and spills)
    size_t spill_live, spill_peak;
    size_t deficit;            // most a spilled request lacked in the region's last block
    size_t live_peak;          // of live, since the last resize
    size_t top;                // end of the highest block handed out: the pages touched
    bool reserved;             // the first region was tried
};

// The region and the spills are mapped directly: freed, they leave the process (malloc
// would keep blocks under its mmap threshold, which grows to 32 MB after a free, resident).
static void *pool_map(size_t bytes) {
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void pool_unmap(void *p, size_t bytes) {
    if (p) munmap(p, bytes);
}

static size_t round_up(size_t bytes) { return (bytes + POOL_ALIGN - 1) / POOL_ALIGN * POOL_ALIGN; }

// Replaces the region by one of `size` bytes; only while no block is live.
static bool pool_resize(tg_grad_pool *g, size_t size) {
    pool_unmap(g->base, g->size);
    g->base = NULL;
    g->size = 0;
    g->n = 0;
    g->spill_peak = 0;
    g->live_peak = 0;
    g->deficit = 0;
    g->top = 0;
    if (!size) return true;
    if (!g->cap) {
        g->b = malloc(64 * sizeof *g->b);
        if (!g->b) return false;
        g->cap = 64;
    }
    g->base = pool_map(size);
    if (!g->base) return false;
    g->size = size;
    g->b[0] = (pool_block){0, size, 0};
    g->n = 1;
    return true;
}

// When nothing is live and requests spilled since the last resize, grow the region by
// their peak.
static void pool_maybe_grow(tg_grad_pool *g) {
    if (g->live || !g->spill_peak) return;
    // to the live peak; if the region was large enough but too fragmented, by the spills
    size_t want = g->live_peak > g->size ? g->live_peak : g->size + g->deficit;
    if (!pool_resize(g, want)) pool_resize(g, 0);  // out of memory: spill from now on
}

static float *pool_alloc(tg_ctx *c, size_t want, int state, bool high) {
    if (!c->gpool) {
        c->gpool = calloc(1, sizeof *c->gpool);
        if (!c->gpool) return NULL;
    }
    tg_grad_pool *g = c->gpool;
    if (!g->reserved) {
        g->reserved = true;
        for (size_t r = POOL_RESERVE; r >= POOL_RESERVE_MIN && !pool_resize(g, r); r /= 2) {
        }
    }
    pool_maybe_grow(g);
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < g->n; i++)
        if (g->b[i].state == 0 && g->b[i].len >= want &&
            (best == SIZE_MAX || g->b[i].len < g->b[best].len))
            best = i;
    if (best != SIZE_MAX && g->b[best].len > want && g->n == g->cap) {
        pool_block *nb = realloc(g->b, 2 * g->cap * sizeof *nb);
        if (!nb) return NULL;
        g->b = nb;
        g->cap *= 2;
    }
    if (best != SIZE_MAX) {
        pool_block *bl = &g->b[best];
        if (bl->len > want) {  // split: the rest stays free
            memmove(bl + 2, bl + 1, (g->n - best - 1) * sizeof *bl);
            if (high && best + 1 < g->n) {  // scratch from the block's top, away from the gradients
                bl[1] = (pool_block){bl->off + bl->len - want, want, 0};
                bl->len -= want;
                bl++;
            } else {
                bl[1] = (pool_block){bl->off + want, bl->len - want, 0};
                bl->len = want;
            }
            g->n++;
        }
        bl->state = state;
        if (bl->off + want > g->top) g->top = bl->off + want;
        g->live += want;
        if (g->live > g->live_peak) g->live_peak = g->live;
        return (float *)(g->base + bl->off);
    }
    // spill
    size_t i = 0;
    while (i < g->ns && g->s[i].state) i++;
    if (i == g->ns) {
        if (g->ns == g->scap) {
            size_t nc = g->scap ? 2 * g->scap : 16;
            pool_spill *ns = realloc(g->s, nc * sizeof *ns);
            if (!ns) return NULL;
            g->s = ns;
            g->scap = nc;
        }
        g->ns++;
    }
    float *p = pool_map(want);
    if (!p) return NULL;
    g->s[i] = (pool_spill){p, want, state};
    g->live += want;
    if (g->live > g->live_peak) g->live_peak = g->live;
    size_t top = g->n && g->b[g->n - 1].state == 0 ? g->b[g->n - 1].len : 0;
    if (want - top > g->deficit) g->deficit = want - top;
    g->spill_live += want;
    if (g->spill_live > g->spill_peak) g->spill_peak = g->spill_live;
    return p;
}

float *tg_grad_pool_get(tg_ctx *c, int64_t n, bool until_reset) {
    size_t want = round_up((size_t)(n > 0 ? n : 1) * sizeof(float));
    float *p = pool_alloc(c, want, until_reset ? 2 : 1, false);
    if (!p) {
        tg_error_set(&c->err, TG_ERR_NOMEM, "out of memory allocating a gradient of %lld floats",
                     (long long)(n > 0 ? n : 1));
        return NULL;
    }
    memset(p, 0, want);
    return p;
}

float *tg_pool_scratch(tg_ctx *c, size_t floats) {
    return pool_alloc(c, round_up((floats ? floats : 1) * sizeof(float)), 1, true);
}

void tg_grad_pool_put(tg_ctx *c, float *p) {
    if (!p || !c->gpool) return;
    tg_grad_pool *g = c->gpool;
    char *q = (char *)p;
    if (g->base && q >= g->base && q < g->base + g->size) {
        size_t off = (size_t)(q - g->base), lo = 0, hi = g->n;
        while (hi - lo > 1) {  // the last block starting at or before off
            size_t mid = (lo + hi) / 2;
            if (g->b[mid].off <= off) lo = mid;
            else hi = mid;
        }
        pool_block *bl = &g->b[lo];
        TG_ASSERT(bl->off == off && bl->state != 0,
                  "tg_grad_pool_put of a buffer the pool did not hand out");
        bl->state = 0;
        g->live -= bl->len;
        size_t i = lo;
        if (i + 1 < g->n && g->b[i + 1].state == 0) {  // merge with the next
            bl->len += g->b[i + 1].len;
            memmove(bl + 1, bl + 2, (g->n - i - 2) * sizeof *bl);
            g->n--;
        }
        if (i > 0 && g->b[i - 1].state == 0) {  // and the previous
            g->b[i - 1].len += bl->len;
            memmove(bl, bl + 1, (g->n - i - 1) * sizeof *bl);
            g->n--;
        }
    } else {
        size_t i = 0;
        while (i < g->ns && !(g->s[i].state && g->s[i].p == p)) i++;
        TG_ASSERT(i < g->ns, "tg_grad_pool_put of a buffer the pool did not hand out");
        pool_unmap(p, g->s[i].len);
        g->live -= g->s[i].len;
        g->spill_live -= g->s[i].len;
        g->s[i].state = 0;
        g->s[i].p = NULL;
    }
    pool_maybe_grow(g);
}

void tg_grad_pool_reset(tg_ctx *c) {
    tg_grad_pool *g = c->gpool;
    if (!g) return;
    for (size_t i = 0; i < g->ns; i++)
        if (g->s[i].state) pool_unmap(g->s[i].p, g->s[i].len);
    g->ns = 0;
    g->spill_live = 0;
    if (g->n) {
        g->b[0] = (pool_block){0, g->size, 0};
        g->n = 1;
    }
    g->live = 0;
    pool_maybe_grow(g);
}

void tg_grad_pool_free(tg_ctx *c) {
    tg_grad_pool *g = c->gpool;
    if (!g) return;
    for (size_t i = 0; i < g->ns; i++)
        if (g->s[i].state) pool_unmap(g->s[i].p, g->s[i].len);
    free(g->s);
    pool_unmap(g->base, g->size);
    free(g->b);
    free(g);
    c->gpool = NULL;
}

size_t tg_grad_pool_bytes(const tg_ctx *c) {
    return c->gpool ? c->gpool->top + c->gpool->spill_peak : 0;
}
