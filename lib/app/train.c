// train.c: the training driver (see train.h): PyTorch's fine-tuning loop
//   model = resnet18(); model.load_state_dict(...); freeze; model.fc = nn.Linear(512, N)
//   for epoch: for x, y in loader: opt.zero_grad(); loss = ce(model(x), y);
//              loss.backward(); opt.step()
// plus validation, metrics, atomic checkpoints and exact resume. tg_train_run is a list of
// steps over one trainer (the run's state): setup (paths, folders, metadata), build the
// model (fresh, or from the checkpoint), open the output (directory, config.json, last_run,
// loaders), then for each epoch: train_epoch (train_step per batch, a checkpoint when asked
// or stopped), validate_epoch, end_epoch (best.safetensors, metrics.jsonl, checkpoint);
// finish writes model.safetensors. The files are checkpoint.c, metrics.c and rundir.c's.
#include "app/train.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/checkpoint.h"
#include "app/evaluate.h"
#include "app/modelfile.h"
#include "app/notice.h"
#include "app/rundir.h"
#include "app/runreport.h"
#include "app/steplog.h"
#include "app/threads.h"
#include "app/weights.h"
#include "core/escape.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "data/folder.h"
#include "data/loader.h"
#include "nn/resnet18.h"
#include "nn/sgd.h"
#include "ops/ops.h"

typedef struct {
    const tg_config *cfg;
    const tg_train_opts *opts;
    tg_error *err;
    char *out;    // output directory
    int threads;  // compute threads
    tg_folder train, val;
    bool have_train, have_val;
    tg_loader *tl, *vl;  // training and validation batches (vl NULL without data.val)
    tg_ctx c;            // a step's memory, reset after every step
    tg_resnet18 *model;
    tg_model_meta meta;  // classes and preprocessing, written with every model file
    tg_sgd sgd;
    bool sgd_ready;
    tg_rng rng;
    tg_metrics_log metrics;
    tg_steplog steps;  // steps.csv (fd -1 until open_output)
    double lr;         // the epoch's learning rate
    size_t *confusion;  // (K, K) the last validation's: row = true class, column = predicted
    tg_file_list train_files, val_files;  // the folders' lists when the run (re)started
    tg_run_state rs;  // where the run stands: what the checkpoint records
    double t0;        // the clock at the epoch's start, less its seconds before a resume
} trainer;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *source(const trainer *t) { return t->cfg->source ? t->cfg->source : "config"; }

static bool stop_requested(const trainer *t) { return t->opts->stop && *t->opts->stop; }

static tg_status nomem(trainer *t) { return tg_error_set(t->err, TG_ERR_NOMEM, "out of memory"); }

static tg_status ctx_fail(trainer *t, const char *what) {
    tg_status st = tg_ctx_status(&t->c);
    return tg_error_set(t->err, st ? st : TG_ERR_STATE, "%s: %s", what, tg_ctx_error(&t->c));
}

// ---- setup ----
// Paths of the config that do not exist are config errors (exit 2), named by key.
static tg_status check_paths(trainer *t) {
    const tg_config *cfg = t->cfg;
    const struct {
        const char *key, *path;
    } paths[] = {{"data.train", cfg->train_dir}, {"data.val", cfg->val_dir},
                 {"model.weights", t->opts->resume ? NULL : cfg->weights}};
    for (int i = 0; i < 3; i++) {
        if (!paths[i].path || access(paths[i].path, R_OK) == 0) continue;
        int e = errno;
        char shown[TG_ERR_MSG_MAX / 2];
        tg_path_escape(paths[i].path, shown, sizeof shown);
        return tg_error_set(t->err, TG_ERR_CONFIG, "%s: %s is %s: %s", source(t), paths[i].key,
                            shown, strerror(e));
    }
    return TG_OK;
}

static tg_status scan_folders(trainer *t) {
    const tg_config *cfg = t->cfg;
    const tg_train_opts *o = t->opts;
    tg_status st = tg_folder_scan(&t->train, cfg->train_dir, o->message, o->user, t->err);
    if (st) return st;
    t->have_train = true;
    if (cfg->num_classes && cfg->num_classes != t->train.num_classes) {
        char shown[TG_ERR_MSG_MAX / 2];
        tg_path_escape(cfg->train_dir, shown, sizeof shown);
        return tg_error_set(t->err, TG_ERR_CONFIG,
                            "%s: model.num_classes is %d but %s has %d class folders", source(t),
                            cfg->num_classes, shown, t->train.num_classes);
    }
    if (!cfg->val_dir) return TG_OK;
    if ((st = tg_folder_scan(&t->val, cfg->val_dir, o->message, o->user, t->err))) return st;
    t->have_val = true;
    return tg_folder_check_same_classes(&t->train, &t->val, t->err);
}

// Threads, the folders, the model files' metadata, the output directory's stale files.
static tg_status setup(trainer *t) {
    const tg_config *cfg = t->cfg;
    t->threads = tg_app_set_threads(t->opts->threads ? t->opts->threads : cfg->threads);
    tg_status st = check_paths(t);
    if (!st) st = scan_folders(t);
    if (st) return st;
    t->meta.image_size = cfg->image_size;
    t->meta.resize = cfg->resize;
    for (int i = 0; i < 3; i++) {
        t->meta.mean[i] = (float)cfg->mean[i];
        t->meta.std[i] = (float)cfg->std[i];
    }
    st = tg_model_meta_set_classes(&t->meta, t->train.classes, t->train.num_classes, t->err);
    if (st) return st;
    if (!(t->out = strdup(cfg->output))) return nomem(t);
    if ((st = tg_metrics_open(&t->metrics, t->out, t->err))) return st;
    tg_rng_seed(&t->rng, cfg->seed);
    tg_rundir_remove_stale_tmp(t->out, t->opts->message, t->opts->user);
    t->train_files = tg_file_list_of(&t->train);
    if (t->have_val) t->val_files = tg_file_list_of(&t->val);
    return TG_OK;
}

// ---- the model ----
// The run's state and identity as a checkpoint records it.
static tg_ckpt_state ckpt_state(const trainer *t, const tg_run_state *rs) {
    return (tg_ckpt_state){
        .run = *rs,
        .rng = t->rng,
        .batch_size = t->cfg->batch_size,
        .seed = t->cfg->seed,
        .shuffle = t->cfg->shuffle,
        .augment = t->cfg->augment,
        .train = t->train_files,
        .val = t->val_files,
    };
}

// steps.csv's rows go to disk first: the file never holds fewer steps than the checkpoint
// (a kill -9 between the two leaves more, which resume cuts).
static tg_status save_checkpoint(trainer *t, const tg_run_state *rs) {
    tg_status st = tg_steplog_flush(&t->steps, t->err);
    if (st) return st;
    char *path = tg_rundir_path(t->out, TG_RUN_CHECKPOINT);
    if (!path) return nomem(t);
    tg_ckpt_state s = ckpt_state(t, rs);
    st = tg_checkpoint_save(path, t->model, &t->sgd, &t->meta, &s, t->err);
    free(path);
    return st;
}

// resnet18 with the folder's class count, its first draws from rng.
static tg_status new_model(trainer *t, tg_rng *rng) {
    t->model = tg_resnet18_new(t->train.num_classes, rng, t->err);
    if (!t->model) return t->err->status ? t->err->status : TG_ERR_NOMEM;
    t->model->freeze_bn_stats = t->cfg->freeze_bn_stats;
    return TG_OK;
}

static tg_status apply_freeze(trainer *t) {
    const tg_config *cfg = t->cfg;
    for (int i = 0; i < cfg->n_freeze; i++) {
        if (tg_resnet18_freeze(t->model, cfg->freeze[i]) > 0) continue;
        return tg_error_set(t->err, TG_ERR_CONFIG,
                            "%s: freeze pattern \"%s\" matches no parameter; parameter names "
                            "look like conv1.weight, bn1.weight, layer1.0.conv1.weight, "
                            "layer2.0.downsample.0.weight, layer4.1.bn2.bias, fc.weight, fc.bias "
                            "('*' matches any run of characters, dots included: \"layer1.*\")",
                            source(t), cfg->freeze[i]);
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
    // (Whatever comes to stand between backward and step must turn this off: sgd.h.)
    tg_sgd_set_fused(&t->sgd, true);
    return TG_OK;
}

// The tutorial's order: model, weights, freeze, new head.
static tg_status fresh_model(trainer *t) {
    const tg_config *cfg = t->cfg;
    int classes = t->train.num_classes;
    tg_notice_fn say = t->opts->message;
    void *user = t->opts->user;
    tg_status st = new_model(t, &t->rng);
    if (st) return st;
    bool head_loaded = false;
    if (cfg->weights) {
        tg_load_report rep = {0};
        if ((st = tg_weights_load_file(t->model, cfg->weights, true, &rep, t->err))) return st;
        head_loaded = !rep.fc_replaced;
        if (rep.fc_replaced)
            tg_notice(say, user, "loaded %s; its %d-class head is replaced by a new %d-class head",
                      cfg->weights, rep.file_classes, classes);
        else
            tg_notice(say, user, "loaded %s (its %d-class head kept)", cfg->weights, classes);
    } else {
        tg_notice(say, user,
                  "model.weights is null: starting from torchvision's random initialisation "
                  "(seed %" PRIu64 ")",
                  cfg->seed);
    }
    if ((st = apply_freeze(t))) return st;
    if (!head_loaded) {
        if ((st = tg_resnet18_replace_fc(t->model, classes, &t->rng, t->err))) return st;
        t->rs.head_new = true;
    }
    if ((st = make_sgd(t))) return st;
    tg_rundir_remove_models(t->out, say, user);
    tg_rundir_remove_report(t->out);
    return TG_OK;
}

// The model as the run built it, then the checkpoint's tensors over it (its random
// initialisation draws from a scratch generator: t->rng stays as the checkpoint says).
static tg_status rebuild_model(trainer *t, const tg_ckpt_file *f) {
    tg_rng init_rng = t->rng;
    tg_status st = new_model(t, &init_rng);
    if (!st) st = apply_freeze(t);
    // the head's values come from the checkpoint
    if (!st && t->rs.head_new)
        st = tg_resnet18_replace_fc(t->model, t->train.num_classes, &init_rng, t->err);
    if (!st) st = tg_checkpoint_restore_model(f, t->model, t->err);
    if (!st) st = make_sgd(t);
    if (!st) st = tg_checkpoint_restore_sgd(f, &t->sgd, t->err);
    return st;
}

// checkpoint.safetensors: checked against the folders and the config, then restored.
static tg_status resume_model(trainer *t) {
    char *path = tg_rundir_path(t->out, TG_RUN_CHECKPOINT);
    if (!path) return nomem(t);
    tg_ckpt_file f;
    tg_ckpt_state was, now = ckpt_state(t, &t->rs);
    tg_status st = tg_checkpoint_open(&f, path, t->err);
    if (!st) st = tg_checkpoint_check_classes(&f, &t->train, t->err);
    if (!st) st = tg_checkpoint_read_state(&f, &was, t->err);
    if (!st)
        st = tg_checkpoint_check_files(&f, &was, &now, &t->train, t->opts->message,
                                       t->opts->user, t->err);
    if (!st) {
        t->rs = was.run;
        t->rng = was.rng;
        st = rebuild_model(t, &f);
    }
    tg_checkpoint_close(&f);
    free(path);
    if (st) return st;
    tg_notice(t->opts->message, t->opts->user, "resuming %s at epoch %d, image %zu of %zu",
              t->out, t->rs.epoch + 1, t->rs.position, t->train.count);
    tg_metrics_reload(&t->metrics, t->rs.epoch);
    return TG_OK;
}

static tg_status build_model(trainer *t) {
    tg_status st = t->opts->resume ? resume_model(t) : fresh_model(t);
    if (st) return st;
    int64_t trainable = tg_resnet18_num_trainable(t->model);
    if (trainable == 0)
        return tg_error_set(t->err, TG_ERR_CONFIG,
                            "%s: every parameter is frozen (freeze patterns and a loaded head): "
                            "nothing to train",
                            source(t));
    char val_shown[1024] = "";
    if (t->have_val) tg_path_escape(t->cfg->val_dir, val_shown, sizeof val_shown);
    tg_notice(t->opts->message, t->opts->user,
              "%d classes, %zu training images%s%s; training %" PRId64 " of %" PRId64
              " parameters on %d threads",
              t->train.num_classes, t->train.count, t->have_val ? ", validating on " : "",
              val_shown, trainable, tg_resnet18_num_params(t->model), t->threads);
    return TG_OK;
}

// ---- the output directory and the loaders ----
// The evaluation pipeline's options (evaluate.h) with the config's data keys; the
// training loader adds augmentation and shuffling.
static void loader_opts(const trainer *t, tg_loader_opts *o, bool train) {
    const tg_config *cfg = t->cfg;
    tg_eval_loader_opts(o, &t->meta, cfg->batch_size, t->threads, t->opts->message,
                        t->opts->user);
    o->augment = train && cfg->augment;
    o->shuffle = train && cfg->shuffle;
    o->seed = cfg->seed;
    o->max_bad_fraction = cfg->max_bad_fraction;
    o->image.max_pixels = cfg->max_pixels;
    o->image.exif_orientation = cfg->exif_orientation;
}

// The output directory, the resolved config, last_run, steps.csv (a resume keeps its rows
// up to the checkpoint's step); the loaders.
static tg_status open_output(trainer *t) {
    tg_status st = tg_rundir_mkdir(t->out, t->err);
    if (!st) st = tg_steplog_open(&t->steps, t->out, t->opts->resume, t->rs.global_step, t->err);
    if (st) return st;
    char *text = tg_config_to_json(t->cfg);
    char *path = tg_rundir_path(t->out, TG_RUN_CONFIG);
    if (!text || !path)
        st = nomem(t);
    else
        st = tg_rundir_write(path, text, strlen(text), t->err);
    free(text);
    free(path);
    if (!st) st = tg_rundir_record_last_run(t->opts->last_run_dir, t->out, t->err);
    if (st) return st;
    tg_loader_opts lo;
    loader_opts(t, &lo, true);
    if ((st = tg_loader_open(&t->tl, &t->train, &lo, t->err))) return st;
    if (t->have_val) {
        loader_opts(t, &lo, false);
        if ((st = tg_loader_open(&t->vl, &t->val, &lo, t->err))) return st;
    }
    tg_resnet18_train(t->model, true);
    return TG_OK;
}

// ---- one step ----
// Whether a training batch of n images can train: BatchNorm in training mode needs more
// than one value per channel (PyTorch raises "Expected more than 1 value per channel when
// training" too), and with data.image_size <= 32 layer4's output is 1x1, so a batch of one
// image gives exactly one. The loop leaves such a batch out (counted, said once per epoch)
// instead of failing after a whole epoch; it is left out again on resume, so a resumed run
// still ends with the same weights. ceil(S / 32) is the side of layer4's output.
static bool train_one_ok(const tg_config *cfg, int n) {
    return n > 1 || (cfg->image_size + 31) / 32 > 1;
}

// zero_grad, forward and cross-entropy (evaluate.h), backward, SGD (fused into backward:
// make_sgd), arena reset. *loss: the batch's mean loss; *correct: its top-1 hits.
static tg_status train_step(trainer *t, const tg_batch *b, double *loss, size_t *correct) {
    tg_ctx *c = &t->c;
    tg_sgd_zero_grad(&t->sgd);
    tg_tensor *logits;
    tg_tensor *l = tg_batch_loss(c, t->model, b, (float)t->cfg->label_smoothing, &logits);
    if (!l) return ctx_fail(t, "forward");
    double lv = l->data[0];
    if (!isfinite(lv))
        return tg_error_set(t->err, TG_ERR_VALUE,
                            "the loss is %g at epoch %d, step %zu: training diverged "
                            "(try a smaller optimizer.lr); the last checkpoint is kept",
                            lv, t->rs.epoch + 1, t->rs.sums.steps + 1);
    if (tg_backward(c, l, NULL, false)) return ctx_fail(t, "backward");
    tg_sgd_step(&t->sgd);
    *correct = tg_count_correct(logits, b->labels, b->n);
    tg_ctx_reset(c);
    *loss = lv;
    return TG_OK;
}

static void report_progress(const trainer *t) {
    const tg_train_opts *o = t->opts;
    if (!o->progress) return;
    const tg_epoch_sums *a = &t->rs.sums;
    size_t steps = tg_loader_num_batches(t->tl);
    double el = now_s() - t->t0;
    tg_train_progress p = {
        .epoch = t->rs.epoch + 1,
        .epochs = t->cfg->epochs,
        .step = a->steps,
        .steps = steps,
        .images = a->images,
        .loss = a->loss_sum / (double)a->images,
        .acc = (double)a->correct / (double)a->images,
        .seconds = el,
        .images_per_s = el > 0 ? a->images / el : 0,
        .eta_s = a->steps < steps ? el / a->steps * (steps - a->steps) : 0,
    };
    o->progress(o->user, &p);
}

// After a step: the checkpoint every train.checkpoint_every steps, and when stopped.
static tg_status after_step(trainer *t) {
    bool stop = stop_requested(t);
    int every = t->cfg->checkpoint_every;
    if (!stop && !(every && t->rs.global_step % every == 0)) return TG_OK;
    t->rs.sums.seconds = now_s() - t->t0;
    tg_status st = save_checkpoint(t, &t->rs);
    if (st || !stop) return st;
    return tg_error_set(t->err, TG_ERR_INTERRUPTED,
                        "interrupted at epoch %d, step %zu; checkpoint saved in %s (continue "
                        "with --resume)",
                        t->rs.epoch + 1, t->rs.sums.steps, t->out);
}

// ---- one epoch ----
// The epoch's lr; a fresh epoch's state (t->rs holds a resumed one's); its clock.
static double begin_epoch(trainer *t, int epoch) {
    double lr = tg_config_lr_at(t->cfg, epoch);
    tg_optim_set_lr(&t->sgd, lr);
    t->lr = lr;
    if (epoch != t->rs.epoch) {
        t->rs.epoch = epoch;
        t->rs.position = 0;
        memset(&t->rs.sums, 0, sizeof t->rs.sums);
    }
    t->t0 = now_s() - t->rs.sums.seconds;
    return lr;
}

// The epoch's batches from its position on.
static tg_status train_epoch(trainer *t) {
    tg_run_state *rs = &t->rs;
    size_t count = t->train.count;
    tg_status st = TG_OK;
    if (rs->position < count &&
        (st = tg_loader_start_epoch(t->tl, rs->epoch, rs->position, t->err)))
        return st;
    while (rs->position < count) {
        tg_batch b;
        if ((st = tg_loader_next(t->tl, &b, t->err))) return st;
        if (b.n == 0) {
            rs->sums.skipped += (size_t)b.bad;
            rs->position = count;
            break;
        }
        if (!train_one_ok(t->cfg, b.n)) {
            rs->sums.dropped += (size_t)b.n;
            rs->sums.skipped += (size_t)b.bad;
            rs->position = b.next_position;
            continue;
        }
        double loss = 0;
        size_t correct = 0;
        if ((st = train_step(t, &b, &loss, &correct))) return st;
        rs->sums.correct += correct;
        rs->sums.loss_sum += loss * b.n;
        rs->sums.images += (size_t)b.n;
        rs->sums.skipped += (size_t)b.bad;
        rs->sums.steps++;
        rs->global_step++;
        rs->position = b.next_position;
        tg_steplog_row row = {rs->global_step, rs->epoch + 1, loss, t->lr};
        if ((st = tg_steplog_add(&t->steps, &row, t->err))) return st;
        report_progress(t);
        if ((st = after_step(t))) return st;
    }
    return TG_OK;
}

// Validation over the whole val folder (evaluate.h's loop), its confusion matrix into
// t->confusion (for confusion.json). *stopped set when the stop flag rose (the results are
// then incomplete).
static tg_status validate(trainer *t, double *loss, double *acc, bool *stopped) {
    size_t K = (size_t)t->train.num_classes;
    if (!t->confusion && !(t->confusion = malloc(K * K * sizeof *t->confusion))) return nomem(t);
    memset(t->confusion, 0, K * K * sizeof *t->confusion);
    tg_eval_sums s = {.confusion = t->confusion};
    tg_eval_loop_opts o = {.stop = t->opts->stop, .what = "validation"};
    tg_status st = tg_eval_loop(&t->c, t->model, t->vl, &o, &s, stopped, t->err);
    *loss = s.images ? s.loss_sum / (double)s.images : NAN;
    *acc = s.images ? (double)s.correct / (double)s.images : NAN;
    return st;
}

// Validation after the epoch's training. A failed one (too many unreadable val files, say)
// keeps the epoch just trained: the checkpoint says validation is pending, --resume runs it
// and goes on. A stop during it saves the same checkpoint.
static tg_status validate_epoch(trainer *t, tg_epoch_metrics *em) {
    bool stopped = false;
    tg_status st = validate(t, &em->val_loss, &em->val_acc, &stopped);
    int epoch = t->rs.epoch + 1;
    if (st) {
        tg_error verr = *t->err;
        t->rs.sums.seconds = now_s() - t->t0;
        bool saved = save_checkpoint(t, &t->rs) == TG_OK;
        *t->err = verr;
        if (saved) {
            tg_error_prefix(t->err, "validation after epoch %d", epoch);
            size_t n = strlen(t->err->msg);
            snprintf(t->err->msg + n, sizeof t->err->msg - n,
                     "; the epoch's training is saved in %s/checkpoint.safetensors (fix the "
                     "folder, then continue with --resume)",
                     t->out);
        }
        return st;
    }
    if (stopped) {
        t->rs.sums.seconds = now_s() - t->t0;
        if ((st = save_checkpoint(t, &t->rs))) return st;
        return tg_error_set(t->err, TG_ERR_INTERRUPTED,
                            "interrupted during validation of epoch %d; checkpoint saved in %s "
                            "(continue with --resume)",
                            epoch, t->out);
    }
    em->has_val = true;
    return TG_OK;
}

// The epoch's figures from its running sums (validation and timings are added after).
static tg_epoch_metrics epoch_metrics(const trainer *t, double lr) {
    const tg_epoch_sums *a = &t->rs.sums;
    return (tg_epoch_metrics){
        .epoch = t->rs.epoch + 1,
        .epochs = t->cfg->epochs,
        .train_loss = a->images ? a->loss_sum / (double)a->images : NAN,
        .train_acc = a->images ? (double)a->correct / (double)a->images : NAN,
        .lr = lr,
        .images = a->images,
        .skipped = a->skipped,
        .dropped = a->dropped,
    };
}

static void say_dropped(const trainer *t) {
    size_t n = t->rs.sums.dropped;
    if (!n) return;
    tg_notice(t->opts->message, t->opts->user,
              "epoch %d: %zu image%s left out of training: a batch of one image cannot train "
              "BatchNorm at data.image_size %d (layer4's output is 1x1, one value per "
              "channel); use data.image_size >= 33 or a train.batch_size that does not leave "
              "a batch of one image",
              t->rs.epoch + 1, n, n == 1 ? " was" : "s were", t->cfg->image_size);
}

static tg_status save_model(trainer *t, const char *name) {
    char *path = tg_rundir_path(t->out, name);
    if (!path) return nomem(t);
    tg_status st = tg_model_save(path, t->model, &t->meta, t->err);
    free(path);
    return st;
}

// report.png from the run's files (steps.csv is flushed with each checkpoint). A picture
// that cannot be drawn or written is said, and training goes on.
static void write_report(trainer *t) {
    tg_error e = {0};
    if (tg_run_report_write(t->out, NULL, &e))
        tg_notice(t->opts->message, t->opts->user, "report.png not written: %s", e.msg);
}

// best.safetensors, metrics.jsonl, the checkpoint at the next epoch's start, report.png,
// the callback; then a stop ends the run.
static tg_status end_epoch(trainer *t, tg_epoch_metrics *em) {
    tg_run_state *rs = &t->rs;
    tg_status st;
    if (em->has_val && em->val_acc > rs->best_val_acc) {
        rs->best_val_acc = em->val_acc;
        em->best = true;
        if ((st = save_model(t, TG_RUN_BEST))) return st;
    }
    if ((st = tg_metrics_append(&t->metrics, em, t->err))) return st;
    if (em->has_val &&
        (st = tg_run_confusion_save(t->out, em->epoch, t->train.num_classes, t->train.classes,
                                    t->confusion, t->err)))
        return st;
    // the next epoch's start is what a resume after this point continues from
    tg_run_state next = *rs;
    next.epoch = rs->epoch + 1;
    next.position = 0;
    memset(&next.sums, 0, sizeof next.sums);
    if ((st = save_checkpoint(t, &next))) return st;
    write_report(t);
    if (t->opts->epoch_end) t->opts->epoch_end(t->opts->user, em);
    if (next.epoch < t->cfg->epochs && stop_requested(t))
        return tg_error_set(t->err, TG_ERR_INTERRUPTED,
                            "interrupted after epoch %d; checkpoint saved in %s (continue with "
                            "--resume)",
                            next.epoch, t->out);
    return TG_OK;
}

static tg_status run_epoch(trainer *t, int epoch) {
    double lr = begin_epoch(t, epoch);
    tg_status st = train_epoch(t);
    if (st) return st;
    double t_train = now_s() - t->t0;
    tg_epoch_metrics em = epoch_metrics(t, lr);
    say_dropped(t);
    if (t->vl && (st = validate_epoch(t, &em))) return st;
    em.seconds = now_s() - t->t0;
    em.images_per_s = t_train > 0 ? em.images / t_train : 0;
    return end_epoch(t, &em);
}

// ---- the run ----
static void trainer_free(trainer *t) {
    if (t->tl) tg_loader_close(t->tl);
    if (t->vl) tg_loader_close(t->vl);
    if (t->sgd_ready) tg_sgd_free(&t->sgd);
    tg_resnet18_free(t->model);
    tg_model_meta_free(&t->meta);
    if (t->have_train) tg_folder_free(&t->train);
    if (t->have_val) tg_folder_free(&t->val);
    tg_ctx_free(&t->c);
    tg_metrics_free(&t->metrics);
    free(t->confusion);
    tg_error e;  // rows after the last checkpoint (a failed step): kept, resume cuts them
    tg_steplog_close(&t->steps, &e);
    free(t->out);
}

tg_status tg_train_run(const tg_config *cfg, const tg_train_opts *opts, tg_error *err) {
    trainer t = {
        .cfg = cfg, .opts = opts, .err = err, .rs = {.best_val_acc = -1}, .steps = {.fd = -1}};
    tg_ctx_init(&t.c);
    tg_status st = setup(&t);
    if (!st) st = build_model(&t);
    if (!st) st = open_output(&t);
    for (int epoch = t.rs.epoch; !st && epoch < cfg->epochs; epoch++) st = run_epoch(&t, epoch);
    if (!st) st = save_model(&t, TG_RUN_MODEL);
    if (st == TG_ERR_INTERRUPTED) write_report(&t);  // the checkpoint flushed steps.csv
    trainer_free(&t);
    return st;
}

char *tg_train_last_run(const char *dir, tg_error *err) { return tg_rundir_last_run(dir, err); }
