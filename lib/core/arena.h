// arena.h: the step arena. Everything a training step allocates (activations, graph
// nodes, saved tensors, im2col buffers, gradients of non-leaf tensors) comes from here
// and is released at once by tg_arena_reset() after the optimizer step.
// After a reset the arena keeps one block as large as the whole previous step used, so a
// loop of identical steps allocates nothing after its first step and memory stays flat.
#ifndef TG_ARENA_H
#define TG_ARENA_H

#include <stddef.h>

typedef struct tg_arena_block tg_arena_block;

typedef struct {
    tg_arena_block *head;   // current block (linked to older ones)
    size_t used_total;      // bytes handed out since the last reset
    size_t peak;            // largest used_total seen
    size_t capacity;        // bytes held in all blocks
} tg_arena;

void tg_arena_init(tg_arena *a);
// 64-byte aligned, uninitialised. NULL on out of memory.
void *tg_arena_alloc(tg_arena *a, size_t bytes);
// Same, zero-filled.
void *tg_arena_calloc(tg_arena *a, size_t bytes);
// A position in the arena, to release what was allocated after it while a step runs:
// the model runs a frozen block (no graph recorded) and keeps only its output.
typedef struct {
    tg_arena_block *head;
    size_t used;        // head's used bytes at the mark
    size_t used_total;
} tg_arena_mark;
tg_arena_mark tg_arena_get_mark(const tg_arena *a);
// Releases everything allocated since m (blocks added since are freed). Nothing allocated
// after m may be used afterwards.
void tg_arena_release(tg_arena *a, tg_arena_mark m);
// Releases everything handed out; keeps (or coalesces into) one block for the next step.
void tg_arena_reset(tg_arena *a);
void tg_arena_free(tg_arena *a);

#endif
