// train.c: the training driver (see train.h): PyTorch's fine-tuning loop
//   model = resnet18(); model.load_state_dict(...); freeze; model.fc = nn.Linear(512, N)
//   for epoch: for x, y in loader: opt.zero_grad(); loss = ce(model(x), y);
//              loss.backward(); opt.step()
// plus validation, metrics, atomic checkpoints and exact resume.
#include "app/train.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/modelfile.h"
#include "app/threads.h"
#include "app/weights.h"
#include "core/escape.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "data/folder.h"
#include "data/loader.h"
#include "io/atomic.h"
#include "io/statedict.h"
#include "nn/resnet18.h"
#include "nn/sgd.h"
#include "ops/ops.h"

#define CKPT_MOMENTUM_PREFIX "optimizer.momentum_buffer."

// Running sums of one epoch: saved in the checkpoint so that a resumed epoch reports the
// same metrics as an uninterrupted one.
typedef struct {
    double loss_sum;  // sum over images of the loss
    size_t correct, images, skipped, steps;
    size_t dropped;   // images of one-image batches left out (see train_one_ok)
    double seconds;   // time spent in the epoch before this process (resume)
} epoch_acc;

// Where a run stands: what the checkpoint records.
typedef struct {
    int epoch;          // 0-based epoch in progress
    size_t position;    // next item position in that epoch (= item count: validation pending)
    uint64_t global_step;
    epoch_acc acc;
    double best_val_acc;  // -1: none yet
    bool head_new;        // the head was replaced after freezing (re-done on resume)
} run_state;

typedef struct {
    const tg_config *cfg;
    const tg_train_opts *opts;
    tg_error *err;
    char *out;  // output directory
    tg_resnet18 *model;
    tg_model_meta meta;
    tg_sgd sgd;
    bool sgd_ready;
    tg_rng rng;
    char *metrics;  // metrics.jsonl content
    size_t metrics_len;
    size_t files;       // training images when the run (re)started, and
    uint64_t files_fp;  // the fingerprint of their list (files_fingerprint)
    size_t val_files;   // the same for the validation folder (0 and 0 without one)
    uint64_t val_fp;
} trainer;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void say(trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(trainer *t, const char *fmt, ...) {
    if (!t->opts->message) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    t->opts->message(t->opts->user, buf);
}

static void notice_cb(void *user, const char *msg) {
    trainer *t = user;
    if (t->opts->message) t->opts->message(t->opts->user, msg);
}

static char *path_in(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

static tg_status mkdir_p(const char *path, tg_error *err) {
    char *buf = strdup(path);
    if (!buf) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST) {
            tg_status st = tg_error_set(err, TG_ERR_IO, "%s: cannot create the directory: %s",
                                        buf, strerror(errno));
            free(buf);
            return st;
        }
        *p = c;
        if (!c) break;
    }
    free(buf);
    struct stat sb;
    if (stat(path, &sb) || !S_ISDIR(sb.st_mode))
        return tg_error_set(err, TG_ERR_IO, "%s: not a directory", path);
    return TG_OK;
}

static tg_status write_atomic(const char *path, const char *text, size_t n, tg_error *err) {
    tg_atomic_file f;
    tg_status st = tg_atomic_open(&f, path, err);
    if (!st) st = tg_atomic_write(&f, text, n, err);
    if (!st) st = tg_atomic_commit(&f, err);
    if (st) tg_atomic_abort(&f);
    return st;
}

// A save killed between mkstemp and rename (kill -9, a power cut) leaves its temporary
// file: tg_atomic_open names it "<target>.tmp.XXXXXX" (mkstemp's six letters and digits).
// Those of this run's own outputs are removed at the start; nothing else is touched.
static void remove_stale_tmp(trainer *t) {
    static const char *const own[] = {"model.safetensors", "best.safetensors",
                                      "checkpoint.safetensors", "metrics.jsonl", "config.json"};
    DIR *d = opendir(t->out);
    if (!d) return;  // not created yet: nothing stale
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *name = e->d_name;
        bool stale = false;
        for (size_t i = 0; !stale && i < sizeof own / sizeof own[0]; i++) {
            size_t n = strlen(own[i]);
            if (strncmp(name, own[i], n) || strncmp(name + n, ".tmp.", 5)) continue;
            const char *x = name + n + 5;
            stale = strlen(x) == 6;
            for (int k = 0; stale && k < 6; k++) stale = isalnum((unsigned char)x[k]) != 0;
        }
        if (!stale) continue;
        char *p = path_in(t->out, name);
        if (p && unlink(p) == 0) say(t, "removed %s, left by an interrupted save", p);
        free(p);
    }
    closedir(d);
}

// ---- last run ----
char *tg_train_last_run(const char *dir, tg_error *err) {
    char *path = path_in(dir ? dir : ".tgfinetune", "last_run");
    if (!path) {
        tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        tg_error_set(err, TG_ERR_IO,
                     "no --model given and no train run recorded in this directory (%s: %s)",
                     path, strerror(errno));
        free(path);
        return NULL;
    }
    char line[4096];
    char *r = fgets(line, sizeof line, f);
    fclose(f);
    if (!r || !line[0] || line[0] == '\n') {
        tg_error_set(err, TG_ERR_FORMAT, "%s: empty; run train again or pass --model", path);
        free(path);
        return NULL;
    }
    free(path);
    line[strcspn(line, "\n")] = 0;
    char *s = strdup(line);
    if (!s) tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    return s;
}

static tg_status record_last_run(trainer *t) {
    const char *dir = t->opts->last_run_dir ? t->opts->last_run_dir : ".tgfinetune";
    tg_status st = mkdir_p(dir, t->err);
    if (st) return st;
    char *abs = realpath(t->out, NULL);
    char *path = path_in(dir, "last_run");
    size_t n = strlen(abs ? abs : t->out) + 2;
    char *text = malloc(n);
    if (!path || !text) {
        st = tg_error_set(t->err, TG_ERR_NOMEM, "out of memory");
    } else {
        snprintf(text, n, "%s\n", abs ? abs : t->out);
        st = write_atomic(path, text, strlen(text), t->err);
    }
    free(abs);
    free(path);
    free(text);
    return st;
}

// ---- model setup ----
static tg_status apply_freeze(trainer *t) {
    const tg_config *cfg = t->cfg;
    for (int i = 0; i < cfg->n_freeze; i++) {
        if (tg_resnet18_freeze(t->model, cfg->freeze[i]) > 0) continue;
        return tg_error_set(t->err, TG_ERR_CONFIG,
                            "%s: freeze pattern \"%s\" matches no parameter; parameter names "
                            "look like conv1.weight, bn1.weight, layer1.0.conv1.weight, "
                            "layer2.0.downsample.0.weight, layer4.1.bn2.bias, fc.weight, fc.bias "
                            "('*' matches any run of characters, dots included: \"layer1.*\")",
                            cfg->source ? cfg->source : "config", cfg->freeze[i]);
    }
    return TG_OK;
}

static tg_status make_sgd(trainer *t) {
    tg_tensor *params[TG_RESNET18_N_PARAMS];
    int n = tg_resnet18_params(t->model, params);
    tg_sgd_options o = {
        .lr = (float)t->cfg->lr,
        .momentum = (float)t->cfg->momentum,
        .dampening = (float)t->cfg->dampening,
        .weight_decay = (float)t->cfg->weight_decay,
        .nesterov = t->cfg->nesterov,
    };
    tg_status st = tg_sgd_init(&t->sgd, params, n, o, t->err);
    if (st) return st;
    t->sgd_ready = true;
    // A step is zero_grad, forward, backward, step, with nothing between backward and step
    // (the config has no gradient accumulation or clipping), so each parameter is updated
    // during backward as soon as its gradient is complete: bitwise the same as the step
    // after backward, without reading every gradient and weight back from memory. A failed
    // backward ends the run without saving, so a partly updated model is never written.
    tg_sgd_set_fused(&t->sgd, true);
    return TG_OK;
}

// ---- the training file list ----
static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3u;
    return h;
}

static uint64_t fnv1a_u64(uint64_t h, uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
    return fnv1a(h, b, 8);
}

// 64-bit FNV-1a of the class names and of every image's class, path relative to the root
// and size, in the loader's order: a checkpoint records it so that --resume on a folder whose
// files were renamed, replaced or swapped (same count) is refused instead of silently
// training the rest of the run on other data. Modification times are left out: a copy of
// the folder (cp without -p, rsync) must still resume.
static uint64_t files_fingerprint(const tg_folder *f) {
    uint64_t h = 0xcbf29ce484222325u;
    h = fnv1a_u64(h, (uint64_t)f->num_classes);
    for (int c = 0; c < f->num_classes; c++)
        h = fnv1a(h, f->classes[c], strlen(f->classes[c]) + 1);
    size_t rl = strlen(f->root);
    h = fnv1a_u64(h, f->count);
    for (size_t i = 0; i < f->count; i++) {
        const char *path = f->items[i].path;
        const char *rel = !strncmp(path, f->root, rl) && path[rl] == '/' ? path + rl + 1 : path;
        struct stat st;
        uint64_t size = stat(path, &st) == 0 ? (uint64_t)st.st_size : UINT64_MAX;
        h = fnv1a_u64(h, (uint64_t)f->items[i].label);
        h = fnv1a(h, rel, strlen(rel) + 1);
        h = fnv1a_u64(h, size);
    }
    return h;
}

// ---- checkpoint ----
static tg_status put_meta_fmt(tg_statedict *sd, const char *key, tg_error *err, const char *fmt,
                              ...) __attribute__((format(printf, 4, 5)));
static tg_status put_meta_fmt(tg_statedict *sd, const char *key, tg_error *err, const char *fmt,
                              ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return tg_statedict_set_meta(sd, key, buf, err);
}

static tg_status save_checkpoint(trainer *t, const run_state *rs) {
    tg_statedict sd;
    tg_statedict_init(&sd);
    tg_error *err = t->err;
    tg_status st = tg_weights_export(t->model, &sd, err);
    for (int i = 0; !st && i < t->sgd.n; i++) {
        const float *buf = tg_sgd_buffer(&t->sgd, i);
        if (!buf) continue;
        const tg_tensor *p = t->sgd.params[i];
        char name[128];
        snprintf(name, sizeof name, CKPT_MOMENTUM_PREFIX "%s", p->name);
        st = tg_statedict_add(&sd, name, TG_DT_F32, p->ndim, p->shape, buf, err);
    }
    const tg_rng *r = &t->rng;
    if (!st) st = tg_model_meta_put(&sd, &t->meta, err);
    if (!st) st = tg_statedict_set_meta(&sd, "tgfinetune_checkpoint", "1", err);
    if (!st) st = put_meta_fmt(&sd, "epoch", err, "%d", rs->epoch);
    if (!st) st = put_meta_fmt(&sd, "position", err, "%zu", rs->position);
    if (!st) st = put_meta_fmt(&sd, "global_step", err, "%" PRIu64, rs->global_step);
    if (!st) st = put_meta_fmt(&sd, "epoch_loss_sum", err, "%a", rs->acc.loss_sum);
    if (!st)
        st = put_meta_fmt(&sd, "epoch_counts", err, "%zu %zu %zu %zu", rs->acc.correct,
                          rs->acc.images, rs->acc.skipped, rs->acc.steps);
    if (!st) st = put_meta_fmt(&sd, "epoch_dropped", err, "%zu", rs->acc.dropped);
    if (!st) st = put_meta_fmt(&sd, "epoch_seconds", err, "%a", rs->acc.seconds);
    if (!st) st = put_meta_fmt(&sd, "best_val_acc", err, "%a", rs->best_val_acc);
    if (!st) st = tg_statedict_set_meta(&sd, "head", rs->head_new ? "new" : "loaded", err);
    if (!st)
        st = put_meta_fmt(&sd, "rng", err,
                          "%016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %d %a",
                          r->s[0], r->s[1], r->s[2], r->s[3], r->has_spare, r->spare);
    if (!st)
        st = put_meta_fmt(&sd, "order", err, "%d %" PRIu64 " %d %d", t->cfg->batch_size,
                          t->cfg->seed, t->cfg->shuffle, t->cfg->augment);
    if (!st)
        st = put_meta_fmt(&sd, "train_files", err, "%zu %016" PRIx64, t->files, t->files_fp);
    if (!st)
        st = put_meta_fmt(&sd, "val_files", err, "%zu %016" PRIx64, t->val_files, t->val_fp);
    char *path = st ? NULL : path_in(t->out, "checkpoint.safetensors");
    if (!st && !path) st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    if (!st) st = tg_statedict_save(path, &sd, err);
    free(path);
    tg_statedict_free(&sd);
    return st;
}

static bool meta_num(const tg_statedict *sd, const char *key, const char *fmt, int n, ...) {
    const char *v = tg_statedict_get_meta(sd, key);
    if (!v) return false;
    va_list ap;
    va_start(ap, n);
    int got = vsscanf(v, fmt, ap);
    va_end(ap);
    return got == n;
}

static bool meta_double(const tg_statedict *sd, const char *key, double *out) {
    const char *v = tg_statedict_get_meta(sd, key);
    if (!v) return false;
    char *end;
    *out = strtod(v, &end);
    return end != v && !*end;
}

// Reads checkpoint.safetensors: validates it against the config and the folder's classes,
// rebuilds the model (freeze, head as the run did it), loads weights and momentum buffers.
static tg_status load_checkpoint(trainer *t, const tg_folder *train, run_state *rs) {
    tg_error *err = t->err;
    char *path = path_in(t->out, "checkpoint.safetensors");
    tg_statedict sd, model_sd;
    tg_statedict_init(&sd);
    tg_statedict_init(&model_sd);
    tg_model_meta meta = {0};
    tg_status st = TG_OK;
    if (!path) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    if (access(path, F_OK) != 0) {
        st = tg_error_set(err, TG_ERR_CONFIG,
                          "%s: no checkpoint to resume from (run train without --resume)", path);
        goto done;
    }
    if ((st = tg_statedict_load(path, &sd, err))) goto done;
    if (!tg_statedict_get_meta(&sd, "tgfinetune_checkpoint")) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: not a tgfinetune checkpoint", path);
        goto done;
    }
    if ((st = tg_model_meta_get(&sd, path, &meta, err))) goto done;
    // the class folders must be the ones the run started with
    bool same = meta.num_classes == train->num_classes;
    for (int i = 0; same && i < meta.num_classes; i++)
        same = !strcmp(meta.classes[i], train->classes[i]);
    if (!same) {
        // names from folders: escaped for printing (core/escape.h)
        char was[256], root[TG_ERR_MSG_MAX / 2], now[256];
        tg_path_escape(meta.classes[0], was, sizeof was);
        tg_path_escape(train->root, root, sizeof root);
        tg_path_escape(train->classes[0], now, sizeof now);
        st = tg_error_set(err, TG_ERR_CONFIG,
                          "%s: the checkpoint was trained on %d classes (%s, ...) but %s has %d "
                          "(%s, ...); resume needs the same class folders (restore them, or "
                          "start a new run without --resume)",
                          path, meta.num_classes, was, root, train->num_classes, now);
        goto done;
    }
    tg_rng *r = &t->rng;
    int epoch = 0, has_spare = 0;
    double spare = 0;
    char spare_s[64] = {0};
    if (!meta_num(&sd, "epoch", "%d", 1, &epoch) ||
        !meta_num(&sd, "position", "%zu", 1, &rs->position) ||
        !meta_num(&sd, "global_step", "%" SCNu64, 1, &rs->global_step) ||
        !meta_double(&sd, "epoch_loss_sum", &rs->acc.loss_sum) ||
        !meta_num(&sd, "epoch_counts", "%zu %zu %zu %zu", 4, &rs->acc.correct, &rs->acc.images,
                  &rs->acc.skipped, &rs->acc.steps) ||
        !meta_double(&sd, "epoch_seconds", &rs->acc.seconds) ||
        !meta_double(&sd, "best_val_acc", &rs->best_val_acc) ||
        !meta_num(&sd, "rng", "%" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %d %63s", 6,
                  &r->s[0], &r->s[1], &r->s[2], &r->s[3], &has_spare, spare_s) ||
        epoch < 0) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: checkpoint metadata is incomplete or malformed",
                          path);
        goto done;
    }
    // The files must be the ones the run started with (same count, names, sizes): else the
    // rest of the run would train on other data without a word.
    char root[TG_ERR_MSG_MAX / 2];
    tg_path_escape(train->root, root, sizeof root);
    static const char HOW[] = "the training folder changed since the run started; resume "
                              "needs the same files (restore them, or start a new run without "
                              "--resume)";
    const char *files = tg_statedict_get_meta(&sd, "train_files");
    size_t was_count = 0;
    uint64_t was_fp = 0;
    if (!files) {
        say(t, "notice: %s records no training file list (written by an older tgfinetune): "
               "cannot check that %s is unchanged since the run started",
            path, root);
    } else if (!meta_num(&sd, "train_files", "%zu %" SCNx64, 2, &was_count, &was_fp)) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: checkpoint metadata \"train_files\" is "
                          "malformed", path);
        goto done;
    } else if (was_count != train->count) {
        st = tg_error_set(err, TG_ERR_CONFIG,
                          "%s: the run started with %zu training images but %s now has %zu: %s",
                          path, was_count, root, train->count, HOW);
        goto done;
    } else if (was_fp != t->files_fp) {
        st = tg_error_set(err, TG_ERR_CONFIG,
                          "%s: files changed since the checkpoint: %s has the same %zu images but "
                          "their names or sizes differ: %s",
                          path, root, train->count, HOW);
        goto done;
    }
    // A changed validation folder does not change training, so it is allowed; but the best
    // accuracy so far (which picks best.safetensors) was measured on the old set, and later
    // epochs are compared with it: say so. (Absent in checkpoints written before it was kept.)
    size_t was_val = 0;
    uint64_t was_val_fp = 0;
    if (meta_num(&sd, "val_files", "%zu %" SCNx64, 2, &was_val, &was_val_fp) &&
        (was_val != t->val_files || was_val_fp != t->val_fp)) {
        char best[64] = "no validation yet";
        if (rs->best_val_acc >= 0)
            snprintf(best, sizeof best, "best so far %.2f%%", 100.0 * rs->best_val_acc);
        say(t, "notice: %s: the validation folder changed since the run started (%zu images "
               "then, %zu now%s): best.safetensors was picked on the old set (%s) and later "
               "epochs are compared with that figure",
            path, was_val, t->val_files, was_val == t->val_files ? ", other names or sizes" : "",
            best);
    }
    // A folder that lost images since the run started would put the position past the end:
    // the rest of the epoch would be skipped without a word (for checkpoints without the list).
    if (rs->position > train->count) {
        st = tg_error_set(err, TG_ERR_CONFIG,
                          "%s: the checkpoint is at image %zu of epoch %d but %s now has %zu "
                          "images: the training folder changed since the run started (resume "
                          "needs the same folders)",
                          path, rs->position, epoch + 1, root, train->count);
        goto done;
    }
    // absent in checkpoints written before one-image batches were left out
    if (!meta_num(&sd, "epoch_dropped", "%zu", 1, &rs->acc.dropped)) rs->acc.dropped = 0;
    spare = strtod(spare_s, NULL);
    r->has_spare = has_spare;
    r->spare = spare;
    rs->epoch = epoch;
    const char *head = tg_statedict_get_meta(&sd, "head");
    rs->head_new = head && !strcmp(head, "new");
    int bs = 0, sh = 0, au = 0;
    uint64_t seed = 0;
    if (meta_num(&sd, "order", "%d %" SCNu64 " %d %d", 4, &bs, &seed, &sh, &au) &&
        (bs != t->cfg->batch_size || seed != t->cfg->seed || sh != t->cfg->shuffle ||
         au != t->cfg->augment))
        say(t,
            "warning: train.batch_size, train.seed, train.shuffle or data.augment differ from "
            "the interrupted run; the resumed run will not match an uninterrupted one");

    // the model as the run built it, then the checkpoint's tensors over it (its random
    // initialisation draws from a scratch generator: t->rng stays as the checkpoint says)
    tg_rng init_rng = t->rng;
    t->model = tg_resnet18_new(train->num_classes, &init_rng, err);
    if (!t->model) {
        st = err->status ? err->status : TG_ERR_NOMEM;
        goto done;
    }
    t->model->freeze_bn_stats = t->cfg->freeze_bn_stats;
    if ((st = apply_freeze(t))) goto done;
    if (rs->head_new) {
        // the head's values come from the checkpoint
        if ((st = tg_resnet18_replace_fc(t->model, train->num_classes, &init_rng, err))) goto done;
    }
    const size_t plen = strlen(CKPT_MOMENTUM_PREFIX);
    for (size_t i = 0; i < sd.n; i++) {
        const tg_sd_entry *e = &sd.entries[i];
        if (!strncmp(e->name, CKPT_MOMENTUM_PREFIX, plen)) continue;
        if ((st = tg_statedict_add(&model_sd, e->name, e->dtype, e->ndim, e->shape, e->data, err)))
            goto done;
    }
    if ((st = tg_weights_load(t->model, &model_sd, false, NULL, err))) {
        tg_error_prefix(err, "%s", path);
        goto done;
    }
    if ((st = make_sgd(t))) goto done;
    for (size_t i = 0; i < sd.n; i++) {
        const tg_sd_entry *e = &sd.entries[i];
        if (strncmp(e->name, CKPT_MOMENTUM_PREFIX, plen)) continue;
        int k = tg_sgd_find(&t->sgd, e->name + plen);
        if (k < 0 || e->dtype != TG_DT_F32) {
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: unexpected tensor %s", path, e->name);
            goto done;
        }
        if ((st = tg_sgd_set_buffer(&t->sgd, k, e->data, tg_sd_entry_numel(e), err))) {
            tg_error_prefix(err, "%s: %s", path, e->name);
            goto done;
        }
    }
done:
    tg_model_meta_free(&meta);
    tg_statedict_free(&sd);
    tg_statedict_free(&model_sd);
    free(path);
    return st;
}

// ---- metrics.jsonl ----
static tg_status metrics_append(trainer *t, const char *line) {
    size_t n = strlen(line);
    char *m = realloc(t->metrics, t->metrics_len + n + 2);
    if (!m) return tg_error_set(t->err, TG_ERR_NOMEM, "out of memory");
    t->metrics = m;
    memcpy(m + t->metrics_len, line, n);
    m[t->metrics_len + n] = '\n';
    t->metrics_len += n + 1;
    m[t->metrics_len] = 0;
    char *path = path_in(t->out, "metrics.jsonl");
    if (!path) return tg_error_set(t->err, TG_ERR_NOMEM, "out of memory");
    tg_status st = write_atomic(path, t->metrics, t->metrics_len, t->err);
    free(path);
    return st;
}

// On resume: keeps the lines of the epochs the checkpoint has completed.
static void metrics_reload(trainer *t, int completed) {
    char *path = path_in(t->out, "metrics.jsonl");
    FILE *f = path ? fopen(path, "r") : NULL;
    free(path);
    if (!f) return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        cJSON *o = cJSON_Parse(line);
        const cJSON *e = o ? cJSON_GetObjectItemCaseSensitive(o, "epoch") : NULL;
        bool keep = e && cJSON_IsNumber(e) && e->valuedouble >= 1 && e->valuedouble <= completed;
        cJSON_Delete(o);
        if (!keep) continue;
        size_t n = strlen(line);
        char *m = realloc(t->metrics, t->metrics_len + n + 2);
        if (!m) break;
        t->metrics = m;
        memcpy(m + t->metrics_len, line, n + 1);
        m[t->metrics_len + n] = '\n';
        t->metrics_len += n + 1;
        m[t->metrics_len] = 0;
    }
    fclose(f);
}

static tg_status write_metrics_line(trainer *t, const tg_epoch_metrics *em) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return tg_error_set(t->err, TG_ERR_NOMEM, "out of memory");
    cJSON_AddNumberToObject(o, "epoch", em->epoch);
    cJSON_AddNumberToObject(o, "train_loss", em->train_loss);
    cJSON_AddNumberToObject(o, "train_acc", em->train_acc);
    if (em->has_val) {
        cJSON_AddNumberToObject(o, "val_loss", em->val_loss);
        cJSON_AddNumberToObject(o, "val_acc", em->val_acc);
    } else {
        cJSON_AddNullToObject(o, "val_loss");
        cJSON_AddNullToObject(o, "val_acc");
    }
    cJSON_AddNumberToObject(o, "lr", em->lr);
    cJSON_AddNumberToObject(o, "images", (double)em->images);
    cJSON_AddNumberToObject(o, "skipped", (double)em->skipped);
    cJSON_AddNumberToObject(o, "seconds", round(em->seconds * 1000) / 1000);
    cJSON_AddNumberToObject(o, "images_per_s", round(em->images_per_s * 100) / 100);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return tg_error_set(t->err, TG_ERR_NOMEM, "out of memory");
    tg_status st = metrics_append(t, s);
    free(s);
    return st;
}

// ---- one step ----
static int64_t *labels_i64(tg_ctx *c, const tg_batch *b) {
    int64_t *y = tg_ctx_alloc(c, sizeof *y * (size_t)b->n);
    for (int i = 0; y && i < b->n; i++) y[i] = b->labels[i];
    return y;
}

static size_t count_correct(const tg_tensor *logits, const int *labels, int n) {
    int64_t K = logits->shape[1];
    size_t correct = 0;
    for (int i = 0; i < n; i++) {
        const float *row = logits->data + (int64_t)i * K;
        int64_t best = 0;
        for (int64_t k = 1; k < K; k++)
            if (row[k] > row[best]) best = k;
        correct += best == labels[i];
    }
    return correct;
}

// Whether a training batch of n images can train: BatchNorm in training mode needs more
// than one value per channel (PyTorch raises "Expected more than 1 value per channel when
// training" too), and with data.image_size <= 32 layer4's output is 1x1, so a batch of one
// image gives exactly one. The loop leaves such a batch out (counted, said once per epoch)
// instead of failing after a whole epoch; it is left out again on resume, so a resumed run
// still ends with the same weights. ceil(S / 32) is the side of layer4's output.
static bool train_one_ok(const tg_config *cfg, int n) {
    return n > 1 || (cfg->image_size + 31) / 32 > 1;
}

static tg_status ctx_fail(trainer *t, tg_ctx *c, const char *what) {
    tg_status st = tg_ctx_status(c);
    return tg_error_set(t->err, st ? st : TG_ERR_STATE, "%s: %s", what, tg_ctx_error(c));
}

// Validation over the whole val folder in eval mode without gradients. *stopped set when
// the stop flag rose (the results are then incomplete).
static tg_status validate(trainer *t, tg_ctx *c, tg_loader *vl, double *loss, double *acc,
                          bool *stopped) {
    tg_status st = tg_loader_start_epoch(vl, 0, 0, t->err);
    if (st) return st;
    tg_resnet18_train(t->model, false);
    tg_no_grad_enter(c);
    double loss_sum = 0;
    size_t correct = 0, images = 0;
    *stopped = false;
    for (;;) {
        if (t->opts->stop && *t->opts->stop) {
            *stopped = true;
            break;
        }
        tg_batch b;
        if ((st = tg_loader_next(vl, &b, t->err))) break;
        if (b.n == 0) break;
        int64_t shape[4] = {b.n, 3, b.size, b.size};
        tg_tensor *x = tg_ctx_wrap(c, 4, shape, b.x);
        tg_tensor *logits = tg_resnet18_forward(c, t->model, x);
        int64_t *y = labels_i64(c, &b);
        tg_tensor *l = y ? tg_cross_entropy(c, logits, y, 0.0f) : NULL;
        if (!l) {
            st = ctx_fail(t, c, "validation");
            break;
        }
        loss_sum += (double)l->data[0] * b.n;
        correct += count_correct(logits, b.labels, b.n);
        images += (size_t)b.n;
        tg_ctx_reset(c);
    }
    tg_ctx_reset(c);
    tg_no_grad_exit(c);
    tg_resnet18_train(t->model, true);
    *loss = images ? loss_sum / (double)images : NAN;
    *acc = images ? (double)correct / (double)images : NAN;
    return st;
}

static void loader_opts(const tg_config *cfg, tg_loader_opts *o, bool train, int threads,
                        trainer *t) {
    tg_loader_opts_default(o);
    o->batch_size = cfg->batch_size;
    o->image_size = cfg->image_size;
    o->resize = cfg->resize;
    o->augment = train && cfg->augment;
    o->shuffle = train && cfg->shuffle;
    o->seed = cfg->seed;
    o->threads = threads;
    o->max_bad_fraction = cfg->max_bad_fraction;
    for (int i = 0; i < 3; i++) {
        o->mean[i] = (float)cfg->mean[i];
        o->std[i] = (float)cfg->std[i];
    }
    o->image.max_pixels = cfg->max_pixels;
    o->image.exif_orientation = cfg->exif_orientation;
    o->notice = notice_cb;
    o->notice_user = t;
}

tg_status tg_train_run(const tg_config *cfg, const tg_train_opts *opts, tg_error *err) {
    trainer T = {.cfg = cfg, .opts = opts, .err = err};
    trainer *t = &T;
    tg_folder train = {0}, val = {0};
    bool have_train = false, have_val = false;
    tg_loader *tl = NULL, *vl = NULL;
    tg_ctx c;
    tg_ctx_init(&c);
    run_state rs = {.best_val_acc = -1};
    tg_status st = TG_OK;
    char *text = NULL, *path = NULL;

    int threads = tg_app_set_threads(opts->threads ? opts->threads : cfg->threads);
    c.threads = threads;
    // decoding is light next to a step; one background decoder overlaps it with compute
    int loader_threads = threads >= 2 ? 1 : 0;

    // paths of the config that do not exist are config errors (exit 2), named by key
    const struct {
        const char *key, *path;
    } paths[] = {{"data.train", cfg->train_dir}, {"data.val", cfg->val_dir},
                 {"model.weights", opts->resume ? NULL : cfg->weights}};
    for (int i = 0; i < 3; i++) {
        if (paths[i].path && access(paths[i].path, R_OK) != 0) {
            int e = errno;
            char shown[TG_ERR_MSG_MAX / 2];
            tg_path_escape(paths[i].path, shown, sizeof shown);
            st = tg_error_set(err, TG_ERR_CONFIG, "%s: %s is %s: %s",
                              cfg->source ? cfg->source : "config", paths[i].key, shown,
                              strerror(e));
            goto fail;
        }
    }
    // folders
    if ((st = tg_folder_scan(&train, cfg->train_dir, notice_cb, t, err))) goto fail;
    have_train = true;
    if (cfg->num_classes && cfg->num_classes != train.num_classes) {
        char shown[TG_ERR_MSG_MAX / 2];
        tg_path_escape(cfg->train_dir, shown, sizeof shown);
        st = tg_error_set(err, TG_ERR_CONFIG,
                          "%s: model.num_classes is %d but %s has %d class folders",
                          cfg->source ? cfg->source : "config", cfg->num_classes, shown,
                          train.num_classes);
        goto fail;
    }
    if (cfg->val_dir) {
        if ((st = tg_folder_scan(&val, cfg->val_dir, notice_cb, t, err))) goto fail;
        have_val = true;
        if ((st = tg_folder_check_same_classes(&train, &val, err))) goto fail;
    }
    t->meta.image_size = cfg->image_size;
    t->meta.resize = cfg->resize;
    for (int i = 0; i < 3; i++) {
        t->meta.mean[i] = (float)cfg->mean[i];
        t->meta.std[i] = (float)cfg->std[i];
    }
    if ((st = tg_model_meta_set_classes(&t->meta, train.classes, train.num_classes, err)))
        goto fail;

    t->out = strdup(cfg->output);
    if (!t->out) {
        st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    tg_rng_seed(&t->rng, cfg->seed);
    remove_stale_tmp(t);

    t->files = train.count;
    t->files_fp = files_fingerprint(&train);
    if (have_val) {
        t->val_files = val.count;
        t->val_fp = files_fingerprint(&val);
    }
    if (opts->resume) {
        if ((st = load_checkpoint(t, &train, &rs))) goto fail;
        say(t, "resuming %s at epoch %d, image %zu of %zu", t->out, rs.epoch + 1, rs.position,
            train.count);
        metrics_reload(t, rs.epoch);
    } else {
        // the tutorial's order: model, weights, freeze, new head
        t->model = tg_resnet18_new(train.num_classes, &t->rng, err);
        if (!t->model) {
            st = err->status ? err->status : TG_ERR_NOMEM;
            goto fail;
        }
        t->model->freeze_bn_stats = cfg->freeze_bn_stats;
        bool head_loaded = false;
        if (cfg->weights) {
            tg_load_report rep = {0};
            if ((st = tg_weights_load_file(t->model, cfg->weights, true, &rep, err))) goto fail;
            head_loaded = !rep.fc_replaced;
            if (rep.fc_replaced)
                say(t, "loaded %s; its %d-class head is replaced by a new %d-class head",
                    cfg->weights, rep.file_classes, train.num_classes);
            else
                say(t, "loaded %s (its %d-class head kept)", cfg->weights, train.num_classes);
        } else {
            say(t, "model.weights is null: starting from torchvision's random initialisation "
                   "(seed %" PRIu64 ")",
                cfg->seed);
        }
        if ((st = apply_freeze(t))) goto fail;
        if (!head_loaded) {
            if ((st = tg_resnet18_replace_fc(t->model, train.num_classes, &t->rng, err)))
                goto fail;
            rs.head_new = true;
        }
        if ((st = make_sgd(t))) goto fail;
        // a previous run's models in this directory are not this run's: remove them so
        // predict never picks up a stale model.safetensors while this run trains
        const char *stale[] = {"model.safetensors", "best.safetensors"};
        for (int i = 0; i < 2; i++) {
            char *p = path_in(t->out, stale[i]);
            if (p && unlink(p) == 0) say(t, "removed %s of a previous run", p);
            free(p);
        }
    }
    int64_t trainable = tg_resnet18_num_trainable(t->model);
    if (trainable == 0) {
        st = tg_error_set(err, TG_ERR_CONFIG,
                          "%s: every parameter is frozen (freeze patterns and a loaded head): "
                          "nothing to train",
                          cfg->source ? cfg->source : "config");
        goto fail;
    }
    char val_shown[1024] = "";
    if (have_val) tg_path_escape(cfg->val_dir, val_shown, sizeof val_shown);
    say(t, "%d classes, %zu training images%s%s; training %" PRId64 " of %" PRId64
           " parameters on %d threads",
        train.num_classes, train.count, have_val ? ", validating on " : "", val_shown,
        trainable, tg_resnet18_num_params(t->model), threads);

    // output directory, resolved config, last_run
    if ((st = mkdir_p(t->out, err))) goto fail;
    text = tg_config_to_json(cfg);
    path = path_in(t->out, "config.json");
    if (!text || !path) {
        st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = write_atomic(path, text, strlen(text), err))) goto fail;
    if ((st = record_last_run(t))) goto fail;

    tg_loader_opts lo;
    loader_opts(cfg, &lo, true, loader_threads, t);
    if ((st = tg_loader_open(&tl, &train, &lo, err))) goto fail;
    if (have_val) {
        loader_opts(cfg, &lo, false, loader_threads, t);
        if ((st = tg_loader_open(&vl, &val, &lo, err))) goto fail;
    }
    tg_resnet18_train(t->model, true);

    for (int epoch = rs.epoch; epoch < cfg->epochs; epoch++) {
        double lr = tg_config_lr_at(cfg, epoch);
        t->sgd.opt.lr = (float)lr;
        if (epoch != rs.epoch) {  // a fresh epoch (rs holds the resumed one's state)
            rs.epoch = epoch;
            rs.position = 0;
            memset(&rs.acc, 0, sizeof rs.acc);
        }
        size_t steps = tg_loader_num_batches(tl);
        double t0 = now_s() - rs.acc.seconds, t_train = 0;
        if (rs.position < train.count &&
            (st = tg_loader_start_epoch(tl, epoch, rs.position, err)))
            goto fail;
        while (rs.position < train.count) {
            tg_batch b;
            if ((st = tg_loader_next(tl, &b, err))) goto fail;
            if (b.n == 0) {
                rs.acc.skipped += (size_t)b.bad;
                rs.position = train.count;
                break;
            }
            if (!train_one_ok(cfg, b.n)) {
                rs.acc.dropped += (size_t)b.n;
                rs.acc.skipped += (size_t)b.bad;
                rs.position = b.next_position;
                continue;
            }
            tg_sgd_zero_grad(&t->sgd);
            int64_t shape[4] = {b.n, 3, b.size, b.size};
            tg_tensor *x = tg_ctx_wrap(&c, 4, shape, b.x);
            tg_tensor *logits = tg_resnet18_forward(&c, t->model, x);
            int64_t *y = labels_i64(&c, &b);
            tg_tensor *loss = y ? tg_cross_entropy(&c, logits, y, (float)cfg->label_smoothing)
                                : NULL;
            if (!loss) {
                st = ctx_fail(t, &c, "forward");
                goto fail;
            }
            double lv = loss->data[0];
            if (!isfinite(lv)) {
                st = tg_error_set(err, TG_ERR_VALUE,
                                  "the loss is %g at epoch %d, step %zu: training diverged "
                                  "(try a smaller optimizer.lr); the last checkpoint is kept",
                                  lv, epoch + 1, rs.acc.steps + 1);
                goto fail;
            }
            if ((st = tg_backward(&c, loss, NULL, false))) {
                st = ctx_fail(t, &c, "backward");
                goto fail;
            }
            tg_sgd_step(&t->sgd);
            rs.acc.correct += count_correct(logits, b.labels, b.n);
            tg_ctx_reset(&c);
            rs.acc.loss_sum += lv * b.n;
            rs.acc.images += (size_t)b.n;
            rs.acc.skipped += (size_t)b.bad;
            rs.acc.steps++;
            rs.global_step++;
            rs.position = b.next_position;
            if (opts->progress) {
                double el = now_s() - t0;
                tg_train_progress p = {
                    .epoch = epoch + 1,
                    .epochs = cfg->epochs,
                    .step = rs.acc.steps,
                    .steps = steps,
                    .images = rs.acc.images,
                    .loss = rs.acc.loss_sum / (double)rs.acc.images,
                    .acc = (double)rs.acc.correct / (double)rs.acc.images,
                    .seconds = el,
                    .images_per_s = el > 0 ? rs.acc.images / el : 0,
                    .eta_s = rs.acc.steps < steps ? el / rs.acc.steps * (steps - rs.acc.steps) : 0,
                };
                opts->progress(opts->user, &p);
            }
            bool stop = opts->stop && *opts->stop;
            if (stop || (cfg->checkpoint_every && rs.global_step % cfg->checkpoint_every == 0)) {
                rs.acc.seconds = now_s() - t0;
                if ((st = save_checkpoint(t, &rs))) goto fail;
                if (stop) {
                    st = tg_error_set(err, TG_ERR_INTERRUPTED,
                                      "interrupted at epoch %d, step %zu; checkpoint saved in %s "
                                      "(continue with --resume)",
                                      epoch + 1, rs.acc.steps, t->out);
                    goto fail;
                }
            }
        }
        t_train = now_s() - t0;
        tg_epoch_metrics em = {
            .epoch = epoch + 1,
            .epochs = cfg->epochs,
            .train_loss = rs.acc.images ? rs.acc.loss_sum / (double)rs.acc.images : NAN,
            .train_acc = rs.acc.images ? (double)rs.acc.correct / (double)rs.acc.images : NAN,
            .lr = lr,
            .images = rs.acc.images,
            .skipped = rs.acc.skipped,
            .dropped = rs.acc.dropped,
        };
        if (rs.acc.dropped)
            say(t,
                "epoch %d: %zu image%s left out of training: a batch of one image cannot train "
                "BatchNorm at data.image_size %d (layer4's output is 1x1, one value per "
                "channel); use data.image_size >= 33 or a train.batch_size that does not leave "
                "a batch of one image",
                epoch + 1, rs.acc.dropped, rs.acc.dropped == 1 ? " was" : "s were",
                cfg->image_size);
        if (vl) {
            bool stopped = false;
            if ((st = validate(t, &c, vl, &em.val_loss, &em.val_acc, &stopped))) {
                // keep the epoch just trained (too many unreadable val files, say): the
                // checkpoint says validation is pending, --resume runs it and goes on
                tg_error verr = *err;
                rs.acc.seconds = now_s() - t0;
                if (save_checkpoint(t, &rs) == TG_OK) {
                    *err = verr;
                    tg_error_prefix(err, "validation after epoch %d", epoch + 1);
                    size_t n = strlen(err->msg);
                    snprintf(err->msg + n, sizeof err->msg - n,
                             "; the epoch's training is saved in %s/checkpoint.safetensors (fix "
                             "the folder, then continue with --resume)",
                             t->out);
                } else {
                    *err = verr;
                }
                goto fail;
            }
            if (stopped) {
                rs.acc.seconds = now_s() - t0;
                if ((st = save_checkpoint(t, &rs))) goto fail;
                st = tg_error_set(err, TG_ERR_INTERRUPTED,
                                  "interrupted during validation of epoch %d; checkpoint saved "
                                  "in %s (continue with --resume)",
                                  epoch + 1, t->out);
                goto fail;
            }
            em.has_val = true;
        }
        em.seconds = now_s() - t0;
        em.images_per_s = t_train > 0 ? rs.acc.images / t_train : 0;
        if (em.has_val && em.val_acc > rs.best_val_acc) {
            rs.best_val_acc = em.val_acc;
            em.best = true;
            free(path);
            path = path_in(t->out, "best.safetensors");
            if (!path || (st = tg_model_save(path, t->model, &t->meta, err))) {
                if (!path) st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
                goto fail;
            }
        }
        if ((st = write_metrics_line(t, &em))) goto fail;
        // the next epoch's start is what a resume after this point continues from
        run_state next = rs;
        next.epoch = epoch + 1;
        next.position = 0;
        memset(&next.acc, 0, sizeof next.acc);
        if ((st = save_checkpoint(t, &next))) goto fail;
        if (opts->epoch_end) opts->epoch_end(opts->user, &em);
        if (epoch + 1 < cfg->epochs && opts->stop && *opts->stop) {
            st = tg_error_set(err, TG_ERR_INTERRUPTED,
                              "interrupted after epoch %d; checkpoint saved in %s (continue "
                              "with --resume)",
                              epoch + 1, t->out);
            goto fail;
        }
    }
    free(path);
    path = path_in(t->out, "model.safetensors");
    if (!path) {
        st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = tg_model_save(path, t->model, &t->meta, err))) goto fail;
fail:
    if (tl) tg_loader_close(tl);
    if (vl) tg_loader_close(vl);
    if (t->sgd_ready) tg_sgd_free(&t->sgd);
    tg_resnet18_free(t->model);
    tg_model_meta_free(&t->meta);
    if (have_train) tg_folder_free(&train);
    if (have_val) tg_folder_free(&val);
    tg_ctx_free(&c);
    free(t->metrics);
    free(t->out);
    free(text);
    free(path);
    return st;
}
