// statedict.h: an ordered list of named tensors of any dtype plus string metadata: what a
// PyTorch state_dict or a safetensors file holds. The container only: the readers and
// writers (pth.c, safetensors.c) fill and read it, weightfile.h loads and saves files of
// either format, app/weights.c copies it into a model. Everything here is owned by the
// tg_statedict (free with tg_statedict_free). Tensors are stored contiguous, row-major,
// little-endian.
#ifndef TG_STATEDICT_H
#define TG_STATEDICT_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define TG_SD_MAX_DIMS 8

typedef enum {
    TG_DT_F32,
    TG_DT_F64,
    TG_DT_F16,
    TG_DT_BF16,
    TG_DT_I64,
    TG_DT_I32,
    TG_DT_I16,
    TG_DT_I8,
    TG_DT_U8,
    TG_DT_BOOL,
} tg_dt;

typedef struct {
    char *name;
    tg_dt dtype;
    int ndim;  // 0 for a 0-dim tensor (numel 1)
    int64_t shape[TG_SD_MAX_DIMS];
    void *data;     // numel * element size bytes
    size_t nbytes;
} tg_sd_entry;

typedef struct {
    tg_sd_entry *entries;
    size_t n, cap;
    char **meta_keys;  // safetensors __metadata__ (string -> string), in insertion order
    char **meta_vals;
    size_t n_meta;
} tg_statedict;

void tg_statedict_init(tg_statedict *sd);
void tg_statedict_free(tg_statedict *sd);
size_t tg_dt_size(tg_dt dt);
const char *tg_dt_name(tg_dt dt);  // safetensors names: "F32", "I64", "BF16", ...
int64_t tg_sd_entry_numel(const tg_sd_entry *e);
// Appends a copy of data (nbytes = numel * element size). Replaces an entry of the same name.
tg_status tg_statedict_add(tg_statedict *sd, const char *name, tg_dt dtype, int ndim,
                           const int64_t *shape, const void *data, tg_error *err);
const tg_sd_entry *tg_statedict_find(const tg_statedict *sd, const char *name);
tg_status tg_statedict_set_meta(tg_statedict *sd, const char *key, const char *value,
                                tg_error *err);
const char *tg_statedict_get_meta(const tg_statedict *sd, const char *key);  // NULL if absent

// For the readers: appends an entry taking ownership of name and data (malloc'd; freed even
// on failure). No duplicate check: the caller guarantees the name is new (readers check it
// themselves).
tg_status tg_statedict_append_owned(tg_statedict *sd, char *name, tg_dt dtype, int ndim,
                                    const int64_t *shape, void *data, size_t nbytes,
                                    tg_error *err);
// Number of NaN and infinite values of a floating-point entry (F32, F64, F16, BF16), read
// from the bit patterns (all-ones exponent); 0 for integer and bool entries.
int64_t tg_sd_entry_nonfinite(const tg_sd_entry *e);
// Total number of elements over all entries (the parameter count `info` prints).
int64_t tg_statedict_numel(const tg_statedict *sd);
// Parses a safetensors dtype name ("F32", "BF16", ...). Returns 0 if unknown.
int tg_dt_from_name(const char *name, tg_dt *dt);

#endif
