// test_ops_basic.c: the basic differentiable ops (lib/ops/add.c ... matmul.c): forward
// values on small hand-checkable cases, errors that name the shapes, and every backward
// against central finite differences (gradcheck.h), with broadcasting and scalar cases.
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/tensor.h"
#include "gradcheck.h"
#include "ops/ops.h"
#include "testlib.h"

#define T(nd, ...) tg_tensor_from(nd, (int64_t[]){__VA_ARGS__}, NULL)

static tg_tensor *vec(int nd, const int64_t *shape, const float *v) {
    tg_tensor *t = tg_tensor_from(nd, shape, v);
    ck_assert_ptr_nonnull(t);
    return t;
}

static void assert_data(const tg_tensor *t, const float *want, int64_t n) {
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(t->numel, n);
    for (int64_t i = 0; i < n; i++) ck_assert_float_eq_tol(t->data[i], want[i], 1e-6f);
}

static void assert_shape(const tg_tensor *t, int nd, const int64_t *shape) {
    ck_assert_int_eq(t->ndim, nd);
    for (int i = 0; i < nd; i++) ck_assert_int_eq(t->shape[i], shape[i]);
}

// ---- forward values ----

START_TEST(test_elementwise_broadcast_values) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *a = vec(2, (int64_t[]){2, 3}, (float[]){1, 2, 3, 4, 5, 6});
    tg_tensor *b = vec(1, (int64_t[]){3}, (float[]){10, 20, 30});
    tg_tensor *col = vec(2, (int64_t[]){2, 1}, (float[]){2, 3});
    tg_tensor *row = vec(2, (int64_t[]){1, 3}, (float[]){1, 10, 100});

    tg_tensor *s = tg_add(&c, a, b);  // (2,3) + (3,)
    assert_shape(s, 2, (int64_t[]){2, 3});
    assert_data(s, (float[]){11, 22, 33, 14, 25, 36}, 6);
    assert_data(tg_add(&c, b, a), (float[]){11, 22, 33, 14, 25, 36}, 6);
    assert_data(tg_sub(&c, a, b), (float[]){-9, -18, -27, -6, -15, -24}, 6);
    assert_data(tg_sub(&c, b, a), (float[]){9, 18, 27, 6, 15, 24}, 6);
    tg_tensor *m = tg_mul(&c, col, row);  // (2,1) * (1,3) -> (2,3)
    assert_shape(m, 2, (int64_t[]){2, 3});
    assert_data(m, (float[]){2, 20, 200, 3, 30, 300}, 6);
    assert_data(tg_div(&c, a, col), (float[]){0.5f, 1, 1.5f, 4.0f / 3, 5.0f / 3, 2}, 6);
    assert_data(tg_mul(&c, a, a), (float[]){1, 4, 9, 16, 25, 36}, 6);
    // a 0-dim operand broadcasts to anything
    tg_tensor *z = tg_tensor_from(0, NULL, (float[]){2});
    tg_tensor *d = tg_div(&c, z, b);
    assert_shape(d, 1, (int64_t[]){3});
    assert_data(d, (float[]){0.2f, 0.1f, 2.0f / 30}, 3);
    // (2,1,3) + (2,1) -> (2,2,3)
    tg_tensor *a3 = vec(3, (int64_t[]){2, 1, 3}, (float[]){0, 1, 2, 3, 4, 5});
    tg_tensor *r = tg_add(&c, a3, col);
    assert_shape(r, 3, (int64_t[]){2, 2, 3});
    assert_data(r, (float[]){2, 3, 4, 3, 4, 5, 5, 6, 7, 6, 7, 8}, 12);
    ck_assert_int_eq(tg_ctx_status(&c), TG_OK);
    tg_tensor *free_list[] = {a, b, col, row, z, a3};
    for (size_t i = 0; i < sizeof free_list / sizeof *free_list; i++) tg_tensor_free(free_list[i]);
    tg_ctx_free(&c);
}
END_TEST

START_TEST(test_scalar_and_unary_values) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *a = vec(1, (int64_t[]){3}, (float[]){-1, 2, 3});
    assert_data(tg_add_scalar(&c, a, 1), (float[]){0, 3, 4}, 3);
    assert_data(tg_sub_scalar(&c, a, 1), (float[]){-2, 1, 2}, 3);
    assert_data(tg_rsub_scalar(&c, 1, a), (float[]){2, -1, -2}, 3);
    assert_data(tg_mul_scalar(&c, a, 3), (float[]){-3, 6, 9}, 3);
    assert_data(tg_div_scalar(&c, a, 4), (float[]){-0.25f, 0.5f, 0.75f}, 3);
    assert_data(tg_pow_scalar(&c, a, 2), (float[]){1, 4, 9}, 3);
    assert_data(tg_pow_scalar(&c, a, 3), (float[]){-1, 8, 27}, 3);
    assert_data(tg_neg(&c, a), (float[]){1, -2, -3}, 3);
    tg_tensor *s = tg_sum(&c, a);
    ck_assert_int_eq(s->ndim, 0);
    assert_data(s, (float[]){4}, 1);
    tg_tensor *m = tg_mean(&c, a);
    ck_assert_int_eq(m->ndim, 0);
    assert_data(m, (float[]){4.0f / 3}, 1);
    tg_tensor *b = vec(1, (int64_t[]){3}, (float[]){-1, 5, 3});
    tg_tensor *e = tg_eq(&c, a, b);
    ck_assert_int_eq(e->dtype, TG_BOOL);
    ck_assert(!e->requires_grad && e->grad_fn == NULL);
    assert_data(e, (float[]){1, 0, 1}, 3);
    tg_tensor *empty = tg_tensor_new(1, (int64_t[]){0});
    ck_assert(isnan(tg_mean(&c, empty)->data[0]));
    ck_assert_float_eq(tg_sum(&c, empty)->data[0], 0.0f);
    tg_tensor_free(a);
    tg_tensor_free(b);
    tg_tensor_free(empty);
    tg_ctx_free(&c);
}
END_TEST

START_TEST(test_reshape_matmul_values) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *a = vec(2, (int64_t[]){2, 3}, (float[]){0, 1, 2, 3, 4, 5});
    tg_tensor *r = tg_reshape(&c, a, 2, (int64_t[]){3, -1});
    assert_shape(r, 2, (int64_t[]){3, 2});
    ck_assert_ptr_eq(r->data, a->data);  // a view: no copy
    tg_tensor *x = vec(4, (int64_t[]){2, 3, 1, 2}, (float[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
    tg_tensor *f = tg_flatten(&c, x);
    assert_shape(f, 2, (int64_t[]){2, 6});
    assert_data(f, x->data, 12);
    tg_tensor *w = tg_tensor_ones(2, (int64_t[]){3, 1});
    tg_tensor *y = tg_matmul(&c, a, w);
    assert_shape(y, 2, (int64_t[]){2, 1});
    assert_data(y, (float[]){3, 12}, 2);
    tg_tensor *b = vec(2, (int64_t[]){3, 2}, (float[]){1, 2, 3, 4, 5, 6});
    // [[0,1,2],[3,4,5]] @ [[1,2],[3,4],[5,6]] = [[13,16],[40,52]]
    assert_data(tg_matmul(&c, a, b), (float[]){13, 16, 40, 52}, 4);
    ck_assert_int_eq(tg_ctx_status(&c), TG_OK);
    tg_tensor_free(a);
    tg_tensor_free(x);
    tg_tensor_free(w);
    tg_tensor_free(b);
    tg_ctx_free(&c);
}
END_TEST

// ---- errors ----

START_TEST(test_errors_name_shapes) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *a = T(2, 2, 3), *b = T(1, 4), *w = T(2, 4, 1);
    ck_assert_ptr_null(tg_add(&c, a, b));
    ck_assert_int_eq(tg_ctx_status(&c), TG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "(2, 3)"));
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "(4,)"));
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "add"));
    tg_ctx_reset(&c);
    ck_assert_ptr_null(tg_mul(&c, a, b));
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "mul"));
    tg_ctx_reset(&c);
    ck_assert_ptr_null(tg_eq(&c, a, b));
    tg_ctx_reset(&c);
    ck_assert_ptr_null(tg_matmul(&c, a, w));
    ck_assert_int_eq(tg_ctx_status(&c), TG_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "(2, 3) and (4, 1)"));
    tg_ctx_reset(&c);
    ck_assert_ptr_null(tg_reshape(&c, a, 2, (int64_t[]){4, -1}));
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "[4, -1]"));
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "(2, 3)"));
    tg_ctx_reset(&c);
    ck_assert_ptr_null(tg_reshape(&c, a, 2, (int64_t[]){-1, -1}));
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "only one dimension"));
    tg_ctx_reset(&c);
    ck_assert_ptr_null(tg_reshape(&c, a, 1, (int64_t[]){7}));
    tg_ctx_reset(&c);
    ck_assert_ptr_null(tg_flatten(&c, b));
    ck_assert_int_eq(tg_ctx_status(&c), TG_ERR_SHAPE);
    // the first error survives a chain of ops fed by a NULL
    tg_ctx_reset(&c);
    tg_tensor *chain = tg_mean(&c, tg_mul_scalar(&c, tg_add(&c, a, b), 2));
    ck_assert_ptr_null(chain);
    ck_assert_ptr_nonnull(strstr(tg_ctx_error(&c), "add"));
    tg_tensor_free(a);
    tg_tensor_free(b);
    tg_tensor_free(w);
    tg_ctx_free(&c);
}
END_TEST

// ---- backward vs finite differences ----

typedef enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_ADD_S, OP_SUB_S, OP_RSUB_S, OP_MUL_S, OP_DIV_S,
    OP_POW2, OP_POW3, OP_POWH, OP_NEG, OP_SUM, OP_MEAN, OP_RESHAPE, OP_FLATTEN, OP_MATMUL,
    OP_CHAIN,
} gc_op;

static tg_tensor *gc_apply(tg_ctx *c, tg_tensor **in, void *ud) {
    switch (*(gc_op *)ud) {
    case OP_ADD: return tg_add(c, in[0], in[1]);
    case OP_SUB: return tg_sub(c, in[0], in[1]);
    case OP_MUL: return tg_mul(c, in[0], in[1]);
    case OP_DIV: return tg_div(c, in[0], in[1]);
    case OP_ADD_S: return tg_add_scalar(c, in[0], 1.5f);
    case OP_SUB_S: return tg_sub_scalar(c, in[0], 0.5f);
    case OP_RSUB_S: return tg_rsub_scalar(c, 2.0f, in[0]);
    case OP_MUL_S: return tg_mul_scalar(c, in[0], -3.0f);
    case OP_DIV_S: return tg_div_scalar(c, in[0], 4.0f);
    case OP_POW2: return tg_pow_scalar(c, in[0], 2.0f);
    case OP_POW3: return tg_pow_scalar(c, in[0], 3.0f);
    case OP_POWH: return tg_pow_scalar(c, in[0], 1.5f);
    case OP_NEG: return tg_neg(c, in[0]);
    case OP_SUM: return tg_sum(c, in[0]);
    case OP_MEAN: return tg_mean(c, in[0]);
    case OP_RESHAPE: return tg_reshape(c, in[0], 2, (int64_t[]){-1, 2});
    case OP_FLATTEN: return tg_flatten(c, in[0]);
    case OP_MATMUL: return tg_matmul(c, in[0], in[1]);
    case OP_CHAIN:  // a graph where one input feeds two paths: 3a^3 - (a*b)^2 / 2
        return tg_sub(c, tg_mul_scalar(c, tg_pow_scalar(c, in[0], 3), 3),
                      tg_div_scalar(c, tg_pow_scalar(c, tg_mul(c, in[0], in[1]), 2), 2));
    }
    return NULL;
}

// Random inputs of the given shapes; positive_from: inputs from this index on are kept in
// [0.5, 1.5] (divisors, fractional powers).
static double check_op(gc_op op, int n_in, int nd0, const int64_t *s0, int nd1,
                       const int64_t *s1, int positive_from, uint64_t seed) {
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    tg_tensor *in[2] = {tg_tensor_new(nd0, s0), n_in > 1 ? tg_tensor_new(nd1, s1) : NULL};
    for (int k = 0; k < n_in; k++) {
        for (int64_t i = 0; i < in[k]->numel; i++)
            in[k]->data[i] = k >= positive_from ? (float)tg_rng_uniform_range(&rng, 0.5, 1.5)
                                                : (float)tg_rng_uniform_range(&rng, -1, 1);
        tg_tensor_set_requires_grad(in[k], true);
    }
    double err = tg_gradcheck(gc_apply, in, n_in, &op, 1e-2, 1e-3, 1e-2);
    for (int k = 0; k < n_in; k++) tg_tensor_free(in[k]);
    return err;
}

#define S(...) (int64_t[]){__VA_ARGS__}

START_TEST(test_gradcheck_binary_broadcast) {
    const gc_op ops[] = {OP_ADD, OP_SUB, OP_MUL, OP_DIV};
    for (size_t k = 0; k < 4; k++) {
        gc_op op = ops[k];
        ck_assert_double_le(check_op(op, 2, 2, S(2, 3), 2, S(2, 3), 1, 1), 1.0);  // same shape
        ck_assert_double_le(check_op(op, 2, 2, S(2, 3), 1, S(3), 1, 2), 1.0);     // (2,3)+(3,)
        ck_assert_double_le(check_op(op, 2, 1, S(3), 2, S(2, 3), 1, 3), 1.0);     // (3,)+(2,3)
        ck_assert_double_le(check_op(op, 2, 2, S(2, 1), 2, S(1, 3), 1, 4), 1.0);  // outer
        ck_assert_double_le(check_op(op, 2, 3, S(2, 1, 3), 2, S(4, 1), 1, 5), 1.0);
        ck_assert_double_le(check_op(op, 2, 2, S(2, 3), 0, S(0), 1, 6), 1.0);     // 0-dim b
        ck_assert_double_le(check_op(op, 2, 4, S(2, 3, 2, 2), 3, S(3, 1, 1), 1, 7), 1.0);
        ck_assert_double_le(check_op(op, 2, 2, S(3, 1), 3, S(2, 1, 1), 1, 8), 1.0);  // rows of 1
        ck_assert_double_le(check_op(op, 2, 3, S(2, 1, 4), 3, S(1, 3, 1), 1, 9), 1.0);
    }
}
END_TEST

START_TEST(test_gradcheck_unary_and_scalar) {
    const gc_op ops[] = {OP_ADD_S, OP_SUB_S, OP_RSUB_S, OP_MUL_S, OP_DIV_S, OP_POW2,
                         OP_POW3,  OP_NEG,   OP_SUM,    OP_MEAN};
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++) {
        ck_assert_double_le(check_op(ops[k], 1, 2, S(2, 3), 0, NULL, 1, 10 + k), 1.0);
        ck_assert_double_le(check_op(ops[k], 1, 1, S(5), 0, NULL, 1, 20 + k), 1.0);
        ck_assert_double_le(check_op(ops[k], 1, 0, S(0), 0, NULL, 1, 30 + k), 1.0);  // 0-dim
    }
    ck_assert_double_le(check_op(OP_POWH, 1, 2, S(3, 2), 0, NULL, 0, 40), 1.0);  // a > 0
}
END_TEST

START_TEST(test_gradcheck_shapes_and_matmul) {
    ck_assert_double_le(check_op(OP_RESHAPE, 1, 2, S(2, 3), 0, NULL, 1, 50), 1.0);
    ck_assert_double_le(check_op(OP_FLATTEN, 1, 4, S(2, 2, 1, 3), 0, NULL, 1, 51), 1.0);
    ck_assert_double_le(check_op(OP_MATMUL, 2, 2, S(2, 3), 2, S(3, 4), 2, 52), 1.0);
    ck_assert_double_le(check_op(OP_MATMUL, 2, 2, S(1, 5), 2, S(5, 1), 2, 53), 1.0);
    ck_assert_double_le(check_op(OP_MATMUL, 2, 2, S(4, 2), 2, S(2, 3), 2, 54), 1.0);
    ck_assert_double_le(check_op(OP_CHAIN, 2, 2, S(2, 3), 1, S(3), 2, 55), 1.0);
}
END_TEST

// A deliberately wrong backward (3 * dout for an op computing 2 * a) must fail the
// check, and a frozen input gets no gradient at all.
static tg_status bad_backward(tg_ctx *c, tg_node *n, const float *dout) {
    float *da = tg_grad_buf(c, n->in[0]);
    for (int64_t i = 0; da && i < n->out->numel; i++) da[i] += 3.0f * dout[i];
    return TG_OK;
}

static const tg_op bad_op = {"BadBackward0", bad_backward};

static tg_tensor *bad_apply(tg_ctx *c, tg_tensor **in, void *ud) {
    (void)ud;
    tg_tensor *out = tg_op_output(c, &bad_op, in[0]->ndim, in[0]->shape, 1, in, NULL, 0);
    for (int64_t i = 0; out && i < out->numel; i++) out->data[i] = 2.0f * in[0]->data[i];
    return out;
}

START_TEST(test_gradcheck_frozen_and_bad) {
    tg_rng rng;
    tg_rng_seed(&rng, 9);
    tg_tensor *in[2] = {tg_tensor_randn(2, S(2, 3), &rng), tg_tensor_randn(1, S(3), &rng)};
    tg_tensor_set_requires_grad(in[0], true);
    gc_op op = OP_MUL;
    ck_assert_double_le(tg_gradcheck(gc_apply, in, 2, &op, 1e-2, 1e-3, 1e-2), 1.0);
    ck_assert_ptr_nonnull(in[0]->grad);
    ck_assert_ptr_null(in[1]->grad);  // frozen: no gradient made
    ck_assert_double_gt(tg_gradcheck(bad_apply, in, 1, NULL, 1e-2, 1e-3, 1e-2), 10.0);
    tg_tensor_free(in[0]);
    tg_tensor_free(in[1]);
}
END_TEST

// Broadcast gradients reduce to each input's shape with the right sums.
START_TEST(test_broadcast_grad_values) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *a = vec(2, S(2, 3), (float[]){1, 2, 3, 4, 5, 6});
    tg_tensor *b = vec(1, S(3), (float[]){1, 2, 3});
    tg_tensor_set_requires_grad(a, true);
    tg_tensor_set_requires_grad(b, true);
    tg_tensor *y = tg_sum(&c, tg_mul(&c, a, b));
    ck_assert_int_eq(tg_backward(&c, y, NULL, false), TG_OK);
    const float want_b[3] = {5, 7, 9};  // column sums of a
    for (int i = 0; i < 3; i++) ck_assert_float_eq(b->grad[i], want_b[i]);
    for (int i = 0; i < 6; i++) ck_assert_float_eq(a->grad[i], b->data[i % 3]);
    tg_tensor_free(a);
    tg_tensor_free(b);
    tg_ctx_free(&c);
}
END_TEST

// In-place add (torchvision's out += identity): a's buffer is the output; gradients as
// tg_add's, with a handing its gradient buffer through (tg_grad_take); leaves refused.
START_TEST(test_add_inplace) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *x = vec(2, S(2, 3), (float[]){1, 2, 3, 4, 5, 6});
    tg_tensor *b = vec(1, S(3), (float[]){1, 2, 3});
    tg_tensor_set_requires_grad(x, true);
    tg_tensor_set_requires_grad(b, true);
    tg_tensor *a = tg_mul_scalar(&c, x, 2.0f);
    tg_tensor *y = tg_add_(&c, a, b);
    ck_assert_ptr_nonnull(y);
    ck_assert_ptr_eq(y->data, a->data);
    ck_assert_str_eq(tg_node_name(y->grad_fn), "AddBackward0");
    for (int i = 0; i < 6; i++) ck_assert_float_eq(y->data[i], 2.0f * (float)(i + 1) + (float)(i % 3 + 1));
    tg_tensor *l = tg_sum(&c, tg_mul(&c, y, y));  // dl/dy = 2y
    ck_assert_int_eq(tg_backward(&c, l, NULL, false), TG_OK);
    for (int i = 0; i < 6; i++) ck_assert_float_eq(x->grad[i], 2.0f * 2.0f * y->data[i]);
    for (int j = 0; j < 3; j++)
        ck_assert_float_eq(b->grad[j], 2.0f * (y->data[j] + y->data[3 + j]));
    ck_assert_ptr_null(tg_add_(&c, x, b));  // a leaf that requires grad
    ck_assert_int_eq(tg_ctx_status(&c), TG_ERR_STATE);
    tg_tensor_free(x);
    tg_tensor_free(b);
    tg_ctx_free(&c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("ops_basic");
    TCase *tc = tcase_create("ops_basic");
    tcase_add_test(tc, test_elementwise_broadcast_values);
    tcase_add_test(tc, test_scalar_and_unary_values);
    tcase_add_test(tc, test_reshape_matmul_values);
    tcase_add_test(tc, test_errors_name_shapes);
    tcase_add_test(tc, test_gradcheck_binary_broadcast);
    tcase_add_test(tc, test_gradcheck_unary_and_scalar);
    tcase_add_test(tc, test_gradcheck_shapes_and_matmul);
    tcase_add_test(tc, test_gradcheck_frozen_and_bad);
    tcase_add_test(tc, test_broadcast_grad_values);
    tcase_add_test(tc, test_add_inplace);
    suite_add_tcase(s, tc);
    return tg_test_run(s, 0);
}
