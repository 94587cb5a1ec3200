// adamw.h: torch.optim.AdamW (PyTorch 1.13, _single_tensor_adamw, amsgrad off), exactly,
// per parameter group (optim.h: type TG_OPTIM_ADAMW, beta1, beta2, eps; the group's lr and
// weight_decay). On each step of a parameter with a gradient g:
//   step += 1
//   p *= 1 - lr * weight_decay                      (decoupled weight decay)
//   exp_avg    = beta1 * exp_avg + (1 - beta1) * g       (zeros before the first step)
//   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
//   p += -(lr / (1 - beta1^step)) * exp_avg / (sqrt(exp_avg_sq) / sqrt(1 - beta2^step) + eps)
// The scalars are computed in double as Python does, each elementwise operation in float32
// in PyTorch's order, with a fused multiply-add where PyTorch's vectorised CPU kernels
// use one (add_ with alpha and addcmul_), so a step on the same gradients gives PyTorch's
// bits (tests/test_optim.c). State: "exp_avg", "exp_avg_sq" and the step count.
#ifndef TG_ADAMW_H
#define TG_ADAMW_H

#include <stdint.h>

#include "nn/optim.h"

// The update of elements [i0, i1) of o->params[i], whose step count o->steps[i] already
// includes this step (optim.c's step calls it per slice).
void tg_adamw_update(const tg_optim *o, int i, int64_t i0, int64_t i1);

#endif
