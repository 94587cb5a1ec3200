// conv_gemm.c: the products of convolution: OpenBLAS, except streaming kernels for skinny
// products of N <= 8 columns (see conv_gemm.h). A skinny product does 2*N <= 16 flops per
// weight, so its speed is the speed of reading (or, for the weight gradient, writing) the
// weights once; OpenBLAS's 2-thread split of a 4-column product ran at half that speed
// (bench: layer4 at batch 1, 64x64: 1.08 ms -> 0.53 ms). From 16 columns up OpenBLAS's
// AVX-512 kernels win: layer3 at batch 1, 64x64 (M=256 N=16 K=2304, weights in cache,
// 2 threads): 0.12-0.15 ms for each product, these kernels widened to 16 columns
// 0.25-0.54 ms.
#include "conv_gemm.h"

#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/knobs.h"
#include "core/parallel.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define HAVE_AVX2 1
static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

// Widest product the skinny kernels take: TG_SKINNY_MAX, or less with TG_CONV_SKINNY=n
// in the environment (the conv_skinny knob; 0 turns them off, for side-by-side
// measurements).
static int skinny_max(void) { return tg_knobs_get()->conv_skinny; }

bool tg_gemm_is_small(int64_t macs) {
    return macs < tg_knobs_get()->gemm_small && tg_parallel_threads() > 1;
}

// OpenBLAS is left on one thread afterwards (TG_GEMM_RESTORE=1 restores it): the pool
// now owns the cores, and OpenBLAS's idle workers, once woken by a threaded product,
// spin in sched_yield for a while and took 10-15% of the CPU of a batch-1 step.
void tg_gemm_split(int64_t n, void (*fn)(void *, int64_t, int64_t), void *arg) {
    const bool restore = tg_knobs_get()->gemm_restore;
    const int saved = openblas_get_num_threads();
    if (saved != 1) openblas_set_num_threads(1);
    tg_parallel_for(n, (int64_t)1 << 30, fn, arg);
    if (saved != 1 && restore) openblas_set_num_threads(saved);
}

typedef struct {
    CBLAS_TRANSPOSE ta, tb;
    int N, K;
    const float *a, *b;
    int lda, ldb, ldc;
    float beta;
    float *c;
} rows_job;

// Each thread first reads its block of a (the weights, for the forward and input-gradient
// products) once, a load per cache line, when the block fits in 3/4 of L2 and is not tiny:
// OpenBLAS's packing of a block not yet in cache reads it at 5-9 GB/s, a plain pass streams
// it. bench --batch 1 --size 64 (layer2 and layer3 products), 8 alternations on a shared
// machine: step medians 19.4 -> 17.9 ms, better in every pair. Reads only: results are
// unchanged. TG_GEMM_TOUCH=0 in the environment turns it off, for measurements.
#define TOUCH_MIN ((int64_t)1 << 16)   // floats (256 KB)
#define TOUCH_MAX ((int64_t)3 << 17)   // floats (1.5 MB; layer3's half weights are 1.2 MB)

static float touch_block(const float *a, int64_t R, int64_t C, int64_t ld) {
    float s = 0.0f;
    for (int64_t r = 0; r < R; r++)
        for (int64_t c = 0; c < C; c += 16) s += a[r * ld + c];
    return s;
}

static _Atomic int touch_sink;  // the sum is compared, so the reads stay

static void rows_task(void *arg, int64_t m0, int64_t m1) {
    const rows_job *j = arg;
    const float *a = j->ta == CblasNoTrans ? j->a + m0 * j->lda : j->a + m0;
    const int64_t block = (m1 - m0) * j->K;  // floats of a this thread reads
    if (block >= TOUCH_MIN && block <= TOUCH_MAX && tg_knobs_get()->gemm_touch) {
        const float sum = j->ta == CblasNoTrans ? touch_block(a, m1 - m0, j->K, j->lda)
                                                : touch_block(a, j->K, m1 - m0, j->lda);
        if (sum == -1.0f) atomic_store(&touch_sink, 1);
    }
    cblas_sgemm(CblasRowMajor, j->ta, j->tb, (int)(m1 - m0), j->N, j->K, 1.0f, a, j->lda, j->b,
                j->ldb, j->beta, j->c + m0 * j->ldc, j->ldc);
}

void tg_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, const float *a,
             int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (M >= 16 && tg_gemm_is_small((int64_t)M * N * K)) {
        rows_job j = {ta, tb, N, K, a, b, lda, ldb, ldc, beta, c};
        tg_gemm_split(M, rows_task, &j);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

// dst (C, R) = src (R, C)^T
static void transpose(float *dst, const float *src, int R, int C) {
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) dst[(int64_t)c * R + r] = src[(int64_t)r * C + c];
}

// ---- c (M, N) = a (M, K) @ bT (N, K)^T, rows [m0, m1) ----
typedef struct {
    int M, N, K;
    const float *a, *bt;
    float *c;
} skinny_job;

// R rows of a at a time (4, or 2 from 5 columns up: 8-16 accumulators), the NN columns'
// accumulators in registers, so R*NN independent FMA chains hide the FMA latency, and a
// software prefetch 1 KB ahead in each row. One row at a time with a run-time column
// count, the accumulators went through the stack and the kernel read a at 6.3-7.4 GB/s
// on one core; now 10.3-10.4 (M=512 N=4 K=4608, best of 60 over four 9.4 MB weights;
// a plain read streams at 18-25 GB/s on this shared machine). Each c[m, p] sums its 8
// lanes over k in steps of 8, then the lanes, then the tail, as before: bitwise the
// same results whichever rows go together.
#ifdef HAVE_AVX2
#define NN_ROWS(NN, R)                                                                      \
    do {                                                                                    \
        for (; m + R <= m1; m += R) {                                                       \
            const float *ar[R];                                                             \
            __m256 acc[R][NN];                                                              \
            for (int r = 0; r < R; r++) {                                                   \
                ar[r] = j->a + (m + r) * K;                                                 \
                for (int p = 0; p < NN; p++) acc[r][p] = _mm256_setzero_ps();               \
            }                                                                               \
            for (k = 0; k + 8 <= K; k += 8) {                                               \
                __m256 v[R];                                                                \
                for (int r = 0; r < R; r++) {                                               \
                    v[r] = _mm256_loadu_ps(ar[r] + k);                                      \
                    if (!(k & 15)) /* a line per 16 floats, 1 KB ahead */                   \
                        _mm_prefetch((const char *)(ar[r] + k + 256), _MM_HINT_T0);         \
                }                                                                           \
                for (int p = 0; p < NN; p++) {                                              \
                    const __m256 b = _mm256_loadu_ps(j->bt + (int64_t)p * K + k);           \
                    for (int r = 0; r < R; r++) acc[r][p] = _mm256_fmadd_ps(v[r], b, acc[r][p]); \
                }                                                                           \
            }                                                                               \
            for (int r = 0; r < R; r++)                                                     \
                for (int p = 0; p < NN; p++)                                                \
                    j->c[(m + r) * N + p] =                                                 \
                        hsum256(acc[r][p]) + dot_tail(ar[r], j->bt + (int64_t)p * K, k, K); \
        }                                                                                   \
    } while (0)
#endif

// sum over kk in [k, K) of a[kk] * b[kk]
static inline float dot_tail(const float *a, const float *b, int k, int K) {
    float s = 0.0f;
    for (int kk = k; kk < K; kk++) s += a[kk] * b[kk];
    return s;
}

static void nn_task(void *arg, int64_t m0, int64_t m1) {
    const skinny_job *j = arg;
    const int N = j->N, K = j->K;
    int64_t m = m0;
    int k = 0;
    (void)k;
#ifdef HAVE_AVX2
    switch (N) {
    case 1: NN_ROWS(1, 4); break;
    case 2: NN_ROWS(2, 4); break;
    case 3: NN_ROWS(3, 4); break;
    case 4: NN_ROWS(4, 4); break;
    case 5: NN_ROWS(5, 2); break;
    case 6: NN_ROWS(6, 2); break;
    case 7: NN_ROWS(7, 2); break;
    default: NN_ROWS(8, 2); break;
    }
#endif
    for (; m < m1; m++) {  // the last odd row (and every row without AVX2)
        const float *a = j->a + m * K;
        float *c = j->c + m * N;
        for (int p = 0; p < N; p++) {
            const float *b = j->bt + (int64_t)p * K;
            k = 0;
            float s = 0.0f;
#ifdef HAVE_AVX2
            __m256 acc = _mm256_setzero_ps();
            for (; k + 8 <= K; k += 8)
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc);
            s = hsum256(acc);
#endif
            c[p] = s + dot_tail(a, b, k, K);
        }
    }
}

void tg_mm_nn(int M, int N, int K, const float *a, const float *b, float *c, float *t) {
    if (N > skinny_max()) {
        tg_gemm(CblasNoTrans, CblasNoTrans, M, N, K, a, K, b, N, 0.0f, c, N);
        return;
    }
    transpose(t, b, K, N);  // (N, K)
    skinny_job j = {M, N, K, a, t, c};
    tg_parallel_for(M, (int64_t)N * K, nn_task, &j);
}

// ---- c (K, N) = a (M, K)^T @ b (M, N), columns [8*c0, 8*c1) of a ----
// For N <= 8 OpenBLAS packs all of a (the weights) into a copy before its kernel reads
// it: two extra passes over 9.4 MB per layer4 conv at batch 1. Here each thread streams
// its share of a's columns once, row after row, with c's slice in L1:
//   c[k, n] = sum over m of a[m, k] * b[m, n].
typedef struct {
    int M, N, K;
    const float *a, *b;
    float *c;
} tn_job;

// c's slice (N, kc) of at most TN_ACC floats (16 KB) stays in L1 while the rows of a stream
// by in pieces of kc = TN_ACC / N floats (4 KB for N = 4), four rows per pass, each pass
// prefetching the next four rows' pieces. (With pieces of 1 KB, a page apart, two rows per
// pass, a was read at 6.8-7.0 GB/s on one core for M=512 N=4 K=4608; now 12.4-13.2.) Each
// c[k, n] adds the rows one by one in order, m = 0, 1, ..., as before: bitwise the same
// whatever the blocking and the split over threads.
#define TN_ACC 4096

#ifdef HAVE_AVX2
#define TN_PASS(NN, R)                                                                      \
    for (; m + R <= M; m += R) {                                                            \
        const float *ar = j->a + (int64_t)m * K + k;                                        \
        __m256 bv[R][NN];                                                                   \
        for (int r = 0; r < R; r++)                                                         \
            for (int p = 0; p < NN; p++)                                                    \
                bv[r][p] = _mm256_broadcast_ss(j->b + (int64_t)(m + r) * NN + p);           \
        for (int kk = 0; kk < kc; kk += 8) {                                                \
            if (!(kk & 15) && m + 2 * R <= M)                                               \
                for (int r = 0; r < R; r++)                                                 \
                    _mm_prefetch((const char *)(ar + (int64_t)(R + r) * K + kk), _MM_HINT_T0); \
            __m256 v[R];                                                                    \
            for (int r = 0; r < R; r++) v[r] = _mm256_loadu_ps(ar + (int64_t)r * K + kk);  \
            for (int p = 0; p < NN; p++) {                                                  \
                __m256 s = _mm256_load_ps(acc + p * kcmax + kk);                            \
                for (int r = 0; r < R; r++) s = _mm256_fmadd_ps(v[r], bv[r][p], s);         \
                _mm256_store_ps(acc + p * kcmax + kk, s);                                   \
            }                                                                               \
        }                                                                                   \
    }

#define TN_CHUNK(NN)                                                                        \
    do {                                                                                    \
        for (int p = 0; p < NN; p++)                                                        \
            for (int kk = 0; kk < kc; kk += 8)                                              \
                _mm256_store_ps(acc + p * kcmax + kk, _mm256_setzero_ps());                 \
        int m = 0;                                                                          \
        TN_PASS(NN, 4)                                                                      \
        TN_PASS(NN, 1)                                                                      \
    } while (0)
#endif

static void tn_task(void *arg, int64_t c0, int64_t c1) {
    const tn_job *j = arg;
    const int N = j->N, K = j->K, M = j->M;
    int k = (int)(8 * c0);
    const int k1 = 8 * c1 < K ? (int)(8 * c1) : K;
#ifdef HAVE_AVX2
    _Alignas(32) float acc[TN_ACC];
    const int kcmax = (TN_ACC / N) & ~7;
    while (k + 8 <= k1) {
        const int kc = (k1 - k < kcmax ? k1 - k : kcmax) & ~7;
        switch (N) {
        case 1: TN_CHUNK(1); break;
        case 2: TN_CHUNK(2); break;
        case 3: TN_CHUNK(3); break;
        case 4: TN_CHUNK(4); break;
        case 5: TN_CHUNK(5); break;
        case 6: TN_CHUNK(6); break;
        case 7: TN_CHUNK(7); break;
        default: TN_CHUNK(8); break;
        }
        for (int kk = 0; kk < kc; kk++)
            for (int p = 0; p < N; p++) j->c[(int64_t)(k + kk) * N + p] = acc[p * kcmax + kk];
        k += kc;
    }
#endif
    for (; k < k1; k++)
        for (int p = 0; p < N; p++) {
            float s = 0.0f;
            for (int m = 0; m < M; m++) s += j->a[(int64_t)m * K + k] * j->b[(int64_t)m * N + p];
            j->c[(int64_t)k * N + p] = s;
        }
}

void tg_mm_tn(int K, int N, int M, const float *a, const float *b, float *c) {
    if (N > skinny_max()) {
        tg_gemm(CblasTrans, CblasNoTrans, K, N, M, a, K, b, N, 0.0f, c, N);
        return;
    }
    tn_job j = {M, N, K, a, b, c};
    tg_parallel_for((K + 7) / 8, (int64_t)8 * M * N, tn_task, &j);
}

// ---- c (M, K) = a (M, N) @ bT (N, K), rows [m0, m1) ----
// The skinny weight gradient (N <= 8 output pixels) stored into a gradient whose zeroing
// was deferred: OpenBLAS zeroes c in a pass of its own for beta 0, then reads it back.
// Here each row of c is written once, with streaming stores, from b's transpose held in
// cache (layer4 at batch 1: 0.87-0.97 ms -> 0.56-0.80 ms, best of 40, 2 threads). With
// beta 1 OpenBLAS was as fast, so accumulation stays with it.
typedef struct {
    int M, N, K;
    const float *a, *bt;
    float *c;
} nt_job;

static void nt_task(void *arg, int64_t m0, int64_t m1) {
    const nt_job *j = arg;
    const int N = j->N, K = j->K;
    for (int64_t m = m0; m < m1; m++) {
        const float *ar = j->a + m * N;
        float *cr = j->c + m * K;
        int k = 0;
#ifdef HAVE_AVX2
        __m256 av[TG_SKINNY_MAX];
        for (int p = 0; p < N; p++) av[p] = _mm256_broadcast_ss(ar + p);
        // c is only written: stores that bypass the cache save reading each line first
        for (; k < K && ((uintptr_t)(cr + k) & 31); k++) {
            float s = 0.0f;
            for (int p = 0; p < N; p++) s += ar[p] * j->bt[(int64_t)p * K + k];
            cr[k] = s;
        }
        for (; k + 8 <= K; k += 8) {
            __m256 acc = _mm256_setzero_ps();
            for (int p = 0; p < N; p++)
                acc = _mm256_fmadd_ps(av[p], _mm256_loadu_ps(j->bt + (int64_t)p * K + k), acc);
            _mm256_stream_ps(cr + k, acc);
        }
#endif
        for (; k < K; k++) {
            float s = 0.0f;
            for (int p = 0; p < N; p++) s += ar[p] * j->bt[(int64_t)p * K + k];
            cr[k] = s;
        }
    }
#ifdef HAVE_AVX2
    _mm_sfence();
#endif
}

void tg_mm_nt(int M, int K, int N, const float *a, const float *b, float beta, float *c,
              float *t) {
    if (N > skinny_max() || beta != 0.0f) {
        tg_gemm(CblasNoTrans, CblasTrans, M, K, N, a, N, b, N, beta, c, K);
        return;
    }
    transpose(t, b, K, N);  // (N, K)
    nt_job j = {M, N, K, a, t, c};
    tg_parallel_for(M, (int64_t)N * K, nt_task, &j);
}
