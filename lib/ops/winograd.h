// winograd.h: 3x3 stride-1 padding-1 convolution by Winograd's F(2x2, 3x3) (internal to
// lib/ops, called by the conv2d kernels). Same contracts as tg_conv2d_forward_kernel and
// tg_conv2d_backward_kernel (dx accumulates; dw accumulates if dw_acc, else is overwritten;
// either may be NULL).
#ifndef TG_OPS_WINOGRAD_H
#define TG_OPS_WINOGRAD_H

#include <stdbool.h>

#include "im2col.h"

// True if g is a 3x3, stride 1, padding 1 convolution (the only shape handled here).
bool tg_winograd_fits(const tg_conv_geom *g);
// Number of 4x4 input tiles of a batch (N * ceil(OH/2) * ceil(OW/2)).
long tg_winograd_tiles(const tg_conv_geom *g, int N);

int tg_winograd_forward(float *out, const float *x, const float *w, int N, int OC,
                        const tg_conv_geom *g);
int tg_winograd_backward(float *dx, float *dw, bool dw_acc, const float *dout,
                         const float *x, const float *w, int N, int OC, const tg_conv_geom *g);

#endif
