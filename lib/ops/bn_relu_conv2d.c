// bn_relu_conv2d.c: conv2d(relu(batch_norm(x)), w, stride, pad), a BasicBlock's bn1, relu
// and conv2, as one op (grad_fn ConvolutionBackward0, the name of the chain's last node)
// that keeps x but not the normalised activation y = relu(bn(x)) the convolution reads.
//
// The chain would store y for the convolution's weight gradient and for ReLU's mask: one
// activation per block (48 MB of ResNet-18's saved tensors at batch 16, 224x224). Here y
// lives in step-pool scratch during the forward, and backward recomputes it from x and
// the saved batch statistics, one elementwise pass. Then, as the chain does it: the
// convolution's backward into dy (zeroed, accumulated), dy = 0 where y <= 0, BN's backward
// from dy. The same kernels on the same values in the same order: outputs and gradients
// are bitwise those of tg_batchnorm2d, tg_relu_ and tg_conv2d one after the other.

#include "batchnorm2d.h"
#include "conv2d.h"
#include "ops.h"
#include "relu.h"

typedef struct {
    tg_conv_geom geom;
    int N, OC;
    bool training;
    float *mean, *invstd;  // (C,) BN's statistics
} bnconv_saved;

static tg_status bnconv_backward(tg_ctx *c, tg_node *n, const float *dout) {
    const bnconv_saved *s = n->saved;
    tg_tensor *x = n->in[0], *bw = n->in[1], *bb = n->in[2], *w = n->in[3];
    const int64_t N = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
    const bool need_dy = x->requires_grad || (bw && bw->requires_grad) ||
                         (bb && bb->requires_grad);
    // x's own fresh gradient buffer doubles as dy: BN's backward then runs in place over it
    const bool fresh = x->requires_grad && x->grad_fn && !x->gbuf;
    float *dx = tg_grad_buf(c, x), *dbw = tg_grad_buf(c, bw), *dbb = tg_grad_buf(c, bb);
    bool dw_new;  // dw holds nothing yet (zero_grad deferred): the kernel stores into it
    float *dw = tg_grad_buf_w(c, w, &dw_new);
    if ((x->requires_grad && !dx) || (bw && bw->requires_grad && !dbw) ||
        (bb && bb->requires_grad && !dbb) || (w->requires_grad && !dw))
        return tg_ctx_status(c);
    float *y = tg_pool_scratch(c, (size_t)x->numel);
    float *dy = !need_dy ? NULL : fresh ? dx : tg_grad_pool_get(c, x->numel, false);
    if (!y || (need_dy && !dy)) {
        tg_grad_pool_put(c, y);
        return tg_error_set(&c->err, TG_ERR_NOMEM, "bn_relu_conv2d backward: out of memory");
    }
    const float *bwd = bw ? bw->data : NULL, *bbd = bb ? bb->data : NULL;
    tg_bn_relu_apply(y, x->data, s->mean, s->invstd, bwd, bbd, N, C, HW);
    int rc = tg_conv2d_backward_pooled(c, dy, dw, dw_new, w->numel, dout, y, w->data, s->N,
                                       s->OC, &s->geom);
    if (rc == 0 && dy) {
        tg_relu_mask(dy, y, x->numel);
        tg_bn_backward(fresh ? dy : dx, fresh, dbw, dbb, dy, x->data, s->mean, s->invstd, bwd,
                       s->training, N, C, HW);
    }
    tg_grad_pool_put(c, y);
    if (dy && !fresh) tg_grad_pool_put(c, dy);
    if (rc != 0)
        return tg_error_set(&c->err, TG_ERR_NOMEM,
                            "bn_relu_conv2d backward: out of memory for columns");
    return TG_OK;
}

static const tg_op bnconv_op = {"ConvolutionBackward0", bnconv_backward};

tg_tensor *tg_bn_relu_conv2d(tg_ctx *c, tg_tensor *x, tg_tensor *bn_weight, tg_tensor *bn_bias,
                             tg_tensor *running_mean, tg_tensor *running_var, bool training,
                             float momentum, float eps, tg_tensor *w, int stride, int pad) {
    if (!x || !w) return NULL;
    tg_conv_geom g;
    if (!tg_conv2d_geom(c, "bn_relu_conv2d", x, w, stride, pad, &g)) return NULL;
    float *mean, *invstd;  // checked before anything is recorded
    if (!tg_bn_prepare(c, x, bn_weight, bn_bias, running_mean, running_var, training, momentum,
                       eps, &mean, &invstd))
        return NULL;
    const int N = (int)x->shape[0], OC = (int)w->shape[0];
    const int64_t shape[4] = {N, OC, g.OH, g.OW};
    tg_tensor *in[4] = {x, bn_weight, bn_bias, w};
    bnconv_saved *s = NULL;
    tg_tensor *out = tg_op_output(c, &bnconv_op, 4, shape, 4, in, (void **)&s, sizeof *s);
    if (!out) return NULL;
    float *y = tg_pool_scratch(c, (size_t)x->numel);
    if (!y) {
        char sx[TG_SHAPE_STR_MAX];
        tg_error_set(&c->err, TG_ERR_NOMEM, "bn_relu_conv2d: out of memory for %s",
                     tg_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    tg_bn_relu_apply(y, x->data, mean, invstd, bn_weight ? bn_weight->data : NULL,
                     bn_bias ? bn_bias->data : NULL, N, g.C, (int64_t)g.H * g.W);
    int rc = tg_conv2d_forward_pooled(c, out->data, y, w->data, N, OC, &g);
    tg_grad_pool_put(c, y);
    if (rc != 0) {
        tg_error_set(&c->err, TG_ERR_NOMEM, "bn_relu_conv2d: out of memory for the column matrix");
        return NULL;
    }
    if (s) *s = (bnconv_saved){g, N, OC, training, mean, invstd};
    return out;
}
