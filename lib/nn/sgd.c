// sgd.c: torch.optim.SGD's single-tensor update (torch/optim/sgd.py, _single_tensor_sgd in
// PyTorch 1.13), one slice of one parameter at a time, in float32 like PyTorch's CPU
// kernels; the step driver, groups and state live in optim.c.
#include "nn/sgd.h"

tg_status tg_sgd_init(tg_sgd *s, tg_tensor *const *params, int n, tg_sgd_options opt,
                      tg_error *err) {
    tg_optim_options o = {
        .type = TG_OPTIM_SGD,
        .lr = opt.lr,
        .weight_decay = opt.weight_decay,
        .momentum = opt.momentum,
        .dampening = opt.dampening,
        .nesterov = opt.nesterov,
    };
    return tg_optim_init(s, params, n, o, NULL, 0, NULL, err);
}

void tg_sgd_free(tg_sgd *s) {
    tg_optim_free(s);
}
void tg_sgd_step(tg_sgd *s) {
    tg_optim_step(s);
}
void tg_sgd_zero_grad(tg_sgd *s) {
    tg_optim_zero_grad(s);
}
void tg_sgd_set_fused(tg_sgd *s, bool on) {
    tg_optim_set_fused(s, on);
}
int tg_sgd_find(const tg_sgd *s, const char *name) {
    return tg_optim_find(s, name);
}

const float *tg_sgd_buffer(const tg_sgd *s, int i) {
    return s->n_state > 0 ? tg_optim_state(s, i, 0) : NULL;
}

tg_status tg_sgd_set_buffer(tg_sgd *s, int i, const float *data, int64_t numel, tg_error *err) {
    TG_ASSERT(i >= 0 && i < s->n, "tg_sgd_set_buffer: index out of range");
    if (s->n_state == 0)
        return tg_error_set(err, TG_ERR_VALUE,
                            "sgd: a momentum buffer for '%s' was given but momentum is 0",
                            s->params[i]->name ? s->params[i]->name : "?");
    return tg_optim_set_state(s, i, 0, data, numel, err);
}

void tg_sgd_clear_buffer(tg_sgd *s, int i) {
    tg_optim_reset_state(s, i);
}

// The same float32 operation order as PyTorch: d = g + wd*p; buf = mom*buf + (1-damp)*d
// (buf = d on the first step); d = d + mom*buf (nesterov) or buf; p = p - lr*d. One loop
// per case so each vectorises. p, g, buf (numel,) (buf NULL without momentum).
void tg_sgd_update(const tg_optim *o, int i, int64_t i0, int64_t i1) {
    const tg_param_group *gr = &o->groups[o->group[i]];
    float *restrict p = o->params[i]->data;
    const float *restrict g = o->params[i]->grad;
    float *restrict buf = o->n_state > 0 ? o->state[0][i] : NULL;
    const bool first = o->steps[i] == 1;
    const float lr = (float)gr->lr, wd = (float)gr->weight_decay;
    const float mom = (float)o->opt.momentum, damp = 1.0f - (float)o->opt.dampening;
    const bool nesterov = o->opt.nesterov;
    if (mom == 0.0f) {
        if (wd != 0.0f)
            for (int64_t k = i0; k < i1; k++) p[k] = p[k] - lr * (g[k] + wd * p[k]);
        else
            for (int64_t k = i0; k < i1; k++) p[k] = p[k] - lr * g[k];
    } else if (first) {
        for (int64_t k = i0; k < i1; k++) {
            float d = wd != 0.0f ? g[k] + wd * p[k] : g[k];
            buf[k] = d;
            p[k] = p[k] - lr * (nesterov ? d + mom * d : d);
        }
    } else if (nesterov) {
        for (int64_t k = i0; k < i1; k++) {
            float d = g[k] + wd * p[k];
            float b = mom * buf[k] + damp * d;
            buf[k] = b;
            p[k] = p[k] - lr * (d + mom * b);
        }
    } else if (wd != 0.0f) {
        for (int64_t k = i0; k < i1; k++) {
            float b = mom * buf[k] + damp * (g[k] + wd * p[k]);
            buf[k] = b;
            p[k] = p[k] - lr * b;
        }
    } else {
        for (int64_t k = i0; k < i1; k++) {
            float b = mom * buf[k] + damp * g[k];
            buf[k] = b;
            p[k] = p[k] - lr * b;
        }
    }
}
