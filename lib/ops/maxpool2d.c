// maxpool2d.c: torch.nn.functional.max_pool2d(x, kernel, stride, padding) with
// ceil_mode=False and dilation 1 (grad_fn MaxPool2DWithIndicesBackward0). Padding acts as
// -inf. Each output remembers the flat index (ih*W + iw) of the first maximum of its window
// (or its last NaN, as in PyTorch); backward adds dout there. The index is saved as its
// position in the window, (ih - oh*stride + pad) * kernel + (iw - ow*stride + pad), in one
// byte for kernels up to 16 (ResNet's max-pool saves 3 MB instead of 13 at batch 16).
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/parallel.h"
#include "maxpool2d.h"
#include "ops.h"

typedef struct {
    int kernel, stride, pad;
    int64_t H, W, OH, OW;
    uint8_t *pos;     // (N, C, OH, OW): position in the window (kernel <= 16), or
    int32_t *argmax;  // (N, C, OH, OW): index into the (H, W) plane of the input
} maxpool_saved;

typedef struct {
    float *out;
    uint8_t *pos;     // one of the two, as in maxpool_saved
    int32_t *argmax;
    const float *x;
    int k, s, p;
    int64_t H, W, OH, OW;
} maxpool_job;

// A larger value or a NaN takes over, as in PyTorch (the last NaN wins); branch-free,
// since random data mispredicts the comparison.
#define MP_TAKE(val, idx)                         \
    do {                                          \
        const float v_ = (val);                   \
        const int t_ = (v_ > best) | (v_ != v_);  \
        best = t_ ? v_ : best;                    \
        bi = t_ ? (idx) : bi;                     \
    } while (0)

// Saves the flat index i (ih*W + iw) of output (oh, ow)'s maximum.
static inline void mp_store(uint8_t *pos, int32_t *am, int64_t o, int64_t i, int64_t W, int k,
                            int64_t h0, int64_t w0) {
    if (pos) {
        const int64_t ih = i / W;
        pos[o] = (uint8_t)((ih - h0) * k + (i - ih * W - w0));
    } else {
        am[o] = (int32_t)i;
    }
}

// ResNet's 3x3, stride 2, padding 1 pool, vectorised over a block of output columns: each
// input row is split into even and odd columns, so the three candidates of every window
// row are contiguous arrays (window of ow: columns 2ow-1, 2ow, 2ow+1), visited in the
// same row-major order as the generic loop.
#define MP_BLOCK 256

void tg_maxpool_3x3s2_plane(const float *x, float *out, uint8_t *pos, int32_t *am, int64_t H,
                            int64_t W, int64_t OH, int64_t OW) {
    float best[MP_BLOCK], cand[3][MP_BLOCK];
    int32_t bi[MP_BLOCK], ci[3][MP_BLOCK];
    for (int64_t oh = 0; oh < OH; oh++) {
        const int64_t h0 = 2 * oh - 1;
        for (int64_t ow0 = 0; ow0 < OW; ow0 += MP_BLOCK) {
            const int nb = OW - ow0 < MP_BLOCK ? (int)(OW - ow0) : MP_BLOCK;
            const int64_t hs = h0 < 0 ? 0 : h0;
            for (int k = 0; k < nb; k++) {
                const int64_t w0 = 2 * (ow0 + k) - 1;
                best[k] = -INFINITY;
                bi[k] = (int32_t)(hs * W + (w0 < 0 ? 0 : w0));  // first in-bounds element
            }
            for (int64_t h = hs; h < h0 + 3 && h < H; h++) {
                const float *row = x + h * W;
                for (int q = 0; q < 3; q++)
                    for (int k = 0; k < nb; k++) {
                        const int64_t w = 2 * (ow0 + k) - 1 + q;
                        const bool in = w >= 0 && w < W;
                        cand[q][k] = in ? row[in ? w : 0] : -INFINITY;
                        ci[q][k] = (int32_t)(h * W + w);
                    }
                for (int q = 0; q < 3; q++)
                    for (int k = 0; k < nb; k++) {
                        const float v = cand[q][k];
                        const bool take = (v > best[k]) | (v != v);
                        best[k] = take ? v : best[k];
                        bi[k] = take ? ci[q][k] : bi[k];
                    }
            }
            for (int k = 0; k < nb; k++) {
                out[oh * OW + ow0 + k] = best[k];
                mp_store(pos, am, oh * OW + ow0 + k, bi[k], W, 3, h0, 2 * (ow0 + k) - 1);
            }
        }
    }
}

// max that lets a NaN through from either side
static inline float nanmax(float a, float b) { return (b > a) | (b != b) ? b : a; }

void tg_maxpool_3x3s2_plane_values(const float *x, float *out, float *v, int64_t H, int64_t W,
                                   int64_t OH, int64_t OW) {
    const int64_t half = W / 2;
    float *E = v, *O = v + (W + 1) / 2;  // column maxima at even and odd columns
    for (int64_t oh = 0; oh < OH; oh++) {
        const float *r1 = x + (2 * oh) * W;  // the middle row is always inside
        const float *r0 = oh > 0 ? r1 - W : r1, *r2 = 2 * oh + 1 < H ? r1 + W : r1;
        for (int64_t k = 0; k < half; k++) {
            E[k] = nanmax(nanmax(r0[2 * k], r1[2 * k]), r2[2 * k]);
            O[k] = nanmax(nanmax(r0[2 * k + 1], r1[2 * k + 1]), r2[2 * k + 1]);
        }
        if (W & 1) E[half] = nanmax(nanmax(r0[W - 1], r1[W - 1]), r2[W - 1]);
        // window of ow: columns 2ow-1, 2ow, 2ow+1 = O[ow-1], E[ow], O[ow] (when inside)
        float *o = out + oh * OW;
        o[0] = W > 1 ? nanmax(E[0], O[0]) : E[0];
        const int64_t full = half < OW ? half : OW;  // ow < full: column 2ow+1 is inside
        for (int64_t ow = 1; ow < full; ow++) o[ow] = nanmax(nanmax(O[ow - 1], E[ow]), O[ow]);
        for (int64_t ow = full > 1 ? full : 1; ow < OW; ow++) o[ow] = nanmax(O[ow - 1], E[ow]);
    }
}

// planes [p0, p1) of (N*C, H, W)
static void maxpool_task(void *arg, int64_t p0, int64_t p1) {
    const maxpool_job *j = arg;
    const int64_t H = j->H, W = j->W, OH = j->OH, OW = j->OW;
    const int k = j->k, s = j->s, p = j->p;
    for (int64_t pl = p0; pl < p1; pl++) {
        const float *x = j->x + pl * H * W;
        float *out = j->out + pl * OH * OW;
        uint8_t *pos = j->pos ? j->pos + pl * OH * OW : NULL;
        int32_t *am = j->argmax ? j->argmax + pl * OH * OW : NULL;
        if (k == 3 && s == 2 && p == 1) {
            tg_maxpool_3x3s2_plane(x, out, pos, am, H, W, OH, OW);
            continue;
        }
        for (int64_t oh = 0; oh < OH; oh++) {
            const int64_t h0 = oh * s - p;
            const int64_t hs = h0 < 0 ? 0 : h0, he = h0 + k > H ? H : h0 + k;
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t w0 = ow * s - p;
                float best;
                int64_t bi;
                if (k == 3 && h0 >= 0 && h0 + 3 <= H && w0 >= 0 && w0 + 3 <= W) {
                    const int64_t i0 = h0 * W + w0;  // window inside the image: unrolled
                    const float *q = x + i0;
                    best = q[0];
                    bi = i0;
                    MP_TAKE(q[1], i0 + 1);
                    MP_TAKE(q[2], i0 + 2);
                    MP_TAKE(q[W], i0 + W);
                    MP_TAKE(q[W + 1], i0 + W + 1);
                    MP_TAKE(q[W + 2], i0 + W + 2);
                    MP_TAKE(q[2 * W], i0 + 2 * W);
                    MP_TAKE(q[2 * W + 1], i0 + 2 * W + 1);
                    MP_TAKE(q[2 * W + 2], i0 + 2 * W + 2);
                } else {
                    const int64_t ws = w0 < 0 ? 0 : w0, we = w0 + k > W ? W : w0 + k;
                    best = -INFINITY;
                    bi = hs * W + ws;
                    for (int64_t h = hs; h < he; h++)
                        for (int64_t w = ws; w < we; w++) MP_TAKE(x[h * W + w], h * W + w);
                }
                out[oh * OW + ow] = best;
                mp_store(pos, am, oh * OW + ow, bi, W, k, h0, w0);
            }
        }
    }
}

void tg_maxpool_scatter_plane(float *dx, const float *dout, const uint8_t *pos, uint8_t mask,
                              int kernel, int stride, int pad, int64_t W, int64_t OH,
                              int64_t OW) {
    int64_t off[256];  // window position -> offset from the window's top-left corner
    for (int i = 0; i < kernel * kernel; i++) off[i] = (i / kernel) * W + i % kernel;
    for (int64_t oh = 0; oh < OH; oh++) {
        const int64_t r0 = (oh * stride - pad) * W - pad;  // window (oh, 0)
        const uint8_t *ps = pos + oh * OW;
        const float *d = dout + oh * OW;
        if (mask) {
            for (int64_t ow = 0; ow < OW; ow++)
                if (ps[ow] & mask) dx[r0 + ow * stride + off[ps[ow] & ~mask]] += d[ow];
        } else {
            for (int64_t ow = 0; ow < OW; ow++) dx[r0 + ow * stride + off[ps[ow]]] += d[ow];
        }
    }
}

static tg_status maxpool_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const maxpool_saved *s = n->saved;
    tg_tensor *x = n->in[0];
    float *dx = tg_grad_buf(c, x);
    if (!dx) return tg_ctx_status(c);
    const int64_t planes = x->shape[0] * x->shape[1], O = s->OH * s->OW, I = s->H * s->W;
    for (int64_t pl = 0; pl < planes; pl++) {
        if (s->pos) {
            tg_maxpool_scatter_plane(dx + pl * I, dout + pl * O, s->pos + pl * O, 0, s->kernel,
                                     s->stride, s->pad, s->W, s->OH, s->OW);
            continue;
        }
        const int32_t *am = s->argmax + pl * O;
        for (int64_t i = 0; i < O; i++) dx[pl * I + am[i]] += dout[pl * O + i];
    }
    return TG_OK;
}

static const tg_op maxpool_op = {"MaxPool2DWithIndicesBackward0", maxpool_backward};

tg_tensor *tg_maxpool2d(tg_ctx *c, tg_tensor *x, int kernel, int stride, int pad) {
    if (!x) return NULL;
    char sx[TG_SHAPE_STR_MAX];
    if (x->ndim != 4 || kernel < 1 || stride < 1 || pad < 0 || pad > kernel / 2 ||
        x->shape[2] + 2 * pad < kernel || x->shape[3] + 2 * pad < kernel ||
        x->shape[2] * x->shape[3] > INT32_MAX) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "maxpool2d: input %s with kernel %d stride %d padding %d does not fit "
                     "(want (N, C, H, W), padding at most half the kernel)",
                     tg_shape_str(x, sx, sizeof sx), kernel, stride, pad);
        return NULL;
    }
    const int64_t H = x->shape[2], W = x->shape[3];
    const int64_t OH = (H + 2 * pad - kernel) / stride + 1, OW = (W + 2 * pad - kernel) / stride + 1;
    int64_t shape[4] = {x->shape[0], x->shape[1], OH, OW};
    tg_tensor *in[1] = {x};
    maxpool_saved *s = NULL;
    tg_tensor *out = tg_op_output(c, &maxpool_op, 4, shape, 1, in, (void **)&s, sizeof *s);
    if (!out) return NULL;
    const int64_t planes = x->shape[0] * x->shape[1];
    const bool small = kernel <= 16;
    void *am = tg_ctx_alloc(c, (size_t)(out->numel ? out->numel : 1) *
                                   (small ? sizeof(uint8_t) : sizeof(int32_t)));
    if (!am) return NULL;
    uint8_t *pos = small ? am : NULL;
    int32_t *am32 = small ? NULL : am;
    maxpool_job j = {out->data, pos, am32, x->data, kernel, stride, pad, H, W, OH, OW};
    tg_parallel_for(planes, H * W, maxpool_task, &j);
    if (s) *s = (maxpool_saved){kernel, stride, pad, H, W, OH, OW, pos, am32};
    return out;
}
