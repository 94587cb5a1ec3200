// parallel.h: splits a loop over items across a few threads: the memory-bound kernels of
// lib/ops (BatchNorm, ReLU, pooling, im2col) between OpenBLAS's gemms, the products split
// by rows (ops/conv_gemm.c), SGD's update (nn/sgd.c); app/threads.c sets the thread count.
// OpenBLAS's own threads are idle while these run, so the two pools never compete for the
// cores.
#ifndef TG_CORE_PARALLEL_H
#define TG_CORE_PARALLEL_H

#include <stdint.h>

// fn(arg, i0, i1) handles items [i0, i1). Runs on up to tg_parallel_threads() threads when
// n_items * cost_per_item is large enough to pay for starting them, else inline.
typedef void (*tg_parallel_fn)(void *arg, int64_t i0, int64_t i1);
void tg_parallel_for(int64_t n_items, int64_t cost_per_item, tg_parallel_fn fn, void *arg);

// Threads used by tg_parallel_for (default: the online cores, at most 8); 1 disables it.
void tg_parallel_set_threads(int n);
int tg_parallel_threads(void);

#endif
