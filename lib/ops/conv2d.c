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
// A 1x1 stride-1 unpadded conv with G = 1 uses x itself as its column matrix.
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "conv2d.h"
#include "ops.h"

void tg_conv_geom_finish(tg_conv_geom *g) {
    g->OH = (g->H + 2 * g->pad - g->KH) / g->stride + 1;
    g->OW = (g->W + 2 * g->pad - g->KW) / g->stride + 1;
}

// Column budget of one group; groups stop growing once they are this wide.
#define GROUP_MIN_COLS 1024
#define GROUP_MAX_FLOATS ((size_t)8 << 20)  // 32 MB of column matrix

static int group_size(int N, int64_t P, int64_t K) {
    int G = 1;
    while (G < N && (int64_t)G * P < GROUP_MIN_COLS &&
           (size_t)((G + 1) * P * K) <= GROUP_MAX_FLOATS)
        G++;
    return G;
}

static bool is_pointwise(const tg_conv_geom *g) {
    return g->KH == 1 && g->KW == 1 && g->stride == 1 && g->pad == 0;
}

int tg_conv2d_forward_kernel(float *out, const float *x, const float *w, int N, int OC,
                             const tg_conv_geom *g) {
    const int64_t P = (int64_t)g->OH * g->OW, K = (int64_t)g->C * g->KH * g->KW;
    const int64_t XS = (int64_t)g->C * g->H * g->W;  // one image of x
    const int G = group_size(N, P, K);
    const bool direct = G == 1 && is_pointwise(g);
    float *scratch = NULL;
    if (!direct) {
        scratch = tg_ops_scratch((size_t)(K * G * P + (G > 1 ? OC * G * P : 0)));
        if (!scratch) return -1;
    }
    float *col = scratch;                   // (K, G*P)
    float *tmp = scratch + K * G * P;       // (OC, G*P) when G > 1
    for (int n0 = 0; n0 < N; n0 += G) {
        const int gn = N - n0 < G ? N - n0 : G;
        const int64_t ld = gn * P;
        const float *colp = x + n0 * XS;
        if (!direct) {
            for (int i = 0; i < gn; i++) tg_im2col(g, x + (n0 + i) * XS, col + i * P, ld);
            colp = col;
        }
        if (gn == 1) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, (int)P, (int)K, 1.0f, w,
                        (int)K, colp, (int)ld, 0.0f, out + n0 * OC * P, (int)P);
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, OC, (int)ld, (int)K, 1.0f, w,
                        (int)K, colp, (int)ld, 0.0f, tmp, (int)ld);
            for (int i = 0; i < gn; i++)
                for (int oc = 0; oc < OC; oc++)
                    memcpy(out + ((n0 + i) * OC + oc) * P, tmp + oc * ld + i * P,
                           (size_t)P * sizeof(float));
        }
    }
    return 0;
}

int tg_conv2d_backward_kernel(float *dx, float *dw, const float *dout, const float *x,
                              const float *w, int N, int OC, const tg_conv_geom *g) {
    if (!dx && !dw) return 0;
    const int64_t P = (int64_t)g->OH * g->OW, K = (int64_t)g->C * g->KH * g->KW;
    const int64_t XS = (int64_t)g->C * g->H * g->W;
    const int G = group_size(N, P, K);
    const bool direct = G == 1 && is_pointwise(g);
    float *scratch = NULL;
    if (!direct) {
        scratch = tg_ops_scratch((size_t)(K * G * P + (G > 1 ? OC * G * P : 0)));
        if (!scratch) return -1;
    }
    float *col = scratch;              // (K, G*P): the column matrix, then its gradient
    float *doutg = scratch + K * G * P;  // (OC, G*P) when G > 1
    for (int n0 = 0; n0 < N; n0 += G) {
        const int gn = N - n0 < G ? N - n0 : G;
        const int64_t ld = gn * P;
        const float *dg = dout + n0 * OC * P;
        if (gn > 1) {
            for (int i = 0; i < gn; i++)
                for (int oc = 0; oc < OC; oc++)
                    memcpy(doutg + oc * ld + i * P, dout + ((n0 + i) * OC + oc) * P,
                           (size_t)P * sizeof(float));
            dg = doutg;
        }
        if (dw) {
            const float *colp = x + n0 * XS;
            if (!direct) {
                for (int i = 0; i < gn; i++) tg_im2col(g, x + (n0 + i) * XS, col + i * P, ld);
                colp = col;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, OC, (int)K, (int)ld, 1.0f, dg,
                        (int)ld, colp, (int)ld, 1.0f, dw, (int)K);
        }
        if (dx) {
            if (direct) {  // dx_n (C, P) += W^T @ dout_n
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)P, OC, 1.0f, w,
                            (int)K, dg, (int)P, 1.0f, dx + n0 * XS, (int)P);
            } else {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)ld, OC, 1.0f, w,
                            (int)K, dg, (int)ld, 0.0f, col, (int)ld);
                for (int i = 0; i < gn; i++) tg_col2im_add(g, col + i * P, ld, dx + (n0 + i) * XS);
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

// ---- graph op ----
typedef struct {
    tg_conv_geom geom;
    int N, OC;
} conv2d_saved;

static tg_status conv2d_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const conv2d_saved *s = n->saved;
    tg_tensor *x = n->in[0], *w = n->in[1];
    float *dx = tg_grad_buf(c, x);
    float *dw = tg_grad_buf(c, w);
    if ((x->requires_grad && !dx) || (w->requires_grad && !dw)) return tg_ctx_status(c);
    if (tg_conv2d_backward_kernel(dx, dw, dout, x->data, w->data, s->N, s->OC, &s->geom) != 0)
        return tg_error_set(&c->err, TG_ERR_NOMEM, "conv2d backward: out of memory for columns");
    return TG_OK;
}

static const tg_op conv2d_op = {"ConvolutionBackward0", conv2d_backward};

tg_tensor *tg_conv2d(tg_ctx *c, tg_tensor *x, tg_tensor *w, int stride, int pad) {
    if (!x || !w) return NULL;
    char sx[TG_SHAPE_STR_MAX], sw[TG_SHAPE_STR_MAX];
    if (x->ndim != 4 || w->ndim != 4 || x->shape[1] != w->shape[1] || stride < 1 || pad < 0) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "conv2d: input %s and weight %s do not fit (want (N, C, H, W) and "
                     "(OC, C, KH, KW), stride >= 1, padding >= 0; got stride %d padding %d)",
                     tg_shape_str(x, sx, sizeof sx), tg_shape_str(w, sw, sizeof sw), stride, pad);
        return NULL;
    }
    tg_conv_geom g = {.C = (int)x->shape[1], .H = (int)x->shape[2], .W = (int)x->shape[3],
                      .KH = (int)w->shape[2], .KW = (int)w->shape[3], .stride = stride,
                      .pad = pad};
    if (g.H + 2 * pad < g.KH || g.W + 2 * pad < g.KW) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "conv2d: kernel of weight %s is larger than the padded input %s (padding %d)",
                     tg_shape_str(w, sw, sizeof sw), tg_shape_str(x, sx, sizeof sx), pad);
        return NULL;
    }
    tg_conv_geom_finish(&g);
    const int N = (int)x->shape[0], OC = (int)w->shape[0];
    int64_t shape[4] = {N, OC, g.OH, g.OW};
    tg_tensor *in[2] = {x, w};
    conv2d_saved *s = NULL;
    tg_tensor *out = tg_op_output(c, &conv2d_op, 4, shape, 2, in, (void **)&s, sizeof *s);
    if (!out) return NULL;
    if (s) *s = (conv2d_saved){g, N, OC};
    if (N > 0 && OC > 0 && tg_conv2d_forward_kernel(out->data, x->data, w->data, N, OC, &g) != 0) {
        tg_error_set(&c->err, TG_ERR_NOMEM, "conv2d: out of memory for the column matrix");
        return NULL;
    }
    return out;
}
