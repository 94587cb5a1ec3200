// autograd.c: recording nodes, topological backward, gradient accumulation, detach,
// and grad_fn introspection. Semantics of torch.autograd.backward (see tensor.h).
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tensor.h"

tg_tensor *tg_op_output(tg_ctx *c, const tg_op *op, int ndim, const int64_t *shape, int n_in,
                        tg_tensor *const *in, void **saved, size_t saved_size) {
    TG_ASSERT(n_in >= 0 && n_in <= TG_NODE_MAX_IN, "an op has at most TG_NODE_MAX_IN inputs");
    if (saved) *saved = NULL;
    tg_tensor *out = tg_ctx_tensor(c, ndim, shape);
    if (!out) return NULL;
    bool record = false;
    if (tg_grad_enabled(c))
        for (int i = 0; i < n_in; i++)
            if (in[i] && in[i]->requires_grad) record = true;
    if (!record) return out;
    tg_node *n = tg_ctx_calloc(c, sizeof *n);
    if (!n) return NULL;
    n->op = op;
    n->out = out;
    n->n_in = n_in;
    for (int i = 0; i < n_in; i++) n->in[i] = in[i];
    if (saved_size) {
        n->saved = tg_ctx_calloc(c, saved_size);
        if (!n->saved) return NULL;
    }
    if (saved) *saved = n->saved;
    out->grad_fn = n;
    out->requires_grad = true;
    return out;
}

float *tg_grad_take(tg_ctx *c, tg_node *n, tg_tensor *in) {
    (void)c;
    if (!in || !in->requires_grad || !in->grad_fn || in->gbuf || !n->out->gbuf ||
        in->numel != n->out->numel)
        return NULL;
    in->gbuf = n->out->gbuf;  // the engine finds n->out->gbuf NULL and returns nothing
    n->out->gbuf = NULL;
    return in->gbuf;
}

float *tg_grad_buf_w(tg_ctx *c, tg_tensor *t, bool *overwrite) {
    *overwrite = false;
    if (!t || !t->requires_grad || t->grad_fn || !t->persistent || (t->grad && !t->grad_zero))
        return tg_grad_buf(c, t);
    if (!t->grad) {
        // 64-byte aligned, so kernels can store whole cache lines (streaming stores)
        size_t bytes = ((size_t)(t->numel ? t->numel : 1) * sizeof(float) + 63) & ~(size_t)63;
        t->grad = aligned_alloc(64, bytes);
        if (!t->grad) {
            tg_error_set(&c->err, TG_ERR_NOMEM, "out of memory allocating a gradient");
            return NULL;
        }
    }
    t->grad_zero = false;
    *overwrite = true;
    return t->grad;
}

float *tg_grad_buf(tg_ctx *c, tg_tensor *t) {
    if (!t || !t->requires_grad) return NULL;
    if (t->grad_zero) tg_tensor_zero_grad(t);
    if (t->grad_fn) {
        if (!t->gbuf) t->gbuf = tg_grad_pool_get(c, t->numel, false);
        return t->gbuf;
    }
    if (!t->grad) {
        if (t->persistent) {
            t->grad = calloc((size_t)(t->numel ? t->numel : 1), sizeof(float));
            if (!t->grad) tg_error_set(&c->err, TG_ERR_NOMEM, "out of memory allocating a gradient");
        } else {
            // an arena leaf: its .grad lives until tg_ctx_reset, like the tensor itself
            t->grad = tg_grad_pool_get(c, t->numel, true);
        }
    }
    return t->grad;
}

// Post-order DFS over grad_fn edges: a node comes after every node it feeds.
// Returns the count, or -1 with the error set.
static int64_t topo_sort(tg_ctx *c, tg_node *root, tg_node ***out_order) {
    size_t cap = 256, n = 0, sp = 0, scap = 256;
    tg_node **order = malloc(cap * sizeof *order);
    struct frame { tg_node *node; int next; } *stack = malloc(scap * sizeof *stack);
    if (!order || !stack) goto nomem;
    uint32_t gen = ++c->visit_gen;
    root->visit = gen;
    stack[sp++] = (struct frame){root, 0};
    while (sp) {
        struct frame *f = &stack[sp - 1];
        if (f->node->released) {
            tg_error_set(&c->err, TG_ERR_STATE,
                         "trying to backward through the graph a second time (%s was freed by an "
                         "earlier backward); pass retain_graph=true to the first backward",
                         f->node->op->name);
            free(order);
            free(stack);
            return -1;
        }
        if (f->next < f->node->n_in) {
            tg_tensor *in = f->node->in[f->next++];
            tg_node *child = in ? in->grad_fn : NULL;
            if (child && child->visit != gen) {
                child->visit = gen;
                if (sp == scap) {
                    scap *= 2;
                    void *p = realloc(stack, scap * sizeof *stack);
                    if (!p) goto nomem;
                    stack = p;
                }
                stack[sp++] = (struct frame){child, 0};
            }
        } else {
            if (n == cap) {
                cap *= 2;
                void *p = realloc(order, cap * sizeof *order);
                if (!p) goto nomem;
                order = p;
            }
            order[n++] = f->node;
            sp--;
        }
    }
    free(stack);
    *out_order = order;
    return (int64_t)n;
nomem:
    free(order);
    free(stack);
    tg_error_set(&c->err, TG_ERR_NOMEM, "out of memory sorting the graph");
    return -1;
}

void tg_tensor_set_post_accumulate_grad_hook(tg_tensor *t, tg_grad_hook_fn fn, void *arg) {
    TG_ASSERT(t && !t->grad_fn,
              "tg_tensor_set_post_accumulate_grad_hook: hooks go on leaves (parameters), not on "
              "tensors made by an op");
    t->post_accumulate_hook = fn;
    t->post_accumulate_arg = fn ? arg : NULL;
}

static bool is_hooked_leaf(const tg_tensor *t) {
    return t && t->requires_grad && !t->grad_fn && t->post_accumulate_hook;
}

// Counts, for each hooked leaf, the nodes of this backward that take it as an input (once
// per input slot: a node that uses it twice adds into its gradient twice). Returns
// this backward's mark on them, or 0 if there is none.
// The mark comes from one process-wide counter, not the context's: a parameter can go
// through backward in several contexts, and two contexts' own counters meet (two fresh
// ones count alike), which would let a count left by one (a backward that failed halfway)
// stand in another and keep its hook from running.
static _Atomic uint32_t hook_marks;

static uint32_t count_hooked_consumers(tg_node *const *order, int64_t n) {
    uint32_t gen = atomic_fetch_add(&hook_marks, 1) + 1;
    if (gen == 0) gen = atomic_fetch_add(&hook_marks, 1) + 1;  // 0 means none
    bool any = false;
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < order[i]->n_in; k++) {
            tg_tensor *t = order[i]->in[k];
            if (!is_hooked_leaf(t)) continue;
            if (t->hook_gen != gen) {
                t->hook_gen = gen;
                t->hook_pending = 0;
                t->hook_reached = false;
            }
            t->hook_pending++;
            any = true;
        }
    return any ? gen : 0;
}

// After node's backward (ran: it wrote its inputs' gradients) or its skipping: a hooked
// leaf whose last consumer this was has its complete gradient, so its hook runs now.
static void consumer_done(uint32_t gen, tg_node *node, bool ran) {
    for (int k = 0; k < node->n_in; k++) {
        tg_tensor *t = node->in[k];
        if (!is_hooked_leaf(t) || t->hook_gen != gen) continue;
        t->hook_reached |= ran;
        if (--t->hook_pending == 0 && t->hook_reached)
            t->post_accumulate_hook(t->post_accumulate_arg, t);
    }
}

tg_status tg_backward(tg_ctx *c, tg_tensor *root, const float *grad, bool retain_graph) {
    if (!root) {
        if (c->err.status == TG_OK)
            tg_error_set(&c->err, TG_ERR_STATE, "backward called on a NULL tensor");
        return c->err.status;
    }
    if (!root->requires_grad)
        return tg_error_set(&c->err, TG_ERR_STATE,
                            "element 0 of tensors does not require grad and does not have a "
                            "grad_fn");
    if (!grad && root->numel != 1) {
        char s[TG_SHAPE_STR_MAX];
        return tg_error_set(&c->err, TG_ERR_STATE,
                            "grad can be implicitly created only for scalar outputs; this "
                            "tensor has shape %s: pass a gradient of that shape",
                            tg_shape_str(root, s, sizeof s));
    }
    float one = 1.0f;
    const float *g = grad ? grad : &one;
    if (!root->grad_fn) {  // a leaf: its gradient is the given one
        float *d = tg_grad_buf(c, root);
        if (!d) return c->err.status;
        for (int64_t i = 0; i < root->numel; i++) d[i] += g[i];
        if (root->post_accumulate_hook) root->post_accumulate_hook(root->post_accumulate_arg, root);
        return TG_OK;
    }
    tg_node **order = NULL;
    int64_t n = topo_sort(c, root->grad_fn, &order);
    if (n < 0) return c->err.status;
    for (int64_t i = 0; i < n; i++) order[i]->out->gbuf = NULL;
    const uint32_t hooks = count_hooked_consumers(order, n);
    float *rg = tg_grad_buf(c, root);
    tg_status st = TG_OK;
    if (!rg) {
        st = c->err.status;
        goto done;
    }
    memcpy(rg, g, (size_t)root->numel * sizeof(float));
    for (int64_t i = n - 1; i >= 0; i--) {
        tg_node *node = order[i];
        if (!node->out->gbuf) {  // no gradient reached this node
            if (hooks) consumer_done(hooks, node, false);
            continue;
        }
        // What a backward allocates from the arena is scratch: give it back right after.
        tg_arena_mark mark = tg_arena_get_mark(&c->arena);
        st = node->op->backward(c, node, node->out->gbuf);
        tg_arena_release(&c->arena, mark);
        // Every consumer of this output ran before it, so its gradient is spent.
        tg_grad_pool_put(c, node->out->gbuf);
        node->out->gbuf = NULL;
        if (st != TG_OK) {
            if (c->err.status == TG_OK)
                tg_error_set(&c->err, st, "backward of %s failed", node->op->name);
            goto done;
        }
        if (hooks) consumer_done(hooks, node, true);
    }
done:
    for (int64_t i = 0; i < n; i++) {
        tg_grad_pool_put(c, order[i]->out->gbuf);
        order[i]->out->gbuf = NULL;
        if (!retain_graph) order[i]->released = true;
    }
    free(order);
    return st;
}

tg_tensor *tg_detach(tg_ctx *c, tg_tensor *t) {
    if (!t) return NULL;
    tg_tensor *d = tg_ctx_wrap(c, t->ndim, t->shape, t->data);
    if (d) d->dtype = t->dtype;
    return d;
}

const char *tg_node_name(const tg_node *n) { return n ? n->op->name : NULL; }
int tg_node_n_next(const tg_node *n) { return n ? n->n_in : 0; }

const char *tg_node_next_name(const tg_node *n, int i) {
    if (!n || i < 0 || i >= n->n_in) return NULL;
    tg_tensor *t = n->in[i];
    if (!t || !t->requires_grad) return NULL;
    return t->grad_fn ? t->grad_fn->op->name : "AccumulateGrad";
}

tg_node *tg_node_next(const tg_node *n, int i) {
    if (!n || i < 0 || i >= n->n_in || !n->in[i]) return NULL;
    return n->in[i]->grad_fn;
}

tg_tensor *tg_node_next_variable(const tg_node *n, int i) {
    if (!n || i < 0 || i >= n->n_in) return NULL;
    tg_tensor *t = n->in[i];
    return (t && t->requires_grad && !t->grad_fn) ? t : NULL;
}
