// sgd.h: torch.optim.SGD (PyTorch 1.13, foreach off), exactly, per parameter group:
//   g = grad + weight_decay * p
//   buf = g                                  on a parameter's first step
//   buf = momentum * buf + (1 - dampening) * g   afterwards
//   g = nesterov ? g + momentum * buf : buf      (when momentum != 0)
//   p -= lr * g
// with the group's lr and weight_decay (optim.h). A parameter without a gradient (.grad
// NULL, e.g. frozen) is skipped and its momentum buffer left untouched. The momentum
// buffers (state "momentum_buffer") are what a checkpoint saves and restores.
//
// tg_sgd is the optimizer layer of optim.h with type TG_OPTIM_SGD and one group; the
// functions below are that layer's under SGD's names (the SGD-only API of the tests and
// the benchmark). A trainer with parameter groups uses tg_optim_init directly.
#ifndef TG_SGD_H
#define TG_SGD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"
#include "nn/optim.h"

typedef struct {
    float lr;
    float momentum;
    float dampening;
    float weight_decay;
    bool nesterov;  // needs momentum > 0 and dampening == 0, as PyTorch
} tg_sgd_options;

typedef tg_optim tg_sgd;

// params: n persistent tensors (copied pointer list), one group. TG_ERR_VALUE on bad
// options (negative lr/momentum/weight_decay, nesterov without momentum or with
// dampening), TG_ERR_NOMEM if the momentum buffers cannot be allocated.
tg_status tg_sgd_init(tg_sgd *s, tg_tensor *const *params, int n, tg_sgd_options opt,
                      tg_error *err);
void tg_sgd_free(tg_sgd *s);                // tg_optim_free
void tg_sgd_step(tg_sgd *s);                // tg_optim_step
void tg_sgd_zero_grad(tg_sgd *s);           // tg_optim_zero_grad
void tg_sgd_set_fused(tg_sgd *s, bool on);  // tg_optim_set_fused
// Checkpoint state. tg_sgd_buffer: param i's momentum buffer (numel floats) or NULL if it
// has none yet. tg_sgd_set_buffer copies numel floats in and marks it initialised; numel
// must equal params[i]->numel (TG_ERR_SHAPE otherwise; TG_ERR_VALUE when momentum is 0).
// tg_sgd_clear_buffer marks it uninitialised (the next step starts it from the gradient).
const float *tg_sgd_buffer(const tg_sgd *s, int i);
tg_status tg_sgd_set_buffer(tg_sgd *s, int i, const float *data, int64_t numel, tg_error *err);
void tg_sgd_clear_buffer(tg_sgd *s, int i);
int tg_sgd_find(const tg_sgd *s, const char *name);  // tg_optim_find

// The update of elements [i0, i1) of o->params[i] (optim.c's step calls it per slice).
void tg_sgd_update(const tg_optim *o, int i, int64_t i0, int64_t i1);

#endif
