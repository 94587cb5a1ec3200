// sgd.c: torch.optim.SGD's single-tensor update (torch/optim/sgd.py, _single_tensor_sgd in
// PyTorch 1.13), one parameter at a time, in float32 like PyTorch's CPU kernels.
#include "nn/sgd.h"

#include "core/parallel.h"

#include <stdlib.h>
#include <string.h>

// Work is cut into chunks of at most SGD_CHUNK elements of one parameter, so that one
// tg_parallel_for splits the whole step evenly over the threads (the step is memory-bound:
// it streams parameters, gradients and buffers once).
#define SGD_CHUNK ((int64_t)1 << 16)

struct tg_sgd_hook {
    tg_sgd *s;
    int i;
};

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
    s->done = calloc((size_t)(n > 0 ? n : 1), sizeof *s->done);
    s->hooks = calloc((size_t)(n > 0 ? n : 1), sizeof *s->hooks);
    s->chunk0 = calloc((size_t)n + 1, sizeof *s->chunk0);
    if (!s->params || !s->buf || !s->buf_init || !s->done || !s->hooks || !s->chunk0) goto nomem;
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
    for (int i = 0; i < n; i++) s->n_chunks += (params[i]->numel + SGD_CHUNK - 1) / SGD_CHUNK;
    s->chunks = malloc((size_t)(s->n_chunks > 0 ? s->n_chunks : 1) * sizeof *s->chunks);
    if (!s->chunks) goto nomem;
    int64_t k = 0;
    for (int i = 0; i < n; i++) {
        for (int64_t j = 0; j < params[i]->numel; j += SGD_CHUNK)
            s->chunks[k++] = (tg_sgd_chunk){i, j, j + SGD_CHUNK < params[i]->numel
                                                      ? j + SGD_CHUNK
                                                      : params[i]->numel};
        s->chunk0[i + 1] = k;
    }
    return TG_OK;
nomem:
    tg_sgd_free(s);
    return tg_error_set(err, TG_ERR_NOMEM, "sgd: out of memory for %d parameters", n);
}

void tg_sgd_free(tg_sgd *s) {
    if (s->fused) tg_sgd_set_fused(s, false);
    if (s->buf)
        for (int i = 0; i < s->n; i++) free(s->buf[i]);
    free(s->buf);
    free(s->buf_init);
    free(s->chunks);
    free(s->chunk0);
    free(s->done);
    free(s->hooks);
    free(s->params);
    memset(s, 0, sizeof *s);
}

// The update of elements [i0, i1) of one parameter: p, g, buf (numel,) (buf NULL without
// momentum); on the first step the buffer becomes the decayed gradient. Same float32
// operation order as PyTorch: d = g + wd*p; buf = mom*buf + (1-damp)*d;
// d = d + mom*buf (nesterov) or buf; p = p - lr*d. One loop per case so each vectorises.
static void sgd_update(float *restrict p, const float *restrict g, float *restrict buf,
                       bool first, int64_t i0, int64_t i1, const tg_sgd_options *o) {
    const float lr = o->lr, wd = o->weight_decay, mom = o->momentum;
    const float damp = 1.0f - o->dampening;
    if (mom == 0.0f) {
        if (wd != 0.0f)
            for (int64_t i = i0; i < i1; i++) p[i] = p[i] - lr * (g[i] + wd * p[i]);
        else
            for (int64_t i = i0; i < i1; i++) p[i] = p[i] - lr * g[i];
    } else if (first) {
        for (int64_t i = i0; i < i1; i++) {
            float d = wd != 0.0f ? g[i] + wd * p[i] : g[i];
            buf[i] = d;
            p[i] = p[i] - lr * (o->nesterov ? d + mom * d : d);
        }
    } else if (o->nesterov) {
        for (int64_t i = i0; i < i1; i++) {
            float d = g[i] + wd * p[i];
            float b = mom * buf[i] + damp * d;
            buf[i] = b;
            p[i] = p[i] - lr * (d + mom * b);
        }
    } else if (wd != 0.0f) {
        for (int64_t i = i0; i < i1; i++) {
            float b = mom * buf[i] + damp * (g[i] + wd * p[i]);
            buf[i] = b;
            p[i] = p[i] - lr * b;
        }
    } else {
        for (int64_t i = i0; i < i1; i++) {
            float b = mom * buf[i] + damp * g[i];
            buf[i] = b;
            p[i] = p[i] - lr * b;
        }
    }
}


static void sgd_chunks(void *arg, int64_t c0, int64_t c1) {
    tg_sgd *s = arg;
    for (int64_t c = c0; c < c1; c++) {
        const tg_sgd_chunk *ch = &s->chunks[c];
        tg_tensor *p = s->params[ch->param];
        if (!p->grad) continue;
        sgd_update(p->data, p->grad, s->buf[ch->param], !s->buf_init[ch->param], ch->i0, ch->i1,
                   &s->opt);
    }
}

typedef struct {
    tg_sgd *s;
    int64_t c0;
} sgd_from_job;

// chunks [j->c0 + c0, j->c0 + c1)
static void sgd_chunks_from(void *arg, int64_t c0, int64_t c1) {
    const sgd_from_job *j = arg;
    sgd_chunks(j->s, j->c0 + c0, j->c0 + c1);
}

// Parameter i's update, as tg_sgd_step does it for every parameter.
static void sgd_param(tg_sgd *s, int i) {
    tg_tensor *p = s->params[i];
    if (p->grad_zero) tg_tensor_grad(p);
    if (!p->grad) return;
    sgd_from_job j = {s, s->chunk0[i]};
    tg_parallel_for(s->chunk0[i + 1] - s->chunk0[i], SGD_CHUNK, sgd_chunks_from, &j);
    if (s->buf[i]) s->buf_init[i] = true;
}

void tg_sgd_step(tg_sgd *s) {
    int left = 0;
    for (int i = 0; i < s->n; i++) left += !s->done[i];
    if (left < s->n) {  // fused: the hooks updated the others during backward
        for (int i = 0; i < s->n; i++) {
            if (!s->done[i]) sgd_param(s, i);
            s->done[i] = false;
        }
        return;
    }
    // a gradient still marked by the lazy zero_grad (backward did not reach the parameter)
    // is zeros: write them, so the update and any later reader see them
    for (int i = 0; i < s->n; i++)
        if (s->params[i]->grad_zero) tg_tensor_grad(s->params[i]);
    tg_parallel_for(s->n_chunks, SGD_CHUNK, sgd_chunks, s);
    for (int i = 0; i < s->n; i++)
        if (s->params[i]->grad && s->buf[i]) s->buf_init[i] = true;
}

// The post-accumulate-grad hook of a parameter: its gradient is complete, update it now.
static void sgd_hook(void *arg, tg_tensor *t) {
    struct tg_sgd_hook *h = arg;
    (void)t;
    TG_ASSERT(!h->s->done[h->i],
              "fused SGD: a parameter's gradient was completed twice before tg_sgd_step (a "
              "second backward accumulating into it?); accumulation or clipping needs the "
              "unfused step: tg_sgd_set_fused(s, false)");
    sgd_param(h->s, h->i);
    h->s->done[h->i] = true;
}

void tg_sgd_set_fused(tg_sgd *s, bool on) {
    for (int i = 0; i < s->n; i++) {
        s->hooks[i] = (struct tg_sgd_hook){s, i};
        tg_tensor_set_post_accumulate_grad_hook(s->params[i], on ? sgd_hook : NULL, &s->hooks[i]);
    }
    s->fused = on;
}

void tg_sgd_zero_grad(tg_sgd *s) {
    for (int i = 0; i < s->n; i++) tg_tensor_zero_grad_lazy(s->params[i]);
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
