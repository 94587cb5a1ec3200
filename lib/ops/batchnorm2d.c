// batchnorm2d.c: torch.nn.functional.batch_norm on (N, C, H, W) (grad_fn
// NativeBatchNormBackward0 in train and eval mode alike, as PyTorch 1.13 on CPU names it).
//
// training: mean and biased variance over (N, H, W) per channel normalise x; the running
//   stats are updated in place, running = (1 - momentum) * running + momentum * stat,
//   with the unbiased variance (M / (M - 1), M = N*H*W). Statistics accumulate in double.
// eval: the running stats normalise x.
// y = (x - mean) * invstd * weight + bias, invstd = 1 / sqrt(var + eps).
//
// Backward (xhat = (x - mean) * invstd, g = dout * weight):
//   train: dx = invstd * (g - mean(g) - xhat * mean(g * xhat))     (the batch stats depend on x)
//   eval:  dx = invstd * g
//   dweight = sum(dout * xhat), dbias = sum(dout)
#include <math.h>
#include <string.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define BN_AVX2 1
#endif

#include "batchnorm2d.h"
#include "core/parallel.h"
#include "ops.h"

typedef struct {
    int64_t N, C, HW;
    bool training;
    float *mean;    // (C,) the mean used to normalise
    float *invstd;  // (C,)
} bn_saved;

// ---- kernels ----
// x (N, C, HW): per-channel mean and biased variance in one pass, accumulated in double
// around a shift (the mean of the channel's first row, so that var = E[(x-s)^2] - E[x-s]^2
// does not cancel).
static void bn_stats_kernel(double *mean, double *var, const float *x, int64_t N, int64_t C,
                            int64_t HW, int64_t c0, int64_t c1) {
    const double M = (double)(N * HW);
    for (int64_t ch = c0; ch < c1; ch++) {
        const float *first = x + ch * HW;
        double sh = 0;
        for (int64_t i = 0; i < HW; i++) sh += first[i];
        sh /= (double)(HW ? HW : 1);
        double a1[8] = {0}, a2[8] = {0}, s1 = 0, s2 = 0;
        for (int64_t n = 0; n < N; n++) {
            const float *p = x + (n * C + ch) * HW;
            int64_t i = 0;
#ifdef BN_AVX2
            const __m256d shv = _mm256_set1_pd(sh);
            __m256d p1 = _mm256_setzero_pd(), q1 = _mm256_setzero_pd(),
                    p2 = _mm256_setzero_pd(), q2 = _mm256_setzero_pd();
            for (; i + 8 <= HW; i += 8) {
                const __m256 v = _mm256_loadu_ps(p + i);
                const __m256d lo = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), shv);
                const __m256d hi = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), shv);
                p1 = _mm256_add_pd(p1, lo);
                q1 = _mm256_add_pd(q1, hi);
                p2 = _mm256_fmadd_pd(lo, lo, p2);
                q2 = _mm256_fmadd_pd(hi, hi, q2);
            }
            double t[4];
            _mm256_storeu_pd(t, _mm256_add_pd(p1, q1));
            s1 += (t[0] + t[1]) + (t[2] + t[3]);
            _mm256_storeu_pd(t, _mm256_add_pd(p2, q2));
            s2 += (t[0] + t[1]) + (t[2] + t[3]);
#else
            for (; i + 8 <= HW; i += 8)
                for (int k = 0; k < 8; k++) {
                    const double d = (double)p[i + k] - sh;
                    a1[k] += d;
                    a2[k] += d * d;
                }
#endif
            for (; i < HW; i++) {
                const double d = (double)p[i] - sh;
                s1 += d;
                s2 += d * d;
            }
        }
        for (int k = 0; k < 8; k++) {
            s1 += a1[k];
            s2 += a2[k];
        }
        const double m1 = s1 / M;  // mean - sh
        double v = s2 / M - m1 * m1;
        mean[ch] = sh + m1;
        var[ch] = v > 0 ? v : 0;
    }
}

// out = (x - mean) * invstd * weight + bias, channels [c0, c1)
static void bn_apply_kernel(float *out, const float *x, const float *mean, const float *invstd,
                            const float *weight, const float *bias, int64_t N, int64_t C,
                            int64_t HW, int64_t c0, int64_t c1) {
    for (int64_t ch = c0; ch < c1; ch++) {
        float a, b;
        tg_bn_affine(mean, invstd, weight, bias, ch, &a, &b);
        for (int64_t n = 0; n < N; n++) {
            const float *p = x + (n * C + ch) * HW;
            float *q = out + (n * C + ch) * HW;
            for (int64_t i = 0; i < HW; i++) q[i] = p[i] * a + b;
        }
    }
}

// dx (N, C, HW) += (or =, if dx_store: then dx may be dout itself), dweight, dbias (C,) += ;
// any may be NULL. Channels [c0, c1). The plane helpers are in batchnorm2d.h.
static void bn_backward_kernel(float *dx, bool dx_store, float *dweight, float *dbias,
                               const float *dout, const float *x, const float *mean,
                               const float *invstd, const float *weight, bool training,
                               int64_t N, int64_t C, int64_t HW, int64_t c0, int64_t c1) {
    const double M = (double)(N * HW);
    for (int64_t ch = c0; ch < c1; ch++) {
        const float m = mean[ch], is = invstd[ch];
        const float scale = is * (weight ? weight[ch] : 1.0f);
        if (!training && !dweight && !dbias) {  // eval, frozen affine: dx = dout * invstd * w
            for (int64_t n = 0; n < N; n++)
                tg_bn_plane_dx_eval(dx + (n * C + ch) * HW, dx_store, dout + (n * C + ch) * HW,
                                    scale, HW);
            continue;
        }
        double sum_d = 0, sum_dx = 0;  // sum(dout), sum(dout * (x - mean))
        for (int64_t n = 0; n < N; n++)
            tg_bn_plane_sums(dout + (n * C + ch) * HW, x + (n * C + ch) * HW, m, HW, &sum_d,
                             &sum_dx);
        if (dweight) dweight[ch] += (float)(sum_dx * is);
        if (dbias) dbias[ch] += (float)sum_d;
        if (!dx) continue;
        // training: dx = (dout - sum_d/M - (x - mean) * invstd^2 * sum_dx / M) * invstd * w
        const float gm = (float)(sum_d / M);
        const float proj = (float)((double)is * is * sum_dx / M);
        for (int64_t n = 0; n < N; n++) {
            const int64_t o = (n * C + ch) * HW;
            if (training)
                tg_bn_plane_dx(dx + o, dx_store, dout + o, x + o, m, gm, proj, scale, HW);
            else
                tg_bn_plane_dx_eval(dx + o, dx_store, dout + o, scale, HW);
        }
    }
}

// ---- parallel wrappers: channels split over threads ----
typedef struct {
    double *mean, *var;
    const float *x;
    int64_t N, C, HW;
} stats_job;

static void stats_task(void *arg, int64_t c0, int64_t c1) {
    stats_job *j = arg;
    bn_stats_kernel(j->mean, j->var, j->x, j->N, j->C, j->HW, c0, c1);
}

typedef struct {
    float *out;
    const float *x, *mean, *invstd, *weight, *bias;
    int64_t N, C, HW;
} apply_job;

static void apply_task(void *arg, int64_t c0, int64_t c1) {
    apply_job *j = arg;
    bn_apply_kernel(j->out, j->x, j->mean, j->invstd, j->weight, j->bias, j->N, j->C, j->HW, c0,
                    c1);
}

typedef struct {
    float *dx, *dweight, *dbias;
    bool dx_store;
    const float *dout, *x, *mean, *invstd, *weight;
    bool training;
    int64_t N, C, HW;
} backward_job;

static void backward_task(void *arg, int64_t c0, int64_t c1) {
    backward_job *j = arg;
    bn_backward_kernel(j->dx, j->dx_store, j->dweight, j->dbias, j->dout, j->x, j->mean, j->invstd, j->weight,
                       j->training, j->N, j->C, j->HW, c0, c1);
}

void tg_bn_backward(float *dx, bool dx_store, float *dweight, float *dbias, const float *dout,
                    const float *x, const float *mean, const float *invstd, const float *weight,
                    bool training, int64_t N, int64_t C, int64_t HW) {
    backward_job j = {dx, dweight, dbias, dx_store, dout, x, mean, invstd, weight, training,
                      N, C, HW};
    tg_parallel_for(C, N * HW, backward_task, &j);
}

// ---- graph op ----
static tg_status bn_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const bn_saved *s = n->saved;
    tg_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    float *dx = tg_grad_take(c, n, x);  // dx computed in place over dout when possible
    const bool dx_store = dx != NULL;
    if (!dx) dx = tg_grad_buf(c, x);
    float *dw = tg_grad_buf(c, w);
    float *db = tg_grad_buf(c, b);
    if ((x->requires_grad && !dx) || (w && w->requires_grad && !dw) ||
        (b && b->requires_grad && !db))
        return tg_ctx_status(c);
    tg_bn_backward(dx, dx_store, dw, db, dout, x->data, s->mean, s->invstd, w ? w->data : NULL,
                   s->training, s->N, s->C, s->HW);
    return TG_OK;
}

static const tg_op bn_op = {"NativeBatchNormBackward0", bn_backward};

static bool is_vec(const tg_tensor *t, int64_t C) { return !t || (t->ndim == 1 && t->shape[0] == C); }

// Declared in batchnorm2d.h (shared with bn_relu_maxpool.c).
bool tg_bn_prepare(tg_ctx *c, tg_tensor *x, tg_tensor *weight, tg_tensor *bias,
                       tg_tensor *running_mean, tg_tensor *running_var, bool training,
                       float momentum, float eps, float **mean_out, float **invstd_out) {
    char sx[TG_SHAPE_STR_MAX];
    if (x->ndim != 4) {
        tg_error_set(&c->err, TG_ERR_SHAPE, "batchnorm2d: input %s is not (N, C, H, W)",
                     tg_shape_str(x, sx, sizeof sx));
        return false;
    }
    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    if (!is_vec(weight, C) || !is_vec(bias, C) || !is_vec(running_mean, C) ||
        !is_vec(running_var, C)) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "batchnorm2d: weight, bias, running_mean and running_var must be (%lld,) "
                     "for input %s",
                     (long long)C, tg_shape_str(x, sx, sizeof sx));
        return false;
    }
    if (!training && (!running_mean || !running_var)) {
        tg_error_set(&c->err, TG_ERR_STATE, "batchnorm2d: eval mode needs running_mean and "
                                            "running_var");
        return false;
    }
    if (training && N * HW <= 1) {
        tg_error_set(&c->err, TG_ERR_VALUE,
                     "batchnorm2d: expected more than 1 value per channel when training, got "
                     "input %s",
                     tg_shape_str(x, sx, sizeof sx));
        return false;
    }
    float *mean = tg_ctx_alloc(c, (size_t)(C ? C : 1) * sizeof(float));
    float *invstd = tg_ctx_alloc(c, (size_t)(C ? C : 1) * sizeof(float));
    if (!mean || !invstd) return false;
    if (training) {
        double *dm = tg_ctx_alloc(c, (size_t)(C ? C : 1) * 2 * sizeof(double));
        if (!dm) return false;
        double *dv = dm + C;
        stats_job sj = {dm, dv, x->data, N, C, HW};
        tg_parallel_for(C, N * HW, stats_task, &sj);
        const double M = (double)(N * HW);
        for (int64_t ch = 0; ch < C; ch++) {
            mean[ch] = (float)dm[ch];
            invstd[ch] = (float)(1.0 / sqrt(dv[ch] + (double)eps));
            if (running_mean)
                running_mean->data[ch] = (float)((1.0 - momentum) * running_mean->data[ch] +
                                                 (double)momentum * dm[ch]);
            if (running_var)
                running_var->data[ch] = (float)((1.0 - momentum) * running_var->data[ch] +
                                                (double)momentum * dv[ch] * M / (M - 1.0));
        }
    } else {
        for (int64_t ch = 0; ch < C; ch++) {
            mean[ch] = running_mean->data[ch];
            invstd[ch] = (float)(1.0 / sqrt((double)running_var->data[ch] + (double)eps));
        }
    }
    *mean_out = mean;
    *invstd_out = invstd;
    return true;
}

tg_tensor *tg_batchnorm2d(tg_ctx *c, tg_tensor *x, tg_tensor *weight, tg_tensor *bias,
                          tg_tensor *running_mean, tg_tensor *running_var, bool training,
                          float momentum, float eps) {
    if (!x) return NULL;
    // checked before the output is allocated, so a bad call records nothing
    float *mean, *invstd;
    if (!tg_bn_prepare(c, x, weight, bias, running_mean, running_var, training, momentum, eps,
                    &mean, &invstd))
        return NULL;
    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    tg_tensor *in[3] = {x, weight, bias};
    bn_saved *s = NULL;
    tg_tensor *out = tg_op_output(c, &bn_op, 4, x->shape, 3, in, (void **)&s, sizeof *s);
    if (!out) return NULL;
    apply_job aj = {out->data, x->data, mean, invstd, weight ? weight->data : NULL,
                    bias ? bias->data : NULL, N, C, HW};
    tg_parallel_for(C, N * HW, apply_task, &aj);
    if (s) *s = (bn_saved){N, C, HW, training, mean, invstd};
    return out;
}

// ---- fused, without a graph ----
// out = relu(bn(x) + residual) in one pass (residual and relu optional; out may be x), the
// same float operations in the same order as tg_batchnorm2d, tg_add_ and tg_relu_ one
// after the other, so the results are bitwise equal.
typedef struct {
    float *out;
    const float *x, *res, *mean, *invstd, *weight, *bias;
    bool relu;
    int64_t N, C, HW;
} fused_job;

static inline float relu_f(float v) { return v <= 0.0f ? 0.0f : v; }  // NaN passes

static void fused_task(void *arg, int64_t c0, int64_t c1) {
    const fused_job *j = arg;
    const int64_t C = j->C, HW = j->HW;
    for (int64_t ch = c0; ch < c1; ch++) {
        float a, b;
        tg_bn_affine(j->mean, j->invstd, j->weight, j->bias, ch, &a, &b);
        for (int64_t n = 0; n < j->N; n++) {
            const float *p = j->x + (n * C + ch) * HW;
            const float *r = j->res ? j->res + (n * C + ch) * HW : NULL;
            float *q = j->out + (n * C + ch) * HW;
            if (r && j->relu)
                for (int64_t i = 0; i < HW; i++) q[i] = relu_f((p[i] * a + b) + r[i]);
            else if (r)
                for (int64_t i = 0; i < HW; i++) q[i] = (p[i] * a + b) + r[i];
            else if (j->relu)
                tg_bn_relu_plane(q, p, a, b, HW);
            else
                for (int64_t i = 0; i < HW; i++) q[i] = p[i] * a + b;
        }
    }
}

tg_tensor *tg_batchnorm2d_(tg_ctx *c, tg_tensor *x, tg_tensor *weight, tg_tensor *bias,
                           tg_tensor *running_mean, tg_tensor *running_var, bool training,
                           float momentum, float eps, tg_tensor *residual, bool relu,
                           tg_tensor *dst) {
    if (!x || (residual && !residual->data)) return NULL;
    bool record = tg_grad_enabled(c) &&
                  (x->requires_grad || (weight && weight->requires_grad) ||
                   (bias && bias->requires_grad) || (residual && residual->requires_grad));
    TG_ASSERT(!record || !dst, "batchnorm2d_: dst is only for a call that records no graph "
                               "(pass NULL to compute in place)");
    if (record) {  // the graph needs BN's input and output apart: the ops one by one
        tg_tensor *y = tg_batchnorm2d(c, x, weight, bias, running_mean, running_var, training,
                                      momentum, eps);
        if (residual) y = tg_add_(c, y, residual);
        return relu ? tg_relu_(c, y) : y;
    }
    char sx[TG_SHAPE_STR_MAX], so[TG_SHAPE_STR_MAX];
    if ((residual && !tg_shape_eq(x, residual)) || (dst && !tg_shape_eq(x, dst))) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "batchnorm2d_: residual and dst must have the input's shape %s, got %s",
                     tg_shape_str(x, sx, sizeof sx),
                     tg_shape_str(residual && !tg_shape_eq(x, residual) ? residual : dst, so,
                                  sizeof so));
        return NULL;
    }
    float *mean, *invstd;
    if (!tg_bn_prepare(c, x, weight, bias, running_mean, running_var, training, momentum, eps,
                    &mean, &invstd))
        return NULL;
    tg_tensor *out = dst ? dst : tg_ctx_wrap(c, x->ndim, x->shape, x->data);
    if (!out) return NULL;
    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    fused_job j = {out->data, x->data, residual ? residual->data : NULL, mean, invstd,
                   weight ? weight->data : NULL, bias ? bias->data : NULL, relu, N, C, HW};
    tg_parallel_for(C, N * HW, fused_task, &j);
    return out;
}

void tg_bn_relu_apply(float *out, const float *x, const float *mean, const float *invstd,
                      const float *weight, const float *bias, int64_t N, int64_t C, int64_t HW) {
    fused_job j = {out, x, NULL, mean, invstd, weight, bias, true, N, C, HW};
    tg_parallel_for(C, N * HW, fused_task, &j);
}
