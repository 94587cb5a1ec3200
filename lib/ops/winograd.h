// winograd.h: 3x3 stride-1 padding-1 convolution by Winograd's F(m x m, 3x3), m = 2 or 4
// (internal to lib/ops, called by the conv2d kernels). Same contracts as
// tg_conv2d_forward_kernel and tg_conv2d_backward_kernel (dx accumulates; dw accumulates if
// dw_acc, else is overwritten; either may be NULL).
#ifndef TG_OPS_WINOGRAD_H
#define TG_OPS_WINOGRAD_H

#include <stdbool.h>

#include "im2col.h"

// True if g is a 3x3, stride 1, padding 1 convolution (the only shape handled here).
bool tg_winograd_fits(const tg_conv_geom *g);
// Number of (m+2)x(m+2) input tiles of a batch (N * ceil(OH/m) * ceil(OW/m)).
long tg_winograd_tiles(const tg_conv_geom *g, int N, int m);

int tg_winograd_forward(float *out, const float *x, const float *w, int N, int OC,
                        const tg_conv_geom *g, int m);
int tg_winograd_backward(float *dx, float *dw, bool dw_acc, const float *dout,
                         const float *x, const float *w, int N, int OC, const tg_conv_geom *g,
                         int m);

// Tiles per chunk of images (0: the default, about 3072 outputs), process-wide: for tests
// (several chunks on small shapes) and measurements.
void tg_winograd_set_chunk_tiles(long tiles);

#endif
