// sgd.h: torch.optim.SGD (PyTorch 1.13, foreach off), exactly:
//   g = grad + weight_decay * p
//   buf = g                                  on a parameter's first step
//   buf = momentum * buf + (1 - dampening) * g   afterwards
//   g = nesterov ? g + momentum * buf : buf      (when momentum != 0)
//   p -= lr * g
// A parameter without a gradient (.grad NULL, e.g. frozen) is skipped and its momentum
// buffer left untouched. The momentum buffers (and whether each is initialised) are state a
// checkpoint saves and restores.
#ifndef TG_SGD_H
#define TG_SGD_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

typedef struct {
    float lr;
    float momentum;
    float dampening;
    float weight_decay;
    bool nesterov;  // needs momentum > 0 and dampening == 0, as PyTorch
} tg_sgd_options;

typedef struct {
    int param;
    int64_t i0, i1;
} tg_sgd_chunk;  // a slice of one parameter, the unit of parallel work

typedef struct {
    tg_sgd_options opt;  // opt.lr may be changed between steps (schedules)
    int n;
    tg_tensor **params;  // (n,) not owned; persistent leaves
    float **buf;         // (n,) momentum buffer of params[i], (numel,); allocated by init
                         // when momentum != 0 (else NULL), so a step never allocates
    bool *buf_init;      // (n,) buffer i holds state (PyTorch's 'momentum_buffer' exists)
    tg_sgd_chunk *chunks;  // (n_chunks,) every parameter cut into slices
    int64_t n_chunks;
    int64_t *chunk0;     // (n + 1,) parameter i's slices are chunks[chunk0[i] .. chunk0[i + 1])
    bool fused;          // tg_sgd_set_fused: parameters are updated by hooks during backward
    bool *done;          // (n,) parameter i was updated by its hook since the last step
    struct tg_sgd_hook *hooks;  // (n,) the hooks' arguments
} tg_sgd;

// params: n persistent tensors (copied pointer list). TG_ERR_VALUE on bad options
// (negative lr/momentum/weight_decay, nesterov without momentum or with dampening),
// TG_ERR_NOMEM if the momentum buffers cannot be allocated.
tg_status tg_sgd_init(tg_sgd *s, tg_tensor *const *params, int n, tg_sgd_options opt,
                      tg_error *err);
// Removes the hooks of tg_sgd_set_fused: free the optimizer before its parameters.
void tg_sgd_free(tg_sgd *s);
// One optimizer step over every parameter that has a .grad.
void tg_sgd_step(tg_sgd *s);
// Zeroes the .grad of every parameter (set_to_none=False, PyTorch 1.13's default), lazily:
// each is marked (tg_tensor_zero_grad_lazy) and the next backward stores its gradient
// instead of adding it; read a gradient between zero_grad and backward with tg_tensor_grad.
void tg_sgd_zero_grad(tg_sgd *s);
// Opt-in: the optimizer step fused into backward (PyTorch 2.x's optimizer-in-backward,
// through tg_tensor_set_post_accumulate_grad_hook). On, each parameter is updated as soon
// as backward has completed its gradient, while gradient and weights are still in cache;
// tg_sgd_step then updates only the parameters no hook reached (none reached by backward,
// or a .grad marked by zero_grad and never written) and ends the step. Parameters, .grad
// and momentum buffers are bitwise those of backward then tg_sgd_step. Only for the plain
// loop zero_grad, forward, backward, step: nothing may read or change a gradient between
// backward and step (no accumulation over several backwards: that asserts; no clipping),
// opt.lr must not change between backward and step, and if backward fails midway some
// parameters are already updated. s must stay at the same address while on. Off removes
// the hooks.
void tg_sgd_set_fused(tg_sgd *s, bool on);

// Checkpoint state. tg_sgd_buffer: param i's momentum buffer (numel floats) or NULL if it
// has none yet. tg_sgd_set_buffer copies numel floats in and marks it initialised; numel
// must equal params[i]->numel (TG_ERR_SHAPE otherwise; TG_ERR_VALUE when momentum is 0).
// tg_sgd_clear_buffer marks it uninitialised (the next step starts it from the gradient).
const float *tg_sgd_buffer(const tg_sgd *s, int i);
tg_status tg_sgd_set_buffer(tg_sgd *s, int i, const float *data, int64_t numel, tg_error *err);
void tg_sgd_clear_buffer(tg_sgd *s, int i);
// Index of the parameter whose tensor name (t->name) is name, or -1.
int tg_sgd_find(const tg_sgd *s, const char *name);

#endif
