// im2col.h: the unfold/fold kernels of convolution (internal to lib/ops), and the
// per-thread scratch buffer the conv kernels reuse for their column matrices.
//
// A column matrix holds, for one image, row r = (c*KH + kh)*KW + kw and column
// p = oh*OW + ow the input pixel x[c][oh*stride - pad + kh][ow*stride - pad + kw]
// (0 outside the image), so that conv = W (OC, C*KH*KW) @ col (C*KH*KW, OH*OW).
// Several images may sit side by side in one matrix: `ld` is the row stride and `col`
// points at this image's first column.
#ifndef TG_OPS_IM2COL_H
#define TG_OPS_IM2COL_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int C, H, W;      // input image
    int KH, KW;       // kernel
    int stride, pad;
    int OH, OW;       // output (OH: rows handled, starting at output row oh0)
    int oh0;          // first output row (0 for a whole image; row blocks of conv2d)
} tg_conv_geom;

// x (C, H, W) -> col (C*KH*KW, ld), this image's OH*OW columns starting at col.
void tg_im2col(const tg_conv_geom *g, const float *x, float *col, int64_t ld);
// The adjoint: dx (C, H, W) += fold(col).
void tg_col2im_add(const tg_conv_geom *g, const float *col, int64_t ld, float *dx);
// The same for input channels [c0, c1) only (their rows of col), to split work by channel.
void tg_im2col_range(const tg_conv_geom *g, const float *x, float *col, int64_t ld, int c0,
                     int c1);
void tg_col2im_add_range(const tg_conv_geom *g, const float *col, int64_t ld, float *dx, int c0,
                         int c1);

// A buffer of at least `floats` floats owned by the calling thread, kept and reused
// across calls and steps (so convolutions never pile column matrices into the step
// arena). Only one user at a time per thread. NULL on out of memory.
float *tg_ops_scratch(size_t floats);
// Frees the calling thread's scratch buffer (optional; at exit or to trim memory).
void tg_ops_scratch_free(void);
// Between these two calls, tg_ops_scratch on the calling thread takes its buffer from the
// step pool of c (grad_pool.c, shared with backward's gradients) instead of the thread's own
// buffer; unbind hands it back. The graph ops bind around their kernels.
typedef struct tg_ctx tg_ctx;
void tg_ops_scratch_bind(tg_ctx *c);
void tg_ops_scratch_unbind(void);

#endif
