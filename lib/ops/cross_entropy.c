// cross_entropy.c: torch.nn.functional.cross_entropy(logits, labels,
// label_smoothing=eps) with mean reduction, no class weights (grad_fn NllLossBackward0).
//
// logp = log_softmax(logits); per sample the target distribution is
// q = (1 - eps) * onehot(label) + eps / K, and loss_n = -sum_k q_k logp_k, which is
// PyTorch's (1 - eps) * nll + eps * mean_k(-logp_k). loss = mean over the batch.
// Backward: dlogits = dout / N * (softmax - q).
#include <math.h>
#include <string.h>

#include "ops.h"

typedef struct {
    int64_t N, K;
    float smoothing;
    float *prob;      // (N, K) softmax
    int64_t *labels;  // (N,)
} ce_saved;

static tg_status ce_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const ce_saved *s = n->saved;
    float *dx = tg_grad_buf(c, n->in[0]);
    if (!dx) return tg_ctx_status(c);
    const float scale = dout[0] / (float)s->N;
    const float off = s->smoothing / (float)s->K, on = 1.0f - s->smoothing + off;
    for (int64_t i = 0; i < s->N; i++) {
        const float *p = s->prob + i * s->K;
        float *d = dx + i * s->K;
        for (int64_t k = 0; k < s->K; k++)
            d[k] += scale * (p[k] - (k == s->labels[i] ? on : off));
    }
    return TG_OK;
}

static const tg_op ce_op = {"NllLossBackward0", ce_backward};

tg_tensor *tg_cross_entropy(tg_ctx *c, tg_tensor *logits, const int64_t *labels,
                            float label_smoothing) {
    if (!logits) return NULL;
    char sx[TG_SHAPE_STR_MAX];
    if (logits->ndim != 2 || logits->shape[0] < 1 || logits->shape[1] < 1) {
        tg_error_set(&c->err, TG_ERR_SHAPE,
                     "cross_entropy: logits %s are not (N, K) with N, K >= 1",
                     tg_shape_str(logits, sx, sizeof sx));
        return NULL;
    }
    if (!(label_smoothing >= 0.0f && label_smoothing <= 1.0f)) {
        tg_error_set(&c->err, TG_ERR_VALUE,
                     "cross_entropy: label_smoothing %g is not in [0, 1]", label_smoothing);
        return NULL;
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
            return NULL;
        }
    tg_tensor *in[1] = {logits};
    ce_saved *s = NULL;
    tg_tensor *out = tg_op_output(c, &ce_op, 0, NULL, 1, in, (void **)&s, sizeof *s);
    if (!out) return NULL;
    float *prob = NULL;
    int64_t *lab = NULL;
    if (s) {
        prob = tg_ctx_alloc(c, (size_t)(N * K) * sizeof(float));
        lab = tg_ctx_alloc(c, (size_t)N * sizeof(int64_t));
        if (!prob || !lab) return NULL;
        memcpy(lab, labels, (size_t)N * sizeof(int64_t));
    }
    const double eps = label_smoothing;
    double total = 0;
    for (int64_t i = 0; i < N; i++) {
        const float *x = logits->data + i * K;
        float mx = x[0];
        for (int64_t k = 1; k < K; k++)
            if (x[k] > mx || x[k] != x[k]) mx = x[k];
        double se = 0, sum_x = 0;
        for (int64_t k = 0; k < K; k++) {
            se += exp((double)x[k] - mx);
            sum_x += x[k];
        }
        const double lse = mx + log(se);  // logp_k = x_k - lse
        const double nll = lse - x[labels[i]];
        const double smooth = lse - sum_x / (double)K;  // mean_k(-logp_k)
        total += (1.0 - eps) * nll + eps * smooth;
        if (prob)
            for (int64_t k = 0; k < K; k++) prob[i * K + k] = (float)exp((double)x[k] - lse);
    }
    out->data[0] = (float)(total / (double)N);
    if (s) *s = (ce_saved){N, K, label_smoothing, prob, lab};
    return out;
}
