// checkpoint.h: checkpoint.safetensors, everything --resume needs to end a run with the
// weights of one never interrupted (README.md, "Resume"):
//   tensors   the model's state_dict (weights.h) and the SGD momentum buffers, named
//             "optimizer.momentum_buffer.<parameter>"
//   metadata  the model file's keys (modelfile.h), "tgfinetune_checkpoint": "1", and where
//             the run stands: epoch (0-based, in progress), position (next image of that
//             epoch; the image count = validation pending), global_step, the epoch's
//             running sums (epoch_loss_sum, epoch_counts "correct images skipped steps",
//             epoch_dropped, epoch_seconds), best_val_acc (-1: none), head ("new": replaced
//             after freezing), the generator's state (rng), the loader's order ("batch_size
//             seed shuffle augment") and the training and validation file lists
//             (train_files, val_files: "count fingerprint")
// Resuming is four steps, in this order (which decides the error a file with several
// faults gets): open the file, check its classes against the training folder, read the
// run's state, check the file lists and the order; then the caller builds the model and
// the optimizer as the run did (classes, freeze, head) and restores their tensors.
#ifndef TG_CHECKPOINT_H
#define TG_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/modelfile.h"
#include "app/notice.h"
#include "core/error.h"
#include "core/rng.h"
#include "data/folder.h"
#include "io/statedict.h"
#include "nn/resnet18.h"
#include "nn/sgd.h"

// The running sums of one epoch: saved so that a resumed epoch reports the same metrics
// as an uninterrupted one.
typedef struct {
    double loss_sum;  // sum over images of the loss
    size_t correct, images, skipped, steps;
    size_t dropped;   // images of one-image batches left out (BatchNorm, see train.c)
    double seconds;   // time spent in the epoch before this process (resume)
} tg_epoch_sums;

// Where a run stands.
typedef struct {
    int epoch;          // 0-based epoch in progress
    size_t position;    // next item position in that epoch (= item count: validation pending)
    uint64_t global_step;
    tg_epoch_sums sums;
    double best_val_acc;  // -1: none yet
    bool head_new;        // the head was replaced after freezing (re-done on resume)
} tg_run_state;

// A folder's file list as a checkpoint records it: its count and a 64-bit FNV-1a of the
// class names and of every image's class, path relative to the root and size, in the
// loader's order. Modification times are left out: a copy of the folder (cp without -p,
// rsync) must still resume.
typedef struct {
    size_t count;
    uint64_t fingerprint;
} tg_file_list;

tg_file_list tg_file_list_of(const tg_folder *f);

// Everything of a checkpoint but its tensors and model metadata.
typedef struct {
    tg_run_state run;
    tg_rng rng;                 // the run's generator
    int batch_size;             // the loader's order: what the run's batches depend on
    uint64_t seed;
    int shuffle, augment;
    tg_file_list train, val;    // val: {0, 0} without a validation folder
    // set by tg_checkpoint_read_state: the keys that older checkpoints lack
    bool has_order, has_train, has_val;
} tg_ckpt_state;

// Writes path atomically.
tg_status tg_checkpoint_save(const char *path, const tg_resnet18 *model, const tg_sgd *sgd,
                             const tg_model_meta *meta, const tg_ckpt_state *s, tg_error *err);

// An opened checkpoint.
typedef struct {
    char *path;
    tg_statedict sd;
    tg_model_meta meta;
} tg_ckpt_file;

// Reads path: TG_ERR_CONFIG when there is none ("no checkpoint to resume from"),
// TG_ERR_FORMAT when it is not a tgfinetune checkpoint or its model metadata is bad.
// Close f whatever the result.
tg_status tg_checkpoint_open(tg_ckpt_file *f, const char *path, tg_error *err);
void tg_checkpoint_close(tg_ckpt_file *f);
// The class folders must be the ones the run started with (TG_ERR_CONFIG).
tg_status tg_checkpoint_check_classes(const tg_ckpt_file *f, const tg_folder *train,
                                      tg_error *err);
// Parses the run's state from the metadata (TG_ERR_FORMAT when incomplete or malformed).
tg_status tg_checkpoint_read_state(const tg_ckpt_file *f, tg_ckpt_state *s, tg_error *err);
// The checkpoint's state `was` against the run about to resume, `now` (its file lists
// and order): the training files must be the same (TG_ERR_CONFIG otherwise); a changed
// validation folder, an old checkpoint without a file list, and another order are said to
// notice, and the run goes on.
tg_status tg_checkpoint_check_files(const tg_ckpt_file *f, const tg_ckpt_state *was,
                                    const tg_ckpt_state *now, const tg_folder *train,
                                    tg_notice_fn notice, void *user, tg_error *err);
// Its model tensors into model, built as the run built it (classes, freeze, head).
tg_status tg_checkpoint_restore_model(const tg_ckpt_file *f, tg_resnet18 *model, tg_error *err);
// Its momentum buffers into sgd (made over that model's trainable parameters).
tg_status tg_checkpoint_restore_sgd(const tg_ckpt_file *f, tg_sgd *sgd, tg_error *err);

#endif
