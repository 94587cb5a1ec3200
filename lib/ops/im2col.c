// im2col.c: unfold (im2col) and its adjoint fold (col2im) for convolution, plus the
// per-thread scratch buffer. See im2col.h for the column layout.
#include "im2col.h"

#include "core/tensor.h"

#include <stdlib.h>
#include <string.h>

// Output columns ow whose input column iw = ow*stride - pad + kw lies inside [0, W).
static void valid_range(int W, int OW, int stride, int pad, int k, int *lo, int *hi) {
    int a = pad - k;  // ow*stride >= a
    int l = a <= 0 ? 0 : (a + stride - 1) / stride;
    int b = W + pad - k;  // ow*stride < b
    int h = b <= 0 ? 0 : (b - 1) / stride + 1;
    if (h > OW) h = OW;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

void tg_im2col(const tg_conv_geom *g, const float *x, float *col, int64_t ld) {
    tg_im2col_range(g, x, col, ld, 0, g->C);
}

void tg_im2col_range(const tg_conv_geom *g, const float *x, float *col, int64_t ld, int c0,
                     int c1) {
    const int H = g->H, W = g->W, OH = g->OH, OW = g->OW, s = g->stride, pad = g->pad;
    int64_t r = (int64_t)c0 * g->KH * g->KW;
    for (int c = c0; c < c1; c++) {
        const float *xc = x + (int64_t)c * H * W;
        for (int kh = 0; kh < g->KH; kh++) {
            for (int kw = 0; kw < g->KW; kw++, r++) {
                float *row = col + r * ld;
                int lo, hi;
                valid_range(W, OW, s, pad, kw, &lo, &hi);
                for (int oh = 0; oh < OH; oh++) {
                    float *dst = row + (int64_t)oh * OW;
                    int ih = (g->oh0 + oh) * s - pad + kh;
                    if (ih < 0 || ih >= H) {
                        memset(dst, 0, (size_t)OW * sizeof(float));
                        continue;
                    }
                    const float *src = xc + (int64_t)ih * W;  // src[ow*s - pad + kw]
                    const int off = kw - pad;
                    for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
                    if (s == 1) {
                        if (hi > lo)
                            memcpy(dst + lo, src + lo + off, (size_t)(hi - lo) * sizeof(float));
                    } else if (s == 2) {
                        for (int ow = lo; ow < hi; ow++) dst[ow] = src[2 * ow + off];
                    } else {
                        for (int ow = lo; ow < hi; ow++) dst[ow] = src[ow * s + off];
                    }
                    for (int ow = hi; ow < OW; ow++) dst[ow] = 0.0f;
                }
            }
        }
    }
}

void tg_col2im_add(const tg_conv_geom *g, const float *col, int64_t ld, float *dx) {
    tg_col2im_add_range(g, col, ld, dx, 0, g->C);
}

void tg_col2im_add_range(const tg_conv_geom *g, const float *col, int64_t ld, float *dx, int c0,
                         int c1) {
    const int H = g->H, W = g->W, OH = g->OH, OW = g->OW, s = g->stride, pad = g->pad;
    int64_t r = (int64_t)c0 * g->KH * g->KW;
    for (int c = c0; c < c1; c++) {
        float *dxc = dx + (int64_t)c * H * W;
        for (int kh = 0; kh < g->KH; kh++) {
            for (int kw = 0; kw < g->KW; kw++, r++) {
                const float *row = col + r * ld;
                int lo, hi;
                valid_range(W, OW, s, pad, kw, &lo, &hi);
                for (int oh = 0; oh < OH; oh++) {
                    int ih = (g->oh0 + oh) * s - pad + kh;
                    if (ih < 0 || ih >= H) continue;
                    const float *src = row + (int64_t)oh * OW;
                    float *dst = dxc + (int64_t)ih * W;  // dst[ow*s - pad + kw]
                    const int off = kw - pad;
                    if (s == 1) {
                        for (int ow = lo; ow < hi; ow++) dst[ow + off] += src[ow];
                    } else {
                        for (int ow = lo; ow < hi; ow++) dst[ow * s + off] += src[ow];
                    }
                }
            }
        }
    }
}

static _Thread_local float *scratch_buf;
static _Thread_local size_t scratch_cap;

static _Thread_local tg_ctx *bound_ctx;    // tg_ops_scratch_bind
static _Thread_local float *bound_buf;     // lent by bound_ctx's pool
static _Thread_local size_t bound_cap;

float *tg_ops_scratch(size_t floats) {
    if (bound_ctx) {
        if (bound_buf && floats <= bound_cap) return bound_buf;
        tg_grad_pool_put(bound_ctx, bound_buf);
        bound_cap = 0;
        bound_buf = tg_pool_scratch(bound_ctx, floats);
        if (bound_buf) bound_cap = floats;
        return bound_buf;
    }
    if (floats <= scratch_cap && scratch_buf) return scratch_buf;
    free(scratch_buf);
    scratch_cap = 0;
    scratch_buf = aligned_alloc(64, ((floats * sizeof(float) + 63) / 64) * 64);
    if (scratch_buf) scratch_cap = floats;
    return scratch_buf;
}

void tg_ops_scratch_free(void) {
    free(scratch_buf);
    scratch_buf = NULL;
    scratch_cap = 0;
}

void tg_ops_scratch_bind(tg_ctx *c) {
    TG_ASSERT(!bound_ctx, "tg_ops_scratch_bind twice without tg_ops_scratch_unbind");
    bound_ctx = c;
}

void tg_ops_scratch_unbind(void) {
    if (bound_ctx) tg_grad_pool_put(bound_ctx, bound_buf);
    bound_ctx = NULL;
    bound_buf = NULL;
    bound_cap = 0;
}
