// test_ops_nn.c: the layer ops and losses of ResNet-18 (conv2d, batchnorm2d, relu,
// maxpool2d, adaptive avgpool, linear, cross-entropy, mse): finite-difference checks of
// every backward, forward and backward values against PyTorch (tests/data/ops/nn_ref.bin,
// written by scripts/gen_ops_ref.py; the weighted cross-entropy's in tests/data/nn/recipes.bin,
// written by scripts/gen_recipes_ref.py), BatchNorm's running statistics, the fast conv
// kernels against direct loops, and frozen inputs getting no gradient.
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/tensor.h"
#include "gradcheck.h"
#include "ops/conv2d.h"
#include "ops/ops.h"
#include "ops/winograd.h"
#include "testlib.h"

// ---- reference file (scripts/gen_ops_ref.py: TGREF1, read by testlib) ----
static tg_refs refs;

static const tg_ref *ref(const char *case_name, const char *key) {
    tg_refs_load(&refs, "ops/nn_ref.bin", 1);
    char name[96];
    snprintf(name, sizeof name, "%s.%s", case_name, key);
    return tg_refs_find(&refs, name);
}

// A persistent tensor holding the reference values.
static tg_tensor *ref_tensor(const char *case_name, const char *key, bool requires_grad) {
    const tg_ref *r = ref(case_name, key);
    tg_tensor *t = tg_tensor_from(r->ndim, r->shape, r->data);
    ck_assert_ptr_nonnull(t);
    tg_tensor_set_requires_grad(t, requires_grad);
    return t;
}

// max|got - want| <= tol * max|want| (the parity measure)
static void check_close(const char *what, const float *got, const tg_ref *want, double tol) {
    ck_assert_ptr_nonnull(got);
    double maxref = 0, maxerr = 0;
    for (int64_t i = 0; i < want->numel; i++) {
        maxref = fmax(maxref, fabs(want->data[i]));
        maxerr = fmax(maxerr, fabs((double)got[i] - want->data[i]));
    }
    ck_assert_msg(maxerr <= tol * fmax(maxref, 1e-6), "%s: max abs error %g vs max abs %g (tol %g)",
                  what, maxerr, maxref, tol);
}

#define FWD_TOL 1e-5
#define GRAD_TOL 1e-4

// ---- PyTorch parity ----
static const char *conv_cases[] = {"conv3x3s1p1", "conv3x3s2p1", "conv3x3s1p0",
                                   "conv7x7s2p3", "conv1x1s1p0", "conv1x1s2p0"};

// Every case with im2col and with Winograd forced (it only changes 3x3 stride-1 pad-1).
START_TEST(test_conv_vs_torch) {
    const char *cs = conv_cases[_i];
    for (int algo = TG_CONV_IM2COL; algo <= TG_CONV_WINOGRAD4; algo++) {
        tg_conv2d_set_algo((tg_conv_algo)algo);
        tg_ctx c;
        tg_ctx_init(&c);
        tg_tensor *x = ref_tensor(cs, "x", true), *w = ref_tensor(cs, "w", true);
        const tg_ref *cfg = ref(cs, "cfg");
        tg_tensor *y = tg_conv2d(&c, x, w, (int)cfg->data[0], (int)cfg->data[1]);
        ck_assert_msg(y != NULL, "%s", tg_ctx_error(&c));
        ck_assert_str_eq(tg_node_name(y->grad_fn), "ConvolutionBackward0");
        const tg_ref *out = ref(cs, "out");
        ck_assert_int_eq(y->numel, out->numel);
        for (int d = 0; d < 4; d++) ck_assert_int_eq(y->shape[d], out->shape[d]);
        check_close(cs, y->data, out, FWD_TOL);
        ck_assert_int_eq(tg_backward(&c, y, ref(cs, "g")->data, false), TG_OK);
        check_close("conv dx", x->grad, ref(cs, "dx"), GRAD_TOL);
        check_close("conv dw", w->grad, ref(cs, "dw"), GRAD_TOL);
        tg_tensor_free(x);
        tg_tensor_free(w);
        tg_ctx_free(&c);
    }
    tg_conv2d_set_algo(TG_CONV_AUTO);
}
END_TEST

static void bn_vs_torch(const char *cs, bool training) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *x = ref_tensor(cs, "x", true), *w = ref_tensor(cs, "weight", true),
              *b = ref_tensor(cs, "bias", true), *rm = ref_tensor(cs, "rm", false),
              *rv = ref_tensor(cs, "rv", false);
    tg_tensor *y = tg_batchnorm2d(&c, x, w, b, rm, rv, training, 0.1f, 1e-5f);
    ck_assert_msg(y != NULL, "%s", tg_ctx_error(&c));
    ck_assert_str_eq(tg_node_name(y->grad_fn), "NativeBatchNormBackward0");
    check_close(cs, y->data, ref(cs, "out"), FWD_TOL);
    check_close("running_mean", rm->data, ref(cs, "rm_after"), FWD_TOL);
    check_close("running_var", rv->data, ref(cs, "rv_after"), FWD_TOL);
    ck_assert_int_eq(tg_backward(&c, y, ref(cs, "g")->data, false), TG_OK);
    check_close("bn dx", x->grad, ref(cs, "dx"), GRAD_TOL);
    check_close("bn dweight", w->grad, ref(cs, "dweight"), GRAD_TOL);
    check_close("bn dbias", b->grad, ref(cs, "dbias"), GRAD_TOL);
    tg_tensor *ts[] = {x, w, b, rm, rv};
    for (int i = 0; i < 5; i++) tg_tensor_free(ts[i]);
    tg_ctx_free(&c);
}

START_TEST(test_bn_train_vs_torch) { bn_vs_torch("bn_train", true); }
END_TEST

START_TEST(test_bn_eval_vs_torch) {
    bn_vs_torch("bn_eval", false);
    // eval leaves the running statistics alone
    const tg_ref *a = ref("bn_eval", "rm"), *b = ref("bn_eval", "rm_after");
    for (int64_t i = 0; i < a->numel; i++) ck_assert_float_eq(a->data[i], b->data[i]);
    // frozen affine parameters: the input gradient alone, the same values
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *x = ref_tensor("bn_eval", "x", true), *w = ref_tensor("bn_eval", "weight", false),
              *bb = ref_tensor("bn_eval", "bias", false), *rm = ref_tensor("bn_eval", "rm", false),
              *rv = ref_tensor("bn_eval", "rv", false);
    tg_tensor *y = tg_batchnorm2d(&c, x, w, bb, rm, rv, false, 0.1f, 1e-5f);
    ck_assert_msg(y != NULL, "%s", tg_ctx_error(&c));
    ck_assert_int_eq(tg_backward(&c, y, ref("bn_eval", "g")->data, false), TG_OK);
    check_close("bn eval dx, frozen affine", x->grad, ref("bn_eval", "dx"), GRAD_TOL);
    ck_assert_ptr_null(w->grad);
    ck_assert_ptr_null(bb->grad);
    tg_tensor *ts[] = {x, w, bb, rm, rv};
    for (int i = 0; i < 5; i++) tg_tensor_free(ts[i]);
    tg_ctx_free(&c);
}
END_TEST

// One-input ops: relu, maxpool, avgpool
static tg_tensor *unary(tg_ctx *c, const char *cs, tg_tensor *x) {
    if (strcmp(cs, "relu") == 0) return tg_relu(c, x);
    if (strcmp(cs, "maxpool") == 0) return tg_maxpool2d(c, x, 3, 2, 1);
    return tg_adaptive_avgpool2d_1x1(c, x);
}

static const char *unary_cases[] = {"relu", "maxpool", "avgpool"};
static const char *unary_names[] = {"ReluBackward0", "MaxPool2DWithIndicesBackward0",
                                    "AdaptiveAvgPool2DBackward0"};

START_TEST(test_unary_vs_torch) {
    const char *cs = unary_cases[_i];
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *x = ref_tensor(cs, "x", true);
    tg_tensor *y = unary(&c, cs, x);
    ck_assert_msg(y != NULL, "%s", tg_ctx_error(&c));
    ck_assert_str_eq(tg_node_name(y->grad_fn), unary_names[_i]);
    const tg_ref *out = ref(cs, "out");
    ck_assert_int_eq(y->numel, out->numel);
    check_close(cs, y->data, out, FWD_TOL);
    ck_assert_int_eq(tg_backward(&c, y, ref(cs, "g")->data, false), TG_OK);
    check_close(cs, x->grad, ref(cs, "dx"), GRAD_TOL);
    tg_tensor_free(x);
    tg_ctx_free(&c);
}
END_TEST

START_TEST(test_linear_vs_torch) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *x = ref_tensor("linear", "x", true), *w = ref_tensor("linear", "w", true),
              *b = ref_tensor("linear", "b", true);
    tg_tensor *y = tg_linear(&c, x, w, b);
    ck_assert_msg(y != NULL, "%s", tg_ctx_error(&c));
    ck_assert_str_eq(tg_node_name(y->grad_fn), "AddmmBackward0");
    check_close("linear", y->data, ref("linear", "out"), FWD_TOL);
    ck_assert_int_eq(tg_backward(&c, y, ref("linear", "g")->data, false), TG_OK);
    check_close("linear dx", x->grad, ref("linear", "dx"), GRAD_TOL);
    check_close("linear dw", w->grad, ref("linear", "dw"), GRAD_TOL);
    check_close("linear db", b->grad, ref("linear", "db"), GRAD_TOL);
    // deferred zeroing: stale contents are overwritten, not added to
    for (int64_t i = 0; i < w->numel; i++) w->grad[i] = NAN;
    for (int64_t i = 0; i < b->numel; i++) b->grad[i] = NAN;
    tg_tensor_zero_grad_lazy(w);
    tg_tensor_zero_grad_lazy(b);
    tg_tensor_zero_grad(x);
    tg_ctx_reset(&c);
    y = tg_linear(&c, x, w, b);
    ck_assert_int_eq(tg_backward(&c, y, ref("linear", "g")->data, false), TG_OK);
    check_close("linear dw, lazy zero", w->grad, ref("linear", "dw"), GRAD_TOL);
    check_close("linear db, lazy zero", b->grad, ref("linear", "db"), GRAD_TOL);
    tg_tensor_free(x);
    tg_tensor_free(w);
    tg_tensor_free(b);
    tg_ctx_free(&c);
}
END_TEST

START_TEST(test_losses_vs_torch) {
    const tg_ref *lr = ref("ce", "labels");
    int64_t labels[16];
    for (int64_t i = 0; i < lr->numel; i++) labels[i] = (int64_t)lr->data[i];
    const char *cases[] = {"ce", "ce_ls"};
    const float smoothing[] = {0.0f, 0.1f};
    for (int k = 0; k < 2; k++) {
        tg_ctx c;
        tg_ctx_init(&c);
        tg_tensor *x = ref_tensor(cases[k], "x", true);
        tg_tensor *l = tg_cross_entropy(&c, x, labels, smoothing[k]);
        ck_assert_msg(l != NULL, "%s", tg_ctx_error(&c));
        ck_assert_int_eq(l->ndim, 0);
        ck_assert_str_eq(tg_node_name(l->grad_fn), "NllLossBackward0");
        check_close(cases[k], l->data, ref(cases[k], "out"), FWD_TOL);
        ck_assert_int_eq(tg_backward(&c, l, NULL, false), TG_OK);
        check_close(cases[k], x->grad, ref(cases[k], "dx"), GRAD_TOL);
        tg_tensor_free(x);
        tg_ctx_free(&c);
    }
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *a = ref_tensor("mse", "a", true), *b = ref_tensor("mse", "b", true);
    tg_tensor *l = tg_mse_loss(&c, a, b);
    ck_assert_msg(l != NULL, "%s", tg_ctx_error(&c));
    ck_assert_str_eq(tg_node_name(l->grad_fn), "MseLossBackward0");
    check_close("mse", l->data, ref("mse", "out"), FWD_TOL);
    ck_assert_int_eq(tg_backward(&c, l, NULL, false), TG_OK);
    check_close("mse da", a->grad, ref("mse", "da"), GRAD_TOL);
    check_close("mse db", b->grad, ref("mse", "db"), GRAD_TOL);
    tg_tensor_free(a);
    tg_tensor_free(b);
    tg_ctx_free(&c);
}
END_TEST

// ---- finite differences ----
typedef struct {
    int stride, pad;
} conv_ud;

static tg_tensor *gc_conv(tg_ctx *c, tg_tensor **in, void *ud) {
    conv_ud *u = ud;
    return tg_conv2d(c, in[0], in[1], u->stride, u->pad);
}

static const struct {
    int N, C, H, W, OC, K, stride, pad;
} gc_conv_cases[] = {
    {2, 3, 6, 5, 4, 3, 1, 1}, {1, 2, 7, 6, 3, 3, 2, 1}, {2, 2, 5, 5, 3, 3, 1, 0},
    {1, 2, 9, 8, 3, 7, 2, 3}, {2, 4, 4, 3, 3, 1, 1, 0}, {2, 4, 5, 5, 3, 1, 2, 0},
    {1, 3, 8, 8, 2, 7, 1, 3},
};

START_TEST(test_conv_gradcheck) {
    tg_rng r;
    tg_rng_seed(&r, 100 + (uint64_t)_i);
    const int N = gc_conv_cases[_i].N, C = gc_conv_cases[_i].C, OC = gc_conv_cases[_i].OC,
              K = gc_conv_cases[_i].K;
    int64_t xs[4] = {N, C, gc_conv_cases[_i].H, gc_conv_cases[_i].W}, ws[4] = {OC, C, K, K};
    tg_tensor *in[2] = {tg_test_randn(&r, 4, xs, true), tg_test_randn(&r, 4, ws, true)};
    conv_ud u = {gc_conv_cases[_i].stride, gc_conv_cases[_i].pad};
    double e = tg_gradcheck(gc_conv, in, 2, &u, 1e-2, 1e-3, 1e-2);
    ck_assert_msg(e <= 1.0, "conv case %d: gradcheck error %g", _i, e);
    tg_tensor_free(in[0]);
    tg_tensor_free(in[1]);
}
END_TEST

typedef struct {
    tg_tensor *rm, *rv;
    bool training;
} bn_ud;

static tg_tensor *gc_bn(tg_ctx *c, tg_tensor **in, void *ud) {
    bn_ud *u = ud;
    return tg_batchnorm2d(c, in[0], in[1], in[2], u->rm, u->rv, u->training, 0.1f, 1e-5f);
}

START_TEST(test_bn_gradcheck) {
    tg_rng r;
    tg_rng_seed(&r, 7 + (uint64_t)_i);
    int64_t xs[4] = {2, 3, 3, 4}, cs[1] = {3};
    tg_tensor *in[3] = {tg_test_randn(&r, 4, xs, true), tg_tensor_rand(1, cs, &r), tg_test_randn(&r, 1, cs, true)};
    for (int i = 0; i < 3; i++) in[1]->data[i] += 0.5f;
    tg_tensor_set_requires_grad(in[1], true);
    bn_ud u = {tg_tensor_zeros(1, cs), tg_tensor_ones(1, cs), _i == 0};
    u.rv->data[1] = 2.0f;
    u.rm->data[2] = 0.3f;
    double e = tg_gradcheck(gc_bn, in, 3, &u, 1e-2, 1e-3, 1e-2);
    ck_assert_msg(e <= 1.0, "batchnorm %s: gradcheck error %g", _i == 0 ? "train" : "eval", e);
    for (int i = 0; i < 3; i++) tg_tensor_free(in[i]);
    tg_tensor_free(u.rm);
    tg_tensor_free(u.rv);
}
END_TEST

static tg_tensor *gc_relu(tg_ctx *c, tg_tensor **in, void *ud) {
    (void)ud;
    return tg_relu(c, in[0]);
}
static tg_tensor *gc_maxpool(tg_ctx *c, tg_tensor **in, void *ud) {
    (void)ud;
    return tg_maxpool2d(c, in[0], 3, 2, 1);
}
static tg_tensor *gc_maxpool_k2s2(tg_ctx *c, tg_tensor **in, void *ud) {  // generic path
    (void)ud;
    return tg_maxpool2d(c, in[0], 2, 2, 0);
}
static tg_tensor *gc_maxpool_k3s1(tg_ctx *c, tg_tensor **in, void *ud) {  // generic path
    (void)ud;
    return tg_maxpool2d(c, in[0], 3, 1, 1);
}
static tg_tensor *gc_avgpool(tg_ctx *c, tg_tensor **in, void *ud) {
    (void)ud;
    return tg_adaptive_avgpool2d_1x1(c, in[0]);
}

// Distinct values 0.1 apart in random order: no ties and no kinks within the probe step.
static void fill_distinct(tg_tensor *t, tg_rng *r, float offset) {
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = 0.1f * (float)i + offset;
    for (int64_t i = t->numel - 1; i > 0; i--) {
        int64_t j = (int64_t)tg_rng_below(r, (uint64_t)i + 1);
        float v = t->data[i];
        t->data[i] = t->data[j];
        t->data[j] = v;
    }
}

START_TEST(test_pointwise_gradcheck) {
    tg_rng r;
    tg_rng_seed(&r, 99);
    int64_t xs[4] = {2, 2, 7, 6};
    tg_tensor *x = tg_tensor_new(4, xs);
    tg_tensor_set_requires_grad(x, true);
    fill_distinct(x, &r, -4.05f);  // straddles 0 without hitting it
    tg_gc_fn fns[5] = {gc_relu, gc_maxpool, gc_avgpool, gc_maxpool_k2s2, gc_maxpool_k3s1};
    for (int k = 0; k < 5; k++) {
        double e = tg_gradcheck(fns[k], &x, 1, NULL, 1e-2, 1e-3, 1e-2);
        ck_assert_msg(e <= 1.0, "op %d: gradcheck error %g", k, e);
    }
    tg_tensor_free(x);
}
END_TEST

static tg_tensor *gc_linear(tg_ctx *c, tg_tensor **in, void *ud) {
    (void)ud;
    return tg_linear(c, in[0], in[1], in[2]);
}
static tg_tensor *gc_linear_nobias(tg_ctx *c, tg_tensor **in, void *ud) {
    (void)ud;
    return tg_linear(c, in[0], in[1], NULL);
}

typedef struct {
    const int64_t *labels;
    float smoothing;
} ce_ud;

static tg_tensor *gc_ce(tg_ctx *c, tg_tensor **in, void *ud) {
    ce_ud *u = ud;
    return tg_cross_entropy(c, in[0], u->labels, u->smoothing);
}

static tg_tensor *gc_mse(tg_ctx *c, tg_tensor **in, void *ud) {
    (void)ud;
    return tg_mse_loss(c, in[0], in[1]);
}

// cross_entropy(weight=w, label_smoothing=s) against PyTorch (gen_recipes_ref.py: run_ce):
// the weighted mean divides by the sum of the targets' weights.
static const int64_t CE_LABELS[6] = {0, 3, 3, 1, 4, 2};
static const float CE_SMOOTHING[3] = {0.0f, 0.1f, 0.35f};

START_TEST(test_weighted_ce_vs_torch) {
    static tg_refs R;
    tg_refs_load(&R, "nn/recipes.bin", 300);
    int64_t ls[2] = {6, 5};
    float weight[5];
    tg_fill(weight, 5, 21, 1, 0.2, 3.0);
    for (int j = 0; j < 3; j++) {
        tg_ctx c;
        tg_ctx_init(&c);
        tg_tensor *x = tg_tensor_new(2, ls);
        tg_fill(x->data, x->numel, 21, 0, -4.0, 4.0);
        tg_tensor_set_requires_grad(x, true);
        tg_tensor *l = tg_cross_entropy_weighted(&c, x, CE_LABELS, weight, CE_SMOOTHING[j]);
        ck_assert_msg(l != NULL, "%s", tg_ctx_error(&c));
        ck_assert_str_eq(tg_node_name(l->grad_fn), "NllLossBackward0");
        char name[32];
        snprintf(name, sizeof name, "ce.w%d.out", j);
        double v = l->data[0];
        tg_refs_check_series(&R, name, &v, 1, FWD_TOL, 0);
        ck_assert_int_eq(tg_backward(&c, l, NULL, false), TG_OK);
        snprintf(name, sizeof name, "ce.w%d.dx", j);
        tg_refs_check(&R, name, x->grad, x->numel, GRAD_TOL);
        tg_tensor_free(x);
        tg_ctx_free(&c);
    }
}
END_TEST

// Weights of ones are the unweighted loss and gradient; zero weights on every target give
// NaN (0 / 0, as PyTorch); a negative or NaN weight is an error naming the class.
START_TEST(test_weighted_ce_edges) {
    int64_t ls[2] = {4, 3};
    const int64_t labels[4] = {0, 2, 1, 2};
    tg_ctx c;
    tg_ctx_init(&c);
    tg_rng r;
    tg_rng_seed(&r, 9);
    tg_tensor *x = tg_tensor_randn(2, ls, &r);
    tg_tensor_set_requires_grad(x, true);
    const float ones[3] = {1, 1, 1};
    float plain[12], dplain;
    tg_tensor *l = tg_cross_entropy(&c, x, labels, 0.2f);
    ck_assert_int_eq(tg_backward(&c, l, NULL, false), TG_OK);
    dplain = l->data[0];
    memcpy(plain, x->grad, sizeof plain);
    tg_tensor_zero_grad(x);
    tg_ctx_reset(&c);
    l = tg_cross_entropy_weighted(&c, x, labels, ones, 0.2f);
    ck_assert_int_eq(tg_backward(&c, l, NULL, false), TG_OK);
    ck_assert_float_eq_tol(l->data[0], dplain, 1e-6f);
    for (int i = 0; i < 12; i++) ck_assert_float_eq_tol(x->grad[i], plain[i], 1e-7f);
    tg_ctx_reset(&c);
    const float zero_targets[3] = {0, 5, 0};
    const int64_t only02[4] = {0, 2, 0, 2};
    l = tg_cross_entropy_weighted(&c, x, only02, zero_targets, 0.0f);
    ck_assert(l != NULL && isnan(l->data[0]));
    tg_ctx_reset(&c);
    const float bad[3] = {1, -1, 1};
    ck_assert_ptr_null(tg_cross_entropy_weighted(&c, x, labels, bad, 0.0f));
    ck_assert_str_eq(tg_ctx_error(&c),
                     "cross_entropy: weight -1 of class 1 is not a finite number >= 0");
    tg_tensor_free(x);
    tg_ctx_free(&c);
}
END_TEST

typedef struct {
    const int64_t *labels;
    const float *weight;
    float smoothing;
} wce_ud;

static tg_tensor *gc_wce(tg_ctx *c, tg_tensor **in, void *ud) {
    wce_ud *u = ud;
    return tg_cross_entropy_weighted(c, in[0], u->labels, u->weight, u->smoothing);
}

START_TEST(test_weighted_ce_gradcheck) {
    tg_rng r;
    tg_rng_seed(&r, 6);
    int64_t ls[2] = {5, 4};
    const int64_t labels[5] = {1, 0, 3, 3, 2};
    const float weight[4] = {0.5f, 2.0f, 1.25f, 3.0f};
    tg_tensor *logits = tg_test_randn(&r, 2, ls, true);
    for (int k = 0; k < 3; k++) {
        wce_ud u = {labels, weight, k * 0.2f};
        double e = tg_gradcheck(gc_wce, &logits, 1, &u, 1e-2, 1e-4, 1e-2);
        ck_assert_msg(e <= 1.0, "weighted cross_entropy (smoothing %g): gradcheck error %g",
                      u.smoothing, e);
    }
    tg_tensor_free(logits);
}
END_TEST

START_TEST(test_linear_losses_gradcheck) {
    tg_rng r;
    tg_rng_seed(&r, 5);
    int64_t xs[2] = {3, 5}, ws[2] = {4, 5}, bs[1] = {4};
    tg_tensor *in[3] = {tg_test_randn(&r, 2, xs, true), tg_test_randn(&r, 2, ws, true), tg_test_randn(&r, 1, bs, true)};
    double e = tg_gradcheck(gc_linear, in, 3, NULL, 1e-2, 1e-3, 1e-2);
    ck_assert_msg(e <= 1.0, "linear: gradcheck error %g", e);
    // without bias
    e = tg_gradcheck(gc_linear_nobias, in, 2, NULL, 1e-2, 1e-3, 1e-2);
    ck_assert_msg(e <= 1.0, "linear without bias: gradcheck error %g", e);
    // a batch of one (matrix-vector path)
    int64_t x1s[2] = {1, 5};
    tg_tensor *in1[3] = {tg_test_randn(&r, 2, x1s, true), in[1], in[2]};
    e = tg_gradcheck(gc_linear, in1, 3, NULL, 1e-2, 1e-3, 1e-2);
    ck_assert_msg(e <= 1.0, "linear, batch of one: gradcheck error %g", e);
    tg_tensor_free(in1[0]);
    int64_t labels[4] = {1, 0, 4, 2}, ls[2] = {4, 5};
    tg_tensor *logits = tg_test_randn(&r, 2, ls, true);
    for (int k = 0; k < 2; k++) {
        ce_ud u = {labels, k ? 0.2f : 0.0f};
        e = tg_gradcheck(gc_ce, &logits, 1, &u, 1e-2, 1e-4, 1e-2);
        ck_assert_msg(e <= 1.0, "cross_entropy (smoothing %g): gradcheck error %g", u.smoothing, e);
    }
    tg_tensor *m[2] = {tg_test_randn(&r, 2, ls, true), tg_test_randn(&r, 2, ls, true)};
    e = tg_gradcheck(gc_mse, m, 2, NULL, 1e-2, 1e-4, 1e-2);
    ck_assert_msg(e <= 1.0, "mse: gradcheck error %g", e);
    tg_tensor *all[] = {in[0], in[1], in[2], logits, m[0], m[1]};
    for (int i = 0; i < 6; i++) tg_tensor_free(all[i]);
}
END_TEST

// ---- fast conv kernels against direct loops, on shapes that take every path ----
// _i: the algorithm (auto, im2col, Winograd F(2x2) or F(4x4) forced), then F(2x2) and
// F(4x4) again with one tile per chunk (every image its own chunk)
START_TEST(test_conv_kernel_vs_ref) {
    tg_conv2d_set_algo((tg_conv_algo)(_i < 4 ? _i : _i - 2));
    tg_winograd_set_chunk_tiles(_i < 4 ? 0 : 1);
    static const struct {
        int N, C, H, W, OC, K, stride, pad;
    } cases[] = {
        {1, 4, 32, 32, 5, 1, 1, 0},   // 1x1, one image of 1024 pixels: x used directly
        {3, 4, 6, 6, 5, 1, 1, 0},     // 1x1 grouped
        {2, 3, 40, 33, 4, 3, 1, 1},   // groups of one image
        {5, 6, 5, 4, 7, 3, 2, 1},     // several images per gemm
        {2, 3, 23, 21, 4, 7, 2, 3},   // conv1-like
        {3, 8, 7, 7, 6, 1, 2, 0},     // downsample-like
        {1, 16, 4, 4, 24, 3, 2, 1},   // skinny products (4 columns), layer4-like at batch 1
        {1, 9, 3, 3, 10, 3, 2, 1},    // skinny, K = 81 not a multiple of 8
        {2, 5, 2, 2, 7, 1, 1, 0},     // skinny 1x1 over a group of two images
        {1, 20, 2, 3, 8, 1, 1, 0},    // skinny 1x1 on x itself
        {1, 11, 3, 3, 9, 3, 1, 1},    // 9 columns: just above the skinny limit
        {3, 7, 7, 7, 9, 3, 1, 1},     // odd sides: Winograd's partial edge tiles
        {2, 4, 1, 1, 5, 3, 1, 1},     // 1x1 input, one tile
        {1, 2, 5, 133, 3, 3, 1, 1},   // Winograd: more than one block of 64 tiles in a row
        {2, 5, 13, 14, 6, 3, 1, 1},   // sides 1 mod 4 and 2 mod 4
        {3, 3, 5, 7, 4, 3, 1, 1},     // sides 1 and 3 mod 4, blocks across images
        {2, 4, 14, 13, 5, 3, 1, 1},   // partial tiles along the width only, then the height
        {1, 3, 2, 6, 2, 3, 1, 1},     // one row of tiles, partial in height
        {2, 2, 28, 27, 3, 3, 1, 1},   // blocks of several tile rows, the last one shorter
        {1, 2, 3, 260, 2, 3, 1, 1},   // F(4x4): rows of more than 64 tiles too
        {1, 4, 80, 80, 3, 7, 2, 3},   // column matrix built in blocks of output rows
        {2, 8, 9, 9, 20, 3, 2, 1},    // small gemms split by rows over threads
        {1, 8, 80, 80, 24, 7, 2, 3},  // both: row blocks and split gemms
    };
    tg_rng r;
    tg_rng_seed(&r, 42);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        tg_conv_geom g = {.C = cases[k].C, .H = cases[k].H, .W = cases[k].W, .KH = cases[k].K,
                          .KW = cases[k].K, .stride = cases[k].stride, .pad = cases[k].pad};
        tg_conv_geom_finish(&g);
        const int N = cases[k].N, OC = cases[k].OC;
        size_t nx = (size_t)N * g.C * g.H * g.W, nw = (size_t)OC * g.C * g.KH * g.KW,
               no = (size_t)N * OC * g.OH * g.OW;
        float *x = malloc(nx * 4), *w = malloc(nw * 4), *d = malloc(no * 4);
        float *o1 = malloc(no * 4), *o2 = malloc(no * 4);
        float *dx1 = calloc(nx, 4), *dx2 = calloc(nx, 4), *dw1 = calloc(nw, 4), *dw2 = calloc(nw, 4);
        for (size_t i = 0; i < nx; i++) x[i] = (float)tg_rng_normal(&r);
        for (size_t i = 0; i < nw; i++) w[i] = (float)tg_rng_normal(&r);
        for (size_t i = 0; i < no; i++) d[i] = (float)tg_rng_normal(&r);
        for (size_t i = 0; i < nx; i++) dx1[i] = dx2[i] = 0.5f;  // backward accumulates
        ck_assert_int_eq(tg_conv2d_forward_kernel(o1, x, w, N, OC, &g), 0);
        tg_conv2d_forward_ref(o2, x, w, N, OC, &g);
        ck_assert_int_eq(tg_conv2d_backward_kernel(dx1, dw1, d, x, w, N, OC, &g), 0);
        tg_conv2d_backward_ref(dx2, dw2, d, x, w, N, OC, &g);
        const struct { const float *a, *b; size_t n; const char *what; } cmp[] = {
            {o1, o2, no, "out"}, {dx1, dx2, nx, "dx"}, {dw1, dw2, nw, "dw"}};
        for (int q = 0; q < 3; q++) {
            double mx = 0, err = 0;
            for (size_t i = 0; i < cmp[q].n; i++) {
                mx = fmax(mx, fabs(cmp[q].b[i]));
                err = fmax(err, fabs(cmp[q].a[i] - cmp[q].b[i]));
            }
            ck_assert_msg(err <= 1e-5 * mx, "case %zu %s: error %g of %g", k, cmp[q].what, err, mx);
        }
        // only dw, only dx
        memset(dw1, 0, nw * 4);
        ck_assert_int_eq(tg_conv2d_backward_kernel(NULL, dw1, d, x, w, N, OC, &g), 0);
        for (size_t i = 0; i < nw; i++) ck_assert_float_eq_tol(dw1[i], dw2[i], 1e-4 * (1 + fabsf(dw2[i])));
        // dw stored, not added (a gradient whose zeroing was deferred): old contents ignored
        for (size_t i = 0; i < nw; i++) dw1[i] = NAN;
        ck_assert_int_eq(tg_conv2d_backward_kernel_w(NULL, dw1, false, d, x, w, N, OC, &g), 0);
        for (size_t i = 0; i < nw; i++) ck_assert_float_eq_tol(dw1[i], dw2[i], 1e-4 * (1 + fabsf(dw2[i])));
        // only dx
        for (size_t i = 0; i < nx; i++) dx1[i] = 0.5f;
        ck_assert_int_eq(tg_conv2d_backward_kernel(dx1, NULL, d, x, w, N, OC, &g), 0);
        for (size_t i = 0; i < nx; i++) ck_assert_float_eq_tol(dx1[i], dx2[i], 1e-4 * (1 + fabsf(dx2[i])));
        float *p[] = {x, w, d, o1, o2, dx1, dx2, dw1, dw2};
        for (int i = 0; i < 9; i++) free(p[i]);
    }
    tg_conv2d_set_algo(TG_CONV_AUTO);
    tg_winograd_set_chunk_tiles(0);
}
END_TEST

// Float32 error of each algorithm against double-precision direct loops on a ResNet-18-like
// layer (kaiming-scale weights, N(0,1) inputs and output gradients), relative to the
// largest |value|. Measured: im2col and F(2x2) below 1e-6, F(4x4) 2-5e-6 (winograd.c);
// the bounds leave 4x room and catch a wrong transform coefficient.
static double rel_err(const float *a, const double *b, size_t n) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs(a[i] - b[i]));
        m = fmax(m, fabs(b[i]));
    }
    return e / m;
}

START_TEST(test_conv_winograd_accuracy) {
    const int N = 2, C = 64, OC = 64, S = 14;
    tg_conv_geom g = {.C = C, .H = S, .W = S, .KH = 3, .KW = 3, .stride = 1, .pad = 1};
    tg_conv_geom_finish(&g);
    const size_t nx = (size_t)N * C * S * S, nw = (size_t)OC * C * 9, no = (size_t)N * OC * S * S;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *d = malloc(no * 4), *o = malloc(no * 4),
          *dx = malloc(nx * 4), *dw = malloc(nw * 4);
    double *ro = calloc(no, 8), *rdx = calloc(nx, 8), *rdw = calloc(nw, 8);
    tg_rng r;
    tg_rng_seed(&r, 11);
    for (size_t i = 0; i < nx; i++) x[i] = (float)tg_rng_normal(&r);
    for (size_t i = 0; i < nw; i++) w[i] = (float)(sqrt(2.0 / (C * 9)) * tg_rng_normal(&r));
    for (size_t i = 0; i < no; i++) d[i] = (float)tg_rng_normal(&r);
    for (int n = 0; n < N; n++)  // out, dx and dw in double
        for (int oc = 0; oc < OC; oc++)
            for (int oh = 0; oh < S; oh++)
                for (int ow = 0; ow < S; ow++) {
                    const size_t oi = (((size_t)n * OC + oc) * S + oh) * S + ow;
                    for (int c = 0; c < C; c++)
                        for (int kh = 0; kh < 3; kh++)
                            for (int kw = 0; kw < 3; kw++) {
                                const int ih = oh - 1 + kh, iw = ow - 1 + kw;
                                if (ih < 0 || ih >= S || iw < 0 || iw >= S) continue;
                                const size_t xi = (((size_t)n * C + c) * S + ih) * S + iw,
                                             wi = (((size_t)oc * C + c) * 3 + kh) * 3 + kw;
                                ro[oi] += (double)x[xi] * w[wi];
                                rdx[xi] += (double)d[oi] * w[wi];
                                rdw[wi] += (double)d[oi] * x[xi];
                            }
                }
    const double bound[] = {0, 4e-6, 4e-6, 2e-5};  // by algorithm
    for (int a = TG_CONV_IM2COL; a <= TG_CONV_WINOGRAD4; a++) {
        tg_conv2d_set_algo((tg_conv_algo)a);
        memset(dx, 0, nx * 4);
        ck_assert_int_eq(tg_conv2d_forward_kernel(o, x, w, N, OC, &g), 0);
        ck_assert_int_eq(tg_conv2d_backward_kernel_w(dx, dw, false, d, x, w, N, OC, &g), 0);
        const double e[3] = {rel_err(o, ro, no), rel_err(dx, rdx, nx), rel_err(dw, rdw, nw)};
        for (int q = 0; q < 3; q++)
            ck_assert_msg(e[q] <= bound[a], "algorithm %d, %s: relative error %g > %g", a,
                          (const char *[]){"out", "dx", "dw"}[q], e[q], bound[a]);
    }
    tg_conv2d_set_algo(TG_CONV_AUTO);
    void *p[] = {x, w, d, o, dx, dw, ro, rdx, rdw};
    for (int i = 0; i < 9; i++) free(p[i]);
}
END_TEST

// Finite differences through each Winograd variant (forced), odd and even sides.
START_TEST(test_conv_winograd_gradcheck) {
    tg_conv2d_set_algo(_i ? TG_CONV_WINOGRAD4 : TG_CONV_WINOGRAD2);
    tg_rng r;
    tg_rng_seed(&r, 200 + (uint64_t)_i);
    static const int64_t cases[][2][4] = {{{2, 3, 6, 5}, {4, 3, 3, 3}},
                                          {{1, 2, 7, 9}, {3, 2, 3, 3}}};
    for (int k = 0; k < 2; k++) {
        tg_tensor *in[2] = {tg_test_randn(&r, 4, cases[k][0], true), tg_test_randn(&r, 4, cases[k][1], true)};
        conv_ud u = {1, 1};
        double e = tg_gradcheck(gc_conv, in, 2, &u, 1e-2, 1e-3, 1e-2);
        ck_assert_msg(e <= 1.0, "winograd F(%dx%d), case %d: gradcheck error %g", _i ? 4 : 2,
                      _i ? 4 : 2, k, e);
        tg_tensor_free(in[0]);
        tg_tensor_free(in[1]);
    }
    tg_conv2d_set_algo(TG_CONV_AUTO);
}
END_TEST

// Frozen inputs get no gradient and nothing is recorded without grad.
START_TEST(test_frozen_inputs) {
    tg_rng r;
    tg_rng_seed(&r, 3);
    int64_t xs[4] = {2, 3, 6, 6}, ws[4] = {4, 3, 3, 3};
    tg_tensor *x = tg_test_randn(&r, 4, xs, false), *w = tg_test_randn(&r, 4, ws, false);
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *y = tg_conv2d(&c, x, w, 1, 1);
    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_null(y->grad_fn);
    ck_assert(!y->requires_grad);
    // only the input requires grad: the frozen weight gets none
    tg_tensor_set_requires_grad(x, true);
    y = tg_conv2d(&c, x, w, 1, 1);
    ck_assert_int_eq(tg_backward(&c, tg_sum(&c, y), NULL, false), TG_OK);
    ck_assert_ptr_nonnull(x->grad);
    ck_assert_ptr_null(w->grad);
    tg_tensor_set_requires_grad(x, false);
    tg_tensor_set_requires_grad(w, true);
    y = tg_conv2d(&c, x, w, 1, 1);
    ck_assert_str_eq(tg_node_next_name(y->grad_fn, 1), "AccumulateGrad");
    ck_assert_ptr_null(tg_node_next_name(y->grad_fn, 0));
    tg_tensor_free(x);
    tg_tensor_free(w);
    tg_ctx_free(&c);
}
END_TEST

// In-place ReLU after BatchNorm: same values and gradients as the out-of-place chain,
// the output shares the BatchNorm output's buffer, and a leaf that requires grad is refused.
START_TEST(test_relu_inplace) {
    tg_rng r;
    tg_rng_seed(&r, 11);
    int64_t xs[4] = {2, 3, 4, 5}, cs[1] = {3};
    tg_tensor *x = tg_test_randn(&r, 4, xs, true), *w = tg_tensor_ones(1, cs), *b = tg_test_randn(&r, 1, cs, true);
    tg_tensor_set_requires_grad(w, true);
    float *g = malloc((size_t)x->numel * sizeof(float));
    for (int64_t i = 0; i < x->numel; i++) g[i] = (float)tg_rng_normal(&r);
    float *ref_y = malloc((size_t)x->numel * sizeof(float)), *ref_dx = malloc((size_t)x->numel * sizeof(float));
    float ref_db[3];
    for (int pass = 0; pass < 2; pass++) {
        tg_ctx c;
        tg_ctx_init(&c);
        tg_tensor_zero_grad(x);
        tg_tensor_zero_grad(b);
        tg_tensor *h = tg_batchnorm2d(&c, x, w, b, NULL, NULL, true, 0.1f, 1e-5f);
        tg_tensor *y = pass ? tg_relu_(&c, h) : tg_relu(&c, h);
        ck_assert_ptr_nonnull(y);
        ck_assert_str_eq(tg_node_name(y->grad_fn), "ReluBackward0");
        if (pass) ck_assert_ptr_eq(y->data, h->data);
        ck_assert_int_eq(tg_backward(&c, y, g, false), TG_OK);
        for (int64_t i = 0; i < x->numel; i++) {
            if (!pass) {
                ref_y[i] = y->data[i];
                ref_dx[i] = x->grad[i];
            } else {
                ck_assert_float_eq(y->data[i], ref_y[i]);
                ck_assert_float_eq(x->grad[i], ref_dx[i]);
            }
        }
        for (int k = 0; k < 3; k++) {
            if (!pass) ref_db[k] = b->grad[k];
            else ck_assert_float_eq(b->grad[k], ref_db[k]);
        }
        tg_ctx_free(&c);
    }
    tg_ctx c;
    tg_ctx_init(&c);
    ck_assert_ptr_null(tg_relu_(&c, x));
    ck_assert_int_eq(tg_ctx_status(&c), TG_ERR_STATE);
    tg_ctx_free(&c);
    free(g), free(ref_y), free(ref_dx);
    tg_tensor_free(x), tg_tensor_free(w), tg_tensor_free(b);
}
END_TEST

// tg_batchnorm2d_ (BN, + residual, ReLU fused in one pass when no graph is recorded):
// bitwise the values and running stats of tg_batchnorm2d, tg_add_ and tg_relu_ in turn,
// in place or into dst, training and eval, with channels of negative weight; with a graph
// it records those ops and leaves x intact.
START_TEST(test_bn_fused) {
    tg_rng r;
    tg_rng_seed(&r, 12);
    int64_t xs[4] = {3, 4, 5, 7}, cs[1] = {4};
    tg_tensor *x0 = tg_test_randn(&r, 4, xs, false), *res = tg_test_randn(&r, 4, xs, false);
    tg_tensor *w = tg_test_randn(&r, 1, cs, false), *b = tg_test_randn(&r, 1, cs, false);
    tg_tensor *rm[2], *rv[2], *x[2];
    for (int k = 0; k < 2; k++) {
        rm[k] = tg_test_randn(&r, 1, cs, false);
        rv[k] = tg_tensor_ones(1, cs);
        x[k] = tg_tensor_zeros(4, xs);
    }
    for (int i = 0; i < 4; i++) rm[1]->data[i] = rm[0]->data[i];
    for (int mode = 0; mode < 16; mode++) {
        bool training = mode & 1, relu = mode & 2, use_res = mode & 4, use_dst = mode & 8;
        tg_ctx c;
        tg_ctx_init(&c);
        for (int k = 0; k < 2; k++)
            memcpy(x[k]->data, x0->data, (size_t)x0->numel * sizeof(float));
        tg_tensor *ref = tg_batchnorm2d(&c, x[0], w, b, rm[0], rv[0], training, 0.1f, 1e-5f);
        if (use_res) ref = tg_add_(&c, ref, res);
        if (relu) ref = tg_relu_(&c, ref);
        tg_tensor *dst = use_dst ? tg_ctx_tensor(&c, 4, xs) : NULL;
        tg_tensor *y = tg_batchnorm2d_(&c, x[1], w, b, rm[1], rv[1], training, 0.1f, 1e-5f,
                                       use_res ? res : NULL, relu, dst);
        ck_assert_ptr_nonnull(ref);
        ck_assert_ptr_nonnull(y);
        ck_assert_ptr_eq(y->data, use_dst ? dst->data : x[1]->data);
        ck_assert_ptr_null(y->grad_fn);
        ck_assert_msg(memcmp(y->data, ref->data, (size_t)y->numel * sizeof(float)) == 0,
                      "batchnorm2d_ mode %d differs from the ops one by one", mode);
        ck_assert(memcmp(rm[0]->data, rm[1]->data, 4 * sizeof(float)) == 0);
        ck_assert(memcmp(rv[0]->data, rv[1]->data, 4 * sizeof(float)) == 0);
        tg_ctx_free(&c);
    }
    // with a graph: the ops one by one, x intact
    tg_tensor_set_requires_grad(w, true);
    tg_ctx c;
    tg_ctx_init(&c);
    memcpy(x[1]->data, x0->data, (size_t)x0->numel * sizeof(float));
    tg_tensor *y = tg_batchnorm2d_(&c, x[1], w, b, NULL, NULL, true, 0.1f, 1e-5f, res, true, NULL);
    ck_assert_ptr_nonnull(y);
    ck_assert_str_eq(tg_node_name(y->grad_fn), "ReluBackward0");
    ck_assert(memcmp(x[1]->data, x0->data, (size_t)x0->numel * sizeof(float)) == 0);
    tg_ctx_free(&c);
    for (int k = 0; k < 2; k++) {
        tg_tensor_free(rm[k]), tg_tensor_free(rv[k]), tg_tensor_free(x[k]);
    }
    tg_tensor_free(x0), tg_tensor_free(res), tg_tensor_free(w), tg_tensor_free(b);
}
END_TEST

// tg_batchnorm2d_relu_maxpool (ResNet's stem without a graph): bitwise tg_batchnorm2d,
// tg_relu_ and tg_maxpool2d in turn, pooled first (no negative weight) or not (one),
// training and eval, into dst or not, on odd sides.
START_TEST(test_bn_relu_maxpool) {
    tg_rng r;
    tg_rng_seed(&r, 13);
    int64_t xs[4] = {2, 5, 9, 8}, cs[1] = {5}, os[4] = {2, 5, 5, 4};
    tg_tensor *x0 = tg_test_randn(&r, 4, xs, false), *w = tg_test_randn(&r, 1, cs, false);
    tg_tensor *b = tg_test_randn(&r, 1, cs, false), *rm = tg_tensor_zeros(1, cs);
    tg_tensor *rv = tg_tensor_ones(1, cs), *x = tg_tensor_zeros(4, xs);
    for (int mode = 0; mode < 8; mode++) {
        bool training = mode & 1, negative = mode & 2, use_dst = mode & 4;
        for (int k = 0; k < 5; k++) w->data[k] = fabsf(w->data[k]) * (negative && k == 2 ? -1 : 1);
        tg_ctx c;
        tg_ctx_init(&c);
        memcpy(x->data, x0->data, (size_t)x0->numel * sizeof(float));
        tg_tensor *ref = tg_batchnorm2d(&c, x, w, b, training ? NULL : rm,
                                        training ? NULL : rv, training, 0.1f, 1e-5f);
        ref = tg_maxpool2d(&c, tg_relu_(&c, ref), 3, 2, 1);
        tg_tensor *dst = use_dst ? tg_ctx_tensor(&c, 4, os) : NULL;
        tg_tensor *y = tg_batchnorm2d_relu_maxpool(&c, x, w, b, training ? NULL : rm,
                                                   training ? NULL : rv, training, 0.1f, 1e-5f,
                                                   dst);
        ck_assert_ptr_nonnull(ref);
        ck_assert_ptr_nonnull(y);
        ck_assert(tg_shape_eq(y, ref));
        if (use_dst) ck_assert_ptr_eq(y->data, dst->data);
        ck_assert_msg(memcmp(y->data, ref->data, (size_t)y->numel * sizeof(float)) == 0,
                      "batchnorm2d_relu_maxpool mode %d differs from the ops one by one", mode);
        tg_ctx_free(&c);
    }
    tg_tensor_free(x0), tg_tensor_free(w), tg_tensor_free(b), tg_tensor_free(rm);
    tg_tensor_free(rv), tg_tensor_free(x);
}
END_TEST

// NaN in a max-pool window: the output is NaN and the gradient goes to the window's last
// NaN, as PyTorch's indices ([[3, 1], [3, 5]] for this input).
START_TEST(test_maxpool_nan) {
    int64_t xs[4] = {1, 1, 3, 3};
    const float v[9] = {1, NAN, 2, NAN, 0, 5, 1, 2, 3};
    tg_tensor *x = tg_tensor_from(4, xs, v);
    tg_tensor_set_requires_grad(x, true);
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *y = tg_maxpool2d(&c, x, 3, 2, 1);
    ck_assert_ptr_nonnull(y);
    ck_assert(isnan(y->data[0]) && isnan(y->data[1]) && isnan(y->data[2]));
    ck_assert_float_eq(y->data[3], 5.0f);
    const float g[4] = {1, 10, 100, 1000};
    ck_assert_int_eq(tg_backward(&c, y, g, false), TG_OK);
    const float want[9] = {0, 10, 0, 101, 0, 1000, 0, 0, 0};
    for (int i = 0; i < 9; i++) ck_assert_float_eq(x->grad[i], want[i]);
    // relu: NaN stays NaN and passes its gradient (threshold_backward's out <= 0 test)
    tg_tensor_zero_grad(x);
    y = tg_relu(&c, x);
    ck_assert(isnan(y->data[1]));
    ck_assert_float_eq(y->data[4], 0.0f);
    const float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    ck_assert_int_eq(tg_backward(&c, y, ones, false), TG_OK);
    const float want_r[9] = {1, 1, 1, 1, 0, 1, 1, 1, 1};
    for (int i = 0; i < 9; i++) ck_assert_float_eq(x->grad[i], want_r[i]);
    tg_tensor_free(x);
    tg_ctx_free(&c);
}
END_TEST

// Bad shapes and labels give a message, not a crash.
START_TEST(test_bad_inputs) {
    tg_ctx c;
    tg_ctx_init(&c);
    int64_t xs[4] = {1, 3, 5, 5}, ws[4] = {4, 2, 3, 3}, ls[2] = {2, 3};
    tg_tensor *x = tg_tensor_zeros(4, xs), *w = tg_tensor_zeros(4, ws), *l = tg_tensor_zeros(2, ls);
    ck_assert_ptr_null(tg_conv2d(&c, x, w, 1, 1));
    ck_assert_int_eq(tg_ctx_status(&c), TG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "(4, 2, 3, 3)"));
    tg_ctx_free(&c);
    tg_ctx_init(&c);
    int64_t labels[2] = {0, 3};
    ck_assert_ptr_null(tg_cross_entropy(&c, l, labels, 0.0f));
    ck_assert_int_eq(tg_ctx_status(&c), TG_ERR_VALUE);
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "label 3"));
    tg_ctx_free(&c);
    tg_ctx_init(&c);
    int64_t one[4] = {1, 3, 1, 1};
    tg_tensor *x1 = tg_tensor_zeros(4, one);
    ck_assert_ptr_null(tg_batchnorm2d(&c, x1, NULL, NULL, NULL, NULL, true, 0.1f, 1e-5f));
    ck_assert_int_eq(tg_ctx_status(&c), TG_ERR_VALUE);
    ck_assert_ptr_null(tg_maxpool2d(&c, x, 3, 2, 2));
    tg_tensor_free(x);
    tg_tensor_free(w);
    tg_tensor_free(l);
    tg_tensor_free(x1);
    tg_ctx_free(&c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_nn");
    TCase *tc = tcase_create("torch");
    tcase_add_loop_test(tc, test_conv_vs_torch, 0, (int)(sizeof conv_cases / sizeof conv_cases[0]));
    tcase_add_test(tc, test_bn_train_vs_torch);
    tcase_add_test(tc, test_bn_eval_vs_torch);
    tcase_add_loop_test(tc, test_unary_vs_torch, 0, 3);
    tcase_add_test(tc, test_linear_vs_torch);
    tcase_add_test(tc, test_losses_vs_torch);
    tcase_add_test(tc, test_weighted_ce_vs_torch);
    tcase_add_test(tc, test_weighted_ce_edges);
    suite_add_tcase(s, tc);
    TCase *gc = tcase_create("gradcheck");
    tcase_add_loop_test(gc, test_conv_gradcheck, 0,
                        (int)(sizeof gc_conv_cases / sizeof gc_conv_cases[0]));
    tcase_add_loop_test(gc, test_bn_gradcheck, 0, 2);
    tcase_add_loop_test(gc, test_conv_winograd_gradcheck, 0, 2);
    tcase_add_test(gc, test_pointwise_gradcheck);
    tcase_add_test(gc, test_linear_losses_gradcheck);
    tcase_add_test(gc, test_weighted_ce_gradcheck);
    suite_add_tcase(s, gc);
    TCase *k = tcase_create("kernels");
    tcase_add_loop_test(k, test_conv_kernel_vs_ref, 0, 6);
    tcase_add_test(k, test_conv_winograd_accuracy);
    tcase_add_test(k, test_frozen_inputs);
    tcase_add_test(k, test_bad_inputs);
    tcase_add_test(k, test_relu_inplace);
    tcase_add_test(k, test_bn_fused);
    tcase_add_test(k, test_bn_relu_maxpool);
    tcase_add_test(k, test_maxpool_nan);
    suite_add_tcase(s, k);
    return tg_test_run(s, 0);
}
