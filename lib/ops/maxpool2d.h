// maxpool2d.h: max-pool pieces shared with the fused stem op (internal to lib/ops).
#ifndef TG_OPS_MAXPOOL2D_H
#define TG_OPS_MAXPOOL2D_H

#include <stdbool.h>
#include <stdint.h>

// ResNet's 3x3 stride-2 padding-1 pool of one (H, W) plane into out (OH, OW), saving each
// output's first maximum (or last NaN) as its position in the window (pos) or as the flat
// index ih*W + iw (am); exactly one of pos and am is not NULL.
void tg_maxpool_3x3s2_plane(const float *x, float *out, uint8_t *pos, int32_t *am, int64_t H,
                            int64_t W, int64_t OH, int64_t OW);

// The same pool's values only (no argmax, for a pass that records no graph): the column
// maxima of the window's rows at even and odd columns into v (W floats of scratch),
// then along the row; both loops vectorise. NaN propagates (the output is NaN if any input of
// its window is).
void tg_maxpool_3x3s2_plane_values(const float *x, float *out, float *v, int64_t H, int64_t W,
                                   int64_t OH, int64_t OW);

// Backward of one plane saved as window positions: dx (H, W) += dout (OH, OW) at each
// output's maximum. With mask not 0, only outputs whose pos has the mask bit set count
// (their position is pos & ~mask): the fused stem marks there where its ReLU passed.
void tg_maxpool_scatter_plane(float *dx, const float *dout, const uint8_t *pos, uint8_t mask,
                              int kernel, int stride, int pad, int64_t W, int64_t OH,
                              int64_t OW);

#endif
