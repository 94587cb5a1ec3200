// resnet18.c: torchvision's resnet18 (torchvision/models/resnet.py, ResNet(BasicBlock,
// [2, 2, 2, 2])) built from a table of stage specs. Parameters and buffers are registered
// under torchvision's state_dict keys in state_dict order; the forward pass goes through
// the ops of lib/ops and allocates only from the context's arena.
#include "nn/resnet18.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

// The four stages of ResNet-18: two BasicBlocks each; the first block of a stage carries
// the stride and, when the shape changes, a 1x1 downsample conv + BN.
static const struct {
    int channels, stride;
} stage_spec[4] = {{64, 1}, {128, 2}, {256, 2}, {512, 2}};

static tg_tensor *new_tensor(int ndim, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t shape[4] = {a, b, c, d};
    return tg_tensor_zeros(ndim, shape);
}

static void add_entry(tg_resnet18 *m, const char *name, tg_entry_kind kind, tg_tensor *t,
                      int64_t *count) {
    TG_ASSERT(m->n_entries < TG_RESNET18_N_ENTRIES, "resnet18: too many state_dict entries");
    tg_model_entry *e = &m->entries[m->n_entries++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->kind = kind;
    e->t = t;
    e->count = count;
    if (t) {
        t->name = e->name;
        if (kind == TG_ENTRY_PARAM) tg_tensor_set_requires_grad(t, true);
    }
}

static bool new_bn(tg_bn *bn, int ch) {
    bn->weight = new_tensor(1, ch, 0, 0, 0);
    bn->bias = new_tensor(1, ch, 0, 0, 0);
    bn->running_mean = new_tensor(1, ch, 0, 0, 0);
    bn->running_var = new_tensor(1, ch, 0, 0, 0);
    bn->num_batches_tracked = 0;
    if (!bn->weight || !bn->bias || !bn->running_mean || !bn->running_var) return false;
    for (int i = 0; i < ch; i++) {
        bn->weight->data[i] = 1.0f;
        bn->running_var->data[i] = 1.0f;
    }
    return true;
}

static void register_bn(tg_resnet18 *m, tg_bn *bn, const char *prefix) {
    char name[TG_RESNET18_NAME_MAX];
    snprintf(name, sizeof name, "%s.weight", prefix);
    add_entry(m, name, TG_ENTRY_PARAM, bn->weight, NULL);
    snprintf(name, sizeof name, "%s.bias", prefix);
    add_entry(m, name, TG_ENTRY_PARAM, bn->bias, NULL);
    snprintf(name, sizeof name, "%s.running_mean", prefix);
    add_entry(m, name, TG_ENTRY_BUFFER, bn->running_mean, NULL);
    snprintf(name, sizeof name, "%s.running_var", prefix);
    add_entry(m, name, TG_ENTRY_BUFFER, bn->running_var, NULL);
    snprintf(name, sizeof name, "%s.num_batches_tracked", prefix);
    add_entry(m, name, TG_ENTRY_COUNTER, NULL, &bn->num_batches_tracked);
}

static void free_bn(tg_bn *bn) {
    tg_tensor_free(bn->weight);
    tg_tensor_free(bn->bias);
    tg_tensor_free(bn->running_mean);
    tg_tensor_free(bn->running_var);
}

// kaiming_normal_(w, mode="fan_out", nonlinearity="relu"): std = sqrt(2 / fan_out),
// fan_out = out_channels * KH * KW.
static void init_conv(tg_tensor *w, tg_rng *rng) {
    double fan_out = (double)(w->shape[0] * w->shape[2] * w->shape[3]);
    double std = sqrt(2.0 / fan_out);
    for (int64_t i = 0; i < w->numel; i++) w->data[i] = (float)(std * tg_rng_normal(rng));
}

// nn.Linear's reset_parameters: kaiming_uniform_(a=sqrt(5)) gives bound 1/sqrt(fan_in) for
// the weight; the bias is uniform in ±1/sqrt(fan_in) too.
static void init_uniform(tg_tensor *t, double bound, tg_rng *rng) {
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = (float)tg_rng_uniform_range(rng, -bound, bound);
}

// Allocates an fc of num_classes outputs; initialises it from rng unless rng is NULL.
static tg_status new_fc(tg_tensor **w, tg_tensor **b, int num_classes, tg_rng *rng,
                        tg_error *err) {
    *w = new_tensor(2, num_classes, TG_RESNET18_FEATURES, 0, 0);
    *b = new_tensor(1, num_classes, 0, 0, 0);
    if (!*w || !*b) {
        tg_tensor_free(*w);
        tg_tensor_free(*b);
        *w = *b = NULL;
        return tg_error_set(err, TG_ERR_NOMEM, "resnet18: out of memory for the %d-class fc",
                            num_classes);
    }
    if (rng) {
        double bound = 1.0 / sqrt((double)TG_RESNET18_FEATURES);
        init_uniform(*w, bound, rng);
        init_uniform(*b, bound, rng);
    }
    tg_tensor_set_requires_grad(*w, true);
    tg_tensor_set_requires_grad(*b, true);
    return TG_OK;
}

tg_resnet18 *tg_resnet18_new(int num_classes, tg_rng *rng, tg_error *err) {
    if (num_classes < 1 || num_classes > (1 << 24)) {
        tg_error_set(err, TG_ERR_VALUE, "resnet18: num_classes must be in [1, 16777216], got %d",
                     num_classes);
        return NULL;
    }
    tg_resnet18 *m = calloc(1, sizeof *m);
    if (!m) goto nomem;
    m->num_classes = num_classes;
    m->training = true;

    // Allocate and register in state_dict order.
    m->conv1 = new_tensor(4, 64, 3, 7, 7);
    if (!m->conv1 || !new_bn(&m->bn1, 64)) goto nomem;
    add_entry(m, "conv1.weight", TG_ENTRY_PARAM, m->conv1, NULL);
    register_bn(m, &m->bn1, "bn1");
    int in_ch = 64;
    char name[TG_RESNET18_NAME_MAX];
    for (int s = 0; s < 4; s++) {
        for (int j = 0; j < 2; j++) {
            tg_basic_block *b = &m->blocks[2 * s + j];
            int out_ch = stage_spec[s].channels;
            b->in_ch = in_ch;
            b->out_ch = out_ch;
            b->stride = j == 0 ? stage_spec[s].stride : 1;
            b->has_downsample = b->stride != 1 || in_ch != out_ch;
            b->conv1 = new_tensor(4, out_ch, in_ch, 3, 3);
            b->conv2 = new_tensor(4, out_ch, out_ch, 3, 3);
            if (!b->conv1 || !b->conv2 || !new_bn(&b->bn1, out_ch) || !new_bn(&b->bn2, out_ch))
                goto nomem;
            snprintf(name, sizeof name, "layer%d.%d.conv1.weight", s + 1, j);
            add_entry(m, name, TG_ENTRY_PARAM, b->conv1, NULL);
            snprintf(name, sizeof name, "layer%d.%d.bn1", s + 1, j);
            register_bn(m, &b->bn1, name);
            snprintf(name, sizeof name, "layer%d.%d.conv2.weight", s + 1, j);
            add_entry(m, name, TG_ENTRY_PARAM, b->conv2, NULL);
            snprintf(name, sizeof name, "layer%d.%d.bn2", s + 1, j);
            register_bn(m, &b->bn2, name);
            if (b->has_downsample) {
                b->ds_conv = new_tensor(4, out_ch, in_ch, 1, 1);
                if (!b->ds_conv || !new_bn(&b->ds_bn, out_ch)) goto nomem;
                snprintf(name, sizeof name, "layer%d.%d.downsample.0.weight", s + 1, j);
                add_entry(m, name, TG_ENTRY_PARAM, b->ds_conv, NULL);
                snprintf(name, sizeof name, "layer%d.%d.downsample.1", s + 1, j);
                register_bn(m, &b->ds_bn, name);
            }
            in_ch = out_ch;
        }
    }
    if (new_fc(&m->fc_weight, &m->fc_bias, num_classes, NULL, err) != TG_OK) goto fail;
    add_entry(m, "fc.weight", TG_ENTRY_PARAM, m->fc_weight, NULL);
    add_entry(m, "fc.bias", TG_ENTRY_PARAM, m->fc_bias, NULL);
    TG_ASSERT(m->n_entries == TG_RESNET18_N_ENTRIES, "resnet18: state_dict layout is wrong");

    // Random draws in state_dict order: every conv, then fc.weight, then fc.bias.
    for (int i = 0; i < m->n_entries; i++) {
        tg_model_entry *e = &m->entries[i];
        if (e->kind == TG_ENTRY_PARAM && e->t->ndim == 4) init_conv(e->t, rng);
    }
    double bound = 1.0 / sqrt((double)TG_RESNET18_FEATURES);
    init_uniform(m->fc_weight, bound, rng);
    init_uniform(m->fc_bias, bound, rng);
    return m;

nomem:
    tg_error_set(err, TG_ERR_NOMEM, "resnet18: out of memory for the model's tensors");
fail:
    tg_resnet18_free(m);
    return NULL;
}

void tg_resnet18_free(tg_resnet18 *m) {
    if (!m) return;
    tg_tensor_free(m->conv1);
    free_bn(&m->bn1);
    for (int i = 0; i < 8; i++) {
        tg_basic_block *b = &m->blocks[i];
        tg_tensor_free(b->conv1);
        tg_tensor_free(b->conv2);
        free_bn(&b->bn1);
        free_bn(&b->bn2);
        tg_tensor_free(b->ds_conv);
        free_bn(&b->ds_bn);
    }
    tg_tensor_free(m->fc_weight);
    tg_tensor_free(m->fc_bias);
    free(m);
}

void tg_resnet18_train(tg_resnet18 *m, bool on) { m->training = on; }

// Whether a BN runs in training mode: the model's mode, except that a BN whose parameters
// are all frozen runs in eval mode when freeze_bn_stats is on.
static bool bn_training(const tg_resnet18 *m, const tg_bn *bn) {
    return m->training &&
           !(m->freeze_bn_stats && !bn->weight->requires_grad && !bn->bias->requires_grad);
}

// BatchNorm2d in its mode (bn_training), then + residual (or NULL) and ReLU if asked, in
// place over x or into dst (tg_batchnorm2d_: one pass when no graph is recorded). In
// training the op updates the running stats; the counter is ours.
static tg_tensor *bn_forward(tg_ctx *c, tg_resnet18 *m, tg_bn *bn, tg_tensor *x,
                             tg_tensor *residual, bool relu, tg_tensor *dst) {
    bool training = bn_training(m, bn);
    tg_tensor *y = tg_batchnorm2d_(c, x, bn->weight, bn->bias, bn->running_mean,
                                   bn->running_var, training, BN_MOMENTUM, BN_EPS, residual, relu,
                                   dst);
    if (y && training) bn->num_batches_tracked++;
    return y;
}

// In place as torchvision's ReLU(inplace=True) and out += identity: BN's backward reads its
// input, not its output, and the conv outputs have no other reader. dst: NULL, or where a
// block that records no graph writes its output.
static tg_tensor *block_forward(tg_ctx *c, tg_resnet18 *m, tg_basic_block *b, tg_tensor *x,
                                tg_tensor *dst) {
    tg_tensor *out = tg_conv2d(c, x, b->conv1, b->stride, 1);  // (N, out, H/s, W/s)
    if (dst) {  // no graph: BN + ReLU in place, then conv2
        out = bn_forward(c, m, &b->bn1, out, NULL, true, NULL);
        out = tg_conv2d(c, out, b->conv2, 1, 1);
    } else {  // bn1, relu and conv2 as one op: relu(bn1(out)) is recomputed, not kept
        bool training = bn_training(m, &b->bn1);
        out = tg_bn_relu_conv2d(c, out, b->bn1.weight, b->bn1.bias, b->bn1.running_mean,
                                b->bn1.running_var, training, BN_MOMENTUM, BN_EPS, b->conv2, 1,
                                1);
        if (out && training) b->bn1.num_batches_tracked++;
    }
    tg_tensor *identity = x;
    if (b->has_downsample)
        identity = bn_forward(c, m, &b->ds_bn, tg_conv2d(c, x, b->ds_conv, b->stride, 0), NULL,
                              false, NULL);
    if (!identity) return NULL;
    return bn_forward(c, m, &b->bn2, out, identity, true, dst);
}

static bool bn_trainable(const tg_bn *bn) {
    return bn->weight->requires_grad || bn->bias->requires_grad;
}

static bool block_trainable(const tg_basic_block *b) {
    return b->conv1->requires_grad || b->conv2->requires_grad || bn_trainable(&b->bn1) ||
           bn_trainable(&b->bn2) ||
           (b->has_downsample && (b->ds_conv->requires_grad || bn_trainable(&b->ds_bn)));
}

// Frozen parts record no graph, so nothing keeps their intermediate tensors alive: a
// frozen part writes its last pass into a tensor allocated just above where it started
// (dst: block_forward's, or the stem's BN + ReLU + max-pool) and the arena is released
// past it, so a frozen backbone runs in the memory of about two of its activations.

static int64_t out_side(int64_t in, int k, int stride, int pad) {
    return (in + 2 * pad - k) / stride + 1;
}

tg_tensor *tg_resnet18_forward(tg_ctx *c, tg_resnet18 *m, tg_tensor *x) {
    if (!x) return NULL;
    if (x->ndim != 4 || x->shape[1] != 3) {
        char s[TG_SHAPE_STR_MAX];
        tg_error_set(&c->err, TG_ERR_SHAPE, "resnet18: input must be (N, 3, H, W), got %s",
                     tg_shape_str(x, s, sizeof s));
        return NULL;
    }
    bool grad = tg_grad_enabled(c);
    bool stem_frozen = !grad || (!x->requires_grad && !m->conv1->requires_grad &&
                                 !bn_trainable(&m->bn1));
    tg_arena_mark mark = {0};
    tg_tensor *dst = NULL;
    if (stem_frozen) {
        int64_t h2 = out_side(x->shape[2], 7, 2, 3), w2 = out_side(x->shape[3], 7, 2, 3);
        int64_t shape[4] = {x->shape[0], 64, out_side(h2, 3, 2, 1), out_side(w2, 3, 2, 1)};
        if (!(dst = tg_ctx_tensor(c, 4, shape))) return NULL;
        mark = tg_arena_get_mark(&c->arena);
    }
    tg_tensor *h = tg_conv2d(c, x, m->conv1, 2, 3);  // (N, 64, H/2, W/2)
    // bn1, relu and maxpool as one op: the normalised (N, 64, H/2, W/2) is never kept
    bool training = bn_training(m, &m->bn1);
    h = tg_batchnorm2d_relu_maxpool(c, h, m->bn1.weight, m->bn1.bias, m->bn1.running_mean,
                                    m->bn1.running_var, training, BN_MOMENTUM, BN_EPS,
                                    dst);  // (N, 64, H/4, W/4)
    if (h && training) m->bn1.num_batches_tracked++;
    if (stem_frozen) tg_arena_release(&c->arena, mark);
    for (int i = 0; i < 8 && h; i++) {
        tg_basic_block *b = &m->blocks[i];
        if (grad && (h->requires_grad || block_trainable(b))) {
            h = block_forward(c, m, b, h, NULL);
            continue;
        }
        int64_t shape[4] = {h->shape[0], b->out_ch, out_side(h->shape[2], 3, b->stride, 1),
                            out_side(h->shape[3], 3, b->stride, 1)};
        if (!(dst = tg_ctx_tensor(c, 4, shape))) return NULL;
        mark = tg_arena_get_mark(&c->arena);
        h = block_forward(c, m, b, h, dst);
        tg_arena_release(&c->arena, mark);
    }
    h = tg_adaptive_avgpool2d_1x1(c, h);              // (N, 512, 1, 1)
    h = tg_flatten(c, h);                             // (N, 512)
    return tg_linear(c, h, m->fc_weight, m->fc_bias); // (N, num_classes)
}

bool tg_glob_match(const char *p, const char *s) {
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == '?' || *p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*') p++;
    return *p == '\0';
}

static int set_trainable(tg_resnet18 *m, const char *pattern, bool on) {
    int n = 0;
    for (int i = 0; i < m->n_entries; i++) {
        tg_model_entry *e = &m->entries[i];
        if (e->kind != TG_ENTRY_PARAM || !tg_glob_match(pattern, e->name)) continue;
        tg_tensor_set_requires_grad(e->t, on);
        if (!on) {
            free(e->t->grad);
            e->t->grad = NULL;
        }
        n++;
    }
    return n;
}

int tg_resnet18_freeze(tg_resnet18 *m, const char *pattern) {
    return set_trainable(m, pattern, false);
}

int tg_resnet18_unfreeze(tg_resnet18 *m, const char *pattern) {
    return set_trainable(m, pattern, true);
}

tg_status tg_resnet18_replace_fc(tg_resnet18 *m, int num_classes, tg_rng *rng, tg_error *err) {
    if (num_classes < 1 || num_classes > (1 << 24))
        return tg_error_set(err, TG_ERR_VALUE,
                            "resnet18: num_classes must be in [1, 16777216], got %d",
                            num_classes);
    tg_tensor *w, *b;
    tg_status st = new_fc(&w, &b, num_classes, rng, err);
    if (st != TG_OK) return st;
    tg_tensor_free(m->fc_weight);
    tg_tensor_free(m->fc_bias);
    m->fc_weight = w;
    m->fc_bias = b;
    m->num_classes = num_classes;
    tg_model_entry *ew = tg_resnet18_find(m, "fc.weight");
    tg_model_entry *eb = tg_resnet18_find(m, "fc.bias");
    ew->t = w;
    eb->t = b;
    w->name = ew->name;
    b->name = eb->name;
    return TG_OK;
}

tg_model_entry *tg_resnet18_find(tg_resnet18 *m, const char *name) {
    for (int i = 0; i < m->n_entries; i++)
        if (!strcmp(m->entries[i].name, name)) return &m->entries[i];
    return NULL;
}

int tg_resnet18_params(tg_resnet18 *m, tg_tensor **out) {
    int n = 0;
    for (int i = 0; i < m->n_entries; i++)
        if (m->entries[i].kind == TG_ENTRY_PARAM) out[n++] = m->entries[i].t;
    return n;
}

int64_t tg_resnet18_num_params(const tg_resnet18 *m) {
    int64_t n = 0;
    for (int i = 0; i < m->n_entries; i++)
        if (m->entries[i].kind == TG_ENTRY_PARAM) n += m->entries[i].t->numel;
    return n;
}

int64_t tg_resnet18_num_trainable(const tg_resnet18 *m) {
    int64_t n = 0;
    for (int i = 0; i < m->n_entries; i++)
        if (m->entries[i].kind == TG_ENTRY_PARAM && m->entries[i].t->requires_grad)
            n += m->entries[i].t->numel;
    return n;
}

void tg_resnet18_zero_grad(tg_resnet18 *m) {
    for (int i = 0; i < m->n_entries; i++)
        if (m->entries[i].kind == TG_ENTRY_PARAM) tg_tensor_zero_grad(m->entries[i].t);
}
