// test_config.c: the JSON config: defaults, path resolution, the written-back form, and
// every error case with its exact message (key named, rule stated, nearest key suggested).
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/config.h"

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

// Every numeric key given a number too large for a double (cJSON reads it as inf and would
// print it as null): the message names the key and says inf or -inf.
START_TEST(test_nonfinite_every_key) {
    static const char *const keys[][2] = {
        {"model", "num_classes"},      {"data", "image_size"},     {"data", "resize"},
        {"data", "max_bad_fraction"},  {"data", "max_pixels"},     {"data", "mean"},
        {"data", "std"},               {"train", "epochs"},        {"train", "batch_size"},
        {"train", "seed"},             {"train", "threads"},       {"train", "checkpoint_every"},
        {"loss", "label_smoothing"},   {"optimizer", "lr"},        {"optimizer", "momentum"},
        {"optimizer", "dampening"},    {"optimizer", "weight_decay"},
        {"scheduler", "step_size"},    {"scheduler", "gamma"},     {"scheduler", "min_lr"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        for (int sign = 0; sign < 2; sign++) {
            const char *sec = keys[i][0], *key = keys[i][1];
            bool vec = !strcmp(key, "mean") || !strcmp(key, "std");
            const char *num = sign ? "-1e999" : "1e999";
            char val[64], json[512], want[128];
            if (vec)
                snprintf(val, sizeof val, "[0.5, %s, 0.5]", num);
            else
                snprintf(val, sizeof val, "%s", num);
            if (!strcmp(sec, "data"))
                snprintf(json, sizeof json, "{\"data\": {\"train\": \"t\", \"%s\": %s}, "
                         "\"output\": \"o\"}", key, val);
            else
                snprintf(json, sizeof json, "{" D ", \"%s\": {\"%s\": %s}}", sec, key, val);
            if (vec)
                snprintf(want, sizeof want, "(got [0.5,%s,0.5])", sign ? "-inf" : "inf");
            else
                snprintf(want, sizeof want, "(got %s)", sign ? "-inf" : "inf");
            char name[64];
            snprintf(name, sizeof name, "c.json: %s.%s must be ", sec, key);
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
}
END_TEST

START_TEST(test_load_file) {
    const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char dir[512], path[600], want[700];
    snprintf(dir, sizeof dir, "%s/tg_config_XXXXXX", tmp);
    ck_assert_ptr_nonnull(mkdtemp(dir));
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
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
