// bn_relu_maxpool.c: ResNet's stem after conv1, max_pool2d(relu(batch_norm(x)), 3, 2, 1),
// as one op (grad_fn MaxPool2DWithIndicesBackward0, the name of the chain's last node).
//
// Forward, plane by plane: BN + ReLU of one (H, W) plane into a scratch plane that stays in
// cache, then the pool from it (without a graph and in a channel whose BN scale is positive
// and finite: the pool first, then BN + ReLU of the pooled quarter). The normalised
// activation, a full-size tensor the chain would keep for ReLU's backward (51 MB at batch
// 16, 224x224), is never stored: the ReLU's mask at each window's maximum is the pooled
// value's sign, saved as the top bit of the one-byte window position.
// Backward, per channel: the gradient plane dy = relu'(.) * unpool(dout) is rebuilt in
// scratch (twice: once for BN's sums, once for dx) and BN's backward runs on it, reading
// the saved x. The float operations and their order are those of tg_batchnorm2d, tg_relu_
// and tg_maxpool2d one after the other, so values and gradients are bitwise equal.
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "batchnorm2d.h"
#include "core/parallel.h"
#include "maxpool2d.h"
#include "ops.h"

#define ACTIVE 0x80  // pos bit: the ReLU passed the window's maximum (pooled value not <= 0)

typedef struct {
    int64_t N, C, H, W, OH, OW;
    bool training;
    float *mean, *invstd;  // (C,)
    uint8_t *pos;          // (N, C, OH, OW): window position | ACTIVE
} stem_saved;

typedef struct {
    float *out;
    uint8_t *pos;  // NULL: a scratch row of positions per plane (no graph)
    const float *x, *mean, *invstd, *weight, *bias;
    int64_t N, C, H, W, OH, OW;
    bool pool_first;  // no graph: pool x, then normalise, in channels where that is exact
    atomic_bool nomem;
} fwd_job;

// channels [c0, c1): normalise each plane into scratch, pool it
static void fwd_task(void *arg, int64_t c0, int64_t c1) {
    fwd_job *j = arg;
    const int64_t HW = j->H * j->W, O = j->OH * j->OW;
    float *plane = malloc((size_t)HW * sizeof(float) + (size_t)O);
    if (!plane) {
        atomic_store(&j->nomem, true);
        return;
    }
    uint8_t *tmp_pos = (uint8_t *)(plane + HW);
    for (int64_t ch = c0; ch < c1; ch++) {
        float a, b;
        tg_bn_affine(j->mean, j->invstd, j->weight, j->bias, ch, &a, &b);
        const bool pool_first = j->pool_first && a > 0.0f && isfinite(a) && isfinite(b);
        for (int64_t n = 0; n < j->N; n++) {
            const int64_t pl = n * j->C + ch;
            float *out = j->out + pl * O;
            if (pool_first) {  // a quarter of the values to normalise, no scratch pass
                tg_maxpool_3x3s2_plane_values(j->x + pl * HW, out, plane, j->H, j->W, j->OH,
                                              j->OW);
                tg_bn_relu_plane(out, out, a, b, O);
                continue;
            }
            tg_bn_relu_plane(plane, j->x + pl * HW, a, b, HW);
            uint8_t *pos = j->pos ? j->pos + pl * O : tmp_pos;
            tg_maxpool_3x3s2_plane(plane, out, pos, NULL, j->H, j->W, j->OH, j->OW);
            if (j->pos)
                for (int64_t o = 0; o < O; o++) pos[o] |= out[o] <= 0.0f ? 0 : ACTIVE;
        }
    }
    free(plane);
}

typedef struct {
    const stem_saved *s;
    const float *dout, *x, *weight;
    float *dx, *dweight, *dbias;
    bool dx_store;
    atomic_bool nomem;
} bwd_job;

// dy of plane pl: relu'(.) * unpool(dout), in scratch
static void dy_plane(float *d, const bwd_job *j, int64_t pl) {
    const stem_saved *s = j->s;
    const int64_t O = s->OH * s->OW;
    memset(d, 0, (size_t)(s->H * s->W) * sizeof(float));
    tg_maxpool_scatter_plane(d, j->dout + pl * O, s->pos + pl * O, ACTIVE, 3, 2, 1, s->W, s->OH,
                             s->OW);
}

// channels [c0, c1): BN's backward (bn_backward_kernel's steps) on rebuilt dy planes
static void bwd_task(void *arg, int64_t c0, int64_t c1) {
    bwd_job *j = arg;
    const stem_saved *s = j->s;
    const int64_t HW = s->H * s->W, C = s->C;
    const double M = (double)(s->N * HW);
    float *d = malloc((size_t)HW * sizeof(float));
    if (!d) {
        atomic_store(&j->nomem, true);
        return;
    }
    for (int64_t ch = c0; ch < c1; ch++) {
        const float m = s->mean[ch], is = s->invstd[ch];
        const float scale = is * (j->weight ? j->weight[ch] : 1.0f);
        float gm = 0.0f, proj = 0.0f;
        if (s->training || j->dweight || j->dbias) {
            double sum_d = 0, sum_dx = 0;
            for (int64_t n = 0; n < s->N; n++) {
                dy_plane(d, j, n * C + ch);
                tg_bn_plane_sums(d, j->x + (n * C + ch) * HW, m, HW, &sum_d, &sum_dx);
            }
            if (j->dweight) j->dweight[ch] += (float)(sum_dx * is);
            if (j->dbias) j->dbias[ch] += (float)sum_d;
            gm = (float)(sum_d / M);
            proj = (float)((double)is * is * sum_dx / M);
        }
        if (!j->dx) continue;
        for (int64_t n = 0; n < s->N; n++) {
            const int64_t o = (n * C + ch) * HW;
            dy_plane(d, j, n * C + ch);
            if (s->training)
                tg_bn_plane_dx(j->dx + o, j->dx_store, d, j->x + o, m, gm, proj, scale, HW);
            else
                tg_bn_plane_dx_eval(j->dx + o, j->dx_store, d, scale, HW);
        }
    }
    free(d);
}

static tg_status stem_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const stem_saved *s = n->saved;
    tg_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    // a non-leaf x without a gradient yet gets a fresh buffer that is stored, not added to
    const bool fresh = x->requires_grad && x->grad_fn && !x->gbuf;
    float *dx = tg_grad_buf(c, x);
    float *dw = tg_grad_buf(c, w);
    float *db = tg_grad_buf(c, b);
    if ((x->requires_grad && !dx) || (w && w->requires_grad && !dw) ||
        (b && b->requires_grad && !db))
        return tg_ctx_status(c);
    bwd_job j = {s, dout, x->data, w ? w->data : NULL, dx, dw, db, fresh, false};
    tg_parallel_for(s->C, 2 * s->N * s->H * s->W, bwd_task, &j);
    if (atomic_load(&j.nomem))
        return tg_error_set(&c->err, TG_ERR_NOMEM,
                            "batchnorm2d_relu_maxpool: out of memory for a %lld x %lld plane",
                            (long long)s->H, (long long)s->W);
    return TG_OK;
}

static const tg_op stem_op = {"MaxPool2DWithIndicesBackward0", stem_backward};

tg_tensor *tg_batchnorm2d_relu_maxpool(tg_ctx *c, tg_tensor *x, tg_tensor *weight,
                                       tg_tensor *bias, tg_tensor *running_mean,
                                       tg_tensor *running_var, bool training, float momentum,
                                       float eps, tg_tensor *dst) {
    if (!x) return NULL;
    char sx[TG_SHAPE_STR_MAX], sd[TG_SHAPE_STR_MAX];
    // H, W >= 1 as tg_maxpool2d asks (H + 2 * pad >= kernel): a zero side would give a
    // 1-wide output read from outside the plane
    if (x->ndim != 4 || x->shape[2] < 1 || x->shape[3] < 1) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "batchnorm2d_relu_maxpool: input %s is not (N, C, H, W) with H, W >= 1",
                     tg_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    const bool record = tg_grad_enabled(c) && (x->requires_grad ||
                                               (weight && weight->requires_grad) ||
                                               (bias && bias->requires_grad));
    const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64_t shape[4] = {N, C, (H - 1) / 2 + 1, (W - 1) / 2 + 1};  // 3x3, stride 2, pad 1
    if (dst && (record || dst->ndim != 4 || memcmp(dst->shape, shape, sizeof shape))) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "batchnorm2d_relu_maxpool: dst %s must be (%lld, %lld, %lld, %lld) for input "
                     "%s, and only without a graph",
                     tg_shape_str(dst, sd, sizeof sd), (long long)N, (long long)C,
                     (long long)shape[2], (long long)shape[3], tg_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    float *mean, *invstd;
    if (!tg_bn_prepare(c, x, weight, bias, running_mean, running_var, training, momentum, eps,
                       &mean, &invstd))
        return NULL;
    stem_saved *s = NULL;
    tg_tensor *in[3] = {x, weight, bias};
    tg_tensor *out = dst;
    if (!out) {
        out = record ? tg_op_output(c, &stem_op, 4, shape, 3, in, (void **)&s, sizeof *s)
                     : tg_ctx_tensor(c, 4, shape);
        if (!out) return NULL;
    }
    uint8_t *pos = NULL;
    if (s && !(pos = tg_ctx_alloc(c, (size_t)(out->numel ? out->numel : 1)))) return NULL;
    // Without a graph the argmax is not needed, and per channel (fwd_task) maxpool(relu(x *
    // a + b)) equals relu(maxpool(x) * a + b) when a = invstd * weight > 0 and a, b are
    // finite: rounding is monotonic, so the map keeps the order, and it makes no NaN of a
    // value that is not the window's maximum (a window's NaN makes its output NaN either way).
    // a == 0 or an infinite a or b would: -inf * 0, 0 * inf, -inf + inf are NaN in the chain.
    const bool pool_first = !record;
    fwd_job j = {out->data, pos, x->data, mean, invstd, weight ? weight->data : NULL,
                 bias ? bias->data : NULL, N, C, H, W, shape[2], shape[3], pool_first, false};
    tg_parallel_for(C, 2 * N * H * W, fwd_task, &j);
    if (atomic_load(&j.nomem)) {
        tg_error_set(&c->err, TG_ERR_NOMEM,
                     "batchnorm2d_relu_maxpool: out of memory for a %lld x %lld plane",
                     (long long)H, (long long)W);
        return NULL;
    }
    if (s) *s = (stem_saved){N, C, H, W, shape[2], shape[3], training, mean, invstd, pos};
    return out;
}
