// param_groups.h: the optimizer group of every resnet18 parameter (optim.h), from the rules
// fine-tuning recipes use:
// - rules (a config's optimizer.groups): a parameter belongs to the first rule one of whose
//   glob patterns (tg_glob_match) matches its name; the rule's lr_scale multiplies its lr
//   and its weight_decay, when set, is its decay;
// - torchvision's --bias-weight-decay and --norm-weight-decay (references/classification,
//   utils.set_weight_decay): a parameter no rule gives a decay gets bias_weight_decay if
//   its name ends in ".bias" (BatchNorm biases included: torchvision checks the "bias" key
//   first), else norm_weight_decay if it belongs to a BatchNorm, else the base decay;
// - timm's --layer-decay (optim/_param_groups.py, param_groups_layer_decay) for ResNet's
//   group_matcher: layer ids stem (conv1, bn1) 0, layer1.0 .. layer4.1 1..8, fc 9, and
//   lr_scale *= layer_decay^(9 - id);
// - unfreezing later: parameters frozen now get frozen_lr_scale multiplied in.
// Parameters with the same lr_scale and weight decay share a group; groups are numbered in
// the order their first parameter appears in the state_dict.
#ifndef TG_PARAM_GROUPS_H
#define TG_PARAM_GROUPS_H

#include <stdbool.h>

#include "core/error.h"
#include "nn/optim.h"
#include "nn/resnet18.h"

#define TG_RESNET18_N_LAYER_IDS 10

typedef struct {
    const char *const *patterns;  // glob patterns over state_dict names
    int n_patterns;
    double lr_scale;      // > 0
    double weight_decay;  // NAN: not set
} tg_group_rule;

typedef struct {
    double weight_decay;       // the base decay
    double norm_weight_decay;  // NAN: not set
    double bias_weight_decay;  // NAN: not set
    double layer_decay;        // 0: none; else in (0, 1]
    const tg_group_rule *rules;
    int n_rules;
    double frozen_lr_scale;  // for parameters frozen now (1: none)
    bool all_train;          // frozen parameters train later: patterns may match them
} tg_param_group_spec;

typedef struct {
    tg_param_group groups[TG_RESNET18_N_PARAMS];  // lr set to lr_scale (a base lr of 1)
    int n_groups;
    int group_of[TG_RESNET18_N_PARAMS];  // of the parameters in tg_resnet18_params' order
    int rule_of[TG_RESNET18_N_PARAMS];   // the rule that matched, -1 for none
} tg_param_groups;

// TG_ERR_VALUE when a pattern matches no parameter that trains (the message names the
// rule, the pattern and real parameter names) or a value is out of range.
tg_status tg_resnet18_param_groups(const tg_resnet18 *m, const tg_param_group_spec *spec,
                                   tg_param_groups *out, tg_error *err);
// timm's layer id of a resnet18 parameter name (0..9), -1 for a name that is none.
int tg_resnet18_layer_id(const char *name);

#endif
