// report.c: the report's data (report.h): growing arrays of steps, epochs and text lines,
// the confusion matrix, and the smoothing of the loss curve. Drawing is report_draw.c,
// the panels' geometry report_layout.c.
#include "app/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static tg_status nomem(tg_error *err) {
    return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
}

// Grows *p (elem bytes each) to hold n + 1 elements.
static bool grow(void **p, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return true;
    size_t c = *cap ? *cap * 2 : 64;
    void *q = realloc(*p, c * elem);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

void tg_report_init(tg_report *r, tg_report_kind kind) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
}

static void free_confusion(tg_report *r) {
    for (int i = 0; i < r->k; i++) free(r->classes[i]);
    free(r->classes);
    free(r->confusion);
    free(r->confusion_label);
    r->classes = NULL;
    r->confusion = NULL;
    r->confusion_label = NULL;
    r->k = 0;
}

void tg_report_free(tg_report *r) {
    free(r->title);
    free(r->step_x);
    free(r->step_epoch);
    free(r->step_loss);
    free(r->step_lr);
    free(r->epochs);
    free_confusion(r);
    for (size_t i = 0; i < 2 * r->n_info; i++) free(r->info[i]);
    free(r->info);
    memset(r, 0, sizeof *r);
}

tg_status tg_report_set_title(tg_report *r, const char *title, tg_error *err) {
    char *t = strdup(title);
    if (!t) return nomem(err);
    free(r->title);
    r->title = t;
    return TG_OK;
}

tg_status tg_report_add_step(tg_report *r, double step, int epoch, double loss, double lr,
                             tg_error *err) {
    size_t n = r->n_steps, cap = r->cap_steps;
    // the four arrays share one capacity: grow each from the same old one
    bool ok = grow((void **)&r->step_x, &cap, n, sizeof(double));
    cap = r->cap_steps;
    ok = ok && grow((void **)&r->step_epoch, &cap, n, sizeof(int));
    cap = r->cap_steps;
    ok = ok && grow((void **)&r->step_loss, &cap, n, sizeof(double));
    cap = r->cap_steps;
    ok = ok && grow((void **)&r->step_lr, &cap, n, sizeof(double));
    if (!ok) return nomem(err);
    r->cap_steps = cap;
    r->step_x[n] = step;
    r->step_epoch[n] = epoch;
    r->step_loss[n] = loss;
    r->step_lr[n] = lr;
    r->n_steps = n + 1;
    return TG_OK;
}

tg_status tg_report_add_epoch(tg_report *r, const tg_report_epoch *e, tg_error *err) {
    if (!grow((void **)&r->epochs, &r->cap_epochs, r->n_epochs, sizeof *e)) return nomem(err);
    r->epochs[r->n_epochs++] = *e;
    return TG_OK;
}

tg_status tg_report_set_confusion(tg_report *r, int k, char *const *classes,
                                  const uint64_t *counts, const char *label, tg_error *err) {
    TG_ASSERT(k > 0 && classes && counts, "a confusion matrix needs k > 0 classes and counts");
    free_confusion(r);
    r->classes = calloc((size_t)k, sizeof *r->classes);
    r->confusion = malloc((size_t)k * (size_t)k * sizeof *r->confusion);
    r->confusion_label = label ? strdup(label) : NULL;
    if (!r->classes || !r->confusion || (label && !r->confusion_label)) goto fail;
    r->k = k;
    for (int i = 0; i < k; i++)
        if (!(r->classes[i] = strdup(classes[i]))) goto fail;
    memcpy(r->confusion, counts, (size_t)k * (size_t)k * sizeof *counts);
    return TG_OK;
fail:
    if (!r->k) r->k = k;  // free what was made
    free_confusion(r);
    return nomem(err);
}

tg_status tg_report_add_info(tg_report *r, const char *key, const char *value, tg_error *err) {
    size_t cap = r->cap_info;
    if (!grow((void **)&r->info, &cap, 2 * r->n_info + 1, sizeof(char *))) return nomem(err);
    r->cap_info = cap;
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return nomem(err);
    }
    r->info[2 * r->n_info] = k;
    r->info[2 * r->n_info + 1] = v;
    r->n_info++;
    return TG_OK;
}

size_t tg_report_smooth_window(size_t n) {
    size_t w = n / 30;
    return w < 1 ? 1 : w > 200 ? 200 : w;
}

void tg_report_smooth(const double *y, size_t n, double *out) {
    double beta = 1 - 2.0 / ((double)tg_report_smooth_window(n) + 1);
    double m = 0, wsum = 0, last = NAN;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(y[i])) {
            m = beta * m + (1 - beta) * y[i];
            wsum = beta * wsum + (1 - beta);
            last = m / wsum;
        }
        out[i] = last;
    }
}
