// schema.c: the engine behind a schema table (see schema.h): reads a cJSON tree into a struct
// row by row, checks keys, types and bounds with the rows' rule texts, sets defaults, frees,
// and writes the struct back as JSON in the table's order.
#include "app/schema.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 160  // a dotted key in messages (longer keys are cut)

static void *at(void *base, const tg_schema_row *r) {
    return (char *)base + r->offset;
}
static const void *cat(const void *base, const tg_schema_row *r) {
    return (const char *)base + r->offset;
}
static int *count_at(void *base, const tg_schema_row *r) {
    return (int *)(void *)((char *)base + r->count);
}
static int count_of(const void *base, const tg_schema_row *r) {
    return *(const int *)(const void *)((const char *)base + r->count);
}

// ---- names and suggestions ----
int tg_edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 64 || nb > 64) return (int)(na > nb ? na : nb);
    int row[65];
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[nb];
}

static void full_name(char *buf, size_t n, const char *section, const char *key) {
    if (section[0])
        snprintf(buf, n, "%s.%s", section, key);
    else
        snprintf(buf, n, "%s", key);
}

void tg_schema_key(const tg_schema_row *row, char *buf, size_t n) {
    full_name(buf, n, row->section, row->name);
}

// The section that a row's keys live in: "data" for the row "data", "optimizer.groups[]"
// for the array of objects "optimizer.groups".
static void child_section(const tg_schema_row *row, char *buf, size_t n) {
    char key[NAME_MAX_LEN];
    tg_schema_key(row, key, sizeof key);
    snprintf(buf, n, row->type == TG_SCHEMA_OBJECTS ? "%s[]" : "%s", key);
}

static const tg_schema_row *find_row(const tg_schema *s, const char *section, const char *key) {
    for (const tg_schema_row *r = s->rows; r->name; r++)
        if (!strcmp(r->section, section) && !strcmp(r->name, key)) return r;
    return NULL;
}

// The valid key nearest to `key` found in `section`: a sibling first, else any key of any
// section (someone writing "lr" at the top level means "optimizer.lr"). Ties go to the
// top-level keys, then to the table's order.
static void suggest(const tg_schema *s, const char *section, const char *key, char *out, size_t n) {
    int best = INT_MAX;
    out[0] = 0;
    for (int top = 1; top >= 0; top--)
        for (const tg_schema_row *r = s->rows; r->name; r++) {
            if ((r->section[0] == 0) != top) continue;
            int d = tg_edit_distance(key, r->name) * 2 + (strcmp(r->section, section) ? 1 : 0);
            if (d < best) {
                best = d;
                tg_schema_key(r, out, n);
            }
        }
}

// ---- messages ----
// cJSON reads a number too large for a double (1e999) as inf and prints it as null: the
// message would say "(got null)". Non-finite numbers become raw "inf" / "-inf" / "nan".
static const char *nonfinite_name(double x) {
    return isnan(x) ? "nan" : x > 0 ? "inf" : "-inf";
}

static void raw_nonfinite(cJSON *v) {
    for (cJSON *c = v->child, *next; c; c = next) {
        next = c->next;
        if (cJSON_IsNumber(c) && !isfinite(c->valuedouble)) {
            cJSON *r = cJSON_CreateRaw(nonfinite_name(c->valuedouble));
            if (r) cJSON_ReplaceItemViaPointer(v, c, r);
        } else {
            raw_nonfinite(c);
        }
    }
}

static void show(const cJSON *v, char *buf, size_t n) {
    if (cJSON_IsNumber(v) && !isfinite(v->valuedouble)) {
        snprintf(buf, n, "%s", nonfinite_name(v->valuedouble));
        return;
    }
    cJSON *copy = cJSON_Duplicate(v, 1);
    if (copy) raw_nonfinite(copy);
    char *s = cJSON_PrintUnformatted(copy ? copy : v);
    cJSON_Delete(copy);
    if (!s) {
        snprintf(buf, n, "?");
        return;
    }
    if (strlen(s) > 60)
        snprintf(buf, n, "%.57s...", s);
    else
        snprintf(buf, n, "%s", s);
    free(s);
}

tg_status tg_schema_bad(const tg_schema_ctx *c, const char *name, const cJSON *v,
                        const char *rule) {
    char key[NAME_MAX_LEN], got[80];
    full_name(key, sizeof key, c->path, name);
    show(v, got, sizeof got);
    return tg_error_set(c->err, TG_ERR_CONFIG, "%s: %s must be %s (got %s)", c->src, key, rule,
                        got);
}

static tg_status nomem(const tg_schema_ctx *c) {
    return tg_error_set(c->err, TG_ERR_NOMEM, "out of memory");
}

// The row's rule text; the types that have an obvious one may leave it out.
static const char *rule_of(const tg_schema_row *r, char *buf, size_t n) {
    bool null = r->flags & TG_SCHEMA_NULLABLE;
    if (r->rule) return r->rule;
    switch (r->type) {
    case TG_SCHEMA_BOOL: return "true or false";
    case TG_SCHEMA_OBJECT: return null ? "an object or null" : "an object";
    case TG_SCHEMA_OBJECTS: return null ? "an array of objects or null" : "an array of objects";
    case TG_SCHEMA_STRING: return null ? "a non-empty string or null" : "a non-empty string";
    case TG_SCHEMA_PATH: return null ? "a non-empty path or null" : "a non-empty path";
    case TG_SCHEMA_ENUM: break;
    default: TG_ASSERT(0, "this row type needs a rule text (.rule)");
    }
    // "\"sgd\"", "\"a\" or \"b\"", "true, false or \"flip\""
    const char *items[34];
    char quoted[32][40];
    int k = 0;
    if (r->flags & TG_SCHEMA_OR_BOOL) {
        items[k++] = "true";
        items[k++] = "false";
    }
    for (int i = 0; i < 32 && r->choices[i]; i++, k++) {
        snprintf(quoted[i], sizeof quoted[i], "\"%s\"", r->choices[i]);
        items[k] = quoted[i];
    }
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < k && len < n; i++) {
        const char *sep = i == 0 ? "" : i == k - 1 ? " or " : ", ";
        len += (size_t)snprintf(buf + len, n - len, "%s%s", sep, items[i]);
    }
    return buf;
}

// ---- paths ----
// Removes "." and "dir/.." components of an absolute path in place, lexically (the base
// directory is a realpath, so only the document's own ".." are folded: "/a/configs/../data"
// becomes "/a/data").
static void normalize_abs(char *path) {
    char *out = path;  // path[0] == '/'
    const char *in = path;
    while (*in) {
        while (*in == '/') in++;
        const char *end = in;
        while (*end && *end != '/') end++;
        size_t n = (size_t)(end - in);
        if (n == 0 || (n == 1 && in[0] == '.')) {
            // skip
        } else if (n == 2 && in[0] == '.' && in[1] == '.') {
            while (out > path && *--out != '/') {
            }
        } else {
            *out++ = '/';
            memmove(out, in, n);
            out += n;
        }
        in = end;
    }
    if (out == path) *out++ = '/';
    *out = 0;
}

static char *join_path(const char *base, const char *rel) {
    if (!base || rel[0] == '/') return strdup(rel);
    size_t n = strlen(base) + strlen(rel) + 2;
    char *s = malloc(n);
    if (!s) return NULL;
    snprintf(s, n, "%s/%s", base, rel);
    if (s[0] == '/') normalize_abs(s);
    return s;
}

// ---- reading, one function per type (v present; null already handled) ----
static bool in_bounds(const tg_schema_row *r, double x) {
    return isfinite(x) && ((r->flags & TG_SCHEMA_LO_OPEN) ? x > r->lo : x >= r->lo) &&
           ((r->flags & TG_SCHEMA_HI_OPEN) ? x < r->hi : x <= r->hi);
}

static void set_int(const tg_schema_row *r, void *base, int64_t x) {
    if (r->size == sizeof(int))
        *(int *)at(base, r) = (int)x;
    else
        *(int64_t *)at(base, r) = x;  // an int64_t or a uint64_t
}

static int64_t get_int(const tg_schema_row *r, const void *base) {
    if (r->size == sizeof(int)) return *(const int *)cat(base, r);
    return *(const int64_t *)cat(base, r);
}

static tg_status read_scalar(const tg_schema_ctx *c, const tg_schema_row *r, const cJSON *v,
                             void *base) {
    char buf[256];
    const char *rule = rule_of(r, buf, sizeof buf);
    if (r->type == TG_SCHEMA_BOOL) {
        if (!cJSON_IsBool(v)) return tg_schema_bad(c, r->name, v, rule);
        *(bool *)at(base, r) = cJSON_IsTrue(v);
        return TG_OK;
    }
    if (r->type == TG_SCHEMA_ENUM) {
        int first = (r->flags & TG_SCHEMA_OR_BOOL) ? 2 : 0;
        if (first && cJSON_IsBool(v)) {
            *(int *)at(base, r) = cJSON_IsTrue(v);
            return TG_OK;
        }
        if (cJSON_IsString(v))
            for (int i = 0; r->choices[i]; i++)
                if (!strcmp(v->valuestring, r->choices[i])) {
                    *(int *)at(base, r) = first + i;
                    return TG_OK;
                }
        return tg_schema_bad(c, r->name, v, rule);
    }
    if (!cJSON_IsNumber(v) || !in_bounds(r, v->valuedouble))
        return tg_schema_bad(c, r->name, v, rule);
    double x = v->valuedouble;
    if (r->type == TG_SCHEMA_NUMBER) {
        *(double *)at(base, r) = x;
        return TG_OK;
    }
    if (x != floor(x)) return tg_schema_bad(c, r->name, v, rule);
    set_int(r, base, (int64_t)x);
    return TG_OK;
}

static tg_status read_numbers(const tg_schema_ctx *c, const tg_schema_row *r, const cJSON *v,
                              void *base) {
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != r->len)
        return tg_schema_bad(c, r->name, v, r->rule);
    for (const cJSON *e = v->child; e; e = e->next)
        if (!cJSON_IsNumber(e) || !in_bounds(r, e->valuedouble))
            return tg_schema_bad(c, r->name, v, r->rule);
    double *out = at(base, r);
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next) out[i++] = e->valuedouble;
    return TG_OK;
}

static tg_status read_string(const tg_schema_ctx *c, const tg_schema_row *r, const cJSON *v,
                             void *base) {
    char buf[96];
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return tg_schema_bad(c, r->name, v, rule_of(r, buf, sizeof buf));
    char *s =
        r->type == TG_SCHEMA_PATH ? join_path(c->base, v->valuestring) : strdup(v->valuestring);
    if (!s) return nomem(c);
    char **out = at(base, r);
    free(*out);
    *out = s;
    return TG_OK;
}

static void free_value(const tg_schema *s, const tg_schema_row *r, void *base);
static tg_status read_section(const tg_schema_ctx *c, const char *section, const cJSON *obj,
                              void *base);
static void defaults_section(const tg_schema *s, const char *section, void *base);

static tg_status read_strings(const tg_schema_ctx *c, const tg_schema_row *r, const cJSON *v,
                              void *base) {
    const char *rule = r->rule ? r->rule : "an array of non-empty strings";
    if (!cJSON_IsArray(v)) return tg_schema_bad(c, r->name, v, rule);
    int n = cJSON_GetArraySize(v);
    if (n > r->max) return tg_schema_bad(c, r->name, v, r->len_rule);
    for (const cJSON *e = v->child; e; e = e->next)
        if (!cJSON_IsString(e) || !e->valuestring[0]) return tg_schema_bad(c, r->name, v, rule);
    free_value(c->schema, r, base);
    char **list = calloc((size_t)n + 1, sizeof *list);
    if (!list) return nomem(c);
    *(char ***)at(base, r) = list;
    int *count = count_at(base, r);
    for (const cJSON *e = v->child; e; e = e->next) {
        list[*count] = strdup(e->valuestring);
        if (!list[*count]) return nomem(c);
        (*count)++;
    }
    return TG_OK;
}

// Each element starts from the defaults of its rows and is read as an object whose messages
// say "optimizer.groups[1].lr_scale".
static tg_status read_objects(const tg_schema_ctx *c, const tg_schema_row *r, const cJSON *v,
                              void *base) {
    char buf[96];
    if (!cJSON_IsArray(v)) return tg_schema_bad(c, r->name, v, rule_of(r, buf, sizeof buf));
    int n = cJSON_GetArraySize(v);
    if (n > r->max) return tg_schema_bad(c, r->name, v, r->len_rule);
    char section[NAME_MAX_LEN];
    child_section(r, section, sizeof section);
    free_value(c->schema, r, base);
    char *elems = calloc((size_t)n + 1, r->elem);
    if (!elems) return nomem(c);
    memcpy(at(base, r), &elems, sizeof elems);
    int *count = count_at(base, r);
    for (const cJSON *e = v->child; e; e = e->next) {
        char name[NAME_MAX_LEN], path[NAME_MAX_LEN];
        snprintf(name, sizeof name, "%s[%d]", r->name, *count);
        full_name(path, sizeof path, c->path, name);
        void *elem = elems + (size_t)*count * r->elem;
        defaults_section(c->schema, section, elem);
        (*count)++;
        if (!cJSON_IsObject(e)) return tg_schema_bad(c, name, e, "an object");
        tg_schema_ctx ci = *c;
        ci.path = path;
        tg_status st = read_section(&ci, section, e, elem);
        if (st) return st;
    }
    return TG_OK;
}

// An object row: v an object (or absent: the keys are still read, so that required keys
// are missing and parse hooks run, unless the object is absent and null by default).
static tg_status read_object(const tg_schema_ctx *c, const tg_schema_row *r, const cJSON *v,
                             void *base) {
    char buf[96], path[NAME_MAX_LEN], section[NAME_MAX_LEN];
    bool nullable = r->flags & TG_SCHEMA_NULLABLE;
    if (nullable && cJSON_IsNull(v)) {
        *(bool *)at(base, r) = false;
        return TG_OK;
    }
    if (v && !cJSON_IsObject(v)) return tg_schema_bad(c, r->name, v, rule_of(r, buf, sizeof buf));
    if (nullable && v) *(bool *)at(base, r) = true;
    if (nullable && !*(bool *)at(base, r)) return TG_OK;
    full_name(path, sizeof path, c->path, r->name);
    child_section(r, section, sizeof section);
    tg_schema_ctx ci = *c;
    ci.path = path;
    return read_section(&ci, section, v, base);
}

static void set_null(const tg_schema *s, const tg_schema_row *r, void *base) {
    switch (r->type) {
    case TG_SCHEMA_OBJECT: *(bool *)at(base, r) = false; break;
    case TG_SCHEMA_INT: set_int(r, base, 0); break;
    case TG_SCHEMA_NUMBER: *(double *)at(base, r) = 0; break;
    default: free_value(s, r, base); break;  // strings, paths, arrays: NULL
    }
}

tg_status tg_schema_read_value(const tg_schema_ctx *c, const tg_schema_row *r, const cJSON *v,
                               void *base) {
    if (!v && (r->flags & TG_SCHEMA_REQUIRED)) {
        char key[NAME_MAX_LEN];
        full_name(key, sizeof key, c->path, r->name);
        return tg_error_set(c->err, TG_ERR_CONFIG, "%s: missing key \"%s\" (%s)", c->src, key,
                            r->missing);
    }
    if (r->type == TG_SCHEMA_OBJECT) return read_object(c, r, v, base);
    if (!v) return TG_OK;
    if (cJSON_IsNull(v) && (r->flags & TG_SCHEMA_NULLABLE)) {
        set_null(c->schema, r, base);
        return TG_OK;
    }
    switch (r->type) {
    case TG_SCHEMA_OBJECTS: return read_objects(c, r, v, base);
    case TG_SCHEMA_NUMBERS: return read_numbers(c, r, v, base);
    case TG_SCHEMA_STRING:
    case TG_SCHEMA_PATH: return read_string(c, r, v, base);
    case TG_SCHEMA_STRINGS: return read_strings(c, r, v, base);
    case TG_SCHEMA_CUSTOM: TG_ASSERT(0, "a custom row reads through its parse hook");
    default: return read_scalar(c, r, v, base);
    }
}

// Every member of obj must be a row of `section`, once.
static tg_status check_keys(const tg_schema_ctx *c, const char *section, const cJSON *obj) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        char key[NAME_MAX_LEN];
        full_name(key, sizeof key, c->path, it->string);
        if (!find_row(c->schema, section, it->string)) {
            char near[NAME_MAX_LEN];
            suggest(c->schema, section, it->string, near, sizeof near);
            return tg_error_set(c->err, TG_ERR_CONFIG,
                                "%s: unknown key \"%s\"; did you mean \"%s\"?", c->src, key, near);
        }
        for (const cJSON *o = obj->child; o != it; o = o->next)
            if (!strcmp(o->string, it->string))
                return tg_error_set(c->err, TG_ERR_CONFIG, "%s: duplicate key \"%s\"", c->src, key);
    }
    return TG_OK;
}

// The keys of `section` from obj (NULL when the object is absent), in the table's order.
static tg_status read_section(const tg_schema_ctx *c, const char *section, const cJSON *obj,
                              void *base) {
    tg_status st = obj ? check_keys(c, section, obj) : TG_OK;
    for (const tg_schema_row *r = c->schema->rows; !st && r->name; r++) {
        if (strcmp(r->section, section)) continue;
        const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, r->name) : NULL;
        st = r->hooks && r->hooks->parse ? r->hooks->parse(c, r, v, base)
                                         : tg_schema_read_value(c, r, v, base);
    }
    return st;
}

static void parse_position(const char *json, const char *end, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (const char *ch = json; ch < end && *ch; ch++) {
        if (*ch == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

tg_status tg_schema_parse(const tg_schema *s, const char *json, const char *base_dir,
                          const char *src, void *out, tg_error *err) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        int line, col;
        parse_position(json, end ? end : json, &line, &col);
        return tg_error_set(err, TG_ERR_CONFIG, "%s: invalid JSON at line %d, column %d", src, line,
                            col);
    }
    tg_status st;
    if (!cJSON_IsObject(root)) {
        st = tg_error_set(err, TG_ERR_CONFIG, "%s: the config must be a JSON object ({...})", src);
    } else {
        tg_schema_ctx c = {s, src, base_dir, "", err};
        st = read_section(&c, "", root, out);
    }
    cJSON_Delete(root);
    return st;
}

// ---- defaults and freeing ----
static void defaults_section(const tg_schema *s, const char *section, void *base) {
    for (const tg_schema_row *r = s->rows; r->name; r++) {
        if (strcmp(r->section, section)) continue;
        switch (r->type) {
        case TG_SCHEMA_OBJECT: {
            char sub[NAME_MAX_LEN];
            if (r->flags & TG_SCHEMA_NULLABLE) *(bool *)at(base, r) = r->def.b;
            child_section(r, sub, sizeof sub);
            defaults_section(s, sub, base);
            break;
        }
        case TG_SCHEMA_BOOL: *(bool *)at(base, r) = r->def.b; break;
        case TG_SCHEMA_INT: set_int(r, base, r->def.i); break;
        case TG_SCHEMA_ENUM: *(int *)at(base, r) = (int)r->def.i; break;
        case TG_SCHEMA_NUMBER: *(double *)at(base, r) = r->def.x; break;
        case TG_SCHEMA_NUMBERS:
            if (r->def.v) memcpy(at(base, r), r->def.v, (size_t)r->len * sizeof(double));
            break;
        default: break;  // pointers and custom rows start zeroed
        }
    }
}

void tg_schema_defaults(const tg_schema *s, void *out) {
    memset(out, 0, s->size);
    defaults_section(s, "", out);
}

static void free_section(const tg_schema *s, const char *section, void *base) {
    for (const tg_schema_row *r = s->rows; r->name; r++)
        if (!strcmp(r->section, section)) free_value(s, r, base);
}

static void free_value(const tg_schema *s, const tg_schema_row *r, void *base) {
    char sub[NAME_MAX_LEN];
    if (r->hooks && r->hooks->release) {
        r->hooks->release(r, base);
        return;
    }
    switch (r->type) {
    case TG_SCHEMA_OBJECT:
        child_section(r, sub, sizeof sub);
        free_section(s, sub, base);
        break;
    case TG_SCHEMA_STRING:
    case TG_SCHEMA_PATH:
        free(*(char **)at(base, r));
        *(char **)at(base, r) = NULL;
        break;
    case TG_SCHEMA_STRINGS: {
        char **list = *(char ***)at(base, r);
        for (int i = 0; i < count_of(base, r); i++) free(list[i]);
        free(list);
        *(char ***)at(base, r) = NULL;
        *count_at(base, r) = 0;
        break;
    }
    case TG_SCHEMA_OBJECTS: {
        char *elems;
        memcpy(&elems, at(base, r), sizeof elems);
        child_section(r, sub, sizeof sub);
        for (int i = 0; elems && i < count_of(base, r); i++)
            free_section(s, sub, elems + (size_t)i * r->elem);
        free(elems);
        elems = NULL;
        memcpy(at(base, r), &elems, sizeof elems);
        *count_at(base, r) = 0;
        break;
    }
    default: break;
    }
}

void tg_schema_free(const tg_schema *s, void *out) {
    free_section(s, "", out);
}

// ---- writing back ----
static cJSON *write_section(const tg_schema *s, const char *section, const void *base);

// STRINGS and OBJECTS rows: an array (null when nullable and never given).
static cJSON *write_list(const tg_schema *s, const tg_schema_row *r, const void *base) {
    bool objects = r->type == TG_SCHEMA_OBJECTS;
    const char *elems;  // the elements, or the char *[] of a STRINGS row
    memcpy(&elems, cat(base, r), sizeof elems);
    if (!elems && (r->flags & TG_SCHEMA_NULLABLE)) return cJSON_CreateNull();
    char *const *strings = (char *const *)(const void *)elems;
    cJSON *a = cJSON_CreateArray();
    char sub[NAME_MAX_LEN];
    child_section(r, sub, sizeof sub);
    for (int i = 0; a && elems && i < count_of(base, r); i++) {
        cJSON *e = objects ? write_section(s, sub, elems + (size_t)i * r->elem)
                           : cJSON_CreateString(strings[i]);
        if (!e || !cJSON_AddItemToArray(a, e)) {
            cJSON_Delete(e);
            cJSON_Delete(a);
            return NULL;
        }
    }
    return a;
}

// One value as a new cJSON node; NULL on OOM.
static cJSON *write_value(const tg_schema *s, const tg_schema_row *r, const void *base) {
    if (r->hooks && r->hooks->write) return r->hooks->write(r, base);
    bool nullable = r->flags & TG_SCHEMA_NULLABLE;
    switch (r->type) {
    case TG_SCHEMA_OBJECT: {
        if (nullable && !*(const bool *)cat(base, r)) return cJSON_CreateNull();
        char sub[NAME_MAX_LEN];
        child_section(r, sub, sizeof sub);
        return write_section(s, sub, base);
    }
    case TG_SCHEMA_BOOL: return cJSON_CreateBool(*(const bool *)cat(base, r));
    case TG_SCHEMA_INT: {
        int64_t x = get_int(r, base);
        return nullable && x == 0 ? cJSON_CreateNull() : cJSON_CreateNumber((double)x);
    }
    case TG_SCHEMA_NUMBER: {
        double x = *(const double *)cat(base, r);
        return nullable && x == 0 ? cJSON_CreateNull() : cJSON_CreateNumber(x);
    }
    case TG_SCHEMA_NUMBERS: return cJSON_CreateDoubleArray(cat(base, r), r->len);
    case TG_SCHEMA_ENUM: {
        int i = *(const int *)cat(base, r), first = (r->flags & TG_SCHEMA_OR_BOOL) ? 2 : 0;
        return i < first ? cJSON_CreateBool(i) : cJSON_CreateString(r->choices[i - first]);
    }
    case TG_SCHEMA_STRING:
    case TG_SCHEMA_PATH: {
        const char *str = *(char *const *)cat(base, r);
        return str ? cJSON_CreateString(str) : cJSON_CreateNull();
    }
    case TG_SCHEMA_STRINGS:
    case TG_SCHEMA_OBJECTS: return write_list(s, r, base);
    case TG_SCHEMA_CUSTOM: TG_ASSERT(0, "a custom row writes through its write hook");
    }
    return NULL;
}

static cJSON *write_section(const tg_schema *s, const char *section, const void *base) {
    cJSON *o = cJSON_CreateObject();
    for (const tg_schema_row *r = s->rows; o && r->name; r++) {
        if (strcmp(r->section, section)) continue;
        cJSON *v = write_value(s, r, base);
        if (!v || !cJSON_AddItemToObject(o, r->name, v)) {
            cJSON_Delete(v);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

char *tg_schema_print(const tg_schema *s, const void *in) {
    cJSON *root = write_section(s, "", in);
    char *out = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return out;
}

// ---- for documentation ----
void tg_schema_type_text(const tg_schema_row *r, char *buf, size_t n) {
    static const char *const names[] = {
        [TG_SCHEMA_OBJECT] = "object", [TG_SCHEMA_OBJECTS] = "array of objects",
        [TG_SCHEMA_BOOL] = "bool",     [TG_SCHEMA_INT] = "integer",
        [TG_SCHEMA_NUMBER] = "number", [TG_SCHEMA_NUMBERS] = "numbers",
        [TG_SCHEMA_ENUM] = "string",   [TG_SCHEMA_STRING] = "string",
        [TG_SCHEMA_PATH] = "path",     [TG_SCHEMA_STRINGS] = "array of strings",
        [TG_SCHEMA_CUSTOM] = "custom",
    };
    const char *name = names[r->type];
    if (r->type == TG_SCHEMA_CUSTOM && r->hooks && r->hooks->type) name = r->hooks->type;
    if (r->type == TG_SCHEMA_ENUM && (r->flags & TG_SCHEMA_OR_BOOL)) name = "bool or string";
    const char *null = (r->flags & TG_SCHEMA_NULLABLE) ? " or null" : "";
    if (r->type == TG_SCHEMA_NUMBERS)
        snprintf(buf, n, "%d %s%s", r->len, name, null);
    else
        snprintf(buf, n, "%s%s", name, null);
}

static const tg_schema_row *find_key(const tg_schema *s, const char *key) {
    char k[NAME_MAX_LEN];
    for (const tg_schema_row *r = s->rows; r->name; r++) {
        tg_schema_key(r, k, sizeof k);
        if (!strcmp(k, key)) return r;
    }
    return NULL;
}

// The default of a row: a scratch copy of the struct (or of one element of the array of
// objects the row belongs to) with the defaults set, the row written from it.
void tg_schema_default_text(const tg_schema *s, const tg_schema_row *row, char *buf, size_t n) {
    snprintf(buf, n, "%s", (row->flags & TG_SCHEMA_REQUIRED) ? "required" : "?");
    if (row->flags & TG_SCHEMA_REQUIRED) return;
    size_t size = s->size;
    char elem_section[NAME_MAX_LEN] = "";
    const char *cut = NULL;
    for (const char *p = strstr(row->section, "[]"); p; p = strstr(p + 2, "[]")) cut = p;
    if (cut) {  // in an element of an array of objects (the innermost one)
        char key[NAME_MAX_LEN];
        snprintf(key, sizeof key, "%.*s", (int)(cut - row->section), row->section);
        const tg_schema_row *arr = find_key(s, key);
        TG_ASSERT(arr && arr->type == TG_SCHEMA_OBJECTS, "a \"[]\" section names its array row");
        size = arr->elem;
        snprintf(elem_section, sizeof elem_section, "%s[]", key);
    }
    void *scratch = calloc(1, size);
    if (!scratch) return;
    defaults_section(s, elem_section, scratch);
    cJSON *v = write_value(s, row, scratch);
    char *text = v ? cJSON_PrintUnformatted(v) : NULL;
    if (text) snprintf(buf, n, "%s", text);
    free(text);
    cJSON_Delete(v);
    free_section(s, elem_section, scratch);
    free(scratch);
}

// ---- checking a table ----
static bool row_sized(const tg_schema_row *r) {
    switch (r->type) {
    case TG_SCHEMA_OBJECT: return !(r->flags & TG_SCHEMA_NULLABLE) || r->size == sizeof(bool);
    case TG_SCHEMA_BOOL: return r->size == sizeof(bool);
    case TG_SCHEMA_INT: return r->size == sizeof(int) || r->size == sizeof(int64_t);
    case TG_SCHEMA_NUMBER: return r->size == sizeof(double);
    case TG_SCHEMA_NUMBERS: return r->len > 0 && r->size == (size_t)r->len * sizeof(double);
    case TG_SCHEMA_ENUM: return r->size == sizeof(int);
    case TG_SCHEMA_STRING:
    case TG_SCHEMA_PATH: return r->size == sizeof(char *);
    case TG_SCHEMA_STRINGS: return r->size == sizeof(char **) && r->max > 0;
    case TG_SCHEMA_OBJECTS: return r->size == sizeof(void *) && r->elem > 0 && r->max > 0;
    case TG_SCHEMA_CUSTOM: return true;
    }
    return false;
}

// A row's section must be an OBJECT row's key, or an OBJECTS row's key and "[]".
static bool section_problem(const tg_schema *s, const tg_schema_row *r) {
    if (!r->section[0]) return false;
    size_t n = strlen(r->section);
    bool elem = n > 2 && !strcmp(r->section + n - 2, "[]");
    char key[NAME_MAX_LEN];
    snprintf(key, sizeof key, "%.*s", (int)(elem ? n - 2 : n), r->section);
    const tg_schema_row *parent = find_key(s, key);
    return !parent || parent->type != (elem ? TG_SCHEMA_OBJECTS : TG_SCHEMA_OBJECT);
}

// What is wrong with one row, or NULL.
static const char *row_problem(const tg_schema *s, const tg_schema_row *r) {
    tg_schema_type t = r->type;
    bool numeric = t == TG_SCHEMA_INT || t == TG_SCHEMA_NUMBER || t == TG_SCHEMA_NUMBERS;
    bool list = t == TG_SCHEMA_STRINGS || t == TG_SCHEMA_OBJECTS;
    unsigned f = r->flags;
    if (!row_sized(r)) return "its size does not fit its type (use TG_SCHEMA_AT)";
    if (section_problem(s, r)) return "its section is not an object row of the table";
    if (find_row(s, r->section, r->name) != r) return "the key is in the table twice";
    if (t == TG_SCHEMA_CUSTOM &&
        !(r->hooks && r->hooks->parse && r->hooks->write && r->hooks->release && r->hooks->type))
        return "a custom row needs parse, write, release and type hooks";
    if ((f & TG_SCHEMA_NULLABLE) &&
        (t == TG_SCHEMA_BOOL || t == TG_SCHEMA_ENUM || t == TG_SCHEMA_NUMBERS))
        return "this type has no null value (use an ENUM with OR_BOOL or a CUSTOM row)";
    if ((f & TG_SCHEMA_NULLABLE) && numeric && in_bounds(r, 0))
        return "null is stored as 0, so 0 must be out of bounds";
    if ((f & TG_SCHEMA_REQUIRED) && !r->missing) return "a required key needs .missing";
    if ((numeric || t == TG_SCHEMA_STRINGS) && !r->rule && !(r->hooks && r->hooks->parse))
        return "needs a rule text (or a parse hook that makes one)";
    if (list && !r->len_rule) return "needs a len_rule (more than max)";
    if (t == TG_SCHEMA_ENUM && !(r->choices && r->choices[0])) return "an enum needs choices";
    if ((f & TG_SCHEMA_OR_BOOL) && t != TG_SCHEMA_ENUM) return "OR_BOOL is for enums";
    if ((f & (TG_SCHEMA_LO_OPEN | TG_SCHEMA_HI_OPEN)) && !numeric)
        return "open bounds on a non-number";
    if (t == TG_SCHEMA_INT && r->size == sizeof(int) && (r->lo < INT_MIN || r->hi > INT_MAX))
        return "bounds do not fit an int";
    if (t == TG_SCHEMA_INT && r->size != sizeof(int) && (r->lo < -0x1p63 || r->hi >= 0x1p63))
        return "bounds do not fit an int64_t";
    int n = 0;
    while (t == TG_SCHEMA_ENUM && r->choices[n]) n++;
    int first = (f & TG_SCHEMA_OR_BOOL) ? 2 : 0;
    if (t == TG_SCHEMA_ENUM && (r->def.i < 0 || r->def.i >= n + first))
        return "default not a choice";
    bool null_default = (f & TG_SCHEMA_NULLABLE) && r->def.i == 0;
    if (t == TG_SCHEMA_INT && !null_default &&
        (!in_bounds(r, (double)r->def.i) || (double)r->def.i != (double)(int64_t)r->def.i))
        return "default out of bounds";
    if (t == TG_SCHEMA_NUMBER && !((f & TG_SCHEMA_NULLABLE) && r->def.x == 0) &&
        !in_bounds(r, r->def.x))
        return "default out of bounds";
    for (int i = 0; t == TG_SCHEMA_NUMBERS && r->def.v && i < r->len; i++)
        if (!in_bounds(r, r->def.v[i])) return "default out of bounds";
    if (t == TG_SCHEMA_NUMBERS && !r->def.v && !in_bounds(r, 0)) return "default (0) out of bounds";
    return NULL;
}

bool tg_schema_valid(const tg_schema *s, char *why, size_t n) {
    for (const tg_schema_row *r = s->rows; r->name; r++) {
        const char *problem = r->name[0] ? row_problem(s, r) : "an empty name";
        if (problem) {
            char key[NAME_MAX_LEN];
            tg_schema_key(r, key, sizeof key);
            snprintf(why, n, "%s: %s", key, problem);
            return false;
        }
    }
    return true;
}
