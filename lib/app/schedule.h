// schedule.h: the learning rate of every optimizer step as a pure function of the config's
// schedule, the step's place in the run, and (for "plateau") the plateau's state.
//
// Position: per epoch (the default) every step of epoch e (0-based) uses t = e; per step
// (timm's --sched-on-updates) optimizer step k of epoch e uses t = (e * S + k) / S, S the
// optimizer steps of a full epoch. Warmup (timm's warmup with warmup_prefix): for
// t < warmup_epochs, lr(t) = warmup_lr + (lr - warmup_lr) * t / warmup_epochs; after it the
// schedule runs on u = t - warmup_epochs over E = epochs - warmup_epochs:
//   constant  lr
//   step      lr * gamma^floor(u / step_size)                     (StepLR)
//   cosine    min_lr + (lr - min_lr) * (1 + cos(pi * u / E)) / 2  (CosineAnnealingLR, T_max E)
//   plateau   the plateau's lr                                   (ReduceLROnPlateau)
// With torch's schedulers stepped once per optimizer step (SequentialLR of LinearLR and
// the main one) these are the same values (tests/test_schedule.c).
//
// ReduceLROnPlateau (torch/optim/lr_scheduler.py, PyTorch 1.13), threshold_mode "rel",
// eps 1e-8: after each epoch it sees the metric; better = metric < best * (1 - threshold)
// (mode min) or metric > best * (1 + threshold) (mode max); a better epoch sets best and
// zeroes the bad-epoch count, else the count grows; during cooldown the count is zeroed
// and the cooldown counts down; when the count exceeds patience, lr = max(lr * factor,
// min_lr) (only if that lowers it by more than 1e-8), cooldown starts, the count is zeroed.
// An epoch that ends inside the warmup (epoch + 1 <= warmup_epochs) is not shown to it
// (timm's PlateauLRScheduler).
#ifndef TG_SCHEDULE_H
#define TG_SCHEDULE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { TG_LR_CONSTANT = 0, TG_LR_STEP, TG_LR_COSINE, TG_LR_PLATEAU } tg_lr_kind;

typedef struct {
    tg_lr_kind kind;
    double lr;  // the base lr
    int epochs;
    double warmup_epochs;  // >= 0, fractions allowed
    double warmup_lr;
    bool per_step;
    int step_size;  // step (epochs)
    double gamma;   // step
    double min_lr;  // cosine's eta_min, plateau's min_lr
    // plateau
    bool mode_max;  // "max" (val_acc) instead of "min" (val_loss)
    double factor, threshold;
    int patience, cooldown;
} tg_schedule;

typedef struct {
    double lr;    // the lr after the plateau's reductions
    double best;  // best metric seen (+inf / -inf before any)
    int num_bad_epochs;
    int cooldown_counter;
} tg_plateau;

// The lr of optimizer step `step` (0-based within epoch `epoch`, 0-based) of a run whose
// full epochs take steps_per_epoch optimizer steps; p: the plateau's state (NULL: none,
// the base lr).
double tg_schedule_lr(const tg_schedule *s, int epoch, int64_t step, int64_t steps_per_epoch,
                      const tg_plateau *p);
// Whether epoch `epoch` (0-based) ends after the warmup (the plateau sees its metric).
bool tg_schedule_after_warmup(const tg_schedule *s, int epoch);

void tg_plateau_init(tg_plateau *p, const tg_schedule *s);
// Shows the plateau the metric of a finished epoch; returns true if it lowered the lr.
bool tg_plateau_step(tg_plateau *p, const tg_schedule *s, double metric);

#endif
