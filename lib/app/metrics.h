// metrics.h: metrics.jsonl, one JSON object per epoch (README.md, "What train writes"):
//   {"epoch": 1, "train_loss": F, "train_acc": F, "val_loss": F|null, "val_acc": F|null,
//    "lr": F, "images": N, "skipped": N, "seconds": F, "images_per_s": F}
// The file is kept in memory and rewritten whole, atomically, at each epoch's end; on resume
// the lines of the epochs the checkpoint completed are reloaded first.
#ifndef TG_METRICS_H
#define TG_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"

// One epoch's figures (the line written to metrics.jsonl; train's epoch_end callback).
typedef struct {
    int epoch;  // 1-based
    int epochs;
    double train_loss, train_acc;
    bool has_val;
    double val_loss, val_acc;  // when has_val
    double lr;
    size_t images, skipped;
    size_t dropped;  // images left out: batches of one at image_size <= 32 (BatchNorm)
    double seconds, images_per_s;
    bool best;  // best.safetensors was written for this epoch
} tg_epoch_metrics;

typedef struct {
    char *path;  // the file
    char *text;  // its content: '\n'-terminated lines
    size_t len;
} tg_metrics_log;

// An empty log for dir/metrics.jsonl (nothing is read or written yet).
tg_status tg_metrics_open(tg_metrics_log *m, const char *dir, tg_error *err);
// Reads back the file's lines of epochs 1..completed (resume); unreadable or other lines
// are dropped, a missing file leaves the log empty.
void tg_metrics_reload(tg_metrics_log *m, int completed);
// Appends em's line and rewrites the file.
tg_status tg_metrics_append(tg_metrics_log *m, const tg_epoch_metrics *em, tg_error *err);
void tg_metrics_free(tg_metrics_log *m);

#endif
