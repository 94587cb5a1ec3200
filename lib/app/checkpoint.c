// checkpoint.c: checkpoint.safetensors (see checkpoint.h): save, and the steps of a resume.
#include "app/checkpoint.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/weights.h"
#include "core/escape.h"
#include "io/weightfile.h"

#define MOMENTUM_PREFIX "optimizer.momentum_buffer."

// ---- the file lists ----
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

// The fingerprint lets --resume refuse a folder whose files were renamed, replaced or
// swapped (same count) instead of silently training the rest of the run on other data.
tg_file_list tg_file_list_of(const tg_folder *f) {
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
    return (tg_file_list){f->count, h};
}

// ---- save ----
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

// The model's tensors, then the momentum buffers that hold state.
static tg_status put_tensors(tg_statedict *sd, const tg_resnet18 *model, const tg_sgd *sgd,
                             tg_error *err) {
    tg_status st = tg_weights_export(model, sd, err);
    for (int i = 0; !st && i < sgd->n; i++) {
        const float *buf = tg_sgd_buffer(sgd, i);
        if (!buf) continue;
        const tg_tensor *p = sgd->params[i];
        char name[128];
        snprintf(name, sizeof name, MOMENTUM_PREFIX "%s", p->name);
        st = tg_statedict_add(sd, name, TG_DT_F32, p->ndim, p->shape, buf, err);
    }
    return st;
}

// The run's state as metadata (doubles in %a: read back exactly).
static tg_status put_state(tg_statedict *sd, const tg_ckpt_state *s, tg_error *err) {
    const tg_run_state *rs = &s->run;
    const tg_rng *r = &s->rng;
    tg_status st = tg_statedict_set_meta(sd, "tgfinetune_checkpoint", "1", err);
    if (!st) st = put_meta_fmt(sd, "epoch", err, "%d", rs->epoch);
    if (!st) st = put_meta_fmt(sd, "position", err, "%zu", rs->position);
    if (!st) st = put_meta_fmt(sd, "global_step", err, "%" PRIu64, rs->global_step);
    if (!st) st = put_meta_fmt(sd, "epoch_loss_sum", err, "%a", rs->sums.loss_sum);
    if (!st)
        st = put_meta_fmt(sd, "epoch_counts", err, "%zu %zu %zu %zu", rs->sums.correct,
                          rs->sums.images, rs->sums.skipped, rs->sums.steps);
    if (!st) st = put_meta_fmt(sd, "epoch_dropped", err, "%zu", rs->sums.dropped);
    if (!st) st = put_meta_fmt(sd, "epoch_seconds", err, "%a", rs->sums.seconds);
    if (!st) st = put_meta_fmt(sd, "best_val_acc", err, "%a", rs->best_val_acc);
    if (!st) st = tg_statedict_set_meta(sd, "head", rs->head_new ? "new" : "loaded", err);
    if (!st)
        st = put_meta_fmt(sd, "rng", err,
                          "%016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %d %a",
                          r->s[0], r->s[1], r->s[2], r->s[3], r->has_spare, r->spare);
    if (!st)
        st = put_meta_fmt(sd, "order", err, "%d %" PRIu64 " %d %d", s->batch_size, s->seed,
                          s->shuffle, s->augment);
    if (!st)
        st = put_meta_fmt(sd, "train_files", err, "%zu %016" PRIx64, s->train.count,
                          s->train.fingerprint);
    if (!st)
        st = put_meta_fmt(sd, "val_files", err, "%zu %016" PRIx64, s->val.count,
                          s->val.fingerprint);
    return st;
}

tg_status tg_checkpoint_save(const char *path, const tg_resnet18 *model, const tg_sgd *sgd,
                             const tg_model_meta *meta, const tg_ckpt_state *s, tg_error *err) {
    tg_statedict sd;
    tg_statedict_init(&sd);
    tg_status st = put_tensors(&sd, model, sgd, err);
    if (!st) st = tg_model_meta_put(&sd, meta, err);
    if (!st) st = put_state(&sd, s, err);
    if (!st) st = tg_statedict_save(path, &sd, err);
    tg_statedict_free(&sd);
    return st;
}

// ---- open ----
tg_status tg_checkpoint_open(tg_ckpt_file *f, const char *path, tg_error *err) {
    memset(f, 0, sizeof *f);
    tg_statedict_init(&f->sd);
    f->path = strdup(path);
    if (!f->path) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    if (access(path, F_OK) != 0)
        return tg_error_set(err, TG_ERR_CONFIG,
                            "%s: no checkpoint to resume from (run train without --resume)", path);
    tg_status st = tg_statedict_load(path, &f->sd, err);
    if (st) return st;
    if (!tg_statedict_get_meta(&f->sd, "tgfinetune_checkpoint"))
        return tg_error_set(err, TG_ERR_FORMAT, "%s: not a tgfinetune checkpoint", path);
    return tg_model_meta_get(&f->sd, path, &f->meta, err);
}

void tg_checkpoint_close(tg_ckpt_file *f) {
    tg_model_meta_free(&f->meta);
    tg_statedict_free(&f->sd);
    free(f->path);
    memset(f, 0, sizeof *f);
}

// ---- the run's state ----
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

tg_status tg_checkpoint_read_state(const tg_ckpt_file *f, tg_ckpt_state *s, tg_error *err) {
    const tg_statedict *sd = &f->sd;
    memset(s, 0, sizeof *s);
    tg_run_state *rs = &s->run;
    tg_epoch_sums *a = &rs->sums;
    tg_rng *r = &s->rng;
    char spare[64] = {0};
    if (!meta_num(sd, "epoch", "%d", 1, &rs->epoch) ||
        !meta_num(sd, "position", "%zu", 1, &rs->position) ||
        !meta_num(sd, "global_step", "%" SCNu64, 1, &rs->global_step) ||
        !meta_double(sd, "epoch_loss_sum", &a->loss_sum) ||
        !meta_num(sd, "epoch_counts", "%zu %zu %zu %zu", 4, &a->correct, &a->images,
                  &a->skipped, &a->steps) ||
        !meta_double(sd, "epoch_seconds", &a->seconds) ||
        !meta_double(sd, "best_val_acc", &rs->best_val_acc) ||
        !meta_num(sd, "rng", "%" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %d %63s", 6,
                  &r->s[0], &r->s[1], &r->s[2], &r->s[3], &r->has_spare, spare) ||
        rs->epoch < 0)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: checkpoint metadata is incomplete or malformed", f->path);
    r->spare = strtod(spare, NULL);
    if (tg_statedict_get_meta(sd, "train_files")) {
        if (!meta_num(sd, "train_files", "%zu %" SCNx64, 2, &s->train.count,
                      &s->train.fingerprint))
            return tg_error_set(err, TG_ERR_FORMAT,
                                "%s: checkpoint metadata \"train_files\" is malformed", f->path);
        s->has_train = true;
    }
    // the keys below are absent in checkpoints written before they were kept
    s->has_val = meta_num(sd, "val_files", "%zu %" SCNx64, 2, &s->val.count, &s->val.fingerprint);
    if (!meta_num(sd, "epoch_dropped", "%zu", 1, &a->dropped)) a->dropped = 0;
    const char *head = tg_statedict_get_meta(sd, "head");
    rs->head_new = head && !strcmp(head, "new");
    s->has_order = meta_num(sd, "order", "%d %" SCNu64 " %d %d", 4, &s->batch_size, &s->seed,
                            &s->shuffle, &s->augment);
    return TG_OK;
}

// ---- checks against the folders and the config ----
tg_status tg_checkpoint_check_classes(const tg_ckpt_file *f, const tg_folder *train,
                                      tg_error *err) {
    const tg_model_meta *meta = &f->meta;
    bool same = meta->num_classes == train->num_classes;
    for (int i = 0; same && i < meta->num_classes; i++)
        same = !strcmp(meta->classes[i], train->classes[i]);
    if (same) return TG_OK;
    // names from folders: escaped for printing (core/escape.h)
    char was[256], root[TG_ERR_MSG_MAX / 2], now[256];
    tg_path_escape(meta->classes[0], was, sizeof was);
    tg_path_escape(train->root, root, sizeof root);
    tg_path_escape(train->classes[0], now, sizeof now);
    return tg_error_set(err, TG_ERR_CONFIG,
                        "%s: the checkpoint was trained on %d classes (%s, ...) but %s has %d "
                        "(%s, ...); resume needs the same class folders (restore them, or "
                        "start a new run without --resume)",
                        f->path, meta->num_classes, was, root, train->num_classes, now);
}

// A changed validation folder does not change training, so it is allowed; but the best
// accuracy so far (which picks best.safetensors) was measured on the old set, and later
// epochs are compared with it: say so.
static void check_val_files(const tg_ckpt_file *f, const tg_ckpt_state *was,
                            const tg_ckpt_state *now, tg_notice_fn notice, void *user) {
    if (!was->has_val ||
        (was->val.count == now->val.count && was->val.fingerprint == now->val.fingerprint))
        return;
    char best[64] = "no validation yet";
    if (was->run.best_val_acc >= 0)
        snprintf(best, sizeof best, "best so far %.2f%%", 100.0 * was->run.best_val_acc);
    tg_notice(notice, user,
              "notice: %s: the validation folder changed since the run started (%zu images "
              "then, %zu now%s): best.safetensors was picked on the old set (%s) and later "
              "epochs are compared with that figure",
              f->path, was->val.count, now->val.count,
              was->val.count == now->val.count ? ", other names or sizes" : "", best);
}

tg_status tg_checkpoint_check_files(const tg_ckpt_file *f, const tg_ckpt_state *was,
                                    const tg_ckpt_state *now, const tg_folder *train,
                                    tg_notice_fn notice, void *user, tg_error *err) {
    // The files must be the ones the run started with (same count, names, sizes): else the
    // rest of the run would train on other data without a word.
    char root[TG_ERR_MSG_MAX / 2];
    tg_path_escape(train->root, root, sizeof root);
    static const char HOW[] = "the training folder changed since the run started; resume "
                              "needs the same files (restore them, or start a new run without "
                              "--resume)";
    if (!was->has_train)
        tg_notice(notice, user,
                  "notice: %s records no training file list (written by an older tgfinetune): "
                  "cannot check that %s is unchanged since the run started",
                  f->path, root);
    else if (was->train.count != train->count)
        return tg_error_set(err, TG_ERR_CONFIG,
                            "%s: the run started with %zu training images but %s now has %zu: %s",
                            f->path, was->train.count, root, train->count, HOW);
    else if (was->train.fingerprint != now->train.fingerprint)
        return tg_error_set(err, TG_ERR_CONFIG,
                            "%s: files changed since the checkpoint: %s has the same %zu images "
                            "but their names or sizes differ: %s",
                            f->path, root, train->count, HOW);
    check_val_files(f, was, now, notice, user);
    // A folder that lost images since the run started would put the position past the end:
    // the rest of the epoch would be skipped without a word (for checkpoints without the list).
    if (was->run.position > train->count)
        return tg_error_set(err, TG_ERR_CONFIG,
                            "%s: the checkpoint is at image %zu of epoch %d but %s now has %zu "
                            "images: the training folder changed since the run started (resume "
                            "needs the same folders)",
                            f->path, was->run.position, was->run.epoch + 1, root, train->count);
    if (was->has_order && (was->batch_size != now->batch_size || was->seed != now->seed ||
                           was->shuffle != now->shuffle || was->augment != now->augment))
        tg_notice(notice, user,
                  "warning: train.batch_size, train.seed, train.shuffle or data.augment differ "
                  "from the interrupted run; the resumed run will not match an uninterrupted "
                  "one");
    return TG_OK;
}

// ---- restore ----
static bool is_momentum(const tg_sd_entry *e) {
    return !strncmp(e->name, MOMENTUM_PREFIX, strlen(MOMENTUM_PREFIX));
}

tg_status tg_checkpoint_restore_model(const tg_ckpt_file *f, tg_resnet18 *model, tg_error *err) {
    tg_statedict model_sd;
    tg_statedict_init(&model_sd);
    tg_status st = TG_OK;
    for (size_t i = 0; !st && i < f->sd.n; i++) {
        const tg_sd_entry *e = &f->sd.entries[i];
        if (!is_momentum(e))
            st = tg_statedict_add(&model_sd, e->name, e->dtype, e->ndim, e->shape, e->data, err);
    }
    if (!st && (st = tg_weights_load(model, &model_sd, false, NULL, err)))
        tg_error_prefix(err, "%s", f->path);
    tg_statedict_free(&model_sd);
    return st;
}

tg_status tg_checkpoint_restore_sgd(const tg_ckpt_file *f, tg_sgd *sgd, tg_error *err) {
    for (size_t i = 0; i < f->sd.n; i++) {
        const tg_sd_entry *e = &f->sd.entries[i];
        if (!is_momentum(e)) continue;
        int k = tg_sgd_find(sgd, e->name + strlen(MOMENTUM_PREFIX));
        if (k < 0 || e->dtype != TG_DT_F32)
            return tg_error_set(err, TG_ERR_FORMAT, "%s: unexpected tensor %s", f->path,
                                e->name);
        tg_status st = tg_sgd_set_buffer(sgd, k, e->data, tg_sd_entry_numel(e), err);
        if (st) {
            tg_error_prefix(err, "%s: %s", f->path, e->name);
            return st;
        }
    }
    return TG_OK;
}
