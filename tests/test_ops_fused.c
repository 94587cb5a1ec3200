// test_ops_fused.c: the fused ops that keep fewer activations, recording a graph; values,
// running stats and every gradient bitwise equal to the ops one after the other (ties,
// zeros from the ReLU, NaN, odd sides, eval, frozen affine, leaf and non-leaf input, a
// gradient already accumulated), a finite-difference check, the errors:
// - tg_batchnorm2d_relu_maxpool (bn_relu_maxpool.c): tg_batchnorm2d, tg_relu_, tg_maxpool2d;
// - tg_bn_relu_conv2d (bn_relu_conv2d.c): tg_batchnorm2d, tg_relu_, tg_conv2d.
#include <check.h>
#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "core/tensor.h"
#include "gradcheck.h"
#include "ops/maxpool2d.h"
#include "ops/ops.h"
#include "testlib.h"

static bool same(const float *a, const float *b, int64_t n) {
    return memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

static const struct {
    int64_t N, C, H, W;
} stem_cases[] = {{2, 3, 9, 8}, {2, 2, 7, 5}, {1, 4, 12, 12}, {3, 1, 2, 3}, {2, 2, 1, 1}};

// One run of either path on copies of the same inputs. fused: the op, else the chain.
// nonleaf: x is xl * 1 (a node), so dx reaches xl through it; else x is the leaf xl.
typedef struct {
    tg_tensor *xl, *w, *b, *rm, *rv;
} stem_in;

typedef struct {
    tg_tensor *cw;  // the convolution's weight, or NULL: the stem op
    int stride, pad;
} conv_spec;

static tg_tensor *run(tg_ctx *c, stem_in *in, bool fused, bool training, bool nonleaf,
                      const float *g, const conv_spec *cv) {
    tg_tensor *x = in->xl;
    if (nonleaf) x = tg_mul_scalar(c, in->xl, 1.0f);
    tg_tensor *y;
    if (cv->cw && fused) {
        y = tg_bn_relu_conv2d(c, x, in->w, in->b, in->rm, in->rv, training, 0.1f, 1e-5f, cv->cw,
                              cv->stride, cv->pad);
    } else if (cv->cw) {
        y = tg_batchnorm2d(c, x, in->w, in->b, in->rm, in->rv, training, 0.1f, 1e-5f);
        y = tg_conv2d(c, tg_relu_(c, y), cv->cw, cv->stride, cv->pad);
    } else if (fused) {
        y = tg_batchnorm2d_relu_maxpool(c, x, in->w, in->b, in->rm, in->rv, training, 0.1f, 1e-5f,
                                        NULL);
    } else {
        y = tg_batchnorm2d(c, x, in->w, in->b, in->rm, in->rv, training, 0.1f, 1e-5f);
        y = tg_maxpool2d(c, tg_relu_(c, y), 3, 2, 1);
    }
    ck_assert_msg(y != NULL, "%s", c->err.msg);
    if (y->requires_grad) ck_assert_int_eq(tg_backward(c, y, g, false), TG_OK);
    return y;
}

static tg_tensor *clone(const tg_tensor *t) {
    tg_tensor *u = tg_tensor_from(t->ndim, t->shape, t->data);
    ck_assert_ptr_nonnull(u);
    return u;
}

static stem_in clone_in(const stem_in *s) {
    stem_in t = {clone(s->xl), clone(s->w), clone(s->b), clone(s->rm), clone(s->rv)};
    tg_tensor_set_requires_grad(t.xl, s->xl->requires_grad);
    tg_tensor_set_requires_grad(t.w, s->w->requires_grad);
    tg_tensor_set_requires_grad(t.b, s->b->requires_grad);
    return t;
}

static void free_in(stem_in *s) {
    tg_tensor_free(s->xl), tg_tensor_free(s->w), tg_tensor_free(s->b);
    tg_tensor_free(s->rm), tg_tensor_free(s->rv);
}

static void check_grad(const tg_tensor *a, const tg_tensor *b, const char *what, int mode) {
    ck_assert_msg((a->grad == NULL) == (b->grad == NULL), "mode %d: %s grad presence differs",
                  mode, what);
    if (a->grad)
        ck_assert_msg(same(a->grad, b->grad, a->numel), "mode %d: %s grad differs", mode, what);
}

// Every mode on one shape; OC > 0: tg_bn_relu_conv2d with a (OC, C, K, K) weight, else the
// stem op. mode bits: 1 training, 2 non-leaf x, 4 BN affine frozen, 8 x frozen, 16 a
// gradient already in the leaves, 32 coarse values (ties and exact zeros) with a NaN,
// 64 the conv weight frozen.
static void bitwise_modes(int64_t N, int64_t C, int64_t H, int64_t W, int OC, int K, int stride,
                          int pad, int id) {
    const int modes = OC > 0 ? 128 : 64;
    for (int mode = 0; mode < modes; mode++) {
        const bool training = mode & 1, nonleaf = mode & 2, affine_frozen = mode & 4,
                   x_frozen = mode & 8, preacc = mode & 16, coarse = mode & 32,
                   cw_frozen = mode & 64;
        if (affine_frozen && x_frozen && (OC == 0 || cw_frozen)) continue;  // no graph
        if (training && N * H * W <= 1) continue;
        tg_rng r;
        tg_rng_seed(&r, 100 + (uint64_t)mode + 1000 * (uint64_t)id);
        int64_t xs[4] = {N, C, H, W}, cs[1] = {C}, ws[4] = {OC, C, K, K};
        stem_in a;
        a.xl = tg_test_randn(&r, 4, xs, !x_frozen);
        a.w = tg_test_randn(&r, 1, cs, !affine_frozen);
        a.b = tg_test_randn(&r, 1, cs, !affine_frozen);
        a.rm = tg_tensor_rand(1, cs, &r);
        a.rv = tg_tensor_rand(1, cs, &r);
        for (int64_t i = 0; i < C; i++) a.rv->data[i] += 0.5f;
        conv_spec ca_spec = {NULL, stride, pad}, cb_spec = {NULL, stride, pad};
        if (OC > 0) {
            ca_spec.cw = tg_test_randn(&r, 4, ws, !cw_frozen);
            cb_spec.cw = clone(ca_spec.cw);
            tg_tensor_set_requires_grad(cb_spec.cw, !cw_frozen);
        }
        if (coarse) {
            for (int64_t i = 0; i < a.xl->numel; i++) a.xl->data[i] = roundf(a.xl->data[i]);
            if (a.xl->numel > 3) a.xl->data[3] = NAN;  // the first channel of image 0
            a.w->data[0] = 0.0f;                       // flat channel: every window ties
        }
        stem_in b = clone_in(&a);
        const int64_t on = OC > 0 ? N * OC * ((H + 2 * pad - K) / stride + 1) *
                                        ((W + 2 * pad - K) / stride + 1)
                                  : N * C * ((H - 1) / 2 + 1) * ((W - 1) / 2 + 1);
        float *g = malloc((size_t)on * sizeof(float));
        for (int64_t i = 0; i < on; i++) g[i] = (float)tg_rng_normal(&r);
        if (preacc)
            for (int side = 0; side < 2; side++) {
                stem_in *s = side ? &b : &a;
                tg_tensor *ts[4] = {s->xl, s->w, s->b, side ? cb_spec.cw : ca_spec.cw};
                for (int k = 0; k < 4; k++) {
                    if (!ts[k] || !ts[k]->requires_grad) continue;
                    tg_tensor_zero_grad(ts[k]);
                    tg_ctx tc;
                    tg_ctx_init(&tc);
                    (void)tg_grad_buf(&tc, ts[k]);
                    for (int64_t i = 0; i < ts[k]->numel; i++) ts[k]->grad[i] = 0.25f * (float)i;
                    tg_ctx_free(&tc);
                }
            }
        tg_ctx ca, cb;
        tg_ctx_init(&ca);
        tg_ctx_init(&cb);
        tg_tensor *yf = run(&ca, &a, true, training, nonleaf, g, &ca_spec);
        tg_tensor *yr = run(&cb, &b, false, training, nonleaf, g, &cb_spec);
        ck_assert(tg_shape_eq(yf, yr));
        ck_assert_msg(memcmp(yf->data, yr->data, (size_t)yf->numel * sizeof(float)) == 0,
                      "case %d mode %d: values differ", id, mode);
        ck_assert_msg(same(a.rm->data, b.rm->data, C) && same(a.rv->data, b.rv->data, C),
                      "case %d mode %d: running stats differ", id, mode);
        ck_assert_str_eq(tg_node_name(yf->grad_fn), OC > 0 ? "ConvolutionBackward0"
                                                           : "MaxPool2DWithIndicesBackward0");
        check_grad(a.xl, b.xl, "x", mode);
        check_grad(a.w, b.w, "weight", mode);
        check_grad(a.b, b.b, "bias", mode);
        if (OC > 0) {
            check_grad(ca_spec.cw, cb_spec.cw, "conv weight", mode);
            if (!cw_frozen) ck_assert_ptr_nonnull(ca_spec.cw->grad);
        }
        if (!x_frozen) ck_assert_ptr_nonnull(a.xl->grad);
        if (!affine_frozen) ck_assert_ptr_nonnull(a.w->grad);
        tg_ctx_free(&ca);
        tg_ctx_free(&cb);
        free(g);
        free_in(&a);
        free_in(&b);
        tg_tensor_free(ca_spec.cw);
        tg_tensor_free(cb_spec.cw);
    }
}

START_TEST(test_stem_bitwise) {
    bitwise_modes(stem_cases[_i].N, stem_cases[_i].C, stem_cases[_i].H, stem_cases[_i].W, 0, 0,
                  0, 0, _i);
}
END_TEST

// 3x3/1 (im2col at 5x7; Winograd from 64 tiles: 2 x 8 x 8 at 16x16), 3x3/2, 1x1/2
static const struct {
    int64_t N, C, H, W;
    int OC, K, stride, pad;
} conv_cases[] = {{2, 3, 5, 7, 4, 3, 1, 1}, {2, 4, 16, 16, 5, 3, 1, 1}, {2, 3, 9, 8, 4, 3, 2, 1},
                  {3, 4, 6, 6, 6, 1, 2, 0}, {1, 2, 4, 4, 3, 3, 1, 1}};

START_TEST(test_bn_relu_conv_bitwise) {
    bitwise_modes(conv_cases[_i].N, conv_cases[_i].C, conv_cases[_i].H, conv_cases[_i].W,
                  conv_cases[_i].OC, conv_cases[_i].K, conv_cases[_i].stride, conv_cases[_i].pad,
                  100 + _i);
}
END_TEST

typedef struct {
    tg_tensor *rm, *rv;
    bool training;
} stem_ud;

static tg_tensor *gc_stem(tg_ctx *c, tg_tensor **in, void *ud) {
    stem_ud *u = ud;
    return tg_batchnorm2d_relu_maxpool(c, in[0], in[1], in[2], u->rm, u->rv, u->training, 0.1f,
                                       1e-5f, NULL);
}

START_TEST(test_stem_gradcheck) {
    tg_rng r;
    tg_rng_seed(&r, 31 + (uint64_t)_i);
    int64_t xs[4] = {2, 3, 7, 6}, cs[1] = {3};
    tg_tensor *in[3] = {tg_test_randn(&r, 4, xs, true), tg_tensor_rand(1, cs, &r),
                        tg_test_randn(&r, 1, cs, true)};
    for (int i = 0; i < 3; i++) in[1]->data[i] += 0.5f;
    tg_tensor_set_requires_grad(in[1], true);
    stem_ud u = {tg_tensor_zeros(1, cs), tg_tensor_ones(1, cs), _i == 0};
    double e = tg_gradcheck(gc_stem, in, 3, &u, 1e-3, 1e-3, 1e-2);
    ck_assert_msg(e <= 1.0, "stem %s: gradcheck error %g", _i == 0 ? "train" : "eval", e);
    for (int i = 0; i < 3; i++) tg_tensor_free(in[i]);
    tg_tensor_free(u.rm);
    tg_tensor_free(u.rv);
}
END_TEST

static tg_tensor *gc_bnconv(tg_ctx *c, tg_tensor **in, void *ud) {
    stem_ud *u = ud;
    return tg_bn_relu_conv2d(c, in[0], in[1], in[2], u->rm, u->rv, u->training, 0.1f, 1e-5f,
                             in[3], 1, 1);
}

START_TEST(test_bn_relu_conv_gradcheck) {
    tg_rng r;
    tg_rng_seed(&r, 41 + (uint64_t)_i);
    int64_t xs[4] = {2, 3, 5, 4}, cs[1] = {3}, ws[4] = {2, 3, 3, 3};
    tg_tensor *in[4] = {tg_test_randn(&r, 4, xs, true), tg_tensor_rand(1, cs, &r),
                        tg_test_randn(&r, 1, cs, true), tg_test_randn(&r, 4, ws, true)};
    for (int i = 0; i < 3; i++) in[1]->data[i] += 0.5f;
    tg_tensor_set_requires_grad(in[1], true);
    stem_ud u = {tg_tensor_zeros(1, cs), tg_tensor_ones(1, cs), _i == 0};
    double e = tg_gradcheck(gc_bnconv, in, 4, &u, 1e-3, 1e-3, 1e-2);
    ck_assert_msg(e <= 1.0, "bn_relu_conv2d %s: gradcheck error %g", _i == 0 ? "train" : "eval",
                  e);
    for (int i = 0; i < 4; i++) tg_tensor_free(in[i]);
    tg_tensor_free(u.rm);
    tg_tensor_free(u.rv);
}
END_TEST

// The stem's value-only pool (no graph) equals tg_maxpool2d's values on every side from 1
// to 9 (odd and even), with NaN and infinities in the windows.
START_TEST(test_maxpool_values) {
    tg_rng r;
    tg_rng_seed(&r, 77);
    for (int64_t H = 1; H <= 9; H++)
        for (int64_t W = 1; W <= 9; W++) {
            int64_t xs[4] = {1, 1, H, W};
            tg_tensor *x = tg_tensor_randn(4, xs, &r);
            for (int64_t i = 0; i < H * W; i++) {
                const uint64_t k = tg_rng_below(&r, 16);
                if (k == 0) x->data[i] = NAN;
                if (k == 1) x->data[i] = INFINITY;
                if (k == 2) x->data[i] = -INFINITY;
            }
            tg_ctx c;
            tg_ctx_init(&c);
            tg_tensor *ref = tg_maxpool2d(&c, x, 3, 2, 1);
            ck_assert_ptr_nonnull(ref);
            float out[25], v[9];
            tg_maxpool_3x3s2_plane_values(x->data, out, v, H, W, ref->shape[2], ref->shape[3]);
            for (int64_t i = 0; i < ref->numel; i++)
                ck_assert_msg(isnan(ref->data[i]) ? isnan(out[i]) : out[i] == ref->data[i],
                              "%lldx%lld output %lld: %g, want %g", (long long)H, (long long)W,
                              (long long)i, out[i], ref->data[i]);
            tg_ctx_free(&c);
            tg_tensor_free(x);
        }
}
END_TEST

// ResNet's max-pool with argmax against a brute-force row-major scan of each window (the
// first maximum, or the last NaN, as PyTorch): values and where backward sends each output's
// gradient, on every side 1..9, with ties (small integers), NaN and infinities.
START_TEST(test_maxpool_argmax_bruteforce) {
    tg_rng r;
    tg_rng_seed(&r, 91);
    for (int64_t H = 1; H <= 9; H++)
        for (int64_t W = 1; W <= 9; W++)
            for (int trial = 0; trial < 3; trial++) {
                int64_t xs[4] = {1, 2, H, W};
                tg_tensor *x = tg_tensor_zeros(4, xs);
                for (int64_t i = 0; i < x->numel; i++) {
                    const uint64_t k = tg_rng_below(&r, 20);
                    x->data[i] = k == 0 ? NAN : k == 1 ? INFINITY : k == 2 ? -INFINITY
                                                                           : (float)(k % 4);
                }
                tg_tensor_set_requires_grad(x, true);
                tg_ctx c;
                tg_ctx_init(&c);
                tg_tensor *y = tg_maxpool2d(&c, x, 3, 2, 1);
                ck_assert_ptr_nonnull(y);
                const int64_t OH = y->shape[2], OW = y->shape[3];
                float *g = malloc((size_t)y->numel * sizeof(float));
                float *want = calloc((size_t)x->numel, sizeof(float));
                for (int64_t i = 0; i < y->numel; i++) g[i] = (float)(1 << (i % 20));
                for (int64_t pl = 0; pl < 2; pl++)
                    for (int64_t oh = 0; oh < OH; oh++)
                        for (int64_t ow = 0; ow < OW; ow++) {
                            // PyTorch: best -inf at the first in-bounds element; a larger
                            // value or a NaN takes over
                            float best = -INFINITY;
                            int64_t bi = -1;
                            for (int64_t h = 2 * oh - 1; h <= 2 * oh + 1; h++)
                                for (int64_t w = 2 * ow - 1; w <= 2 * ow + 1; w++) {
                                    if (h < 0 || h >= H || w < 0 || w >= W) continue;
                                    const int64_t idx = (pl * H + h) * W + w;
                                    if (bi < 0) bi = idx;
                                    const float v = x->data[idx];
                                    if (v > best || v != v) {
                                        best = v;
                                        bi = idx;
                                    }
                                }
                            const int64_t o = (pl * OH + oh) * OW + ow;
                            const float got = y->data[o];
                            ck_assert_msg(isnan(best) ? isnan(got) : got == best,
                                          "%lldx%lld out %lld: %g, want %g", (long long)H,
                                          (long long)W, (long long)o, got, best);
                            want[bi] += g[o];
                        }
                ck_assert_int_eq(tg_backward(&c, y, g, false), TG_OK);
                for (int64_t i = 0; i < x->numel; i++)
                    ck_assert_msg(x->grad[i] == want[i], "%lldx%lld trial %d: dx[%lld] %g, want %g",
                                  (long long)H, (long long)W, trial, (long long)i, x->grad[i],
                                  want[i]);
                free(g);
                free(want);
                tg_ctx_free(&c);
                tg_tensor_free(x);
            }
}
END_TEST

// Without a graph the pool runs before BN + ReLU only where that is exact: a channel with
// BN weight 0 (-inf * 0 is NaN), an infinite scale (0 * inf) or shift (inf - inf) gives the
// chain's NaN, as PyTorch does, not the normalised window maximum. No weight is negative
// (a negative one used to turn the pool-first path off for every channel).
START_TEST(test_stem_no_graph_nonfinite) {
    const int64_t xs[4] = {2, 6, 3, 4}, cs[1] = {6};
    tg_tensor *x = tg_tensor_zeros(4, xs);
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = (float)(i % 7) - 3.0f;
    for (int64_t pl = 0; pl < 12; pl++) {
        x->data[pl * 12 + 5] = -INFINITY;
        x->data[pl * 12 + 2] = pl % 2 ? INFINITY : 0.0f;
    }
    tg_tensor *w = tg_tensor_from(1, cs, (float[]){0, 1, 0.5f, 1e38f, 1, 2});
    tg_tensor *b = tg_tensor_from(1, cs, (float[]){0.5f, 0, 0, 0, 0, -1});
    tg_tensor *rm = tg_tensor_from(1, cs, (float[]){0, 0, 0, 0, 3e38f, 0.25f});
    tg_tensor *rv = tg_tensor_from(1, cs, (float[]){1, 1, 1, 1e-6f, 1e-6f, 2});
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *f = tg_batchnorm2d_relu_maxpool(&c, x, w, b, rm, rv, false, 0.1f, 1e-5f, NULL);
    tg_tensor *y = tg_batchnorm2d(&c, x, w, b, rm, rv, false, 0.1f, 1e-5f);
    tg_tensor *ch = tg_maxpool2d(&c, tg_relu_(&c, y), 3, 2, 1);
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(ch);
    for (int64_t i = 0; i < ch->numel; i++)
        ck_assert_msg(isnan(ch->data[i]) ? isnan(f->data[i]) : f->data[i] == ch->data[i],
                      "output %lld (channel %lld): %g, want %g", (long long)i,
                      (long long)(i / 4 % 6), f->data[i], ch->data[i]);
    tg_ctx_free(&c);
    tg_tensor *ts[] = {x, w, b, rm, rv};
    for (int i = 0; i < 5; i++) tg_tensor_free(ts[i]);
}
END_TEST

START_TEST(test_stem_errors) {
    tg_rng r;
    tg_rng_seed(&r, 5);
    int64_t xs[4] = {2, 3, 6, 6}, cs[1] = {3}, ds[4] = {2, 3, 4, 3}, ok[4] = {2, 3, 3, 3};
    tg_tensor *x = tg_test_randn(&r, 4, xs, true), *w = tg_tensor_ones(1, cs), *b = tg_tensor_zeros(1, cs);
    tg_ctx c;
    tg_ctx_init(&c);
    tg_tensor *dst = tg_ctx_tensor(&c, 4, ok);
    // a graph is recorded (x requires grad): dst is refused
    ck_assert_ptr_null(tg_batchnorm2d_relu_maxpool(&c, x, w, b, NULL, NULL, true, 0.1f, 1e-5f, dst));
    ck_assert_msg(strstr(c.err.msg, "only without a graph") != NULL, "%s", c.err.msg);
    tg_error_clear(&c.err);
    tg_tensor_set_requires_grad(x, false);
    tg_tensor *bad = tg_ctx_tensor(&c, 4, ds);
    ck_assert_ptr_null(tg_batchnorm2d_relu_maxpool(&c, x, w, b, NULL, NULL, true, 0.1f, 1e-5f, bad));
    ck_assert_msg(strstr(c.err.msg, "dst (2, 3, 4, 3) must be (2, 3, 3, 3)") != NULL, "%s",
                  c.err.msg);
    tg_error_clear(&c.err);
    tg_tensor *y = tg_batchnorm2d_relu_maxpool(&c, x, w, b, NULL, NULL, true, 0.1f, 1e-5f, dst);
    ck_assert_ptr_eq(y, dst);
    int64_t s3[3] = {3, 6, 6};
    tg_tensor *x3 = tg_ctx_tensor(&c, 3, s3);
    ck_assert_ptr_null(tg_batchnorm2d_relu_maxpool(&c, x3, w, b, NULL, NULL, true, 0.1f, 1e-5f, NULL));
    ck_assert_msg(strstr(c.err.msg, "input (3, 6, 6) is not (N, C, H, W)") != NULL, "%s",
                  c.err.msg);
    // a zero side: refused as tg_maxpool2d refuses it (the output would be 1 wide)
    int64_t zs[2][4] = {{2, 3, 0, 6}, {2, 3, 6, 0}};
    for (int k = 0; k < 2; k++) {
        tg_error_clear(&c.err);
        tg_tensor *xz = tg_ctx_tensor(&c, 4, zs[k]);
        int64_t rs[1] = {3};
        tg_tensor *rm = tg_ctx_tensor(&c, 1, rs), *rv = tg_ctx_tensor(&c, 1, rs);
        for (int i = 0; i < 3; i++) rm->data[i] = 0.0f, rv->data[i] = 1.0f;
        ck_assert_ptr_null(
            tg_batchnorm2d_relu_maxpool(&c, xz, w, b, rm, rv, false, 0.1f, 1e-5f, NULL));
        ck_assert_msg(strstr(c.err.msg, "with H, W >= 1") != NULL, "%s", c.err.msg);
    }
    int64_t ws[4] = {4, 2, 3, 3};
    tg_tensor *cw = tg_ctx_tensor(&c, 4, ws);
    ck_assert_ptr_null(tg_bn_relu_conv2d(&c, x, w, b, NULL, NULL, true, 0.1f, 1e-5f, cw, 1, 1));
    ck_assert_msg(strstr(c.err.msg, "bn_relu_conv2d: input (2, 3, 6, 6) and weight (4, 2, 3, 3) "
                                    "do not fit") != NULL,
                  "%s", c.err.msg);
    tg_ctx_free(&c);
    tg_tensor_free(x), tg_tensor_free(w), tg_tensor_free(b);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("ops_fused");
    TCase *t = tcase_create("stem");
    tcase_add_loop_test(t, test_stem_bitwise, 0, (int)(sizeof stem_cases / sizeof stem_cases[0]));
    tcase_add_loop_test(t, test_stem_gradcheck, 0, 2);
    tcase_add_loop_test(t, test_bn_relu_conv_bitwise, 0,
                        (int)(sizeof conv_cases / sizeof conv_cases[0]));
    tcase_add_loop_test(t, test_bn_relu_conv_gradcheck, 0, 2);
    tcase_add_test(t, test_maxpool_values);
    tcase_add_test(t, test_maxpool_argmax_bruteforce);
    tcase_add_test(t, test_stem_no_graph_nonfinite);
    tcase_add_test(t, test_stem_errors);
    suite_add_tcase(s, t);
    return s;
}

int main(void) {
    return tg_test_run(suite(), 0);
}
