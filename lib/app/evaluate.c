// evaluate.c: accuracy of a model file on a labelled folder (see evaluate.h), with the
// evaluation pipeline (Resize, CenterCrop) of the model's metadata, no gradients; and the
// evaluation loop that train's validation runs too.
#include "app/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/threads.h"
#include "core/escape.h"
#include "core/tensor.h"
#include "data/folder.h"
#include "data/loader.h"
#include "nn/resnet18.h"
#include "ops/ops.h"

// ---- a batch ----
tg_tensor *tg_batch_loss(tg_ctx *c, tg_resnet18 *model, const tg_batch *b,
                         float label_smoothing, tg_tensor **logits) {
    int64_t shape[4] = {b->n, 3, b->size, b->size};
    tg_tensor *x = tg_ctx_wrap(c, 4, shape, b->x);
    *logits = tg_resnet18_forward(c, model, x);
    int64_t *y = tg_ctx_alloc(c, sizeof *y * (size_t)b->n);
    for (int i = 0; y && i < b->n; i++) y[i] = b->labels[i];
    return y ? tg_cross_entropy(c, *logits, y, label_smoothing) : NULL;
}

// The top-scoring class of a row of K scores (the first of equal ones).
static int64_t argmax(const float *row, int64_t K) {
    int64_t best = 0;
    for (int64_t k = 1; k < K; k++)
        if (row[k] > row[best]) best = k;
    return best;
}

size_t tg_count_correct(const tg_tensor *logits, const int *labels, int n) {
    int64_t K = logits->shape[1];
    size_t correct = 0;
    for (int i = 0; i < n; i++) correct += argmax(logits->data + (int64_t)i * K, K) == labels[i];
    return correct;
}

// Adds a batch's rows (logits (n, K)) into s.
static void add_scores(tg_eval_sums *s, const tg_tensor *logits, const int *labels, int n) {
    int64_t K = logits->shape[1];
    for (int i = 0; i < n; i++) {
        const float *row = logits->data + (int64_t)i * K;
        int label = labels[i];
        int64_t best = argmax(row, K), rank = 0;
        // rank of the true class: how many classes score higher (ties: lower index first)
        for (int64_t k = 0; k < K; k++)
            rank += row[k] > row[label] || (row[k] == row[label] && k < label);
        s->correct += best == label;
        s->top1 += rank == 0;
        s->top5 += rank < 5;
        if (s->class_total) s->class_total[label]++;
        if (s->class_correct) s->class_correct[label] += best == label;
        if (s->confusion) s->confusion[(size_t)label * (size_t)K + (size_t)best]++;
    }
}

// ---- the loop ----
tg_status tg_eval_loop(tg_ctx *c, tg_resnet18 *model, tg_loader *l, const tg_eval_loop_opts *o,
                       tg_eval_sums *s, bool *stopped, tg_error *err) {
    *stopped = false;
    tg_status st = tg_loader_start_epoch(l, 0, 0, err);
    if (st) return st;
    bool training = model->training;
    tg_resnet18_train(model, false);
    tg_no_grad_enter(c);
    for (;;) {
        if (o->stop && *o->stop) {
            *stopped = true;
            break;
        }
        tg_batch b;
        if ((st = tg_loader_next(l, &b, err))) break;
        s->skipped += (size_t)b.bad;
        if (b.n == 0) break;
        tg_tensor *logits;
        tg_tensor *loss = tg_batch_loss(c, model, &b, 0.0f, &logits);
        if (!loss) {
            tg_status cs = tg_ctx_status(c) ? tg_ctx_status(c) : TG_ERR_STATE;
            st = o->what ? tg_error_set(err, cs, "%s: %s", o->what, tg_ctx_error(c))
                         : tg_error_set(err, cs, "%s", tg_ctx_error(c));
            break;
        }
        s->loss_sum += (double)loss->data[0] * b.n;
        add_scores(s, logits, b.labels, b.n);
        s->images += (size_t)b.n;
        tg_ctx_reset(c);
        if (o->progress) o->progress(o->user, s->images + s->skipped, o->total);
    }
    tg_ctx_reset(c);
    tg_no_grad_exit(c);
    tg_resnet18_train(model, training);
    return st;
}

void tg_eval_loader_opts(tg_loader_opts *o, const tg_model_meta *pre, int batch_size,
                         int compute_threads, tg_notice_fn notice, void *user) {
    tg_loader_opts_default(o);
    o->batch_size = batch_size;
    o->image_size = pre->image_size;
    o->resize = pre->resize;
    o->augment = 0;
    o->shuffle = 0;
    o->threads = compute_threads >= 2 ? 1 : 0;
    memcpy(o->mean, pre->mean, sizeof o->mean);
    memcpy(o->std, pre->std, sizeof o->std);
    o->notice = notice;
    o->notice_user = user;
}

// ---- tg_evaluate ----
void tg_eval_result_free(tg_eval_result *r) {
    tg_model_meta_free(&r->meta);
    free(r->class_total);
    free(r->class_correct);
    free(r->confusion);
    memset(r, 0, sizeof *r);
}

// The folder's classes must be the model's, in the same order.
static tg_status check_classes(const tg_folder *f, const char *data_dir, const char *model_path,
                               const tg_model_meta *m, tg_error *err) {
    int K = m->num_classes;
    bool same = f->num_classes == K;
    for (int i = 0; same && i < K; i++) same = !strcmp(f->classes[i], m->classes[i]);
    if (same) return TG_OK;
    int i = 0;
    while (i < K && i < f->num_classes && !strcmp(f->classes[i], m->classes[i])) i++;
    // names from folders: escaped for printing (core/escape.h)
    char dir[TG_ERR_MSG_MAX / 2], fc[200], mc[200];
    tg_path_escape(data_dir, dir, sizeof dir);
    tg_path_escape(i < f->num_classes ? f->classes[i] : "(none)", fc, sizeof fc);
    tg_path_escape(i < K ? m->classes[i] : "(none)", mc, sizeof mc);
    return tg_error_set(err, TG_ERR_VALUE,
                        "%s has %d classes, the model %s has %d; first difference at index "
                        "%d: folder \"%s\", model \"%s\"",
                        dir, f->num_classes, model_path, K, i, fc, mc);
}

static tg_status alloc_class_counts(tg_eval_result *r, tg_error *err) {
    size_t K = (size_t)r->meta.num_classes;
    r->class_total = calloc(K, sizeof *r->class_total);
    r->class_correct = calloc(K, sizeof *r->class_correct);
    r->confusion = calloc(K * K, sizeof *r->confusion);
    if (!r->class_total || !r->class_correct || !r->confusion)
        return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    return TG_OK;
}

// The loop's sums as the result's figures.
static tg_status finish_result(tg_eval_result *r, const tg_eval_sums *s, const char *data_dir,
                               tg_error *err) {
    r->images = s->images;
    r->skipped = s->skipped;
    if (r->images == 0) {
        char dir[TG_ERR_MSG_MAX / 2];
        tg_path_escape(data_dir, dir, sizeof dir);
        return tg_error_set(err, TG_ERR_VALUE, "%s: no readable image to evaluate", dir);
    }
    r->top1 = (double)s->top1 / (double)r->images;
    r->top5 = r->meta.num_classes >= 5 ? (double)s->top5 / (double)r->images : NAN;
    r->loss = s->loss_sum / (double)r->images;
    return TG_OK;
}

tg_status tg_evaluate(const char *model_path, const char *data_dir, const tg_eval_opts *o,
                      tg_eval_result *r, tg_error *err) {
    memset(r, 0, sizeof *r);
    tg_resnet18 *model = NULL;
    tg_folder f = {0};
    bool have_folder = false, stopped;
    tg_loader *l = NULL;
    tg_ctx c;
    tg_ctx_init(&c);
    const int threads = tg_app_set_threads(o->threads);
    tg_status st = tg_model_open(model_path, &model, &r->meta, err);
    if (st) goto fail;
    if ((st = tg_folder_scan(&f, data_dir, o->message, o->user, err))) goto fail;
    have_folder = true;
    if ((st = check_classes(&f, data_dir, model_path, &r->meta, err))) goto fail;
    if ((st = alloc_class_counts(r, err))) goto fail;
    tg_loader_opts lo;
    tg_eval_loader_opts(&lo, &r->meta, o->batch_size > 0 ? o->batch_size : 32, threads,
                        o->message, o->user);
    lo.max_bad_fraction = 1.0;  // evaluate what can be read, report the rest
    if ((st = tg_loader_open(&l, &f, &lo, err))) goto fail;
    tg_eval_sums s = {.class_total = r->class_total,
                      .class_correct = r->class_correct,
                      .confusion = r->confusion};
    tg_eval_loop_opts eo = {.progress = o->progress, .total = f.count, .user = o->user};
    if ((st = tg_eval_loop(&c, model, l, &eo, &s, &stopped, err))) goto fail;
    if (!(st = finish_result(r, &s, data_dir, err))) goto done;
fail:
    tg_eval_result_free(r);
done:
    if (l) tg_loader_close(l);
    if (have_folder) tg_folder_free(&f);
    tg_resnet18_free(model);
    tg_ctx_free(&c);
    return st;
}
