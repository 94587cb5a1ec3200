// threads.c: see threads.h. OpenBLAS's pool and tg_parallel_for never run at the same
// time (the memory-bound kernels run between gemms), so both get the same count.
#include "app/threads.h"

#include <cblas.h>
#include <unistd.h>

#include "core/parallel.h"

int tg_app_set_threads(int n) {
    if (n <= 0) {
        long p = sysconf(_SC_NPROCESSORS_ONLN);
        n = p < 1 ? 1 : (int)p;
    }
    openblas_set_num_threads(n);
    tg_parallel_set_threads(n);
    return n;
}
