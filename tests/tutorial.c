// tutorial.c: PyTorch's "A Gentle Introduction to torch.autograd", in C with tgfinetune's
// engine. It prints what scripts/tutorial.py (the same program in Python) prints; the
// meson test `tutorial` compares the two (tests/check_tutorial.sh).
//
//   ./build/tests/tutorial
//
// Every op result below lives in the context's arena (see core/tensor.h): it is never
// freed by hand, and tg_ctx_free releases it at the end. Leaves made with tg_tensor_*
// are ours to tg_tensor_free.
#include <stdio.h>
#include <stdlib.h>

#include "core/print.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "ops/ops.h"

static tg_ctx ctx;

// Stops the program with the engine's message if an op or backward failed.
static tg_tensor *ok(tg_tensor *t) {
    if (!t) {
        fprintf(stderr, "tutorial: %s\n", tg_ctx_error(&ctx));
        exit(EXIT_FAILURE);
    }
    return t;
}

static void ok_status(tg_status st) {
    if (st != TG_OK) {
        fprintf(stderr, "tutorial: %s\n", tg_ctx_error(&ctx));
        exit(EXIT_FAILURE);
    }
}

// print(label, t)
static void show(const char *label, const tg_tensor *t) {
    char *s = tg_tensor_str(t);
    if (!s) {
        fprintf(stderr, "tutorial: out of memory\n");
        exit(EXIT_FAILURE);
    }
    printf("%s%s\n", label, s);
    free(s);
}

// A leaf's .grad as a tensor of its shape (arena header over the gradient buffer).
static tg_tensor *grad_of(tg_tensor *t) { return ok(tg_ctx_wrap(&ctx, t->ndim, t->shape, t->grad)); }

// grad_fn.next_functions as ((PowBackward0, 0), (None, 0))
static void show_next_functions(const char *label, const tg_node *fn) {
    printf("%s(", label);
    int n = tg_node_n_next(fn);
    for (int i = 0; i < n; i++) {
        const char *name = tg_node_next_name(fn, i);
        printf("%s(%s, 0)", i ? ", " : "", name ? name : "None");
    }
    printf("%s)\n", n == 1 ? "," : "");
}

static const char *py_bool(bool b) { return b ? "True" : "False"; }

#define SHAPE(...) (int64_t[]){__VA_ARGS__}
#define VALUES(...) (float[]){__VA_ARGS__}

int main(void) {
    tg_ctx_init(&ctx);
    tg_rng rng;
    tg_rng_seed(&rng, 0);

    puts("# Differentiation in Autograd");
    tg_tensor *a = tg_tensor_from(1, SHAPE(2), VALUES(2, 3));
    tg_tensor *b = tg_tensor_from(1, SHAPE(2), VALUES(6, 4));
    tg_tensor_set_requires_grad(a, true);
    tg_tensor_set_requires_grad(b, true);
    show("a = ", a);
    show("b = ", b);
    // Q = 3a^3 - b^2
    tg_tensor *Q = ok(tg_sub(&ctx, tg_mul_scalar(&ctx, tg_pow_scalar(&ctx, a, 3), 3),
                             tg_pow_scalar(&ctx, b, 2)));
    show("Q = ", Q);
    // Q is a vector: backward needs the vector v of J^T v, here ones
    ok_status(tg_backward(&ctx, Q, VALUES(1, 1), false));
    show("a.grad = ", grad_of(a));
    show("b.grad = ", grad_of(b));
    // check if collected gradients are correct: 9a^2 == a.grad, -2b == b.grad
    show("", ok(tg_eq(&ctx, tg_mul_scalar(&ctx, tg_pow_scalar(&ctx, a, 2), 9), grad_of(a))));
    show("", ok(tg_eq(&ctx, tg_mul_scalar(&ctx, b, -2), grad_of(b))));

    puts("# Computational Graph");
    tg_tensor *x = tg_tensor_ones(2, SHAPE(2, 2));
    tg_tensor_set_requires_grad(x, true);
    tg_tensor *y = ok(tg_add_scalar(&ctx, x, 1));
    show("y = ", y);
    printf("y.grad_fn: %s\n", tg_node_name(y->grad_fn));
    tg_tensor *z = ok(tg_add_scalar(&ctx, tg_pow_scalar(&ctx, y, 2), 3));
    show("z = ", z);
    printf("z.grad_fn: %s\n", tg_node_name(z->grad_fn));
    show_next_functions("z.grad_fn.next_functions: ", z->grad_fn);
    show_next_functions("z.grad_fn.next_functions[0][0].next_functions: ",
                        tg_node_next(z->grad_fn, 0));
    show_next_functions("y.grad_fn.next_functions: ", y->grad_fn);
    tg_tensor *out = ok(tg_mean(&ctx, z));
    show("out = ", out);
    ok_status(tg_backward(&ctx, out, NULL, false));
    show("x.grad = ", grad_of(x));
    printf("y.grad is None: %s\n", py_bool(y->grad == NULL));

    puts("# Exclusion from the DAG");
    tg_tensor *x5 = tg_tensor_rand(2, SHAPE(5, 5), &rng);
    tg_tensor *y5 = tg_tensor_rand(2, SHAPE(5, 5), &rng);
    tg_tensor *z5 = tg_tensor_rand(2, SHAPE(5, 5), &rng);
    tg_tensor_set_requires_grad(z5, true);
    tg_tensor *a5 = ok(tg_add(&ctx, x5, y5));
    printf("Does `a` require gradients? : %s\n", py_bool(a5->requires_grad));
    tg_tensor *b5 = ok(tg_add(&ctx, x5, z5));
    printf("Does `b` require gradients?: %s\n", py_bool(b5->requires_grad));
    tg_no_grad_enter(&ctx);  // with torch.no_grad():
    tg_tensor *c5 = ok(tg_add(&ctx, x5, z5));
    tg_no_grad_exit(&ctx);
    printf("Inside torch.no_grad(), does `c` require gradients? : %s\n",
           py_bool(c5->requires_grad));
    tg_tensor *d5 = ok(tg_detach(&ctx, b5));
    printf("Does `b.detach()` require gradients? : %s\n", py_bool(d5->requires_grad));

    puts("# A tiny network");
    tg_tensor *xn = tg_tensor_from(2, SHAPE(2, 3), VALUES(0, 1, 2, 3, 4, 5));
    tg_tensor *w = tg_tensor_ones(2, SHAPE(3, 1));
    tg_tensor_set_requires_grad(w, true);
    tg_tensor *target = tg_tensor_from(2, SHAPE(2, 1), VALUES(2, 3));
    tg_tensor *o = ok(tg_matmul(&ctx, xn, w));
    show("out = ", o);
    tg_tensor *loss = ok(tg_mean(&ctx, tg_pow_scalar(&ctx, tg_sub(&ctx, o, target), 2)));
    show("loss = ", loss);
    ok_status(tg_backward(&ctx, loss, NULL, false));
    show("w.grad = ", grad_of(w));
    // with torch.no_grad(): w -= learning_rate * w.grad (an in-place update records nothing)
    const float learning_rate = 0.01f;
    for (int64_t i = 0; i < w->numel; i++) w->data[i] -= learning_rate * w->grad[i];
    show("w = ", w);
    tg_tensor_zero_grad(w);
    show("w.grad.zero_() = ", grad_of(w));

    puts("# Zeroing gradients");
    tg_tensor_zero_grad(a);
    show("", grad_of(a));

    tg_tensor *leaves[] = {a, b, x, x5, y5, z5, xn, w, target};
    for (size_t i = 0; i < sizeof leaves / sizeof *leaves; i++) tg_tensor_free(leaves[i]);
    tg_ctx_free(&ctx);
    return 0;
}
