// parallel.c: tg_parallel_for over a small persistent pool of pthreads. Workers start on
// first use and then sleep on a condition variable between loops, so a loop costs a wake
// and a join (microseconds) instead of a thread creation. One loop at a time uses the
// pool; a loop started while it is busy (another thread, or a task of a running loop)
// runs inline. Loops of fewer than PARALLEL_MIN_COST elements are not split.
#include "parallel.h"

#include <pthread.h>
#include <stdint.h>
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

static pthread_mutex_t use_lock = PTHREAD_MUTEX_INITIALIZER;  // one loop at a time
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;        // guards what follows
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER, done = PTHREAD_COND_INITIALIZER;
static int n_workers;                 // started; worker ids 1..n_workers
static uint64_t generation;           // bumped for each loop
static uint64_t start_gen[PARALLEL_MAX];
static int remaining;                 // workers still running the current loop
static part jobs[PARALLEL_MAX];       // jobs[id] for worker id

static void *worker(void *p) {
    const int id = (int)(intptr_t)p;
    pthread_mutex_lock(&mu);
    uint64_t seen = start_gen[id];
    for (;;) {
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

// Starts workers up to `want` (caller holds use_lock). Returns how many run.
static int start_workers(int want) {
    pthread_once(&atfork_once, register_atfork);
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
    if (T <= 1 || n_items * cost_per_item < PARALLEL_MIN_COST ||
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
    pthread_mutex_lock(&mu);
    while (remaining > 0) pthread_cond_wait(&done, &mu);
    pthread_mutex_unlock(&mu);
    pthread_mutex_unlock(&use_lock);
}
