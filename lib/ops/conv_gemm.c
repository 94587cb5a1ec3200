// conv_gemm.c: the products of convolution: OpenBLAS, except a streaming kernel for the
// skinny forward product (see conv_gemm.h). A skinny product does 2*N <= 16 flops per
// weight, so its speed is the speed of reading the weights once; OpenBLAS's 2-thread
// split of a 4-column product ran at half that speed (bench: layer4 at batch 1, 64x64:
// 1.08 ms -> 0.53 ms). Measured, OpenBLAS stayed as fast or faster for the transposed
// products (input and weight gradients) and from 16 columns up, so those go to it.
#include "conv_gemm.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "parallel.h"

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
// in the environment (0 turns them off, for side-by-side measurements).
static int skinny_max(void) {
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("TG_CONV_SKINNY");
        v = e ? atoi(e) : TG_SKINNY_MAX;
        if (v < 0 || v > TG_SKINNY_MAX) v = TG_SKINNY_MAX;
    }
    return v;
}

static int64_t small_macs(void) {
    static int64_t v = -1;
    if (v < 0) {
        const char *e = getenv("TG_GEMM_SMALL");
        v = e ? atoll(e) : TG_GEMM_SMALL_MACS;
        if (v < 0) v = 0;
    }
    return v;
}

bool tg_gemm_is_small(int64_t macs) { return macs < small_macs() && tg_parallel_threads() > 1; }

// OpenBLAS is left on one thread afterwards (TG_GEMM_RESTORE=1 restores it): the pool
// now owns the cores, and OpenBLAS's idle workers, once woken by a threaded product,
// spin in sched_yield for a while and took 10-15% of the CPU of a batch-1 step.
void tg_gemm_split(int64_t n, void (*fn)(void *, int64_t, int64_t), void *arg) {
    static int restore = -1;
    if (restore < 0) {
        const char *e = getenv("TG_GEMM_RESTORE");
        restore = e && atoi(e) > 0;
    }
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

static void rows_task(void *arg, int64_t m0, int64_t m1) {
    const rows_job *j = arg;
    const float *a = j->ta == CblasNoTrans ? j->a + m0 * j->lda : j->a + m0;
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

static void nn_task(void *arg, int64_t m0, int64_t m1) {
    const skinny_job *j = arg;
    const int N = j->N, K = j->K;
    for (int64_t m = m0; m < m1; m++) {
        const float *a = j->a + m * K;
        float *c = j->c + m * N;
        for (int p0 = 0; p0 < N; p0 += 8) {
            const int np = N - p0 < 8 ? N - p0 : 8;
            int k = 0;
#ifdef HAVE_AVX2
            __m256 acc[8];
            for (int p = 0; p < 8; p++) acc[p] = _mm256_setzero_ps();
            for (; k + 8 <= K; k += 8) {
                __m256 av = _mm256_loadu_ps(a + k);
                for (int p = 0; p < np; p++)
                    acc[p] = _mm256_fmadd_ps(av, _mm256_loadu_ps(j->bt + (int64_t)(p0 + p) * K + k),
                                             acc[p]);
            }
            for (int p = 0; p < np; p++) c[p0 + p] = hsum256(acc[p]);
#else
            for (int p = 0; p < np; p++) c[p0 + p] = 0.0f;
#endif
            for (int p = 0; p < np; p++) {
                const float *b = j->bt + (int64_t)(p0 + p) * K;
                float s = 0.0f;
                for (int kk = k; kk < K; kk++) s += a[kk] * b[kk];
                c[p0 + p] += s;
            }
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

// ---- c (K, N) = a (M, K)^T @ b (M, N), columns [TN_KC*c0, TN_KC*c1) of a ----
// For N <= 8 OpenBLAS packs all of a (the weights) into a copy before its kernel reads
// it: two extra passes over 9.4 MB per layer4 conv at batch 1. Here each thread streams
// its slice of a's columns once, row after row, with c's slice in L1:
//   c[k, n] = sum over m of a[m, k] * b[m, n].
typedef struct {
    int M, N, K;
    const float *a, *b;
    float *c;
} tn_job;

// KC columns of a at a time: c's slice (N, KC) stays in L1 while the rows of a stream by
// in contiguous pieces of KC floats.
#define TN_KC 256

#ifdef HAVE_AVX2
#define TN_CHUNK(NN)                                                                        \
    do {                                                                                    \
        for (int p = 0; p < NN; p++)                                                        \
            for (int kk = 0; kk < kc; kk += 8) _mm256_store_ps(acc[p] + kk, _mm256_setzero_ps()); \
        int m = 0;                                                                          \
        for (; m + 2 <= j->M; m += 2) { /* two rows per pass: half the traffic to acc */    \
            const float *a0 = j->a + (int64_t)m * K + k, *a1 = a0 + K;                      \
            __m256 b0[NN], b1[NN];                                                          \
            for (int p = 0; p < NN; p++) {                                                  \
                b0[p] = _mm256_broadcast_ss(j->b + (int64_t)m * NN + p);                    \
                b1[p] = _mm256_broadcast_ss(j->b + (int64_t)(m + 1) * NN + p);              \
            }                                                                               \
            for (int kk = 0; kk < kc; kk += 8) {                                            \
                const __m256 v0 = _mm256_loadu_ps(a0 + kk), v1 = _mm256_loadu_ps(a1 + kk);  \
                for (int p = 0; p < NN; p++)                                                \
                    _mm256_store_ps(acc[p] + kk,                                            \
                                    _mm256_fmadd_ps(v1, b1[p],                              \
                                                    _mm256_fmadd_ps(v0, b0[p],              \
                                                                    _mm256_load_ps(acc[p] + kk)))); \
            }                                                                               \
        }                                                                                   \
        for (; m < j->M; m++) {                                                             \
            const float *ar = j->a + (int64_t)m * K + k;                                    \
            __m256 bv[NN];                                                                  \
            for (int p = 0; p < NN; p++) bv[p] = _mm256_broadcast_ss(j->b + (int64_t)m * NN + p); \
            for (int kk = 0; kk < kc; kk += 8) {                                            \
                const __m256 av = _mm256_loadu_ps(ar + kk);                                 \
                for (int p = 0; p < NN; p++)                                                \
                    _mm256_store_ps(acc[p] + kk,                                            \
                                    _mm256_fmadd_ps(av, bv[p], _mm256_load_ps(acc[p] + kk))); \
            }                                                                               \
        }                                                                                   \
    } while (0)
#endif

static void tn_task(void *arg, int64_t c0, int64_t c1) {
    const tn_job *j = arg;
    const int N = j->N, K = j->K;
    int k = (int)(TN_KC * c0);
    const int k1 = TN_KC * c1 < K ? (int)(TN_KC * c1) : K;
#ifdef HAVE_AVX2
    _Alignas(32) float acc[TG_SKINNY_MAX][TN_KC];
    for (; k + 8 <= k1; k += TN_KC) {
        const int kc = (k1 - k < TN_KC ? k1 - k : TN_KC) & ~7;
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
            for (int p = 0; p < N; p++) j->c[(int64_t)(k + kk) * N + p] = acc[p][kk];
        if (kc < TN_KC) {
            k += kc;
            break;
        }
    }
#endif
    for (; k < k1; k++)
        for (int p = 0; p < N; p++) {
            float s = 0.0f;
            for (int m = 0; m < j->M; m++) s += j->a[(int64_t)m * K + k] * j->b[(int64_t)m * N + p];
            j->c[(int64_t)k * N + p] = s;
        }
}

void tg_mm_tn(int K, int N, int M, const float *a, const float *b, float *c) {
    if (N > skinny_max()) {
        tg_gemm(CblasTrans, CblasNoTrans, K, N, M, a, K, b, N, 0.0f, c, N);
        return;
    }
    tn_job j = {M, N, K, a, b, c};
    tg_parallel_for((K + TN_KC - 1) / TN_KC, (int64_t)TN_KC * M * N, tn_task, &j);
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
