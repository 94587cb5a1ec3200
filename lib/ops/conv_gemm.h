// conv_gemm.h: the three matrix products of convolution (internal to lib/ops). Row-major.
// All go to OpenBLAS except the skinny forward product (N <= TG_SKINNY_MAX columns, e.g.
// layer4 at batch 1 where N = 4 output pixels), which is memory-bound on the weights and
// uses a streaming AVX2 kernel split over threads that reads each weight once.
#ifndef TG_OPS_CONV_GEMM_H
#define TG_OPS_CONV_GEMM_H

#include <stdint.h>

#define TG_SKINNY_MAX 8

// c (M, N) = a (M, K) @ b (K, N).                       t: scratch of N*K floats if skinny
void tg_mm_nn(int M, int N, int K, const float *a, const float *b, float *c, float *t);
// c (K, N) = a (M, K)^T @ b (M, N)   (beta 0)
void tg_mm_tn(int K, int N, int M, const float *a, const float *b, float *c);
// c (M, K) += a (M, N) @ b (K, N)^T
void tg_mm_nt_acc(int M, int K, int N, const float *a, const float *b, float *c);

#endif
