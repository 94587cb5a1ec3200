// train.h: the training driver behind `tgfinetune train`, as a library function.
//
// tg_train_run(cfg): scans the folders, builds resnet18, loads cfg->weights (.pth or
// .safetensors; NULL = torchvision's random initialisation), freezes cfg->freeze, swaps the
// head for the folder's class count (the tutorial's order: load, freeze, swap), then runs
// epochs of loader batch -> forward -> cross-entropy -> backward -> SGD -> arena reset,
// validating after each epoch when cfg->val_dir is set. It writes into cfg->output:
//   config.json             the resolved config (every default filled in)
//   checkpoint.safetensors  weights, momentum buffers, epoch, position in the epoch,
//                           running sums of the epoch, best accuracy, the training file
//                           list's count and fingerprint: all that resume needs;
//                           at each epoch's end, every cfg->checkpoint_every steps, when
//                           stopped by *opts->stop, and when validation fails
//   model.safetensors       the final weights with metadata (modelfile.h)
//   best.safetensors        the weights of the epoch with the best val accuracy
//   metrics.jsonl           one JSON object per epoch
// and records the output directory in ./.tgfinetune/last_run (the cwd's most recent run,
// which `predict` uses without --model). Every file is written atomically.
//
// Resume (opts->resume) refuses a training folder whose classes, image count or files
// (relative paths and sizes) differ from the checkpoint's, then restores everything from
// checkpoint.safetensors; with the same config and threads the run ends with the same
// weights as one never interrupted (the loader's order and augmentation are functions of
// seed, epoch and position).
#ifndef TG_TRAIN_H
#define TG_TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "app/config.h"
#include "app/metrics.h"  // tg_epoch_metrics, after every epoch
#include "core/error.h"

// After every step.
typedef struct {
    int epoch;          // 1-based
    int epochs;
    size_t step;        // steps done in this epoch (1-based), of `steps`
    size_t steps;
    size_t images;      // images trained on in this epoch so far
    double loss;        // running mean loss of the epoch
    double acc;         // running train accuracy of the epoch
    double seconds;     // time spent in this epoch so far
    double images_per_s;
    double eta_s;       // estimate for the rest of the epoch
} tg_train_progress;

typedef struct {
    bool resume;            // continue from output/checkpoint.safetensors
    int threads;            // 0: cfg->threads; > 0 overrides it; TG_THREADS_ALL (-1,
                            // app/threads.h): every core, whatever cfg->threads says
    const volatile sig_atomic_t *stop;  // non-zero: finish the step, checkpoint, return
                                        // TG_ERR_INTERRUPTED (may be NULL)
    const char *last_run_dir;  // where last_run is recorded (NULL: "./.tgfinetune")
    // Callbacks (each may be NULL), on the calling thread.
    void (*message)(void *user, const char *msg);  // notices and warnings
    void (*progress)(void *user, const tg_train_progress *p);
    void (*epoch_end)(void *user, const tg_epoch_metrics *m);
    void *user;
} tg_train_opts;

// TG_OK when every epoch ran; TG_ERR_INTERRUPTED when stopped by *stop (the checkpoint is
// saved); TG_ERR_CONFIG for problems of the config (freeze pattern matching nothing, class
// count mismatch, nothing to resume); another status for runtime failures.
tg_status tg_train_run(const tg_config *cfg, const tg_train_opts *opts, tg_error *err);

// Path of the output directory recorded by the last train run started in dir
// (NULL: "./.tgfinetune"), malloc'd; NULL with err set when there is none.
char *tg_train_last_run(const char *dir, tg_error *err);

#endif
