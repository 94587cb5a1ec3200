// threads.h: one place that sizes every compute pool (OpenBLAS's threads and lib/ops'
// tg_parallel_for) so that together they never oversubscribe the cores.
#ifndef TG_APP_THREADS_H
#define TG_APP_THREADS_H

// The most compute threads a run may ask for: train.threads in the config and --threads
// of every command are checked against it (0 = every core).
#define TG_THREADS_MAX 1024

// A thread count meaning "every core" where 0 already means "not given" (tg_train_opts).
#define TG_THREADS_ALL (-1)

// n <= 0: every online core. Returns the count used.
int tg_app_set_threads(int n);

#endif
