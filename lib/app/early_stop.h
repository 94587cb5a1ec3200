// early_stop.h: Keras' EarlyStopping rule (keras.callbacks.EarlyStopping, on_epoch_end; no
// PyTorch equivalent) on a validation metric: an epoch improves when its value beats the
// best by more than min_delta (mode max: value - min_delta > best; mode min:
// value + min_delta < best; the best starts at -inf / +inf), which sets the best and zeroes
// the wait; every epoch counts one more waited epoch first. Training stops after an epoch
// with wait >= patience (never after the first epoch). NaN never improves.
#ifndef TG_EARLY_STOP_H
#define TG_EARLY_STOP_H

#include <stdbool.h>

typedef struct {
    bool mode_max;     // val_acc: max; val_loss: min
    int patience;      // >= 1
    double min_delta;  // >= 0
} tg_early_stop_rule;

typedef struct {
    double best;     // +inf / -inf before any epoch
    int best_epoch;  // 0-based, -1 before any improvement
    int wait;
} tg_early_stop;

void tg_early_stop_init(tg_early_stop *e, const tg_early_stop_rule *r);
// Epoch `epoch` (0-based) ended with `value`. Sets *improved; returns true when training
// stops after this epoch.
bool tg_early_stop_step(tg_early_stop *e, const tg_early_stop_rule *r, int epoch, double value,
                        bool *improved);

#endif
