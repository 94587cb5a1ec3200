// optim.c: the optimizer layer every algorithm uses (see optim.h): groups, state, slices,
// the step driver, the hooks of the fused step, and clip_grad_norm_. The algorithms
// themselves are one update function each over a slice of one parameter (sgd.c, adamw.c),
// called from the table below.
#include "nn/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/adamw.h"
#include "nn/sgd.h"
#include "core/parallel.h"

// Work is cut into slices of at most OPTIM_CHUNK elements of one parameter, so that one
// tg_parallel_for splits the whole step evenly over the threads (the step is memory-bound:
// it streams parameters, gradients and state once).
#define OPTIM_CHUNK ((int64_t)1 << 16)

struct tg_optim_hook {
    tg_optim *o;
    int i;
};

typedef void (*update_fn)(const tg_optim *o, int i, int64_t i0, int64_t i1);

static const struct {
    const char *state[2];  // PyTorch's state keys
    update_fn update;
} algos[] = {
    [TG_OPTIM_SGD] = {{"momentum_buffer", NULL}, tg_sgd_update},
    [TG_OPTIM_ADAMW] = {{"exp_avg", "exp_avg_sq"}, tg_adamw_update},
};

static tg_status check_options(const tg_optim_options *o, tg_error *err) {
    const char *name = o->type == TG_OPTIM_ADAMW ? "adamw" : "sgd";
    if (!(o->lr >= 0.0))
        return tg_error_set(err, TG_ERR_VALUE, "%s: invalid learning rate %g", name, o->lr);
    if (!(o->weight_decay >= 0.0))
        return tg_error_set(err, TG_ERR_VALUE, "%s: invalid weight_decay %g", name,
                            o->weight_decay);
    if (o->type == TG_OPTIM_SGD) {
        if (!(o->momentum >= 0.0))
            return tg_error_set(err, TG_ERR_VALUE, "sgd: invalid momentum %g", o->momentum);
        if (o->nesterov && (o->momentum <= 0.0 || o->dampening != 0.0))
            return tg_error_set(err, TG_ERR_VALUE,
                                "sgd: nesterov momentum requires a momentum and zero dampening");
    } else if (o->type == TG_OPTIM_ADAMW) {
        if (!(o->eps >= 0.0))
            return tg_error_set(err, TG_ERR_VALUE, "adamw: invalid epsilon %g", o->eps);
        if (!(o->beta1 >= 0.0 && o->beta1 < 1.0) || !(o->beta2 >= 0.0 && o->beta2 < 1.0))
            return tg_error_set(err, TG_ERR_VALUE, "adamw: invalid betas (%g, %g)", o->beta1,
                                o->beta2);
    } else {
        return tg_error_set(err, TG_ERR_VALUE, "optimizer: unknown type %d", (int)o->type);
    }
    return TG_OK;
}

static tg_status check_groups(const tg_param_group *g, int n_groups, const int *group_of, int n,
                              tg_error *err) {
    for (int k = 0; k < n_groups; k++)
        if (!(g[k].lr_scale > 0.0) || !(g[k].weight_decay >= 0.0))
            return tg_error_set(err, TG_ERR_VALUE,
                                "optimizer: group %d has lr_scale %g and weight_decay %g "
                                "(need > 0 and >= 0)",
                                k, g[k].lr_scale, g[k].weight_decay);
    for (int i = 0; n_groups > 0 && i < n; i++)
        TG_ASSERT(group_of[i] >= 0 && group_of[i] < n_groups,
                  "tg_optim_init: group_of[i] must index the groups");
    return TG_OK;
}

// calloc of n items, at least one (so a model without parameters still allocates)
static void *alloc_n(size_t n, size_t size) {
    return calloc(n > 0 ? n : 1, size);
}

static tg_status alloc_chunks(tg_optim *o) {
    for (int i = 0; i < o->n; i++)
        o->n_chunks += (o->params[i]->numel + OPTIM_CHUNK - 1) / OPTIM_CHUNK;
    o->chunks = alloc_n((size_t)o->n_chunks, sizeof *o->chunks);
    o->partial = alloc_n((size_t)o->n_chunks, sizeof *o->partial);
    if (!o->chunks || !o->partial) return TG_ERR_NOMEM;
    int64_t k = 0;
    for (int i = 0; i < o->n; i++) {
        const int64_t numel = o->params[i]->numel;
        for (int64_t j = 0; j < numel; j += OPTIM_CHUNK)
            o->chunks[k++] =
                (tg_optim_chunk){i, j, j + OPTIM_CHUNK < numel ? j + OPTIM_CHUNK : numel};
        o->chunk0[i + 1] = k;
    }
    return TG_OK;
}

tg_status tg_optim_init(tg_optim *o, tg_tensor *const *params, int n, tg_optim_options opt,
                        const tg_param_group *groups, int n_groups, const int *group_of,
                        tg_error *err) {
    memset(o, 0, sizeof *o);
    tg_status st = check_options(&opt, err);
    if (!st) st = check_groups(groups, n_groups, group_of, n, err);
    if (st) return st;
    TG_ASSERT(n >= 0 && (n == 0 || params), "tg_optim_init: params must hold n tensors");
    TG_ASSERT(n_groups == 0 || (groups && group_of),
              "tg_optim_init: groups need group_of (one group index per parameter)");
    o->opt = opt;
    o->n_state = opt.type == TG_OPTIM_ADAMW ? 2 : opt.momentum != 0.0 ? 1 : 0;
    o->n_groups = n_groups > 0 ? n_groups : 1;
    o->groups = alloc_n((size_t)o->n_groups, sizeof *o->groups);
    o->params = alloc_n((size_t)n, sizeof *o->params);
    o->group = alloc_n((size_t)n, sizeof *o->group);
    o->steps = alloc_n((size_t)n, sizeof *o->steps);
    o->done = alloc_n((size_t)n, sizeof *o->done);
    o->hooks = alloc_n((size_t)n, sizeof *o->hooks);
    o->chunk0 = calloc((size_t)n + 1, sizeof *o->chunk0);
    for (int k = 0; k < o->n_state; k++) o->state[k] = alloc_n((size_t)n, sizeof(float *));
    if (!o->groups || !o->params || !o->group || !o->steps || !o->done || !o->hooks || !o->chunk0 ||
        (o->n_state > 0 && !o->state[0]) || (o->n_state > 1 && !o->state[1]))
        goto nomem;
    o->n = n;
    if (n_groups > 0)
        memcpy(o->groups, groups, (size_t)n_groups * sizeof *groups);
    else
        o->groups[0] = (tg_param_group){.lr_scale = 1.0, .weight_decay = opt.weight_decay};
    for (int i = 0; i < n; i++) {
        TG_ASSERT(params[i] && params[i]->persistent,
                  "tg_optim_init: parameters must be persistent tensors");
        o->params[i] = params[i];
        o->group[i] = n_groups > 0 ? group_of[i] : 0;
        for (int k = 0; k < o->n_state; k++) {
            o->state[k][i] = malloc((size_t)params[i]->numel * sizeof(float));
            if (!o->state[k][i]) goto nomem;
        }
    }
    if (alloc_chunks(o)) goto nomem;
    tg_optim_set_lr(o, opt.lr);
    return TG_OK;
nomem:
    tg_optim_free(o);
    return tg_error_set(err, TG_ERR_NOMEM, "optimizer: out of memory for %d parameters", n);
}

void tg_optim_free(tg_optim *o) {
    if (o->fused) tg_optim_set_fused(o, false);
    for (int k = 0; k < 2; k++) {
        if (o->state[k])
            for (int i = 0; i < o->n; i++) free(o->state[k][i]);
        free(o->state[k]);
    }
    free(o->groups);
    free(o->params);
    free(o->group);
    free(o->steps);
    free(o->done);
    free(o->hooks);
    free(o->chunk0);
    free(o->chunks);
    free(o->partial);
    memset(o, 0, sizeof *o);
}

void tg_optim_set_lr(tg_optim *o, double lr) {
    o->opt.lr = lr;
    for (int g = 0; g < o->n_groups; g++) o->groups[g].lr = lr * o->groups[g].lr_scale;
}

void tg_optim_zero_grad(tg_optim *o) {
    for (int i = 0; i < o->n; i++) tg_tensor_zero_grad_lazy(o->params[i]);
}

// ---- the step ----
static void update_chunks(void *arg, int64_t c0, int64_t c1) {
    const tg_optim *o = arg;
    const update_fn update = algos[o->opt.type].update;
    for (int64_t c = c0; c < c1; c++) {
        const tg_optim_chunk *ch = &o->chunks[c];
        if (o->params[ch->param]->grad) update(o, ch->param, ch->i0, ch->i1);
    }
}

typedef struct {
    const tg_optim *o;
    int64_t c0;
} from_job;

// chunks [j->c0 + c0, j->c0 + c1)
static void update_chunks_from(void *arg, int64_t c0, int64_t c1) {
    const from_job *j = arg;
    update_chunks((void *)j->o, j->c0 + c0, j->c0 + c1);
}

// params[i]'s step, as tg_optim_step does it for every parameter. A gradient still marked
// by the lazy zero_grad (backward did not reach the parameter) is zeros: they are written,
// so the update and any later reader see them.
static void step_param(tg_optim *o, int i) {
    tg_tensor *p = o->params[i];
    if (p->grad_zero) tg_tensor_grad(p);
    if (!p->grad) return;
    o->steps[i]++;
    from_job j = {o, o->chunk0[i]};
    tg_parallel_for(o->chunk0[i + 1] - o->chunk0[i], OPTIM_CHUNK, update_chunks_from, &j);
}

void tg_optim_step(tg_optim *o) {
    int left = 0;
    for (int i = 0; i < o->n; i++) left += !o->done[i];
    if (left < o->n) {  // fused: the hooks updated the others during backward
        for (int i = 0; i < o->n; i++) {
            if (!o->done[i]) step_param(o, i);
            o->done[i] = false;
        }
        return;
    }
    for (int i = 0; i < o->n; i++) {
        tg_tensor *p = o->params[i];
        if (p->grad_zero) tg_tensor_grad(p);
        if (p->grad) o->steps[i]++;
    }
    tg_parallel_for(o->n_chunks, OPTIM_CHUNK, update_chunks, o);
}

// The post-accumulate-grad hook of a parameter: its gradient is complete, update it now.
static void optim_hook(void *arg, tg_tensor *t) {
    struct tg_optim_hook *h = arg;
    (void)t;
    TG_ASSERT(!h->o->done[h->i],
              "fused optimizer step: a parameter's gradient was completed twice before "
              "tg_optim_step (a second backward accumulating into it?); accumulation or "
              "clipping needs the unfused step: tg_optim_set_fused(o, false)");
    step_param(h->o, h->i);
    h->o->done[h->i] = true;
}

void tg_optim_set_fused(tg_optim *o, bool on) {
    for (int i = 0; i < o->n; i++) {
        o->hooks[i] = (struct tg_optim_hook){o, i};
        tg_tensor_set_post_accumulate_grad_hook(o->params[i], on ? optim_hook : NULL, &o->hooks[i]);
    }
    o->fused = on;
}

// ---- clip_grad_norm_ ----
static void square_sums(void *arg, int64_t c0, int64_t c1) {
    tg_optim *o = arg;
    for (int64_t c = c0; c < c1; c++) {
        const tg_optim_chunk *ch = &o->chunks[c];
        const tg_tensor *p = o->params[ch->param];
        double s = 0;
        if (p->grad && !p->grad_zero)
            for (int64_t k = ch->i0; k < ch->i1; k++) s += (double)p->grad[k] * p->grad[k];
        o->partial[c] = s;
    }
}

typedef struct {
    tg_optim *o;
    float coef;
} scale_job;

static void scale_chunks(void *arg, int64_t c0, int64_t c1) {
    const scale_job *j = arg;
    for (int64_t c = c0; c < c1; c++) {
        const tg_optim_chunk *ch = &j->o->chunks[c];
        tg_tensor *p = j->o->params[ch->param];
        if (!p->grad || p->grad_zero) continue;
        for (int64_t k = ch->i0; k < ch->i1; k++) p->grad[k] *= j->coef;
    }
}

bool tg_optim_clip_grad_norm(tg_optim *o, double max_norm, double *total_norm) {
    TG_ASSERT(!o->fused,
              "tg_optim_clip_grad_norm: clipping needs the unfused step "
              "(tg_optim_set_fused(o, false))");
    // per-slice sums in a fixed order, whatever the thread count: the norm is deterministic
    tg_parallel_for(o->n_chunks, OPTIM_CHUNK, square_sums, o);
    double total = 0;
    for (int i = 0; i < o->n; i++) {
        double s = 0;
        for (int64_t c = o->chunk0[i]; c < o->chunk0[i + 1]; c++) s += o->partial[c];
        const float norm = (float)sqrt(s);  // torch.norm(g) is a float32 tensor
        total += (double)norm * norm;
    }
    const float tn = (float)sqrt(total);
    if (total_norm) *total_norm = tn;
    const float coef = (float)max_norm / (tn + 1e-6f);
    if (!(coef < 1.0f)) return false;  // clamped to 1: multiplying changes nothing
    scale_job j = {o, coef};
    tg_parallel_for(o->n_chunks, OPTIM_CHUNK, scale_chunks, &j);
    return true;
}

// ---- state ----
const char *tg_optim_state_name(const tg_optim *o, int k) {
    TG_ASSERT(k >= 0 && k < o->n_state, "tg_optim_state_name: slot out of range");
    return algos[o->opt.type].state[k];
}

const float *tg_optim_state(const tg_optim *o, int i, int k) {
    TG_ASSERT(i >= 0 && i < o->n, "tg_optim_state: index out of range");
    TG_ASSERT(k >= 0 && k < o->n_state, "tg_optim_state: slot out of range");
    return o->steps[i] > 0 ? o->state[k][i] : NULL;
}

tg_status tg_optim_set_state(tg_optim *o, int i, int k, const float *data, int64_t numel,
                             tg_error *err) {
    TG_ASSERT(i >= 0 && i < o->n, "tg_optim_set_state: index out of range");
    const tg_tensor *p = o->params[i];
    if (k < 0 || k >= o->n_state)
        return tg_error_set(err, TG_ERR_VALUE,
                            "optimizer: state for '%s' was given but this optimizer keeps %d "
                            "state tensors per parameter",
                            p->name ? p->name : "?", o->n_state);
    if (numel != p->numel)
        return tg_error_set(err, TG_ERR_SHAPE,
                            "optimizer: %s for '%s' has %lld elements, the parameter %lld",
                            tg_optim_state_name(o, k), p->name ? p->name : "?", (long long)numel,
                            (long long)p->numel);
    memcpy(o->state[k][i], data, (size_t)numel * sizeof(float));
    if (o->steps[i] < 1) o->steps[i] = 1;
    return TG_OK;
}

void tg_optim_set_steps(tg_optim *o, int i, int64_t steps) {
    TG_ASSERT(i >= 0 && i < o->n && steps >= 0, "tg_optim_set_steps: index or count out of range");
    o->steps[i] = steps;
}

void tg_optim_reset_state(tg_optim *o, int i) {
    tg_optim_set_steps(o, i, 0);
}

int tg_optim_find(const tg_optim *o, const char *name) {
    for (int i = 0; i < o->n; i++)
        if (o->params[i]->name && !strcmp(o->params[i]->name, name)) return i;
    return -1;
}
