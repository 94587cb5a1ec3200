// predict.c: top-k softmax probabilities of single images (see predict.h).
#include "app/predict.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "app/threads.h"
#include "core/escape.h"
#include "data/loader.h"

void tg_softmax(const float *logits, int n, double *probs) {
    double mx = logits[0], sum = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    for (int i = 0; i < n; i++) sum += probs[i] = exp((double)logits[i] - mx);
    for (int i = 0; i < n; i++) probs[i] /= sum;
}

// Whether class a ranks before class b: the higher probability, ties (and NaN against NaN)
// by the lower index; NaN after every number.
static bool ranks_before(const double *p, int a, int b) {
    bool na = isnan(p[a]), nb = isnan(p[b]);
    if (na || nb) return na == nb ? a < b : nb;
    return p[a] != p[b] ? p[a] > p[b] : a < b;
}

// Restores the heap below position i: heap[0] is the kept class that ranks last.
static void sift_down(const double *p, int *heap, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, last = i;
        if (l < n && ranks_before(p, heap[last], heap[l])) last = l;
        if (r < n && ranks_before(p, heap[last], heap[r])) last = r;
        if (last == i) return;
        int t = heap[i];
        heap[i] = heap[last];
        heap[last] = t;
        i = last;
    }
}

// A partial selection: the k best are kept in a heap whose root is the worst of them, so
// each of the n classes costs O(log k) (predict --topk 1000 on 100000 classes stays fast;
// k selections of the best left cost O(k n)). Then the heap is sorted best first.
void tg_topk(const double *probs, int n, int k, int *idx) {
    if (k > n) k = n;
    if (k <= 0) return;
    for (int i = 0; i < k; i++) idx[i] = i;
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(probs, idx, k, i);
    for (int i = k; i < n; i++) {
        if (!ranks_before(probs, i, idx[0])) continue;
        idx[0] = i;
        sift_down(probs, idx, k, 0);
    }
    for (int m = k - 1; m > 0; m--) {  // the worst left goes to the end
        int t = idx[0];
        idx[0] = idx[m];
        idx[m] = t;
        sift_down(probs, idx, m, 0);
    }
}

tg_status tg_predictor_open(tg_predictor *p, const char *model_path, int threads, tg_error *err) {
    memset(p, 0, sizeof *p);
    tg_ctx_init(&p->ctx);
    tg_app_set_threads(threads);
    tg_image_opts_default(&p->image);
    tg_status st = tg_model_open(model_path, &p->model, &p->meta, err);
    if (st) goto fail;
    size_t S = (size_t)p->meta.image_size;
    p->x = malloc(sizeof *p->x * 3 * S * S);
    if (!p->x) {
        st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    return TG_OK;
fail:
    tg_predictor_close(p);
    return st;
}

tg_status tg_predictor_run(tg_predictor *p, const char *image_path, int k, tg_prediction *out,
                           int *n_out, tg_error *err) {
    int K = p->meta.num_classes;
    if (k < 1) k = 1;
    if (k > K) k = K;
    *n_out = 0;
    tg_status st = tg_data_load_eval(p->x, image_path, p->meta.resize, p->meta.image_size,
                                     p->meta.mean, p->meta.std, &p->image, err);
    if (st) return st;
    double *probs = malloc(sizeof *probs * (size_t)K);
    int *idx = malloc(sizeof *idx * (size_t)k);
    if (!probs || !idx) {
        free(probs);
        free(idx);
        return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    }
    tg_no_grad_enter(&p->ctx);
    int64_t shape[4] = {1, 3, p->meta.image_size, p->meta.image_size};
    tg_tensor *x = tg_ctx_wrap(&p->ctx, 4, shape, p->x);
    tg_tensor *logits = tg_resnet18_forward(&p->ctx, p->model, x);
    if (!logits) {
        char shown[TG_ERR_MSG_MAX / 2];
        tg_path_escape(image_path, shown, sizeof shown);
        st = tg_error_set(err, tg_ctx_status(&p->ctx) ? tg_ctx_status(&p->ctx) : TG_ERR_STATE,
                          "%s: %s", shown, tg_ctx_error(&p->ctx));
    } else {
        tg_softmax(logits->data, K, probs);
        tg_topk(probs, K, k, idx);
        for (int j = 0; j < k; j++) out[j] = (tg_prediction){idx[j], probs[idx[j]]};
        *n_out = k;
    }
    tg_ctx_reset(&p->ctx);
    tg_no_grad_exit(&p->ctx);
    free(probs);
    free(idx);
    return st;
}

void tg_predictor_close(tg_predictor *p) {
    tg_resnet18_free(p->model);
    tg_model_meta_free(&p->meta);
    free(p->x);
    tg_ctx_free(&p->ctx);
    p->model = NULL;
    p->x = NULL;
}
