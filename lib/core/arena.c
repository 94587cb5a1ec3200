// arena.c: a bump allocator over a list of malloc'd blocks (see arena.h).
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TG_ARENA_ALIGN 64
#define TG_ARENA_MIN_BLOCK ((size_t)1 << 20)

struct tg_arena_block {
    tg_arena_block *prev;
    size_t size;  // usable bytes after the header
    size_t used;
    unsigned char *base;  // aligned start of usable memory
    void *raw;            // what malloc returned
};

static tg_arena_block *block_new(size_t size) {
    tg_arena_block *b = malloc(sizeof *b);
    if (!b) return NULL;
    b->raw = malloc(size + TG_ARENA_ALIGN);
    if (!b->raw) {
        free(b);
        return NULL;
    }
    uintptr_t p = ((uintptr_t)b->raw + TG_ARENA_ALIGN - 1) & ~(uintptr_t)(TG_ARENA_ALIGN - 1);
    b->base = (unsigned char *)p;
    b->size = size;
    b->used = 0;
    b->prev = NULL;
    return b;
}

static void block_free_chain(tg_arena_block *b) {
    while (b) {
        tg_arena_block *p = b->prev;
        free(b->raw);
        free(b);
        b = p;
    }
}

void tg_arena_init(tg_arena *a) { memset(a, 0, sizeof *a); }

void *tg_arena_alloc(tg_arena *a, size_t bytes) {
    if (bytes > SIZE_MAX / 2) return NULL;
    size_t need = (bytes + TG_ARENA_ALIGN - 1) & ~(size_t)(TG_ARENA_ALIGN - 1);
    if (need == 0) need = TG_ARENA_ALIGN;
    tg_arena_block *b = a->head;
    if (!b || b->size - b->used < need) {
        size_t size = need > TG_ARENA_MIN_BLOCK ? need : TG_ARENA_MIN_BLOCK;
        // grow geometrically so a first step needs few blocks
        if (b && size < b->size * 2) size = b->size * 2;
        tg_arena_block *nb = block_new(size);
        if (!nb) return NULL;
        nb->prev = b;
        a->head = nb;
        a->capacity += size;
        b = nb;
    }
    void *p = b->base + b->used;
    b->used += need;
    a->used_total += need;
    if (a->used_total > a->peak) a->peak = a->used_total;
    return p;
}

void *tg_arena_calloc(tg_arena *a, size_t bytes) {
    void *p = tg_arena_alloc(a, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

tg_arena_mark tg_arena_get_mark(const tg_arena *a) {
    return (tg_arena_mark){a->head, a->head ? a->head->used : 0, a->used_total};
}

void tg_arena_release(tg_arena *a, tg_arena_mark m) {
    while (a->head && a->head != m.head) {
        tg_arena_block *b = a->head;
        a->head = b->prev;
        a->capacity -= b->size;
        free(b->raw);
        free(b);
    }
    if (a->head) a->head->used = m.used;
    a->used_total = m.used_total;
}

void tg_arena_reset(tg_arena *a) {
    if (a->head && a->head->prev) {
        // more than one block: replace them all by one that holds the peak
        size_t want = a->peak;
        block_free_chain(a->head);
        a->head = NULL;
        a->capacity = 0;
        tg_arena_block *nb = block_new(want);
        if (nb) {
            a->head = nb;
            a->capacity = want;
        }
    } else if (a->head) {
        a->head->used = 0;
    }
    a->used_total = 0;
}

void tg_arena_free(tg_arena *a) {
    block_free_chain(a->head);
    memset(a, 0, sizeof *a);
}
