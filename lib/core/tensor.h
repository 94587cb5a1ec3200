// tensor.h: float32 tensors, the per-thread context that owns a step arena, and the
// autograd engine's public API (PyTorch's torch.autograd semantics).
//
// OWNERSHIP (read this first)
// - Persistent tensors (tg_tensor_new, tg_tensor_from, tg_tensor_zeros, ...) are malloc'd
//   and live until tg_tensor_free(). Parameters, buffers, user inputs of the tutorial.
//   Their .grad, when created by backward, is owned by the tensor and freed with it.
// - Every tensor returned by an op (tg_add, tg_conv2d, ...) lives in the context's step
//   arena together with its graph node and what the node saved; tg_ctx_reset() releases
//   all of them at once. Never free them, never keep them across a reset.
// - tg_detach() returns an arena tensor that shares data with its input.
//
// AUTOGRAD
// - A tensor requires grad if it is a leaf with requires_grad set, or if any input of the
//   op that made it required grad (and no-grad mode was off). Only then is a node recorded.
// - tg_backward(root, grad) runs J^T·grad through the graph in reverse topological order.
//   grad may be NULL only for a one-element root (implicit 1). Leaves accumulate into
//   .grad (created zeroed on first use); non-leaf tensors keep no .grad.
// - Without retain_graph the graph is released: a second backward through it fails with
//   TG_ERR_STATE.
// - An op's backward computes a gradient only for inputs that require grad, so frozen
//   parameters cost nothing and backward stops below the lowest trainable layer.
//
// ERRORS
// - Ops return NULL on failure and leave the message in the context (tg_ctx_error). An op
//   given a NULL input returns NULL at once, keeping the first error, so chains of ops can
//   be checked once at the end.
#ifndef TG_TENSOR_H
#define TG_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "error.h"

#define TG_MAX_DIMS 8
#define TG_NODE_MAX_IN 4

typedef struct tg_tensor tg_tensor;
typedef struct tg_node tg_node;
typedef struct tg_ctx tg_ctx;

typedef enum { TG_F32 = 0, TG_BOOL = 1 } tg_dtype;  // TG_BOOL: data holds 0.0f / 1.0f

// A leaf's post-accumulate-grad hook (see tg_tensor_set_post_accumulate_grad_hook).
typedef void (*tg_grad_hook_fn)(void *arg, tg_tensor *t);

struct tg_tensor {
    int ndim;
    int64_t shape[TG_MAX_DIMS];
    int64_t numel;
    float *data;          // (numel,) row-major, contiguous
    float *grad;          // leaves only: accumulated gradient (numel,), NULL until backward;
                          // while grad_zero is set its contents are stale (read it through
                          // tg_tensor_grad, or after a backward that reached the tensor)
    tg_node *grad_fn;     // node that made this tensor; NULL for leaves
    float *gbuf;          // non-leaf: gradient flowing in during one backward (arena)
    bool requires_grad;
    bool grad_zero;       // .grad is logically all zeros, not yet written (tg_tensor_zero_grad_lazy)
    bool persistent;      // malloc'd (tg_tensor_new); false: arena
    bool owns_data;       // persistent and data is its own allocation
    tg_dtype dtype;
    const char *name;     // optional, not owned (parameter name for messages)
    tg_grad_hook_fn post_accumulate_hook;  // leaves: see tg_tensor_set_post_accumulate_grad_hook
    void *post_accumulate_arg;
    uint32_t hook_gen;    // the engine's, during one backward: the backward that counted
    int32_t hook_pending; // consumers of this hooked leaf still to run in it
    bool hook_reached;    // one of them ran (wrote the gradient)
};

// An op's backward: adds J^T·dout into the gradient buffers of the node's inputs.
// tg_grad_buf(c, n->in[i]) gives input i's buffer, or NULL if it needs no gradient.
typedef tg_status (*tg_backward_fn)(tg_ctx *c, tg_node *n, const float *dout);

typedef struct {
    const char *name;           // PyTorch's name: "AddBackward0", "ConvolutionBackward0"
    tg_backward_fn backward;
} tg_op;

struct tg_node {
    const tg_op *op;
    tg_tensor *out;
    int n_in;
    tg_tensor *in[TG_NODE_MAX_IN];  // inputs in PyTorch's argument order; NULL = none
    void *saved;                    // the op's own struct of saved values (arena)
    bool released;                  // graph freed by a backward without retain_graph
    uint32_t visit;                 // traversal mark
};

// Gradient buffers of non-leaf tensors during backward come from a recycling pool, not
// the arena: each is handed back as soon as its node's backward has consumed it, so the
// live gradients are only the frontier of the backward pass. The conv kernels' scratch
// comes from the same pool. (grad_pool.c)
typedef struct tg_grad_pool tg_grad_pool;

struct tg_ctx {
    tg_arena arena;
    tg_grad_pool *gpool;  // NULL until the first backward
    tg_error err;
    int no_grad;        // >0: no graph is recorded
    uint32_t visit_gen; // traversal generation for tg_backward
};

// ---- context ----
void tg_ctx_init(tg_ctx *c);
void tg_ctx_free(tg_ctx *c);
// Releases every arena tensor and node (call after the optimizer step).
void tg_ctx_reset(tg_ctx *c);
const char *tg_ctx_error(const tg_ctx *c);
tg_status tg_ctx_status(const tg_ctx *c);
void tg_no_grad_enter(tg_ctx *c);
void tg_no_grad_exit(tg_ctx *c);
bool tg_grad_enabled(const tg_ctx *c);
// Arena memory for kernels' scratch; sets TG_ERR_NOMEM in c and returns NULL on failure.
void *tg_ctx_alloc(tg_ctx *c, size_t bytes);
void *tg_ctx_calloc(tg_ctx *c, size_t bytes);

// ---- persistent tensors (malloc; free with tg_tensor_free). NULL on failure. ----
tg_tensor *tg_tensor_new(int ndim, const int64_t *shape);  // zero-filled
tg_tensor *tg_tensor_from(int ndim, const int64_t *shape, const float *values);
tg_tensor *tg_tensor_zeros(int ndim, const int64_t *shape);
tg_tensor *tg_tensor_ones(int ndim, const int64_t *shape);
tg_tensor *tg_tensor_full(int ndim, const int64_t *shape, float value);
tg_tensor *tg_tensor_arange(float start, float end, float step);  // 1-D
// Uniform in [0,1) / standard normal, from the seeded generator (see rng.h).
typedef struct tg_rng tg_rng;
tg_tensor *tg_tensor_rand(int ndim, const int64_t *shape, tg_rng *rng);
tg_tensor *tg_tensor_randn(int ndim, const int64_t *shape, tg_rng *rng);
void tg_tensor_free(tg_tensor *t);
void tg_tensor_set_requires_grad(tg_tensor *t, bool on);  // leaves only
// Zeroes .grad if it exists (PyTorch's grad.zero_()).
void tg_tensor_zero_grad(tg_tensor *t);
// The same, deferred: .grad is marked as zeros (grad_zero) without touching its memory.
// The next backward that reaches t writes its gradient straight into .grad instead of
// adding to a zeroed buffer (no memset, and a gemm with beta 0 reads nothing); the
// optimizer treats a still-marked .grad as zeros. Saves a pass over every gradient per
// step. Read the gradient through tg_tensor_grad, which writes the zeros when needed.
void tg_tensor_zero_grad_lazy(tg_tensor *t);
// t's .grad with any deferred zeroing done (NULL if it has none).
float *tg_tensor_grad(tg_tensor *t);
// PyTorch 2.x's Tensor.register_post_accumulate_grad_hook, one hook per leaf (fn NULL
// removes it): each tg_backward that computes t's gradient calls fn(arg, t) once, as soon as
// every node of the graph that consumes t has run, so .grad is complete (and hot in cache)
// while the rest of backward goes on. Not called for a leaf that no gradient reached, nor
// for one that does not require grad. The hook may change t->data (an optimizer step fused
// into backward): nothing later in this backward reads it through the graph, but a tensor
// sharing t's data without a graph edge (tg_detach) would see the new values. Leaves only.
void tg_tensor_set_post_accumulate_grad_hook(tg_tensor *t, tg_grad_hook_fn fn, void *arg);

// ---- arena tensors, for ops ----
tg_tensor *tg_ctx_tensor(tg_ctx *c, int ndim, const int64_t *shape);  // uninitialised data
tg_tensor *tg_ctx_tensor_like(tg_ctx *c, const tg_tensor *t);         // same shape
// Wraps a float buffer the caller keeps alive (no copy) as an arena tensor header.
tg_tensor *tg_ctx_wrap(tg_ctx *c, int ndim, const int64_t *shape, float *data);

// ---- shape helpers ----
int64_t tg_shape_numel(int ndim, const int64_t *shape);
bool tg_shape_eq(const tg_tensor *a, const tg_tensor *b);
// "(2, 3, 4)" into buf; returns buf.
char *tg_shape_str(const tg_tensor *t, char *buf, size_t n);
#define TG_SHAPE_STR_MAX 128

// ---- building ops (used by lib/ops) ----
// Allocates an op's output in the arena and, if grad mode is on and any non-NULL input
// requires grad, records a node of `op` with those inputs and a zeroed saved struct of
// saved_size bytes (*saved set to it, else to NULL). NULL (error set) on failure.
tg_tensor *tg_op_output(tg_ctx *c, const tg_op *op, int ndim, const int64_t *shape, int n_in,
                        tg_tensor *const *in, void **saved, size_t saved_size);
// Gradient accumulation buffer of t during backward: t->grad for a leaf (created zeroed),
// an arena buffer for a non-leaf; NULL if t is NULL or does not require grad.
float *tg_grad_buf(tg_ctx *c, tg_tensor *t);
// For an op whose input gradient is an elementwise function of its output gradient
// (ReLU, BatchNorm, add): hands node n's own output-gradient buffer (the dout passed to
// its backward, still holding dout) over to `in` as in's gradient buffer, when in is a
// non-leaf that has none yet and has n->out's numel. The op then computes in's gradient
// in place over dout, element by element (reading dout[i] before writing it), instead of
// adding it into a fresh zeroed buffer: a buffer, a memset and a pass saved. NULL when
// the buffer cannot be handed over (the op then uses tg_grad_buf and adds).
float *tg_grad_take(tg_ctx *c, tg_node *n, tg_tensor *in);
// The same for an op that will write every element of the buffer: *overwrite is set to
// true when the buffer holds nothing yet (a leaf's .grad marked by tg_tensor_zero_grad_lazy
// or just created), so the op must store its gradient (beta 0) rather than add it; false
// when it must add. Marks the buffer as written. Leaves only get overwrite; non-leaf
// buffers come zeroed as from tg_grad_buf.
float *tg_grad_buf_w(tg_ctx *c, tg_tensor *t, bool *overwrite);

// ---- gradient buffer pool (used by the engine; see grad_pool.c) ----
// A zeroed buffer of n floats. until_reset: keep it until tg_ctx_reset (gradients of arena
// leaves), else until tg_grad_pool_put.
float *tg_grad_pool_get(tg_ctx *c, int64_t n, bool until_reset);
void tg_grad_pool_put(tg_ctx *c, float *p);
// Kernel scratch from the same pool: n floats (not zeroed), 64-byte aligned, handed back
// with tg_grad_pool_put. NULL on out of memory (no error set).
float *tg_pool_scratch(tg_ctx *c, size_t n);
void tg_grad_pool_reset(tg_ctx *c);  // every buffer back to the pool
void tg_grad_pool_free(tg_ctx *c);
size_t tg_grad_pool_bytes(const tg_ctx *c);  // bytes held (in use or free)

// ---- autograd ----
// grad: (root->numel,) or NULL for a one-element root.
tg_status tg_backward(tg_ctx *c, tg_tensor *root, const float *grad, bool retain_graph);
// A new arena tensor sharing t's data, with no grad_fn and requires_grad false.
tg_tensor *tg_detach(tg_ctx *c, tg_tensor *t);
// grad_fn introspection, as PyTorch's grad_fn.name() and grad_fn.next_functions:
// next function i of node is the grad_fn of input i, or "AccumulateGrad" for a leaf that
// requires grad, or none (name NULL, node NULL) for an input that needs no gradient.
const char *tg_node_name(const tg_node *n);
int tg_node_n_next(const tg_node *n);
const char *tg_node_next_name(const tg_node *n, int i);  // NULL for none
tg_node *tg_node_next(const tg_node *n, int i);          // NULL for AccumulateGrad or none
tg_tensor *tg_node_next_variable(const tg_node *n, int i);  // the leaf for AccumulateGrad

#endif
