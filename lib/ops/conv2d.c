// conv2d.c: 2-D convolution without bias, as torch.nn.functional.conv2d(x, w, None,
// stride, padding) (grad_fn ConvolutionBackward0).
//
// Kernels: im2col + OpenBLAS sgemm. Images are processed in groups: a group's column
// matrices sit side by side, (K = C*KH*KW, G*P) with P = OH*OW, so that small layers
// (layer4: P = 49, or P = 4 at 64x64) still make one wide gemm. The column matrix lives in
// a per-thread scratch buffer that every conv reuses; backward recomputes it rather than
// keeping it alive (im2col is a copy, the gemms are K times more work).
//   forward   out_g (OC, G*P)  = W (OC, K) @ col_g (K, G*P)
//   d input   dcol_g (K, G*P)  = W^T (K, OC) @ dout_g (OC, G*P);   dx += col2im(dcol_g)
//   d weight  dW (OC, K)      += dout_g (OC, G*P) @ col_g^T (G*P, K)
// A 1x1 stride-1 unpadded conv with G = 1 uses x itself as its column matrix; one image
// whose column matrix is large (conv1) is built and used in blocks of output rows.
// 3x3 stride-1 padding-1 layers with enough tiles go to Winograd F(2x2,3x3) or F(4x4,3x3)
// (winograd.c), as tg_winograd_auto picks.
// The products (conv_gemm.c) are split over the thread pool (core/parallel.h), one OpenBLAS
// thread each.
// Gradients are computed only for inputs that require them (frozen weights: no dW).
#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conv2d.h"
#include "conv_gemm.h"
#include "core/knobs.h"
#include "core/parallel.h"
#include "ops.h"
#include "winograd.h"

void tg_conv_geom_finish(tg_conv_geom *g) {
    g->OH = (g->H + 2 * g->pad - g->KH) / g->stride + 1;
    g->OW = (g->W + 2 * g->pad - g->KW) / g->stride + 1;
}

// Column budget of one group; groups stop growing once they are this wide (the
// conv_group_cols knob: TG_CONV_GROUP_MIN_COLS, or TG_CONV_GROUP_COLS=n).
#define GROUP_MAX_FLOATS ((size_t)8 << 20)  // 32 MB of column matrix

static int group_min_cols(void) { return tg_knobs_get()->conv_group_cols; }

static int group_size(int N, int64_t P, int64_t K) {
    int G = 1;
    while (G < N && (int64_t)G * P < group_min_cols() &&
           (size_t)((G + 1) * P * K) <= GROUP_MAX_FLOATS)
        G++;
    return G;
}

static bool is_pointwise(const tg_conv_geom *g) {
    return g->KH == 1 && g->KW == 1 && g->stride == 1 && g->pad == 0;
}

// ---- the memory-bound steps, split over threads by channel ----
typedef struct {
    const tg_conv_geom *g;
    const float *x;   // first image of the group (N, C, H, W)
    float *col;       // (K, gn*P)
    float *dx;        // col2im target, first image of the group
    int gn;
    int64_t P, XS;
} col_job;

static void im2col_task(void *arg, int64_t c0, int64_t c1) {
    const col_job *j = arg;
    for (int i = 0; i < j->gn; i++)
        tg_im2col_range(j->g, j->x + i * j->XS, j->col + i * j->P, j->gn * j->P, (int)c0, (int)c1);
}

static void col2im_task(void *arg, int64_t c0, int64_t c1) {
    const col_job *j = arg;
    for (int i = 0; i < j->gn; i++)
        tg_col2im_add_range(j->g, j->col + i * j->P, j->gn * j->P, j->dx + i * j->XS, (int)c0,
                            (int)c1);
}

static void im2col_group(const tg_conv_geom *g, const float *x, float *col, int gn, int64_t P) {
    col_job j = {g, x, col, NULL, gn, P, (int64_t)g->C * g->H * g->W};
    tg_parallel_for(g->C, gn * P * g->KH * g->KW, im2col_task, &j);
}

static void col2im_group(const tg_conv_geom *g, const float *col, float *dx, int gn, int64_t P) {
    col_job j = {g, NULL, (float *)col, dx, gn, P, (int64_t)g->C * g->H * g->W};
    tg_parallel_for(g->C, gn * P * g->KH * g->KW, col2im_task, &j);
}

// (gn, OC, P) images <-> (OC, gn*P) gemm layout
typedef struct {
    float *img;        // (gn, OC, P)
    float *mat;        // (OC, gn*P)
    int gn, OC;
    int64_t P;
    bool to_img;
} scatter_job;

static void scatter_task(void *arg, int64_t o0, int64_t o1) {
    const scatter_job *j = arg;
    const int64_t ld = j->gn * j->P;
    for (int i = 0; i < j->gn; i++)
        for (int64_t oc = o0; oc < o1; oc++) {
            float *a = j->img + (i * j->OC + oc) * j->P, *b = j->mat + oc * ld + i * j->P;
            if (j->to_img)
                memcpy(a, b, (size_t)j->P * sizeof(float));
            else
                memcpy(b, a, (size_t)j->P * sizeof(float));
        }
}

static void scatter(float *img, float *mat, int gn, int OC, int64_t P, bool to_img) {
    scatter_job j = {img, mat, gn, OC, P, to_img};
    tg_parallel_for(OC, gn * P, scatter_task, &j);
}

static tg_conv_algo forced_algo;  // by tg_conv2d_set_algo, over the conv_algo knob
static bool algo_forced;

int tg_winograd_auto(const tg_conv_geom *g, int N) {
    if (!tg_winograd_fits(g) || tg_winograd_tiles(g, N, 2) < TG_WINOGRAD_MIN_TILES) return 0;
    return tg_winograd_tiles(g, N, 4) >= TG_WINOGRAD4_MIN_TILES ? 4 : 2;
}

void tg_conv2d_set_algo(tg_conv_algo a) {
    forced_algo = a;
    algo_forced = true;
}

static tg_conv_algo current_algo(void) {
    return algo_forced ? forced_algo : tg_knobs_get()->conv_algo;
}

// Winograd tile side to use for g at batch N (0: im2col).
static int use_winograd(const tg_conv_geom *g, int N) {
    if (!tg_winograd_fits(g)) return 0;
    switch (current_algo()) {
    case TG_CONV_IM2COL: return 0;
    case TG_CONV_WINOGRAD2: return 2;
    case TG_CONV_WINOGRAD4: return 4;
    default: return tg_winograd_auto(g, N);
    }
}

// One image's column matrix larger than this is built and used in blocks of output rows,
// so that each block is still in cache when its gemm reads it (conv1: 147 x 12544 floats
// per image would otherwise go to memory and back): TG_CONV_COL_BLOCK_FLOATS, 192K floats.
// TG_CONV_COL_BLOCK=n overrides (the conv_col_block knob; floats, 0 turns blocking off),
// for measurements.
static int64_t col_block_floats(void) { return tg_knobs_get()->conv_col_block; }

// Output rows per block of a one-image column matrix (OH: no blocking).
static int block_rows(const tg_conv_geom *g, int64_t K) {
    int64_t rows = col_block_floats() / (K * g->OW);
    if (rows < 1) rows = 1;
    return rows >= g->OH ? g->OH : (int)rows;
}

// The geometry of output rows [oh0, oh0 + rows) of g (fewer at the bottom).
static tg_conv_geom row_block(const tg_conv_geom *g, int oh0, int rows) {
    tg_conv_geom gb = *g;
    gb.oh0 = oh0;
    gb.OH = g->OH - oh0 < rows ? g->OH - oh0 : rows;
    return gb;
}

// Scratch of one group: col (K, G*P), tmp (OC, G*P), t (G*P, K) for skinny products.
static float *group_scratch(int64_t K, int64_t OC, int G, int64_t P) {
    const int64_t cols = G * P;
    return tg_ops_scratch((size_t)(K * cols + (G > 1 ? OC * cols : 0) +
                                   (cols <= TG_SKINNY_MAX ? K * cols : 0)));
}

int tg_conv2d_forward_kernel(float *out, const float *x, const float *w, int N, int OC,
                             const tg_conv_geom *g) {
    const int wm = use_winograd(g, N);
    if (wm) return tg_winograd_forward(out, x, w, N, OC, g, wm);
    const int64_t P = (int64_t)g->OH * g->OW, K = (int64_t)g->C * g->KH * g->KW;
    const int64_t XS = (int64_t)g->C * g->H * g->W;  // one image of x
    const int G = group_size(N, P, K);
    const bool direct = G == 1 && is_pointwise(g);
    float *scratch = group_scratch(K, OC, G, P);
    if (!scratch) return -1;
    float *col = scratch;                             // (K, G*P)
    float *tmp = col + K * G * P;                     // (OC, G*P) when G > 1
    float *t = tmp + (G > 1 ? OC * G * P : 0);        // (G*P, K) when skinny
    for (int n0 = 0; n0 < N; n0 += G) {
        const int gn = N - n0 < G ? N - n0 : G;
        const int64_t ld = gn * P;
        const float *colp = x + n0 * XS;
        const int rows = gn == 1 && !direct ? block_rows(g, K) : g->OH;
        if (rows < g->OH) {  // one image in blocks of output rows
            for (int oh0 = 0; oh0 < g->OH; oh0 += rows) {
                const tg_conv_geom gb = row_block(g, oh0, rows);
                const int bw = gb.OH * g->OW;
                im2col_group(&gb, x + n0 * XS, col, 1, bw);
                tg_gemm(CblasNoTrans, CblasNoTrans, OC, bw, (int)K, w, (int)K, col, bw, 0.0f,
                        out + n0 * OC * P + oh0 * g->OW, (int)P);
            }
            continue;
        }
        if (!direct) {
            im2col_group(g, x + n0 * XS, col, gn, P);
            colp = col;
        }
        if (gn == 1) {
            tg_mm_nn(OC, (int)P, (int)K, w, colp, out + n0 * OC * P, t);
        } else {
            tg_mm_nn(OC, (int)ld, (int)K, w, colp, tmp, t);
            scatter(out + n0 * OC * P, tmp, gn, OC, P, true);
        }
    }
    return 0;
}

int tg_conv2d_backward_kernel(float *dx, float *dw, const float *dout, const float *x,
                              const float *w, int N, int OC, const tg_conv_geom *g) {
    return tg_conv2d_backward_kernel_w(dx, dw, true, dout, x, w, N, OC, g);
}

int tg_conv2d_backward_kernel_w(float *dx, float *dw, bool dw_acc, const float *dout,
                                const float *x, const float *w, int N, int OC,
                                const tg_conv_geom *g) {
    if (!dx && !dw) return 0;
    const int wm = use_winograd(g, N);
    if (wm) return tg_winograd_backward(dx, dw, dw_acc, dout, x, w, N, OC, g, wm);
    float dw_beta = dw_acc ? 1.0f : 0.0f;  // the first product into dw stores, the rest add
    const int64_t P = (int64_t)g->OH * g->OW, K = (int64_t)g->C * g->KH * g->KW;
    const int64_t XS = (int64_t)g->C * g->H * g->W;
    const int G = group_size(N, P, K);
    const bool direct = G == 1 && is_pointwise(g);
    float *scratch = group_scratch(K, OC, G, P);
    if (!scratch) return -1;
    float *col = scratch;                        // (K, G*P): the column matrix, then its gradient
    float *doutg = col + K * G * P;     // (OC, G*P) when G > 1
    float *t = doutg + (G > 1 ? OC * G * P : 0);  // (G*P, K) when skinny
    for (int n0 = 0; n0 < N; n0 += G) {
        const int gn = N - n0 < G ? N - n0 : G;
        const int64_t ld = gn * P;
        const float *dg = dout + n0 * OC * P;
        const int rows = gn == 1 && !direct ? block_rows(g, K) : g->OH;
        if (rows < g->OH) {  // one image in blocks of output rows
            for (int oh0 = 0; oh0 < g->OH; oh0 += rows) {
                const tg_conv_geom gb = row_block(g, oh0, rows);
                const int bw = gb.OH * g->OW;
                const float *db = dg + oh0 * g->OW;  // (OC, bw), rows P apart
                if (dw) {
                    im2col_group(&gb, x + n0 * XS, col, 1, bw);
                    tg_gemm(CblasNoTrans, CblasTrans, OC, (int)K, bw, db, (int)P, col, bw,
                            dw_beta, dw, (int)K);
                    dw_beta = 1.0f;
                }
                if (dx) {
                    tg_gemm(CblasTrans, CblasNoTrans, (int)K, bw, OC, w, (int)K, db, (int)P, 0.0f,
                            col, bw);
                    col2im_group(&gb, col, dx + n0 * XS, 1, bw);
                }
            }
            continue;
        }
        if (gn > 1) {
            scatter((float *)dout + n0 * OC * P, doutg, gn, OC, P, false);
            dg = doutg;
        }
        if (dw) {
            const float *colp = x + n0 * XS;
            if (!direct) {
                im2col_group(g, x + n0 * XS, col, gn, P);
                colp = col;
            }
            tg_mm_nt(OC, (int)K, (int)ld, dg, colp, dw_beta, dw, t);
            dw_beta = 1.0f;
        }
        if (dx) {
            if (direct) {  // dx_n (C, P) += W^T @ dout_n
                tg_gemm(CblasTrans, CblasNoTrans, (int)K, (int)P, OC, w, (int)K, dg, (int)P, 1.0f,
                        dx + n0 * XS, (int)P);
            } else {
                tg_mm_tn((int)K, (int)ld, OC, w, dg, col);
                col2im_group(g, col, dx + n0 * XS, gn, P);
            }
        }
    }
    return 0;
}

// ---- reference: direct loops ----
void tg_conv2d_forward_ref(float *out, const float *x, const float *w, int N, int OC,
                           const tg_conv_geom *g) {
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < OC; oc++)
            for (int oh = 0; oh < g->OH; oh++)
                for (int ow = 0; ow < g->OW; ow++) {
                    double s = 0;
                    for (int c = 0; c < g->C; c++)
                        for (int kh = 0; kh < g->KH; kh++) {
                            int ih = oh * g->stride - g->pad + kh;
                            if (ih < 0 || ih >= g->H) continue;
                            for (int kw = 0; kw < g->KW; kw++) {
                                int iw = ow * g->stride - g->pad + kw;
                                if (iw < 0 || iw >= g->W) continue;
                                s += (double)x[(((int64_t)n * g->C + c) * g->H + ih) * g->W + iw] *
                                     w[(((int64_t)oc * g->C + c) * g->KH + kh) * g->KW + kw];
                            }
                        }
                    out[(((int64_t)n * OC + oc) * g->OH + oh) * g->OW + ow] = (float)s;
                }
}

void tg_conv2d_backward_ref(float *dx, float *dw, const float *dout, const float *x,
                            const float *w, int N, int OC, const tg_conv_geom *g) {
    for (int n = 0; n < N; n++)
        for (int oc = 0; oc < OC; oc++)
            for (int oh = 0; oh < g->OH; oh++)
                for (int ow = 0; ow < g->OW; ow++) {
                    float d = dout[(((int64_t)n * OC + oc) * g->OH + oh) * g->OW + ow];
                    for (int c = 0; c < g->C; c++)
                        for (int kh = 0; kh < g->KH; kh++) {
                            int ih = oh * g->stride - g->pad + kh;
                            if (ih < 0 || ih >= g->H) continue;
                            for (int kw = 0; kw < g->KW; kw++) {
                                int iw = ow * g->stride - g->pad + kw;
                                if (iw < 0 || iw >= g->W) continue;
                                int64_t xi = (((int64_t)n * g->C + c) * g->H + ih) * g->W + iw;
                                int64_t wi = (((int64_t)oc * g->C + c) * g->KH + kh) * g->KW + kw;
                                if (dx) dx[xi] += d * w[wi];
                                if (dw) dw[wi] += d * x[xi];
                            }
                        }
                }
}

bool tg_conv2d_geom(tg_ctx *c, const char *op, const tg_tensor *x, const tg_tensor *w,
                    int stride, int pad, tg_conv_geom *g) {
    char sx[TG_SHAPE_STR_MAX], sw[TG_SHAPE_STR_MAX];
    if (x->ndim != 4 || w->ndim != 4 || x->shape[1] != w->shape[1] || stride < 1 || pad < 0) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "%s: input %s and weight %s do not fit (want (N, C, H, W) and "
                     "(OC, C, KH, KW), stride >= 1, padding >= 0; got stride %d padding %d)",
                     op, tg_shape_str(x, sx, sizeof sx), tg_shape_str(w, sw, sizeof sw), stride,
                     pad);
        return false;
    }
    *g = (tg_conv_geom){.C = (int)x->shape[1], .H = (int)x->shape[2], .W = (int)x->shape[3],
                        .KH = (int)w->shape[2], .KW = (int)w->shape[3], .stride = stride,
                        .pad = pad};
    if (g->H + 2 * pad < g->KH || g->W + 2 * pad < g->KW) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "%s: kernel of weight %s is larger than the padded input %s (padding %d)", op,
                     tg_shape_str(w, sw, sizeof sw), tg_shape_str(x, sx, sizeof sx), pad);
        return false;
    }
    tg_conv_geom_finish(g);
    return true;
}

int tg_conv2d_forward_pooled(tg_ctx *c, float *out, const float *x, const float *w, int N,
                             int OC, const tg_conv_geom *g) {
    if (N <= 0 || OC <= 0) return 0;
    tg_ops_scratch_bind(c);
    int rc = tg_conv2d_forward_kernel(out, x, w, N, OC, g);
    tg_ops_scratch_unbind();
    return rc;
}

int tg_conv2d_backward_pooled(tg_ctx *c, float *dx, float *dw, bool dw_new, int64_t dw_numel,
                              const float *dout, const float *x, const float *w, int N, int OC,
                              const tg_conv_geom *g) {
    if (N <= 0 || OC <= 0) {  // nothing to sum: a gradient that holds nothing yet is zero
        if (dw && dw_new) memset(dw, 0, (size_t)dw_numel * sizeof(float));
        return 0;
    }
    tg_ops_scratch_bind(c);
    int rc = tg_conv2d_backward_kernel_w(dx, dw, !dw_new, dout, x, w, N, OC, g);
    tg_ops_scratch_unbind();
    return rc;
}

// ---- graph op ----
typedef struct {
    tg_conv_geom geom;
    int N, OC;
} conv2d_saved;

static tg_status conv2d_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const conv2d_saved *s = n->saved;
    tg_tensor *x = n->in[0], *w = n->in[1];
    bool dw_new;  // dw holds nothing yet (zero_grad deferred): the kernel stores into it
    float *dx = tg_grad_buf(c, x);
    float *dw = tg_grad_buf_w(c, w, &dw_new);
    if ((x->requires_grad && !dx) || (w->requires_grad && !dw)) return tg_ctx_status(c);
    if (tg_conv2d_backward_pooled(c, dx, dw, dw_new, w->numel, dout, x->data, w->data, s->N,
                                  s->OC, &s->geom) != 0)
        return tg_error_set(&c->err, TG_ERR_NOMEM, "conv2d backward: out of memory for columns");
    return TG_OK;
}

static const tg_op conv2d_op = {"ConvolutionBackward0", conv2d_backward};

tg_tensor *tg_conv2d(tg_ctx *c, tg_tensor *x, tg_tensor *w, int stride, int pad) {
    if (!x || !w) return NULL;
    tg_conv_geom g;
    if (!tg_conv2d_geom(c, "conv2d", x, w, stride, pad, &g)) return NULL;
    const int N = (int)x->shape[0], OC = (int)w->shape[0];
    int64_t shape[4] = {N, OC, g.OH, g.OW};
    tg_tensor *in[2] = {x, w};
    conv2d_saved *s = NULL;
    tg_tensor *out = tg_op_output(c, &conv2d_op, 4, shape, 2, in, (void **)&s, sizeof *s);
    if (!out) return NULL;
    if (s) *s = (conv2d_saved){g, N, OC};
    if (tg_conv2d_forward_pooled(c, out->data, x->data, w->data, N, OC, &g) != 0) {
        tg_error_set(&c->err, TG_ERR_NOMEM, "conv2d: out of memory for the column matrix");
        return NULL;
    }
    return out;
}
