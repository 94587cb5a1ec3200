// bench.c: `tgfinetune bench`: times training steps (forward, cross-entropy, backward,
// SGD-momentum) of resnet18 with a C-class head on random input, as
// scripts/bench_vs_pytorch.py does in PyTorch, and prints the median step time, images/s
// and the peak RSS.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "app/threads.h"
#include "commands.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "nn/resnet18.h"
#include "nn/sgd.h"
#include "ops/ops.h"
#include "options.h"

static const char about[] =
    "Times training steps (forward, cross-entropy, backward, SGD with momentum 0.9)\n"
    "of resnet18 with a new C-class head on random input of B x 3 x S x S.\n";

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    int batch, size, steps, classes, threads;
    bool json, phases;
    tg_cmd_list freeze;  // --freeze patterns, in order
} bench_args;

// Builds the model, times a->steps training steps after a warm-up one, prints the figures.
static int bench(const bench_args *a) {
    const int batch = a->batch, size = a->size, steps = a->steps, classes = a->classes;
    const tg_cmd_list *freeze = &a->freeze;
    int rc = TG_EXIT_FAIL;
    double *phase[4] = {NULL, NULL, NULL, NULL};  // (steps,) ms of zero_grad, forward, backward, step
    tg_error err = {0};
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_ctx c;
    tg_ctx_init(&c);
    const int n_threads = tg_app_set_threads(a->threads);
    tg_sgd sgd = {0};
    tg_tensor *x = NULL;
    int64_t *labels = NULL;
    double *times = NULL;
    tg_resnet18 *m = tg_resnet18_new(1000, &rng, &err);
    if (!m) goto fail;
    for (int i = 0; i < freeze->n; i++) {
        if (tg_resnet18_freeze(m, freeze->v[i]) == 0) {
            fprintf(stderr, "tgfinetune bench: --freeze '%s' matches no parameter of resnet18\n",
                    freeze->v[i]);
            rc = TG_EXIT_USAGE;
            goto done;
        }
    }
    if (tg_resnet18_replace_fc(m, classes, &rng, &err) != TG_OK) goto fail;
    tg_tensor *params[TG_RESNET18_N_PARAMS];
    int n_params = tg_resnet18_params(m, params);
    tg_sgd_options so = {.lr = 0.01f, .momentum = 0.9f};
    if (tg_sgd_init(&sgd, params, n_params, so, &err) != TG_OK) goto fail;
    // the plain loop (no accumulation, no clipping): each parameter is updated during
    // backward as soon as its gradient is complete; TG_SGD_FUSED=0 steps after backward
    const char *fe = getenv("TG_SGD_FUSED");
    tg_sgd_set_fused(&sgd, !fe || atoi(fe) != 0);
    int64_t shape[4] = {batch, 3, size, size};
    x = tg_tensor_randn(4, shape, &rng);
    labels = malloc((size_t)batch * sizeof *labels);
    times = malloc((size_t)steps * sizeof *times);
    for (int i = 0; i < 4; i++) {
        phase[i] = malloc((size_t)steps * sizeof *phase[i]);
        if (!phase[i]) times = (free(times), NULL);
    }
    if (!x || !labels || !times) {
        tg_error_set(&err, TG_ERR_NOMEM, "out of memory for the input");
        goto fail;
    }
    for (int i = 0; i < batch; i++) labels[i] = (int64_t)tg_rng_below(&rng, (uint64_t)classes);

    for (int s = -1; s < steps; s++) {  // step -1: warm-up (arena sizing, thread start)
        double t0 = now_ms();
        tg_sgd_zero_grad(&sgd);
        double t1 = now_ms();
        tg_tensor *loss = tg_cross_entropy(&c, tg_resnet18_forward(&c, m, x), labels, 0.0f);
        double t2 = now_ms();
        if (!loss || tg_backward(&c, loss, NULL, false) != TG_OK) {
            tg_error_set(&err, tg_ctx_status(&c), "%s", tg_ctx_error(&c));
            goto fail;
        }
        double t3 = now_ms();
        tg_sgd_step(&sgd);
        double t4 = now_ms();
        tg_ctx_reset(&c);
        if (s >= 0) times[s] = now_ms() - t0;
        if (s >= 0 && a->phases) {
            phase[0][s] = t1 - t0;
            phase[1][s] = t2 - t1;
            phase[2][s] = t3 - t2;
            phase[3][s] = t4 - t3;
        }
    }
    qsort(times, (size_t)steps, sizeof *times, cmp_double);
    double median = steps % 2 ? times[steps / 2] : 0.5 * (times[steps / 2 - 1] + times[steps / 2]);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = (double)ru.ru_maxrss / 1024.0;  // Linux: kilobytes
    double ips = 1000.0 * batch / median;
    if (a->json) {
        printf("{\"median_step_ms\": %.3f, \"images_per_s\": %.3f, \"peak_rss_mb\": %.1f}\n",
               median, ips, rss_mb);
    } else {
        printf("resnet18 train step, batch %d, %dx%d, %d classes, %lld of %lld parameters "
               "trainable, %d threads\n",
               batch, size, size, classes, (long long)tg_resnet18_num_trainable(m),
               (long long)tg_resnet18_num_params(m), n_threads);
        printf("median step %.1f ms (min %.1f, max %.1f over %d steps), %.2f images/s, "
               "peak RSS %.0f MB\n",
               median, times[0], times[steps - 1], steps, ips, rss_mb);
    }
    if (a->phases) {
        static const char *names[4] = {"zero_grad", "forward+loss", "backward", "sgd step"};
        for (int i = 0; i < 4; i++) {
            qsort(phase[i], (size_t)steps, sizeof *phase[i], cmp_double);
            fprintf(stderr, "  %-13s median %8.2f ms (min %.2f)\n", names[i], phase[i][steps / 2],
                    phase[i][0]);
        }
        fprintf(stderr, "  step arena peak %.1f MB, step pool (gradients, conv scratch) %.1f MB\n",
                (double)c.arena.peak / 1048576.0, (double)tg_grad_pool_bytes(&c) / 1048576.0);
    }
    rc = TG_EXIT_OK;
    goto done;
fail:
    fprintf(stderr, "tgfinetune bench: %s\n", err.msg[0] ? err.msg : "failed");
done:
    free(times);
    for (int i = 0; i < 4; i++) free(phase[i]);
    free(labels);
    tg_tensor_free(x);
    tg_sgd_free(&sgd);
    tg_resnet18_free(m);
    tg_ctx_free(&c);
    return rc;
}

int tg_cmd_bench(int argc, char **argv) {
    bench_args a = {.batch = 1, .size = 64, .steps = 5, .classes = 1000};
    const tg_option opts[] = {
        TG_OPT_INT('b', "batch", &a.batch, "B", 1, 4096, "images per step (default 1)"),
        TG_OPT_INT('s', "size", &a.size, "S", 32, 4096,
                   "image side in pixels (default 64, at least 32)"),
        TG_OPT_LIST('f', "freeze", &a.freeze, "GLOB",
                    "freeze parameters whose name matches (repeatable; '*' for all); the head is "
                    "replaced after freezing, so it trains"),
        TG_OPT_INT('n', "steps", &a.steps, "N", 1, 100000,
                   "timed steps after one warm-up step (default 5)"),
        TG_OPT_INT('c', "classes", &a.classes, "C", 1, 1 << 24,
                   "classes of the new head (default 1000)"),
        TG_OPT_THREADS(&a.threads, "compute threads, 0..1024 (default 0: every core)"),
        TG_OPT_BOOL(0, "phases", &a.phases,
                    "also print each phase's median and least time (stderr)"),
        TG_OPT_BOOL(0, "json", &a.json,
                    "print {\"median_step_ms\": ..., \"images_per_s\": ..., "
                    "\"peak_rss_mb\": ...}"),
        TG_OPT_END,
    };
    const tg_cmd_spec spec = {"bench", about, opts, NULL, NULL, false};
    int rc = tg_cmd_parse(&spec, argc, argv);
    if (rc != TG_CMD_GO) return rc;
    rc = bench(&a);
    tg_cmd_list_free(&a.freeze);
    return rc;
}
