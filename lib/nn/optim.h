// optim.h: what PyTorch's optimizers share (torch.optim.Optimizer, PyTorch 1.13):
// parameters in groups, each group with its own lr and weight decay (param_groups);
// per-parameter state and step counts (optimizer.state); zero_grad; step, which runs the
// algorithm's update (sgd.c: torch.optim.SGD, adamw.c: torch.optim.AdamW) over slices of
// every parameter in parallel; the step fused into backward through post-accumulate-grad
// hooks; and torch.nn.utils.clip_grad_norm_ over the parameters' gradients.
//
// A parameter without a gradient (.grad NULL: frozen) is skipped, its state and step count
// left untouched, as PyTorch skips `p.grad is None`. A parameter that becomes trainable
// later (unfreezing) therefore starts with fresh state on its first step, as in PyTorch.
//
// A training step is: zero_grad, forward, loss, backward, [more backwards accumulating],
// [clip_grad_norm], step. Fusing (tg_optim_set_fused) is only for the plain loop with
// nothing between backward and step.
#ifndef TG_OPTIM_H
#define TG_OPTIM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

typedef enum { TG_OPTIM_SGD = 0, TG_OPTIM_ADAMW } tg_optim_type;

typedef struct {
    tg_optim_type type;
    double lr;            // the schedule's lr before tg_optim_set_lr is first called
    double weight_decay;  // the default group's (PyTorch's `defaults`)
    // SGD (sgd.h): momentum >= 0, dampening, nesterov (needs momentum > 0, dampening 0)
    double momentum, dampening;
    bool nesterov;
    // AdamW (adamw.h): betas in [0, 1), eps >= 0
    double beta1, beta2, eps;
} tg_optim_options;

// One of PyTorch's param_groups: its lr is the schedule's lr times lr_scale (timm's
// `lr_scale`, set by tg_optim_set_lr), and its own weight decay.
typedef struct {
    double lr_scale;      // > 0
    double weight_decay;  // >= 0
    double lr;            // the group's lr now (tg_optim_set_lr)
} tg_param_group;

typedef struct {
    int param;
    int64_t i0, i1;
} tg_optim_chunk;  // a slice of one parameter, the unit of parallel work

struct tg_optim_hook;

typedef struct tg_optim {
    tg_optim_options opt;
    int n;
    tg_tensor **params;  // (n,) not owned; persistent leaves
    int *group;          // (n,) params[i] belongs to groups[group[i]]
    int n_groups;
    tg_param_group *groups;  // (n_groups,)
    int n_state;             // state tensors per parameter: SGD 1 with momentum (else 0),
                             // AdamW 2 (exp_avg, exp_avg_sq)
    float **state[2];        // state[k][i]: (numel of params[i]) allocated by init, so a
                             // step never allocates; meaningful once steps[i] > 0
    int64_t *steps;          // (n,) steps params[i] took (AdamW's state['step'])
    tg_optim_chunk *chunks;  // (n_chunks,) every parameter cut into slices
    int64_t n_chunks;
    int64_t *chunk0;              // (n + 1,) params[i]'s slices: chunks[chunk0[i] .. chunk0[i + 1])
    double *partial;              // (n_chunks,) clip_grad_norm's per-slice sums of squares
    bool fused;                   // tg_optim_set_fused
    bool *done;                   // (n,) params[i] was updated by its hook since the last step
    struct tg_optim_hook *hooks;  // (n,)
} tg_optim;

// params: n persistent tensors (the pointer list is copied). groups: n_groups groups and
// group_of[i] the group of params[i]; n_groups 0 (groups and group_of NULL) makes one group
// {lr_scale 1, opt.weight_decay}. Each group's lr starts at opt.lr * lr_scale.
// TG_ERR_VALUE on bad options or groups (as PyTorch's constructors refuse them),
// TG_ERR_NOMEM if the state cannot be allocated.
tg_status tg_optim_init(tg_optim *o, tg_tensor *const *params, int n, tg_optim_options opt,
                        const tg_param_group *groups, int n_groups, const int *group_of,
                        tg_error *err);
// Removes the hooks of tg_optim_set_fused: free the optimizer before its parameters.
void tg_optim_free(tg_optim *o);
// Every group's lr = lr * its lr_scale (a scheduler's step).
void tg_optim_set_lr(tg_optim *o, double lr);
// Zeroes every .grad (set_to_none=False, PyTorch 1.13's default), lazily: each is marked
// (tg_tensor_zero_grad_lazy) and the next backward stores its gradient instead of adding.
void tg_optim_zero_grad(tg_optim *o);
// One optimizer step over every parameter that has a .grad.
void tg_optim_step(tg_optim *o);
// Opt-in: the step fused into backward (PyTorch 2.x's optimizer-in-backward through
// tg_tensor_set_post_accumulate_grad_hook). On, each parameter is updated as soon as
// backward has completed its gradient, while gradient and weights are still in cache;
// tg_optim_step then updates only the parameters no hook reached and ends the step.
// Parameters, .grad and state are bitwise those of backward then tg_optim_step. Only for
// the loop zero_grad, forward, backward, step: nothing may read or change a gradient
// between backward and step (accumulating over a second backward asserts; no clipping),
// lrs must not change between backward and step, and if backward fails midway some
// parameters are already updated. o must stay at the same address while on.
void tg_optim_set_fused(tg_optim *o, bool on);

// torch.nn.utils.clip_grad_norm_(params, max_norm) over every parameter with a gradient:
// total = the 2-norm of the per-parameter 2-norms (each rounded to float32 as PyTorch's
// per-tensor norms are), coef = max_norm / (total + 1e-6) in float32, and when coef < 1
// every gradient is multiplied by it (PyTorch multiplies by the clamped coef, 1 being a
// no-op). Returns whether it clipped; *total_norm (may be NULL) gets the norm. Not with
// the fused step.
bool tg_optim_clip_grad_norm(tg_optim *o, double max_norm, double *total_norm);

// Checkpoint state. tg_optim_state_name(o, k): PyTorch's state key of slot k
// ("momentum_buffer", "exp_avg", "exp_avg_sq"). tg_optim_state(o, i, k): slot k of
// params[i] (numel floats), NULL until the parameter has taken a step.
// tg_optim_set_state copies numel floats in (TG_ERR_SHAPE if numel differs) and marks the
// parameter as stepped (steps at least 1); tg_optim_set_steps sets its step count;
// tg_optim_reset_state makes it fresh (the next step starts its state from the gradient).
const char *tg_optim_state_name(const tg_optim *o, int k);
const float *tg_optim_state(const tg_optim *o, int i, int k);
tg_status tg_optim_set_state(tg_optim *o, int i, int k, const float *data, int64_t numel,
                             tg_error *err);
void tg_optim_set_steps(tg_optim *o, int i, int64_t steps);
void tg_optim_reset_state(tg_optim *o, int i);
// Index of the parameter whose tensor name (t->name) is name, or -1.
int tg_optim_find(const tg_optim *o, const char *name);

#endif
