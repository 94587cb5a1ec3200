// test_schedule.c: learning-rate schedules (lib/app/schedule.c), ReduceLROnPlateau and
// early stopping (lib/app/early_stop.c) against PyTorch 1.13's schedulers and a
// transcription of Keras' EarlyStopping (tests/data/nn/recipes.bin, written by
// scripts/gen_recipes_ref.py: run_sched, run_plateau, run_es), and the schedules of the
// config before warmup and per-step positions existed, unchanged.
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "app/config.h"
#include "app/early_stop.h"
#include "app/schedule.h"
#include "testlib.h"

static tg_refs R;

static const tg_refs *refs(void) {
    tg_refs_load(&R, "nn/recipes.bin", 300);
    return &R;
}

// gen_recipes_ref.py: SCHED_CASES
static const struct {
    tg_lr_kind kind;
    int epochs, spe;
    bool per_step;
    double warmup, warmup_lr, lr, min_lr;
    int step_size;
    double gamma;
} SCHED[] = {
    {TG_LR_COSINE, 6, 5, true, 2.0, 1e-3, 0.1, 1e-4, 0, 0},
    {TG_LR_COSINE, 5, 4, true, 0.5, 1e-13, 0.05, 0.0, 0, 0},
    {TG_LR_COSINE, 8, 3, false, 0.0, 0.0, 0.02, 1e-3, 0, 0},
    {TG_LR_COSINE, 7, 1, false, 2.0, 1e-5, 0.01, 0.0, 0, 0},
    {TG_LR_STEP, 8, 3, false, 1.0, 1e-3, 0.1, 0.0, 3, 0.5},
    {TG_LR_STEP, 6, 4, true, 1.5, 2e-4, 0.01, 0.0, 2, 0.1},
    {TG_LR_CONSTANT, 4, 6, true, 1.0, 1e-4, 3e-3, 0.0, 0, 0},
};

// Every optimizer step's lr over a run equals torch's SequentialLR(LinearLR, main) stepped
// per step (or per epoch), to 1e-7 relative (measured: within 3e-15).
START_TEST(test_schedule_vs_torch) {
    for (size_t c = 0; c < sizeof SCHED / sizeof SCHED[0]; c++) {
        tg_schedule s = {.kind = SCHED[c].kind,
                         .lr = SCHED[c].lr,
                         .epochs = SCHED[c].epochs,
                         .warmup_epochs = SCHED[c].warmup,
                         .warmup_lr = SCHED[c].warmup_lr,
                         .per_step = SCHED[c].per_step,
                         .step_size = SCHED[c].step_size,
                         .gamma = SCHED[c].gamma,
                         .min_lr = SCHED[c].min_lr};
        const int n = SCHED[c].epochs * SCHED[c].spe;
        double *lr = malloc((size_t)n * sizeof *lr);
        for (int i = 0; i < n; i++)
            lr[i] = tg_schedule_lr(&s, i / SCHED[c].spe, i % SCHED[c].spe, SCHED[c].spe, NULL);
        char name[32];
        snprintf(name, sizeof name, "sched.%zu.lr", c);
        tg_refs_check_series(refs(), name, lr, n, 1e-7, 0);
        free(lr);
    }
}
END_TEST

// Without warmup and per epoch, the schedules are bit for bit what tg_config_lr_at gave
// before warmup and per-step positions existed (a run with the old keys is unchanged).
START_TEST(test_schedule_as_before) {
    const tg_sched_type old[3] = {TG_SCHED_CONSTANT, TG_SCHED_STEP, TG_SCHED_COSINE};
    const tg_lr_kind now[3] = {TG_LR_CONSTANT, TG_LR_STEP, TG_LR_COSINE};
    for (int k = 0; k < 3; k++) {
        tg_config cfg;
        tg_config_defaults(&cfg);
        cfg.sched = old[k];
        cfg.lr = 0.037;
        cfg.epochs = 13;
        cfg.sched_step_size = 4;
        cfg.sched_gamma = 0.3;
        cfg.sched_min_lr = 1e-4;
        tg_schedule s = {.kind = now[k],
                         .lr = cfg.lr,
                         .epochs = cfg.epochs,
                         .step_size = cfg.sched_step_size,
                         .gamma = cfg.sched_gamma,
                         .min_lr = cfg.sched_min_lr};
        for (int e = 0; e < cfg.epochs; e++)
            for (int64_t step = 0; step < 3; step++)
                ck_assert_msg(tg_schedule_lr(&s, e, step, 3, NULL) == tg_config_lr_at(&cfg, e),
                              "kind %d epoch %d", k, e);
    }
}
END_TEST

// gen_recipes_ref.py: PLATEAU_CASES (mode, factor, patience, threshold, cooldown, min_lr, lr)
static const struct {
    bool mode_max;
    double factor;
    int patience;
    double threshold;
    int cooldown;
    double min_lr, lr;
} PLATEAU[] = {
    {false, 0.5, 2, 1e-4, 1, 1e-3, 0.1},
    {true, 0.1, 0, 0.01, 2, 0.0, 0.01},
    {false, 0.3, 1, 0.0, 0, 0.004, 0.05},
};

// The lr after every epoch and the whole state (best, bad epochs, cooldown) equal
// ReduceLROnPlateau's on the same metrics (ties at the relative threshold, cooldown,
// min_lr reached, a NaN metric): exactly.
START_TEST(test_plateau_vs_torch) {
    for (size_t c = 0; c < sizeof PLATEAU / sizeof PLATEAU[0]; c++) {
        tg_schedule s = {.kind = TG_LR_PLATEAU,
                         .lr = PLATEAU[c].lr,
                         .epochs = 100,
                         .mode_max = PLATEAU[c].mode_max,
                         .factor = PLATEAU[c].factor,
                         .patience = PLATEAU[c].patience,
                         .threshold = PLATEAU[c].threshold,
                         .cooldown = PLATEAU[c].cooldown,
                         .min_lr = PLATEAU[c].min_lr};
        char name[48];
        snprintf(name, sizeof name, "plateau.%zu.metrics", c);
        const tg_ref *m = tg_refs_find(refs(), name);
        const int n = (int)m->numel;
        double lr[32], bad[32], cool[32], best[32];
        ck_assert_int_le(n, 32);
        tg_plateau p;
        tg_plateau_init(&p, &s);
        ck_assert(tg_schedule_lr(&s, 0, 0, 1, &p) == s.lr);
        int reductions = 0;
        for (int i = 0; i < n; i++) {
            double before = p.lr;
            bool reduced = tg_plateau_step(&p, &s, m->vals[i]);
            ck_assert(reduced == (p.lr < before));
            reductions += reduced;
            lr[i] = tg_schedule_lr(&s, i + 1, 0, 1, &p);
            bad[i] = p.num_bad_epochs;
            cool[i] = p.cooldown_counter;
            best[i] = p.best;
        }
        ck_assert_int_ge(reductions, 2);
        const char *what[4] = {"lr", "bad", "cooldown", "best"};
        const double *got[4] = {lr, bad, cool, best};
        for (int k = 0; k < 4; k++) {
            snprintf(name, sizeof name, "plateau.%zu.%s", c, what[k]);
            tg_refs_check_series(refs(), name, got[k], n, 0, 0);
        }
    }
}
END_TEST

// With a warmup the plateau lr applies after it; epochs ending inside it are not shown to
// the plateau (timm's PlateauLRScheduler).
START_TEST(test_plateau_after_warmup) {
    tg_schedule s = {.kind = TG_LR_PLATEAU,
                     .lr = 0.1,
                     .epochs = 10,
                     .warmup_epochs = 2,
                     .warmup_lr = 0.0,
                     .factor = 0.5,
                     .patience = 0,
                     .threshold = 0};
    tg_plateau p;
    tg_plateau_init(&p, &s);
    ck_assert(!tg_schedule_after_warmup(&s, 0) && !tg_schedule_after_warmup(&s, 1));
    ck_assert(tg_schedule_after_warmup(&s, 2));
    ck_assert_double_eq(tg_schedule_lr(&s, 0, 0, 4, &p), 0.0);
    ck_assert_double_eq_tol(tg_schedule_lr(&s, 1, 3, 4, &p), 0.05, 1e-17);  // per epoch: t = 1
    s.per_step = true;
    ck_assert_double_eq_tol(tg_schedule_lr(&s, 1, 2, 4, &p), 0.1 * 1.5 / 2, 1e-17);
    ck_assert_double_eq(tg_schedule_lr(&s, 2, 0, 4, &p), 0.1);
    tg_plateau_step(&p, &s, 1.0);
    ck_assert(tg_plateau_step(&p, &s, 1.0));  // patience 0: the first bad epoch reduces
    ck_assert_double_eq(tg_schedule_lr(&s, 4, 0, 4, &p), 0.05);
    ck_assert_double_eq(tg_schedule_lr(&s, 1, 0, 4, &p), 0.05);  // warmup is the schedule's
}
END_TEST

// gen_recipes_ref.py: ES_CASES (mode, patience, min_delta)
static const struct {
    bool mode_max;
    int patience;
    double min_delta;
} ES[] = {{true, 2, 0.0}, {false, 3, 0.01}, {true, 1, 0.0}, {false, 2, 0.0}};

// The epoch after which training stops (-1: never), the best epoch and every epoch's
// improvement flag equal the Keras rule's on the same metrics.
START_TEST(test_early_stop_vs_keras) {
    for (size_t c = 0; c < sizeof ES / sizeof ES[0]; c++) {
        tg_early_stop_rule r = {ES[c].mode_max, ES[c].patience, ES[c].min_delta};
        char name[48];
        snprintf(name, sizeof name, "es.%zu.improved", c);
        const tg_ref *imp = tg_refs_find(refs(), name);
        snprintf(name, sizeof name, "es.%zu.metrics", c);
        const tg_ref *m = tg_refs_find(refs(), name);
        tg_early_stop e;
        tg_early_stop_init(&e, &r);
        double result[2] = {-1, -1}, improved[16];
        int n = 0;
        for (int i = 0; i < (int)m->numel; i++) {
            bool im;
            bool stop = tg_early_stop_step(&e, &r, i, m->vals[i], &im);
            improved[n++] = im;
            if (stop) {
                result[0] = i;
                break;
            }
        }
        result[1] = e.best_epoch;
        snprintf(name, sizeof name, "es.%zu.result", c);
        tg_refs_check_series(refs(), name, result, 2, 0, 0);
        ck_assert_int_eq(n, (int)imp->numel);
        snprintf(name, sizeof name, "es.%zu.improved", c);
        tg_refs_check_series(refs(), name, improved, n, 0, 0);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("schedule");
    TCase *tc = tcase_create("schedule");
    tcase_add_test(tc, test_schedule_vs_torch);
    tcase_add_test(tc, test_schedule_as_before);
    tcase_add_test(tc, test_plateau_vs_torch);
    tcase_add_test(tc, test_plateau_after_warmup);
    tcase_add_test(tc, test_early_stop_vs_keras);
    suite_add_tcase(s, tc);
    return tg_test_run(s, 0);
}
