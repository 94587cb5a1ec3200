// resnet18.h: torchvision's resnet18 (torchvision.models.resnet18, BasicBlock, [2,2,2,2]),
// built from a table of block specs, with every parameter and buffer registered under
// torchvision's state_dict key, in state_dict order (62 parameters, 60 buffers of which 20
// are the int64 num_batches_tracked counters; 11,689,512 parameters with 1000 classes).
//
// Lifetimes: the model's tensors (weights, their .grad, running stats) are persistent and
// live until tg_resnet18_free(). A forward pass allocates only from the context's arena.
//
// Typical fine-tuning order (PyTorch's tutorial): new -> load weights (lib/app/weights.h)
// -> tg_resnet18_freeze(patterns) -> tg_resnet18_replace_fc(N) (the new head is trainable
// even after freezing "*") -> train.
#ifndef TG_RESNET18_H
#define TG_RESNET18_H

#include <stdbool.h>
#include <stdint.h>

#include "core/error.h"
#include "core/rng.h"
#include "core/tensor.h"

#define TG_RESNET18_N_ENTRIES 122  // state_dict entries: 62 parameters + 60 buffers
#define TG_RESNET18_N_PARAMS 62
#define TG_RESNET18_N_BUFFERS 60
#define TG_RESNET18_N_BN 20
#define TG_RESNET18_FEATURES 512  // fc input size
#define TG_RESNET18_NAME_MAX 48

typedef enum {
    TG_ENTRY_PARAM,    // trainable float tensor (requires_grad unless frozen)
    TG_ENTRY_BUFFER,   // running_mean / running_var (float, never requires grad)
    TG_ENTRY_COUNTER,  // num_batches_tracked: an int64 scalar, kept in *count
} tg_entry_kind;

typedef struct {
    char name[TG_RESNET18_NAME_MAX];  // torchvision state_dict key, e.g. "layer2.0.downsample.1.bias"
    tg_entry_kind kind;
    tg_tensor *t;     // PARAM / BUFFER: the persistent tensor (t->name points at name)
    int64_t *count;   // COUNTER: the counter; NULL otherwise
} tg_model_entry;

// One BatchNorm2d layer (eps 1e-5, momentum 0.1).
typedef struct {
    tg_tensor *weight, *bias, *running_mean, *running_var;  // (C,)
    int64_t num_batches_tracked;
} tg_bn;

// One BasicBlock: conv3x3(stride)-bn-relu-conv3x3-bn (+ downsample 1x1(stride)-bn), add, relu.
typedef struct {
    int in_ch, out_ch, stride;
    tg_tensor *conv1, *conv2;  // (out, in, 3, 3), (out, out, 3, 3)
    tg_bn bn1, bn2;
    bool has_downsample;
    tg_tensor *ds_conv;        // (out, in, 1, 1)
    tg_bn ds_bn;
} tg_basic_block;

typedef struct {
    int num_classes;
    bool training;         // train() / eval(); starts in training mode, as nn.Module
    bool freeze_bn_stats;  // in training, BN layers whose weight and bias are both frozen
                           // run in eval mode (running stats used, not updated). Default off.
    tg_tensor *conv1;      // (64, 3, 7, 7)
    tg_bn bn1;
    tg_basic_block blocks[8];  // layer1.0, layer1.1, ..., layer4.1
    tg_tensor *fc_weight;      // (num_classes, 512)
    tg_tensor *fc_bias;        // (num_classes,)
    tg_model_entry entries[TG_RESNET18_N_ENTRIES];  // state_dict order
    int n_entries;
} tg_resnet18;

// A new model with torchvision's random initialisation drawn from rng: convs
// kaiming_normal_(fan_out, relu), BN weight 1 bias 0 (running mean 0, var 1), fc as
// nn.Linear (weight and bias uniform in ±1/sqrt(512)). Draws in state_dict order.
// All parameters require grad. NULL on bad num_classes or out of memory (err set).
tg_resnet18 *tg_resnet18_new(int num_classes, tg_rng *rng, tg_error *err);
void tg_resnet18_free(tg_resnet18 *m);

// model.train(on) / model.eval() (on = false).
void tg_resnet18_train(tg_resnet18 *m, bool on);

// x (N, 3, H, W) -> logits (N, num_classes), an arena tensor. In training mode BN layers
// use batch statistics and update their running stats and num_batches_tracked (unless
// freeze_bn_stats applies to them). NULL with the error in c on failure.
tg_tensor *tg_resnet18_forward(tg_ctx *c, tg_resnet18 *m, tg_tensor *x);

// Glob match of a state_dict name ('*' any run of characters including '.', '?' one
// character). Exposed for callers that validate patterns.
bool tg_glob_match(const char *pattern, const char *name);

// Freezes (requires_grad = false) every parameter whose name matches pattern. Returns how
// many parameters matched (0: the pattern matches nothing; the caller should report it).
// Frees the .grad of frozen parameters so they hold no stale gradient.
int tg_resnet18_freeze(tg_resnet18 *m, const char *pattern);
// The opposite (requires_grad = true). Returns how many parameters matched.
int tg_resnet18_unfreeze(tg_resnet18 *m, const char *pattern);

// Replaces fc with a new num_classes-way nn.Linear(512, num_classes) initialised from rng
// (uniform ±1/sqrt(512) for weight then bias), trainable whatever was frozen before.
// The entries' tensors fc.weight / fc.bias change: re-create optimizers after this.
tg_status tg_resnet18_replace_fc(tg_resnet18 *m, int num_classes, tg_rng *rng, tg_error *err);

// Lookups. NULL if absent.
tg_model_entry *tg_resnet18_find(tg_resnet18 *m, const char *name);

// The 62 parameter tensors in state_dict order into out[62]; returns the count.
int tg_resnet18_params(tg_resnet18 *m, tg_tensor **out);
// Total elements of all parameters (11,689,512 with 1000 classes), and of trainable ones.
int64_t tg_resnet18_num_params(const tg_resnet18 *m);
int64_t tg_resnet18_num_trainable(const tg_resnet18 *m);
// Zeroes every parameter's .grad (PyTorch 1.13's zero_grad(set_to_none=False)).
void tg_resnet18_zero_grad(tg_resnet18 *m);

#endif
