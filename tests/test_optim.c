// test_optim.c: the optimizer layer (lib/nn/optim.c), AdamW (adamw.c), SGD with parameter
// groups (sgd.c), clip_grad_norm_, resnet18's parameter groups (param_groups.c), gradient
// accumulation and unfreezing, against PyTorch 1.13: tests/data/nn/recipes.bin, written by
// scripts/gen_recipes_ref.py (see there for the cases).
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/tensor.h"
#include "nn/adamw.h"
#include "nn/optim.h"
#include "nn/param_groups.h"
#include "nn/resnet18.h"
#include "nn/sgd.h"
#include "ops/ops.h"
#include "refmodel.h"
#include "testlib.h"

static tg_refs R;

static const tg_refs *refs(void) {
    tg_refs_load(&R, "nn/recipes.bin", 300);
    return &R;
}

// ---- opt.*: three parameters, gradients given (gen_recipes_ref.py: opt_params, opt_grad) ----
static const int64_t OPT_NUMEL[3] = {37, 35, 203};
static const int64_t OPT_SHAPE[3][2] = {{37, 0}, {5, 7}, {203, 0}};
static const double OPT_SCALES[7] = {1.0, 1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6};

static void opt_params(tg_tensor *ps[3]) {
    static const char *names[3] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        ps[i] = tg_tensor_new(i == 1 ? 2 : 1, OPT_SHAPE[i]);
        ck_assert_ptr_nonnull(ps[i]);
        tg_fill(ps[i]->data, ps[i]->numel, 11, (uint64_t)i, -1.0, 1.0);
        tg_tensor_set_requires_grad(ps[i], true);
        ps[i]->name = names[i];
    }
}

// The gradients of step (1-based); parameter 2 has none at step 3 (PyTorch: p.grad = None).
static void opt_grads(tg_tensor *ps[3], int step) {
    for (int i = 0; i < 3; i++) {
        tg_tensor *p = ps[i];
        if (step == 3 && i == 2) {
            free(p->grad);
            p->grad = NULL;
            continue;
        }
        if (!p->grad) p->grad = malloc((size_t)p->numel * sizeof(float));
        ck_assert_ptr_nonnull(p->grad);
        p->grad_zero = false;
        tg_fill(p->grad, p->numel, 11, (uint64_t)(100 * step + i), -1.0, 1.0);
        for (int64_t j = 0; j < p->numel; j++) p->grad[j] *= (float)OPT_SCALES[j % 7];
    }
}

static double opt_lr(int step) {
    return 1e-2 * (1.0 - 0.15 * (step - 1));
}

// groups {a, c} (lr_scale 1, weight decay 0.05) and {b} (lr_scale 0.25, weight decay 0.2),
// 5 steps with the lr changed between them; every tensor compared after every step.
static void run_opt(const char *tag, tg_optim_options o, bool exact) {
    tg_tensor *ps[3];
    opt_params(ps);
    const tg_param_group groups[2] = {{1.0, 0.05, 0}, {0.25, 0.2, 0}};
    const int group_of[3] = {0, 1, 0};
    tg_optim opt;
    tg_error err = {0};
    ck_assert_int_eq(tg_optim_init(&opt, ps, 3, o, groups, 2, group_of, &err), TG_OK);
    char name[96];
    for (int step = 1; step <= 5; step++) {
        tg_optim_set_lr(&opt, opt_lr(step));
        opt_grads(ps, step);
        tg_optim_step(&opt);
        for (int i = 0; i < 3; i++) {
            snprintf(name, sizeof name, "opt.%s.%d.p%d", tag, step, i);
            if (exact)
                tg_refs_check_exact(refs(), name, ps[i]->data, OPT_NUMEL[i]);
            else
                tg_refs_check(refs(), name, ps[i]->data, OPT_NUMEL[i], 1e-6);
            for (int k = 0; k < opt.n_state; k++) {
                snprintf(name, sizeof name, "opt.%s.%d.p%d.%s", tag, step, i,
                         tg_optim_state_name(&opt, k));
                const float *st = tg_optim_state(&opt, i, k);
                if (exact)
                    tg_refs_check_exact(refs(), name, st, OPT_NUMEL[i]);
                else
                    tg_refs_check(refs(), name, st, OPT_NUMEL[i], 1e-6);
            }
        }
        // parameter 2 skipped step 3: its step count lags (PyTorch's state['step'])
        ck_assert_int_eq(opt.steps[0], step);
        ck_assert_int_eq(opt.steps[2], step >= 3 ? step - 1 : step);
    }
    tg_optim_free(&opt);
    for (int i = 0; i < 3; i++) tg_tensor_free(ps[i]);
}

// AdamW on the same gradients gives PyTorch's bits: parameters, exp_avg and exp_avg_sq.
START_TEST(test_adamw_vs_torch) {
    tg_optim_options o = {
        .type = TG_OPTIM_ADAMW, .lr = 1e-2, .beta1 = 0.9, .beta2 = 0.98, .eps = 1e-8};
    run_opt("adamw", o, true);
}
END_TEST

// SGD with groups: PyTorch's vectorised kernels use fused multiply-adds where the engine's
// SGD (kept as it was, bitwise) does not, so this is within 1e-6 of the max-abs.
START_TEST(test_sgd_groups_vs_torch) {
    tg_optim_options o = {.type = TG_OPTIM_SGD, .lr = 1e-2, .momentum = 0.9, .nesterov = true};
    run_opt("sgd", o, false);
}
END_TEST

START_TEST(test_clip_vs_torch) {
    const char *cases[2] = {"clip", "noclip"};
    const double max_norm[2] = {0.5, 1e3};
    for (int c = 0; c < 2; c++) {
        tg_tensor *ps[3];
        opt_params(ps);
        opt_grads(ps, 3);  // parameter 2 has no gradient: left out of the norm
        for (int i = 0; i < 2; i++)
            for (int64_t j = 0; j < ps[i]->numel; j++) ps[i]->grad[j] *= 7.0f;
        tg_optim opt;
        tg_error err = {0};
        tg_optim_options o = {.type = TG_OPTIM_SGD, .lr = 0.1};
        ck_assert_int_eq(tg_optim_init(&opt, ps, 3, o, NULL, 0, NULL, &err), TG_OK);
        double norm = 0;
        bool clipped = tg_optim_clip_grad_norm(&opt, max_norm[c], &norm);
        ck_assert(clipped == (c == 0));
        char name[64];
        snprintf(name, sizeof name, "opt.%s.total_norm", cases[c]);
        tg_refs_check_series(refs(), name, &norm, 1, 1e-6, 0);
        for (int i = 0; i < 2; i++) {
            snprintf(name, sizeof name, "opt.%s.g%d", cases[c], i);
            tg_refs_check(refs(), name, ps[i]->grad, ps[i]->numel, 1e-6);
        }
        ck_assert_ptr_null(ps[2]->grad);
        tg_optim_free(&opt);
        for (int i = 0; i < 3; i++) tg_tensor_free(ps[i]);
    }
}
END_TEST

// ---- model-level cases ----
static tg_tensor *ref_batch(uint64_t seed, int n) {
    int64_t xs[4] = {n, 3, 64, 64};
    tg_tensor *x = tg_tensor_new(4, xs);
    ck_assert_ptr_nonnull(x);
    tg_fill(x->data, x->numel, seed, 1000, -2.0, 2.0);
    return x;
}

static float **copy_params(tg_tensor **params, int n) {
    float **init = calloc((size_t)n, sizeof *init);
    for (int i = 0; i < n; i++) {
        init[i] = malloc((size_t)params[i]->numel * sizeof(float));
        memcpy(init[i], params[i]->data, (size_t)params[i]->numel * sizeof(float));
    }
    return init;
}

// Compares every parameter's delta "<tag>.delta.<name>" (tolerance 1e-3 of its max-abs, as
// the SGD parity tests) and BN buffer "<tag>.buf.<name>", skipping what the generator found
// ill-defined in torch itself ("unstable.<key>"); returns how many it skipped. ACC keeps
// no buffers (every BatchNorm in eval mode).
static int check_deltas(const char *tag, tg_resnet18 *m, tg_tensor **params, float **init,
                        bool buffers) {
    char name[128];
    int skipped = 0;
    for (int i = 0; i < TG_RESNET18_N_PARAMS; i++) {
        snprintf(name, sizeof name, "unstable.%s.delta.%s", tag, params[i]->name);
        if (tg_refs_get(refs(), name)) {
            skipped++;
        } else {
            float *d = malloc((size_t)params[i]->numel * sizeof(float));
            for (int64_t j = 0; j < params[i]->numel; j++) d[j] = params[i]->data[j] - init[i][j];
            tg_refs_check(refs(), name + 9, d, params[i]->numel, 1e-3);
            free(d);
        }
        free(init[i]);
    }
    free(init);
    for (int k = 0; buffers && k < m->n_entries; k++) {
        const tg_model_entry *e = &m->entries[k];
        if (e->kind != TG_ENTRY_BUFFER) continue;
        snprintf(name, sizeof name, "unstable.%s.buf.%s", tag, e->name);
        if (tg_refs_get(refs(), name))
            skipped++;
        else
            tg_refs_check(refs(), name + 9, e->t->data, e->t->numel, 1e-3);
    }
    return skipped;
}

static tg_tensor *ce_loss(tg_ctx *c, tg_resnet18 *m, tg_tensor *x, const int64_t *labels) {
    tg_tensor *loss = tg_cross_entropy(c, tg_resnet18_forward(c, m, x), labels, 0.0f);
    ck_assert_msg(loss != NULL, "%s", tg_ctx_error(c));
    return loss;
}

// M and MS: resnet18 with parameter groups built by tg_resnet18_param_groups (a head group
// with lr_scale 2, bias and norm weight decay 0, layer decay 0.75) and clip_grad_norm_(1)
// before every step, batch 4: AdamW one step (M), SGD with nesterov momentum three steps
// (MS). The generator leaves out the tensors that move by more than 2e-4 in torch itself
// under a 1e-7 input perturbation (most BatchNorm weights); the rest must match to 1e-3 of
// their max-abs, the gradient norms to 1e-3 relative.
static void run_groups(const char *tag, tg_optim_options o, int steps) {
    tg_resnet18 *m = tg_ref_model(10, 1);
    tg_tensor *params[TG_RESNET18_N_PARAMS];
    tg_resnet18_params(m, params);
    float **init = copy_params(params, TG_RESNET18_N_PARAMS);
    const char *head[1] = {"fc.*"};
    tg_group_rule rule = {head, 1, 2.0, NAN};
    tg_param_group_spec spec = {.weight_decay = o.weight_decay,
                                .norm_weight_decay = 0.0,
                                .bias_weight_decay = 0.0,
                                .layer_decay = 0.75,
                                .rules = &rule,
                                .n_rules = 1,
                                .frozen_lr_scale = 1.0};
    tg_param_groups pg;
    tg_error err = {0};
    ck_assert_int_eq(tg_resnet18_param_groups(m, &spec, &pg, &err), TG_OK);
    tg_optim opt;
    ck_assert_int_eq(tg_optim_init(&opt, params, TG_RESNET18_N_PARAMS, o, pg.groups,
                                   pg.n_groups, pg.group_of, &err),
                     TG_OK);
    tg_tensor *x = ref_batch(1, 4);
    const int64_t labels[4] = {3, 7, 0, 9};
    tg_ctx c;
    tg_ctx_init(&c);
    double norms[3];
    for (int step = 0; step < steps; step++) {
        tg_optim_zero_grad(&opt);
        ck_assert_int_eq(tg_backward(&c, ce_loss(&c, m, x, labels), NULL, false), TG_OK);
        tg_optim_clip_grad_norm(&opt, 1.0, &norms[step]);
        tg_optim_step(&opt);
        tg_ctx_reset(&c);
    }
    int skipped = check_deltas(tag, m, params, init, true);
    ck_assert_int_le(skipped, 30);  // the generator printed what it left out
    char name[32];
    snprintf(name, sizeof name, "%s.norms", tag);
    tg_refs_check_series(refs(), name, norms, steps, 1e-3, 0);
    tg_ctx_free(&c);
    tg_optim_free(&opt);
    tg_tensor_free(x);
    tg_resnet18_free(m);
}

START_TEST(test_adamw_groups_resnet) {
    tg_optim_options o = {.type = TG_OPTIM_ADAMW, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.99,
                          .eps = 1e-4, .weight_decay = 0.05};
    run_groups("M", o, 1);
}
END_TEST

START_TEST(test_sgd_groups_resnet) {
    tg_optim_options o = {.type = TG_OPTIM_SGD, .lr = 0.1, .momentum = 0.9, .nesterov = true,
                          .weight_decay = 0.05};
    run_groups("MS", o, 3);
}
END_TEST

// ACC: gradient accumulation equals the big batch. Every BatchNorm frozen and in eval mode
// (freeze_bn_stats), so a batch of 4 is two micro-batches of 2 to float rounding: the loss
// of each divided by 2, two backwards into .grad, one SGD step; against PyTorch's batch of 4.
START_TEST(test_accumulation_resnet) {
    tg_resnet18 *m = tg_ref_model(10, 2);
    ck_assert_int_eq(tg_resnet18_freeze(m, "*bn*"), 34);  // bn1, and bn1, bn2 of 8 blocks
    ck_assert_int_eq(tg_resnet18_freeze(m, "*downsample.1.*"), 6);
    m->freeze_bn_stats = true;
    tg_tensor *params[TG_RESNET18_N_PARAMS];
    tg_resnet18_params(m, params);
    float **init = copy_params(params, TG_RESNET18_N_PARAMS);
    tg_optim opt;
    tg_error err = {0};
    tg_optim_options o = {.type = TG_OPTIM_SGD, .lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3};
    ck_assert_int_eq(tg_optim_init(&opt, params, TG_RESNET18_N_PARAMS, o, NULL, 0, NULL, &err),
                     TG_OK);
    tg_tensor *x = ref_batch(2, 4);
    const int64_t labels[4] = {1, 8, 4, 1};
    const int64_t half[4] = {2, 3, 64, 64};
    tg_ctx c;
    tg_ctx_init(&c);
    tg_optim_zero_grad(&opt);
    for (int k = 0; k < 2; k++) {
        tg_tensor *xk = tg_ctx_wrap(&c, 4, half, x->data + k * x->numel / 2);
        tg_tensor *loss = tg_div_scalar(&c, ce_loss(&c, m, xk, labels + 2 * k), 2.0f);
        ck_assert_int_eq(tg_backward(&c, loss, NULL, false), TG_OK);
        tg_ctx_reset(&c);
    }
    char name[128];
    for (int i = 0; i < TG_RESNET18_N_PARAMS; i++) {
        snprintf(name, sizeof name, "ACC.grad.%s", params[i]->name);
        if (!params[i]->requires_grad) {
            ck_assert_int_eq(tg_refs_find(refs(), name)->numel, -1);
            continue;
        }
        tg_refs_check(refs(), name, tg_tensor_grad(params[i]), params[i]->numel, 1e-3);
    }
    tg_optim_step(&opt);
    ck_assert_int_eq(check_deltas("ACC", m, params, init, false), 0);
    tg_ctx_free(&c);
    tg_optim_free(&opt);
    tg_tensor_free(x);
    tg_resnet18_free(m);
}
END_TEST

// UF: freeze then unfreeze. conv1, bn1, layer1 frozen for a step, then every parameter
// trains, the ones frozen before in their own group with lr_scale 0.1 (frozen_lr_scale)
// and fresh momentum (they had no gradient, so no state), as PyTorch does with those
// parameters in a group of their own from the start.
START_TEST(test_unfreeze_resnet) {
    tg_resnet18 *m = tg_ref_model(10, 1);
    ck_assert_int_eq(tg_resnet18_freeze(m, "conv1.*"), 1);
    ck_assert_int_eq(tg_resnet18_freeze(m, "bn1.*"), 2);
    ck_assert_int_eq(tg_resnet18_freeze(m, "layer1.*"), 12);
    tg_tensor *params[TG_RESNET18_N_PARAMS];
    tg_resnet18_params(m, params);
    float **init = copy_params(params, TG_RESNET18_N_PARAMS);
    tg_param_group_spec spec = {.weight_decay = 5e-3,
                                .norm_weight_decay = NAN,
                                .bias_weight_decay = NAN,
                                .frozen_lr_scale = 0.1,
                                .all_train = true};
    tg_param_groups pg;
    tg_error err = {0};
    ck_assert_int_eq(tg_resnet18_param_groups(m, &spec, &pg, &err), TG_OK);
    ck_assert_int_eq(pg.n_groups, 2);
    tg_optim opt;
    tg_optim_options o = {
        .type = TG_OPTIM_SGD, .lr = 0.03, .momentum = 0.9, .weight_decay = 5e-3, .nesterov = true};
    ck_assert_int_eq(tg_optim_init(&opt, params, TG_RESNET18_N_PARAMS, o, pg.groups, pg.n_groups,
                                   pg.group_of, &err),
                     TG_OK);
    tg_tensor *x = ref_batch(1, 2);
    const int64_t labels[2] = {3, 7};
    tg_ctx c;
    tg_ctx_init(&c);
    for (int step = 0; step < 2; step++) {
        if (step == 1) ck_assert_int_eq(tg_resnet18_unfreeze(m, "*"), TG_RESNET18_N_PARAMS);
        tg_optim_zero_grad(&opt);
        ck_assert_int_eq(tg_backward(&c, ce_loss(&c, m, x, labels), NULL, false), TG_OK);
        tg_optim_step(&opt);
        tg_ctx_reset(&c);
    }
    // the unfrozen ones took one step, the others two
    for (int i = 0; i < TG_RESNET18_N_PARAMS; i++)
        ck_assert_int_eq(opt.steps[i], pg.group_of[i] == pg.group_of[0] ? 1 : 2);
    int skipped = check_deltas("UF", m, params, init, true);
    ck_assert_int_le(skipped, 12);  // BN parameters of the stem and layer1
    tg_ctx_free(&c);
    tg_optim_free(&opt);
    tg_tensor_free(x);
    tg_resnet18_free(m);
}
END_TEST

// AdamW fused into backward: parameters, .grad and state bitwise those of the step after
// backward, over 3 steps with layer1 frozen.
START_TEST(test_fused_adamw_bitwise) {
    float *result[2][TG_RESNET18_N_PARAMS][3];
    size_t bytes[TG_RESNET18_N_PARAMS];
    for (int fused = 0; fused < 2; fused++) {
        tg_resnet18 *m = tg_ref_model(10, 4);
        ck_assert_int_gt(tg_resnet18_freeze(m, "layer1.*"), 0);
        tg_tensor *params[TG_RESNET18_N_PARAMS];
        tg_resnet18_params(m, params);
        tg_optim opt;
        tg_error err = {0};
        tg_optim_options o = {.type = TG_OPTIM_ADAMW,
                              .lr = 1e-3,
                              .beta1 = 0.9,
                              .beta2 = 0.999,
                              .eps = 1e-8,
                              .weight_decay = 0.01};
        ck_assert_int_eq(tg_optim_init(&opt, params, TG_RESNET18_N_PARAMS, o, NULL, 0, NULL, &err),
                         TG_OK);
        tg_optim_set_fused(&opt, fused);
        tg_tensor *x = ref_batch(4, 2);
        const int64_t labels[2] = {2, 6};
        tg_ctx c;
        tg_ctx_init(&c);
        for (int step = 0; step < 3; step++) {
            tg_optim_set_lr(&opt, 1e-3 * (step + 1));
            tg_optim_zero_grad(&opt);
            ck_assert_int_eq(tg_backward(&c, ce_loss(&c, m, x, labels), NULL, false), TG_OK);
            for (int i = 0; fused && i < TG_RESNET18_N_PARAMS; i++)
                ck_assert(opt.done[i] == params[i]->requires_grad);
            tg_optim_step(&opt);
            tg_ctx_reset(&c);
        }
        for (int i = 0; i < TG_RESNET18_N_PARAMS; i++) {
            bytes[i] = (size_t)params[i]->numel * sizeof(float);
            const float *src[3] = {params[i]->data, tg_optim_state(&opt, i, 0),
                                   tg_optim_state(&opt, i, 1)};
            ck_assert(!src[1] == !params[i]->requires_grad);
            for (int k = 0; k < 3; k++) {
                result[fused][i][k] = src[k] ? malloc(bytes[i]) : NULL;
                if (src[k]) memcpy(result[fused][i][k], src[k], bytes[i]);
            }
        }
        tg_ctx_free(&c);
        tg_optim_free(&opt);
        tg_tensor_free(x);
        tg_resnet18_free(m);
    }
    for (int i = 0; i < TG_RESNET18_N_PARAMS; i++)
        for (int k = 0; k < 3; k++) {
            ck_assert(!result[0][i][k] == !result[1][i][k]);
            if (result[0][i][k])
                ck_assert_msg(!memcmp(result[0][i][k], result[1][i][k], bytes[i]),
                              "parameter %d, %s differs fused", i, k ? "state" : "value");
        }
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < TG_RESNET18_N_PARAMS; i++)
            for (int k = 0; k < 3; k++) free(result[f][i][k]);
}
END_TEST

int main(void) {
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optim");
    tcase_add_test(tc, test_adamw_vs_torch);
    tcase_add_test(tc, test_sgd_groups_vs_torch);
    tcase_add_test(tc, test_clip_vs_torch);
    tcase_add_test(tc, test_adamw_groups_resnet);
    tcase_add_test(tc, test_sgd_groups_resnet);
    tcase_add_test(tc, test_accumulation_resnet);
    tcase_add_test(tc, test_unfreeze_resnet);
    tcase_add_test(tc, test_fused_adamw_bitwise);
    suite_add_tcase(s, tc);
    return tg_test_run(s, 0);
}
