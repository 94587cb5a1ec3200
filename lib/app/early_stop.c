// early_stop.c: Keras' EarlyStopping rule (see early_stop.h).
#include "app/early_stop.h"

#include <math.h>

void tg_early_stop_init(tg_early_stop *e, const tg_early_stop_rule *r) {
    *e = (tg_early_stop){.best = r->mode_max ? -INFINITY : INFINITY, .best_epoch = -1};
}

bool tg_early_stop_step(tg_early_stop *e, const tg_early_stop_rule *r, int epoch, double value,
                        bool *improved) {
    e->wait++;
    *improved = r->mode_max ? value - r->min_delta > e->best : value + r->min_delta < e->best;
    if (*improved) {
        e->best = value;
        e->best_epoch = epoch;
        e->wait = 0;
        return false;
    }
    return e->wait >= r->patience && epoch > 0;
}
