// conv2d.h: the raw convolution kernels behind tg_conv2d (internal to lib/ops, used by
// tests/bench_ops.c). Layout NCHW, weights (OC, C, KH, KW), no bias.
#ifndef TG_OPS_CONV2D_H
#define TG_OPS_CONV2D_H

#include <stdbool.h>
#include <stdint.h>

#include "core/knobs.h"
#include "core/tensor.h"
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
// The same, with dw stored (dw = dout ⋆ x, its old contents never read) unless dw_acc:
// for a gradient whose zeroing was deferred (tg_tensor_zero_grad_lazy).
int tg_conv2d_backward_kernel_w(float *dx, float *dw, bool dw_acc, const float *dout,
                                const float *x, const float *w, int N, int OC,
                                const tg_conv_geom *g);

// For the graph ops built on these kernels (tg_conv2d, bn_relu_conv2d.c): checks that x
// (N, C, H, W) and w (OC, C, KH, KW) fit with stride and pad and fills g (finished); else
// sets c's error, which starts with op and names both shapes, and returns false.
bool tg_conv2d_geom(tg_ctx *c, const char *op, const tg_tensor *x, const tg_tensor *w,
                    int stride, int pad, tg_conv_geom *g);
// The kernels with c's step pool bound as their scratch, nothing to do for an empty batch.
// Backward: dw_new says dw holds nothing yet (a deferred zero_grad), so the kernel stores
// into it and an empty batch zeroes its dw_numel floats. 0, or -1 on out of memory.
int tg_conv2d_forward_pooled(tg_ctx *c, float *out, const float *x, const float *w, int N,
                             int OC, const tg_conv_geom *g);
int tg_conv2d_backward_pooled(tg_ctx *c, float *dx, float *dw, bool dw_new, int64_t dw_numel,
                              const float *dout, const float *x, const float *w, int N, int OC,
                              const tg_conv_geom *g);

// Algorithm of the 3x3 stride-1 padding-1 layers (tg_conv_algo, core/knobs.h): TG_CONV_AUTO
// (Winograd F(2x2,3x3) or F(4x4,3x3) where tg_winograd_auto says it was measured faster,
// else im2col), or forced one way. Process-wide, for tests and benchmarks; other shapes
// always use im2col. The environment variable TG_CONV_ALGO=im2col|winograd2|winograd4 sets
// the initial value (the conv_algo knob, for whole-step measurements); tg_conv2d_set_algo
// overrides it.
void tg_conv2d_set_algo(tg_conv_algo a);
// Auto's rule: the output tile side m of the Winograd variant to use (2 or 4), or 0 for
// im2col. Winograd needs at least TG_WINOGRAD_MIN_TILES 4x4 tiles of F(2x2) in the batch.
// Measured with bench_ops (1 thread, CPU time): at batch 16, 224x224 F(2x2) is 1.25-1.9x
// faster than im2col on every 3x3 layer (256 to 12544 tiles); at batch 1, 64x64 it is 1.4x
// faster at 64 tiles (layer1), ties at 16 and loses 2-4x below, where transforming the
// weights outweighs the small gemms. F(4x4) takes over from TG_WINOGRAD4_MIN_TILES 6x6
// tiles: at batch 16, 224x224 (64 to 3136 tiles) it was faster than F(2x2) on every 3x3
// layer (bench_ops, 1 thread CPU time, fwd+dx+dw: layer1 58 vs 101 ms, layer2 56 vs 82,
// layer3 68 vs 78, layer4 78 vs 94; busy machine). Below, at batch 1-2 and 64x64, the
// measurements were mixed and F(4x4)'s float32 error (five to ten times F(2x2)'s, see
// winograd.c) is less diluted: forced on the 8x8 layers of test_resnet18's parity case it
// misses one tolerance (a BatchNorm bias after three steps, 2.2e-5 against 9.6e-6), so
// those keep F(2x2).
#define TG_WINOGRAD_MIN_TILES 64
#define TG_WINOGRAD4_MIN_TILES 64
int tg_winograd_auto(const tg_conv_geom *g, int N);

// Plain direct loops, the reference the fast kernels are checked against. Same contract
// (dx, dw accumulate).
void tg_conv2d_forward_ref(float *out, const float *x, const float *w, int N, int OC,
                           const tg_conv_geom *g);
void tg_conv2d_backward_ref(float *dx, float *dw, const float *dout, const float *x,
                            const float *w, int N, int OC, const tg_conv_geom *g);

#endif
