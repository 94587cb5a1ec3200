// test_autograd.c: the engine's torch.autograd semantics (lib/core/autograd.c driven
// through the ops of lib/ops): accumulation, retain_graph, external gradients, no-grad,
// detach, pruning of frozen inputs, grad_fn names and next functions, flat memory over a
// loop of training steps, post-accumulate-grad hooks and the SGD step fused into backward
// through them.
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/tensor.h"
#include "nn/resnet18.h"
#include "nn/sgd.h"
#include "ops/ops.h"
#include "testlib.h"

#define S(...) (int64_t[]){__VA_ARGS__}

static tg_tensor *leaf(int nd, const int64_t *shape, const float *v, bool requires_grad) {
    tg_tensor *t = tg_tensor_from(nd, shape, v);
    ck_assert_ptr_nonnull(t);
    tg_tensor_set_requires_grad(t, requires_grad);
    return t;
}

static void assert_vals(const float *got, const float *want, int64_t n) {
    ck_assert_ptr_nonnull(got);
    for (int64_t i = 0; i < n; i++) ck_assert_float_eq_tol(got[i], want[i], 1e-5f);
}

// Q = 3a^3 - b^2, the tutorial's function
static tg_tensor *tutorial_q(tg_ctx *c, tg_tensor *a, tg_tensor *b) {
    return tg_sub(c, tg_mul_scalar(c, tg_pow_scalar(c, a, 3), 3), tg_pow_scalar(c, b, 2));
}

START_TEST(test_external_gradient) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *a = leaf(1, S(2), (float[]){2, 3}, true);
    tg_tensor *b = leaf(1, S(2), (float[]){6, 4}, true);
    tg_tensor *q = tutorial_q(&c, a, b);
    assert_vals(q->data, (float[]){-12, 65}, 2);
    ck_assert_int_eq(tg_backward(&c, q, (float[]){1, 1}, false), TG_OK);
    assert_vals(a->grad, (float[]){36, 81}, 2);   // 9 a^2
    assert_vals(b->grad, (float[]){-12, -8}, 2);  // -2 b
    // J^T v with a non-uniform v: each element scaled
    tg_tensor_zero_grad(a);
    tg_tensor_zero_grad(b);
    q = tutorial_q(&c, a, b);
    ck_assert_int_eq(tg_backward(&c, q, (float[]){0.5f, -2}, false), TG_OK);
    assert_vals(a->grad, (float[]){18, -162}, 2);
    assert_vals(b->grad, (float[]){-6, 16}, 2);
    tg_tensor_free(a);
    tg_tensor_free(b);
    tg_ctx_free(&c);
}
END_TEST

START_TEST(test_accumulation_two_backwards) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *a = leaf(1, S(2), (float[]){2, 3}, true);
    for (int k = 1; k <= 2; k++) {  // two graphs, two backwards: gradients add up
        tg_tensor *y = tg_sum(&c, tg_mul(&c, a, a));
        ck_assert_int_eq(tg_backward(&c, y, NULL, false), TG_OK);
        assert_vals(a->grad, (float[]){4.0f * k, 6.0f * k}, 2);
    }
    tg_tensor_zero_grad(a);  // grad.zero_()
    assert_vals(a->grad, (float[]){0, 0}, 2);
    tg_tensor_free(a);
    tg_ctx_free(&c);
}
END_TEST

START_TEST(test_retain_graph_and_second_backward) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *a = leaf(1, S(2), (float[]){2, 3}, true);
    tg_tensor *y = tg_mean(&c, tg_pow_scalar(&c, a, 2));  // mean(a^2): grad a
    ck_assert_int_eq(tg_backward(&c, y, NULL, true), TG_OK);
    assert_vals(a->grad, (float[]){2, 3}, 2);
    ck_assert_int_eq(tg_backward(&c, y, NULL, false), TG_OK);  // retained: works again
    assert_vals(a->grad, (float[]){4, 6}, 2);
    // the graph is now freed: a third backward is an error that says what to do
    ck_assert_int_eq(tg_backward(&c, y, NULL, false), TG_ERR_STATE);
    ck_assert_int_eq(tg_ctx_status(&c), TG_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "second time"));
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "retain_graph"));
    assert_vals(a->grad, (float[]){4, 6}, 2);  // untouched by the failed call
    tg_tensor_free(a);
    tg_ctx_free(&c);
}
END_TEST

START_TEST(test_nonscalar_without_gradient) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *a = leaf(2, S(2, 3), NULL, true);
    tg_tensor *y = tg_mul_scalar(&c, a, 2);
    ck_assert_int_eq(tg_backward(&c, y, NULL, false), TG_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "scalar"));
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "(2, 3)"));
    ck_assert_ptr_null(a->grad);
    // a tensor that does not require grad cannot be backpropagated either
    tg_ctx_reset(&c);
    tg_tensor *p = tg_tensor_ones(1, S(1));
    ck_assert_int_eq(tg_backward(&c, tg_mul_scalar(&c, p, 2), NULL, false), TG_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "does not require grad"));
    tg_tensor_free(p);
    tg_tensor_free(a);
    tg_ctx_free(&c);
}
END_TEST

START_TEST(test_no_grad) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *x = leaf(1, S(3), (float[]){1, 2, 3}, true);
    tg_no_grad_enter(&c);
    tg_no_grad_enter(&c);  // nests
    tg_tensor *y = tg_add(&c, tg_mul_scalar(&c, x, 2), x);
    tg_no_grad_exit(&c);
    tg_tensor *z = tg_matmul(&c, tg_reshape(&c, x, 2, S(1, 3)), tg_reshape(&c, x, 2, S(3, 1)));
    tg_no_grad_exit(&c);
    ck_assert(!y->requires_grad && y->grad_fn == NULL);
    ck_assert(!z->requires_grad && z->grad_fn == NULL);
    assert_vals(y->data, (float[]){3, 6, 9}, 3);  // values are still computed
    assert_vals(z->data, (float[]){14}, 1);
    ck_assert(tg_grad_enabled(&c));
    tg_tensor *w = tg_mul_scalar(&c, x, 2);  // recorded again after the scope
    ck_assert(w->requires_grad);
    ck_assert_str_eq(tg_node_name(w->grad_fn), "MulBackward0");
    tg_tensor_free(x);
    tg_ctx_free(&c);
}
END_TEST

START_TEST(test_detach) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *x = leaf(1, S(2), (float[]){1, 2}, true);
    tg_tensor *y = tg_mul_scalar(&c, x, 3);
    tg_tensor *d = tg_detach(&c, y);
    ck_assert(y->requires_grad);
    ck_assert(!d->requires_grad && d->grad_fn == NULL);
    ck_assert_ptr_eq(d->data, y->data);  // shares storage
    ck_assert(tg_shape_eq(d, y));
    // ops on the detached tensor record nothing; mixing with x only tracks x's path
    tg_tensor *s = tg_sum(&c, tg_mul(&c, d, x));  // sum(stopgrad(3x) * x): grad 3x
    ck_assert_int_eq(tg_backward(&c, s, NULL, false), TG_OK);
    assert_vals(x->grad, (float[]){3, 6}, 2);
    ck_assert(tg_mul_scalar(&c, d, 2)->grad_fn == NULL);
    tg_tensor_free(x);
    tg_ctx_free(&c);
}
END_TEST

START_TEST(test_pruning_frozen_inputs) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *frozen = leaf(2, S(2, 2), (float[]){1, 2, 3, 4}, false);
    tg_tensor *x = leaf(2, S(2, 2), (float[]){1, 1, 1, 1}, false);
    tg_tensor *w = leaf(2, S(2, 1), (float[]){0.5f, -1}, true);
    // only frozen inputs: nothing recorded, no node allocated
    size_t before = c.arena.used_total;
    tg_tensor *h = tg_pow_scalar(&c, tg_add(&c, tg_matmul(&c, x, frozen), frozen), 2);
    ck_assert(!h->requires_grad && h->grad_fn == NULL);
    size_t plain = c.arena.used_total - before;
    // the same chain with nothing frozen allocates more: nodes and saved structs
    tg_tensor_set_requires_grad(frozen, true);
    before = c.arena.used_total;
    tg_tensor *h2 = tg_pow_scalar(&c, tg_add(&c, tg_matmul(&c, x, frozen), frozen), 2);
    ck_assert(h2->requires_grad && h2->grad_fn != NULL);
    ck_assert_uint_gt(c.arena.used_total - before, plain);
    tg_tensor_set_requires_grad(frozen, false);
    // a trainable layer on top of the frozen part: backward reaches w only
    tg_tensor *y = tg_mean(&c, tg_matmul(&c, h, w));
    ck_assert_str_eq(tg_node_name(y->grad_fn), "MeanBackward0");
    tg_node *mm = tg_node_next(y->grad_fn, 0);
    ck_assert_str_eq(tg_node_name(mm), "MmBackward0");
    ck_assert_ptr_null(tg_node_next_name(mm, 0));  // h: None, the frozen branch is cut
    ck_assert_ptr_null(tg_node_next(mm, 0));
    ck_assert_str_eq(tg_node_next_name(mm, 1), "AccumulateGrad");
    ck_assert_ptr_eq(tg_node_next_variable(mm, 1), w);
    ck_assert_int_eq(tg_backward(&c, y, NULL, false), TG_OK);
    ck_assert_ptr_null(frozen->grad);
    ck_assert_ptr_null(x->grad);
    // h = (x@F + F)^2 = [[(4+1)^2,(6+2)^2],[(4+3)^2,(6+4)^2]] = [[25,64],[49,100]]
    // dmean/dw = column sums of h / 2
    assert_vals(w->grad, (float[]){37, 82}, 2);
    tg_tensor_free(frozen);
    tg_tensor_free(x);
    tg_tensor_free(w);
    tg_ctx_free(&c);
}
END_TEST

START_TEST(test_nonleaf_keeps_no_grad) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *a = leaf(1, S(2), (float[]){1, 2}, true);
    tg_tensor *y = tg_mul_scalar(&c, a, 2);
    tg_tensor *z = tg_sum(&c, tg_pow_scalar(&c, y, 2));
    ck_assert_int_eq(tg_backward(&c, z, NULL, false), TG_OK);
    ck_assert_ptr_null(y->grad);
    ck_assert_ptr_null(y->gbuf);
    ck_assert_ptr_null(z->grad);
    assert_vals(a->grad, (float[]){8, 16}, 2);  // d/da sum((2a)^2) = 8a
    tg_tensor_free(a);
    tg_ctx_free(&c);
}
END_TEST

START_TEST(test_grad_fn_names_and_next_functions) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *x = leaf(2, S(2, 2), (float[]){1, 1, 1, 1}, true);
    tg_tensor *y = tg_add_scalar(&c, x, 1);                       // y = x + 1
    tg_tensor *z = tg_add_scalar(&c, tg_pow_scalar(&c, y, 2), 3);  // z = y^2 + 3
    ck_assert_str_eq(tg_node_name(y->grad_fn), "AddBackward0");
    ck_assert_str_eq(tg_node_name(z->grad_fn), "AddBackward0");
    // z.grad_fn.next_functions == ((PowBackward0, 0), (None, 0))
    ck_assert_int_eq(tg_node_n_next(z->grad_fn), 2);
    ck_assert_str_eq(tg_node_next_name(z->grad_fn, 0), "PowBackward0");
    ck_assert_ptr_null(tg_node_next_name(z->grad_fn, 1));
    tg_node *p = tg_node_next(z->grad_fn, 0);
    ck_assert_int_eq(tg_node_n_next(p), 1);
    ck_assert_str_eq(tg_node_next_name(p, 0), "AddBackward0");
    ck_assert_ptr_eq(tg_node_next(p, 0), y->grad_fn);
    ck_assert_str_eq(tg_node_next_name(y->grad_fn, 0), "AccumulateGrad");
    ck_assert_ptr_eq(tg_node_next_variable(y->grad_fn, 0), x);
    // each op's name as torch 1.13 prints it
    tg_tensor *b = leaf(1, S(2), (float[]){1, 2}, true), *v = leaf(1, S(2), (float[]){3, 4}, true);
    struct {
        tg_tensor *t;
        const char *name;
    } cases[] = {
        {tg_add(&c, b, v), "AddBackward0"},        {tg_sub(&c, b, v), "SubBackward0"},
        {tg_mul(&c, b, v), "MulBackward0"},        {tg_div(&c, b, v), "DivBackward0"},
        {tg_sub_scalar(&c, b, 2), "SubBackward0"}, {tg_rsub_scalar(&c, 2, b), "RsubBackward1"},
        {tg_mul_scalar(&c, b, 2), "MulBackward0"}, {tg_div_scalar(&c, b, 2), "DivBackward0"},
        {tg_neg(&c, b), "NegBackward0"},           {tg_sum(&c, b), "SumBackward0"},
        {tg_mean(&c, b), "MeanBackward0"},
        {tg_reshape(&c, b, 2, S(2, 1)), "ReshapeAliasBackward0"},
        {tg_matmul(&c, tg_reshape(&c, b, 2, S(1, 2)), tg_reshape(&c, v, 2, S(2, 1))),
         "MmBackward0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ck_assert_ptr_nonnull(cases[i].t);
        ck_assert_str_eq(tg_node_name(cases[i].t->grad_fn), cases[i].name);
    }
    ck_assert_ptr_null(x->grad_fn);  // leaves have none
    tg_tensor_free(x);
    tg_tensor_free(b);
    tg_tensor_free(v);
    tg_ctx_free(&c);
}
END_TEST

// A loop of forward / backward / SGD update / reset: the arena stops growing after the
// second step, the weights move and the loss falls.
START_TEST(test_arena_steady_state_training_loop) {
    tg_ctx c;
    tg_ctx_init(&c);
    float xv[8 * 3], tv[8];
    for (int i = 0; i < 8; i++) {
        for (int j = 0; j < 3; j++) xv[i * 3 + j] = (float)((i * 7 + j * 3) % 5) - 2.0f;
        tv[i] = xv[i * 3] - 2 * xv[i * 3 + 1] + 0.5f * xv[i * 3 + 2] + 1;
    }
    tg_tensor *x = leaf(2, S(8, 3), xv, false);
    tg_tensor *target = leaf(2, S(8, 1), tv, false);
    tg_tensor *w = leaf(2, S(3, 1), NULL, true);
    tg_tensor *bias = leaf(1, S(1), NULL, true);
    size_t cap[40];
    float first = 0, last = 0;
    for (int step = 0; step < 40; step++) {
        tg_tensor *out = tg_add(&c, tg_matmul(&c, x, w), bias);
        tg_tensor *loss = tg_mean(&c, tg_pow_scalar(&c, tg_sub(&c, out, target), 2));
        ck_assert_ptr_nonnull(loss);
        if (step == 0) first = loss->data[0];
        last = loss->data[0];
        ck_assert_int_eq(tg_backward(&c, loss, NULL, false), TG_OK);
        for (int i = 0; i < 3; i++) w->data[i] -= 0.1f * w->grad[i];
        bias->data[0] -= 0.1f * bias->grad[0];
        tg_tensor_zero_grad(w);
        tg_tensor_zero_grad(bias);
        tg_ctx_reset(&c);
        cap[step] = c.arena.capacity;
        if (step >= 2) ck_assert_uint_eq(cap[step], cap[1]);
    }
    ck_assert_uint_gt(cap[1], 0);
    ck_assert_float_lt(last, first * 0.01f);
    ck_assert_float_eq_tol(w->data[0], 1.0f, 0.05f);
    ck_assert_float_eq_tol(w->data[1], -2.0f, 0.05f);
    tg_tensor_free(x);
    tg_tensor_free(target);
    tg_tensor_free(w);
    tg_tensor_free(bias);
    tg_ctx_free(&c);
}
END_TEST

// A value used twice accumulates both paths' gradients within one backward.
START_TEST(test_diamond_graph) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *a = leaf(1, S(2), (float[]){2, 3}, true);
    tg_tensor *y = tg_mul_scalar(&c, a, 2);
    tg_tensor *z = tg_sum(&c, tg_add(&c, tg_mul(&c, y, y), y));  // 4a^2 + 2a: grad 8a + 2
    ck_assert_int_eq(tg_backward(&c, z, NULL, false), TG_OK);
    assert_vals(a->grad, (float[]){18, 26}, 2);
    tg_tensor_free(a);
    tg_ctx_free(&c);
}
END_TEST

// What a post-accumulate-grad hook saw: how often it ran, the gradient at that moment, and
// whether the other watched leaf had its gradient yet.
typedef struct {
    int calls;
    float grad[4];
    tg_tensor *other;
    bool other_had_grad;
} hook_log;

static void log_hook(void *arg, tg_tensor *t) {
    hook_log *h = arg;
    h->calls++;
    for (int64_t i = 0; i < t->numel && i < 4; i++) h->grad[i] = t->grad[i];
    h->other_had_grad = h->other && h->other->grad;
}

// A parameter that goes through backward in two contexts: a count left on it by the first
// (as a backward that failed halfway leaves it) must not stand in the second, whose own
// counter starts where the first's did.
START_TEST(test_hook_two_contexts) {
    tg_tensor *w = leaf(1, S(2), (float[]){2, 5}, true);
    hook_log l = {0};
    tg_tensor_set_post_accumulate_grad_hook(w, log_hook, &l);
    tg_ctx a, b;
    tg_ctx_init(&a);
    tg_ctx_init(&b);
    ck_assert_int_eq(tg_backward(&a, tg_sum(&a, tg_mul(&a, w, w)), NULL, false), TG_OK);
    ck_assert_int_eq(l.calls, 1);
    w->hook_pending = 7;  // what an interrupted backward in a would have left
    ck_assert_int_eq(tg_backward(&b, tg_sum(&b, tg_mul(&b, w, w)), NULL, false), TG_OK);
    ck_assert_int_eq(l.calls, 2);
    assert_vals(l.grad, (float[]){8, 20}, 2);  // 2w twice
    tg_ctx_free(&a);
    tg_ctx_free(&b);
    tg_tensor_free(w);
}
END_TEST

START_TEST(test_post_accumulate_grad_hook) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *x = leaf(1, S(2), (float[]){3, -1}, false);
    tg_tensor *w1 = leaf(1, S(2), (float[]){2, 5}, true);   // near the loss
    tg_tensor *w2 = leaf(1, S(2), (float[]){-1, 4}, true);  // at the bottom, used twice
    tg_tensor *frozen = leaf(1, S(2), (float[]){1, 1}, false);
    tg_tensor *unused = leaf(1, S(2), (float[]){1, 1}, true);
    hook_log l1 = {.other = w2}, l2 = {.other = w1}, lf = {0}, lu = {0};
    tg_tensor_set_post_accumulate_grad_hook(w1, log_hook, &l1);
    tg_tensor_set_post_accumulate_grad_hook(w2, log_hook, &l2);
    tg_tensor_set_post_accumulate_grad_hook(frozen, log_hook, &lf);
    tg_tensor_set_post_accumulate_grad_hook(unused, log_hook, &lu);
    // h = w2*x + w2*w2 + frozen;  y = sum(h * w1)
    // dy/dw1 = h = [-3+1+1, -4+16+1] = [-1, 13];  dy/dw2 = w1 * (x + 2 w2) = [2, 35]
    tg_tensor *h = tg_add(&c, tg_add(&c, tg_mul(&c, w2, x), tg_mul(&c, w2, w2)), frozen);
    tg_tensor *y = tg_sum(&c, tg_mul(&c, h, w1));
    ck_assert_int_eq(tg_backward(&c, y, NULL, true), TG_OK);
    // once each, with the complete gradient; w1's as soon as its one consumer ran, before
    // backward reached w2; w2's after its last consumer (three input slots, two nodes)
    ck_assert_int_eq(l1.calls, 1);
    ck_assert_int_eq(l2.calls, 1);
    assert_vals(l1.grad, (float[]){-1, 13}, 2);
    assert_vals(l2.grad, (float[]){2, 35}, 2);
    ck_assert(!l1.other_had_grad);
    ck_assert(l2.other_had_grad);
    assert_vals(w1->grad, (float[]){-1, 13}, 2);  // .grad keeps the gradient afterwards
    assert_vals(w2->grad, (float[]){2, 35}, 2);
    // not for a leaf that does not require grad, nor one outside the graph
    ck_assert_int_eq(lf.calls, 0);
    ck_assert_int_eq(lu.calls, 0);
    // a second backward through the retained graph: once more, with the accumulated sum
    ck_assert_int_eq(tg_backward(&c, y, NULL, false), TG_OK);
    ck_assert_int_eq(l1.calls, 2);
    ck_assert_int_eq(l2.calls, 2);
    assert_vals(l2.grad, (float[]){4, 70}, 2);
    // a leaf root: its hook runs after the given gradient is added
    ck_assert_int_eq(tg_backward(&c, w1, (float[]){1, 1}, false), TG_OK);
    ck_assert_int_eq(l1.calls, 3);
    assert_vals(l1.grad, (float[]){-1, 27}, 2);
    // removed: no more calls
    tg_tensor_set_post_accumulate_grad_hook(w2, NULL, NULL);
    ck_assert_int_eq(tg_backward(&c, tg_sum(&c, tg_mul(&c, w2, w1)), NULL, false), TG_OK);
    ck_assert_int_eq(l2.calls, 2);
    ck_assert_int_eq(l1.calls, 4);
    tg_tensor *ts[] = {x, w1, w2, frozen, unused};
    for (int i = 0; i < 5; i++) tg_tensor_free(ts[i]);
    tg_ctx_free(&c);
}
END_TEST

static bool same_floats(const float *a, const float *b, int64_t n) {
    if (!a || !b) return a == b;
    return !memcmp(a, b, (size_t)n * sizeof(float));
}

// resnet18 (10 classes) trained 3 steps on 2 random 32x32 images, with the SGD step after
// backward or fused into it; returns the model and its optimizer for comparison.
static tg_resnet18 *train_resnet(tg_sgd *sgd, tg_sgd_options o, const char *freeze, bool fused,
                                 tg_ctx *c) {
    tg_error err = {0};
    tg_rng rng;
    tg_rng_seed(&rng, 7);
    tg_resnet18 *m = tg_resnet18_new(10, &rng, &err);
    ck_assert_ptr_nonnull(m);
    if (freeze) ck_assert_int_gt(tg_resnet18_freeze(m, freeze), 0);
    tg_tensor *params[TG_RESNET18_N_PARAMS];
    int n = tg_resnet18_params(m, params);
    ck_assert_int_eq(tg_sgd_init(sgd, params, n, o, &err), TG_OK);
    if (fused) tg_sgd_set_fused(sgd, true);
    tg_tensor *x = tg_tensor_randn(4, S(2, 3, 32, 32), &rng);
    int64_t labels[2] = {3, 8};
    for (int step = 0; step < 3; step++) {
        tg_sgd_zero_grad(sgd);
        tg_tensor *loss = tg_cross_entropy(c, tg_resnet18_forward(c, m, x), labels, 0.0f);
        ck_assert_ptr_nonnull(loss);
        tg_tensor *fc = params[tg_sgd_find(sgd, "fc.weight")];  // (10, 512)
        float *before = malloc((size_t)fc->numel * sizeof(float));
        ck_assert_ptr_nonnull(before);
        memcpy(before, fc->data, (size_t)fc->numel * sizeof(float));
        ck_assert_int_eq(tg_backward(c, loss, NULL, false), TG_OK);
        // fused: every trainable parameter is already updated, and only those
        for (int i = 0; fused && i < n; i++)
            ck_assert_msg(sgd->done[i] == params[i]->requires_grad, "%s", params[i]->name);
        ck_assert(fused == !same_floats(before, fc->data, fc->numel));
        free(before);
        tg_sgd_step(sgd);
        for (int i = 0; i < n; i++) ck_assert(!sgd->done[i]);
        tg_ctx_reset(c);
    }
    tg_tensor_free(x);
    return m;
}

START_TEST(test_fused_sgd_bitwise) {
    const tg_sgd_options opts[] = {
        {.lr = 0.05f, .momentum = 0.9f},
        {.lr = 0.03f, .momentum = 0.9f, .weight_decay = 5e-3f, .nesterov = true},
        {.lr = 0.02f, .momentum = 0.8f, .dampening = 0.25f, .weight_decay = 1e-3f},
        {.lr = 0.1f, .weight_decay = 1e-2f},
        {.lr = 0.1f},
    };
    tg_ctx c;
    tg_ctx_init(&c);
    for (int k = 0; k < 5; k++) {
        const char *freeze = k == 1 ? "layer1.*" : NULL;
        tg_sgd a, b;
        tg_resnet18 *ma = train_resnet(&a, opts[k], freeze, false, &c);
        tg_resnet18 *mb = train_resnet(&b, opts[k], freeze, true, &c);
        for (int i = 0; i < a.n; i++) {
            tg_tensor *p = a.params[i], *q = b.params[i];
            ck_assert_msg(same_floats(p->data, q->data, p->numel), "case %d: %s", k, p->name);
            ck_assert_msg(same_floats(p->grad, q->grad, p->numel), "case %d: %s .grad", k, p->name);
            ck_assert_msg(same_floats(tg_sgd_buffer(&a, i), tg_sgd_buffer(&b, i), p->numel),
                          "case %d: %s momentum", k, p->name);
            ck_assert_msg(!p->requires_grad == !p->grad, "case %d: %s", k, p->name);
        }
        tg_sgd_free(&a);
        tg_sgd_free(&b);
        tg_resnet18_free(ma);
        tg_resnet18_free(mb);
    }
    tg_ctx_free(&c);
}
END_TEST

// What a hook cannot do, step does: a parameter backward did not reach (its .grad still
// marked zero by zero_grad) gets the same zero-gradient update (decay and momentum) as in
// the unfused step; a parameter without .grad is skipped.
START_TEST(test_fused_sgd_unreached) {
    tg_sgd_options o = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f};
    float out[2][3][2];  // (fused?, parameter, element)
    float bufs[2][2][2];
    for (int fused = 0; fused < 2; fused++) {
        tg_ctx c;
        tg_ctx_init(&c);
        tg_tensor *p = leaf(1, S(2), (float[]){1, -2}, true);
        tg_tensor *q = leaf(1, S(2), (float[]){0.5f, 3}, true);
        tg_tensor *r = leaf(1, S(2), (float[]){7, 8}, true);
        tg_tensor *ps[3] = {p, q, r};
        tg_sgd s;
        tg_error err = {0};
        ck_assert_int_eq(tg_sgd_init(&s, ps, 3, o, &err), TG_OK);
        tg_sgd_set_fused(&s, fused);
        for (int step = 0; step < 3; step++) {
            tg_sgd_zero_grad(&s);
            // step 0 reaches p and q, later steps only p: q's gradient stays marked zero
            tg_tensor *y = tg_mul(&c, p, p);
            if (step == 0) y = tg_add(&c, y, q);
            ck_assert_int_eq(tg_backward(&c, tg_sum(&c, y), NULL, false), TG_OK);
            ck_assert(s.done[0] == fused && s.done[1] == (fused && step == 0) && !s.done[2]);
            tg_sgd_step(&s);
            tg_ctx_reset(&c);
        }
        ck_assert_ptr_null(r->grad);
        for (int i = 0; i < 3; i++) memcpy(out[fused][i], ps[i]->data, sizeof out[fused][i]);
        for (int i = 0; i < 2; i++) memcpy(bufs[fused][i], tg_sgd_buffer(&s, i), sizeof bufs[0][i]);
        ck_assert_ptr_null(tg_sgd_buffer(&s, 2));
        ck_assert_float_eq(q->grad[0], 0.0f);
        tg_sgd_free(&s);
        ck_assert(p->post_accumulate_hook == NULL);  // free removed the hooks
        for (int i = 0; i < 3; i++) tg_tensor_free(ps[i]);
        tg_ctx_free(&c);
    }
    ck_assert(!memcmp(out[0], out[1], sizeof out[0]));
    ck_assert(!memcmp(bufs[0], bufs[1], sizeof bufs[0]));
    ck_assert(out[0][1][0] != 0.5f);  // q moved on its zero-gradient steps
    ck_assert(out[0][2][0] == 7.0f);  // r never had a gradient
}
END_TEST

int main(void) {
    Suite *s = suite_create("autograd");
    TCase *tc = tcase_create("autograd");
    tcase_add_test(tc, test_external_gradient);
    tcase_add_test(tc, test_accumulation_two_backwards);
    tcase_add_test(tc, test_retain_graph_and_second_backward);
    tcase_add_test(tc, test_nonscalar_without_gradient);
    tcase_add_test(tc, test_no_grad);
    tcase_add_test(tc, test_detach);
    tcase_add_test(tc, test_pruning_frozen_inputs);
    tcase_add_test(tc, test_nonleaf_keeps_no_grad);
    tcase_add_test(tc, test_grad_fn_names_and_next_functions);
    tcase_add_test(tc, test_arena_steady_state_training_loop);
    tcase_add_test(tc, test_diamond_graph);
    tcase_add_test(tc, test_post_accumulate_grad_hook);
    tcase_add_test(tc, test_hook_two_contexts);
    tcase_add_test(tc, test_fused_sgd_bitwise);
    tcase_add_test(tc, test_fused_sgd_unreached);
    suite_add_tcase(s, tc);
    return tg_test_run(s, 0);
}
