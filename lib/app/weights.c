// weights.c: model.load_state_dict(sd, strict=True) and model.state_dict() for resnet18,
// between a tg_statedict (io/statedict.h) and tg_resnet18 (nn/resnet18.h).
// Loading validates everything first and copies only when the whole file fits, so a failed
// load leaves the model as it was.
#include "app/weights.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// IEEE half (binary16) to float.
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else {  // subnormal: value = mant * 2^-24
            float v = (float)mant * 0x1p-24f;
            return sign ? -v : v;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static bool is_float_dt(tg_dt dt) {
    return dt == TG_DT_F32 || dt == TG_DT_F64 || dt == TG_DT_F16 || dt == TG_DT_BF16;
}

// Element i of a float entry as float32.
static float get_float(const tg_sd_entry *e, int64_t i) {
    switch (e->dtype) {
    case TG_DT_F32: {
        float v;
        memcpy(&v, (const char *)e->data + 4 * i, 4);
        return v;
    }
    case TG_DT_F64: {
        double v;
        memcpy(&v, (const char *)e->data + 8 * i, 8);
        return (float)v;
    }
    case TG_DT_F16: {
        uint16_t v;
        memcpy(&v, (const char *)e->data + 2 * i, 2);
        return half_to_float(v);
    }
    case TG_DT_BF16: {
        uint16_t v;
        memcpy(&v, (const char *)e->data + 2 * i, 2);
        return bf16_to_float(v);
    }
    default:
        TG_ASSERT(0, "weights: get_float on a non-float entry");
    }
}

static bool get_int(const tg_sd_entry *e, int64_t *out) {
    switch (e->dtype) {
    case TG_DT_I64: memcpy(out, e->data, 8); return true;
    case TG_DT_I32: {
        int32_t v;
        memcpy(&v, e->data, 4);
        *out = v;
        return true;
    }
    default: return false;
    }
}

static void shape_str_sd(const tg_sd_entry *e, char *buf, size_t n) {
    size_t off = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < e->ndim && off < n; d++)
        off += (size_t)snprintf(buf + off, n - off, "%s%lld", d ? ", " : "",
                                (long long)e->shape[d]);
    if (off < n) snprintf(buf + off, n - off, e->ndim == 1 ? ",)" : ")");
}

static bool shape_matches(const tg_sd_entry *e, const tg_tensor *t) {
    if (e->ndim != t->ndim) return false;
    for (int d = 0; d < t->ndim; d++)
        if (e->shape[d] != t->shape[d]) return false;
    return true;
}

// Appends name to a comma-separated list in buf (n bytes), keeping room for an ellipsis.
static void list_add(char *buf, size_t n, int *count, const char *name) {
    (*count)++;
    size_t len = strlen(buf);
    if (len + strlen(name) + 8 >= n) {
        if (!strstr(buf, ", ...") && len + 6 < n) strcat(buf, ", ...");
        return;
    }
    if (len) strcat(buf, ", ");
    strcat(buf, name);
}

tg_status tg_weights_load(tg_resnet18 *m, const tg_statedict *sd, bool allow_fc_replace,
                          tg_load_report *report, tg_error *err) {
    tg_load_report local;
    if (!report) report = &local;
    memset(report, 0, sizeof *report);

    // 1. Keys: missing and unexpected.
    char missing[400] = "", unexpected[400] = "";
    int n_missing = 0, n_unexpected = 0;
    for (size_t i = 0; i < sd->n; i++)
        if (!tg_resnet18_find(m, sd->entries[i].name))
            list_add(unexpected, sizeof unexpected, &n_unexpected, sd->entries[i].name);
    for (int i = 0; i < m->n_entries; i++) {
        const tg_model_entry *me = &m->entries[i];
        if (tg_statedict_find(sd, me->name)) continue;
        if (me->kind == TG_ENTRY_COUNTER) {
            report->n_counters_missing++;
            continue;
        }
        list_add(missing, sizeof missing, &n_missing, me->name);
    }
    if (n_missing || n_unexpected) {
        char a[450] = "", b[450] = "";
        if (n_missing) snprintf(a, sizeof a, "missing keys (%d): %s", n_missing, missing);
        if (n_unexpected)
            snprintf(b, sizeof b, "unexpected keys (%d): %s", n_unexpected, unexpected);
        return tg_error_set(err, TG_ERR_FORMAT,
                            "not a resnet18 state_dict with torchvision's keys: %s%s%s", a,
                            n_missing && n_unexpected ? "; " : "", b);
    }

    // 2. The head: another class count is replaced (not loaded) when allowed.
    const tg_sd_entry *fw = tg_statedict_find(sd, "fc.weight");
    const tg_sd_entry *fb = tg_statedict_find(sd, "fc.bias");
    bool skip_fc = false;
    if (fw->ndim == 2 && fw->shape[1] == TG_RESNET18_FEATURES && fb->ndim == 1 &&
        fb->shape[0] == fw->shape[0]) {
        report->file_classes = (int)fw->shape[0];
        if (fw->shape[0] != m->num_classes) {
            if (!allow_fc_replace)
                return tg_error_set(err, TG_ERR_SHAPE,
                                    "fc.weight: the file's head has %lld classes, the model %d",
                                    (long long)fw->shape[0], m->num_classes);
            skip_fc = true;
        }
    }

    // 3. Shapes, dtypes and values, before anything is copied.
    for (int i = 0; i < m->n_entries; i++) {
        const tg_model_entry *me = &m->entries[i];
        const tg_sd_entry *e = tg_statedict_find(sd, me->name);
        if (!e) continue;
        char s1[TG_SHAPE_STR_MAX], s2[TG_SHAPE_STR_MAX];
        if (me->kind == TG_ENTRY_COUNTER) {
            int64_t v;
            if (tg_sd_entry_numel(e) != 1 || !get_int(e, &v))
                return tg_error_set(err, TG_ERR_FORMAT,
                                    "%s: expected an integer scalar, got %s of shape %s",
                                    me->name, tg_dt_name(e->dtype),
                                    (shape_str_sd(e, s1, sizeof s1), s1));
            if (v < 0)
                return tg_error_set(err, TG_ERR_VALUE, "%s: negative count %lld", me->name,
                                    (long long)v);
            continue;
        }
        if (skip_fc && (e == fw || e == fb)) continue;
        if (!shape_matches(e, me->t)) {
            shape_str_sd(e, s1, sizeof s1);
            return tg_error_set(err, TG_ERR_SHAPE,
                                "size mismatch for %s: shape %s in the file, %s in the model",
                                me->name, s1, tg_shape_str(me->t, s2, sizeof s2));
        }
        if (!is_float_dt(e->dtype))
            return tg_error_set(err, TG_ERR_FORMAT,
                                "%s: dtype %s is not a floating-point type (need F32, F64, "
                                "F16 or BF16)",
                                me->name, tg_dt_name(e->dtype));
        int64_t n = tg_sd_entry_numel(e);
        for (int64_t j = 0; j < n; j++) {
            float v = get_float(e, j);
            if (!isfinite(v))
                return tg_error_set(err, TG_ERR_VALUE,
                                    "%s: element %lld is not finite (%g)%s", me->name,
                                    (long long)j, (double)v,
                                    e->dtype == TG_DT_F64 ? " as float32" : "");
        }
    }

    // 4. Copy.
    for (int i = 0; i < m->n_entries; i++) {
        tg_model_entry *me = &m->entries[i];
        const tg_sd_entry *e = tg_statedict_find(sd, me->name);
        if (me->kind == TG_ENTRY_COUNTER) {
            int64_t v = 0;
            if (e) get_int(e, &v);
            *me->count = v;
            continue;
        }
        if (skip_fc && (e == fw || e == fb)) continue;
        if (e->dtype == TG_DT_F32) {
            memcpy(me->t->data, e->data, (size_t)me->t->numel * sizeof(float));
        } else {
            for (int64_t j = 0; j < me->t->numel; j++) me->t->data[j] = get_float(e, j);
            report->n_converted++;
        }
    }

    report->fc_replaced = skip_fc;
    if (skip_fc)
        snprintf(report->message, sizeof report->message,
                 "the weights' fc has %d classes and the model %d: fc.weight and fc.bias were "
                 "not loaded, the model has a new %d-class head",
                 report->file_classes, m->num_classes, m->num_classes);
    return TG_OK;
}

tg_status tg_weights_load_file(tg_resnet18 *m, const char *path, bool allow_fc_replace,
                               tg_load_report *report, tg_error *err) {
    tg_statedict sd;
    tg_statedict_init(&sd);
    tg_status st = tg_statedict_load(path, &sd, err);
    if (st == TG_OK) {
        st = tg_weights_load(m, &sd, allow_fc_replace, report, err);
        if (st != TG_OK) tg_error_prefix(err, "%s", path);
    }
    tg_statedict_free(&sd);
    return st;
}

tg_status tg_weights_export(const tg_resnet18 *m, tg_statedict *sd, tg_error *err) {
    for (int i = 0; i < m->n_entries; i++) {
        const tg_model_entry *me = &m->entries[i];
        tg_status st;
        if (me->kind == TG_ENTRY_COUNTER)
            st = tg_statedict_add(sd, me->name, TG_DT_I64, 0, NULL, me->count, err);
        else
            st = tg_statedict_add(sd, me->name, TG_DT_F32, me->t->ndim, me->t->shape,
                                  me->t->data, err);
        if (st != TG_OK) return st;
    }
    return TG_OK;
}
