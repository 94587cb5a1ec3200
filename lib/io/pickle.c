// pickle.c: the restricted pickle VM (see pickle.h). It mirrors CPython's Unpickler for the
// opcodes a state_dict uses (protocols 2 to 5) with the safety checks of PyTorch's
// weights_only unpickler made stricter: nothing is called; REDUCE of an allowed global
// builds a plain record (an empty dict, a tensor description) after checking every argument.
#include "pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    tg_pickle *vm;
    const unsigned char *start, *p, *end;
    size_t op_at;  // offset of the current opcode, for messages
    const char *what;
    tg_error *err;
    tg_pk_obj **stack;
    size_t sp, scap;
    size_t *marks;  // stack heights at each MARK
    size_t nmarks, mcap;
    tg_pk_obj **memo;
    size_t memo_alloc, memo_count;
} pk_run;

const char *tg_pk_kind_name(tg_pk_kind k) {
    static const char *names[] = {"None",  "bool",  "int",  "int",    "float",   "str",  "bytes",
                                  "tuple", "list",  "dict", "global", "storage", "tensor"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

void tg_pickle_init(tg_pickle *vm) {
    memset(vm, 0, sizeof *vm);
}

void tg_pickle_free(tg_pickle *vm) {
    for (size_t i = 0; i < vm->n_all; i++) {
        tg_pk_obj *o = vm->all[i];
        switch (o->kind) {
        case TG_PK_STR:
        case TG_PK_BYTES:
        case TG_PK_BIGINT: free(o->u.str.s); break;
        case TG_PK_TUPLE:
        case TG_PK_LIST: free(o->u.seq.items); break;
        case TG_PK_DICT:
            free(o->u.dict.keys);
            free(o->u.dict.vals);
            break;
        default: break;
        }
        free(o);
    }
    free(vm->all);
    memset(vm, 0, sizeof *vm);
}

__attribute__((format(printf, 2, 3))) static tg_status bad(pk_run *r, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tg_error_set(r->err, TG_ERR_FORMAT, "%s: %s (pickle opcode at byte %zu)", r->what, msg,
                        r->op_at);
}

static tg_status nomem(pk_run *r) {
    return tg_error_set(r->err, TG_ERR_NOMEM, "%s: out of memory in the pickle reader", r->what);
}

static tg_pk_obj *new_obj(pk_run *r, tg_pk_kind kind) {
    tg_pickle *vm = r->vm;
    if (vm->n_all == vm->cap_all) {
        size_t cap = vm->cap_all ? vm->cap_all * 2 : 256;
        tg_pk_obj **a = realloc(vm->all, cap * sizeof *a);
        if (!a) return NULL;
        vm->all = a;
        vm->cap_all = cap;
    }
    tg_pk_obj *o = calloc(1, sizeof *o);
    if (!o) return NULL;
    o->kind = kind;
    vm->all[vm->n_all++] = o;
    return o;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 8;
    while (c < need) c *= 2;
    void *a = realloc(*arr, c * elem);
    if (!a) return 0;
    *arr = a;
    *cap = c;
    return 1;
}

static size_t cur_mark(const pk_run *r) {
    return r->nmarks ? r->marks[r->nmarks - 1] : 0;
}

static tg_status push(pk_run *r, tg_pk_obj *o) {
    if (!o) return nomem(r);
    if (r->sp >= TG_PK_MAX_STACK)
        return bad(r, "stack depth exceeds the cap of %d", TG_PK_MAX_STACK);
    if (!grow((void **)&r->stack, &r->scap, r->sp + 1, sizeof *r->stack)) return nomem(r);
    r->stack[r->sp++] = o;
    return TG_OK;
}

static tg_status pop(pk_run *r, tg_pk_obj **o) {
    *o = NULL;
    if (r->sp <= cur_mark(r)) return bad(r, "stack underflow");
    *o = r->stack[--r->sp];
    return TG_OK;
}

static tg_status top(pk_run *r, tg_pk_obj **o) {
    *o = NULL;
    if (r->sp <= cur_mark(r)) return bad(r, "stack underflow");
    *o = r->stack[r->sp - 1];
    return TG_OK;
}

// Pops the items above the last MARK, and the MARK: items are r->stack[*first .. r->sp).
static tg_status pop_mark(pk_run *r, size_t *first, size_t *count) {
    *first = *count = 0;
    if (!r->nmarks) return bad(r, "no MARK on the stack");
    *first = r->marks[--r->nmarks];
    *count = r->sp - *first;
    r->sp = *first;
    return TG_OK;
}

static tg_status need(pk_run *r, size_t k) {
    if ((size_t)(r->end - r->p) < k) return bad(r, "truncated pickle (needs %zu more bytes)", k);
    return TG_OK;
}

static uint64_t rd_le(const unsigned char *p, int k) {
    uint64_t v = 0;
    for (int i = k - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static tg_status make_str(pk_run *r, tg_pk_kind kind, uint64_t len) {
    if (len > TG_PK_MAX_STR) return bad(r, "string of %llu bytes exceeds the cap of %d",
                                        (unsigned long long)len, TG_PK_MAX_STR);
    tg_status st = need(r, (size_t)len);
    if (st) return st;
    tg_pk_obj *o = new_obj(r, kind);
    if (!o) return nomem(r);
    o->u.str.s = malloc((size_t)len + 1);
    if (!o->u.str.s) return nomem(r);
    memcpy(o->u.str.s, r->p, (size_t)len);
    o->u.str.s[len] = '\0';
    o->u.str.len = (size_t)len;
    r->p += len;
    return push(r, o);
}

static tg_status make_int(pk_run *r, int64_t v) {
    tg_pk_obj *o = new_obj(r, TG_PK_INT);
    if (o) o->u.i = v;
    return push(r, o);
}

// LONG1/LONG4: little-endian two's complement of n bytes.
static tg_status make_long(pk_run *r, uint64_t n) {
    if (n > 8) return make_str(r, TG_PK_BIGINT, n);
    tg_status st = need(r, (size_t)n);
    if (st) return st;
    uint64_t v = n ? rd_le(r->p, (int)n) : 0;
    if (n && n < 8 && (r->p[n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n);  // sign-extend
    r->p += n;
    return make_int(r, (int64_t)v);
}

static tg_status make_seq(pk_run *r, tg_pk_kind kind, size_t first, size_t count) {
    tg_pk_obj *o = new_obj(r, kind);
    if (!o) return nomem(r);
    if (count) {
        o->u.seq.items = malloc(count * sizeof *o->u.seq.items);
        if (!o->u.seq.items) return nomem(r);
        memcpy(o->u.seq.items, r->stack + first, count * sizeof *o->u.seq.items);
    }
    o->u.seq.n = o->u.seq.cap = count;
    return push(r, o);
}

static tg_status dict_set(pk_run *r, tg_pk_obj *d, tg_pk_obj *k, tg_pk_obj *v) {
    if (!grow((void **)&d->u.dict.keys, &d->u.dict.cap, d->u.dict.n + 1, sizeof(tg_pk_obj *)))
        return nomem(r);
    tg_pk_obj **vals = realloc(d->u.dict.vals, d->u.dict.cap * sizeof *vals);  // same cap
    if (!vals) return nomem(r);
    d->u.dict.vals = vals;
    d->u.dict.keys[d->u.dict.n] = k;
    d->u.dict.vals[d->u.dict.n] = v;
    d->u.dict.n++;
    return TG_OK;
}

static tg_status memo_put(pk_run *r, uint64_t idx) {
    if (idx >= TG_PK_MAX_MEMO)
        return bad(r, "memo index %llu exceeds the cap of %d", (unsigned long long)idx,
                   TG_PK_MAX_MEMO);
    tg_pk_obj *o = NULL;
    tg_status st = top(r, &o);
    if (st) return st;
    size_t old = r->memo_alloc;
    if (!grow((void **)&r->memo, &r->memo_alloc, (size_t)idx + 1, sizeof *r->memo))
        return nomem(r);
    if (r->memo_alloc > old) memset(r->memo + old, 0, (r->memo_alloc - old) * sizeof *r->memo);
    if (!r->memo[idx]) r->memo_count++;
    r->memo[idx] = o;
    return TG_OK;
}

static tg_status memo_get(pk_run *r, uint64_t idx) {
    if (idx >= r->memo_alloc || !r->memo[idx])
        return bad(r, "bad memo index %llu (nothing stored there)", (unsigned long long)idx);
    return push(r, r->memo[idx]);
}

// Copies s into out with non-printable bytes replaced, for messages.
static const char *printable(const char *s, char *out, size_t cap) {
    size_t i = 0;
    for (; s[i] && i + 1 < cap; i++) out[i] = (s[i] >= 32 && s[i] < 127) ? s[i] : '?';
    out[i] = '\0';
    return out;
}

static const struct {
    const char *name;
    tg_dt dt;
} STORAGES[] = {
    {"FloatStorage", TG_DT_F32}, {"DoubleStorage", TG_DT_F64}, {"HalfStorage", TG_DT_F16},
    {"BFloat16Storage", TG_DT_BF16}, {"LongStorage", TG_DT_I64}, {"IntStorage", TG_DT_I32},
    {"ShortStorage", TG_DT_I16}, {"CharStorage", TG_DT_I8}, {"ByteStorage", TG_DT_U8},
    {"BoolStorage", TG_DT_BOOL},
};

static tg_status make_global(pk_run *r, const char *mod, const char *name) {
    tg_pk_obj *o = new_obj(r, TG_PK_GLOBAL);
    if (!o) return nomem(r);
    if (!strcmp(mod, "collections") && !strcmp(name, "OrderedDict")) {
        o->u.glob.g = TG_PK_G_ORDERED_DICT;
        return push(r, o);
    }
    if (!strcmp(mod, "torch._utils")) {
        if (!strcmp(name, "_rebuild_tensor_v2")) o->u.glob.g = TG_PK_G_REBUILD_TENSOR_V2;
        else if (!strcmp(name, "_rebuild_tensor")) o->u.glob.g = TG_PK_G_REBUILD_TENSOR;
        else if (!strcmp(name, "_rebuild_parameter")) o->u.glob.g = TG_PK_G_REBUILD_PARAMETER;
        else goto refuse;
        return push(r, o);
    }
    if (!strcmp(mod, "torch"))
        for (size_t i = 0; i < sizeof STORAGES / sizeof STORAGES[0]; i++)
            if (!strcmp(name, STORAGES[i].name)) {
                o->u.glob.g = TG_PK_G_STORAGE;
                o->u.glob.dt = STORAGES[i].dt;
                return push(r, o);
            }
refuse:;
    char m[128], n[128];
    return bad(r,
               "disallowed global %s.%s: only collections.OrderedDict, torch._utils."
               "_rebuild_tensor_v2/_rebuild_tensor/_rebuild_parameter and torch.*Storage are "
               "allowed; nothing was executed",
               printable(mod, m, sizeof m), printable(name, n, sizeof n));
}

// GLOBAL: "module\nname\n".
static tg_status op_global(pk_run *r) {
    char parts[2][256];
    for (int k = 0; k < 2; k++) {
        const unsigned char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
        if (!nl) return bad(r, "truncated GLOBAL");
        size_t len = (size_t)(nl - r->p);
        if (len >= sizeof parts[k]) return bad(r, "GLOBAL name of %zu bytes is too long", len);
        memcpy(parts[k], r->p, len);
        parts[k][len] = '\0';
        if (strlen(parts[k]) != len) return bad(r, "GLOBAL name with a NUL byte");
        r->p = nl + 1;
    }
    return make_global(r, parts[0], parts[1]);
}

static tg_status op_stack_global(pk_run *r) {
    tg_pk_obj *name = NULL, *mod = NULL;
    tg_status st = pop(r, &name);
    if (!st) st = pop(r, &mod);
    if (st) return st;
    if (name->kind != TG_PK_STR || mod->kind != TG_PK_STR)
        return bad(r, "STACK_GLOBAL needs two strings, got %s and %s",
                   tg_pk_kind_name(mod->kind), tg_pk_kind_name(name->kind));
    if (strlen(mod->u.str.s) != mod->u.str.len || strlen(name->u.str.s) != name->u.str.len)
        return bad(r, "STACK_GLOBAL name with a NUL byte");
    return make_global(r, mod->u.str.s, name->u.str.s);
}

static int is_str(const tg_pk_obj *o, const char *s) {
    return o->kind == TG_PK_STR && !strcmp(o->u.str.s, s);
}

// BINPERSID: ('storage', torch.XStorage, key, location, numel[, view_metadata]).
static tg_status op_persid(pk_run *r) {
    tg_pk_obj *pid = NULL;
    tg_status st = pop(r, &pid);
    if (st) return st;
    if (pid->kind != TG_PK_TUPLE || (pid->u.seq.n != 5 && pid->u.seq.n != 6))
        return bad(r, "persistent id must be a 5- or 6-tuple ('storage', type, key, location, "
                      "numel[, view]), got a %s", tg_pk_kind_name(pid->kind));
    tg_pk_obj **a = pid->u.seq.items;
    if (!is_str(a[0], "storage") || a[1]->kind != TG_PK_GLOBAL ||
        a[1]->u.glob.g != TG_PK_G_STORAGE || a[2]->kind != TG_PK_STR ||
        a[3]->kind != TG_PK_STR || a[4]->kind != TG_PK_INT || a[4]->u.i < 0)
        return bad(r, "malformed storage persistent id (want 'storage', a torch.*Storage type, "
                      "a key string, a location string and a non-negative element count)");
    tg_pk_obj *o = new_obj(r, TG_PK_STORAGE);
    if (!o) return nomem(r);
    o->u.storage.dt = a[1]->u.glob.dt;
    o->u.storage.key = a[2]->u.str.s;
    o->u.storage.location = a[3]->u.str.s;
    o->u.storage.numel = o->u.storage.root_numel = a[4]->u.i;
    if (pid->u.seq.n == 6 && a[5]->kind != TG_PK_NONE) {
        // legacy storage view: (view_key, offset, size) into the root storage
        tg_pk_obj *v = a[5];
        if (v->kind != TG_PK_TUPLE || v->u.seq.n != 3 || v->u.seq.items[0]->kind != TG_PK_STR ||
            v->u.seq.items[1]->kind != TG_PK_INT || v->u.seq.items[2]->kind != TG_PK_INT)
            return bad(r, "malformed storage view metadata");
        int64_t off = v->u.seq.items[1]->u.i, size = v->u.seq.items[2]->u.i;
        if (off < 0 || size < 0 || off > o->u.storage.root_numel ||
            size > o->u.storage.root_numel - off)
            return bad(r, "storage view [%lld, +%lld) outside its storage of %lld elements",
                       (long long)off, (long long)size, (long long)o->u.storage.root_numel);
        o->u.storage.view_offset = off;
        o->u.storage.numel = size;
    }
    return push(r, o);
}

static tg_status int_tuple(pk_run *r, const tg_pk_obj *t, int64_t *out, int *n, const char *what) {
    if (t->kind != TG_PK_TUPLE) return bad(r, "tensor %s is a %s, not a tuple", what,
                                           tg_pk_kind_name(t->kind));
    if (t->u.seq.n > TG_SD_MAX_DIMS)
        return bad(r, "tensor %s has %zu dims, more than the maximum of %d", what, t->u.seq.n,
                   TG_SD_MAX_DIMS);
    for (size_t i = 0; i < t->u.seq.n; i++) {
        const tg_pk_obj *v = t->u.seq.items[i];
        if (v->kind != TG_PK_INT || v->u.i < 0)
            return bad(r, "tensor %s[%zu] is not a non-negative int", what, i);
        out[i] = v->u.i;
    }
    *n = (int)t->u.seq.n;
    return TG_OK;
}

// _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) and
// _rebuild_tensor(storage, offset, size, stride).
static tg_status rebuild_tensor(pk_run *r, tg_pk_obj **a, size_t n, int v2) {
    if (v2 ? (n != 6 && n != 7) : n != 4)
        return bad(r, "%s called with %zu arguments", v2 ? "_rebuild_tensor_v2" : "_rebuild_tensor",
                   n);
    if (a[0]->kind != TG_PK_STORAGE) return bad(r, "tensor storage is a %s",
                                                tg_pk_kind_name(a[0]->kind));
    if (a[1]->kind != TG_PK_INT || a[1]->u.i < 0)
        return bad(r, "tensor storage offset is not a non-negative int");
    if (v2 && (a[4]->kind != TG_PK_BOOL || a[5]->kind != TG_PK_DICT ||
               (n == 7 && a[6]->kind != TG_PK_DICT && a[6]->kind != TG_PK_NONE)))
        return bad(r, "_rebuild_tensor_v2: requires_grad must be a bool, backward_hooks and "
                      "metadata dicts");
    tg_pk_obj *o = new_obj(r, TG_PK_TENSOR);
    if (!o) return nomem(r);
    int nd = 0, ns = 0;
    tg_status st = int_tuple(r, a[2], o->u.tensor.size, &nd, "size");
    if (!st) st = int_tuple(r, a[3], o->u.tensor.stride, &ns, "stride");
    if (st) return st;
    if (nd != ns) return bad(r, "tensor size has %d dims but stride has %d", nd, ns);
    o->u.tensor.ndim = nd;
    o->u.tensor.storage = a[0];
    o->u.tensor.offset = a[1]->u.i;
    return push(r, o);
}

static tg_status op_reduce(pk_run *r) {
    tg_pk_obj *args = NULL, *fn = NULL;
    tg_status st = pop(r, &args);
    if (!st) st = pop(r, &fn);
    if (st) return st;
    if (fn->kind != TG_PK_GLOBAL)
        return bad(r, "REDUCE on a %s: only allowed torch functions can be called",
                   tg_pk_kind_name(fn->kind));
    if (args->kind != TG_PK_TUPLE) return bad(r, "REDUCE arguments are a %s, not a tuple",
                                              tg_pk_kind_name(args->kind));
    tg_pk_obj **a = args->u.seq.items;
    size_t n = args->u.seq.n;
    switch (fn->u.glob.g) {
    case TG_PK_G_ORDERED_DICT:
        if (n != 0) return bad(r, "OrderedDict called with %zu arguments (expected none)", n);
        return push(r, new_obj(r, TG_PK_DICT));
    case TG_PK_G_REBUILD_TENSOR_V2: return rebuild_tensor(r, a, n, 1);
    case TG_PK_G_REBUILD_TENSOR: return rebuild_tensor(r, a, n, 0);
    case TG_PK_G_REBUILD_PARAMETER:
        if (n != 3 || a[0]->kind != TG_PK_TENSOR || a[1]->kind != TG_PK_BOOL ||
            a[2]->kind != TG_PK_DICT)
            return bad(r, "_rebuild_parameter needs (tensor, bool, dict)");
        return push(r, a[0]);
    case TG_PK_G_STORAGE: return bad(r, "REDUCE on a torch storage type is not allowed");
    }
    return bad(r, "REDUCE on an unknown global");
}

static tg_status run(pk_run *r, tg_pk_obj **result) {
    tg_status st = TG_OK;
    tg_pk_obj *a = NULL, *b = NULL, *c = NULL;
    size_t first = 0, count = 0;
    while (!st) {
        if (r->p >= r->end) return bad(r, "truncated pickle: no STOP opcode");
        r->op_at = (size_t)(r->p - r->start);
        unsigned op = *r->p++;
        switch (op) {
        case 0x80:  // PROTO
            if ((st = need(r, 1))) break;
            if (*r->p > 5) return bad(r, "pickle protocol %u is not supported", *r->p);
            r->p++;
            break;
        case 0x95:  // FRAME: a length hint, ignored
            if ((st = need(r, 8))) break;
            r->p += 8;
            break;
        case '.':  // STOP
            if ((st = pop(r, result))) break;
            return TG_OK;
        case '(':  // MARK
            if (r->nmarks >= TG_PK_MAX_MARKS)
                return bad(r, "MARK depth exceeds the cap of %d", TG_PK_MAX_MARKS);
            if (!grow((void **)&r->marks, &r->mcap, r->nmarks + 1, sizeof *r->marks))
                return nomem(r);
            r->marks[r->nmarks++] = r->sp;
            break;
        case ')': st = push(r, new_obj(r, TG_PK_TUPLE)); break;
        case ']': st = push(r, new_obj(r, TG_PK_LIST)); break;
        case '}': st = push(r, new_obj(r, TG_PK_DICT)); break;
        case 't':
            if (!(st = pop_mark(r, &first, &count))) st = make_seq(r, TG_PK_TUPLE, first, count);
            break;
        case 'l':
            if (!(st = pop_mark(r, &first, &count))) st = make_seq(r, TG_PK_LIST, first, count);
            break;
        case 0x85:
        case 0x86:
        case 0x87:  // TUPLE1..3
            count = op - 0x84;
            if (r->sp < cur_mark(r) + count) return bad(r, "stack underflow");
            r->sp -= count;
            st = make_seq(r, TG_PK_TUPLE, r->sp, count);
            break;
        case 'N': st = push(r, new_obj(r, TG_PK_NONE)); break;
        case 0x88:
        case 0x89:
            if (!(a = new_obj(r, TG_PK_BOOL))) return nomem(r);
            a->u.b = op == 0x88;
            st = push(r, a);
            break;
        case 'J':
            if ((st = need(r, 4))) break;
            st = make_int(r, (int32_t)(uint32_t)rd_le(r->p, 4));
            r->p += 4;
            break;
        case 'K':
            if ((st = need(r, 1))) break;
            st = make_int(r, *r->p++);
            break;
        case 'M':
            if ((st = need(r, 2))) break;
            st = make_int(r, (int64_t)rd_le(r->p, 2));
            r->p += 2;
            break;
        case 0x8a:  // LONG1
            if ((st = need(r, 1))) break;
            st = make_long(r, *r->p++);
            break;
        case 0x8b:  // LONG4
            if ((st = need(r, 4))) break;
            count = (size_t)rd_le(r->p, 4);
            r->p += 4;
            st = make_long(r, count);
            break;
        case 'G': {  // BINFLOAT, big-endian
            if ((st = need(r, 8))) break;
            uint64_t bits = 0;
            for (int i = 0; i < 8; i++) bits = bits << 8 | r->p[i];
            r->p += 8;
            if (!(a = new_obj(r, TG_PK_FLOAT))) return nomem(r);
            memcpy(&a->u.f, &bits, 8);
            st = push(r, a);
            break;
        }
        case 'X':
        case 'T':
        case 'B':
            if ((st = need(r, 4))) break;
            count = (size_t)rd_le(r->p, 4);
            r->p += 4;
            st = make_str(r, op == 'B' ? TG_PK_BYTES : TG_PK_STR, count);
            break;
        case 0x8c:
        case 'U':
        case 'C':
            if ((st = need(r, 1))) break;
            count = *r->p++;
            st = make_str(r, op == 'C' ? TG_PK_BYTES : TG_PK_STR, count);
            break;
        case 0x8d:
        case 0x8e: {
            if ((st = need(r, 8))) break;
            uint64_t len = rd_le(r->p, 8);
            r->p += 8;
            st = make_str(r, op == 0x8e ? TG_PK_BYTES : TG_PK_STR, len);
            break;
        }
        case 'q':
            if ((st = need(r, 1))) break;
            st = memo_put(r, *r->p++);
            break;
        case 'r':
            if ((st = need(r, 4))) break;
            st = memo_put(r, rd_le(r->p, 4));
            r->p += 4;
            break;
        case 0x94: st = memo_put(r, r->memo_count); break;  // MEMOIZE
        case 'h':
            if ((st = need(r, 1))) break;
            st = memo_get(r, *r->p++);
            break;
        case 'j':
            if ((st = need(r, 4))) break;
            st = memo_get(r, rd_le(r->p, 4));
            r->p += 4;
            break;
        case 'c': st = op_global(r); break;
        case 0x93: st = op_stack_global(r); break;
        case 'Q': st = op_persid(r); break;
        case 'R': st = op_reduce(r); break;
        case 'b':  // BUILD: only an OrderedDict's state (its _metadata), which is ignored
            if ((st = pop(r, &b)) || (st = top(r, &a))) break;
            if (a->kind != TG_PK_DICT)
                return bad(r, "BUILD on a %s is not allowed (only on an OrderedDict)",
                           tg_pk_kind_name(a->kind));
            break;
        case 's':  // SETITEM
            if ((st = pop(r, &c)) || (st = pop(r, &b)) || (st = top(r, &a))) break;
            if (a->kind != TG_PK_DICT)
                return bad(r, "SETITEM on a %s (only a dict accepts items)",
                           tg_pk_kind_name(a->kind));
            st = dict_set(r, a, b, c);
            break;
        case 'u':  // SETITEMS
        case 'd':  // DICT
            if ((st = pop_mark(r, &first, &count))) break;
            if (count % 2) return bad(r, "%s with an odd number of items",
                                      op == 'u' ? "SETITEMS" : "DICT");
            if (op == 'd') {
                if (!(a = new_obj(r, TG_PK_DICT))) return nomem(r);
                // the items stay on the stack above r->sp until consumed below
            } else {
                if (r->sp <= cur_mark(r)) return bad(r, "stack underflow");
                a = r->stack[r->sp - 1];
                if (a->kind != TG_PK_DICT)
                    return bad(r, "SETITEMS on a %s (only a dict accepts items)",
                               tg_pk_kind_name(a->kind));
            }
            for (size_t i = 0; i < count && !st; i += 2)
                st = dict_set(r, a, r->stack[first + i], r->stack[first + i + 1]);
            if (!st && op == 'd') st = push(r, a);
            break;
        case 'a':  // APPEND
            if ((st = pop(r, &b)) || (st = top(r, &a))) break;
            if (a->kind != TG_PK_LIST)
                return bad(r, "APPEND on a %s (only a list)", tg_pk_kind_name(a->kind));
            if (!grow((void **)&a->u.seq.items, &a->u.seq.cap, a->u.seq.n + 1,
                      sizeof *a->u.seq.items))
                return nomem(r);
            a->u.seq.items[a->u.seq.n++] = b;
            break;
        case 'e':  // APPENDS
            if ((st = pop_mark(r, &first, &count))) break;
            if (r->sp <= cur_mark(r)) return bad(r, "stack underflow");
            a = r->stack[r->sp - 1];
            if (a->kind != TG_PK_LIST)
                return bad(r, "APPENDS on a %s (only a list)", tg_pk_kind_name(a->kind));
            if (!count) break;  // an empty list stays without storage (items may be NULL)
            if (!grow((void **)&a->u.seq.items, &a->u.seq.cap, a->u.seq.n + count,
                      sizeof *a->u.seq.items))
                return nomem(r);
            memcpy(a->u.seq.items + a->u.seq.n, r->stack + first, count * sizeof *r->stack);
            a->u.seq.n += count;
            break;
        case '0':  // POP: the top item, or the MARK if the current frame is empty
            if (r->sp > cur_mark(r)) r->sp--;
            else if ((st = pop_mark(r, &first, &count))) break;
            break;
        case '1': st = pop_mark(r, &first, &count); break;  // POP_MARK
        case '2':                                          // DUP
            if ((st = top(r, &a))) break;
            st = push(r, a);
            break;
        default:
            return bad(r, "unsupported pickle opcode 0x%02x%s%c%s", op, op >= 32 && op < 127 ? " '" : "",
                       op >= 32 && op < 127 ? (char)op : ' ', op >= 32 && op < 127 ? "'" : "");
        }
    }
    return st;
}

tg_status tg_pickle_load(tg_pickle *vm, const unsigned char *buf, size_t n, size_t *used,
                         tg_pk_obj **result, const char *what, tg_error *err) {
    pk_run r;
    memset(&r, 0, sizeof r);
    r.vm = vm;
    r.start = r.p = buf;
    r.end = buf + n;
    r.what = what;
    r.err = err;
    *result = NULL;
    tg_status st = run(&r, result);
    if (used) *used = (size_t)(r.p - r.start);
    free(r.stack);
    free(r.marks);
    free(r.memo);
    return st;
}
