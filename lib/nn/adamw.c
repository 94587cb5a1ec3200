// adamw.c: torch.optim.AdamW's single-tensor update (torch/optim/adamw.py in PyTorch 1.13),
// one slice of one parameter at a time; the step driver, groups and state live in optim.c.
//
// Operation by operation (PyTorch's CPU kernels on float32, AVX2 dispatch, checked bit for
// bit against Debian's torch 1.13):
//   param.mul_(1 - lr*wd)                        p = p * f(1 - lr*wd)
//   exp_avg.mul_(beta1).add_(grad, alpha=1-b1)   m = fma(g, f(1-b1), m * f(b1))
//   exp_avg_sq.mul_(beta2).addcmul_(g, g, 1-b2)  v = fma(f(1-b2) * g, g, v * f(b2))
//   (exp_avg_sq.sqrt() / sqrt(bc2)).add_(eps)    den = sqrt(v) / f(sqrt(bc2)) + f(eps)
//   param.addcdiv_(exp_avg, den, value=-ss)      p = p + (f(-ss) * m) / den
// where f() rounds a double to float, bc1 = 1 - b1^step, bc2 = 1 - b2^step, ss = lr / bc1.
// On a parameter's first step m and v start as zeros (not read: the state is not cleared).
#include "nn/adamw.h"

#include <math.h>

void tg_adamw_update(const tg_optim *o, int i, int64_t i0, int64_t i1) {
    const tg_param_group *gr = &o->groups[o->group[i]];
    float *restrict p = o->params[i]->data;
    const float *restrict g = o->params[i]->grad;
    float *restrict m = o->state[0][i], *restrict v = o->state[1][i];
    const double lr = gr->lr, b1 = o->opt.beta1, b2 = o->opt.beta2;
    // PyTorch's state['step'] is a float32 tensor read back with .item()
    const double step = (double)(float)o->steps[i];
    const double bc1 = 1.0 - pow(b1, step), bc2 = 1.0 - pow(b2, step);
    const float decay = (float)(1.0 - lr * gr->weight_decay);
    const float b1f = (float)b1, c1 = (float)(1.0 - b1);
    const float b2f = (float)b2, c2 = (float)(1.0 - b2);
    const float neg_ss = (float)(-(lr / bc1)), bc2_sqrt = (float)sqrt(bc2);
    const float eps = (float)o->opt.eps;
    const bool first = o->steps[i] == 1;
    for (int64_t k = i0; k < i1; k++) {
        const float gk = g[k];
        const float mk = fmaf(gk, c1, first ? 0.0f : m[k] * b1f);
        const float vk = fmaf(c2 * gk, gk, first ? 0.0f : v[k] * b2f);
        m[k] = mk;
        v[k] = vk;
        const float den = sqrtf(vk) / bc2_sqrt + eps;
        p[k] = p[k] * decay + (neg_ss * mk) / den;
    }
}
