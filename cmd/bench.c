// bench.c: `tgfinetune bench`: times training steps (forward, cross-entropy, backward,
// SGD-momentum) of resnet18 with a C-class head on random input, as
// scripts/bench_vs_pytorch.py does in PyTorch, and prints the median step time, images/s
// and the peak RSS.
#include <getopt.h>
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

#define MAX_FREEZE 64

static void usage(FILE *f) {
    fprintf(f,
            "usage: tgfinetune bench --batch B --size S [--freeze PATTERN]... [--steps N]\n"
            "                        [--classes C] [--threads T] [--json]\n"
            "Times training steps (forward, cross-entropy, backward, SGD with momentum 0.9)\n"
            "of resnet18 with a new C-class head on random input of B x 3 x S x S.\n\n"
            "  -b, --batch B       images per step (default 1)\n"
            "  -s, --size S        image side in pixels (default 64, at least 32)\n"
            "  -f, --freeze GLOB   freeze parameters whose name matches (repeatable; '*' for\n"
            "                      all); the head is replaced after freezing, so it trains\n"
            "  -n, --steps N       timed steps after one warm-up step (default 5)\n"
            "  -c, --classes C     classes of the new head (default 1000)\n"
            "  -t, --threads T     compute threads (default: every core)\n"
            "      --phases        also print each phase's median and least time (stderr)\n"
            "      --json          print {\"median_step_ms\": ..., \"images_per_s\": ..., "
            "\"peak_rss_mb\": ...}\n"
            "  -h, --help          this help\n");
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static bool parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

int tg_cmd_bench(int argc, char **argv) {
    int batch = 1, size = 64, steps = 5, classes = 1000, threads = 0, json = 0, phases = 0;
    double *phase[4] = {NULL, NULL, NULL, NULL};  // (steps,) ms of zero_grad, forward, backward, step
    const char *freeze[MAX_FREEZE];
    int n_freeze = 0;
    static const struct option longopts[] = {
        {"batch", required_argument, NULL, 'b'},   {"size", required_argument, NULL, 's'},
        {"freeze", required_argument, NULL, 'f'},  {"steps", required_argument, NULL, 'n'},
        {"classes", required_argument, NULL, 'c'}, {"threads", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},          {"help", no_argument, NULL, 'h'},
        {"phases", no_argument, NULL, 'p'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "b:s:f:n:c:t:h", longopts, NULL)) != -1) {
        bool ok = true;
        switch (opt) {
        case 'b': ok = parse_int(optarg, 1, 4096, &batch); break;
        case 's': ok = parse_int(optarg, 32, 4096, &size); break;
        case 'n': ok = parse_int(optarg, 1, 100000, &steps); break;
        case 'c': ok = parse_int(optarg, 1, 1 << 24, &classes); break;
        case 't': ok = parse_int(optarg, 0, 1024, &threads); break;
        case 'j': json = 1; break;
        case 'p': phases = 1; break;
        case 'f':
            if (n_freeze == MAX_FREEZE) {
                fprintf(stderr, "tgfinetune bench: at most %d --freeze patterns\n", MAX_FREEZE);
                return TG_EXIT_USAGE;
            }
            freeze[n_freeze++] = optarg;
            break;
        case 'h': usage(stdout); return TG_EXIT_OK;
        default: usage(stderr); return TG_EXIT_USAGE;
        }
        if (!ok) {
            fprintf(stderr, "tgfinetune bench: invalid value '%s' for --%s\n", optarg,
                    opt == 'b'   ? "batch"
                    : opt == 's' ? "size"
                    : opt == 'n' ? "steps"
                    : opt == 'c' ? "classes"
                                 : "threads");
            return TG_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tgfinetune bench: unexpected argument '%s'\n", argv[optind]);
        return TG_EXIT_USAGE;
    }

    int rc = TG_EXIT_FAIL;
    tg_error err = {0};
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    tg_ctx c;
    tg_ctx_init(&c);
    c.threads = tg_app_set_threads(threads);
    tg_sgd sgd = {0};
    tg_tensor *x = NULL;
    int64_t *labels = NULL;
    double *times = NULL;
    tg_resnet18 *m = tg_resnet18_new(1000, &rng, &err);
    if (!m) goto fail;
    for (int i = 0; i < n_freeze; i++) {
        if (tg_resnet18_freeze(m, freeze[i]) == 0) {
            fprintf(stderr, "tgfinetune bench: --freeze '%s' matches no parameter of resnet18\n",
                    freeze[i]);
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
        if (s >= 0 && phases) {
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
    if (json) {
        printf("{\"median_step_ms\": %.3f, \"images_per_s\": %.3f, \"peak_rss_mb\": %.1f}\n",
               median, ips, rss_mb);
    } else {
        printf("resnet18 train step, batch %d, %dx%d, %d classes, %lld of %lld parameters "
               "trainable, %d threads\n",
               batch, size, size, classes, (long long)tg_resnet18_num_trainable(m),
               (long long)tg_resnet18_num_params(m), c.threads);
        printf("median step %.1f ms (min %.1f, max %.1f over %d steps), %.2f images/s, "
               "peak RSS %.0f MB\n",
               median, times[0], times[steps - 1], steps, ips, rss_mb);
    }
    if (phases) {
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
