// batchnorm2d.h: BatchNorm's pieces shared with the fused ops (internal to lib/ops).
// bn_relu_maxpool.c (ResNet's stem) normalises and pools plane by plane and runs BN's
// backward on gradient planes it rebuilds in cache, with the same float operations in the
// same order as tg_batchnorm2d's kernels, so the two paths agree bitwise.
#ifndef TG_OPS_BATCHNORM2D_H
#define TG_OPS_BATCHNORM2D_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tensor.h"

// Checks the arguments (errors name the shapes), then fills mean and invstd (C,) from the
// batch (training: also updates the running stats) or from the running stats (eval).
bool tg_bn_prepare(tg_ctx *c, tg_tensor *x, tg_tensor *weight, tg_tensor *bias,
                   tg_tensor *running_mean, tg_tensor *running_var, bool training,
                   float momentum, float eps, float **mean_out, float **invstd_out);

// out = relu(x * a + b) per channel (a = invstd * weight, b = bias - mean * a) over (N, C,
// HW), split over threads by channel; out may be x.
void tg_bn_relu_apply(float *out, const float *x, const float *mean, const float *invstd,
                      const float *weight, const float *bias, int64_t N, int64_t C, int64_t HW);

// BN's backward over (N, C, HW), split over threads by channel: dx (+=, or = when dx_store:
// then dx may be dout), dweight and dbias (C,) +=; any may be NULL.
void tg_bn_backward(float *dx, bool dx_store, float *dweight, float *dbias, const float *dout,
                    const float *x, const float *mean, const float *invstd, const float *weight,
                    bool training, int64_t N, int64_t C, int64_t HW);

// Channel ch's normalisation as one multiply-add, y = x * a + b: a = invstd * weight,
// b = bias - mean * a (weight and bias may be NULL: 1 and 0). Every forward kernel computes
// them here, so the fused ops' numbers are the plain op's bitwise.
static inline void tg_bn_affine(const float *mean, const float *invstd, const float *weight,
                                const float *bias, int64_t ch, float *a, float *b) {
    *a = invstd[ch] * (weight ? weight[ch] : 1.0f);
    *b = (bias ? bias[ch] : 0.0f) - mean[ch] * *a;
}

// One plane of tg_bn_relu_apply: q = relu(p * a + b), NaN passing; q may be p.
static inline void tg_bn_relu_plane(float *q, const float *p, float a, float b, int64_t HW) {
    for (int64_t i = 0; i < HW; i++) {
        const float v = p[i] * a + b;
        q[i] = v <= 0.0f ? 0.0f : v;
    }
}

// One plane's share of BN's backward sums: *sum_d += sum(d), *sum_dx += sum(d * (p - m)).
static inline void tg_bn_plane_sums(const float *d, const float *p, float m, int64_t HW,
                                    double *sum_d, double *sum_dx) {
    float a1[8] = {0}, a2[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= HW; i += 8)
        for (int k = 0; k < 8; k++) {
            a1[k] += d[i + k];
            a2[k] += d[i + k] * (p[i + k] - m);
        }
    for (int k = 0; k < 8; k++) {
        *sum_d += a1[k];
        *sum_dx += a2[k];
    }
    for (; i < HW; i++) {
        *sum_d += d[i];
        *sum_dx += (double)d[i] * (p[i] - m);
    }
}

// One plane of BN's training-mode input gradient: q (=, or += unless store) =
// (d - gm - (p - m) * proj) * scale; q may be d when storing.
static inline void tg_bn_plane_dx(float *q, bool store, const float *d, const float *p, float m,
                                  float gm, float proj, float scale, int64_t HW) {
    if (store)
        for (int64_t i = 0; i < HW; i++) q[i] = (d[i] - gm - (p[i] - m) * proj) * scale;
    else
        for (int64_t i = 0; i < HW; i++) q[i] += (d[i] - gm - (p[i] - m) * proj) * scale;
}

// The same in eval mode (the statistics are constants): q (= or +=) d * scale.
static inline void tg_bn_plane_dx_eval(float *q, bool store, const float *d, float scale,
                                       int64_t HW) {
    if (store)
        for (int64_t i = 0; i < HW; i++) q[i] = d[i] * scale;
    else
        for (int64_t i = 0; i < HW; i++) q[i] += d[i] * scale;
}

#endif
