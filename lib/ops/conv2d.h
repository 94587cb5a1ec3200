// conv2d.h: the raw convolution kernels behind tg_conv2d (internal to lib/ops, used by
// tests/bench_ops.c). Layout NCHW, weights (OC, C, KH, KW), no bias.
#ifndef TG_OPS_CONV2D_H
#define TG_OPS_CONV2D_H

#include <stdint.h>

#include "im2col.h"

// Fills OH and OW of g from the other fields (floor((H + 2*pad - KH) / stride) + 1).
void tg_conv_geom_finish(tg_conv_geom *g);

// out (N, OC, OH, OW) = conv(x (N, C, H, W), w (OC, C, KH, KW)). 0, or -1 on out of memory.
int tg_conv2d_forward_kernel(float *out, const float *x, const float *w, int N, int OC,
                             const tg_conv_geom *g);
// dx (N, C, H, W) += conv_transpose(dout, w); dw (OC, C, KH, KW) += dout ⋆ x.
// Either of dx and dw may be NULL (not computed). 0, or -1 on out of memory.
int tg_conv2d_backward_kernel(float *dx, float *dw, const float *dout, const float *x,
                              const float *w, int N, int OC, const tg_conv_geom *g);

// Plain direct loops, the reference the fast kernels are checked against. Same contract
// (dx, dw accumulate).
void tg_conv2d_forward_ref(float *out, const float *x, const float *w, int N, int OC,
                           const tg_conv_geom *g);
void tg_conv2d_backward_ref(float *dx, float *dw, const float *dout, const float *x,
                            const float *w, int N, int OC, const tg_conv_geom *g);

#endif
