// pickle.h: a restricted pickle interpreter for the data a PyTorch state_dict pickles.
// It builds plain values (ints, strings, tuples, lists, dicts) and three torch objects:
// allowed globals, storages (from BINPERSID persistent ids) and tensors (from REDUCE of
// torch._utils._rebuild_tensor_v2 and friends). Nothing is ever called or executed.
//
// Safety rules: GLOBAL/STACK_GLOBAL only from the allowlist (collections.OrderedDict,
// torch._utils._rebuild_tensor_v2, _rebuild_tensor, _rebuild_parameter, torch.*Storage);
// any other is refused with its name. Every opcode checks the types it works on (SETITEM(S)
// only on a dict, APPEND(S) only on a list, REDUCE only on an allowed callable with the
// argument types it expects, BUILD only on a dict). Stack depth, MARK depth, memo indices,
// string lengths and dimension counts are bounded.
#ifndef TG_PICKLE_H
#define TG_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "statedict.h"

#define TG_PK_MAX_STACK 100000
#define TG_PK_MAX_MARKS 10000
#define TG_PK_MAX_MEMO (1 << 20)
#define TG_PK_MAX_STR (1 << 20)

typedef enum {
    TG_PK_NONE,
    TG_PK_BOOL,
    TG_PK_INT,
    TG_PK_BIGINT,   // LONG1 wider than 64 bits (the legacy magic number): raw LE bytes in str
    TG_PK_FLOAT,
    TG_PK_STR,
    TG_PK_BYTES,
    TG_PK_TUPLE,
    TG_PK_LIST,
    TG_PK_DICT,
    TG_PK_GLOBAL,
    TG_PK_STORAGE,
    TG_PK_TENSOR,
} tg_pk_kind;

typedef enum {
    TG_PK_G_ORDERED_DICT,
    TG_PK_G_REBUILD_TENSOR_V2,
    TG_PK_G_REBUILD_TENSOR,
    TG_PK_G_REBUILD_PARAMETER,
    TG_PK_G_STORAGE,
} tg_pk_global;

typedef struct tg_pk_obj tg_pk_obj;
struct tg_pk_obj {
    tg_pk_kind kind;
    union {
        int b;
        int64_t i;
        double f;
        struct {
            char *s;  // NUL-terminated copy; len excludes the NUL
            size_t len;
        } str;        // STR, BYTES, BIGINT
        struct {
            tg_pk_obj **items;
            size_t n, cap;
        } seq;        // TUPLE, LIST
        struct {
            tg_pk_obj **keys, **vals;  // insertion order; a repeated key is appended again
            size_t n, cap;
        } dict;
        struct {
            tg_pk_global g;
            tg_dt dt;  // TG_PK_G_STORAGE
        } glob;
        struct {
            tg_dt dt;
            const char *key;     // record name (data/<key>); the root key for a legacy view
            const char *location;
            int64_t numel;       // elements of the storage (of the view, for a legacy view)
            int64_t view_offset; // legacy storage views: offset in elements into the root
            int64_t root_numel;  // elements of the root storage
        } storage;
        struct {
            tg_pk_obj *storage;
            int64_t offset;  // in elements
            int ndim;
            int64_t size[TG_SD_MAX_DIMS], stride[TG_SD_MAX_DIMS];
        } tensor;
    } u;
};

// Owns every object it creates; they live until tg_pickle_free.
typedef struct {
    tg_pk_obj **all;
    size_t n_all, cap_all;
} tg_pickle;

void tg_pickle_init(tg_pickle *vm);
void tg_pickle_free(tg_pickle *vm);
// Runs one pickle from buf (up to and including STOP). *used receives the bytes consumed.
// what names the record in messages ("model.pth: data.pkl").
tg_status tg_pickle_load(tg_pickle *vm, const unsigned char *buf, size_t n, size_t *used,
                         tg_pk_obj **result, const char *what, tg_error *err);
const char *tg_pk_kind_name(tg_pk_kind k);

#endif
