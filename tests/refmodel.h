// refmodel.h: a resnet18 filled from the twins' counter-based generator (testlib.h), as
// scripts/gen_parity.py's make_model() fills torchvision's: every state_dict entry k from
// stream k, in a range that mirrors its entry_range(). Header-only, for tests.
#ifndef TG_TEST_REFMODEL_H
#define TG_TEST_REFMODEL_H

#include <check.h>
#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "nn/resnet18.h"
#include "testlib.h"

static inline bool tg_ref_ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

// Mirrors entry_range() of the generators.
static inline void tg_ref_range(const tg_model_entry *e, double *lo, double *hi) {
    const tg_tensor *t = e->t;
    double b;
    if (t->ndim == 4) {
        b = sqrt(6.0 / (double)(t->shape[0] * t->shape[2] * t->shape[3]));
        *lo = -b, *hi = b;
    } else if (!strncmp(e->name, "fc.", 3)) {
        b = 1.0 / sqrt(512.0);
        *lo = -b, *hi = b;
    } else if (tg_ref_ends_with(e->name, "running_mean")) {
        *lo = -0.1, *hi = 0.1;
    } else if (tg_ref_ends_with(e->name, "running_var") || tg_ref_ends_with(e->name, "weight")) {
        *lo = 0.5, *hi = 1.5;
    } else {
        *lo = -0.2, *hi = 0.2;
    }
}

static inline tg_resnet18 *tg_ref_model(int classes, uint64_t seed) {
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    tg_error err = {0};
    tg_resnet18 *m = tg_resnet18_new(classes, &rng, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    for (int k = 0; k < m->n_entries; k++) {
        tg_model_entry *e = &m->entries[k];
        if (e->kind == TG_ENTRY_COUNTER) {
            *e->count = 0;
            continue;
        }
        double lo, hi;
        tg_ref_range(e, &lo, &hi);
        tg_fill(e->t->data, e->t->numel, seed, (uint64_t)k, lo, hi);
    }
    return m;
}

#endif
