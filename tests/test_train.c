// test_train.c: the training loop through tg_train_run (lib/app/train.h) on a tiny folder
// made at test time: 3 classes of random 32x32 PNGs (4 training and 2 validation images a
// class) and one undecodable file in the validation folder. A reference run trains 2 epochs
// of 3 steps without a stop; each case runs the same config, raises the stop flag at one
// point (mid-epoch, after an epoch's last step, after an epoch's end, during validation),
// checks what the interrupted run left, resumes, and must end with the reference's bytes:
// model.safetensors, best.safetensors and checkpoint.safetensors identical, metrics.jsonl
// identical but for its two timing fields, and the steps and epoch metrics reported by the
// two halves together those of the reference. No figure is hard-coded: the reference is the
// same code run without a stop (exact resume is a bitwise contract of one build). Last, eval
// of the final model on the validation folder must give the last validation's figures.
#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <png.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/config.h"
#include "app/evaluate.h"
#include "app/steplog.h"
#include "app/train.h"
#include "data/image.h"
#include "io/weightfile.h"
#include "testlib.h"

#define EPOCHS 2
#define STEPS 3  // 12 training images in batches of 4

static char g_root[64];  // the data folder and the runs, made once per process

// ---- the tiny folder ----
static void write_png(const char *path, int w, int h, uint32_t seed) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    ck_assert(p && info);
    unsigned char *row = malloc((size_t)w * 3);
    if (setjmp(png_jmpbuf(p))) ck_abort_msg("libpng failed writing %s", path);
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(p, info);
    uint32_t s = seed * 2654435761u + 1;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w * 3; x++) {
            s = s * 1664525u + 1013904223u;
            row[x] = (unsigned char)(s >> 24);
        }
        png_write_row(p, row);
    }
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    free(row);
    fclose(f);
}

static void mkdir_ok(const char *path) {
    ck_assert_msg(mkdir(path, 0777) == 0, "mkdir %s", path);
}

static void make_data(void) {
    if (g_root[0]) return;
    tg_test_tmpdir(g_root, sizeof g_root, "tg_train");
    static const char *const classes[] = {"ant", "bee", "cat"};
    static const struct {
        const char *split;
        int per_class;
    } splits[] = {{"train", 4}, {"val", 2}};
    char p[256];
    uint32_t seed = 1;
    for (int s = 0; s < 2; s++) {
        snprintf(p, sizeof p, "%s/%s", g_root, splits[s].split);
        mkdir_ok(p);
        for (int c = 0; c < 3; c++) {
            snprintf(p, sizeof p, "%s/%s/%s", g_root, splits[s].split, classes[c]);
            mkdir_ok(p);
            for (int i = 0; i < splits[s].per_class; i++) {
                snprintf(p, sizeof p, "%s/%s/%s/%d.png", g_root, splits[s].split, classes[c], i);
                write_png(p, 32, 32, seed++);
            }
        }
    }
    // an undecodable file, first of the validation folder's order: its notice arrives
    // during the first validation batch (the stop-during-validation case uses it)
    snprintf(p, sizeof p, "%s/val/ant/0bad.png", g_root);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("not a PNG file", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/runs", g_root);
    mkdir_ok(p);
}

// ---- one run ----
typedef enum { STOP_NEVER, STOP_AT_STEP, STOP_AT_EPOCH_END, STOP_AT_VAL_NOTICE } stop_when;

typedef struct {
    stop_when when;
    int epoch, step;  // where the flag rises (1-based; step only for STOP_AT_STEP)
} stop_at;

typedef struct {
    volatile sig_atomic_t stop;
    stop_at at;
    int steps[EPOCHS * STEPS + 1][2];  // (epoch, step) of every progress call
    int n_steps;
    tg_epoch_metrics em[EPOCHS + 1];
    int n_em;
    int val_notices;  // notices naming the undecodable validation file
} run_log;

static void on_progress(void *user, const tg_train_progress *p) {
    run_log *l = user;
    ck_assert_int_lt(l->n_steps, EPOCHS * STEPS);
    l->steps[l->n_steps][0] = p->epoch;
    l->steps[l->n_steps][1] = (int)p->step;
    l->n_steps++;
    ck_assert_int_eq(p->epochs, EPOCHS);
    ck_assert_uint_eq(p->steps, STEPS);
    if (l->at.when == STOP_AT_STEP && p->epoch == l->at.epoch && (int)p->step == l->at.step)
        l->stop = 1;
}

static void on_epoch_end(void *user, const tg_epoch_metrics *m) {
    run_log *l = user;
    ck_assert_int_lt(l->n_em, EPOCHS);
    l->em[l->n_em++] = *m;
    if (l->at.when == STOP_AT_EPOCH_END && m->epoch == l->at.epoch) l->stop = 1;
}

static void on_message(void *user, const char *msg) {
    run_log *l = user;
    if (!strstr(msg, "0bad.png")) return;
    l->val_notices++;
    if (l->at.when == STOP_AT_VAL_NOTICE && l->val_notices == l->at.epoch) l->stop = 1;
}

static void out_dir(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/runs/%s", g_root, name);
}

static void file_in(char *out, size_t n, const char *name, const char *file) {
    snprintf(out, n, "%s/runs/%s/%s", g_root, name, file);
}

// Trains run `name` (its own output folder, same config otherwise); returns the status.
static tg_status run(const char *name, bool resume, stop_at at, run_log *l, tg_error *err) {
    make_data();
    memset(l, 0, sizeof *l);
    l->at = at;
    char json[2048], out[256];
    out_dir(out, sizeof out, name);
    snprintf(json, sizeof json,
             "{\"model\": {\"weights\": null},"
             " \"data\": {\"train\": \"%s/train\", \"val\": \"%s/val\", \"image_size\": 32,"
             "            \"resize\": 32, \"max_bad_fraction\": 0.5},"
             " \"train\": {\"epochs\": %d, \"batch_size\": 4, \"seed\": 7, \"threads\": 2},"
             " \"optimizer\": {\"lr\": 0.01, \"momentum\": 0.9, \"weight_decay\": 0.0001},"
             " \"scheduler\": {\"type\": \"step\", \"step_size\": 1, \"gamma\": 0.5},"
             " \"output\": \"%s\"}",
             g_root, g_root, EPOCHS, out);
    tg_config cfg;
    tg_error cerr = {0};
    ck_assert_msg(tg_config_parse(json, NULL, "test.json", &cfg, &cerr) == TG_OK, "%s", cerr.msg);
    char last_run[128];
    snprintf(last_run, sizeof last_run, "%s/last_run_dir", g_root);
    tg_train_opts o = {
        .resume = resume,
        .stop = &l->stop,
        .last_run_dir = last_run,
        .message = on_message,
        .progress = on_progress,
        .epoch_end = on_epoch_end,
        .user = l,
    };
    memset(err, 0, sizeof *err);
    tg_status st = tg_train_run(&cfg, &o, err);
    tg_config_free(&cfg);
    return st;
}

// ---- reading the outputs ----
static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    b[n] = 0;
    *len = (size_t)n;
    return b;
}

static void assert_same_bytes(const char *name, const char *file) {
    char a[300], b[300];
    file_in(a, sizeof a, "reference", file);
    file_in(b, sizeof b, name, file);
    size_t na, nb;
    unsigned char *x = read_file(a, &na), *y = read_file(b, &nb);
    size_t first = 0;
    while (first < na && first < nb && x[first] == y[first]) first++;
    ck_assert_msg(na == nb && first == na, "%s: %s differs from the reference's (%zu and %zu "
                  "bytes, first difference at byte %zu)", name, file, nb, na, first);
    free(x);
    free(y);
}

// metrics.jsonl, each line without its timing fields (seconds, images_per_s)
static char *metrics_untimed(const char *name, int *lines) {
    char p[300];
    file_in(p, sizeof p, name, "metrics.jsonl");
    size_t n;
    char *text = (char *)read_file(p, &n);
    size_t cap = n + 1, len = 0;
    char *out = calloc(cap, 1);
    *lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        ck_assert_msg(o != NULL, "%s: metrics line is not JSON: %s", name, line);
        ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(o, "seconds"));
        ck_assert_ptr_nonnull(cJSON_GetObjectItemCaseSensitive(o, "images_per_s"));
        cJSON_DeleteItemFromObjectCaseSensitive(o, "seconds");
        cJSON_DeleteItemFromObjectCaseSensitive(o, "images_per_s");
        char *s = cJSON_PrintUnformatted(o);
        len += (size_t)snprintf(out + len, cap - len, "%s\n", s);
        ck_assert_uint_lt(len, cap);
        free(s);
        cJSON_Delete(o);
        (*lines)++;
    }
    free(text);
    return out;
}

static const char *meta_of(const tg_statedict *sd, const char *key) {
    const char *v = tg_statedict_get_meta(sd, key);
    ck_assert_msg(v != NULL, "checkpoint metadata \"%s\" missing", key);
    return v;
}

static void load_sd(const char *name, const char *file, tg_statedict *sd) {
    char p[300];
    file_in(p, sizeof p, name, file);
    tg_error err = {0};
    ck_assert_msg(tg_statedict_load(p, sd, &err) == TG_OK, "%s", err.msg);
}

static bool exists(const char *name, const char *file) {
    char p[300];
    file_in(p, sizeof p, name, file);
    return access(p, F_OK) == 0;
}

// steps.csv's rows: their count, and that they are steps 1..n in order.
static size_t step_rows(const char *name) {
    char p[300];
    file_in(p, sizeof p, name, "steps.csv");
    tg_steplog_row *rows;
    size_t n;
    tg_error e;
    ck_assert_msg(tg_steplog_read(p, &rows, &n, &e) == TG_OK, "%s", e.msg);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_eq(rows[i].step, i + 1);
        ck_assert_int_eq(rows[i].epoch, (int)(i / STEPS) + 1);
    }
    free(rows);
    return n;
}

// report.png is a 1600x1000 picture
static void assert_report(const char *name) {
    char p[300];
    file_in(p, sizeof p, name, "report.png");
    tg_image im;
    tg_error e;
    ck_assert_msg(tg_image_load(&im, p, NULL, &e) == TG_OK, "%s", e.msg);
    ck_assert_int_eq(im.width, 1600);
    ck_assert_int_eq(im.height, 1000);
    tg_image_free(&im);
}

// ---- the reference ----
static run_log g_ref;
static bool g_ref_done;

static const run_log *reference(void) {
    if (g_ref_done) return &g_ref;
    tg_error err;
    tg_status st = run("reference", false, (stop_at){STOP_NEVER, 0, 0}, &g_ref, &err);
    ck_assert_msg(st == TG_OK, "reference run: %s", err.msg);
    ck_assert_int_eq(g_ref.n_steps, EPOCHS * STEPS);
    for (int i = 0; i < EPOCHS * STEPS; i++) {
        ck_assert_int_eq(g_ref.steps[i][0], i / STEPS + 1);
        ck_assert_int_eq(g_ref.steps[i][1], i % STEPS + 1);
    }
    ck_assert_int_eq(g_ref.n_em, EPOCHS);
    for (int e = 0; e < EPOCHS; e++) {
        const tg_epoch_metrics *m = &g_ref.em[e];
        ck_assert_int_eq(m->epoch, e + 1);
        ck_assert(m->has_val);
        ck_assert_uint_eq(m->images, 12);
        ck_assert_double_eq(m->lr, e == 0 ? 0.01 : 0.005);  // the step schedule
        ck_assert(m->train_loss > 0 && m->val_loss > 0);
        ck_assert(m->val_acc >= 0 && m->val_acc <= 1);
    }
    ck_assert(g_ref.em[0].best);  // the first validation is always the best so far
    ck_assert_uint_eq(step_rows("reference"), EPOCHS * STEPS);  // one row per step
    assert_report("reference");
    char cp[300];
    file_in(cp, sizeof cp, "reference", "confusion.json");
    size_t clen;
    unsigned char *ctext = read_file(cp, &clen);
    cJSON *cj = cJSON_ParseWithLength((const char *)ctext, clen);
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(cj, "confusion"), *row, *cell;
    double cells = 0;
    int nrows = 0;
    cJSON_ArrayForEach(row, rows) {
        nrows++;
        cJSON_ArrayForEach(cell, row) cells += cell->valuedouble;
    }
    ck_assert_int_eq(nrows, 3);
    ck_assert_double_eq(cells, 6);  // the 6 readable validation images
    ck_assert_double_eq(cJSON_GetObjectItemCaseSensitive(cj, "epoch")->valuedouble, EPOCHS);
    cJSON_Delete(cj);
    free(ctext);
    ck_assert_int_eq(g_ref.val_notices, EPOCHS);  // the bad file, once a validation
    // the final checkpoint: the start of the epoch after the last, with momentum buffers
    tg_statedict sd;
    load_sd("reference", "checkpoint.safetensors", &sd);
    ck_assert_str_eq(meta_of(&sd, "epoch"), "2");
    ck_assert_str_eq(meta_of(&sd, "position"), "0");
    ck_assert_str_eq(meta_of(&sd, "global_step"), "6");
    const tg_sd_entry *mb = tg_statedict_find(&sd, "optimizer.momentum_buffer.fc.weight");
    ck_assert_ptr_nonnull(mb);
    const float *v = mb->data;
    double norm = 0;
    for (int64_t i = 0; i < tg_sd_entry_numel(mb); i++) norm += (double)v[i] * v[i];
    ck_assert(norm > 0);
    tg_statedict_free(&sd);
    g_ref_done = true;
    return &g_ref;
}

static bool same_metrics(const tg_epoch_metrics *a, const tg_epoch_metrics *b) {
    // everything but the timings
    return a->epoch == b->epoch && a->epochs == b->epochs && a->train_loss == b->train_loss &&
           a->train_acc == b->train_acc && a->has_val == b->has_val &&
           a->val_loss == b->val_loss && a->val_acc == b->val_acc && a->lr == b->lr &&
           a->images == b->images && a->skipped == b->skipped && a->dropped == b->dropped &&
           a->best == b->best;
}

// One case: stop at `at`, check what was left, resume, compare with the reference.
typedef struct {
    const char *name;
    stop_at at;
    const char *msg;           // the interrupted run's message starts so
    const char *ckpt_epoch;    // the checkpoint it saved: 0-based epoch in progress,
    const char *ckpt_position; // next image position (12: validation pending),
    const char *ckpt_step;     // global step
} stop_case;

static void check_case(const stop_case *c) {
    const run_log *ref = reference();
    char out[256];
    out_dir(out, sizeof out, c->name);
    ck_assert_int_eq(tg_test_remove_tree(out), 0);
    run_log a, b;
    tg_error err;
    tg_status st = run(c->name, false, c->at, &a, &err);
    ck_assert_msg(st == TG_ERR_INTERRUPTED, "%s: status %d: %s", c->name, st, err.msg);
    ck_assert_msg(!strncmp(err.msg, c->msg, strlen(c->msg)), "%s: got \"%s\"", c->name, err.msg);
    ck_assert_ptr_nonnull(strstr(err.msg, "(continue with --resume)"));
    ck_assert(!exists(c->name, "model.safetensors"));
    tg_statedict stopped;
    load_sd(c->name, "checkpoint.safetensors", &stopped);
    ck_assert_str_eq(meta_of(&stopped, "epoch"), c->ckpt_epoch);
    ck_assert_str_eq(meta_of(&stopped, "position"), c->ckpt_position);
    ck_assert_str_eq(meta_of(&stopped, "global_step"), c->ckpt_step);
    ck_assert_uint_eq(step_rows(c->name), strtoull(c->ckpt_step, NULL, 10));
    assert_report(c->name);  // drawn when interrupted too

    st = run(c->name, true, (stop_at){STOP_NEVER, 0, 0}, &b, &err);
    ck_assert_msg(st == TG_OK, "%s: resume: %s", c->name, err.msg);

    // the two halves report the reference's steps and epochs, each once
    ck_assert_int_eq(a.n_steps + b.n_steps, ref->n_steps);
    for (int i = 0; i < ref->n_steps; i++) {
        const int *s = i < a.n_steps ? a.steps[i] : b.steps[i - a.n_steps];
        ck_assert_msg(s[0] == ref->steps[i][0] && s[1] == ref->steps[i][1],
                      "%s: progress call %d is epoch %d step %d, the reference's %d %d", c->name,
                      i, s[0], s[1], ref->steps[i][0], ref->steps[i][1]);
    }
    ck_assert_int_eq(a.n_em + b.n_em, ref->n_em);
    for (int e = 0; e < ref->n_em; e++) {
        const tg_epoch_metrics *m = e < a.n_em ? &a.em[e] : &b.em[e - a.n_em];
        ck_assert_msg(same_metrics(m, &ref->em[e]), "%s: epoch %d's metrics differ", c->name,
                      e + 1);
    }
    // the files, byte for byte
    assert_same_bytes(c->name, "model.safetensors");
    assert_same_bytes(c->name, "best.safetensors");
    assert_same_bytes(c->name, "checkpoint.safetensors");
    assert_same_bytes(c->name, "steps.csv");  // every step once, the same losses
    assert_same_bytes(c->name, "confusion.json");  // the last validation's matrix
    int nr, nc;
    char *mr = metrics_untimed("reference", &nr), *mc = metrics_untimed(c->name, &nc);
    ck_assert_int_eq(nr, EPOCHS);
    ck_assert_int_eq(nc, EPOCHS);
    ck_assert_str_eq(mc, mr);
    free(mr);
    free(mc);
    // the resumed part trained: the head moved after the stop
    tg_statedict final;
    load_sd(c->name, "model.safetensors", &final);
    const tg_sd_entry *w0 = tg_statedict_find(&stopped, "fc.weight");
    const tg_sd_entry *w1 = tg_statedict_find(&final, "fc.weight");
    ck_assert(w0 && w1 && w0->nbytes == w1->nbytes);
    ck_assert_msg(memcmp(w0->data, w1->data, w0->nbytes) != 0, "%s: fc.weight unchanged by "
                  "the resumed run", c->name);
    tg_statedict_free(&final);
    tg_statedict_free(&stopped);
    ck_assert_int_eq(tg_test_remove_tree(out), 0);
}

START_TEST(test_stop_mid_epoch) {
    stop_case c = {"mid_epoch", {STOP_AT_STEP, 1, 2}, "interrupted at epoch 1, step 2;",
                   "0", "8", "2"};
    check_case(&c);
}
END_TEST

// The flag rises in epoch 2 (best_val_acc, the lr of epoch 2 and the momentum come back).
START_TEST(test_stop_second_epoch) {
    stop_case c = {"second_epoch", {STOP_AT_STEP, 2, 1}, "interrupted at epoch 2, step 1;",
                   "1", "4", "4"};
    check_case(&c);
}
END_TEST

// After the epoch's last step, before validation: the checkpoint says validation is
// pending (position = the image count) and the resume validates, then goes on.
START_TEST(test_stop_last_step) {
    stop_case c = {"last_step", {STOP_AT_STEP, 1, 3}, "interrupted at epoch 1, step 3;",
                   "0", "12", "3"};
    check_case(&c);
}
END_TEST

// At the epoch's end (after validation, best.safetensors, metrics, the checkpoint).
START_TEST(test_stop_epoch_end) {
    stop_case c = {"epoch_end", {STOP_AT_EPOCH_END, 1, 0}, "interrupted after epoch 1;",
                   "1", "0", "3"};
    check_case(&c);
}
END_TEST

// During validation (the bad file's notice comes from its first batch): the epoch's
// training is kept, the resume runs the whole validation again.
START_TEST(test_stop_during_validation) {
    stop_case c = {"validation", {STOP_AT_VAL_NOTICE, 1, 0},
                   "interrupted during validation of epoch 1;", "0", "12", "3"};
    check_case(&c);
}
END_TEST

// eval of the final model on the validation folder, in the same batches (train.batch_size
// 4, folder order), gives the last epoch's validation figures exactly: the same pipeline
// (the model file's preprocessing = the config's) and the same loop.
START_TEST(test_eval_matches_validation) {
    const run_log *ref = reference();
    const tg_epoch_metrics *last = &ref->em[EPOCHS - 1];
    char model[300], val[128];
    file_in(model, sizeof model, "reference", "model.safetensors");
    snprintf(val, sizeof val, "%s/val", g_root);
    tg_eval_opts o = {.batch_size = 4, .threads = 2};
    tg_eval_result r;
    tg_error err = {0};
    ck_assert_msg(tg_evaluate(model, val, &o, &r, &err) == TG_OK, "%s", err.msg);
    ck_assert_uint_eq(r.images, 6);
    ck_assert_uint_eq(r.skipped, 1);  // 0bad.png
    ck_assert_double_eq(r.top1, last->val_acc);
    ck_assert_double_eq(r.loss, last->val_loss);
    ck_assert(isnan(r.top5));  // 3 classes
    size_t hits = 0, cells = 0;
    for (int k = 0; k < 3; k++) {
        ck_assert_uint_eq(r.class_total[k], 2);
        hits += r.class_correct[k];
        ck_assert_uint_eq(r.class_correct[k], r.confusion[k * 3 + k]);
        for (int j = 0; j < 3; j++) cells += r.confusion[k * 3 + j];
    }
    ck_assert_uint_eq(cells, 6);
    ck_assert_double_eq((double)hits / 6, r.top1);
    tg_eval_result_free(&r);
}
END_TEST

// Resume without a checkpoint is a config error naming the file.
START_TEST(test_resume_without_checkpoint) {
    run_log l;
    tg_error err;
    char out[256];
    out_dir(out, sizeof out, "none");
    ck_assert_int_eq(tg_test_remove_tree(out), 0);
    tg_status st = run("none", true, (stop_at){STOP_NEVER, 0, 0}, &l, &err);
    ck_assert_int_eq(st, TG_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "/runs/none/checkpoint.safetensors: no checkpoint to "
                                          "resume from (run train without --resume)"));
    ck_assert_int_eq(l.n_steps, 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("train");
    TCase *tc = tcase_create("train");
    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, test_stop_mid_epoch);
    tcase_add_test(tc, test_stop_second_epoch);
    tcase_add_test(tc, test_stop_last_step);
    tcase_add_test(tc, test_stop_epoch_end);
    tcase_add_test(tc, test_stop_during_validation);
    tcase_add_test(tc, test_resume_without_checkpoint);
    tcase_add_test(tc, test_eval_matches_validation);
    suite_add_tcase(s, tc);
    // one process: the folder and the reference run are made once for every case
    int rc = tg_test_run(s, TG_TEST_NOFORK);
    if (g_root[0] && tg_test_remove_tree(g_root)) rc = EXIT_FAILURE;
    return rc;
}
