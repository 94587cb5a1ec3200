// schedule.c: learning-rate schedules and ReduceLROnPlateau (see schedule.h).
#include "app/schedule.h"

#include <math.h>

// The schedule after the warmup at u = t - warmup_epochs (u_steps: the same in steps,
// for the step schedule's boundaries when the position is per step).
static double main_lr(const tg_schedule *s, double u, double u_steps, int64_t spe,
                      const tg_plateau *p) {
    switch (s->kind) {
        case TG_LR_STEP: {
            // floor of a ratio of integers when warmup * steps is one: no rounding at a boundary
            double k = s->per_step ? floor(u_steps / ((double)s->step_size * (double)spe))
                                   : floor(u / s->step_size);
            return s->lr * pow(s->gamma, k);
        }
        case TG_LR_COSINE:
            return s->min_lr +
                   (s->lr - s->min_lr) * (1 + cos(M_PI * u / (s->epochs - s->warmup_epochs))) / 2;
        case TG_LR_PLATEAU:
            return p ? p->lr : s->lr;
        case TG_LR_CONSTANT:
        default:
            return s->lr;
    }
}

double tg_schedule_lr(const tg_schedule *s, int epoch, int64_t step, int64_t steps_per_epoch,
                      const tg_plateau *p) {
    const int64_t spe = steps_per_epoch > 0 ? steps_per_epoch : 1;
    double t, steps;  // the position in epochs and in optimizer steps
    if (s->per_step) {
        steps = (double)((int64_t)epoch * spe + step);
        t = steps / (double)spe;
    } else {
        t = epoch;
        steps = (double)epoch * (double)spe;
    }
    if (t < s->warmup_epochs) return s->warmup_lr + (s->lr - s->warmup_lr) * t / s->warmup_epochs;
    return main_lr(s, t - s->warmup_epochs, steps - s->warmup_epochs * (double)spe, spe, p);
}

bool tg_schedule_after_warmup(const tg_schedule *s, int epoch) {
    return (double)epoch + 1.0 > s->warmup_epochs;
}

void tg_plateau_init(tg_plateau *p, const tg_schedule *s) {
    *p = (tg_plateau){.lr = s->lr, .best = s->mode_max ? -INFINITY : INFINITY};
}

bool tg_plateau_step(tg_plateau *p, const tg_schedule *s, double metric) {
    const bool better = s->mode_max ? metric > p->best * (s->threshold + 1.0)
                                    : metric < p->best * (1.0 - s->threshold);
    if (better) {
        p->best = metric;
        p->num_bad_epochs = 0;
    } else {
        p->num_bad_epochs++;
    }
    if (p->cooldown_counter > 0) {  // bad epochs in cooldown are ignored
        p->cooldown_counter--;
        p->num_bad_epochs = 0;
    }
    if (p->num_bad_epochs <= s->patience) return false;
    const double old_lr = p->lr, new_lr = fmax(old_lr * s->factor, s->min_lr);
    p->cooldown_counter = s->cooldown;
    p->num_bad_epochs = 0;
    if (!(old_lr - new_lr > 1e-8)) return false;
    p->lr = new_lr;
    return true;
}
