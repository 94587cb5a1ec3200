// statedict.c: the in-memory state dict (names, dtypes, shapes, bytes, string metadata).
// See statedict.h; files are weightfile.c's.
#include "statedict.h"

#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tgfinetune's io assumes a little-endian host (checkpoint bytes are used as they are)"
#endif

static const struct {
    tg_dt dt;
    const char *name;
    size_t size;
} DTS[] = {
    {TG_DT_F32, "F32", 4}, {TG_DT_F64, "F64", 8}, {TG_DT_F16, "F16", 2},
    {TG_DT_BF16, "BF16", 2}, {TG_DT_I64, "I64", 8}, {TG_DT_I32, "I32", 4},
    {TG_DT_I16, "I16", 2}, {TG_DT_I8, "I8", 1}, {TG_DT_U8, "U8", 1},
    {TG_DT_BOOL, "BOOL", 1},
};
#define N_DTS (sizeof DTS / sizeof DTS[0])

size_t tg_dt_size(tg_dt dt) {
    TG_ASSERT((unsigned)dt < N_DTS, "tg_dt out of range");
    return DTS[dt].size;
}

const char *tg_dt_name(tg_dt dt) {
    TG_ASSERT((unsigned)dt < N_DTS, "tg_dt out of range");
    return DTS[dt].name;
}

int tg_dt_from_name(const char *name, tg_dt *dt) {
    for (size_t i = 0; i < N_DTS; i++)
        if (!strcmp(DTS[i].name, name)) {
            *dt = DTS[i].dt;
            return 1;
        }
    return 0;
}

void tg_statedict_init(tg_statedict *sd) {
    memset(sd, 0, sizeof *sd);
}

void tg_statedict_free(tg_statedict *sd) {
    for (size_t i = 0; i < sd->n; i++) {
        free(sd->entries[i].name);
        free(sd->entries[i].data);
    }
    free(sd->entries);
    for (size_t i = 0; i < sd->n_meta; i++) {
        free(sd->meta_keys[i]);
        free(sd->meta_vals[i]);
    }
    free(sd->meta_keys);
    free(sd->meta_vals);
    memset(sd, 0, sizeof *sd);
}

int64_t tg_sd_entry_numel(const tg_sd_entry *e) {
    int64_t n = 1;
    for (int i = 0; i < e->ndim; i++) n *= e->shape[i];
    return n;
}

int64_t tg_sd_entry_nonfinite(const tg_sd_entry *e) {
    // an IEEE value is NaN or infinite exactly when its exponent bits are all ones
    uint64_t mask;
    switch (e->dtype) {
    case TG_DT_F64:
        mask = 0x7ff0000000000000u;
        break;
    case TG_DT_F32:
        mask = 0x7f800000u;
        break;
    case TG_DT_F16:
        mask = 0x7c00u;
        break;
    case TG_DT_BF16:
        mask = 0x7f80u;
        break;
    default:
        return 0;
    }
    size_t size = tg_dt_size(e->dtype), n = e->nbytes / size;
    const unsigned char *p = e->data;
    int64_t count = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 0;
        memcpy(&v, p + i * size, size);  // little-endian host (checked above)
        count += (v & mask) == mask;
    }
    return count;
}

int64_t tg_statedict_numel(const tg_statedict *sd) {
    int64_t n = 0;
    for (size_t i = 0; i < sd->n; i++) n += tg_sd_entry_numel(&sd->entries[i]);
    return n;
}

const tg_sd_entry *tg_statedict_find(const tg_statedict *sd, const char *name) {
    for (size_t i = 0; i < sd->n; i++)
        if (!strcmp(sd->entries[i].name, name)) return &sd->entries[i];
    return NULL;
}

// numel * element size with overflow checks; -1 on a negative dim or overflow.
static int entry_nbytes(tg_dt dtype, int ndim, const int64_t *shape, size_t *out) {
    size_t n = tg_dt_size(dtype);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (__builtin_mul_overflow(n, (size_t)shape[i], &n)) return -1;
    }
    *out = n;
    return 0;
}

tg_status tg_statedict_append_owned(tg_statedict *sd, char *name, tg_dt dtype, int ndim,
                                    const int64_t *shape, void *data, size_t nbytes,
                                    tg_error *err) {
    TG_ASSERT(ndim >= 0 && ndim <= TG_SD_MAX_DIMS, "ndim must be 0..TG_SD_MAX_DIMS");
    size_t want;
    if (entry_nbytes(dtype, ndim, shape, &want) != 0 || want != nbytes) {
        tg_error_set(err, TG_ERR_SHAPE, "tensor '%s': %zu bytes do not match its shape and dtype",
                     name ? name : "?", nbytes);
        goto fail;
    }
    if (!name) goto nomem;
    if (sd->n == sd->cap) {
        size_t cap = sd->cap ? sd->cap * 2 : 64;
        tg_sd_entry *e = realloc(sd->entries, cap * sizeof *e);
        if (!e) goto nomem;
        sd->entries = e;
        sd->cap = cap;
    }
    tg_sd_entry *e = &sd->entries[sd->n++];
    memset(e, 0, sizeof *e);
    e->name = name;
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->data = data;
    e->nbytes = nbytes;
    return TG_OK;
nomem:
    tg_error_set(err, TG_ERR_NOMEM, "out of memory adding tensor '%s'", name ? name : "?");
fail:
    free(name);
    free(data);
    return err ? err->status : TG_ERR_NOMEM;
}

tg_status tg_statedict_add(tg_statedict *sd, const char *name, tg_dt dtype, int ndim,
                           const int64_t *shape, const void *data, tg_error *err) {
    TG_ASSERT(ndim >= 0 && ndim <= TG_SD_MAX_DIMS, "ndim must be 0..TG_SD_MAX_DIMS");
    size_t nbytes;
    if (entry_nbytes(dtype, ndim, shape, &nbytes) != 0)
        return tg_error_set(err, TG_ERR_SHAPE, "tensor '%s': negative or overflowing shape",
                            name);
    void *copy = malloc(nbytes ? nbytes : 1);
    if (!copy) return tg_error_set(err, TG_ERR_NOMEM, "tensor '%s': out of memory (%zu bytes)",
                                   name, nbytes);
    if (nbytes) memcpy(copy, data, nbytes);
    for (size_t i = 0; i < sd->n; i++) {
        tg_sd_entry *e = &sd->entries[i];
        if (strcmp(e->name, name)) continue;
        free(e->data);  // same name: replace in place, keeping the position
        e->data = copy;
        e->nbytes = nbytes;
        e->dtype = dtype;
        e->ndim = ndim;
        for (int d = 0; d < ndim; d++) e->shape[d] = shape[d];
        return TG_OK;
    }
    char *nm = strdup(name);
    if (!nm) {
        free(copy);
        return tg_error_set(err, TG_ERR_NOMEM, "out of memory adding tensor '%s'", name);
    }
    return tg_statedict_append_owned(sd, nm, dtype, ndim, shape, copy, nbytes, err);
}

tg_status tg_statedict_set_meta(tg_statedict *sd, const char *key, const char *value,
                                tg_error *err) {
    char *v = strdup(value);
    if (!v) goto nomem;
    for (size_t i = 0; i < sd->n_meta; i++)
        if (!strcmp(sd->meta_keys[i], key)) {
            free(sd->meta_vals[i]);
            sd->meta_vals[i] = v;
            return TG_OK;
        }
    char *k = strdup(key);
    char **ks = realloc(sd->meta_keys, (sd->n_meta + 1) * sizeof *ks);
    if (ks) sd->meta_keys = ks;
    char **vs = realloc(sd->meta_vals, (sd->n_meta + 1) * sizeof *vs);
    if (vs) sd->meta_vals = vs;
    if (!k || !ks || !vs) {
        free(k);
        free(v);
        goto nomem;
    }
    sd->meta_keys[sd->n_meta] = k;
    sd->meta_vals[sd->n_meta] = v;
    sd->n_meta++;
    return TG_OK;
nomem:
    return tg_error_set(err, TG_ERR_NOMEM, "out of memory setting metadata '%s'", key);
}

const char *tg_statedict_get_meta(const tg_statedict *sd, const char *key) {
    for (size_t i = 0; i < sd->n_meta; i++)
        if (!strcmp(sd->meta_keys[i], key)) return sd->meta_vals[i];
    return NULL;
}
