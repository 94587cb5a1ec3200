// parallel.c: tg_parallel_for with plain pthreads, one short-lived thread per extra worker.
// Starting a thread costs tens of microseconds, so only loops of more than
// PARALLEL_MIN_COST elements are split.
#include "parallel.h"

#include <pthread.h>
#include <unistd.h>

#define PARALLEL_MIN_COST ((int64_t)1 << 16)
#define PARALLEL_MAX 8

static int n_threads;  // 0 = not set yet

int tg_parallel_threads(void) {
    if (n_threads <= 0) {
        long p = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = p < 1 ? 1 : p > PARALLEL_MAX ? PARALLEL_MAX : (int)p;
    }
    return n_threads;
}

void tg_parallel_set_threads(int n) {
    n_threads = n < 1 ? 1 : n > PARALLEL_MAX ? PARALLEL_MAX : n;
}

typedef struct {
    tg_parallel_fn fn;
    void *arg;
    int64_t i0, i1;
} part;

static void *run_part(void *p) {
    part *q = p;
    q->fn(q->arg, q->i0, q->i1);
    return NULL;
}

void tg_parallel_for(int64_t n_items, int64_t cost_per_item, tg_parallel_fn fn, void *arg) {
    if (n_items <= 0) return;
    int T = tg_parallel_threads();
    if (T > n_items) T = (int)n_items;
    if (T <= 1 || n_items * cost_per_item < PARALLEL_MIN_COST) {
        fn(arg, 0, n_items);
        return;
    }
    part parts[PARALLEL_MAX];
    pthread_t tid[PARALLEL_MAX];
    int started[PARALLEL_MAX] = {0};
    for (int t = 0; t < T; t++)
        parts[t] = (part){fn, arg, n_items * t / T, n_items * (t + 1) / T};
    for (int t = 1; t < T; t++) started[t] = pthread_create(&tid[t], NULL, run_part, &parts[t]) == 0;
    fn(arg, parts[0].i0, parts[0].i1);
    for (int t = 1; t < T; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        else
            fn(arg, parts[t].i0, parts[t].i1);  // could not start a thread: do it here
    }
}
