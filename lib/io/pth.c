// pth.c: PyTorch checkpoints (torch.save). Reads the zip format of torch >= 1.6
// (<prefix>/data.pkl + <prefix>/data/<key> records) and the legacy format (consecutive
// pickles, then each storage as int64 numel + bytes), through the restricted pickle VM.
// Tensors are copied out contiguous in logical order, applying storage offset and strides,
// after checking them against the real size of their record. Writes the zip format the way
// torch.save does (stored entries, data aligned to 64 bytes, pickle protocol 2).
#include "pth.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "pickle.h"
#include "zip.h"

// 0x1950a86a20f9469cfc6c little-endian: the first pickle of a legacy file.
static const unsigned char LEGACY_MAGIC[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                               0x20, 0x6a, 0xa8, 0x50, 0x19};

typedef struct {
    const char *key;
    const unsigned char *data;
    size_t len;
    void *owned;  // inflated copy, freed at the end
    bool counted; // its bytes are in the decode budget's storage total (check_budget)
} rec;

typedef struct {
    const char *file;
    tg_zip *zip;  // NULL for the legacy format
    const char *prefix;
    rec *recs;
    size_t nrecs, cap;
    size_t *slots;  // (nslots,) open-addressing hash of recs by key: index + 1, 0 free
    size_t nslots;  // a power of two, at least twice nrecs
} src;

static void src_free(src *s) {
    for (size_t i = 0; i < s->nrecs; i++) free(s->recs[i].owned);
    free(s->recs);
    free(s->slots);
}

static size_t key_hash(const char *k) {  // FNV-1a
    uint64_t h = 0xcbf29ce484222325u;
    for (; *k; k++) h = (h ^ (unsigned char)*k) * 0x100000001b3u;
    return (size_t)(h ^ (h >> 32));
}

static void slot_insert(size_t *slots, size_t nslots, const char *key, size_t index) {
    size_t i = key_hash(key);
    while (slots[i & (nslots - 1)]) i++;
    slots[i & (nslots - 1)] = index + 1;
}

// The first record added under key, or NULL. A hash, not a scan: a checkpoint with tens of
// thousands of storages looked each one up in every record before it (65,531 took 26 s).
static rec *rec_find(const src *s, const char *key) {
    if (!s->nslots) return NULL;
    for (size_t i = key_hash(key);; i++) {
        size_t k = s->slots[i & (s->nslots - 1)];
        if (!k) return NULL;
        if (!strcmp(s->recs[k - 1].key, key)) return &s->recs[k - 1];
    }
}

static tg_status rec_add(src *s, const char *key, const unsigned char *data, size_t len,
                         void *owned, tg_error *err) {
    if (s->nrecs == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        rec *r = realloc(s->recs, cap * sizeof *r);
        if (!r) {
            free(owned);
            return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", s->file);
        }
        s->recs = r;
        s->cap = cap;
    }
    if (2 * (s->nrecs + 1) > s->nslots) {
        size_t n = s->nslots ? 2 * s->nslots : 128;
        size_t *slots = calloc(n, sizeof *slots);
        if (!slots) {
            free(owned);
            return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", s->file);
        }
        for (size_t i = 0; i < s->nrecs; i++) slot_insert(slots, n, s->recs[i].key, i);
        free(s->slots);
        s->slots = slots;
        s->nslots = n;
    }
    s->recs[s->nrecs] = (rec){key, data, len, owned, false};
    slot_insert(s->slots, s->nslots, key, s->nrecs);
    s->nrecs++;
    return TG_OK;
}

// The bytes of storage `key`: a legacy record, or the zip entry <prefix>/data/<key>.
static tg_status rec_get(src *s, const char *key, rec **out, tg_error *err) {
    rec *found = rec_find(s, key);
    if (found) {
        *out = found;
        return TG_OK;
    }
    if (!s->zip)
        return tg_error_set(err, TG_ERR_FORMAT, "%s: storage '%s' has no data record", s->file,
                            key);
    size_t nl = strlen(s->prefix) + strlen(key) + 8;
    char *name = malloc(nl);
    if (!name) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", s->file);
    snprintf(name, nl, "%s/data/%s", s->prefix, key);
    const tg_zip_entry *e = tg_zip_find(s->zip, name);
    free(name);
    if (!e)
        return tg_error_set(err, TG_ERR_FORMAT, "%s: storage record '%s/data/%s' is missing",
                            s->file, s->prefix, key);
    const unsigned char *d;
    size_t len;
    void *owned;
    tg_status st = tg_zip_read(s->zip, e, &d, &len, &owned, err);
    if (!st) st = rec_add(s, key, d, len, owned, err);
    if (!st) *out = &s->recs[s->nrecs - 1];
    return st;
}

// Checks one tensor against its storage's record: *r is the record, *nbytes the size of the
// tensor made contiguous.
static tg_status check_view(src *s, const char *name, const tg_pk_obj *t, rec **r,
                            uint64_t *nbytes, tg_error *err) {
    const tg_pk_obj *stg = t->u.tensor.storage;
    tg_dt dt = stg->u.storage.dt;
    size_t es = tg_dt_size(dt);
    tg_status st = rec_get(s, stg->u.storage.key, r, err);
    if (st) {
        char old[TG_ERR_MSG_MAX];
        snprintf(old, sizeof old, "%s", err ? err->msg : "");
        return tg_error_set(err, st, "%s (reading tensor '%s')", old, name);
    }
    uint64_t root_bytes;
    if (__builtin_mul_overflow((uint64_t)stg->u.storage.root_numel, (uint64_t)es, &root_bytes) ||
        root_bytes > (*r)->len)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: tensor '%s': storage too small: storage '%s' declares %lld "
                            "elements of %s but its record holds %zu bytes", s->file, name,
                            stg->u.storage.key, (long long)stg->u.storage.root_numel,
                            tg_dt_name(dt), (*r)->len);
    int nd = t->u.tensor.ndim;
    const int64_t *size = t->u.tensor.size, *stride = t->u.tensor.stride;
    uint64_t numel = 1, last = (uint64_t)t->u.tensor.offset;
    int ovf = 0;
    for (int i = 0; i < nd; i++) {
        ovf |= __builtin_mul_overflow(numel, (uint64_t)size[i], &numel);
        uint64_t step;
        if (size[i] > 0) {
            ovf |= __builtin_mul_overflow((uint64_t)(size[i] - 1), (uint64_t)stride[i], &step);
            ovf |= __builtin_add_overflow(last, step, &last);
        }
    }
    ovf |= __builtin_mul_overflow(numel, (uint64_t)es, nbytes);
    if (ovf || *nbytes > SIZE_MAX / 2)
        return tg_error_set(err, TG_ERR_FORMAT, "%s: tensor '%s': size overflows", s->file, name);
    if (numel > 0 && last >= (uint64_t)stg->u.storage.numel)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: tensor '%s': storage too small: offset %lld, sizes and strides "
                            "reach element %llu but storage '%s' has %lld elements", s->file,
                            name, (long long)t->u.tensor.offset, (unsigned long long)last,
                            stg->u.storage.key, (long long)stg->u.storage.numel);
    return TG_OK;
}

// Copies one tensor out of its storage, contiguous in logical (row-major) order.
static tg_status materialize(src *s, const char *name, const tg_pk_obj *t, tg_statedict *sd,
                             tg_error *err) {
    const tg_pk_obj *stg = t->u.tensor.storage;
    size_t es = tg_dt_size(stg->u.storage.dt);
    rec *r = NULL;
    uint64_t nbytes;
    tg_status st = check_view(s, name, t, &r, &nbytes, err);
    if (st) return st;
    int nd = t->u.tensor.ndim;
    const int64_t *size = t->u.tensor.size, *stride = t->u.tensor.stride;
    uint64_t numel = nbytes / es;
    unsigned char *out = malloc(nbytes ? (size_t)nbytes : 1);
    char *nm = strdup(name);
    if (!out || !nm) {
        free(out);
        free(nm);
        return tg_error_set(err, TG_ERR_NOMEM, "%s: tensor '%s': out of memory (%llu bytes)",
                            s->file, name, (unsigned long long)nbytes);
    }
    if (numel > 0) {
        // in bounds: offset <= last < numel of the view, and the view lies in the root
        const unsigned char *base =
            r->data + (size_t)(stg->u.storage.view_offset + t->u.tensor.offset) * es;
        if (nd == 0) {
            memcpy(out, base, es);
        } else {
            // odometer over the outer dims; the innermost dim is a run (memcpy if stride 1)
            int64_t idx[TG_SD_MAX_DIMS] = {0};
            size_t inner = (size_t)size[nd - 1], o = 0;
            for (;;) {
                size_t off = 0;
                for (int i = 0; i < nd - 1; i++) off += (size_t)(idx[i] * stride[i]);
                const unsigned char *p = base + off * es;
                if (stride[nd - 1] == 1) {
                    memcpy(out + o, p, inner * es);
                } else {
                    for (size_t j = 0; j < inner; j++)
                        memcpy(out + o + j * es, p + j * (size_t)stride[nd - 1] * es, es);
                }
                o += inner * es;
                int d = nd - 2;
                while (d >= 0 && ++idx[d] == size[d]) idx[d--] = 0;
                if (d < 0) break;
            }
        }
    }
    return tg_statedict_append_owned(sd, nm, stg->u.storage.dt, nd, size, out, (size_t)nbytes,
                                     err);
}

typedef struct {
    const tg_pk_obj *key, *val;
    size_t pos;  // insertion position
} kv;

static int cmp_kv(const void *a, const void *b) {
    const kv *x = a, *y = b;
    int c = strcmp(x->key->u.str.s, y->key->u.str.s);
    if (c) return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}
static int cmp_pos(const void *a, const void *b) {
    const kv *x = a, *y = b;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void format_dims(char *buf, size_t n, int nd, const int64_t *v) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < nd && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)v[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

// The decode budget: a view's contiguous copy can be far larger than its storage (a stride of
// 0, as expand() makes, or strides that overlap), so a tiny file could ask for gigabytes.
// All tensors together may decode to at most max(2 x S, S + TG_PTH_EXPAND_ALLOWANCE) bytes,
// S being the bytes of the storage records they use (each record counted once).
// torch.zeros(1).expand(10**6) (4 MB from 4 bytes) loads; a tensor of shape (10**9,) and
// stride (0,) is refused before anything is allocated, naming the tensor that expands most.
static tg_status check_budget(src *s, const kv *items, size_t n, tg_error *err) {
    uint64_t stored = 0, decoded = 0;
    size_t worst = 0;
    int64_t worst_gain = INT64_MIN;
    uint64_t worst_bytes = 0, worst_rec = 0;
    for (size_t i = 0; i < n; i++) {
        rec *r;
        uint64_t nb;
        tg_status st = check_view(s, items[i].key->u.str.s, items[i].val, &r, &nb, err);
        if (st) return st;
        if (!r->counted) {
            r->counted = true;
            stored += r->len;
        }
        if (__builtin_add_overflow(decoded, nb, &decoded)) decoded = UINT64_MAX;
        int64_t gain = (int64_t)nb - (int64_t)r->len;
        if (gain > worst_gain) {
            worst_gain = gain;
            worst = i;
            worst_bytes = nb;
            worst_rec = r->len;
        }
    }
    uint64_t limit =
        stored + (stored > TG_PTH_EXPAND_ALLOWANCE ? stored : TG_PTH_EXPAND_ALLOWANCE);
    if (decoded <= limit) return TG_OK;
    const tg_pk_obj *t = items[worst].val;
    char shape[200], strides[200];
    format_dims(shape, sizeof shape, t->u.tensor.ndim, t->u.tensor.size);
    format_dims(strides, sizeof strides, t->u.tensor.ndim, t->u.tensor.stride);
    return tg_error_set(err, TG_ERR_FORMAT,
                        "%s: tensor '%.200s' (shape %s, strides %s) decodes to %llu bytes from a "
                        "storage record of %llu bytes; the file's tensors would decode to %llu "
                        "bytes, more than the limit of %llu for its %llu bytes of storage (twice "
                        "that, or %d MiB more, whichever is larger): expanded or overlapping "
                        "views this large are refused as hostile (save a genuine one with "
                        ".contiguous() or .clone())",
                        s->file, items[worst].key->u.str.s, shape, strides,
                        (unsigned long long)worst_bytes, (unsigned long long)worst_rec,
                        (unsigned long long)decoded, (unsigned long long)limit,
                        (unsigned long long)stored,
                        (int)(TG_PTH_EXPAND_ALLOWANCE >> 20));
}

static int all_tensors(const tg_pk_obj *d) {
    for (size_t i = 0; i < d->u.dict.n; i++)
        if (d->u.dict.vals[i]->kind != TG_PK_TENSOR) return 0;
    return 1;
}

// The state_dict: the top-level dict, or its "state_dict"/"model" entry when the top level
// is a training checkpoint holding one.
static const tg_pk_obj *pick_state_dict(const tg_pk_obj *root) {
    if (root->kind != TG_PK_DICT || all_tensors(root)) return root;
    static const char *nested[] = {"state_dict", "model_state_dict", "model"};
    for (size_t k = 0; k < sizeof nested / sizeof nested[0]; k++)
        for (size_t i = 0; i < root->u.dict.n; i++) {
            const tg_pk_obj *key = root->u.dict.keys[i], *v = root->u.dict.vals[i];
            if (key->kind == TG_PK_STR && !strcmp(key->u.str.s, nested[k]) &&
                v->kind == TG_PK_DICT && all_tensors(v))
                return v;
        }
    return root;
}

static tg_status convert(src *s, const tg_pk_obj *root, tg_statedict *sd, tg_error *err) {
    const tg_pk_obj *d = pick_state_dict(root);
    if (d->kind != TG_PK_DICT)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: the checkpoint holds a %s, not a state_dict (a dict of tensors)",
                            s->file, tg_pk_kind_name(d->kind));
    size_t n = d->u.dict.n;
    kv *items = malloc((n ? n : 1) * sizeof *items);
    if (!items) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", s->file);
    tg_status st = TG_OK;
    for (size_t i = 0; i < n; i++) {
        const tg_pk_obj *k = d->u.dict.keys[i], *v = d->u.dict.vals[i];
        if (k->kind != TG_PK_STR || strlen(k->u.str.s) != k->u.str.len) {
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "%s: state_dict key #%zu is a %s, not a string without NUL bytes",
                              s->file, i, tg_pk_kind_name(k->kind));
            goto done;
        }
        if (v->kind != TG_PK_TENSOR) {
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "%s: state_dict entry '%.200s' is a %s, not a tensor", s->file,
                              k->u.str.s, tg_pk_kind_name(v->kind));
            goto done;
        }
        items[i] = (kv){k, v, i};
    }
    // Python dict semantics for a repeated key: first position, last value.
    qsort(items, n, sizeof *items, cmp_kv);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && !strcmp(items[m - 1].key->u.str.s, items[i].key->u.str.s))
            items[m - 1].val = items[i].val;
        else
            items[m++] = items[i];
    }
    qsort(items, m, sizeof *items, cmp_pos);
    if ((st = check_budget(s, items, m, err))) goto done;
    for (size_t i = 0; i < m && !st; i++)
        st = materialize(s, items[i].key->u.str.s, items[i].val, sd, err);
done:
    free(items);
    return st;
}

static tg_status read_zip(const unsigned char *buf, size_t n, const char *file, tg_statedict *sd,
                          tg_error *err) {
    tg_zip z;
    tg_pickle vm;
    tg_pickle_init(&vm);
    src s = {.file = file, .zip = &z};
    char *prefix = NULL, *name = NULL, what[600];
    void *pkl_owned = NULL, *bo_owned = NULL;
    tg_status st = tg_zip_open(&z, buf, n, file, err);
    if (st) return st;
    if (z.count == 0) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: empty zip: not a PyTorch checkpoint", file);
        goto done;
    }
    const char *slash = strchr(z.entries[0].name, '/');
    if (!slash || slash == z.entries[0].name) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "%s: zip entry '%.200s' has no folder prefix: not a PyTorch checkpoint",
                          file, z.entries[0].name);
        goto done;
    }
    prefix = strndup(z.entries[0].name, (size_t)(slash - z.entries[0].name));
    name = malloc(strlen(prefix) + 32);
    if (!prefix || !name) {
        st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", file);
        goto done;
    }
    s.prefix = prefix;
    sprintf(name, "%s/byteorder", prefix);
    const tg_zip_entry *e = tg_zip_find(&z, name);
    if (e) {
        const unsigned char *bo;
        size_t blen;
        if ((st = tg_zip_read(&z, e, &bo, &blen, &bo_owned, err))) goto done;
        if (!(blen >= 6 && !memcmp(bo, "little", 6))) {
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "%s: byteorder is '%.*s': only little-endian checkpoints are "
                              "supported", file, (int)(blen < 16 ? blen : 16), (const char *)bo);
            goto done;
        }
    }
    sprintf(name, "%s/data.pkl", prefix);
    e = tg_zip_find(&z, name);
    if (!e) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "%s: no '%.200s' record: not a PyTorch state_dict checkpoint", file,
                          name);
        goto done;
    }
    const unsigned char *pkl;
    size_t plen;
    if ((st = tg_zip_read(&z, e, &pkl, &plen, &pkl_owned, err))) goto done;
    snprintf(what, sizeof what, "%s: %.200s", file, name);
    tg_pk_obj *root;
    if ((st = tg_pickle_load(&vm, pkl, plen, NULL, &root, what, err))) goto done;
    st = convert(&s, root, sd, err);
done:
    free(pkl_owned);
    free(bo_owned);
    free(name);
    free(prefix);
    src_free(&s);
    tg_pickle_free(&vm);
    tg_zip_close(&z);
    return st;
}

static int cmp_storage_key(const void *a, const void *b) {
    return strcmp((*(const tg_pk_obj *const *)a)->u.storage.key,
                  (*(const tg_pk_obj *const *)b)->u.storage.key);
}

static tg_status read_legacy(const unsigned char *buf, size_t n, const char *file,
                             tg_statedict *sd, tg_error *err) {
    tg_pickle vm;
    tg_pickle_init(&vm);
    src s = {.file = file};
    char what[600];
    snprintf(what, sizeof what, "%s (legacy format)", file);
    tg_pk_obj *magic, *proto, *info, *root, *keys;
    tg_pk_obj **stgs = NULL;
    size_t pos = 0, used, nstg = 0;
    tg_status st;
#define NEXT(obj)                                                                          \
    do {                                                                                   \
        if ((st = tg_pickle_load(&vm, buf + pos, n - pos, &used, &(obj), what, err))) goto done; \
        pos += used;                                                                       \
    } while (0)
    NEXT(magic);
    if (magic->kind != TG_PK_BIGINT || magic->u.str.len != sizeof LEGACY_MAGIC ||
        memcmp(magic->u.str.s, LEGACY_MAGIC, sizeof LEGACY_MAGIC)) {
        st = tg_error_set(err, TG_ERR_FORMAT,
                          "%s: a pickle but not a PyTorch checkpoint (no legacy magic number)",
                          file);
        goto done;
    }
    NEXT(proto);
    if (proto->kind != TG_PK_INT || proto->u.i != 1001) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: unsupported legacy protocol version", file);
        goto done;
    }
    NEXT(info);
    if (info->kind != TG_PK_DICT) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: legacy sys_info is not a dict", file);
        goto done;
    }
    for (size_t i = 0; i < info->u.dict.n; i++) {
        const tg_pk_obj *k = info->u.dict.keys[i], *v = info->u.dict.vals[i];
        if (k->kind == TG_PK_STR && !strcmp(k->u.str.s, "little_endian") &&
            !(v->kind == TG_PK_BOOL && v->u.b)) {
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "%s: big-endian checkpoint: only little-endian is supported", file);
            goto done;
        }
    }
    NEXT(root);
    NEXT(keys);
#undef NEXT
    if (keys->kind != TG_PK_LIST) {
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: legacy storage key list is a %s", file,
                          tg_pk_kind_name(keys->kind));
        goto done;
    }
    // Each record is int64 numel + numel elements; the element size comes from the storage
    // type that the pickle gives that key (looked up in the storages sorted by key).
    stgs = malloc((vm.n_all ? vm.n_all : 1) * sizeof *stgs);
    if (!stgs) {
        st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", file);
        goto done;
    }
    for (size_t j = 0; j < vm.n_all; j++)
        if (vm.all[j]->kind == TG_PK_STORAGE) stgs[nstg++] = vm.all[j];
    qsort(stgs, nstg, sizeof *stgs, cmp_storage_key);
    for (size_t i = 0; i < keys->u.seq.n; i++) {
        const tg_pk_obj *k = keys->u.seq.items[i];
        if (k->kind != TG_PK_STR) {
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: legacy storage key is a %s", file,
                              tg_pk_kind_name(k->kind));
            goto done;
        }
        // the storages sharing this key are adjacent in the sorted index
        size_t lo = 0, hi = nstg;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(stgs[mid]->u.storage.key, k->u.str.s) < 0) lo = mid + 1;
            else hi = mid;
        }
        int found = 0;
        tg_dt dt = TG_DT_U8;
        for (size_t j = lo; j < nstg && !strcmp(stgs[j]->u.storage.key, k->u.str.s); j++) {
            if (found && stgs[j]->u.storage.dt != dt) {
                st = tg_error_set(err, TG_ERR_FORMAT, "%s: storage '%s' used with two dtypes",
                                  file, k->u.str.s);
                goto done;
            }
            dt = stgs[j]->u.storage.dt;
            found = 1;
        }
        if (!found) {
            st = tg_error_set(err, TG_ERR_FORMAT, "%s: storage '%s' is not used by any tensor",
                              file, k->u.str.s);
            goto done;
        }
        if (n - pos < 8) {
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "%s: truncated: storage '%s' record missing at byte %zu", file,
                              k->u.str.s, pos);
            goto done;
        }
        uint64_t numel = 0, nbytes;
        for (int b = 7; b >= 0; b--) numel = numel << 8 | buf[pos + (size_t)b];
        pos += 8;
        if (__builtin_mul_overflow(numel, (uint64_t)tg_dt_size(dt), &nbytes) ||
            nbytes > n - pos) {
            st = tg_error_set(err, TG_ERR_FORMAT,
                              "%s: truncated: storage '%s' declares %llu elements but only %zu "
                              "bytes remain", file, k->u.str.s, (unsigned long long)numel,
                              n - pos);
            goto done;
        }
        if ((st = rec_add(&s, k->u.str.s, buf + pos, (size_t)nbytes, NULL, err))) goto done;
        pos += (size_t)nbytes;
    }
    st = convert(&s, root, sd, err);
done:
    free(stgs);
    src_free(&s);
    tg_pickle_free(&vm);
    return st;
}

tg_status tg_pth_read(const unsigned char *buf, size_t n, const char *file, tg_statedict *sd,
                      tg_error *err) {
    if (n >= 4 && !memcmp(buf, "PK\x03\x04", 4)) return read_zip(buf, n, file, sd, err);
    if (n >= 2 && buf[0] == 0x80) return read_legacy(buf, n, file, sd, err);
    return tg_error_set(err, TG_ERR_FORMAT, "%s: not a PyTorch checkpoint", file);
}

// ---- writer ----

typedef struct {
    unsigned char *p;
    size_t n, cap;
    int oom;
} pbuf;

static void pb_put(pbuf *b, const void *d, size_t k) {
    if (b->oom) return;
    if (b->n + k > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->n + k) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, k);
    b->n += k;
}
static void pb_op(pbuf *b, unsigned char op) {
    pb_put(b, &op, 1);
}
static void pb_str(pbuf *b, const char *s) {  // BINUNICODE
    size_t len = strlen(s);
    unsigned char h[5] = {'X', (unsigned char)len, (unsigned char)(len >> 8),
                          (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
    pb_put(b, h, 5);
    pb_put(b, s, len);
}
static void pb_int(pbuf *b, int64_t v) {
    unsigned char h[10];
    if (v >= 0 && v < 256) {
        h[0] = 'K';
        h[1] = (unsigned char)v;
        pb_put(b, h, 2);
    } else if (v >= 0 && v < 65536) {
        h[0] = 'M';
        h[1] = (unsigned char)v;
        h[2] = (unsigned char)(v >> 8);
        pb_put(b, h, 3);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        h[0] = 'J';
        for (int i = 0; i < 4; i++) h[1 + i] = (unsigned char)((uint64_t)v >> (8 * i));
        pb_put(b, h, 5);
    } else {  // LONG1 with 8 bytes of two's complement
        h[0] = 0x8a;
        h[1] = 8;
        for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)((uint64_t)v >> (8 * i));
        pb_put(b, h, 10);
    }
}
static void pb_global(pbuf *b, const char *mod, const char *name) {
    pb_op(b, 'c');
    pb_put(b, mod, strlen(mod));
    pb_op(b, '\n');
    pb_put(b, name, strlen(name));
    pb_op(b, '\n');
}

static const char *STORAGE_NAMES[] = {
    [TG_DT_F32] = "FloatStorage", [TG_DT_F64] = "DoubleStorage", [TG_DT_F16] = "HalfStorage",
    [TG_DT_BF16] = "BFloat16Storage", [TG_DT_I64] = "LongStorage", [TG_DT_I32] = "IntStorage",
    [TG_DT_I16] = "ShortStorage", [TG_DT_I8] = "CharStorage", [TG_DT_U8] = "ByteStorage",
    [TG_DT_BOOL] = "BoolStorage",
};

// data.pkl as torch.save writes it: OrderedDict of _rebuild_tensor_v2 calls whose storages
// are persistent ids ('storage', torch.XStorage, "<i>", 'cpu', numel).
static void build_pickle(pbuf *b, const tg_statedict *sd) {
    pb_op(b, 0x80);
    pb_op(b, 2);
    pb_global(b, "collections", "OrderedDict");
    pb_op(b, ')');
    pb_op(b, 'R');
    for (size_t i = 0; i < sd->n; i++) {
        const tg_sd_entry *e = &sd->entries[i];
        if (i % 1000 == 0) pb_op(b, '(');
        pb_str(b, e->name);
        pb_global(b, "torch._utils", "_rebuild_tensor_v2");
        pb_op(b, '(');
        pb_op(b, '(');
        pb_str(b, "storage");
        pb_global(b, "torch", STORAGE_NAMES[e->dtype]);
        char key[32];
        snprintf(key, sizeof key, "%zu", i);
        pb_str(b, key);
        pb_str(b, "cpu");
        pb_int(b, tg_sd_entry_numel(e));
        pb_op(b, 't');
        pb_op(b, 'Q');
        pb_int(b, 0);
        int64_t stride[TG_SD_MAX_DIMS], acc = 1;
        for (int d = e->ndim - 1; d >= 0; d--) {
            stride[d] = acc;
            acc *= e->shape[d] > 1 ? e->shape[d] : 1;
        }
        pb_op(b, '(');
        for (int d = 0; d < e->ndim; d++) pb_int(b, e->shape[d]);
        pb_op(b, 't');
        pb_op(b, '(');
        for (int d = 0; d < e->ndim; d++) pb_int(b, stride[d]);
        pb_op(b, 't');
        pb_op(b, 0x89);  // requires_grad=False
        pb_global(b, "collections", "OrderedDict");
        pb_op(b, ')');
        pb_op(b, 'R');
        pb_op(b, 't');
        pb_op(b, 'R');
        if (i % 1000 == 999 || i + 1 == sd->n) pb_op(b, 'u');
    }
    pb_op(b, '.');
}

// The folder name inside the zip: the file's basename without extension, as torch does.
static void archive_prefix(const char *path, char *out, size_t cap) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = 0;
    for (const char *p = base; *p && n + 1 < cap; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            c = '_';
        out[n++] = c;
    }
    out[n] = '\0';
    char *dot = strrchr(out, '.');
    if (dot) *dot = '\0';
    if (!out[0]) snprintf(out, cap, "archive");
}

tg_status tg_pth_write(const char *path, const tg_statedict *sd, tg_error *err) {
    pbuf b = {0};
    build_pickle(&b, sd);
    if (b.oom) {
        free(b.p);
        return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    }
    char prefix[128], name[192];
    archive_prefix(path, prefix, sizeof prefix);
    tg_atomic_file f;
    tg_zip_writer w;
    tg_status st = tg_atomic_open(&f, path, err);
    if (st) {
        free(b.p);
        return st;
    }
    tg_zip_writer_init(&w, &f);
    snprintf(name, sizeof name, "%s/data.pkl", prefix);
    st = tg_zip_writer_add(&w, name, b.p, b.n, 64, err);
    if (!st) {
        snprintf(name, sizeof name, "%s/byteorder", prefix);
        st = tg_zip_writer_add(&w, name, "little", 6, 64, err);
    }
    for (size_t i = 0; i < sd->n && !st; i++) {
        snprintf(name, sizeof name, "%s/data/%zu", prefix, i);
        st = tg_zip_writer_add(&w, name, sd->entries[i].data, sd->entries[i].nbytes, 64, err);
    }
    if (!st) {
        snprintf(name, sizeof name, "%s/version", prefix);
        st = tg_zip_writer_add(&w, name, "3\n", 2, 64, err);
    }
    if (!st) st = tg_zip_writer_finish(&w, err);
    if (!st) st = tg_atomic_commit(&f, err);
    else tg_atomic_abort(&f);
    tg_zip_writer_free(&w);
    free(b.p);
    return st;
}
