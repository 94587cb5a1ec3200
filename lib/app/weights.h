// weights.h: the bridge between a tg_statedict (a .pth or .safetensors file's content, see
// io/statedict.h; files are read by io/weightfile.h) and the resnet18 model, as torch's
// model.load_state_dict(sd, strict=True) and model.state_dict().
#ifndef TG_WEIGHTS_H
#define TG_WEIGHTS_H

#include <stdbool.h>

#include "core/error.h"
#include "io/weightfile.h"
#include "nn/resnet18.h"

typedef struct {
    bool fc_replaced;       // the file's fc had another class count: it was not loaded and
                            // the model keeps its own (freshly initialised) head
    int file_classes;       // class count of the file's fc (0 if fc absent/unknown)
    int n_counters_missing; // num_batches_tracked keys absent from the file (set to 0)
    int n_converted;        // tensors converted from float64/float16/bfloat16 to float32
    char message[TG_ERR_MSG_MAX];  // human-readable note ("" if nothing to say)
} tg_load_report;

// Strict load of sd into m. Fails (model unchanged) with a message listing missing and
// unexpected keys, or naming the key and both shapes of a mismatch, or the key of a
// non-finite value or an unsupported dtype. num_batches_tracked is optional. An fc whose
// class count differs from the model's is skipped when allow_fc_replace (reported in
// report->fc_replaced / message) and is an error otherwise. report may be NULL.
tg_status tg_weights_load(tg_resnet18 *m, const tg_statedict *sd, bool allow_fc_replace,
                          tg_load_report *report, tg_error *err);
// tg_statedict_load(path) then tg_weights_load; errors are prefixed with path.
tg_status tg_weights_load_file(tg_resnet18 *m, const char *path, bool allow_fc_replace,
                               tg_load_report *report, tg_error *err);

// Appends the model's 122 entries to sd in state_dict order: float32 parameters and
// running stats, int64 0-dim num_batches_tracked.
tg_status tg_weights_export(const tg_resnet18 *m, tg_statedict *sd, tg_error *err);

#endif
