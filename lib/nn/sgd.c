// sgd.c: torch.optim.SGD's single-tensor update (torch/optim/sgd.py, _single_tensor_sgd in
// PyTorch 1.13), one parameter at a time, in float32 like PyTorch's CPU kernels.
#include "nn/sgd.h"

#include <stdlib.h>
#include <string.h>

tg_status tg_sgd_init(tg_sgd *s, tg_tensor *const *params, int n, tg_sgd_options opt,
                      tg_error *err) {
    memset(s, 0, sizeof *s);
    if (!(opt.lr >= 0.0f))
        return tg_error_set(err, TG_ERR_VALUE, "sgd: invalid learning rate %g", (double)opt.lr);
    if (!(opt.momentum >= 0.0f))
        return tg_error_set(err, TG_ERR_VALUE, "sgd: invalid momentum %g", (double)opt.momentum);
    if (!(opt.weight_decay >= 0.0f))
        return tg_error_set(err, TG_ERR_VALUE, "sgd: invalid weight_decay %g",
                            (double)opt.weight_decay);
    if (opt.nesterov && (opt.momentum <= 0.0f || opt.dampening != 0.0f))
        return tg_error_set(err, TG_ERR_VALUE,
                            "sgd: nesterov momentum requires a momentum and zero dampening");
    TG_ASSERT(n >= 0 && (n == 0 || params), "tg_sgd_init: params must hold n tensors");
    s->opt = opt;
    s->params = calloc((size_t)(n > 0 ? n : 1), sizeof *s->params);
    s->buf = calloc((size_t)(n > 0 ? n : 1), sizeof *s->buf);
    s->buf_init = calloc((size_t)(n > 0 ? n : 1), sizeof *s->buf_init);
    if (!s->params || !s->buf || !s->buf_init) goto nomem;
    s->n = n;
    for (int i = 0; i < n; i++) {
        TG_ASSERT(params[i] && params[i]->persistent,
                  "tg_sgd_init: parameters must be persistent tensors");
        s->params[i] = params[i];
        if (opt.momentum != 0.0f) {
            s->buf[i] = malloc((size_t)params[i]->numel * sizeof(float));
            if (!s->buf[i]) goto nomem;
        }
    }
    return TG_OK;
nomem:
    tg_sgd_free(s);
    return tg_error_set(err, TG_ERR_NOMEM, "sgd: out of memory for %d parameters", n);
}

void tg_sgd_free(tg_sgd *s) {
    if (s->buf)
        for (int i = 0; i < s->n; i++) free(s->buf[i]);
    free(s->buf);
    free(s->buf_init);
    free(s->params);
    memset(s, 0, sizeof *s);
}

// One parameter: p (numel,), g (numel,) its gradient, buf (numel,) its momentum buffer
// (NULL without momentum); on the first step the buffer becomes the decayed gradient.
// Same float32 operation order as PyTorch: d = g + wd*p; buf = mom*buf + (1-damp)*d;
// d = d + mom*buf (nesterov) or buf; p = p - lr*d.
static void sgd_update(float *p, const float *g, float *buf, bool first, int64_t numel,
                       const tg_sgd_options *o) {
    const float lr = o->lr, wd = o->weight_decay, mom = o->momentum;
    const float damp = 1.0f - o->dampening;
    for (int64_t i = 0; i < numel; i++) {
        float d = g[i];
        if (wd != 0.0f) d = d + wd * p[i];
        if (mom != 0.0f) {
            float b = first ? d : mom * buf[i] + damp * d;
            buf[i] = b;
            d = o->nesterov ? d + mom * b : b;
        }
        p[i] = p[i] - lr * d;
    }
}

void tg_sgd_step(tg_sgd *s) {
    for (int i = 0; i < s->n; i++) {
        tg_tensor *p = s->params[i];
        if (!p->grad) continue;  // no gradient: skipped, buffer untouched
        bool first = !s->buf_init[i];
        sgd_update(p->data, p->grad, s->buf[i], first, p->numel, &s->opt);
        if (s->buf[i]) s->buf_init[i] = true;
    }
}

void tg_sgd_zero_grad(tg_sgd *s) {
    for (int i = 0; i < s->n; i++) tg_tensor_zero_grad(s->params[i]);
}

const float *tg_sgd_buffer(const tg_sgd *s, int i) {
    TG_ASSERT(i >= 0 && i < s->n, "tg_sgd_buffer: index out of range");
    return s->buf_init[i] ? s->buf[i] : NULL;
}

tg_status tg_sgd_set_buffer(tg_sgd *s, int i, const float *data, int64_t numel, tg_error *err) {
    TG_ASSERT(i >= 0 && i < s->n, "tg_sgd_set_buffer: index out of range");
    tg_tensor *p = s->params[i];
    if (numel != p->numel)
        return tg_error_set(err, TG_ERR_SHAPE,
                            "sgd: momentum buffer for '%s' has %lld elements, the parameter %lld",
                            p->name ? p->name : "?", (long long)numel, (long long)p->numel);
    if (!s->buf[i])
        return tg_error_set(err, TG_ERR_VALUE,
                            "sgd: a momentum buffer for '%s' was given but momentum is 0",
                            p->name ? p->name : "?");
    memcpy(s->buf[i], data, (size_t)numel * sizeof(float));
    s->buf_init[i] = true;
    return TG_OK;
}

void tg_sgd_clear_buffer(tg_sgd *s, int i) {
    TG_ASSERT(i >= 0 && i < s->n, "tg_sgd_clear_buffer: index out of range");
    s->buf_init[i] = false;
}

int tg_sgd_find(const tg_sgd *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (s->params[i]->name && !strcmp(s->params[i]->name, name)) return i;
    return -1;
}
