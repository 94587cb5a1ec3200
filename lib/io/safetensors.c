// safetensors.c: safetensors reader and writer (see safetensors.h). The reader follows the
// reference implementation's rules: header length capped, JSON object of entries, known
// dtypes, sizes equal numel x element size, data_offsets in bounds and covering the buffer
// exactly (sorted, contiguous, no overlap, no hole), no duplicate names, __metadata__ a map
// of strings to strings.
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"

typedef struct {
    const char *name;  // points into the cJSON tree
    tg_dt dtype;
    int ndim;
    int64_t shape[TG_SD_MAX_DIMS];
    uint64_t begin, end;
} st_info;

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const st_info *const *)a)->name, (*(const st_info *const *)b)->name);
}

static int cmp_begin(const void *a, const void *b) {
    const st_info *x = *(const st_info *const *)a, *y = *(const st_info *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

// A JSON number that is an integer in [0, 2^53].
static int json_u64(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return 0;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || v != (double)(uint64_t)v) return 0;
    *out = (uint64_t)v;
    return 1;
}

static tg_status parse_entry(const cJSON *item, st_info *ti, const char *file, tg_error *err) {
    const char *nm = item->string;
    if (!cJSON_IsObject(item))
        return tg_error_set(err, TG_ERR_FORMAT, "%s: tensor '%s': header entry is not an object",
                            file, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: tensor '%s': needs a string 'dtype', an array 'shape' and an "
                            "array 'data_offsets'", file, nm);
    if (!tg_dt_from_name(dt->valuestring, &ti->dtype))
        return tg_error_set(err, TG_ERR_FORMAT, "%s: tensor '%s': unsupported dtype '%.32s'", file,
                            nm, dt->valuestring);
    int nd = cJSON_GetArraySize(shape);
    if (nd > TG_SD_MAX_DIMS)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: tensor '%s': %d dims exceed the maximum of %d", file, nm, nd,
                            TG_SD_MAX_DIMS);
    ti->ndim = nd;
    uint64_t nbytes = tg_dt_size(ti->dtype);
    int d = 0;
    for (const cJSON *s = shape->child; s; s = s->next, d++) {
        uint64_t v;
        if (!json_u64(s, &v))
            return tg_error_set(err, TG_ERR_FORMAT,
                                "%s: tensor '%s': shape[%d] is not a non-negative integer", file,
                                nm, d);
        ti->shape[d] = (int64_t)v;
        if (__builtin_mul_overflow(nbytes, v, &nbytes))
            return tg_error_set(err, TG_ERR_FORMAT, "%s: tensor '%s': shape overflows", file, nm);
    }
    if (cJSON_GetArraySize(offs) != 2 || !json_u64(offs->child, &ti->begin) ||
        !json_u64(offs->child->next, &ti->end) || ti->end < ti->begin)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets must be [begin, end] with begin <= end",
                            file, nm);
    if (ti->end - ti->begin != nbytes)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but "
                            "numel x element size is %llu", file, nm,
                            (unsigned long long)ti->begin, (unsigned long long)ti->end,
                            (unsigned long long)(ti->end - ti->begin),
                            (unsigned long long)nbytes);
    ti->name = nm;
    return TG_OK;
}

tg_status tg_safetensors_read(const unsigned char *buf, size_t n, const char *file,
                              tg_statedict *sd, tg_error *err) {
    tg_status st = TG_OK;
    cJSON *root = NULL;
    st_info *infos = NULL;
    st_info **order = NULL;
    if (n < 8)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: truncated safetensors file (%zu bytes, the header length alone "
                            "needs 8)", file, n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
    if (hlen > TG_SAFETENSORS_MAX_HEADER)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: safetensors header length %llu exceeds the cap of %zu bytes",
                            file, (unsigned long long)hlen, TG_SAFETENSORS_MAX_HEADER);
    if (hlen > n - 8)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: safetensors header length %llu exceeds the file size (%zu "
                            "bytes): truncated file?", file, (unsigned long long)hlen, n);
    if (hlen < 2 || buf[8] != '{')
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: safetensors header does not start with '{'", file);
    const char *hdr = (const char *)buf + 8, *end = NULL;
    root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: safetensors header is not a valid JSON object",
                          file);
        goto done;
    }
    for (const char *p = end; p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\n' && *p != '\r' && *p != '\t') {
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "%s: safetensors header has trailing bytes after its JSON", file);
            goto done;
        }
    size_t count = 0;
    for (const cJSON *c = root->child; c; c = c->next) count++;
    if (count > TG_SAFETENSORS_MAX_TENSORS) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: %zu header entries exceed the cap of %d", file,
                          count, TG_SAFETENSORS_MAX_TENSORS);
        goto done;
    }
    infos = calloc(count ? count : 1, sizeof *infos);
    order = calloc(count ? count : 1, sizeof *order);
    if (!infos || !order) {
        st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", file);
        goto done;
    }
    size_t nt = 0;
    const cJSON *meta = NULL;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (!strcmp(c->string, "__metadata__")) {
            if (meta || !cJSON_IsObject(c)) {
                st = tg_error_set(err, TG_ERR_FORMAT,
                                  "%s: __metadata__ must appear once, as an object", file);
                goto done;
            }
            meta = c;
            continue;
        }
        if ((st = parse_entry(c, &infos[nt], file, err)) != TG_OK) goto done;
        order[nt] = &infos[nt];
        nt++;
    }
    qsort(order, nt, sizeof *order, cmp_name);
    for (size_t i = 1; i < nt; i++)
        if (!strcmp(order[i]->name, order[i - 1]->name)) {
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: duplicate tensor name '%s'", file,
                              order[i]->name);
            goto done;
        }
    // The buffer must be covered exactly: sorted by begin, each starts where the last ended.
    uint64_t data_size = n - 8 - hlen, pos = 0;
    qsort(order, nt, sizeof *order, cmp_begin);
    for (size_t i = 0; i < nt; i++) {
        const st_info *t = order[i];
        if (t->end > data_size) {
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "%s: tensor '%s': data_offsets [%llu, %llu] out of bounds (the "
                              "data buffer has %llu bytes)", file, t->name,
                              (unsigned long long)t->begin, (unsigned long long)t->end,
                              (unsigned long long)data_size);
            goto done;
        }
        if (t->begin < pos) {
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "%s: tensor '%s': data_offsets [%llu, %llu] overlap tensor '%s'",
                              file, t->name, (unsigned long long)t->begin,
                              (unsigned long long)t->end, order[i - 1]->name);
            goto done;
        }
        if (t->begin > pos) {
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "%s: tensor '%s': hole of %llu bytes before its data_offsets",
                              file, t->name, (unsigned long long)(t->begin - pos));
            goto done;
        }
        pos = t->end;
    }
    if (pos != data_size) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "%s: %llu bytes after the last tensor are not covered by any tensor",
                          file, (unsigned long long)(data_size - pos));
        goto done;
    }
    if (meta)
        for (const cJSON *m = meta->child; m; m = m->next) {
            if (!cJSON_IsString(m)) {
                st = tg_error_set(err, TG_ERR_FORMAT,
                                  "%s: __metadata__ value of '%s' is not a string", file,
                                  m->string);
                goto done;
            }
            if ((st = tg_statedict_set_meta(sd, m->string, m->valuestring, err)) != TG_OK)
                goto done;
        }
    const unsigned char *data = buf + 8 + hlen;
    for (size_t i = 0; i < nt; i++) {  // in header order
        const st_info *t = &infos[i];
        size_t nb = (size_t)(t->end - t->begin);
        char *nm = strdup(t->name);
        void *copy = malloc(nb ? nb : 1);
        if (copy && nb) memcpy(copy, data + t->begin, nb);
        if (!nm || !copy) {
            free(nm);
            free(copy);
            st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory reading tensor '%s'", file,
                              t->name);
            goto done;
        }
        st = tg_statedict_append_owned(sd, nm, t->dtype, t->ndim, t->shape, copy, nb, err);
        if (st != TG_OK) goto done;
    }
done:
    free(order);
    free(infos);
    cJSON_Delete(root);
    return st;
}

// Appends a JSON string literal (cJSON's escaping) to a growing header.
static int add_json_str(cJSON *obj, const char *key, cJSON *val) {
    if (!val) return 0;
    cJSON_AddItemToObject(obj, key, val);
    return 1;
}

tg_status tg_safetensors_write(const char *path, const tg_statedict *sd, tg_error *err) {
    tg_status st = TG_OK;
    char *json = NULL;
    unsigned char *hdr = NULL;
    cJSON *root = cJSON_CreateObject();
    if (!root) goto nomem;
    if (sd->n_meta) {
        cJSON *m = cJSON_CreateObject();
        if (!add_json_str(root, "__metadata__", m)) goto nomem;
        for (size_t i = 0; i < sd->n_meta; i++)
            if (!add_json_str(m, sd->meta_keys[i], cJSON_CreateString(sd->meta_vals[i])))
                goto nomem;
    }
    uint64_t off = 0;
    for (size_t i = 0; i < sd->n; i++) {
        const tg_sd_entry *e = &sd->entries[i];
        if (!strcmp(e->name, "__metadata__")) {
            st = tg_error_set(err, TG_ERR_VALUE,
                              "%s: a tensor cannot be named '__metadata__' in safetensors", path);
            goto done;
        }
        cJSON *t = cJSON_CreateObject();
        if (!add_json_str(root, e->name, t)) goto nomem;
        double dims[TG_SD_MAX_DIMS];
        for (int d = 0; d < e->ndim; d++) dims[d] = (double)e->shape[d];
        double offs[2] = {(double)off, (double)(off + e->nbytes)};
        if (!add_json_str(t, "dtype", cJSON_CreateString(tg_dt_name(e->dtype))) ||
            !add_json_str(t, "shape", cJSON_CreateDoubleArray(dims, e->ndim)) ||
            !add_json_str(t, "data_offsets", cJSON_CreateDoubleArray(offs, 2)))
            goto nomem;
        off += e->nbytes;
    }
    json = cJSON_PrintUnformatted(root);
    if (!json) goto nomem;
    size_t jlen = strlen(json), padded = (jlen + 7) / 8 * 8;
    hdr = malloc(8 + padded);
    if (!hdr) goto nomem;
    for (int i = 0; i < 8; i++) hdr[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(hdr + 8, json, jlen);
    memset(hdr + 8 + jlen, ' ', padded - jlen);
    tg_atomic_file f;
    if ((st = tg_atomic_open(&f, path, err)) != TG_OK) goto done;
    if ((st = tg_atomic_write(&f, hdr, 8 + padded, err)) != TG_OK) goto done;
    for (size_t i = 0; i < sd->n; i++)
        if ((st = tg_atomic_write(&f, sd->entries[i].data, sd->entries[i].nbytes, err)) != TG_OK)
            goto done;  // the write aborted the file
    st = tg_atomic_commit(&f, err);
    goto done;
nomem:
    st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory building the header", path);
done:
    free(hdr);
    free(json);
    cJSON_Delete(root);
    return st;
}
