// evaluate.c: accuracy of a model file on a labelled folder (see evaluate.h), with the
// evaluation pipeline (Resize, CenterCrop) of the model's metadata, no gradients.
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

void tg_eval_result_free(tg_eval_result *r) {
    tg_model_meta_free(&r->meta);
    free(r->class_total);
    free(r->class_correct);
    free(r->confusion);
    memset(r, 0, sizeof *r);
}

static void notice(void *user, const char *msg) {
    const tg_eval_opts *o = user;
    if (o->message) o->message(o->user, msg);
}

tg_status tg_evaluate(const char *model_path, const char *data_dir, const tg_eval_opts *o,
                      tg_eval_result *r, tg_error *err) {
    memset(r, 0, sizeof *r);
    tg_resnet18 *model = NULL;
    tg_folder f = {0};
    bool have_folder = false;
    tg_loader *l = NULL;
    tg_ctx c;
    tg_ctx_init(&c);
    c.threads = tg_app_set_threads(o->threads);
    double loss_sum = 0;
    size_t top1 = 0, top5 = 0;
    tg_status st = tg_model_open(model_path, &model, &r->meta, err);
    if (st) goto fail;
    int K = r->meta.num_classes;
    if ((st = tg_folder_scan(&f, data_dir, notice, (void *)o, err))) goto fail;
    have_folder = true;
    // the folder's classes must be the model's, in the same order
    bool same = f.num_classes == K;
    for (int i = 0; same && i < K; i++) same = !strcmp(f.classes[i], r->meta.classes[i]);
    if (!same) {
        int i = 0;
        while (i < K && i < f.num_classes && !strcmp(f.classes[i], r->meta.classes[i])) i++;
        // names from folders: escaped for printing (core/escape.h)
        char dir[TG_ERR_MSG_MAX / 2], fc[200], mc[200];
        tg_path_escape(data_dir, dir, sizeof dir);
        tg_path_escape(i < f.num_classes ? f.classes[i] : "(none)", fc, sizeof fc);
        tg_path_escape(i < K ? r->meta.classes[i] : "(none)", mc, sizeof mc);
        st = tg_error_set(err, TG_ERR_VALUE,
                          "%s has %d classes, the model %s has %d; first difference at index "
                          "%d: folder \"%s\", model \"%s\"",
                          dir, f.num_classes, model_path, K, i, fc, mc);
        goto fail;
    }
    r->class_total = calloc((size_t)K, sizeof *r->class_total);
    r->class_correct = calloc((size_t)K, sizeof *r->class_correct);
    r->confusion = calloc((size_t)K * (size_t)K, sizeof *r->confusion);
    if (!r->class_total || !r->class_correct || !r->confusion) {
        st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    tg_loader_opts lo;
    tg_loader_opts_default(&lo);
    lo.batch_size = o->batch_size > 0 ? o->batch_size : 32;
    lo.image_size = r->meta.image_size;
    lo.resize = r->meta.resize;
    lo.augment = 0;
    lo.shuffle = 0;
    lo.threads = c.threads >= 2 ? 1 : 0;
    lo.max_bad_fraction = 1.0;  // evaluate what can be read, report the rest
    memcpy(lo.mean, r->meta.mean, sizeof lo.mean);
    memcpy(lo.std, r->meta.std, sizeof lo.std);
    lo.notice = notice;
    lo.notice_user = (void *)o;
    if ((st = tg_loader_open(&l, &f, &lo, err))) goto fail;
    if ((st = tg_loader_start_epoch(l, 0, 0, err))) goto fail;
    tg_no_grad_enter(&c);
    for (;;) {
        tg_batch b;
        if ((st = tg_loader_next(l, &b, err))) break;
        r->skipped += (size_t)b.bad;
        if (b.n == 0) break;
        int64_t shape[4] = {b.n, 3, b.size, b.size};
        tg_tensor *x = tg_ctx_wrap(&c, 4, shape, b.x);
        tg_tensor *logits = tg_resnet18_forward(&c, model, x);
        int64_t *y = tg_ctx_alloc(&c, sizeof *y * (size_t)b.n);
        for (int i = 0; y && i < b.n; i++) y[i] = b.labels[i];
        tg_tensor *loss = y ? tg_cross_entropy(&c, logits, y, 0.0f) : NULL;
        if (!loss) {
            st = tg_error_set(err, tg_ctx_status(&c) ? tg_ctx_status(&c) : TG_ERR_STATE, "%s",
                              tg_ctx_error(&c));
            break;
        }
        loss_sum += (double)loss->data[0] * b.n;
        for (int i = 0; i < b.n; i++) {
            const float *row = logits->data + (int64_t)i * K;
            int label = b.labels[i], rank = 0, best = 0;
            for (int k = 1; k < K; k++)
                if (row[k] > row[best]) best = k;
            // rank of the true class: how many classes score higher (ties: lower index first)
            for (int k = 0; k < K; k++)
                rank += row[k] > row[label] || (row[k] == row[label] && k < label);
            top1 += rank == 0;
            top5 += rank < 5;
            r->class_total[label]++;
            r->class_correct[label] += best == label;
            r->confusion[(size_t)label * (size_t)K + (size_t)best]++;
        }
        r->images += (size_t)b.n;
        tg_ctx_reset(&c);
        if (o->progress) o->progress(o->user, r->images + r->skipped, f.count);
    }
    tg_no_grad_exit(&c);
    if (st) goto fail;
    if (r->images == 0) {
        char dir[TG_ERR_MSG_MAX / 2];
        tg_path_escape(data_dir, dir, sizeof dir);
        st = tg_error_set(err, TG_ERR_VALUE, "%s: no readable image to evaluate", dir);
        goto fail;
    }
    r->top1 = (double)top1 / (double)r->images;
    r->top5 = K >= 5 ? (double)top5 / (double)r->images : NAN;
    r->loss = loss_sum / (double)r->images;
    goto done;
fail:
    tg_eval_result_free(r);
done:
    if (l) tg_loader_close(l);
    if (have_folder) tg_folder_free(&f);
    tg_resnet18_free(model);
    tg_ctx_free(&c);
    return st;
}
