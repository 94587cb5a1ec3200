// test_config.c: the JSON config: defaults, path resolution, the written-back form, and
// every error case with its exact message (key named, rule stated, nearest key suggested);
// the schema table against README.md's config table; the schema engine (schema.c) on the
// row types the config is to grow.
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/config.h"
#include "testlib.h"

static const char *k_min = "{\"data\": {\"train\": \"d/train\"}, \"output\": \"runs/x\"}";

START_TEST(test_defaults) {
    tg_config c;
    tg_error e = {0};
    ck_assert_int_eq(tg_config_parse(k_min, "/base", "c.json", &c, &e), TG_OK);
    ck_assert_str_eq(c.train_dir, "/base/d/train");
    ck_assert_str_eq(c.output, "/base/runs/x");
    tg_config_free(&c);
    // the config's own ".." and "." are folded
    ck_assert_int_eq(tg_config_parse("{\"data\": {\"train\": \"../d/./train/\"}, \"output\": "
                                     "\"../../../o\"}",
                                     "/a/configs", "c.json", &c, &e),
                     TG_OK);
    ck_assert_str_eq(c.train_dir, "/a/d/train");
    ck_assert_str_eq(c.output, "/o");
    ck_assert_ptr_null(c.weights);
    ck_assert_ptr_null(c.val_dir);
    ck_assert_int_eq(c.num_classes, 0);
    ck_assert_int_eq(c.n_freeze, 0);
    ck_assert(!c.freeze_bn_stats);
    ck_assert_int_eq(c.image_size, 224);
    ck_assert_int_eq(c.resize, 256);
    ck_assert(c.augment && c.exif_orientation && c.shuffle && !c.nesterov);
    ck_assert_double_eq_tol(c.mean[1], 0.456, 1e-12);
    ck_assert_double_eq_tol(c.std[2], 0.225, 1e-12);
    ck_assert_double_eq_tol(c.max_bad_fraction, 0.10, 1e-12);
    ck_assert_int_eq(c.max_pixels, 50000000);
    ck_assert_int_eq(c.epochs, 10);
    ck_assert_int_eq(c.batch_size, 32);
    ck_assert_int_eq(c.threads, 0);
    ck_assert_int_eq(c.checkpoint_every, 0);
    ck_assert_uint_eq(c.seed, 0);
    ck_assert_double_eq(c.lr, 0.01);
    ck_assert_double_eq(c.momentum, 0.9);
    ck_assert_double_eq(c.label_smoothing, 0);
    ck_assert_int_eq(c.sched, TG_SCHED_CONSTANT);
    ck_assert_double_eq(tg_config_lr_at(&c, 5), 0.01);
    tg_config_free(&c);
}
END_TEST

START_TEST(test_full_and_roundtrip) {
    const char *json =
        "{\"model\": {\"weights\": \"/abs/w.pth\", \"num_classes\": 10},\n"
        " \"freeze\": [\"conv1.*\", \"layer1.*\"], \"freeze_bn_stats\": true,\n"
        " \"data\": {\"train\": \"tr\", \"val\": \"va\", \"image_size\": 64, \"augment\": false,\n"
        "          \"mean\": [0.5, 0.5, 0.5], \"std\": [0.25, 0.5, 1], \"exif_orientation\": false,\n"
        "          \"max_bad_fraction\": 0.5, \"max_pixels\": 1000},\n"
        " \"train\": {\"epochs\": 3, \"batch_size\": 8, \"shuffle\": false, \"seed\": 42,\n"
        "           \"threads\": 2, \"checkpoint_every\": 5},\n"
        " \"loss\": {\"type\": \"cross_entropy\", \"label_smoothing\": 0.1},\n"
        " \"optimizer\": {\"type\": \"sgd\", \"lr\": 0.1, \"momentum\": 0.5, \"dampening\": 0,\n"
        "               \"weight_decay\": 1e-4, \"nesterov\": true},\n"
        " \"scheduler\": {\"type\": \"step\", \"step_size\": 2, \"gamma\": 0.5},\n"
        " \"output\": \"out\"}";
    tg_config c, d;
    tg_error e = {0};
    ck_assert_int_eq(tg_config_parse(json, "/b", "c.json", &c, &e), TG_OK);
    ck_assert_str_eq(c.weights, "/abs/w.pth");
    ck_assert_str_eq(c.val_dir, "/b/va");
    ck_assert_int_eq(c.num_classes, 10);
    ck_assert_int_eq(c.n_freeze, 2);
    ck_assert_str_eq(c.freeze[1], "layer1.*");
    ck_assert(c.freeze_bn_stats && !c.augment && !c.exif_orientation && !c.shuffle);
    ck_assert_int_eq(c.image_size, 64);
    ck_assert_int_eq(c.resize, 73);  // 64 * 8/7 rounded
    ck_assert_double_eq(c.std[0], 0.25);
    ck_assert_int_eq(c.max_pixels, 1000);
    ck_assert_int_eq(c.epochs, 3);
    ck_assert_int_eq(c.batch_size, 8);
    ck_assert_uint_eq(c.seed, 42);
    ck_assert_int_eq(c.threads, 2);
    ck_assert_int_eq(c.checkpoint_every, 5);
    ck_assert_double_eq(c.label_smoothing, 0.1);
    ck_assert(c.nesterov);
    ck_assert_double_eq(c.weight_decay, 1e-4);
    ck_assert_double_eq(tg_config_lr_at(&c, 0), 0.1);
    ck_assert_double_eq(tg_config_lr_at(&c, 1), 0.1);
    ck_assert_double_eq(tg_config_lr_at(&c, 2), 0.05);
    ck_assert_double_eq(tg_config_lr_at(&c, 5), 0.025);

    // the resolved config parses back to the same values (paths already absolute)
    char *text = tg_config_to_json(&c);
    ck_assert_ptr_nonnull(text);
    ck_assert_int_eq(tg_config_parse(text, "/elsewhere", "r.json", &d, &e), TG_OK);
    ck_assert_str_eq(d.train_dir, "/b/tr");
    ck_assert_str_eq(d.output, "/b/out");
    ck_assert_int_eq(d.resize, 73);
    ck_assert_double_eq(d.lr, c.lr);
    ck_assert_double_eq(d.weight_decay, c.weight_decay);
    ck_assert_double_eq(d.std[1], c.std[1]);
    ck_assert_int_eq(d.sched, TG_SCHED_STEP);
    ck_assert_int_eq(d.n_freeze, 2);
    ck_assert_uint_eq(d.seed, 42);
    char *text2 = tg_config_to_json(&d);
    ck_assert_str_eq(text, text2);
    free(text);
    free(text2);
    tg_config_free(&c);
    tg_config_free(&d);
}
END_TEST

START_TEST(test_cosine) {
    tg_config c;
    tg_error e = {0};
    ck_assert_int_eq(
        tg_config_parse("{\"data\": {\"train\": \"t\"}, \"output\": \"o\", \"train\": {\"epochs\": 4},"
                        "\"optimizer\": {\"lr\": 1}, \"scheduler\": {\"type\": \"cosine\"}}",
                        NULL, "c.json", &c, &e),
        TG_OK);
    ck_assert_str_eq(c.train_dir, "t");  // no base: as given
    ck_assert_double_eq_tol(tg_config_lr_at(&c, 0), 1.0, 1e-12);
    ck_assert_double_eq_tol(tg_config_lr_at(&c, 2), 0.5, 1e-12);
    tg_config_free(&c);
}
END_TEST

// Each bad config and the exact message it must give.
typedef struct {
    const char *json;
    const char *msg;
} bad_case;

#define D "\"data\": {\"train\": \"t\"}, \"output\": \"o\""
static const bad_case k_bad[] = {
    {"{" D ", \"optimizer\": {\"lr\": -1}}",
     "c.json: optimizer.lr must be a finite number > 0 (got -1)"},
    {"{" D ", \"optimizer\": {\"lr\": 0}}",
     "c.json: optimizer.lr must be a finite number > 0 (got 0)"},
    {"{" D ", \"optimizer\": {\"lr\": 1e999}}",
     "c.json: optimizer.lr must be a finite number > 0 (got inf)"},
    {"{" D ", \"optimizer\": {\"weight_decay\": -1e400}}",
     "c.json: optimizer.weight_decay must be a finite number >= 0 (got -inf)"},
    {"{\"data\": {\"train\": \"t\", \"std\": [1, 1e999, -1e999]}, \"output\": \"o\"}",
     "c.json: data.std must be an array of 3 finite numbers > 0 (R, G, B) (got [1,inf,-inf])"},
    {"{" D ", \"optimizer\": {\"lr\": \"0.1\"}}",
     "c.json: optimizer.lr must be a finite number > 0 (got \"0.1\")"},
    {"{" D ", \"optimizer\": {\"lrr\": 0.1}}",
     "c.json: unknown key \"optimizer.lrr\"; did you mean \"optimizer.lr\"?"},
    {"{" D ", \"lr\": 0.1}", "c.json: unknown key \"lr\"; did you mean \"optimizer.lr\"?"},
    {"{" D ", \"train\": {\"epoch\": 3}}",
     "c.json: unknown key \"train.epoch\"; did you mean \"train.epochs\"?"},
    {"{" D ", \"modle\": {}}", "c.json: unknown key \"modle\"; did you mean \"model\"?"},
    {"{" D ", \"train\": {\"batch_size\": 0}}",
     "c.json: train.batch_size must be an integer in [1, 65536] (got 0)"},
    {"{" D ", \"train\": {\"batch_size\": 2.5}}",
     "c.json: train.batch_size must be an integer in [1, 65536] (got 2.5)"},
    {"{" D ", \"train\": {\"epochs\": 0}}", "c.json: train.epochs must be an integer >= 1 (got 0)"},
    {"{" D ", \"train\": {\"threads\": -1}}",
     "c.json: train.threads must be an integer in [0, 1024] (0 = every core) (got -1)"},
    {"{" D ", \"train\": {\"threads\": 1025}}",
     "c.json: train.threads must be an integer in [0, 1024] (0 = every core) (got 1025)"},
    {"{" D ", \"train\": {\"checkpoint_every\": -3}}",
     "c.json: train.checkpoint_every must be an integer >= 0 (steps; 0 = only at the end of "
     "each epoch) (got -3)"},
    {"{" D ", \"train\": {\"shuffle\": 1}}", "c.json: train.shuffle must be true or false (got 1)"},
    {"{" D ", \"train\": {\"seed\": -1}}",
     "c.json: train.seed must be an integer in [0, 2^53] (got -1)"},
    {"{" D ", \"optimizer\": {\"momentum\": 1}}",
     "c.json: optimizer.momentum must be a number in [0, 1) (got 1)"},
    {"{" D ", \"optimizer\": {\"weight_decay\": -0.1}}",
     "c.json: optimizer.weight_decay must be a finite number >= 0 (got -0.1)"},
    {"{" D ", \"optimizer\": {\"dampening\": 2}}",
     "c.json: optimizer.dampening must be a number in [0, 1] (got 2)"},
    {"{" D ", \"optimizer\": {\"type\": \"adam\"}}",
     "c.json: optimizer.type must be \"sgd\" (got \"adam\")"},
    {"{" D ", \"optimizer\": {\"nesterov\": true, \"momentum\": 0}}",
     "c.json: optimizer.nesterov needs optimizer.momentum > 0 and optimizer.dampening 0 (got "
     "momentum 0, dampening 0)"},
    {"{" D ", \"loss\": {\"label_smoothing\": 1}}",
     "c.json: loss.label_smoothing must be a number in [0, 1) (got 1)"},
    {"{" D ", \"loss\": {\"type\": \"mse\"}}",
     "c.json: loss.type must be \"cross_entropy\" (got \"mse\")"},
    {"{\"data\": {\"train\": \"t\", \"image_size\": 0}, \"output\": \"o\"}",
     "c.json: data.image_size must be an integer in [1, 8192] (got 0)"},
    {"{\"data\": {\"train\": \"t\", \"image_size\": 64, \"resize\": 32}, \"output\": \"o\"}",
     "c.json: data.resize must be an integer >= data.image_size (64) and <= 16384 (got 32)"},
    {"{\"data\": {\"train\": \"t\", \"mean\": [0.5, 0.5]}, \"output\": \"o\"}",
     "c.json: data.mean must be an array of 3 finite numbers (R, G, B) (got [0.5,0.5])"},
    {"{\"data\": {\"train\": \"t\", \"std\": [0.5, 0, 0.5]}, \"output\": \"o\"}",
     "c.json: data.std must be an array of 3 finite numbers > 0 (R, G, B) (got [0.5,0,0.5])"},
    {"{\"data\": {\"train\": \"t\", \"max_bad_fraction\": 1.5}, \"output\": \"o\"}",
     "c.json: data.max_bad_fraction must be a number in [0, 1] (got 1.5)"},
    {"{\"data\": {\"train\": \"t\", \"max_pixels\": 0}, \"output\": \"o\"}",
     "c.json: data.max_pixels must be an integer in [1, 2^40] (got 0)"},
    {"{\"data\": {\"train\": 5}, \"output\": \"o\"}",
     "c.json: data.train must be a non-empty path (got 5)"},
    {"{\"data\": {\"train\": \"t\", \"val\": \"\"}, \"output\": \"o\"}",
     "c.json: data.val must be a non-empty path or null (got \"\")"},
    {"{\"data\": {\"train\": \"t\", \"augment\": \"yes\"}, \"output\": \"o\"}",
     "c.json: data.augment must be true or false (got \"yes\")"},
    {"{\"output\": \"o\"}", "c.json: missing key \"data.train\" (the training image folder)"},
    {"{\"data\": {\"train\": \"t\"}}", "c.json: missing key \"output\" (the run's output directory)"},
    {"{\"data\": [1], \"output\": \"o\"}", "c.json: data must be an object (got [1])"},
    {"{" D ", \"model\": {\"num_classes\": 0}}",
     "c.json: model.num_classes must be null or an integer >= 2 (the number of class folders) "
     "(got 0)"},
    {"{" D ", \"model\": {\"num_classes\": 2.5}}",
     "c.json: model.num_classes must be null or an integer >= 2 (the number of class folders) "
     "(got 2.5)"},
    {"{" D ", \"model\": {\"num_classes\": 3e9}}",
     "c.json: model.num_classes must be null or an integer >= 2 (the number of class folders) "
     "(got 3000000000)"},
    {"{" D ", \"model\": {\"weights\": 3}}",
     "c.json: model.weights must be a non-empty path or null (got 3)"},
    {"{" D ", \"freeze\": \"layer1.*\"}",
     "c.json: freeze must be an array of non-empty glob patterns (\"layer1.*\") (got \"layer1.*\")"},
    {"{" D ", \"freeze\": [\"\"]}",
     "c.json: freeze must be an array of non-empty glob patterns (\"layer1.*\") (got [\"\"])"},
    {"{" D ", \"freeze_bn_stats\": null}", "c.json: freeze_bn_stats must be true or false (got null)"},
    {"{" D ", \"scheduler\": {\"type\": \"linear\"}}",
     "c.json: scheduler.type must be \"constant\", \"step\" or \"cosine\" (got \"linear\")"},
    {"{" D ", \"scheduler\": {\"gamma\": 0}}",
     "c.json: scheduler.gamma must be a number in (0, 1] (got 0)"},
    {"{" D ", \"train\": {\"epochs\": 2, \"epochs\": 3}}",
     "c.json: duplicate key \"train.epochs\""},
    {"{" D ",\n \"train\": {\"epochs\": 2,}}", "c.json: invalid JSON at line 2, column 25"},
    {"[1, 2]", "c.json: the config must be a JSON object ({...})"},
    {"", "c.json: invalid JSON at line 1, column 1"},
    {NULL, NULL},
};

START_TEST(test_bad_configs) {
    for (const bad_case *b = k_bad; b->json; b++) {
        tg_config c;
        tg_error e = {0};
        tg_status st = tg_config_parse(b->json, "/b", "c.json", &c, &e);
        ck_assert_msg(st == TG_ERR_CONFIG, "accepted: %s", b->json);
        ck_assert_msg(!strcmp(e.msg, b->msg), "for %s\n got: %s\nwant: %s", b->json, e.msg, b->msg);
        ck_assert_ptr_null(c.train_dir);  // nothing left allocated
        tg_config_free(&c);
    }
}
END_TEST

// A config with `key` (of `section`, "" at the top level) set to the JSON text `val`, and
// data.train and output given.
static void config_with(char *json, size_t n, const char *section, const char *key,
                        const char *val) {
    if (!strcmp(section, "data"))
        snprintf(json, n, "{\"data\": {\"train\": \"t\", \"%s\": %s}, \"output\": \"o\"}", key,
                 val);
    else if (section[0])
        snprintf(json, n, "{" D ", \"%s\": {\"%s\": %s}}", section, key, val);
    else
        snprintf(json, n, "{" D ", \"%s\": %s}", key, val);
}

// Every numeric key of the schema given a number too large for a double (cJSON reads it as
// inf and would print it as null): the message names the key and says inf or -inf.
START_TEST(test_nonfinite_every_key) {
    int keys = 0;
    for (const tg_schema_row *r = tg_config_schema.rows; r->name; r++) {
        if (r->type != TG_SCHEMA_INT && r->type != TG_SCHEMA_NUMBER && r->type != TG_SCHEMA_NUMBERS)
            continue;
        keys++;
        for (int sign = 0; sign < 2; sign++) {
            bool vec = r->type == TG_SCHEMA_NUMBERS;
            const char *num = sign ? "-1e999" : "1e999";
            char val[64], json[512], want[128], name[64];
            if (vec)  // [0.5, 1e999, 0.5, ...] as long as the row wants
                snprintf(val, sizeof val, "[0.5, %s%s]", num, r->len == 3 ? ", 0.5" : "");
            else
                snprintf(val, sizeof val, "%s", num);
            config_with(json, sizeof json, r->section, r->name, val);
            if (vec)
                snprintf(want, sizeof want, "(got [0.5,%s%s])", sign ? "-inf" : "inf",
                         r->len == 3 ? ",0.5" : "");
            else
                snprintf(want, sizeof want, "(got %s)", sign ? "-inf" : "inf");
            char key[64];
            tg_schema_key(r, key, sizeof key);
            snprintf(name, sizeof name, "c.json: %s must be ", key);
            tg_config c;
            tg_error e = {0};
            ck_assert_msg(tg_config_parse(json, "/b", "c.json", &c, &e) == TG_ERR_CONFIG,
                          "accepted: %s", json);
            size_t n = strlen(e.msg), w = strlen(want);
            ck_assert_msg(!strncmp(e.msg, name, strlen(name)) && n > w &&
                              !strcmp(e.msg + n - w, want),
                          "for %s\n got: %s\nwant: %s... %s", json, e.msg, name, want);
            tg_config_free(&c);
        }
    }
    ck_assert_int_eq(keys, 20);  // the numeric keys of today's schema, mean and std included
}
END_TEST

START_TEST(test_load_file) {
    char dir[512], path[600], want[700];
    tg_test_tmpdir(dir, sizeof dir, "tg_config");
    snprintf(path, sizeof path, "%s/c.json", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(k_min, f);
    fclose(f);
    tg_config c;
    tg_error e = {0};
    ck_assert_int_eq(tg_config_load(path, &c, &e), TG_OK);
    char *real = realpath(dir, NULL);
    snprintf(want, sizeof want, "%s/d/train", real);
    ck_assert_str_eq(c.train_dir, want);  // relative to the config file, not the cwd
    ck_assert_str_eq(c.source, path);
    tg_config_free(&c);

    // a missing file is an I/O error naming it
    char missing[600];
    snprintf(missing, sizeof missing, "%s/none.json", dir);
    ck_assert_int_eq(tg_config_load(missing, &c, &e), TG_ERR_IO);
    char wantmsg[800];
    snprintf(wantmsg, sizeof wantmsg, "%s: cannot open the config: No such file or directory",
             missing);
    ck_assert_str_eq(e.msg, wantmsg);
    unlink(path);
    rmdir(dir);
    free(real);
}
END_TEST

START_TEST(test_edit_distance) {
    ck_assert_int_eq(tg_edit_distance("lrr", "lr"), 1);
    ck_assert_int_eq(tg_edit_distance("kitten", "sitting"), 3);
    ck_assert_int_eq(tg_edit_distance("", "abc"), 3);
    ck_assert_int_eq(tg_edit_distance("same", "same"), 0);
}
END_TEST

// ---- the schema as data ----
START_TEST(test_schema_valid) {
    char why[256] = "";
    ck_assert_msg(tg_schema_valid(&tg_config_schema, why, sizeof why), "%s", why);
}
END_TEST

// A row the README documents: every key but the plain sections ("model", "data", ...).
static bool documented(const tg_schema_row *r) {
    return !(r->type == TG_SCHEMA_OBJECT && !(r->flags & TG_SCHEMA_NULLABLE));
}

static char *trim(char *s) {
    while (*s == ' ') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

static void drop_spaces(char *s) {
    char *o = s;
    for (; *s; s++)
        if (*s != ' ') *o++ = *s;
    *o = 0;
}

typedef struct {
    char key[96], type[64], def[160];
} doc_row;

// The rows "| `key` | type | default | meaning |" of README.md's section "## The config
// file". The default is the cell's first code span when it starts with one, else its first
// word ("256, and round(...)" -> "256"), spaces dropped.
static int readme_config_table(doc_row *rows, int max) {
    const char *path = getenv("TG_README");  // set by tests/meson.build
    ck_assert_msg(path != NULL, "TG_README is not set (run through meson test)");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char line[4096];
    bool in_section = false;
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "## ", 3)) in_section = !strcmp(trim(line + 3), "The config file");
        if (!in_section || strncmp(line, "| `", 3)) continue;
        char *cells[6];
        int k = 0;
        for (char *c = strtok(line + 1, "|"); c && k < 6; c = strtok(NULL, "|")) cells[k++] = c;
        ck_assert_msg(k >= 4 && n < max, "README config row with %d cells", k);
        char *key = trim(cells[0]), *type = trim(cells[1]), *def = trim(cells[2]);
        size_t kn = strlen(key);
        ck_assert_msg(kn > 2 && key[kn - 1] == '`' && !strchr(key + 1, ' '),
                      "README config key cell: %s", key);
        snprintf(rows[n].key, sizeof rows[n].key, "%.*s", (int)kn - 2, key + 1);
        snprintf(rows[n].type, sizeof rows[n].type, "%s", type);
        if (def[0] == '`')
            snprintf(rows[n].def, sizeof rows[n].def, "%.*s", (int)strcspn(def + 1, "`"), def + 1);
        else
            snprintf(rows[n].def, sizeof rows[n].def, "%.*s", (int)strcspn(def, " ,"), def);
        drop_spaces(rows[n].def);
        n++;
    }
    fclose(f);
    return n;
}

// README.md's config table lists exactly the schema's keys, each once, with the schema's
// type and default.
START_TEST(test_readme_table) {
    doc_row doc[128];
    int n = readme_config_table(doc, 128), keys = 0;
    ck_assert_int_ge(n, 30);
    for (const tg_schema_row *r = tg_config_schema.rows; r->name; r++) {
        if (!documented(r)) continue;
        keys++;
        char key[96], type[64], def[160];
        tg_schema_key(r, key, sizeof key);
        tg_schema_type_text(r, type, sizeof type);
        tg_schema_default_text(&tg_config_schema, r, def, sizeof def);
        drop_spaces(def);
        int found = 0;
        for (int i = 0; i < n; i++) {
            if (strcmp(doc[i].key, key)) continue;
            found++;
            ck_assert_msg(!strcmp(doc[i].type, type),
                          "README: %s is \"%s\", the schema says \"%s\"", key, doc[i].type, type);
            ck_assert_msg(!strcmp(doc[i].def, def),
                          "README: %s defaults to \"%s\", the schema says \"%s\"", key,
                          doc[i].def, def);
        }
        ck_assert_msg(found == 1, "README's config table has %s %d times", key, found);
    }
    ck_assert_msg(n == keys, "README's config table has %d keys, the schema %d", n, keys);
}
END_TEST

// Every key given its own default (as written in config.json) is accepted and changes
// nothing: the defaults keep the rows' rules.
START_TEST(test_defaults_keep_rules) {
    tg_config c;
    tg_error e = {0};
    ck_assert_int_eq(tg_config_parse("{" D "}", "/b", "c.json", &c, &e), TG_OK);
    char *plain = tg_config_to_json(&c);
    tg_config_free(&c);
    int keys = 0;
    for (const tg_schema_row *r = tg_config_schema.rows; r->name; r++) {
        if (!documented(r) || (r->flags & TG_SCHEMA_REQUIRED)) continue;
        char def[160], json[512];
        tg_schema_default_text(&tg_config_schema, r, def, sizeof def);
        config_with(json, sizeof json, r->section, r->name, def);
        ck_assert_msg(tg_config_parse(json, "/b", "c.json", &c, &e) == TG_OK, "%s: %s", json,
                      e.msg);
        char *text = tg_config_to_json(&c);
        ck_assert_msg(!strcmp(text, plain), "%s changes the config", json);
        free(text);
        tg_config_free(&c);
        keys++;
    }
    ck_assert_int_eq(keys, 31);  // all but data.train and output
    free(plain);
}
END_TEST

// A config that breaks several rules names the first key in the table's (and config.json's)
// order, whatever the order in the file.
START_TEST(test_first_error_in_table_order) {
    static const bad_case cases[] = {
        {"{" D ", \"train\": {\"threads\": -1, \"seed\": -1}}",
         "c.json: train.seed must be an integer in [0, 2^53] (got -1)"},
        {"{\"optimizer\": {\"lr\": 0}, \"data\": {\"train\": \"t\", \"std\": [0, 1, 1]}, "
         "\"output\": \"o\"}",
         "c.json: data.std must be an array of 3 finite numbers > 0 (R, G, B) (got [0,1,1])"},
        {"{" D ", \"scheduler\": {\"gamma\": 0}, \"optimizer\": {\"nesterov\": true, "
         "\"momentum\": 0}}",
         "c.json: optimizer.nesterov needs optimizer.momentum > 0 and optimizer.dampening 0 "
         "(got momentum 0, dampening 0)"},
        {"{\"data\": {\"image_size\": 64, \"resize\": 32, \"augment\": 1, \"train\": \"t\"}, "
         "\"output\": \"o\"}",
         "c.json: data.resize must be an integer >= data.image_size (64) and <= 16384 (got 32)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_config c;
        tg_error e = {0};
        ck_assert_int_eq(tg_config_parse(cases[i].json, "/b", "c.json", &c, &e), TG_ERR_CONFIG);
        ck_assert_str_eq(e.msg, cases[i].msg);
    }
}
END_TEST

// ---- the schema engine on the kinds of keys the config is to grow (not in it yet): a
// fixed-length number array (optimizer.betas), an array of objects with a required string
// array inside (optimizer.groups), bool-or-string values (data.augment,
// train.feature_cache), a nested object or null (train.early_stopping), a nullable string
// and number, and a custom row (null, a path, numbers or an object of numbers, like
// loss.class_weights). Each is read, defaulted, written back and freed by the engine from
// its row alone; the errors are exact.
typedef struct {
    char **params;
    int n_params;
    double lr_scale;
} demo_group;

typedef struct {
    int kind;  // 0 null, 1 a file, 2 numbers, 3 numbers by class name
    char *file;
    double *w;
    char **names;
    int n;
} demo_weights;

typedef struct {
    double betas[2];
    demo_group *groups;
    int n_groups;
    int augment;        // 0 false, 1 true, 2 "flip"
    int feature_cache;  // 0 false, 1 true, 2 "auto"
    struct {
        bool on;
        int metric;
        int patience;
        double min_delta;
    } early;
    char *name;
    double scale;  // 0 = null
    demo_weights cw;
} demo;

// ---- the custom row: null, "path", [numbers] or {"class": number} ----
static void cw_release(const tg_schema_row *row, void *base) {
    demo_weights *w = (demo_weights *)(void *)((char *)base + row->offset);
    free(w->file);
    free(w->w);
    for (int i = 0; w->names && i < w->n; i++) free(w->names[i]);
    free(w->names);
    memset(w, 0, sizeof *w);
}

static tg_status cw_parse(const tg_schema_ctx *c, const tg_schema_row *row, const cJSON *v,
                          void *base) {
    demo_weights *w = (demo_weights *)(void *)((char *)base + row->offset);
    const char *rule = "null, a path, an array of numbers or an object of numbers";
    if (!v) return TG_OK;
    cw_release(row, base);  // a hook replaces the earlier value
    if (cJSON_IsNull(v)) return TG_OK;
    if (cJSON_IsString(v)) {
        w->kind = 1;
        w->file = strdup(v->valuestring);
        return w->file ? TG_OK : tg_error_set(c->err, TG_ERR_NOMEM, "out of memory");
    }
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v)) return tg_schema_bad(c, row->name, v, rule);
    int n = cJSON_GetArraySize(v);
    w->kind = cJSON_IsArray(v) ? 2 : 3;
    w->w = calloc((size_t)n + 1, sizeof *w->w);
    w->names = w->kind == 3 ? calloc((size_t)n + 1, sizeof *w->names) : NULL;
    if (!w->w || (w->kind == 3 && !w->names))
        return tg_error_set(c->err, TG_ERR_NOMEM, "out of memory");
    for (const cJSON *e = v->child; e; e = e->next) {
        if (!cJSON_IsNumber(e)) return tg_schema_bad(c, row->name, v, rule);
        if (w->kind == 3 && !(w->names[w->n] = strdup(e->string)))
            return tg_error_set(c->err, TG_ERR_NOMEM, "out of memory");
        w->w[w->n++] = e->valuedouble;
    }
    return TG_OK;
}

static cJSON *cw_write(const tg_schema_row *row, const void *base) {
    const demo_weights *w = (const demo_weights *)(const void *)((const char *)base + row->offset);
    if (w->kind == 0) return cJSON_CreateNull();
    if (w->kind == 1) return cJSON_CreateString(w->file);
    if (w->kind == 2) return cJSON_CreateDoubleArray(w->w, w->n);
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < w->n; i++) cJSON_AddNumberToObject(o, w->names[i], w->w[i]);
    return o;
}

static const tg_schema_hooks k_cw = {cw_parse, cw_write, cw_release,
                                     "null, path, numbers or object"};

// ---- the table ----
#define DAT(m) TG_SCHEMA_AT(demo, m)
#define GAT(m) TG_SCHEMA_AT(demo_group, m)
static const double k_betas[2] = {0.9, 0.999};
static const char *const k_flip[] = {"flip", NULL};
static const char *const k_auto[] = {"auto", NULL};
static const char *const k_metrics[] = {"val_loss", "val_top1", NULL};

static const tg_schema_row k_demo_rows[] = {
    {"", "optimizer", TG_SCHEMA_OBJECT, .flags = 0},
    {"optimizer", "betas", TG_SCHEMA_NUMBERS, TG_SCHEMA_HI_OPEN, DAT(betas), .len = 2, .lo = 0,
     .hi = 1, .def.v = k_betas, .rule = "an array of 2 numbers in [0, 1)"},
    {"optimizer", "groups", TG_SCHEMA_OBJECTS, 0, DAT(groups), .count = offsetof(demo, n_groups),
     .elem = sizeof(demo_group), .max = 4, .len_rule = "at most 4 groups"},
    {"optimizer.groups[]", "params", TG_SCHEMA_STRINGS, TG_SCHEMA_REQUIRED, GAT(params),
     .count = offsetof(demo_group, n_params), .max = 8, .rule = "an array of glob patterns",
     .len_rule = "at most 8 patterns", .missing = "the group's parameters"},
    {"optimizer.groups[]", "lr_scale", TG_SCHEMA_NUMBER, TG_SCHEMA_LO_OPEN, GAT(lr_scale), .lo = 0,
     .hi = INFINITY, .def.x = 1, .rule = "a finite number > 0"},
    {"", "data", TG_SCHEMA_OBJECT, .flags = 0},
    {"data", "augment", TG_SCHEMA_ENUM, TG_SCHEMA_OR_BOOL, DAT(augment), .choices = k_flip,
     .def.i = 1},
    {"", "train", TG_SCHEMA_OBJECT, .flags = 0},
    {"train", "feature_cache", TG_SCHEMA_ENUM, TG_SCHEMA_OR_BOOL, DAT(feature_cache),
     .choices = k_auto, .def.i = 2},
    {"train", "early_stopping", TG_SCHEMA_OBJECT, TG_SCHEMA_NULLABLE, DAT(early.on)},
    {"train.early_stopping", "metric", TG_SCHEMA_ENUM, 0, DAT(early.metric), .choices = k_metrics},
    {"train.early_stopping", "patience", TG_SCHEMA_INT, 0, DAT(early.patience), .lo = 1, .hi = 1000,
     .def.i = 5, .rule = "an integer in [1, 1000]"},
    {"train.early_stopping", "min_delta", TG_SCHEMA_NUMBER, 0, DAT(early.min_delta), .lo = 0,
     .hi = INFINITY, .rule = "a finite number >= 0"},
    {"", "name", TG_SCHEMA_STRING, TG_SCHEMA_NULLABLE, DAT(name)},
    {"", "scale", TG_SCHEMA_NUMBER, TG_SCHEMA_NULLABLE | TG_SCHEMA_LO_OPEN, DAT(scale), .lo = 0,
     .hi = INFINITY, .rule = "null or a finite number > 0"},
    {"", "class_weights", TG_SCHEMA_CUSTOM, 0, DAT(cw), .hooks = &k_cw},
    {NULL},
};
static const tg_schema k_demo = {k_demo_rows, sizeof(demo)};

static const char *k_default_json =
    "{\"optimizer\":{\"betas\":[0.9,0.999],\"groups\":[]},\"data\":{\"augment\":true},"
    "\"train\":{\"feature_cache\":\"auto\",\"early_stopping\":null},\"name\":null,"
    "\"scale\":null,\"class_weights\":null}";

// The document as compact JSON (through cJSON, so the indented text compares whole).
static char *compact(const demo *d) {
    char *text = tg_schema_print(&k_demo, d);
    ck_assert_ptr_nonnull(text);
    cJSON *j = cJSON_Parse(text);
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    free(text);
    return out;
}

START_TEST(test_demo_defaults) {
    char why[200] = "";
    ck_assert_msg(tg_schema_valid(&k_demo, why, sizeof why), "%s", why);
    demo d;
    tg_schema_defaults(&k_demo, &d);
    ck_assert_double_eq(d.betas[1], 0.999);
    ck_assert_int_eq(d.augment, 1);
    ck_assert_int_eq(d.feature_cache, 2);
    ck_assert(!d.early.on);
    ck_assert_int_eq(d.early.patience, 5);
    ck_assert_ptr_null(d.groups);
    char *text = compact(&d);
    ck_assert_str_eq(text, k_default_json);
    free(text);
    // what the README's table would say
    static const char *const want[][3] = {
        {"optimizer.betas", "2 numbers", "[0.9,0.999]"},
        {"optimizer.groups", "array of objects", "[]"},
        {"optimizer.groups[].params", "array of strings", "required"},
        {"optimizer.groups[].lr_scale", "number", "1"},
        {"data.augment", "bool or string", "true"},
        {"train.feature_cache", "bool or string", "\"auto\""},
        {"train.early_stopping", "object or null", "null"},
        {"train.early_stopping.metric", "string", "\"val_loss\""},
        {"train.early_stopping.patience", "integer", "5"},
        {"train.early_stopping.min_delta", "number", "0"},
        {"name", "string or null", "null"},
        {"scale", "number or null", "null"},
        {"class_weights", "null, path, numbers or object", "null"},
    };
    // every row but the plain sections has its line, each line its row
    size_t rows = 0, n_want = sizeof want / sizeof want[0];
    for (const tg_schema_row *r = k_demo_rows; r->name; r++) {
        if (r->type == TG_SCHEMA_OBJECT && !(r->flags & TG_SCHEMA_NULLABLE)) continue;
        char key[96], type[64], def[96];
        tg_schema_key(r, key, sizeof key);
        size_t i = 0;
        while (i < n_want && strcmp(want[i][0], key)) i++;
        ck_assert_msg(i < n_want, "no expected line for %s", key);
        tg_schema_type_text(r, type, sizeof type);
        tg_schema_default_text(&k_demo, r, def, sizeof def);
        ck_assert_str_eq(type, want[i][1]);
        ck_assert_str_eq(def, want[i][2]);
        rows++;
    }
    ck_assert_uint_eq(rows, n_want);
}
END_TEST

START_TEST(test_demo_read_write) {
    const char *json =
        "{\"optimizer\": {\"betas\": [0.5, 0.75], \"groups\": [{\"params\": [\"fc.*\"], "
        "\"lr_scale\": 10}, {\"params\": [\"layer4.*\", \"layer3.*\"]}]},"
        " \"data\": {\"augment\": \"flip\"}, \"train\": {\"feature_cache\": false,"
        " \"early_stopping\": {\"metric\": \"val_top1\", \"min_delta\": 0.01}},"
        " \"name\": \"x\", \"scale\": 2, \"class_weights\": {\"cat\": 1, \"dog\": 3}}";
    demo d, e;
    tg_error err = {0};
    tg_schema_defaults(&k_demo, &d);
    ck_assert_int_eq(tg_schema_parse(&k_demo, json, NULL, "d.json", &d, &err), TG_OK);
    ck_assert_double_eq(d.betas[0], 0.5);
    ck_assert_int_eq(d.n_groups, 2);
    ck_assert_str_eq(d.groups[0].params[0], "fc.*");
    ck_assert_double_eq(d.groups[0].lr_scale, 10);
    ck_assert_int_eq(d.groups[1].n_params, 2);
    ck_assert_str_eq(d.groups[1].params[1], "layer3.*");
    ck_assert_double_eq(d.groups[1].lr_scale, 1);  // the element's default
    ck_assert_int_eq(d.augment, 2);
    ck_assert_int_eq(d.feature_cache, 0);
    ck_assert(d.early.on);
    ck_assert_int_eq(d.early.metric, 1);
    ck_assert_int_eq(d.early.patience, 5);
    ck_assert_double_eq(d.early.min_delta, 0.01);
    ck_assert_str_eq(d.name, "x");
    ck_assert_double_eq(d.scale, 2);
    ck_assert_int_eq(d.cw.kind, 3);
    ck_assert_str_eq(d.cw.names[1], "dog");
    ck_assert_double_eq(d.cw.w[1], 3);
    char *text = compact(&d);
    ck_assert_str_eq(text,
                     "{\"optimizer\":{\"betas\":[0.5,0.75],\"groups\":[{\"params\":[\"fc.*\"],"
                     "\"lr_scale\":10},{\"params\":[\"layer4.*\",\"layer3.*\"],\"lr_scale\":1}]},"
                     "\"data\":{\"augment\":\"flip\"},\"train\":{\"feature_cache\":false,"
                     "\"early_stopping\":{\"metric\":\"val_top1\",\"patience\":5,"
                     "\"min_delta\":0.01}},\"name\":\"x\",\"scale\":2,"
                     "\"class_weights\":{\"cat\":1,\"dog\":3}}");
    // the written document reads back to the same one
    tg_schema_defaults(&k_demo, &e);
    ck_assert_int_eq(tg_schema_parse(&k_demo, text, NULL, "again.json", &e, &err), TG_OK);
    char *again = compact(&e);
    ck_assert_str_eq(again, text);
    free(again);
    free(text);
    tg_schema_free(&k_demo, &e);
    // null clears what it may: the object, the string, the number, the custom value
    ck_assert_int_eq(tg_schema_parse(&k_demo,
                                     "{\"train\": {\"early_stopping\": null, \"feature_cache\": "
                                     "true}, \"name\": null, \"scale\": null, "
                                     "\"class_weights\": [0.5, 2]}",
                                     NULL, "n.json", &d, &err),
                     TG_OK);
    ck_assert(!d.early.on);
    ck_assert_ptr_null(d.name);
    ck_assert_double_eq(d.scale, 0);
    ck_assert_int_eq(d.feature_cache, 1);
    ck_assert_int_eq(d.cw.kind, 2);
    ck_assert_double_eq(d.cw.w[1], 2);
    tg_schema_free(&k_demo, &d);
    ck_assert_ptr_null(d.groups);
    ck_assert_int_eq(d.n_groups, 0);
}
END_TEST

START_TEST(test_demo_errors) {
    static const char *const cases[][2] = {
        {"{\"optimizer\": {\"betas\": [0.9, 1]}}",
         "d.json: optimizer.betas must be an array of 2 numbers in [0, 1) (got [0.9,1])"},
        {"{\"optimizer\": {\"betas\": [0.9]}}",
         "d.json: optimizer.betas must be an array of 2 numbers in [0, 1) (got [0.9])"},
        {"{\"optimizer\": {\"groups\": {}}}",
         "d.json: optimizer.groups must be an array of objects (got {})"},
        {"{\"optimizer\": {\"groups\": [{\"params\": [\"a\"]}, 1]}}",
         "d.json: optimizer.groups[1] must be an object (got 1)"},
        {"{\"optimizer\": {\"groups\": [{}, {}, {}, {}, {}]}}",
         "d.json: optimizer.groups must be at most 4 groups (got [{},{},{},{},{}])"},
        {"{\"optimizer\": {\"groups\": [{\"lr_scale\": 2}]}}",
         "d.json: missing key \"optimizer.groups[0].params\" (the group's parameters)"},
        {"{\"optimizer\": {\"groups\": [{\"params\": [\"a\"]}, {\"params\": [\"b\"], "
         "\"lr_scale\": 0}]}}",
         "d.json: optimizer.groups[1].lr_scale must be a finite number > 0 (got 0)"},
        {"{\"optimizer\": {\"groups\": [{\"params\": [\"a\"], \"lr_scal\": 2}]}}",
         "d.json: unknown key \"optimizer.groups[0].lr_scal\"; did you mean "
         "\"optimizer.groups[].lr_scale\"?"},
        {"{\"data\": {\"augment\": \"true\"}}",
         "d.json: data.augment must be true, false or \"flip\" (got \"true\")"},
        {"{\"train\": {\"feature_cache\": 1}}",
         "d.json: train.feature_cache must be true, false or \"auto\" (got 1)"},
        {"{\"train\": {\"early_stopping\": 3}}",
         "d.json: train.early_stopping must be an object or null (got 3)"},
        {"{\"train\": {\"early_stopping\": {\"patients\": 3}}}",
         "d.json: unknown key \"train.early_stopping.patients\"; did you mean "
         "\"train.early_stopping.patience\"?"},
        {"{\"train\": {\"early_stopping\": {\"metric\": \"loss\"}}}",
         "d.json: train.early_stopping.metric must be \"val_loss\" or \"val_top1\" (got \"loss\")"},
        {"{\"name\": \"\"}", "d.json: name must be a non-empty string or null (got \"\")"},
        {"{\"scale\": 0}", "d.json: scale must be null or a finite number > 0 (got 0)"},
        {"{\"class_weights\": [1, \"a\"]}",
         "d.json: class_weights must be null, a path, an array of numbers or an object of "
         "numbers (got [1,\"a\"])"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        demo d;
        tg_error err = {0};
        tg_schema_defaults(&k_demo, &d);
        ck_assert_int_eq(tg_schema_parse(&k_demo, cases[i][0], NULL, "d.json", &d, &err),
                         TG_ERR_CONFIG);
        ck_assert_str_eq(err.msg, cases[i][1]);
        tg_schema_free(&k_demo, &d);  // whatever was read before the error (ASan: no leak)
    }
}
END_TEST

// A table with a mistake is caught by tg_schema_valid, naming the row and the mistake.
START_TEST(test_invalid_tables) {
    static const tg_schema_row nullable_zero[] = {
        {"", "x", TG_SCHEMA_NUMBER, TG_SCHEMA_NULLABLE, DAT(scale), .lo = 0, .hi = 1,
         .rule = "null or a number in [0, 1]"},
        {NULL},
    };
    static const tg_schema_row wrong_size[] = {
        {"", "x", TG_SCHEMA_INT, 0, DAT(early.on), .lo = 0, .hi = 1, .rule = "0 or 1"},
        {NULL},
    };
    static const tg_schema_row orphan[] = {
        {"train", "x", TG_SCHEMA_BOOL, 0, DAT(early.on)},
        {NULL},
    };
    static const tg_schema_row no_missing[] = {
        {"", "x", TG_SCHEMA_PATH, TG_SCHEMA_REQUIRED, DAT(name)},
        {NULL},
    };
    static const tg_schema_row bad_default[] = {
        {"", "x", TG_SCHEMA_INT, 0, DAT(augment), .lo = 1, .hi = 9, .rule = "an integer in [1, 9]"},
        {NULL},
    };
    static const tg_schema_row twice[] = {
        {"", "x", TG_SCHEMA_BOOL, 0, DAT(early.on)},
        {"", "x", TG_SCHEMA_BOOL, 0, DAT(early.on)},
        {NULL},
    };
    static const struct {
        const tg_schema_row *rows;
        const char *why;
    } cases[] = {
        {nullable_zero, "x: null is stored as 0, so 0 must be out of bounds"},
        {wrong_size, "x: its size does not fit its type (use TG_SCHEMA_AT)"},
        {orphan, "train.x: its section is not an object row of the table"},
        {no_missing, "x: a required key needs .missing"},
        {bad_default, "x: default out of bounds"},
        {twice, "x: the key is in the table twice"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_schema s = {cases[i].rows, sizeof(demo)};
        char why[200] = "";
        ck_assert(!tg_schema_valid(&s, why, sizeof why));
        ck_assert_str_eq(why, cases[i].why);
    }
}
END_TEST

int main(void) {
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_full_and_roundtrip);
    tcase_add_test(tc, test_cosine);
    tcase_add_test(tc, test_bad_configs);
    tcase_add_test(tc, test_nonfinite_every_key);
    tcase_add_test(tc, test_load_file);
    tcase_add_test(tc, test_edit_distance);
    tcase_add_test(tc, test_schema_valid);
    tcase_add_test(tc, test_readme_table);
    tcase_add_test(tc, test_defaults_keep_rules);
    tcase_add_test(tc, test_first_error_in_table_order);
    suite_add_tcase(s, tc);
    TCase *ts = tcase_create("schema");
    tcase_add_test(ts, test_demo_defaults);
    tcase_add_test(ts, test_demo_read_write);
    tcase_add_test(ts, test_demo_errors);
    tcase_add_test(ts, test_invalid_tables);
    suite_add_tcase(s, ts);
    return tg_test_run(s, 0);
}
