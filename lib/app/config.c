// config.c: reads, validates and writes back the JSON training config (see config.h).
// The accepted keys are listed once in the tables below; every section is read by a small
// function that checks each key's type and range and names the key and the rule when
// something is wrong, e.g. `cfg.json: optimizer.lr must be a finite number > 0 (got -1)`.
#include "app/config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/threads.h"
// ---- the schema: every valid key, per section ----
static const char *const k_top[] = {"model", "freeze", "freeze_bn_stats", "data", "train",
                                    "loss", "optimizer", "scheduler", "output", NULL};
static const char *const k_model[] = {"weights", "num_classes", NULL};
static const char *const k_data[] = {"train", "val", "image_size", "resize", "augment", "mean",
                                     "std", "exif_orientation", "max_bad_fraction",
                                     "max_pixels", NULL};
static const char *const k_train[] = {"epochs", "batch_size", "shuffle", "seed", "threads",
                                      "checkpoint_every", NULL};
static const char *const k_loss[] = {"type", "label_smoothing", NULL};
static const char *const k_optim[] = {"type", "lr", "momentum", "dampening", "weight_decay",
                                      "nesterov", NULL};
static const char *const k_sched[] = {"type", "step_size", "gamma", "min_lr", NULL};

typedef struct {
    const char *section;  // "" for the top level
    const char *const *keys;
} schema_section;

static const schema_section k_schema[] = {
    {"", k_top},           {"model", k_model}, {"data", k_data},           {"train", k_train},
    {"loss", k_loss},      {"optimizer", k_optim}, {"scheduler", k_sched}, {NULL, NULL},
};

// ---- helpers ----
typedef struct {
    const char *src;  // file name for messages
    tg_error *err;
} parser;

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

// The valid key nearest to `key` found in `section`: a sibling first, else any key of any
// section (someone writing "lr" at the top level means "optimizer.lr").
static void suggest(const char *section, const char *key, char *out, size_t n) {
    int best = INT_MAX;
    out[0] = 0;
    for (const schema_section *s = k_schema; s->section; s++) {
        bool sibling = !strcmp(s->section, section);
        for (const char *const *k = s->keys; *k; k++) {
            int d = tg_edit_distance(key, *k) * 2 + (sibling ? 0 : 1);
            if (d < best) {
                best = d;
                full_name(out, n, s->section, *k);
            }
        }
    }
}

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

static tg_status bad(parser *p, const char *section, const char *key, const cJSON *v,
                     const char *rule) {
    char name[160], got[80];
    full_name(name, sizeof name, section, key);
    show(v, got, sizeof got);
    return tg_error_set(p->err, TG_ERR_CONFIG, "%s: %s must be %s (got %s)", p->src, name, rule,
                        got);
}

// Every member of obj must be one of `keys`, once.
static tg_status check_keys(parser *p, const cJSON *obj, const char *section,
                            const char *const *keys) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        bool known = false;
        for (const char *const *k = keys; *k; k++)
            if (!strcmp(*k, it->string)) known = true;
        char name[160];
        full_name(name, sizeof name, section, it->string);
        if (!known) {
            char near[160];
            suggest(section, it->string, near, sizeof near);
            return tg_error_set(p->err, TG_ERR_CONFIG,
                                "%s: unknown key \"%s\"; did you mean \"%s\"?", p->src, name,
                                near);
        }
        for (const cJSON *o = obj->child; o != it; o = o->next)
            if (!strcmp(o->string, it->string))
                return tg_error_set(p->err, TG_ERR_CONFIG, "%s: duplicate key \"%s\"", p->src,
                                    name);
    }
    return TG_OK;
}

static const cJSON *member(const cJSON *obj, const char *key) {
    return obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

// The section object (NULL if absent), or an error if it is not an object.
static tg_status section_obj(parser *p, const cJSON *root, const char *name,
                             const char *const *keys, const cJSON **out) {
    *out = NULL;
    const cJSON *v = member(root, name);
    if (!v) return TG_OK;
    if (!cJSON_IsObject(v)) return bad(p, "", name, v, "an object");
    *out = v;
    return check_keys(p, v, name, keys);
}

// Reads a number in [lo, hi] (lo_open/hi_open make the bound exclusive).
static tg_status get_real(parser *p, const cJSON *obj, const char *section, const char *key,
                          double lo, bool lo_open, double hi, bool hi_open, const char *rule,
                          double *out) {
    const cJSON *v = member(obj, key);
    if (!v) return TG_OK;
    if (!cJSON_IsNumber(v)) return bad(p, section, key, v, rule);
    double x = v->valuedouble;
    if (!isfinite(x) || (lo_open ? x <= lo : x < lo) || (hi_open ? x >= hi : x > hi))
        return bad(p, section, key, v, rule);
    *out = x;
    return TG_OK;
}

static tg_status get_int(parser *p, const cJSON *obj, const char *section, const char *key,
                         int64_t lo, int64_t hi, const char *rule, int64_t *out) {
    const cJSON *v = member(obj, key);
    if (!v) return TG_OK;
    if (!cJSON_IsNumber(v)) return bad(p, section, key, v, rule);
    double x = v->valuedouble;
    if (!isfinite(x) || x != floor(x) || x < (double)lo || x > (double)hi)
        return bad(p, section, key, v, rule);
    *out = (int64_t)x;
    return TG_OK;
}

static tg_status get_int32(parser *p, const cJSON *obj, const char *section, const char *key,
                           int lo, int hi, const char *rule, int *out) {
    int64_t x = *out;
    tg_status st = get_int(p, obj, section, key, lo, hi, rule, &x);
    *out = (int)x;
    return st;
}

static tg_status get_bool(parser *p, const cJSON *obj, const char *section, const char *key,
                          bool *out) {
    const cJSON *v = member(obj, key);
    if (!v) return TG_OK;
    if (!cJSON_IsBool(v)) return bad(p, section, key, v, "true or false");
    *out = cJSON_IsTrue(v);
    return TG_OK;
}

// A string that must equal one of `choices` (NULL-terminated); *index set to its position.
static tg_status get_choice(parser *p, const cJSON *obj, const char *section, const char *key,
                            const char *const *choices, const char *rule, int *index) {
    const cJSON *v = member(obj, key);
    if (!v) return TG_OK;
    if (cJSON_IsString(v))
        for (int i = 0; choices[i]; i++)
            if (!strcmp(v->valuestring, choices[i])) {
                *index = i;
                return TG_OK;
            }
    return bad(p, section, key, v, rule);
}

// Removes "." and "dir/.." components of an absolute path in place, lexically (the base
// directory is a realpath, so only the config's own ".." are folded: "/a/configs/../data"
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

// A path (string, or null when allow_null); resolved against base; *out replaced.
static tg_status get_path(parser *p, const cJSON *obj, const char *section, const char *key,
                          bool allow_null, const char *base, char **out) {
    const cJSON *v = member(obj, key);
    if (!v) return TG_OK;
    if (allow_null && cJSON_IsNull(v)) {
        free(*out);
        *out = NULL;
        return TG_OK;
    }
    if (!cJSON_IsString(v) || !v->valuestring[0])
        return bad(p, section, key, v, allow_null ? "a non-empty path or null" : "a non-empty path");
    char *s = join_path(base, v->valuestring);
    if (!s) return tg_error_set(p->err, TG_ERR_NOMEM, "out of memory");
    free(*out);
    *out = s;
    return TG_OK;
}

static tg_status get_vec3(parser *p, const cJSON *obj, const char *section, const char *key,
                          bool positive, double out[3]) {
    const cJSON *v = member(obj, key);
    if (!v) return TG_OK;
    const char *rule = positive ? "an array of 3 finite numbers > 0 (R, G, B)"
                                : "an array of 3 finite numbers (R, G, B)";
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 3) return bad(p, section, key, v, rule);
    double x[3];
    int i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || (positive && e->valuedouble <= 0))
            return bad(p, section, key, v, rule);
        x[i] = e->valuedouble;
    }
    memcpy(out, x, sizeof x);
    return TG_OK;
}

// ---- defaults ----
void tg_config_defaults(tg_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->image_size = 224;
    cfg->resize = 256;
    cfg->augment = true;
    const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
    memcpy(cfg->mean, mean, sizeof mean);
    memcpy(cfg->std, std, sizeof std);
    cfg->exif_orientation = true;
    cfg->max_bad_fraction = 0.10;
    cfg->max_pixels = 50000000;
    cfg->epochs = 10;
    cfg->batch_size = 32;
    cfg->shuffle = true;
    cfg->lr = 0.01;
    cfg->momentum = 0.9;
    cfg->sched = TG_SCHED_CONSTANT;
    cfg->sched_step_size = 7;
    cfg->sched_gamma = 0.1;
}

void tg_config_free(tg_config *cfg) {
    if (!cfg) return;
    free(cfg->source);
    free(cfg->weights);
    for (int i = 0; i < cfg->n_freeze; i++) free(cfg->freeze[i]);
    free(cfg->freeze);
    free(cfg->train_dir);
    free(cfg->val_dir);
    free(cfg->output);
    memset(cfg, 0, sizeof *cfg);
}

// ---- sections ----
static tg_status read_model(parser *p, const cJSON *root, const char *base, tg_config *cfg) {
    const cJSON *m;
    tg_status st = section_obj(p, root, "model", k_model, &m);
    if (st || !m) return st;
    if ((st = get_path(p, m, "model", "weights", true, base, &cfg->weights))) return st;
    const cJSON *nc = member(m, "num_classes");
    if (nc && !cJSON_IsNull(nc))
        st = get_int32(p, m, "model", "num_classes", 2, 1000000,
                       "null or an integer >= 2 (the number of class folders)",
                       &cfg->num_classes);
    return st;
}

static tg_status read_freeze(parser *p, const cJSON *root, tg_config *cfg) {
    const cJSON *f = member(root, "freeze");
    if (!f) return TG_OK;
    const char *rule = "an array of non-empty glob patterns (\"layer1.*\")";
    if (!cJSON_IsArray(f)) return bad(p, "", "freeze", f, rule);
    int n = cJSON_GetArraySize(f);
    if (n > TG_CONFIG_MAX_FREEZE) return bad(p, "", "freeze", f, "at most 256 patterns");
    for (const cJSON *e = f->child; e; e = e->next)
        if (!cJSON_IsString(e) || !e->valuestring[0]) return bad(p, "", "freeze", f, rule);
    cfg->freeze = calloc((size_t)n + 1, sizeof *cfg->freeze);
    if (!cfg->freeze) return tg_error_set(p->err, TG_ERR_NOMEM, "out of memory");
    for (const cJSON *e = f->child; e; e = e->next) {
        cfg->freeze[cfg->n_freeze] = strdup(e->valuestring);
        if (!cfg->freeze[cfg->n_freeze]) return tg_error_set(p->err, TG_ERR_NOMEM, "out of memory");
        cfg->n_freeze++;
    }
    return TG_OK;
}

static tg_status read_data(parser *p, const cJSON *root, const char *base, tg_config *cfg) {
    const cJSON *d;
    tg_status st = section_obj(p, root, "data", k_data, &d);
    if (st) return st;
    if (!d || !member(d, "train"))
        return tg_error_set(p->err, TG_ERR_CONFIG,
                            "%s: missing key \"data.train\" (the training image folder)", p->src);
    if ((st = get_path(p, d, "data", "train", false, base, &cfg->train_dir))) return st;
    if ((st = get_path(p, d, "data", "val", true, base, &cfg->val_dir))) return st;
    if ((st = get_int32(p, d, "data", "image_size", 1, 8192, "an integer in [1, 8192]",
                        &cfg->image_size)))
        return st;
    // resize defaults to the ImageNet ratio 256/224 of the crop
    cfg->resize = (int)lround(cfg->image_size * 8.0 / 7.0);
    const cJSON *rs = member(d, "resize");
    if (rs) {
        char rule[96];
        snprintf(rule, sizeof rule, "an integer >= data.image_size (%d) and <= 16384",
                 cfg->image_size);
        if ((st = get_int32(p, d, "data", "resize", cfg->image_size, 16384, rule, &cfg->resize)))
            return st;
    }
    if ((st = get_bool(p, d, "data", "augment", &cfg->augment))) return st;
    if ((st = get_vec3(p, d, "data", "mean", false, cfg->mean))) return st;
    if ((st = get_vec3(p, d, "data", "std", true, cfg->std))) return st;
    if ((st = get_bool(p, d, "data", "exif_orientation", &cfg->exif_orientation))) return st;
    if ((st = get_real(p, d, "data", "max_bad_fraction", 0, false, 1, false,
                       "a number in [0, 1]", &cfg->max_bad_fraction)))
        return st;
    return get_int(p, d, "data", "max_pixels", 1, (int64_t)1 << 40,
                   "an integer in [1, 2^40]", &cfg->max_pixels);
}

static tg_status read_train(parser *p, const cJSON *root, tg_config *cfg) {
    const cJSON *t;
    tg_status st = section_obj(p, root, "train", k_train, &t);
    if (st || !t) return st;
    char threads_rule[64];
    snprintf(threads_rule, sizeof threads_rule, "an integer in [0, %d] (0 = every core)",
             TG_THREADS_MAX);
    if ((st = get_int32(p, t, "train", "epochs", 1, 1000000, "an integer >= 1", &cfg->epochs)) ||
        (st = get_int32(p, t, "train", "batch_size", 1, 65536, "an integer in [1, 65536]",
                        &cfg->batch_size)) ||
        (st = get_bool(p, t, "train", "shuffle", &cfg->shuffle)) ||
        (st = get_int32(p, t, "train", "threads", 0, TG_THREADS_MAX, threads_rule,
                        &cfg->threads)) ||
        (st = get_int32(p, t, "train", "checkpoint_every", 0, INT_MAX,
                        "an integer >= 0 (steps; 0 = only at the end of each epoch)",
                        &cfg->checkpoint_every)))
        return st;
    int64_t seed = (int64_t)cfg->seed;
    st = get_int(p, t, "train", "seed", 0, (int64_t)1 << 53, "an integer in [0, 2^53]", &seed);
    cfg->seed = (uint64_t)seed;
    return st;
}

static tg_status read_loss(parser *p, const cJSON *root, tg_config *cfg) {
    const cJSON *l;
    tg_status st = section_obj(p, root, "loss", k_loss, &l);
    if (st || !l) return st;
    static const char *const types[] = {"cross_entropy", NULL};
    int type = 0;
    if ((st = get_choice(p, l, "loss", "type", types, "\"cross_entropy\"", &type))) return st;
    return get_real(p, l, "loss", "label_smoothing", 0, false, 1, true, "a number in [0, 1)",
                    &cfg->label_smoothing);
}

static tg_status read_optim(parser *p, const cJSON *root, tg_config *cfg) {
    const cJSON *o;
    tg_status st = section_obj(p, root, "optimizer", k_optim, &o);
    if (st || !o) return st;
    static const char *const types[] = {"sgd", NULL};
    int type = 0;
    if ((st = get_choice(p, o, "optimizer", "type", types, "\"sgd\"", &type)) ||
        (st = get_real(p, o, "optimizer", "lr", 0, true, INFINITY, false,
                       "a finite number > 0", &cfg->lr)) ||
        (st = get_real(p, o, "optimizer", "momentum", 0, false, 1, true, "a number in [0, 1)",
                       &cfg->momentum)) ||
        (st = get_real(p, o, "optimizer", "dampening", 0, false, 1, false,
                       "a number in [0, 1]", &cfg->dampening)) ||
        (st = get_real(p, o, "optimizer", "weight_decay", 0, false, INFINITY, false,
                       "a finite number >= 0", &cfg->weight_decay)) ||
        (st = get_bool(p, o, "optimizer", "nesterov", &cfg->nesterov)))
        return st;
    if (cfg->nesterov && (cfg->momentum <= 0 || cfg->dampening != 0))
        return tg_error_set(p->err, TG_ERR_CONFIG,
                            "%s: optimizer.nesterov needs optimizer.momentum > 0 and "
                            "optimizer.dampening 0 (got momentum %g, dampening %g)",
                            p->src, cfg->momentum, cfg->dampening);
    return TG_OK;
}

static tg_status read_sched(parser *p, const cJSON *root, tg_config *cfg) {
    const cJSON *s;
    tg_status st = section_obj(p, root, "scheduler", k_sched, &s);
    if (st || !s) return st;
    static const char *const types[] = {"constant", "step", "cosine", NULL};
    int type = 0;
    if ((st = get_choice(p, s, "scheduler", "type", types,
                         "\"constant\", \"step\" or \"cosine\"", &type)) ||
        (st = get_int32(p, s, "scheduler", "step_size", 1, 1000000, "an integer >= 1 (epochs)",
                        &cfg->sched_step_size)) ||
        (st = get_real(p, s, "scheduler", "gamma", 0, true, 1, false, "a number in (0, 1]",
                       &cfg->sched_gamma)) ||
        (st = get_real(p, s, "scheduler", "min_lr", 0, false, INFINITY, false,
                       "a finite number >= 0", &cfg->sched_min_lr)))
        return st;
    cfg->sched = (tg_sched_type)type;
    return TG_OK;
}

static void parse_position(const char *json, const char *at, int *line, int *col) {
    *line = 1;
    *col = 1;
    for (const char *c = json; c < at && *c; c++) {
        if (*c == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

tg_status tg_config_parse(const char *json, const char *base_dir, const char *source,
                          tg_config *cfg, tg_error *err) {
    tg_config_defaults(cfg);
    parser p = {source ? source : "<string>", err};
    tg_status st = TG_OK;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 1);
    if (!root) {
        int line, col;
        parse_position(json, end ? end : json, &line, &col);
        st = tg_error_set(err, TG_ERR_CONFIG, "%s: invalid JSON at line %d, column %d", p.src,
                          line, col);
        goto fail;
    }
    cfg->source = strdup(p.src);
    if (!cfg->source) {
        st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        st = tg_error_set(err, TG_ERR_CONFIG, "%s: the config must be a JSON object ({...})",
                          p.src);
        goto fail;
    }
    if ((st = check_keys(&p, root, "", k_top)) || (st = read_model(&p, root, base_dir, cfg)) ||
        (st = read_freeze(&p, root, cfg)) ||
        (st = get_bool(&p, root, "", "freeze_bn_stats", &cfg->freeze_bn_stats)) ||
        (st = read_data(&p, root, base_dir, cfg)) || (st = read_train(&p, root, cfg)) ||
        (st = read_loss(&p, root, cfg)) || (st = read_optim(&p, root, cfg)) ||
        (st = read_sched(&p, root, cfg)))
        goto fail;
    if (!member(root, "output")) {
        st = tg_error_set(err, TG_ERR_CONFIG,
                          "%s: missing key \"output\" (the run's output directory)", p.src);
        goto fail;
    }
    if ((st = get_path(&p, root, "", "output", false, base_dir, &cfg->output))) goto fail;
    cJSON_Delete(root);
    return TG_OK;
fail:
    cJSON_Delete(root);
    tg_config_free(cfg);
    return st ? st : TG_ERR_CONFIG;
}

tg_status tg_config_load(const char *path, tg_config *cfg, tg_error *err) {
    tg_config_defaults(cfg);
    char *text = NULL, *dir = NULL, *base = NULL;
    tg_status st = TG_OK;
    FILE *f = fopen(path, "rb");
    if (!f) {
        st = tg_error_set(err, TG_ERR_IO, "%s: cannot open the config: %s", path, strerror(errno));
        goto fail;
    }
    size_t cap = 1 << 14, n = 0;
    text = malloc(cap);
    if (!text) goto nomem;
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= (1u << 24)) {
                st = tg_error_set(err, TG_ERR_CONFIG, "%s: larger than 16 MB, not a config",
                                  path);
                goto fail;
            }
            char *t = realloc(text, cap * 2);
            if (!t) goto nomem;
            text = t;
            cap *= 2;
        }
        size_t r = fread(text + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    if (ferror(f)) {
        st = tg_error_set(err, TG_ERR_IO, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    text[n] = 0;
    if (strlen(text) != n) {
        st = tg_error_set(err, TG_ERR_CONFIG, "%s: contains a NUL byte, not a JSON config", path);
        goto fail;
    }
    // the directory of the config file, made absolute so the resolved config still points
    // at the same files when it is read from elsewhere (config.json in the output)
    dir = strdup(path);
    if (!dir) goto nomem;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = 0;
    else if (slash)
        *slash = 0;
    else
        strcpy(dir, ".");
    base = realpath(dir, NULL);
    st = tg_config_parse(text, base ? base : dir, path, cfg, err);
    goto done;
nomem:
    st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
fail:
    tg_config_free(cfg);
done:
    if (f) fclose(f);
    free(text);
    free(dir);
    free(base);
    return st;
}

double tg_config_lr_at(const tg_config *cfg, int epoch) {
    switch (cfg->sched) {
    case TG_SCHED_STEP:
        return cfg->lr * pow(cfg->sched_gamma, (double)(epoch / cfg->sched_step_size));
    case TG_SCHED_COSINE:
        return cfg->sched_min_lr + (cfg->lr - cfg->sched_min_lr) *
                                       (1 + cos(M_PI * epoch / cfg->epochs)) / 2;
    case TG_SCHED_CONSTANT:
    default:
        return cfg->lr;
    }
}

// ---- writing back ----
static cJSON *vec3(const double v[3]) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < 3; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static void add_path(cJSON *o, const char *key, const char *path) {
    if (path)
        cJSON_AddStringToObject(o, key, path);
    else
        cJSON_AddNullToObject(o, key);
}

char *tg_config_to_json(const tg_config *cfg) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON *m = cJSON_AddObjectToObject(root, "model");
    add_path(m, "weights", cfg->weights);
    if (cfg->num_classes)
        cJSON_AddNumberToObject(m, "num_classes", cfg->num_classes);
    else
        cJSON_AddNullToObject(m, "num_classes");
    cJSON *fr = cJSON_AddArrayToObject(root, "freeze");
    for (int i = 0; i < cfg->n_freeze; i++)
        cJSON_AddItemToArray(fr, cJSON_CreateString(cfg->freeze[i]));
    cJSON_AddBoolToObject(root, "freeze_bn_stats", cfg->freeze_bn_stats);
    cJSON *d = cJSON_AddObjectToObject(root, "data");
    add_path(d, "train", cfg->train_dir);
    add_path(d, "val", cfg->val_dir);
    cJSON_AddNumberToObject(d, "image_size", cfg->image_size);
    cJSON_AddNumberToObject(d, "resize", cfg->resize);
    cJSON_AddBoolToObject(d, "augment", cfg->augment);
    cJSON_AddItemToObject(d, "mean", vec3(cfg->mean));
    cJSON_AddItemToObject(d, "std", vec3(cfg->std));
    cJSON_AddBoolToObject(d, "exif_orientation", cfg->exif_orientation);
    cJSON_AddNumberToObject(d, "max_bad_fraction", cfg->max_bad_fraction);
    cJSON_AddNumberToObject(d, "max_pixels", (double)cfg->max_pixels);
    cJSON *t = cJSON_AddObjectToObject(root, "train");
    cJSON_AddNumberToObject(t, "epochs", cfg->epochs);
    cJSON_AddNumberToObject(t, "batch_size", cfg->batch_size);
    cJSON_AddBoolToObject(t, "shuffle", cfg->shuffle);
    cJSON_AddNumberToObject(t, "seed", (double)cfg->seed);
    cJSON_AddNumberToObject(t, "threads", cfg->threads);
    cJSON_AddNumberToObject(t, "checkpoint_every", cfg->checkpoint_every);
    cJSON *l = cJSON_AddObjectToObject(root, "loss");
    cJSON_AddStringToObject(l, "type", "cross_entropy");
    cJSON_AddNumberToObject(l, "label_smoothing", cfg->label_smoothing);
    cJSON *o = cJSON_AddObjectToObject(root, "optimizer");
    cJSON_AddStringToObject(o, "type", "sgd");
    cJSON_AddNumberToObject(o, "lr", cfg->lr);
    cJSON_AddNumberToObject(o, "momentum", cfg->momentum);
    cJSON_AddNumberToObject(o, "dampening", cfg->dampening);
    cJSON_AddNumberToObject(o, "weight_decay", cfg->weight_decay);
    cJSON_AddBoolToObject(o, "nesterov", cfg->nesterov);
    cJSON *s = cJSON_AddObjectToObject(root, "scheduler");
    static const char *const names[] = {"constant", "step", "cosine"};
    cJSON_AddStringToObject(s, "type", names[cfg->sched]);
    cJSON_AddNumberToObject(s, "step_size", cfg->sched_step_size);
    cJSON_AddNumberToObject(s, "gamma", cfg->sched_gamma);
    cJSON_AddNumberToObject(s, "min_lr", cfg->sched_min_lr);
    add_path(root, "output", cfg->output);
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    return out;
}
