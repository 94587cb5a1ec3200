// gradcheck.h: checks an op's backward against central finite differences, as
// torch.autograd.gradcheck does, for tests. Header-only (static functions).
//
// The op under test is wrapped in a function that builds its output from the inputs.
// The check projects the output on a fixed random vector r (loss = sum(out * r)), runs
// backward with r as the external gradient, and compares each input's .grad with
// (loss(x + eps) - loss(x - eps)) / (2 eps), accumulated in double.
#ifndef TG_GRADCHECK_H
#define TG_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/rng.h"
#include "core/tensor.h"

typedef tg_tensor *(*tg_gc_fn)(tg_ctx *c, tg_tensor **in, void *ud);

static double tg_gc_project(tg_ctx *c, tg_gc_fn f, tg_tensor **in, void *ud, const float *r,
                            int64_t n_out) {
    tg_ctx_reset(c);  // nothing of the checked graph is needed after its backward
    tg_no_grad_enter(c);
    tg_tensor *out = f(c, in, ud);
    tg_no_grad_exit(c);
    if (!out) return NAN;
    double s = 0;
    for (int64_t i = 0; i < n_out; i++) s += (double)out->data[i] * r[i];
    return s;
}

// Returns the largest error relative to max(atol-scaled, |numeric|) over all inputs that
// require grad; prints the first offending element. n_in inputs, persistent tensors.
static double tg_gradcheck(tg_gc_fn f, tg_tensor **in, int n_in, void *ud, double eps,
                           double atol, double rtol) {
    tg_ctx c;
    tg_ctx_init(&c);
    tg_rng rng;
    tg_rng_seed(&rng, 1234);
    for (int i = 0; i < n_in; i++) tg_tensor_zero_grad(in[i]);
    tg_tensor *out = f(&c, in, ud);
    if (!out) {
        fprintf(stderr, "gradcheck: forward failed: %s\n", tg_ctx_error(&c));
        tg_ctx_free(&c);
        return INFINITY;
    }
    int64_t n_out = out->numel;
    float *r = malloc((size_t)n_out * sizeof(float));
    for (int64_t i = 0; i < n_out; i++) r[i] = (float)tg_rng_uniform_range(&rng, -1, 1);
    if (tg_backward(&c, out, r, false) != TG_OK) {
        fprintf(stderr, "gradcheck: backward failed: %s\n", tg_ctx_error(&c));
        free(r);
        tg_ctx_free(&c);
        return INFINITY;
    }
    double worst = 0;
    for (int k = 0; k < n_in; k++) {
        tg_tensor *t = in[k];
        if (!t->requires_grad) continue;
        for (int64_t i = 0; i < t->numel; i++) {
            float x0 = t->data[i];
            t->data[i] = (float)(x0 + eps);
            double lp = tg_gc_project(&c, f, in, ud, r, n_out);
            t->data[i] = (float)(x0 - eps);
            double lm = tg_gc_project(&c, f, in, ud, r, n_out);
            t->data[i] = x0;
            double num = (lp - lm) / (2 * eps);
            double ana = t->grad ? t->grad[i] : 0.0;
            double err = fabs(num - ana) / (atol + rtol * fabs(num));
            if (err > worst) {
                if (err > 1.0 && worst <= 1.0)
                    fprintf(stderr, "gradcheck: input %d element %lld: analytic %g numeric %g\n",
                            k, (long long)i, ana, num);
                worst = err;
            }
        }
    }
    free(r);
    tg_ctx_free(&c);
    return worst;  // <= 1 means every element within atol + rtol * |numeric|
}

#endif
