// bench_ops.c: times the convolution kernels on ResNet-18's real layer shapes (a
// benchmark, not a test). For every distinct conv shape it first checks the fast kernels
// against direct loops on sampled elements (every output, input-gradient and
// weight-gradient sample is a full dot product), then reports the median ms and GFLOP/s of
// forward, input gradient and weight gradient, and the whole network's conv totals for one
// training step (each shape weighted by how often ResNet-18 uses it). 3x3 stride-1 layers
// are timed with im2col and with Winograd F(2x2) and F(4x4); the totals take the one
// tg_conv2d picks.
// GFLOP/s count the direct convolution's 2*MACs, so Winograd's figures are "effective".
//
//   bench_ops [--batch B --size S] [--reps R] [--threads T] [--cpu] [--only TEXT]
// Without --batch/--size it runs batch 1 at 64x64 and batch 16 at 224x224.
// --chunk sets the Winograd tiles per chunk (default: about 3072 outputs).
// --threads sets OpenBLAS's and the ops' thread count (default: all cores). --cpu times
// with the process's CPU clock instead of the wall clock: on a busy shared machine, with
// --threads 1, it compares kernels fairly (wall-clock figures need a quiet machine).
#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "ops/conv2d.h"
#include "core/parallel.h"
#include "ops/winograd.h"

typedef struct {
    const char *name;
    int C, OC, K, stride, pad;
    int div;    // input side = size / div
    int count;  // uses in ResNet-18
    bool dx;    // input gradient needed in a full fine-tune (not for conv1)
} conv_shape;

static const conv_shape shapes[] = {
    {"conv1 7x7/2", 3, 64, 7, 2, 3, 1, 1, false},
    {"layer1 3x3", 64, 64, 3, 1, 1, 4, 4, true},
    {"layer2.0 3x3/2", 64, 128, 3, 2, 1, 4, 1, true},
    {"layer2 3x3", 128, 128, 3, 1, 1, 8, 3, true},
    {"layer2 down 1x1/2", 64, 128, 1, 2, 0, 4, 1, true},
    {"layer3.0 3x3/2", 128, 256, 3, 2, 1, 8, 1, true},
    {"layer3 3x3", 256, 256, 3, 1, 1, 16, 3, true},
    {"layer3 down 1x1/2", 128, 256, 1, 2, 0, 8, 1, true},
    {"layer4.0 3x3/2", 256, 512, 3, 2, 1, 16, 1, true},
    {"layer4 3x3", 512, 512, 3, 1, 1, 32, 3, true},
    {"layer4 down 1x1/2", 256, 512, 1, 2, 0, 16, 1, true},
};

static const char *only;  // --only TEXT: just the layers whose name contains TEXT
static bool cpu_clock;  // --cpu: process CPU time (robust to other load; use with --threads 1)

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(cpu_clock ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// ---- sampled direct-loop references ----
static double ref_out(const float *x, const float *w, const tg_conv_geom *g, int n, int oc,
                      int oh, int ow) {
    double s = 0;
    for (int c = 0; c < g->C; c++)
        for (int kh = 0; kh < g->KH; kh++) {
            int ih = oh * g->stride - g->pad + kh;
            if (ih < 0 || ih >= g->H) continue;
            for (int kw = 0; kw < g->KW; kw++) {
                int iw = ow * g->stride - g->pad + kw;
                if (iw < 0 || iw >= g->W) continue;
                s += (double)x[(((int64_t)n * g->C + c) * g->H + ih) * g->W + iw] *
                     w[(((int64_t)oc * g->C + c) * g->KH + kh) * g->KW + kw];
            }
        }
    return s;
}

static double ref_dx(const float *d, const float *w, const tg_conv_geom *g, int OC, int n, int c,
                     int ih, int iw) {
    double s = 0;
    for (int oc = 0; oc < OC; oc++)
        for (int kh = 0; kh < g->KH; kh++) {
            int t = ih + g->pad - kh;
            if (t < 0 || t % g->stride) continue;
            int oh = t / g->stride;
            if (oh >= g->OH) continue;
            for (int kw = 0; kw < g->KW; kw++) {
                int u = iw + g->pad - kw;
                if (u < 0 || u % g->stride) continue;
                int ow = u / g->stride;
                if (ow >= g->OW) continue;
                s += (double)d[(((int64_t)n * OC + oc) * g->OH + oh) * g->OW + ow] *
                     w[(((int64_t)oc * g->C + c) * g->KH + kh) * g->KW + kw];
            }
        }
    return s;
}

static double ref_dw(const float *d, const float *x, const tg_conv_geom *g, int N, int OC, int oc,
                     int c, int kh, int kw) {
    double s = 0;
    for (int n = 0; n < N; n++)
        for (int oh = 0; oh < g->OH; oh++) {
            int ih = oh * g->stride - g->pad + kh;
            if (ih < 0 || ih >= g->H) continue;
            for (int ow = 0; ow < g->OW; ow++) {
                int iw = ow * g->stride - g->pad + kw;
                if (iw < 0 || iw >= g->W) continue;
                s += (double)d[(((int64_t)n * OC + oc) * g->OH + oh) * g->OW + ow] *
                     x[(((int64_t)n * g->C + c) * g->H + ih) * g->W + iw];
            }
        }
    return s;
}

// Largest |fast - ref| over samples relative to the largest |ref| sampled.
static bool validate(const float *out, const float *dx, const float *dw, const float *x,
                     const float *w, const float *d, int N, int OC, const tg_conv_geom *g,
                     tg_rng *r, double *worst) {
    const int S = 300;
    double e[3] = {0}, m[3] = {0};
    for (int s = 0; s < S; s++) {
        int n = (int)tg_rng_below(r, (uint64_t)N), oc = (int)tg_rng_below(r, (uint64_t)OC);
        int oh = (int)tg_rng_below(r, (uint64_t)g->OH), ow = (int)tg_rng_below(r, (uint64_t)g->OW);
        double v = ref_out(x, w, g, n, oc, oh, ow);
        e[0] = fmax(e[0], fabs(v - out[(((int64_t)n * OC + oc) * g->OH + oh) * g->OW + ow]));
        m[0] = fmax(m[0], fabs(v));
        int c = (int)tg_rng_below(r, (uint64_t)g->C), ih = (int)tg_rng_below(r, (uint64_t)g->H),
            iw = (int)tg_rng_below(r, (uint64_t)g->W);
        v = ref_dx(d, w, g, OC, n, c, ih, iw);
        e[1] = fmax(e[1], fabs(v - dx[(((int64_t)n * g->C + c) * g->H + ih) * g->W + iw]));
        m[1] = fmax(m[1], fabs(v));
        if (s % 3 == 0) {
            int kh = (int)tg_rng_below(r, (uint64_t)g->KH), kw = (int)tg_rng_below(r, (uint64_t)g->KW);
            v = ref_dw(d, x, g, N, OC, oc, c, kh, kw);
            e[2] = fmax(e[2], fabs(v - dw[(((int64_t)oc * g->C + c) * g->KH + kh) * g->KW + kw]));
            m[2] = fmax(m[2], fabs(v));
        }
    }
    *worst = 0;
    for (int k = 0; k < 3; k++) *worst = fmax(*worst, e[k] / fmax(m[k], 1e-30));
    return *worst <= 1e-4;
}

static int run(int N, int size, int reps) {
    tg_rng r;
    tg_rng_seed(&r, 1);
    printf("conv kernels, batch %d at %dx%d, %d threads (products split over them, one "
           "OpenBLAS thread each), median of %d\n",
           N, size, size, tg_parallel_threads(), reps);
    printf("%-22s %4s %9s %9s %9s %8s %8s %8s %6s\n", "layer (* = auto choice)", "uses", "fwd ms", "dx ms", "dw ms",
           "fwd GF/s", "dx GF/s", "dw GF/s", "check");
    double tot[3] = {0}, tot_flop[3] = {0};
    int bad = 0;
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
      for (int algo = TG_CONV_IM2COL; algo <= TG_CONV_WINOGRAD4; algo++) {
        const conv_shape *cs = &shapes[k];
        int side = size / cs->div;
        tg_conv_geom g = {.C = cs->C, .H = side, .W = side, .KH = cs->K, .KW = cs->K,
                          .stride = cs->stride, .pad = cs->pad};
        tg_conv_geom_finish(&g);
        if (algo != TG_CONV_IM2COL && !tg_winograd_fits(&g)) continue;
        if (only && !strstr(cs->name, only)) continue;
        // the row the product's automatic choice takes counts in the totals
        const int wino_auto = tg_winograd_auto(&g, N);
        const bool counts = algo == (wino_auto == 4   ? TG_CONV_WINOGRAD4
                                     : wino_auto == 2 ? TG_CONV_WINOGRAD2
                                                      : TG_CONV_IM2COL);
        tg_conv2d_set_algo((tg_conv_algo)algo);
        char label[40];
        snprintf(label, sizeof label, "%s%s", cs->name,
                 !tg_winograd_fits(&g)          ? ""
                 : algo == TG_CONV_WINOGRAD2 ? " F2"
                 : algo == TG_CONV_WINOGRAD4 ? " F4"
                                             : " i2c");
        const int OC = cs->OC;
        size_t nx = (size_t)N * g.C * g.H * g.W, nw = (size_t)OC * g.C * g.KH * g.KW,
               no = (size_t)N * OC * g.OH * g.OW;
        float *x = malloc(nx * 4), *w = malloc(nw * 4), *d = malloc(no * 4), *out = malloc(no * 4);
        float *dx = calloc(nx, 4), *dw = calloc(nw, 4);
        if (!x || !w || !d || !out || !dx || !dw) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < nx; i++) x[i] = (float)tg_rng_normal(&r);
        for (size_t i = 0; i < nw; i++) w[i] = (float)tg_rng_normal(&r);
        for (size_t i = 0; i < no; i++) d[i] = (float)tg_rng_normal(&r);
        if (tg_conv2d_forward_kernel(out, x, w, N, OC, &g) ||
            tg_conv2d_backward_kernel(dx, dw, d, x, w, N, OC, &g)) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        double worst;
        bool ok = validate(out, dx, dw, x, w, d, N, OC, &g, &r, &worst);
        bad += !ok;
        double t[3][64];
        for (int rep = 0; rep < reps; rep++) {
            double t0 = now_ms();
            tg_conv2d_forward_kernel(out, x, w, N, OC, &g);
            double t1 = now_ms();
            tg_conv2d_backward_kernel(dx, NULL, d, x, w, N, OC, &g);
            double t2 = now_ms();
            tg_conv2d_backward_kernel(NULL, dw, d, x, w, N, OC, &g);
            double t3 = now_ms();
            t[0][rep] = t1 - t0;
            t[1][rep] = t2 - t1;
            t[2][rep] = t3 - t2;
        }
        double ms[3], flop = 2.0 * (double)no * g.C * g.KH * g.KW;
        for (int q = 0; q < 3; q++) {
            ms[q] = median(t[q], reps);
            if ((q == 1 && !cs->dx) || !counts) continue;
            tot[q] += ms[q] * cs->count;
            tot_flop[q] += flop * cs->count;
        }
        printf("%-22s%c%4d %9.3f %9.3f %9.3f %8.1f %8.1f %8.1f %6s\n", label, counts ? '*' : ' ',
               cs->count, ms[0], ms[1], ms[2], flop / ms[0] / 1e6, flop / ms[1] / 1e6,
               flop / ms[2] / 1e6, ok ? "ok" : "FAIL");
        if (!ok) fprintf(stderr, "%s: relative error %g\n", cs->name, worst);
        free(x), free(w), free(d), free(out), free(dx), free(dw);
      }
    tg_conv2d_set_algo(TG_CONV_AUTO);
    printf("%-22s %4s %9.1f %9.1f %9.1f %8.1f %8.1f %8.1f\n", "network total (*)", "", tot[0], tot[1],
           tot[2], tot_flop[0] / tot[0] / 1e6, tot_flop[1] / tot[1] / 1e6,
           tot_flop[2] / tot[2] / 1e6);
    printf("conv time of a full step: %.1f ms (%.1f GFLOP/s); forward only: %.1f ms\n\n",
           tot[0] + tot[1] + tot[2], (tot_flop[0] + tot_flop[1] + tot_flop[2]) /
                                          (tot[0] + tot[1] + tot[2]) / 1e6, tot[0]);
    return bad;
}

int main(int argc, char **argv) {
    int batch = 0, size = 0, reps = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--batch") == 0) batch = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--size") == 0) size = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--reps") == 0) reps = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0) threads = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--chunk") == 0)
            tg_winograd_set_chunk_tiles(atol(argv[++i]));
        else if (strcmp(argv[i], "--cpu") == 0) cpu_clock = true;
        else if (i + 1 < argc && strcmp(argv[i], "--only") == 0) only = argv[++i];
        else {
            fprintf(stderr,
                    "usage: bench_ops [--batch B --size S] [--reps R] [--threads T] [--cpu] "
                    "[--only TEXT] [--chunk TILES]\n");
            return 2;
        }
    }
    if (reps > 64) reps = 64;
    if (threads > 0) {
        openblas_set_num_threads(threads);
        tg_parallel_set_threads(threads);
    }
    int bad = 0;
    if (batch > 0 && size > 0) {
        bad += run(batch, size, reps ? reps : 5);
    } else {
        bad += run(1, 64, reps ? reps : 21);
        bad += run(16, 224, reps ? reps : 3);
    }
    if (bad) fprintf(stderr, "%d shapes FAILED validation\n", bad);
    return bad ? 1 : 0;
}
