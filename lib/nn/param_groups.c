// param_groups.c: parameter groups of resnet18 (see param_groups.h).
#include "nn/param_groups.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int tg_resnet18_layer_id(const char *name) {
    if (!strncmp(name, "conv1.", 6) || !strncmp(name, "bn1.", 4)) return 0;
    if (!strncmp(name, "fc.", 3)) return 9;
    // layer<S>.<B>.: S in 1..4, B in 0..1
    if (!strncmp(name, "layer", 5) && name[5] >= '1' && name[5] <= '4' && name[6] == '.' &&
        (name[7] == '0' || name[7] == '1') && name[8] == '.')
        return 1 + (name[5] - '1') * 2 + (name[7] - '0');
    return -1;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

// Whether tensor t is a BatchNorm's weight or bias.
static bool is_norm(const tg_resnet18 *m, const tg_tensor *t) {
    if (t == m->bn1.weight || t == m->bn1.bias) return true;
    for (int b = 0; b < 8; b++) {
        const tg_basic_block *k = &m->blocks[b];
        const tg_bn *bns[3] = {&k->bn1, &k->bn2, k->has_downsample ? &k->ds_bn : NULL};
        for (int j = 0; j < 3; j++)
            if (bns[j] && (t == bns[j]->weight || t == bns[j]->bias)) return true;
    }
    return false;
}

static int first_rule(const tg_param_group_spec *s, const char *name) {
    for (int r = 0; r < s->n_rules; r++)
        for (int j = 0; j < s->rules[r].n_patterns; j++)
            if (tg_glob_match(s->rules[r].patterns[j], name)) return r;
    return -1;
}

static tg_status check_patterns(const tg_resnet18 *m, const tg_param_group_spec *s, tg_error *err) {
    for (int r = 0; r < s->n_rules; r++) {
        const tg_group_rule *g = &s->rules[r];
        if (!(g->lr_scale > 0.0) || !isfinite(g->lr_scale) ||
            !(isnan(g->weight_decay) || (g->weight_decay >= 0.0 && isfinite(g->weight_decay))))
            return tg_error_set(err, TG_ERR_VALUE,
                                "group %d: lr_scale must be > 0 and weight_decay >= 0 (got %g "
                                "and %g)",
                                r, g->lr_scale, g->weight_decay);
        for (int j = 0; j < g->n_patterns; j++) {
            bool hit = false;
            for (int k = 0; k < m->n_entries && !hit; k++) {
                const tg_model_entry *e = &m->entries[k];
                hit = e->kind == TG_ENTRY_PARAM && (e->t->requires_grad || s->all_train) &&
                      tg_glob_match(g->patterns[j], e->name);
            }
            if (!hit)
                return tg_error_set(err, TG_ERR_VALUE,
                                    "group %d: pattern \"%s\" matches no trainable parameter; "
                                    "parameter names look like conv1.weight, bn1.weight, "
                                    "layer1.0.conv1.weight, layer2.0.downsample.0.weight, "
                                    "layer4.1.bn2.bias, fc.weight, fc.bias ('*' matches any "
                                    "run of characters, dots included: \"layer4.*\")",
                                    r, g->patterns[j]);
        }
    }
    return TG_OK;
}

tg_status tg_resnet18_param_groups(const tg_resnet18 *m, const tg_param_group_spec *s,
                                   tg_param_groups *out, tg_error *err) {
    memset(out, 0, sizeof *out);
    if (!(s->layer_decay == 0.0 || (s->layer_decay > 0.0 && s->layer_decay <= 1.0)) ||
        !(s->frozen_lr_scale > 0.0))
        return tg_error_set(err, TG_ERR_VALUE,
                            "layer_decay %g must be 0 (none) or in (0, 1], frozen_lr_scale %g "
                            "> 0",
                            s->layer_decay, s->frozen_lr_scale);
    tg_status st = check_patterns(m, s, err);
    if (st) return st;
    int i = 0;
    for (int k = 0; k < m->n_entries; k++) {
        const tg_model_entry *e = &m->entries[k];
        if (e->kind != TG_ENTRY_PARAM) continue;
        const int r = first_rule(s, e->name);
        double scale = r >= 0 ? s->rules[r].lr_scale : 1.0;
        if (s->layer_decay > 0.0) {
            int id = tg_resnet18_layer_id(e->name);
            TG_ASSERT(id >= 0, "tg_resnet18_param_groups: a parameter without a layer id");
            scale *= pow(s->layer_decay, (double)(TG_RESNET18_N_LAYER_IDS - 1 - id));
        }
        if (!e->t->requires_grad) scale *= s->frozen_lr_scale;
        double wd = s->weight_decay;
        if (r >= 0 && !isnan(s->rules[r].weight_decay))
            wd = s->rules[r].weight_decay;
        else if (!isnan(s->bias_weight_decay) && ends_with(e->name, ".bias"))
            wd = s->bias_weight_decay;
        else if (!isnan(s->norm_weight_decay) && is_norm(m, e->t))
            wd = s->norm_weight_decay;
        int g = 0;
        while (g < out->n_groups &&
               !(out->groups[g].lr_scale == scale && out->groups[g].weight_decay == wd))
            g++;
        if (g == out->n_groups) out->groups[out->n_groups++] = (tg_param_group){scale, wd, scale};
        out->group_of[i] = g;
        out->rule_of[i] = r;
        i++;
    }
    return TG_OK;
}
