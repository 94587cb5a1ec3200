// modelfile.c: metadata of trained model files (see modelfile.h).
#include "app/modelfile.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/weights.h"
#include "io/weightfile.h"

void tg_model_meta_free(tg_model_meta *m) {
    if (!m) return;
    for (int i = 0; m->classes && i < m->num_classes; i++) free(m->classes[i]);
    free(m->classes);
    memset(m, 0, sizeof *m);
}

tg_status tg_model_meta_set_classes(tg_model_meta *m, char *const *names, int n, tg_error *err) {
    char **c = calloc((size_t)n, sizeof *c);
    if (!c) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        c[i] = strdup(names[i]);
        if (!c[i]) {
            for (int j = 0; j < i; j++) free(c[j]);
            free(c);
            return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        }
    }
    for (int i = 0; m->classes && i < m->num_classes; i++) free(m->classes[i]);
    free(m->classes);
    m->classes = c;
    m->num_classes = n;
    return TG_OK;
}

static char *vec3_json(const float v[3]) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < 3; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    char *s = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return s;
}

tg_status tg_model_meta_put(tg_statedict *sd, const tg_model_meta *m, tg_error *err) {
    char num[32];
    char *classes = NULL, *mean = NULL, *std = NULL;
    tg_status st = TG_OK;
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < m->num_classes; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(m->classes[i]));
    classes = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    mean = vec3_json(m->mean);
    std = vec3_json(m->std);
    if (!classes || !mean || !std) {
        st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        goto done;
    }
    snprintf(num, sizeof num, "%d", TG_MODEL_FORMAT_VERSION);
    if ((st = tg_statedict_set_meta(sd, "format", "pt", err)) ||
        (st = tg_statedict_set_meta(sd, "tgfinetune_format", num, err)) ||
        (st = tg_statedict_set_meta(sd, "arch", "resnet18", err)) ||
        (st = tg_statedict_set_meta(sd, "classes", classes, err)))
        goto done;
    snprintf(num, sizeof num, "%d", m->image_size);
    if ((st = tg_statedict_set_meta(sd, "image_size", num, err))) goto done;
    snprintf(num, sizeof num, "%d", m->resize);
    if ((st = tg_statedict_set_meta(sd, "resize", num, err)) ||
        (st = tg_statedict_set_meta(sd, "mean", mean, err)) ||
        (st = tg_statedict_set_meta(sd, "std", std, err)))
        goto done;
done:
    free(classes);
    free(mean);
    free(std);
    return st;
}

static tg_status get_int_meta(const tg_statedict *sd, const char *path, const char *key, int lo,
                              int hi, int *out, tg_error *err) {
    const char *v = tg_statedict_get_meta(sd, key);
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || x < lo || x > hi)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: metadata \"%s\" is %s%s%s (want an integer in [%d, %d])", path,
                            key, v ? "\"" : "missing", v ? v : "", v ? "\"" : "", lo, hi);
    *out = (int)x;
    return TG_OK;
}

static tg_status get_vec3_meta(const tg_statedict *sd, const char *path, const char *key,
                               bool positive, float out[3], tg_error *err) {
    const char *v = tg_statedict_get_meta(sd, key);
    cJSON *a = v ? cJSON_Parse(v) : NULL;
    bool ok = a && cJSON_IsArray(a) && cJSON_GetArraySize(a) == 3;
    int i = 0;
    for (cJSON *e = ok ? a->child : NULL; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || (positive && e->valuedouble <= 0)) ok = false;
        else out[i] = (float)e->valuedouble;
    }
    cJSON_Delete(a);
    if (!ok)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: metadata \"%s\" is %s (want a JSON array of 3 numbers)", path, key,
                            v ? "malformed" : "missing");
    return TG_OK;
}

tg_status tg_model_meta_get(const tg_statedict *sd, const char *path, tg_model_meta *m,
                            tg_error *err) {
    memset(m, 0, sizeof *m);
    tg_status st;
    const char *ver = tg_statedict_get_meta(sd, "tgfinetune_format");
    const char *classes = tg_statedict_get_meta(sd, "classes");
    if (!ver || !classes)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: no class names in the metadata; not a model written by "
                            "tgfinetune train (convert/plain state dicts cannot be used by "
                            "predict or eval)",
                            path);
    if (strcmp(ver, "1") != 0)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: model format version %s is not supported (this tgfinetune "
                            "reads version %d)",
                            path, ver, TG_MODEL_FORMAT_VERSION);
    const char *arch = tg_statedict_get_meta(sd, "arch");
    if (arch && strcmp(arch, "resnet18") != 0)
        return tg_error_set(err, TG_ERR_FORMAT, "%s: arch \"%s\" is not supported (resnet18 only)",
                            path, arch);
    cJSON *a = cJSON_Parse(classes);
    int n = a && cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    if (n < 2) {
        cJSON_Delete(a);
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: metadata \"classes\" is not a JSON array of 2 or more names",
                            path);
    }
    m->classes = calloc((size_t)n, sizeof *m->classes);
    if (!m->classes) {
        cJSON_Delete(a);
        return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    }
    m->num_classes = n;
    int i = 0;
    for (cJSON *e = a->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e)) {
            cJSON_Delete(a);
            tg_model_meta_free(m);
            return tg_error_set(err, TG_ERR_FORMAT, "%s: class name %d is not a string", path, i);
        }
        m->classes[i] = strdup(e->valuestring);
        if (!m->classes[i]) {
            cJSON_Delete(a);
            tg_model_meta_free(m);
            return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        }
    }
    cJSON_Delete(a);
    // The model is built with one output per name before its weights are read: a short
    // file must not make it allocate a head for a million names (2 GB) only to fail.
    const tg_sd_entry *fw = tg_statedict_find(sd, "fc.weight");
    if (fw && fw->ndim >= 1 && fw->shape[0] != n) {
        tg_model_meta_free(m);
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: metadata \"classes\" lists %d names but fc.weight has %lld "
                            "rows",
                            path, n, (long long)fw->shape[0]);
    }
    if ((st = get_int_meta(sd, path, "image_size", 1, 8192, &m->image_size, err)) ||
        (st = get_int_meta(sd, path, "resize", m->image_size, 16384, &m->resize, err)) ||
        (st = get_vec3_meta(sd, path, "mean", false, m->mean, err)) ||
        (st = get_vec3_meta(sd, path, "std", true, m->std, err))) {
        tg_model_meta_free(m);
        return st;
    }
    return TG_OK;
}

tg_status tg_model_save(const char *path, const tg_resnet18 *model, const tg_model_meta *meta,
                        tg_error *err) {
    tg_statedict sd;
    tg_statedict_init(&sd);
    tg_status st = tg_weights_export(model, &sd, err);
    if (!st) st = tg_model_meta_put(&sd, meta, err);
    if (!st) st = tg_statedict_save(path, &sd, err);
    tg_statedict_free(&sd);
    return st;
}

tg_status tg_model_open(const char *path, tg_resnet18 **model, tg_model_meta *meta,
                        tg_error *err) {
    *model = NULL;
    memset(meta, 0, sizeof *meta);
    tg_statedict sd;
    tg_statedict_init(&sd);
    tg_status st = tg_statedict_load(path, &sd, err);
    if (st) goto fail;
    if ((st = tg_model_meta_get(&sd, path, meta, err))) goto fail;
    tg_rng rng;
    tg_rng_seed(&rng, 0);
    *model = tg_resnet18_new(meta->num_classes, &rng, err);
    if (!*model) {
        st = err && err->status ? err->status : TG_ERR_NOMEM;
        goto fail;
    }
    if ((st = tg_weights_load(*model, &sd, false, NULL, err))) {
        tg_error_prefix(err, "%s", path);
        goto fail;
    }
    tg_resnet18_train(*model, false);
    tg_statedict_free(&sd);
    return TG_OK;
fail:
    tg_resnet18_free(*model);
    *model = NULL;
    tg_model_meta_free(meta);
    tg_statedict_free(&sd);
    return st;
}
