// runreport.c: a run's report from its directory (runreport.h): config.json, metrics.jsonl,
// steps.csv and confusion.json into a tg_report; an evaluation's result into another.
#include "app/runreport.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/rundir.h"
#include "app/steplog.h"
#include "core/escape.h"
#include "io/atomic.h"

static tg_status nomem(tg_error *err) {
    return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
}

tg_status tg_run_confusion_save(const char *dir, int epoch, int k, char *const *classes,
                                const size_t *counts, tg_error *err) {
    cJSON *o = cJSON_CreateObject(), *names = cJSON_AddArrayToObject(o, "classes");
    cJSON *rows = cJSON_AddArrayToObject(o, "confusion");
    cJSON_AddNumberToObject(o, "epoch", epoch);
    for (int i = 0; names && rows && i < k; i++) {
        cJSON_AddItemToArray(names, cJSON_CreateString(classes[i]));
        cJSON *row = cJSON_CreateArray();
        for (int j = 0; row && j < k; j++)
            cJSON_AddItemToArray(row, cJSON_CreateNumber((double)counts[(size_t)i * k + j]));
        cJSON_AddItemToArray(rows, row);
    }
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    char *path = tg_rundir_path(dir, TG_RUN_CONFUSION);
    tg_status st = TG_OK;
    if (!text || !path) {
        st = nomem(err);
    } else {
        tg_atomic_file f;
        st = tg_atomic_open(&f, path, err);
        if (!st) st = tg_atomic_write(&f, text, strlen(text), err);
        if (!st) st = tg_atomic_write(&f, "\n", 1, err);
        if (!st) st = tg_atomic_commit(&f, err);
    }
    free(text);
    free(path);
    return st;
}

// The whole file (NUL-terminated) or NULL: *missing when it does not exist.
static char *read_text(const char *path, bool *missing, tg_error *err) {
    *missing = false;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *missing = errno == ENOENT;
        tg_error_set(err, TG_ERR_IO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t len = 0, cap = 65536;
    char *s = malloc(cap);
    while (s) {
        len += fread(s + len, 1, cap - 1 - len, f);
        if (len < cap - 1) break;
        char *q = realloc(s, cap * 2);
        if (!q) {
            free(s);
            s = NULL;
            break;
        }
        s = q;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!s) {
        nomem(err);
        return NULL;
    }
    if (bad) {
        free(s);
        tg_error_set(err, TG_ERR_IO, "%s: read failed", path);
        return NULL;
    }
    s[len] = 0;
    return s;
}

static double num_or_nan(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static tg_status load_metrics(const char *dir, tg_report *r, tg_error *err) {
    char *path = tg_rundir_path(dir, TG_RUN_METRICS);
    bool missing;
    char *text = path ? read_text(path, &missing, err) : NULL;
    tg_status st = TG_OK;
    if (!text) {
        st = !path ? nomem(err) : missing ? TG_OK : err->status;
        free(path);
        return st;
    }
    size_t lineno = 0;
    for (char *line = text; *line && !st;) {
        char *nl = strchr(line, '\n');
        if (!nl) break;  // being written
        *nl = 0;
        lineno++;
        cJSON *o = cJSON_Parse(line);
        double e = num_or_nan(o, "epoch");
        if (!o || !(e >= 1 && e <= 1e9)) {
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: line %zu is not an epoch's metrics",
                              path, lineno);
        } else {
            tg_report_epoch m = {
                .epoch = (int)e,
                .train_loss = num_or_nan(o, "train_loss"),
                .train_acc = num_or_nan(o, "train_acc"),
                .val_loss = num_or_nan(o, "val_loss"),
                .val_acc = num_or_nan(o, "val_acc"),
                .lr = num_or_nan(o, "lr"),
                .seconds = num_or_nan(o, "seconds"),
                .images_per_s = num_or_nan(o, "images_per_s"),
            };
            st = tg_report_add_epoch(r, &m, err);
        }
        cJSON_Delete(o);
        line = nl + 1;
    }
    free(text);
    free(path);
    return st;
}

static tg_status load_steps(const char *dir, tg_report *r, tg_error *err) {
    char *path = tg_rundir_path(dir, TG_RUN_STEPS);
    if (!path) return nomem(err);
    tg_status st = TG_OK;
    if (access(path, F_OK) == 0) {
        tg_steplog_row *rows;
        size_t n;
        st = tg_steplog_read(path, &rows, &n, err);
        for (size_t i = 0; !st && i < n; i++)
            st = tg_report_add_step(r, (double)rows[i].step, rows[i].epoch, rows[i].loss,
                                    rows[i].lr, err);
        if (!st) free(rows);
    }
    free(path);
    return st;
}

static tg_status load_confusion(const char *dir, tg_report *r, tg_error *err) {
    char *path = tg_rundir_path(dir, TG_RUN_CONFUSION);
    bool missing;
    char *text = path ? read_text(path, &missing, err) : NULL;
    if (!text) {
        tg_status st = !path ? nomem(err) : missing ? TG_OK : err->status;
        free(path);
        return st;
    }
    cJSON *o = cJSON_Parse(text);
    const cJSON *names = cJSON_GetObjectItemCaseSensitive(o, "classes");
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(o, "confusion");
    int k = cJSON_IsArray(names) ? cJSON_GetArraySize(names) : 0;
    bool ok = k >= 1 && k <= 100000 && cJSON_IsArray(rows) && cJSON_GetArraySize(rows) == k;
    char **cls = ok ? calloc((size_t)k, sizeof *cls) : NULL;
    uint64_t *cm = ok ? malloc((size_t)k * k * sizeof *cm) : NULL;
    ok = ok && cls && cm;
    for (int i = 0; ok && i < k; i++) {
        const cJSON *name = cJSON_GetArrayItem(names, i), *row = cJSON_GetArrayItem(rows, i);
        ok = cJSON_IsString(name) && cJSON_IsArray(row) && cJSON_GetArraySize(row) == k;
        if (ok) cls[i] = name->valuestring;
        for (int j = 0; ok && j < k; j++) {
            const cJSON *v = cJSON_GetArrayItem(row, j);
            ok = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e18;
            if (ok) cm[(size_t)i * k + j] = (uint64_t)v->valuedouble;
        }
    }
    tg_status st;
    if (!ok) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "%s: not {\"epoch\": E, \"classes\": [K names], \"confusion\": "
                          "[K rows of K counts]}",
                          path);
    } else {
        double e = num_or_nan(o, "epoch");
        char label[64];
        snprintf(label, sizeof label, "validation after epoch %.0f", e);
        st = tg_report_set_confusion(r, k, cls, cm, e >= 1 ? label : NULL, err);
    }
    free(cls);
    free(cm);
    cJSON_Delete(o);
    free(text);
    free(path);
    return st;
}

// ---- the text panel ----
static const cJSON *at(const cJSON *root, const char *group, const char *key) {
    const cJSON *g = group ? cJSON_GetObjectItemCaseSensitive(root, group) : root;
    return cJSON_GetObjectItemCaseSensitive(g, key);
}

static double num(const cJSON *root, const char *group, const char *key) {
    const cJSON *v = at(root, group, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *str(const cJSON *root, const char *group, const char *key, const char *def) {
    const cJSON *v = at(root, group, key);
    return cJSON_IsString(v) ? v->valuestring : def;
}

static void hms(char *buf, size_t n, double s) {
    long t = isfinite(s) && s > 0 ? lround(s) : 0;
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

// The config's main keys, then what the run measured.
static tg_status add_info(tg_report *r, const cJSON *cfg, tg_error *err) {
    char v[1024];
    enum { MAX_LINES = 24 };
    char lines[MAX_LINES][2][160];
    int n = 0;
#define LINE(key, ...)                                                   \
    do {                                                                 \
        if (n == MAX_LINES) break;                                       \
        snprintf(lines[n][0], sizeof lines[n][0], "%s", key);            \
        snprintf(lines[n][1], sizeof lines[n][1], __VA_ARGS__);          \
        n++;                                                             \
    } while (0)
    LINE("data.train", "%s", str(cfg, "data", "train", "?"));
    LINE("data.val", "%s", str(cfg, "data", "val", "none"));
    LINE("model.weights", "%s", str(cfg, "model", "weights", "none (random initialisation)"));
    v[0] = 0;
    const cJSON *fr = cJSON_GetObjectItemCaseSensitive(cfg, "freeze"), *f;
    cJSON_ArrayForEach(f, fr) {
        if (!cJSON_IsString(f)) continue;
        size_t k = strlen(v);
        snprintf(v + k, sizeof v - k, "%s%s", k ? " " : "", f->valuestring);
    }
    LINE("freeze", "%s", v[0] ? v : "nothing");
    LINE("image size", "%.0f (resize %.0f), augment %s", num(cfg, "data", "image_size"),
         num(cfg, "data", "resize"), cJSON_IsTrue(at(cfg, "data", "augment")) ? "on" : "off");
    LINE("epochs, batch", "%.0f, %.0f", num(cfg, "train", "epochs"),
         num(cfg, "train", "batch_size"));
    LINE("optimizer", "%s, lr %g, momentum %g%s", str(cfg, "optimizer", "type", "sgd"),
         num(cfg, "optimizer", "lr"), num(cfg, "optimizer", "momentum"),
         cJSON_IsTrue(at(cfg, "optimizer", "nesterov")) ? " nesterov" : "");
    LINE("weight decay", "%g", num(cfg, "optimizer", "weight_decay"));
    const char *sched = str(cfg, "scheduler", "type", "constant");
    if (!strcmp(sched, "step"))
        LINE("scheduler", "step: x%g every %.0f epochs", num(cfg, "scheduler", "gamma"),
             num(cfg, "scheduler", "step_size"));
    else if (!strcmp(sched, "cosine"))
        LINE("scheduler", "cosine to %g", num(cfg, "scheduler", "min_lr"));
    else
        LINE("scheduler", "%s", sched);
    LINE("label smoothing", "%g", num(cfg, "loss", "label_smoothing"));
    LINE("seed", "%.0f", num(cfg, "train", "seed"));
    // measured
    double secs = 0, ips = NAN;
    for (size_t i = 0; i < r->n_epochs; i++) {
        if (isfinite(r->epochs[i].seconds)) secs += r->epochs[i].seconds;
        ips = r->epochs[i].images_per_s;
    }
    LINE("steps", "%zu in %zu epoch%s", r->n_steps, r->n_epochs, r->n_epochs == 1 ? "" : "s");
    char t[32];
    hms(t, sizeof t, secs);
    LINE("elapsed", "%s (finished epochs)", t);
    if (isfinite(ips)) LINE("images/s", "%.1f (last epoch)", ips);
    int best = -1;
    for (size_t i = 0; i < r->n_epochs; i++)
        if (isfinite(r->epochs[i].val_acc) &&
            (best < 0 || r->epochs[i].val_acc > r->epochs[best].val_acc))
            best = (int)i;
    if (best >= 0)
        LINE("best val top-1", "%.2f%% (epoch %d)", 100 * r->epochs[best].val_acc,
             r->epochs[best].epoch);
    if (r->n_epochs && isfinite(r->epochs[r->n_epochs - 1].val_loss))
        LINE("last val", "loss %.4f, top-1 %.2f%%", r->epochs[r->n_epochs - 1].val_loss,
             100 * r->epochs[r->n_epochs - 1].val_acc);
#undef LINE
    for (int i = 0; i < n; i++) {
        tg_status st = tg_report_add_info(r, lines[i][0], lines[i][1], err);
        if (st) return st;
    }
    return TG_OK;
}

tg_status tg_run_report_load(const char *dir, tg_report *r, tg_error *err) {
    tg_report_init(r, TG_REPORT_RUN);
    char *path = tg_rundir_path(dir, TG_RUN_CONFIG);
    bool missing;
    char *text = path ? read_text(path, &missing, err) : NULL;
    if (!text) {
        tg_status st = path ? err->status : nomem(err);
        if (missing) tg_error_prefix(err, "%s is not a train run's output directory", dir);
        free(path);
        return st;
    }
    cJSON *cfg = cJSON_Parse(text);
    free(text);
    tg_status st = TG_OK;
    if (!cJSON_IsObject(cfg))
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: not a JSON object", path);
    if (!st) st = load_metrics(dir, r, err);
    if (!st) st = load_steps(dir, r, err);
    if (!st) st = load_confusion(dir, r, err);
    if (!st) st = add_info(r, cfg, err);
    if (!st) {
        char title[1200], shown[1024];
        tg_path_escape(dir, shown, sizeof shown);  // as the caller names it
        int done = r->n_epochs ? r->epochs[r->n_epochs - 1].epoch : 0;
        snprintf(title, sizeof title, "tgfinetune run %s: epoch %d of %.0f", shown, done,
                 num(cfg, "train", "epochs"));
        st = tg_report_set_title(r, title, err);
    }
    cJSON_Delete(cfg);
    free(path);
    return st;
}

tg_status tg_run_report_write(const char *dir, const char *png, tg_error *err) {
    tg_report r;
    tg_status st = tg_run_report_load(dir, &r, err);
    char *path = NULL;
    if (!st && !png && !(png = path = tg_rundir_path(dir, TG_RUN_REPORT))) st = nomem(err);
    if (!st) st = tg_report_write_png(&r, png, err);
    tg_report_free(&r);
    free(path);
    return st;
}

tg_status tg_eval_report_write(const tg_eval_result *res, const char *model, const char *data,
                               const char *png, tg_error *err) {
    tg_report r;
    tg_report_init(&r, TG_REPORT_EVAL);
    int k = res->meta.num_classes;
    uint64_t *cm = malloc((size_t)k * k * sizeof *cm);
    tg_status st = cm ? TG_OK : nomem(err);
    for (size_t i = 0; cm && i < (size_t)k * k; i++) cm[i] = res->confusion[i];
    char label[64], v[1200];
    snprintf(label, sizeof label, "%zu images", res->images);
    if (!st) st = tg_report_set_confusion(&r, k, res->meta.classes, cm, label, err);
    const struct {
        const char *key, *fmt;
        double v;
    } nums[] = {{"images", "%.0f", (double)res->images},
                {"skipped", "%.0f (unreadable)", (double)res->skipped},
                {"top-1", "%.2f%%", 100 * res->top1},
                {"top-5", "%.2f%%", 100 * res->top5},
                {"loss", "%.4f (mean cross-entropy)", res->loss}};
    if (!st) st = tg_report_add_info(&r, "model", model, err);
    if (!st) st = tg_report_add_info(&r, "data", data, err);
    for (size_t i = 0; !st && i < sizeof nums / sizeof nums[0]; i++) {
        if (isnan(nums[i].v)) continue;  // top-5 with fewer than 5 classes
        snprintf(v, sizeof v, nums[i].fmt, nums[i].v);
        st = tg_report_add_info(&r, nums[i].key, v, err);
    }
    if (!st) {
        char shown[1024];
        tg_path_escape(data, shown, sizeof shown);
        snprintf(v, sizeof v, "tgfinetune eval %s: top-1 %.2f%%", shown, 100 * res->top1);
        st = tg_report_set_title(&r, v, err);
    }
    if (!st) st = tg_report_write_png(&r, png, err);
    free(cm);
    tg_report_free(&r);
    return st;
}
