// conv_gemm.h: the three matrix products of convolution (internal to lib/ops). Row-major.
// All go to OpenBLAS except skinny products (N <= TG_SKINNY_MAX columns, e.g. layer4 at
// batch 1 where N = 4 output pixels): those are memory-bound on the weights (forward,
// input gradient) or on the weight gradient, and use streaming AVX2 kernels split over
// threads that read or write each weight once (OpenBLAS packs a copy of the weights for
// the input gradient and zeroes the weight gradient in a pass of its own).
#ifndef TG_OPS_CONV_GEMM_H
#define TG_OPS_CONV_GEMM_H

#include <cblas.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/knobs.h"  // TG_SKINNY_MAX, TG_GEMM_SMALL_MACS

// Products of fewer multiply-adds than a limit run on one OpenBLAS thread each, split by
// rows over tg_parallel_for's threads: OpenBLAS's own threading synchronises inside the
// product, which cost up to 2x on batch-1 layers on the shared 2-core machine, while a
// split by rows synchronises once. Measured side by side (bench_ops, 2 threads, busy
// machine), the split also won at batch 16 (conv step 1.66-2.88 s vs 2.37-3.37 s with
// OpenBLAS's threads), so by default (TG_GEMM_SMALL_MACS, INT64_MAX) every product is
// split. TG_GEMM_SMALL=n in the environment sets the limit (the gemm_small knob; 0: always
// OpenBLAS's threads), for measurements.
bool tg_gemm_is_small(int64_t macs);
// Run fn(arg, i0, i1) over [0, n) on tg_parallel_for's threads with OpenBLAS on one thread.
void tg_gemm_split(int64_t n, void (*fn)(void *, int64_t, int64_t), void *arg);

// c (M, N) = op(a) @ op(b) + beta * c, row-major, as cblas_sgemm with alpha 1; small
// products split by rows as above.
void tg_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, const float *a,
             int lda, const float *b, int ldb, float beta, float *c, int ldc);

// c (M, N) = a (M, K) @ b (K, N).                       t: scratch of N*K floats if skinny
void tg_mm_nn(int M, int N, int K, const float *a, const float *b, float *c, float *t);
// c (K, N) = a (M, K)^T @ b (M, N)   (beta 0)
void tg_mm_tn(int K, int N, int M, const float *a, const float *b, float *c);
// c (M, K) = a (M, N) @ b (K, N)^T + beta * c   (beta 0: c's old contents are not read)
//                                                 t: scratch of N*K floats if skinny
void tg_mm_nt(int M, int K, int N, const float *a, const float *b, float beta, float *c,
              float *t);

#endif
