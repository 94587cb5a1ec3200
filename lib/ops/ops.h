// ops.h: every differentiable op of the engine. One op per file in lib/ops/<op>.c, each
// with its raw kernels (forward and backward side by side, testable without a graph),
// then the graph builder declared here, then its tg_op entry named as PyTorch names the
// grad_fn. Builders return an arena tensor (see core/tensor.h for ownership), or NULL with
// the error in the context; a NULL input gives NULL at once.
#ifndef TG_OPS_H
#define TG_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/tensor.h"

// ---- elementwise with NumPy/PyTorch broadcasting (add.c, sub.c, mul.c, div.c) ----
tg_tensor *tg_add(tg_ctx *c, tg_tensor *a, tg_tensor *b);  // AddBackward0
tg_tensor *tg_sub(tg_ctx *c, tg_tensor *a, tg_tensor *b);  // SubBackward0
tg_tensor *tg_mul(tg_ctx *c, tg_tensor *a, tg_tensor *b);  // MulBackward0
tg_tensor *tg_div(tg_ctx *c, tg_tensor *a, tg_tensor *b);  // DivBackward0
// with a scalar, named as torch 1.13 names them (it wraps a Python scalar in a tensor):
// a + s (AddBackward0), a * s (MulBackward0), a - s (SubBackward0), s - a (RsubBackward1),
// a / s (DivBackward0); a * s and a / s are in scale.c
tg_tensor *tg_add_scalar(tg_ctx *c, tg_tensor *a, float s);
tg_tensor *tg_sub_scalar(tg_ctx *c, tg_tensor *a, float s);
tg_tensor *tg_rsub_scalar(tg_ctx *c, float s, tg_tensor *a);
tg_tensor *tg_mul_scalar(tg_ctx *c, tg_tensor *a, float s);
tg_tensor *tg_div_scalar(tg_ctx *c, tg_tensor *a, float s);
tg_tensor *tg_pow_scalar(tg_ctx *c, tg_tensor *a, float p);  // PowBackward0 (pow.c)
tg_tensor *tg_neg(tg_ctx *c, tg_tensor *a);                  // NegBackward0 (neg.c)
// a == b elementwise, a TG_BOOL tensor, never recorded (eq.c)
tg_tensor *tg_eq(tg_ctx *c, tg_tensor *a, tg_tensor *b);

// ---- reductions (sum.c, mean.c) ----
tg_tensor *tg_sum(tg_ctx *c, tg_tensor *a);   // 0-dim, SumBackward0
tg_tensor *tg_mean(tg_ctx *c, tg_tensor *a);  // 0-dim, MeanBackward0

// ---- shapes and products (reshape.c, matmul.c) ----
// a view with a new shape of the same numel; one dim may be -1 (ReshapeAliasBackward0,
// torch 1.13's name for reshape of a contiguous tensor)
tg_tensor *tg_reshape(tg_ctx *c, tg_tensor *a, int ndim, const int64_t *shape);
tg_tensor *tg_flatten(tg_ctx *c, tg_tensor *a);  // (N, ...) -> (N, rest), via reshape
tg_tensor *tg_matmul(tg_ctx *c, tg_tensor *a, tg_tensor *b);  // 2-D (M,K)@(K,N), MmBackward0

// ---- layers of ResNet-18 ----
// x (N, C, H, W), w (OC, C, KH, KW), no bias -> (N, OC, OH, OW)      ConvolutionBackward0
tg_tensor *tg_conv2d(tg_ctx *c, tg_tensor *x, tg_tensor *w, int stride, int pad);
// x (N, C, H, W); weight, bias, running_mean, running_var (C,). training: normalise with
// the batch mean and biased variance and update running stats in place with `momentum`
// using the unbiased variance; else use running stats. running tensors are buffers
// (never require grad).                                          NativeBatchNormBackward0
tg_tensor *tg_batchnorm2d(tg_ctx *c, tg_tensor *x, tg_tensor *weight, tg_tensor *bias,
                          tg_tensor *running_mean, tg_tensor *running_var, bool training,
                          float momentum, float eps);
tg_tensor *tg_relu(tg_ctx *c, tg_tensor *x);  // ReluBackward0
// (N,C,H,W) -> (N,C,OH,OW), padding with -inf             MaxPool2DWithIndicesBackward0
tg_tensor *tg_maxpool2d(tg_ctx *c, tg_tensor *x, int kernel, int stride, int pad);
// (N,C,H,W) -> (N,C,1,1)                                      MeanBackward1 in PyTorch's
// AdaptiveAvgPool2d((1,1)) path; named AdaptiveAvgPool2DBackward0 here
tg_tensor *tg_adaptive_avgpool2d_1x1(tg_ctx *c, tg_tensor *x);
// x (N, IN), w (OUT, IN), b (OUT,) or NULL -> (N, OUT)             AddmmBackward0
tg_tensor *tg_linear(tg_ctx *c, tg_tensor *x, tg_tensor *w, tg_tensor *b);

// ---- losses (cross_entropy.c, mse_loss.c) ----
// logits (N, K), labels[N] in [0, K); mean over the batch; label_smoothing in [0, 1)
// as torch.nn.functional.cross_entropy.                                NllLossBackward0
tg_tensor *tg_cross_entropy(tg_ctx *c, tg_tensor *logits, const int64_t *labels,
                            float label_smoothing);
// The same with class weights weight[K] (finite, >= 0; NULL: none), as
// cross_entropy(weight=w, label_smoothing=s): the mean divides by the sum of the targets'
// weights, so a batch whose targets all weigh 0 gives NaN, as in PyTorch.
tg_tensor *tg_cross_entropy_weighted(tg_ctx *c, tg_tensor *logits, const int64_t *labels,
                                     const float *weight, float label_smoothing);
// mean((a - b)^2) over all elements, shapes equal                      MseLossBackward0
tg_tensor *tg_mse_loss(tg_ctx *c, tg_tensor *a, tg_tensor *b);

// ---- additions ----
// relu.c: in-place ReLU (torch.relu_, nn.ReLU(inplace=True) as torchvision's ResNet uses
// it): x's buffer becomes the output, saving one activation per BatchNorm + ReLU. Only for
// an x whose producer does not read its own output in backward (conv2d, batchnorm2d, add,
// linear, maxpool2d), never for a leaf that requires grad.            ReluBackward0
tg_tensor *tg_relu_(tg_ctx *c, tg_tensor *x);
// add.c: in-place a += b (torchvision's `out += identity`), b broadcast to a's shape; same
// rules as tg_relu_ for a.                                               AddBackward0
tg_tensor *tg_add_(tg_ctx *c, tg_tensor *a, tg_tensor *b);
// batchnorm2d.c: x = relu(batchnorm2d(x) + residual) in place, residual (x's shape) or NULL,
// relu optional, the same numbers as tg_batchnorm2d, tg_add_ and tg_relu_ in turn. When no
// graph is recorded (grad off, or none of x, weight, bias, residual requires grad) it is one
// pass over x instead of three, written to dst (x's shape) instead if dst is not NULL;
// otherwise it is those ops one by one (x is left intact) and dst must be NULL.
tg_tensor *tg_batchnorm2d_(tg_ctx *c, tg_tensor *x, tg_tensor *weight, tg_tensor *bias,
                           tg_tensor *running_mean, tg_tensor *running_var, bool training,
                           float momentum, float eps, tg_tensor *residual, bool relu,
                           tg_tensor *dst);
// bn_relu_maxpool.c: tg_maxpool2d(tg_relu_(tg_batchnorm2d(x)), 3, 2, 1) as ResNet's stem in
// one op, the same numbers and gradients (bitwise) without keeping the normalised
// activation: plane by plane in cache. Records one node when a graph is recorded; without
// one it writes into dst ((N, C, OH, OW)) if not NULL.          MaxPool2DWithIndicesBackward0
tg_tensor *tg_batchnorm2d_relu_maxpool(tg_ctx *c, tg_tensor *x, tg_tensor *weight,
                                       tg_tensor *bias, tg_tensor *running_mean,
                                       tg_tensor *running_var, bool training, float momentum,
                                       float eps, tg_tensor *dst);
// bn_relu_conv2d.c: tg_conv2d(tg_relu_(tg_batchnorm2d(x)), w, stride, pad) (a BasicBlock's
// bn1, relu, conv2) in one op, the same numbers and gradients (bitwise), keeping x but not
// the normalised activation, which backward recomputes from x.          ConvolutionBackward0
tg_tensor *tg_bn_relu_conv2d(tg_ctx *c, tg_tensor *x, tg_tensor *bn_weight, tg_tensor *bn_bias,
                             tg_tensor *running_mean, tg_tensor *running_var, bool training,
                             float momentum, float eps, tg_tensor *w, int stride, int pad);

#endif
