// parallel.c: tg_parallel_for over a small persistent pool of pthreads. Workers start on
// first use and then sleep on a condition variable between loops, so a loop costs a wake
// and a join (microseconds) instead of a thread creation. One loop at a time uses the
// pool; a loop started while it is busy (another thread, or a task of a running loop)
// runs inline. Loops cheaper than the parallel_min knob (items x cost per item) are not
// split.
#include "parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "knobs.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

// Loops cheaper than the parallel_min knob run inline. With the workers polling between
// loops a split costs about a microsecond, so even loops of a few thousand elements gain
// from it, hence the default TG_PARALLEL_MIN_COST of 4096: bench --batch 1 --size 64,
// 2 threads, 8 alternations: step medians 19.6 ms at 65536, 17.9 ms at 4096 (and 18.8 at
// 16384, 17.9 at 1024, 22.3 at 262144). TG_PARALLEL_MIN=n sets it.
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

static pthread_mutex_t use_lock = PTHREAD_MUTEX_INITIALIZER;  // one loop at a time
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;        // guards what follows
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static int n_workers;                 // started; worker ids 1..n_workers
static _Atomic uint64_t generation;   // bumped for each loop
static uint64_t start_gen[PARALLEL_MAX];
static _Atomic int remaining;         // workers still running the current loop

// A worker that finishes a part, and the caller waiting for the workers, first poll for a
// while before sleeping on the condition variable: a batch-1 step runs a few hundred short
// loops, and waking a sleeping thread through the kernel cost about 9% of it (perf:
// futex wake and the scheduler). When the cores are shared with other processes, the
// awaited thread may not be running at all and polling only takes the core from it, so
// each thread halves its budget after a poll that timed out (down to SPIN_MIN) and
// restores it after one that succeeded. The parallel_spin knob is the full budget
// (TG_PARALLEL_SPIN=n; default TG_PARALLEL_SPIN_POLLS, 0: sleep at once).
#define SPIN_MIN 32

static int spin_polls(void) { return tg_knobs_get()->parallel_spin; }
static _Thread_local int spin_budget = -1;

// Polls done(arg) within the thread's budget; true once it holds.
static bool spin_until(bool (*done)(uint64_t), uint64_t arg) {
    if (spin_budget < 0) spin_budget = spin_polls();
    if (spin_budget == 0) return false;
    for (int i = 0; i < spin_budget; i++) {
        if (done(arg)) {
            spin_budget = spin_polls();
            return true;
        }
        CPU_RELAX();
    }
    spin_budget = spin_budget / 2 > SPIN_MIN ? spin_budget / 2 : SPIN_MIN;
    return false;
}

static part jobs[PARALLEL_MAX];       // jobs[id] for worker id

static bool new_loop(uint64_t seen) { return atomic_load(&generation) != seen; }
static bool workers_done(uint64_t unused) {
    (void)unused;
    return atomic_load(&remaining) == 0;
}

static void *worker(void *p) {
    const int id = (int)(intptr_t)p;
    pthread_mutex_lock(&mu);
    uint64_t seen = start_gen[id];
    for (;;) {
        if (generation == seen) {
            pthread_mutex_unlock(&mu);
            spin_until(new_loop, seen);
            pthread_mutex_lock(&mu);
        }
        while (generation == seen) pthread_cond_wait(&wake, &mu);
        seen = generation;
        part job = jobs[id];
        pthread_mutex_unlock(&mu);
        if (job.i1 > job.i0) job.fn(job.arg, job.i0, job.i1);
        pthread_mutex_lock(&mu);
        if (--remaining == 0) pthread_cond_signal(&done);
    }
    return NULL;
}

// A child process after fork() has none of the workers: start afresh.
static void after_fork_child(void) {
    pthread_mutex_init(&use_lock, NULL);
    pthread_mutex_init(&mu, NULL);
    pthread_cond_init(&wake, NULL);
    pthread_cond_init(&done, NULL);
    n_workers = 0;
    remaining = 0;
}

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static void register_atfork(void) { pthread_atfork(NULL, NULL, after_fork_child); }

// Starts workers up to `want` (caller holds use_lock). Returns how many run. The knobs are
// read here, before the first worker exists (the workers read parallel_spin).
static int start_workers(int want) {
    pthread_once(&atfork_once, register_atfork);
    tg_knobs_get();
    while (n_workers < want) {
        const int id = n_workers + 1;
        pthread_mutex_lock(&mu);
        start_gen[id] = generation;
        pthread_mutex_unlock(&mu);
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &at, worker, (void *)(intptr_t)id);
        pthread_attr_destroy(&at);
        if (rc != 0) break;
        n_workers = id;
    }
    return n_workers;
}

void tg_parallel_for(int64_t n_items, int64_t cost_per_item, tg_parallel_fn fn, void *arg) {
    if (n_items <= 0) return;
    int T = tg_parallel_threads();
    if (T > n_items) T = (int)n_items;
    if (T <= 1 || n_items * cost_per_item < tg_knobs_get()->parallel_min ||
        pthread_mutex_trylock(&use_lock) != 0) {
        fn(arg, 0, n_items);
        return;
    }
    int W = start_workers(T - 1);
    if (W > T - 1) W = T - 1;  // workers beyond that get empty parts
    const int P = W + 1;
    pthread_mutex_lock(&mu);
    for (int id = 1; id <= n_workers; id++)
        jobs[id] = id < P ? (part){fn, arg, n_items * id / P, n_items * (id + 1) / P}
                          : (part){fn, arg, 0, 0};
    remaining = n_workers;
    generation++;
    if (n_workers) pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&mu);
    fn(arg, 0, n_items / P);
    spin_until(workers_done, 0);
    pthread_mutex_lock(&mu);
    while (remaining > 0) pthread_cond_wait(&done, &mu);
    pthread_mutex_unlock(&mu);
    pthread_mutex_unlock(&use_lock);
}
