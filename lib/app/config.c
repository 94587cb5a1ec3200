// config.c: the training config's keys as one table (k_rows: a row per key with its section,
// type, default, bounds, rule text and the tg_config member it fills), read, checked,
// defaulted and written back by the schema engine (schema.c). Messages name the key and the
// rule, e.g. `cfg.json: optimizer.lr must be a finite number > 0 (got -1)`. The rules that
// involve several keys are the parse hooks below (resize >= image_size, nesterov).
//
// Adding a key: a member in tg_config (config.h), a row here in the place it should have in
// config.json, a line in README.md's config table (test_config compares the two).
#include "app/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/threads.h"

_Static_assert(sizeof(tg_sched_type) == sizeof(int) && sizeof(tg_loss_type) == sizeof(int) &&
                   sizeof(tg_optim_type) == sizeof(int),
               "enum rows are stored as int");

#define STR_(x) #x
#define STR(x) STR_(x)
#define AT(m) TG_SCHEMA_AT(tg_config, m)
#define SECTION(name) {"", name, TG_SCHEMA_OBJECT, .flags = 0}
#define BOOL TG_SCHEMA_BOOL
#define INT TG_SCHEMA_INT
#define NUMBER TG_SCHEMA_NUMBER
#define NUMBERS TG_SCHEMA_NUMBERS
#define ENUM TG_SCHEMA_ENUM
#define PATH TG_SCHEMA_PATH
#define STRINGS TG_SCHEMA_STRINGS
#define NUL TG_SCHEMA_NULLABLE
#define REQ TG_SCHEMA_REQUIRED
#define LO_OPEN TG_SCHEMA_LO_OPEN
#define HI_OPEN TG_SCHEMA_HI_OPEN

// ---- the rules over several keys ----
// data.resize defaults to the ImageNet ratio 256/224 of data.image_size and is at least it.
static tg_status parse_resize(const tg_schema_ctx *c, const tg_schema_row *row,
                              const struct cJSON *v, void *base) {
    tg_config *cfg = base;
    if (!v) {
        cfg->resize = (int)lround(cfg->image_size * 8.0 / 7.0);
        return TG_OK;
    }
    char rule[96];
    snprintf(rule, sizeof rule, "an integer >= data.image_size (%d) and <= %.0f",
             cfg->image_size, row->hi);
    tg_schema_row r = *row;
    r.lo = cfg->image_size;
    r.rule = rule;
    return tg_schema_read_value(c, &r, v, base);
}

// optimizer.nesterov needs momentum and no dampening (as torch.optim.SGD).
static tg_status parse_nesterov(const tg_schema_ctx *c, const tg_schema_row *row,
                                const struct cJSON *v, void *base) {
    tg_config *cfg = base;
    tg_status st = tg_schema_read_value(c, row, v, base);
    if (st || !cfg->nesterov || (cfg->momentum > 0 && cfg->dampening == 0)) return st;
    return tg_error_set(c->err, TG_ERR_CONFIG,
                        "%s: optimizer.nesterov needs optimizer.momentum > 0 and "
                        "optimizer.dampening 0 (got momentum %g, dampening %g)",
                        c->src, cfg->momentum, cfg->dampening);
}

static const tg_schema_hooks k_resize = {.parse = parse_resize};
static const tg_schema_hooks k_nesterov = {.parse = parse_nesterov};

// ---- the schema: every key, in the order of config.json ----
static const char *const k_losses[] = {"cross_entropy", NULL};               // tg_loss_type
static const char *const k_optims[] = {"sgd", NULL};                         // tg_optim_type
static const char *const k_scheds[] = {"constant", "step", "cosine", NULL};  // tg_sched_type
static const double k_mean[3] = {0.485, 0.456, 0.406}, k_std[3] = {0.229, 0.224, 0.225};

static const tg_schema_row k_rows[] = {
    SECTION("model"),
    {"model", "weights", PATH, NUL, AT(weights)},
    {"model", "num_classes", INT, NUL, AT(num_classes), .lo = 2, .hi = 1000000,
     .rule = "null or an integer >= 2 (the number of class folders)"},
    {"", "freeze", STRINGS, 0, AT(freeze), .count = offsetof(tg_config, n_freeze),
     .max = TG_CONFIG_MAX_FREEZE, .rule = "an array of non-empty glob patterns (\"layer1.*\")",
     .len_rule = "at most " STR(TG_CONFIG_MAX_FREEZE) " patterns"},
    {"", "freeze_bn_stats", BOOL, 0, AT(freeze_bn_stats)},
    SECTION("data"),
    {"data", "train", PATH, REQ, AT(train_dir), .missing = "the training image folder"},
    {"data", "val", PATH, NUL, AT(val_dir)},
    {"data", "image_size", INT, 0, AT(image_size), .lo = 1, .hi = 8192, .def.i = 224,
     .rule = "an integer in [1, 8192]"},
    {"data", "resize", INT, 0, AT(resize), .lo = 1, .hi = 16384, .def.i = 256,
     .hooks = &k_resize},  // the rule is the hook's
    {"data", "augment", BOOL, 0, AT(augment), .def.b = true},
    {"data", "mean", NUMBERS, 0, AT(mean), .len = 3, .lo = -INFINITY, .hi = INFINITY,
     .def.v = k_mean, .rule = "an array of 3 finite numbers (R, G, B)"},
    {"data", "std", NUMBERS, LO_OPEN, AT(std), .len = 3, .lo = 0, .hi = INFINITY,
     .def.v = k_std, .rule = "an array of 3 finite numbers > 0 (R, G, B)"},
    {"data", "exif_orientation", BOOL, 0, AT(exif_orientation), .def.b = true},
    {"data", "max_bad_fraction", NUMBER, 0, AT(max_bad_fraction), .lo = 0, .hi = 1,
     .def.x = 0.10, .rule = "a number in [0, 1]"},
    {"data", "max_pixels", INT, 0, AT(max_pixels), .lo = 1, .hi = 0x1p40, .def.i = 50000000,
     .rule = "an integer in [1, 2^40]"},
    SECTION("train"),
    {"train", "epochs", INT, 0, AT(epochs), .lo = 1, .hi = 1000000, .def.i = 10,
     .rule = "an integer >= 1"},
    {"train", "batch_size", INT, 0, AT(batch_size), .lo = 1, .hi = 65536, .def.i = 32,
     .rule = "an integer in [1, 65536]"},
    {"train", "shuffle", BOOL, 0, AT(shuffle), .def.b = true},
    {"train", "seed", INT, 0, AT(seed), .lo = 0, .hi = 0x1p53, .rule = "an integer in [0, 2^53]"},
    {"train", "threads", INT, 0, AT(threads), .lo = 0, .hi = TG_THREADS_MAX,
     .rule = "an integer in [0, " STR(TG_THREADS_MAX) "] (0 = every core)"},
    {"train", "checkpoint_every", INT, 0, AT(checkpoint_every), .lo = 0, .hi = INT_MAX,
     .rule = "an integer >= 0 (steps; 0 = only at the end of each epoch)"},
    SECTION("loss"),
    {"loss", "type", ENUM, 0, AT(loss_type), .choices = k_losses},
    {"loss", "label_smoothing", NUMBER, HI_OPEN, AT(label_smoothing), .lo = 0, .hi = 1,
     .rule = "a number in [0, 1)"},
    SECTION("optimizer"),
    {"optimizer", "type", ENUM, 0, AT(optim_type), .choices = k_optims},
    {"optimizer", "lr", NUMBER, LO_OPEN, AT(lr), .lo = 0, .hi = INFINITY, .def.x = 0.01,
     .rule = "a finite number > 0"},
    {"optimizer", "momentum", NUMBER, HI_OPEN, AT(momentum), .lo = 0, .hi = 1, .def.x = 0.9,
     .rule = "a number in [0, 1)"},
    {"optimizer", "dampening", NUMBER, 0, AT(dampening), .lo = 0, .hi = 1,
     .rule = "a number in [0, 1]"},
    {"optimizer", "weight_decay", NUMBER, 0, AT(weight_decay), .lo = 0, .hi = INFINITY,
     .rule = "a finite number >= 0"},
    {"optimizer", "nesterov", BOOL, 0, AT(nesterov), .hooks = &k_nesterov},
    SECTION("scheduler"),
    {"scheduler", "type", ENUM, 0, AT(sched), .choices = k_scheds},
    {"scheduler", "step_size", INT, 0, AT(sched_step_size), .lo = 1, .hi = 1000000, .def.i = 7,
     .rule = "an integer >= 1 (epochs)"},
    {"scheduler", "gamma", NUMBER, LO_OPEN, AT(sched_gamma), .lo = 0, .hi = 1, .def.x = 0.1,
     .rule = "a number in (0, 1]"},
    {"scheduler", "min_lr", NUMBER, 0, AT(sched_min_lr), .lo = 0, .hi = INFINITY,
     .rule = "a finite number >= 0"},
    {"", "output", PATH, REQ, AT(output), .missing = "the run's output directory"},
    {NULL},
};

const tg_schema tg_config_schema = {k_rows, sizeof(tg_config)};

// ---- the API ----
void tg_config_defaults(tg_config *cfg) { tg_schema_defaults(&tg_config_schema, cfg); }

void tg_config_free(tg_config *cfg) {
    if (!cfg) return;
    tg_schema_free(&tg_config_schema, cfg);
    free(cfg->source);
    memset(cfg, 0, sizeof *cfg);
}

tg_status tg_config_parse(const char *json, const char *base_dir, const char *source,
                          tg_config *cfg, tg_error *err) {
    tg_config_defaults(cfg);
    const char *src = source ? source : "<string>";
    tg_status st = tg_schema_parse(&tg_config_schema, json, base_dir, src, cfg, err);
    if (!st && !(cfg->source = strdup(src))) st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    if (st) tg_config_free(cfg);
    return st;
}

char *tg_config_to_json(const tg_config *cfg) { return tg_schema_print(&tg_config_schema, cfg); }

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
