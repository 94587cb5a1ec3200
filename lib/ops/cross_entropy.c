// cross_entropy.c: torch.nn.functional.cross_entropy(logits, labels, weight=w,
// label_smoothing=eps) with mean reduction (grad_fn NllLossBackward0), as
// aten/src/ATen/native/LossNLL.cpp (cross_entropy_loss_label_smoothing) computes it.
//
// logp = log_softmax(logits). Without weights the target distribution of a sample is
// q = (1 - eps) * onehot(label) + eps / K, loss_n = -sum_k q_k logp_k, which is PyTorch's
// (1 - eps) * nll + eps * mean_k(-logp_k); loss = mean over the batch.
// Backward: dlogits = dout / N * (softmax - q).
//
// With class weights w (K,), PyTorch's weighted mean divides both terms by the sum of the
// targets' weights W = sum_n w[y_n]:
//   nll    = sum_n w[y_n] * (-logp[n, y_n]) / W
//   smooth = sum_n sum_c w_c * (-logp[n, c]) / W
//   loss   = (1 - eps) * nll + (eps / K) * smooth
// Backward, with p = softmax and S = sum_c w_c:
//   dlogits[n, k] = dout / W * (p[n, k] * ((1 - eps) w[y_n] + (eps / K) S)
//                               - (1 - eps) w[y_n] [k == y_n] - (eps / K) w_k)
#include <math.h>
#include <string.h>

#include "ops.h"

typedef struct {
    int64_t N, K;
    float smoothing;
    float *prob;      // (N, K) softmax
    int64_t *labels;  // (N,)
    float *weight;    // (K,) class weights, NULL for none
    double wsum;      // weighted: W = sum_n weight[labels[n]]
} ce_saved;

// dx (N, K) += dout * dloss/dlogits without weights (see the top of the file).
static void ce_backward_plain(float *dx, const ce_saved *s, float dout) {
    const float scale = dout / (float)s->N;
    const float off = s->smoothing / (float)s->K, on = 1.0f - s->smoothing + off;
    for (int64_t i = 0; i < s->N; i++) {
        const float *p = s->prob + i * s->K;
        float *d = dx + i * s->K;
        for (int64_t k = 0; k < s->K; k++)
            d[k] += scale * (p[k] - (k == s->labels[i] ? on : off));
    }
}

// The same with class weights, in double per element.
static void ce_backward_weighted(float *dx, const ce_saved *s, float dout) {
    const double eps = s->smoothing, scale = (double)dout / s->wsum;
    const double off = eps / (double)s->K;
    double S = 0;
    for (int64_t k = 0; k < s->K; k++) S += s->weight[k];
    for (int64_t i = 0; i < s->N; i++) {
        const float *p = s->prob + i * s->K;
        float *d = dx + i * s->K;
        const int64_t y = s->labels[i];
        const double wy = (1.0 - eps) * s->weight[y];
        const double pcoef = wy + off * S;
        for (int64_t k = 0; k < s->K; k++) {
            double g = p[k] * pcoef - off * s->weight[k] - (k == y ? wy : 0.0);
            d[k] += (float)(scale * g);
        }
    }
}

static tg_status ce_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const ce_saved *s = n->saved;
    float *dx = tg_grad_buf(c, n->in[0]);
    if (!dx) return tg_ctx_status(c);
    if (s->weight)
        ce_backward_weighted(dx, s, dout[0]);
    else
        ce_backward_plain(dx, s, dout[0]);
    return TG_OK;
}

static const tg_op ce_op = {"NllLossBackward0", ce_backward};

static bool ce_check(tg_ctx *c, const tg_tensor *logits, const int64_t *labels,
                     const float *weight, float label_smoothing) {
    char sx[TG_SHAPE_STR_MAX];
    if (logits->ndim != 2 || logits->shape[0] < 1 || logits->shape[1] < 1) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "cross_entropy: logits %s are not (N, K) with N, K >= 1",
                     tg_shape_str(logits, sx, sizeof sx));
        return false;
    }
    if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f)) {
        tg_error_set(&c->err, TG_ERR_VALUE,
                     "cross_entropy: label_smoothing %g is not in [0, 1]", label_smoothing);
        return false;
    }
    const int64_t N = logits->shape[0], K = logits->shape[1];
    TG_ASSERT(labels, "cross_entropy needs one label per row of the logits");
    for (int64_t i = 0; i < N; i++)
        if (labels[i] < 0 || labels[i] >= K) {
            tg_error_set(&c->err, TG_ERR_VALUE,
                         "cross_entropy: label %lld of sample %lld is out of range for %lld "
                         "classes (logits %s)",
                         (long long)labels[i], (long long)i, (long long)K,
                         tg_shape_str(logits, sx, sizeof sx));
            return false;
        }
    for (int64_t k = 0; weight && k < K; k++)
        if (!(weight[k] >= 0.0f) || !isfinite(weight[k])) {
            tg_error_set(&c->err, TG_ERR_VALUE,
                         "cross_entropy: weight %g of class %lld is not a finite number >= 0",
                         weight[k], (long long)k);
            return false;
        }
    return true;
}

tg_tensor *tg_cross_entropy(tg_ctx *c, tg_tensor *logits, const int64_t *labels,
                            float label_smoothing) {
    return tg_cross_entropy_weighted(c, logits, labels, NULL, label_smoothing);
}

tg_tensor *tg_cross_entropy_weighted(tg_ctx *c, tg_tensor *logits, const int64_t *labels,
                                     const float *weight, float label_smoothing) {
    if (!logits) return NULL;
    if (!ce_check(c, logits, labels, weight, label_smoothing)) return NULL;
    const int64_t N = logits->shape[0], K = logits->shape[1];
    tg_tensor *in[1] = {logits};
    ce_saved *s = NULL;
    tg_tensor *out = tg_op_output(c, &ce_op, 0, NULL, 1, in, (void **)&s, sizeof *s);
    if (!out) return NULL;
    float *prob = NULL, *w = NULL;
    int64_t *lab = NULL;
    if (s) {
        prob = tg_ctx_alloc(c, (size_t)(N * K) * sizeof(float));
        lab = tg_ctx_alloc(c, (size_t)N * sizeof(int64_t));
        w = weight ? tg_ctx_alloc(c, (size_t)K * sizeof(float)) : NULL;
        if (!prob || !lab || (weight && !w)) return NULL;
        memcpy(lab, labels, (size_t)N * sizeof(int64_t));
        if (w) memcpy(w, weight, (size_t)K * sizeof(float));
    }
    const double eps = label_smoothing;
    double total = 0, wsum = 0, S = 0;  // S = sum_c w_c
    for (int64_t k = 0; weight && k < K; k++) S += weight[k];
    for (int64_t i = 0; i < N; i++) {
        const float *x = logits->data + i * K;
        float mx = x[0];
        for (int64_t k = 1; k < K; k++)
            if (x[k] > mx || x[k] != x[k]) mx = x[k];
        double se = 0, sum_x = 0;
        for (int64_t k = 0; k < K; k++) {
            se += exp((double)x[k] - mx);
            sum_x += weight ? (double)weight[k] * x[k] : x[k];
        }
        const double lse = mx + log(se);  // logp_k = x_k - lse
        const double nll = lse - x[labels[i]];
        if (weight) {
            // sum_c w_c * (-logp_c) = lse * S - sum_c w_c x_c
            const double wy = weight[labels[i]];
            total += (1.0 - eps) * wy * nll + eps / (double)K * (lse * S - sum_x);
            wsum += wy;
        } else {
            const double smooth = lse - sum_x / (double)K;  // mean_k(-logp_k)
            total += (1.0 - eps) * nll + eps * smooth;
        }
        if (prob)
            for (int64_t k = 0; k < K; k++) prob[i * K + k] = (float)exp((double)x[k] - lse);
    }
    out->data[0] = (float)(weight ? total / wsum : total / (double)N);
    if (s) *s = (ce_saved){N, K, label_smoothing, prob, lab, w, wsum};
    return out;
}
