// test_report.c: the run report (app/report.h, app/plotgeom.h). The PNG is decoded with
// the project's own decoder and checked where its content is known: the size, heat-map
// cells against the documented colour scale, the curves at the pixels plotgeom maps their
// values to, the recall bars' extent.
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/plotgeom.h"
#include "app/report.h"
#include "app/runreport.h"
#include "app/steplog.h"
#include "data/image.h"
#include "testlib.h"

static char tmpdir[4096];

static void setup(void) { tg_test_tmpdir(tmpdir, sizeof tmpdir, "tg_report"); }

static void teardown(void) {
    ck_assert_int_eq(tg_test_remove_tree(tmpdir), 0);
}

// TG_REPORT_KEEP=DIR keeps a copy of each picture drawn (to look at it).
static void keep(const char *path, const char *name) {
    const char *dir = getenv("TG_REPORT_KEEP");
    if (!dir) return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/%s'", path, dir, name);
    ck_assert_int_eq(system(cmd), 0);
}

static const uint8_t *px(const tg_image *im, double x, double y) {
    int ix = (int)floor(x), iy = (int)floor(y);
    ck_assert(ix >= 0 && ix < im->width && iy >= 0 && iy < im->height);
    return im->pixels + ((size_t)iy * im->width + ix) * 3;
}

static void assert_rgb(const uint8_t *p, unsigned hex, int tol, const char *what) {
    int want[3] = {(int)(hex >> 16 & 255), (int)(hex >> 8 & 255), (int)(hex & 255)};
    for (int c = 0; c < 3; c++)
        ck_assert_msg(abs(p[c] - want[c]) <= tol, "%s: pixel (%d, %d, %d), want #%06x", what,
                      p[0], p[1], p[2], hex);
}

START_TEST(test_heat_scale) {
    // the documented stops, and a value halfway between two of them
    static const struct {
        double v;
        uint8_t rgb[3];
    } cases[] = {{0, {247, 251, 255}},     {0.25, {198, 219, 239}}, {0.5, {107, 174, 214}},
                 {0.75, {33, 113, 181}},   {1, {8, 48, 107}},       {0.125, {223, 235, 247}},
                 {-1, {247, 251, 255}},    {2, {8, 48, 107}},       {NAN, {247, 251, 255}},
                 {0.875, {21, 81, 144}}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t c[3];
        tg_plot_heat_rgb(cases[i].v, c);
        for (int k = 0; k < 3; k++) ck_assert_int_eq(c[k], cases[i].rgb[k]);
    }
}
END_TEST

START_TEST(test_plot_geometry) {
    tg_plot_axes a = {.x = 100, .y = 50, .w = 400, .h = 200, .xmin = 0, .xmax = 10,
                      .ymin = 1, .ymax = 3};
    ck_assert_double_eq(tg_plot_px(&a, 0), 100);
    ck_assert_double_eq(tg_plot_px(&a, 10), 500);
    ck_assert_double_eq(tg_plot_px(&a, 2.5), 200);
    ck_assert_double_eq(tg_plot_py(&a, 1), 250);  // ymin at the bottom edge
    ck_assert_double_eq(tg_plot_py(&a, 3), 50);
    ck_assert_double_eq(tg_plot_py(&a, 2), 150);
    a.ylog = true;
    a.ymin = 1e-4;
    a.ymax = 1e-1;
    ck_assert_double_eq_tol(tg_plot_py(&a, 1e-3), 250 - 200.0 / 3, 1e-9);
    ck_assert(tg_plot_py(&a, 0) > 250);
    double lo = 0.23, hi = 2.41;
    double step = tg_plot_nice_range(&lo, &hi, 6);
    ck_assert_double_eq_tol(step, 0.5, 1e-12);
    ck_assert_double_eq_tol(lo, 0, 1e-12);
    ck_assert_double_eq_tol(hi, 2.5, 1e-12);
    double t[16];
    ck_assert_int_eq(tg_plot_ticks(lo, hi, step, t, 16), 6);
    ck_assert_double_eq_tol(t[5], 2.5, 1e-12);
    lo = hi = 7;  // one value
    tg_plot_nice_range(&lo, &hi, 5);
    ck_assert(lo < 7 && hi > 7);
    lo = 0.0003;
    hi = 0.02;
    int n = tg_plot_log_range(&lo, &hi, t, 16);
    ck_assert_double_eq_tol(lo, 1e-4, 1e-18);
    ck_assert_double_eq_tol(hi, 0.1, 1e-15);
    ck_assert_int_eq(n, 4);  // three decades: powers of ten only
    ck_assert_double_eq_tol(t[3], 0.1, 1e-15);
}
END_TEST

START_TEST(test_smooth) {
    ck_assert_uint_eq(tg_report_smooth_window(10), 1);
    ck_assert_uint_eq(tg_report_smooth_window(60), 2);
    ck_assert_uint_eq(tg_report_smooth_window(1000000), 200);
    double y[60], s[60];
    for (int i = 0; i < 60; i++) y[i] = i ? 3 : 0;
    y[5] = NAN;
    tg_report_smooth(y, 60, s);
    // w = 2: beta = 1/3; bias-corrected EMA: s0 = 0, s1 = (2/3 * 3) / (1 - 1/9) = 2.25
    ck_assert_double_eq_tol(s[0], 0, 1e-15);
    ck_assert_double_eq_tol(s[1], 2.25, 1e-12);
    ck_assert_double_eq(s[5], s[4]);  // a NaN keeps the previous value
    ck_assert_double_eq_tol(s[59], 3, 1e-12);
    for (int i = 0; i < 10; i++) y[i] = 1.5;
    tg_report_smooth(y, 10, s);  // window 1: the values themselves
    for (int i = 0; i < 10; i++) ck_assert_double_eq(s[i], 1.5);
}
END_TEST

static const char *fashion[10] = {"Ankle_boot", "Bag",     "Coat",  "Dress",    "Pullover",
                                  "Sandal",     "Shirt",   "Sneaker", "T-shirt_top", "Trouser"};

// A run like the demo's: 4 epochs of 30 steps, a zigzag loss, cosine lr, 10 classes.
static void run_fixture(tg_report *r) {
    tg_report_init(r, TG_REPORT_RUN);
    ck_assert_int_eq(tg_report_set_title(r, "run: runs/demo (epoch 4 of 4)", NULL), TG_OK);
    for (int s = 1; s <= 120; s++) {
        int e = (s - 1) / 30 + 1;
        double loss = 0.4 + 1.8 * exp(-s / 30.0) + (s % 2 ? 0.15 : -0.15);
        double lr = 0.01 + 0.01 * cos(M_PI * (e - 1) / 4);
        ck_assert_int_eq(tg_report_add_step(r, s, e, loss, lr, NULL), TG_OK);
    }
    const double tr[4] = {0.62, 0.75, 0.81, 0.85}, va[4] = {0.70, 0.79, 0.83, 0.82};
    for (int e = 0; e < 4; e++) {
        tg_report_epoch m = {.epoch = e + 1, .train_loss = 1, .train_acc = tr[e],
                             .val_loss = 1.1 - 0.2 * e, .val_acc = va[e], .lr = 0.01,
                             .seconds = 13, .images_per_s = 385};
        ck_assert_int_eq(tg_report_add_epoch(r, &m, NULL), TG_OK);
    }
    // rows of 40 images; row i puts (10 - i) * 4 on the diagonal: recall 1 - i / 10
    uint64_t cm[100] = {0};
    for (int i = 0; i < 10; i++) {
        cm[i * 10 + i] = (uint64_t)(10 - i) * 4;
        cm[i * 10 + (i + 1) % 10] = (uint64_t)i * 4;
    }
    ck_assert_int_eq(
        tg_report_set_confusion(r, 10, (char **)fashion, cm, "validation after epoch 4", NULL),
        TG_OK);
    ck_assert_int_eq(tg_report_add_info(r, "optimizer", "sgd lr 0.02 momentum 0.9", NULL), TG_OK);
    ck_assert_int_eq(tg_report_add_info(r, "images/s", "385.0", NULL), TG_OK);
}

static void load_png(const char *path, tg_image *im) {
    tg_error e = {0};
    ck_assert_msg(tg_image_load(im, path, NULL, &e) == TG_OK, "%s", e.msg);
    ck_assert_int_eq(im->width, TG_REPORT_WIDTH);
    ck_assert_int_eq(im->height, TG_REPORT_HEIGHT);
}

static void check_heat(const tg_image *im, const tg_report *r, const tg_report_layout *L) {
    ck_assert(L->has_heat);
    ck_assert_int_eq(L->k, r->k);
    for (int i = 0; i < r->k; i++) {
        uint64_t support = 0;
        for (int j = 0; j < r->k; j++) support += r->confusion[i * r->k + j];
        for (int j = 0; j < r->k; j++) {
            uint8_t want[3];
            tg_plot_heat_rgb((double)r->confusion[i * r->k + j] / support, want);
            double x = L->heat_x + j * L->cell, y = L->heat_y + i * L->cell;
            unsigned hex = (unsigned)want[0] << 16 | want[1] << 8 | want[2];
            // two corners, 2 px in: the number is drawn at the centre
            assert_rgb(px(im, x + 2, y + 2), hex, 1, "heat cell corner");
            assert_rgb(px(im, x + L->cell - 3, y + L->cell - 3), hex, 1, "heat cell corner");
        }
    }
}

START_TEST(test_run_png) {
    tg_report r;
    run_fixture(&r);
    char path[256];
    snprintf(path, sizeof path, "%s/report.png", tmpdir);
    tg_error e = {0};
    ck_assert_msg(tg_report_write_png(&r, path, &e) == TG_OK, "%s", e.msg);
    keep(path, "test_report_run.png");
    tg_image im;
    load_png(path, &im);
    tg_report_layout L;
    ck_assert_int_eq(tg_report_layout_compute(&r, &L, NULL), TG_OK);
    ck_assert(L.has_loss && L.has_acc && L.has_lr);
    // every drawn element inside the picture
    ck_assert(L.heat_x > 0 && L.heat_x + 10 * L.cell < L.bars_box.x);
    ck_assert(L.heat_y + 10 * L.cell < TG_REPORT_HEIGHT);
    ck_assert(L.cell >= 24);  // 10 classes: cells large enough for their numbers
    check_heat(&im, &r, &L);

    // the smoothed loss (2.5 px wide, drawn over the raw curve) at every 7th step
    double sm[120];
    tg_report_smooth(r.step_loss, 120, sm);
    for (int s = 3; s < 120; s += 7) {
        double x = tg_plot_px(&L.loss, r.step_x[s]), y = tg_plot_py(&L.loss, sm[s]);
        ck_assert(x > L.loss.x && x < L.loss.x + L.loss.w && y > L.loss.y);
        assert_rgb(px(&im, x, y), TG_REPORT_RGB_SMOOTH, 40, "smoothed loss");
    }
    // the raw zigzag's vertices lie 0.15 away from the smoothed curve: 1 px wide, light
    // blue: a pixel of the 3x3 around the vertex is clearly darker than white there
    int raw_hits = 0;
    for (int s = 10; s < 118; s += 2) {
        double x = tg_plot_px(&L.loss, r.step_x[s]), y = tg_plot_py(&L.loss, r.step_loss[s]);
        // not where the smoothed curve or the validation loss's line passes
        double val = 1.1 - 0.2 * (r.step_x[s] - 30) / 30;
        if (fabs(y - tg_plot_py(&L.loss, sm[s])) < 8) continue;
        if (r.step_x[s] >= 30 && fabs(y - tg_plot_py(&L.loss, val)) < 8) continue;
        bool hit = false;
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                const uint8_t *p = px(&im, x + dx, y + dy);
                hit |= p[0] < 215 && p[2] > p[0];
            }
        ck_assert_msg(hit, "raw loss at step %.0f not drawn at (%.1f, %.1f)", r.step_x[s], x, y);
        raw_hits++;
    }
    ck_assert_int_gt(raw_hits, 20);
    // a point of the plot far from every curve is the white background
    double bx = tg_plot_px(&L.loss, 110), by = tg_plot_py(&L.loss, L.loss.ymax) + 40;
    ck_assert(by < tg_plot_py(&L.loss, 0.4 + 1.8 * exp(-100 / 30.0) + 0.3) - 30);
    assert_rgb(px(&im, bx + 0.5, by + 0.5), 0xffffff, 0, "background");
    // validation loss dots at the epochs' last steps (30, 60, 90, 120)
    for (int e = 0; e < 4; e++) {
        double x = tg_plot_px(&L.loss, 30.0 * (e + 1)), y = tg_plot_py(&L.loss, 1.1 - 0.2 * e);
        assert_rgb(px(&im, x, y), TG_REPORT_RGB_VAL, 12, "validation loss dot");
    }
    // top-1: train and validation dots per epoch
    const double tr[4] = {62, 75, 81, 85}, va[4] = {70, 79, 83, 82};
    for (int e = 0; e < 4; e++) {
        assert_rgb(px(&im, tg_plot_px(&L.acc, e + 1), tg_plot_py(&L.acc, tr[e])),
                   TG_REPORT_RGB_TRAIN, 12, "train top-1 dot");
        assert_rgb(px(&im, tg_plot_px(&L.acc, e + 1), tg_plot_py(&L.acc, va[e])),
                   TG_REPORT_RGB_VAL, 12, "validation top-1 dot");
    }
    // the best epoch (3: 83%) is ringed 9 px around its dot
    assert_rgb(px(&im, tg_plot_px(&L.acc, 3) + 9, tg_plot_py(&L.acc, 83)), TG_REPORT_RGB_BEST,
               60, "best epoch ring");
    assert_rgb(px(&im, tg_plot_px(&L.acc, 2) + 9, tg_plot_py(&L.acc, 79)), 0xffffff, 30,
               "no ring on another epoch");
    // the learning rate on its log axis, mid-epoch (the lr is constant within an epoch)
    ck_assert(L.lr.ylog);
    for (int e = 0; e < 4; e++) {
        int s = 30 * e + 15;
        assert_rgb(px(&im, tg_plot_px(&L.lr, s), tg_plot_py(&L.lr, r.step_lr[s - 1])),
                   TG_REPORT_RGB_LR, 30, "learning rate");
    }
    // recall bars: class i has recall 1 - i / 10, its bar ends there
    ck_assert_int_eq(L.n_bars, 10);
    ck_assert(!L.bars_lowest);
    for (int b = 0; b < 10; b++) {
        ck_assert_int_eq(L.bar_class[b], b);
        double y = L.bars.y + (b + 0.5) * L.bars.h / 10;
        double x1 = tg_plot_px(&L.bars, 1 - b / 10.0);
        if (b < 10 - 1) assert_rgb(px(&im, x1 - 2, y), TG_REPORT_RGB_BAR, 2, "recall bar");
        assert_rgb(px(&im, x1 + 2, y), 0xffffff, 40, "after the bar");
    }
    tg_image_free(&im);
    tg_report_free(&r);
}
END_TEST

START_TEST(test_eval_png_many_classes) {
    // 200 classes with hostile names: small cells, the 40 lowest recalls, text that
    // Cairo could not draw unescaped (bytes that are not UTF-8, control characters)
    enum { K = 200 };
    tg_report r;
    tg_report_init(&r, TG_REPORT_EVAL);
    char *names[K];
    uint64_t *cm = calloc(K * K, sizeof *cm);
    for (int i = 0; i < K; i++) {
        names[i] = malloc(32);
        snprintf(names[i], 32, i % 3 ? "class_%03d" : "bad\xff\x1b[31m%03d", i);
        uint64_t hit = (uint64_t)((i * 37) % K) + 1;  // recall (hit) / (K + 1): distinct
        cm[i * K + i] = hit;
        cm[i * K + (i + 7) % K] = (uint64_t)K + 1 - hit;
    }
    ck_assert_int_eq(tg_report_set_confusion(&r, K, names, cm, "test set", NULL), TG_OK);
    ck_assert_int_eq(tg_report_set_title(&r, "eval: \xc3\xa9t\xe9", NULL), TG_OK);
    char path[256];
    snprintf(path, sizeof path, "%s/eval.png", tmpdir);
    tg_error e = {0};
    ck_assert_msg(tg_report_write_png(&r, path, &e) == TG_OK, "%s", e.msg);
    keep(path, "test_report_eval200.png");
    tg_report_layout L;
    ck_assert_int_eq(tg_report_layout_compute(&r, &L, NULL), TG_OK);
    ck_assert(!L.has_loss && L.has_heat);
    ck_assert(L.bars_lowest);
    ck_assert_int_eq(L.n_bars, TG_REPORT_MAX_BARS);
    double prev = -1;
    for (int b = 0; b < L.n_bars; b++) {
        double v = tg_report_recall(&r, L.bar_class[b], NULL);
        ck_assert(v > prev);  // ascending, all different
        prev = v;
    }
    // the lowest recall is hit = 1: the class i with 37 i = 0 mod 200, i = 0
    ck_assert_int_eq(L.bar_class[0], 0);
    tg_image im;
    load_png(path, &im);
    ck_assert(L.cell >= 2);
    for (int i = 0; i < K; i += 13) {  // cells of >= 4 px: their centre pixel
        int j = (i + 7) % K;
        uint8_t want[3];
        tg_plot_heat_rgb((double)cm[i * K + j] / (K + 1), want);
        double x = L.heat_x + (j + 0.5) * L.cell, y = L.heat_y + (i + 0.5) * L.cell;
        assert_rgb(px(&im, x, y), (unsigned)want[0] << 16 | want[1] << 8 | want[2], 1,
                   "small heat cell");
    }
    tg_image_free(&im);
    for (int i = 0; i < K; i++) free(names[i]);
    free(cm);
    tg_report_free(&r);
}
END_TEST

START_TEST(test_write_errors) {
    tg_report r;
    run_fixture(&r);
    char path[256];
    snprintf(path, sizeof path, "%s/missing/report.png", tmpdir);
    tg_error e = {0};
    ck_assert_int_eq(tg_report_write_png(&r, path, &e), TG_ERR_IO);
    ck_assert_msg(strstr(e.msg, "missing/report.png") != NULL, "%s", e.msg);
    ck_assert_int_ne(access(path, F_OK), 0);
    // an empty run (nothing trained yet) still draws
    tg_report empty;
    tg_report_init(&empty, TG_REPORT_RUN);
    snprintf(path, sizeof path, "%s/empty.png", tmpdir);
    ck_assert_int_eq(tg_report_write_png(&empty, path, &e), TG_OK);
    keep(path, "test_report_empty.png");
    tg_image im;
    load_png(path, &im);
    tg_image_free(&im);
    tg_report_free(&empty);
    tg_report_free(&r);
}
END_TEST


static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void spit(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void add_rows(tg_steplog *l, uint64_t from, uint64_t to) {
    for (uint64_t s = from; s <= to; s++) {
        tg_steplog_row r = {.step = s, .epoch = (int)(s + 1) / 2, .loss = 2.5f / (float)s,
                            .lr = 0.01};
        tg_error e = {0};
        ck_assert_msg(tg_steplog_add(l, &r, &e) == TG_OK, "%s", e.msg);
    }
}

static void assert_steps(const char *path, uint64_t n) {
    tg_steplog_row *rows;
    size_t got;
    tg_error e = {0};
    ck_assert_msg(tg_steplog_read(path, &rows, &got, &e) == TG_OK, "%s", e.msg);
    ck_assert_uint_eq(got, n);
    for (size_t i = 0; i < got; i++) {
        ck_assert_uint_eq(rows[i].step, i + 1);  // every step once, in order
        ck_assert_int_eq(rows[i].epoch, (int)(i + 2) / 2);
        ck_assert_float_eq((float)rows[i].loss, 2.5f / (float)(i + 1));  // %.9g: exact float
        ck_assert_double_eq(rows[i].lr, 0.01);
    }
    free(rows);
}

START_TEST(test_steplog_write_read) {
    char path[256];
    snprintf(path, sizeof path, "%s/steps.csv", tmpdir);
    spit(path, "an older run's file\n");
    tg_steplog l;
    tg_error e = {0};
    ck_assert_int_eq(tg_steplog_open(&l, tmpdir, false, 0, &e), TG_OK);
    ck_assert_str_eq(slurp(path), "step,epoch,loss,lr\n");  // replaced
    add_rows(&l, 1, 3);
    ck_assert_str_eq(slurp(path), "step,epoch,loss,lr\n");  // buffered
    ck_assert_int_eq(tg_steplog_flush(&l, &e), TG_OK);
    ck_assert_str_eq(slurp(path), "step,epoch,loss,lr\n1,1,2.5,0.01\n2,1,1.25,0.01\n"
                                  "3,2,0.833333313,0.01\n");
    add_rows(&l, 4, 5000);  // past the 64 KiB buffer: flushed on the way
    ck_assert_int_eq(tg_steplog_close(&l, &e), TG_OK);
    assert_steps(path, 5000);
}
END_TEST

// kill -9 after a flush and before the checkpoint: the file holds steps past the
// checkpoint's, and a torn last line; resume keeps exactly the checkpoint's steps.
START_TEST(test_steplog_resume) {
    char path[256];
    snprintf(path, sizeof path, "%s/steps.csv", tmpdir);
    tg_steplog l;
    tg_error e = {0};
    ck_assert_int_eq(tg_steplog_open(&l, tmpdir, false, 0, &e), TG_OK);
    add_rows(&l, 1, 9);
    ck_assert_int_eq(tg_steplog_close(&l, &e), TG_OK);
    FILE *f = fopen(path, "ab");
    fputs("10,5,0.2", f);  // torn
    fclose(f);
    ck_assert_int_eq(tg_steplog_open(&l, tmpdir, true, 6, &e), TG_OK);
    assert_steps(path, 6);
    add_rows(&l, 7, 12);
    ck_assert_int_eq(tg_steplog_close(&l, &e), TG_OK);
    assert_steps(path, 12);
    // a reader ignores a line still being written
    f = fopen(path, "ab");
    fputs("13,7,0.1", f);
    fclose(f);
    assert_steps(path, 12);
    // a header of another version (a column more): rows kept by name, this header
    spit(path, "step,epoch,lr,loss,grad_norm\n1,1,0.01,2.5,3.5\n2,1,0.01,1.25,\n"
               "3,2,0.01,0.833333313,1\n");
    ck_assert_int_eq(tg_steplog_open(&l, tmpdir, true, 2, &e), TG_OK);
    ck_assert_int_eq(tg_steplog_close(&l, &e), TG_OK);
    ck_assert_str_eq(slurp(path), "step,epoch,loss,lr\n1,1,2.5,0.01\n2,1,1.25,0.01\n");
    // resume without a file: a new one
    unlink(path);
    ck_assert_int_eq(tg_steplog_open(&l, tmpdir, true, 40, &e), TG_OK);
    ck_assert_int_eq(tg_steplog_close(&l, &e), TG_OK);
    ck_assert_str_eq(slurp(path), "step,epoch,loss,lr\n");
}
END_TEST

START_TEST(test_steplog_errors) {
    char path[256];
    snprintf(path, sizeof path, "%s/steps.csv", tmpdir);
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"step,epoch,loss\n1,1,2\n", "steps.csv: the header has no column \"lr\""},
        {"", "steps.csv: no header line (want step,epoch,loss,lr)"},
        {"step,epoch,loss,lr\n1,1,2,0.1\n2,1,x,0.1\n3,1,2,0.1\n",
         "steps.csv: line 3 is not a row of 4 comma-separated values matching the header"},
        {"step,epoch,loss,lr\n1,1,2\n",
         "steps.csv: line 2 is not a row of 4 comma-separated values matching the header"},
        {"step,epoch,loss,lr\n0,1,2,0.1\n",
         "steps.csv: line 2 is not a row of 4 comma-separated values matching the header"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spit(path, cases[i].text);
        tg_steplog_row *rows;
        size_t n;
        tg_error e = {0};
        ck_assert_int_eq(tg_steplog_read(path, &rows, &n, &e), TG_ERR_FORMAT);
        ck_assert_msg(strstr(e.msg, cases[i].msg) != NULL, "%s", e.msg);
        ck_assert_ptr_null(rows);
    }
    // resume cuts at a malformed line (a crash's garbage) instead of failing
    static const char garbage[] = "step,epoch,loss,lr\n1,1,2,0.1\n\0\0garbage\n2,1,2,0.1\n";
    FILE *f = fopen(path, "wb");
    fwrite(garbage, 1, sizeof garbage - 1, f);
    fclose(f);
    tg_steplog l;
    tg_error e = {0};
    ck_assert_int_eq(tg_steplog_open(&l, tmpdir, true, 5, &e), TG_OK);
    ck_assert_int_eq(tg_steplog_close(&l, &e), TG_OK);
    ck_assert_str_eq(slurp(path), "step,epoch,loss,lr\n1,1,2,0.1\n");
    // a header without the columns stops a resume with a message naming the file
    spit(path, "time,value\n");
    ck_assert_int_eq(tg_steplog_open(&l, tmpdir, true, 5, &e), TG_ERR_FORMAT);
    ck_assert_msg(strstr(e.msg, "steps.csv: the header has no column \"step\"") != NULL,
                  "%s", e.msg);
}
END_TEST


// A run directory as train leaves it after 2 of 3 epochs; the report drawn from its files.
START_TEST(test_run_dir_report) {
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", tmpdir);
    spit(path, "{\"model\": {\"weights\": null}, \"freeze\": [\"conv1.*\", \"layer1.*\"], "
               "\"data\": {\"train\": \"/d/train\", \"val\": \"/d/val\", \"image_size\": 28, "
               "\"resize\": 32, \"augment\": true}, \"train\": {\"epochs\": 3, "
               "\"batch_size\": 32, \"seed\": 0}, \"loss\": {\"label_smoothing\": 0}, "
               "\"optimizer\": {\"type\": \"sgd\", \"lr\": 0.02, \"momentum\": 0.9, "
               "\"weight_decay\": 0.0005, \"nesterov\": false}, \"scheduler\": {\"type\": "
               "\"cosine\", \"min_lr\": 0}, \"output\": \"/runs/x\"}");
    snprintf(path, sizeof path, "%s/metrics.jsonl", tmpdir);
    spit(path, "{\"epoch\":1,\"train_loss\":1.2,\"train_acc\":0.6,\"val_loss\":0.9,"
               "\"val_acc\":0.7,\"lr\":0.02,\"seconds\":61,\"images_per_s\":300}\n"
               "{\"epoch\":2,\"train_loss\":0.8,\"train_acc\":0.75,\"val_loss\":0.7,"
               "\"val_acc\":0.78,\"lr\":0.01,\"seconds\":3600,\"images_per_s\":310.5}\n");
    tg_steplog l;
    tg_error e = {0};
    ck_assert_int_eq(tg_steplog_open(&l, tmpdir, false, 0, &e), TG_OK);
    add_rows(&l, 1, 8);
    ck_assert_int_eq(tg_steplog_close(&l, &e), TG_OK);
    char *names[3] = {"cat", "dog", "eel"};
    const size_t cm[9] = {8, 2, 0, 1, 9, 0, 0, 0, 10};
    ck_assert_int_eq(tg_run_confusion_save(tmpdir, 2, 3, names, cm, &e), TG_OK);
    snprintf(path, sizeof path, "%s/confusion.json", tmpdir);
    ck_assert_str_eq(slurp(path), "{\"classes\":[\"cat\",\"dog\",\"eel\"],\"confusion\":"
                                  "[[8,2,0],[1,9,0],[0,0,10]],\"epoch\":2}\n");

    tg_report r;
    ck_assert_msg(tg_run_report_load(tmpdir, &r, &e) == TG_OK, "%s", e.msg);
    ck_assert_uint_eq(r.n_steps, 8);
    ck_assert_uint_eq(r.n_epochs, 2);
    ck_assert_double_eq(r.epochs[1].val_acc, 0.78);
    ck_assert_int_eq(r.k, 3);
    ck_assert_uint_eq(r.confusion[3], 1);
    ck_assert_str_eq(r.confusion_label, "validation after epoch 2");
    char title[128];
    snprintf(title, sizeof title, "tgfinetune run %s: epoch 2 of 3", tmpdir);
    ck_assert_str_eq(r.title, title);
    static const char *const want[][2] = {
        {"data.train", "/d/train"},
        {"model.weights", "none (random initialisation)"},
        {"freeze", "conv1.* layer1.*"},
        {"image size", "28 (resize 32), augment on"},
        {"optimizer", "sgd, lr 0.02, momentum 0.9"},
        {"weight decay", "0.0005"},
        {"scheduler", "cosine to 0"},
        {"steps", "8 in 2 epochs"},
        {"elapsed", "1:01:01 (finished epochs)"},
        {"images/s", "310.5 (last epoch)"},
        {"best val top-1", "78.00% (epoch 2)"},
    };
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        bool found = false;
        for (size_t i = 0; i < r.n_info && !found; i++)
            if (!strcmp(r.info[2 * i], want[w][0])) {
                ck_assert_str_eq(r.info[2 * i + 1], want[w][1]);
                found = true;
            }
        ck_assert_msg(found, "no text line %s", want[w][0]);
    }
    tg_report_free(&r);
    ck_assert_msg(tg_run_report_write(tmpdir, NULL, &e) == TG_OK, "%s", e.msg);
    snprintf(path, sizeof path, "%s/report.png", tmpdir);
    keep(path, "test_report_rundir.png");
    tg_image im;
    load_png(path, &im);
    ck_assert_int_eq(tg_run_report_load(tmpdir, &r, &e), TG_OK);
    tg_report_layout L;
    ck_assert_int_eq(tg_report_layout_compute(&r, &L, NULL), TG_OK);
    check_heat(&im, &r, &L);
    tg_image_free(&im);
    tg_report_free(&r);

    // a broken file is named; a directory that is not a run says so
    snprintf(path, sizeof path, "%s/confusion.json", tmpdir);
    spit(path, "{\"classes\": [\"a\"], \"confusion\": [[1, 2]]}");
    ck_assert_int_eq(tg_run_report_load(tmpdir, &r, &e), TG_ERR_FORMAT);
    ck_assert_msg(strstr(e.msg, "confusion.json: not {") != NULL, "%s", e.msg);
    tg_report_free(&r);
    snprintf(path, sizeof path, "%s/config.json", tmpdir);
    unlink(path);
    ck_assert_int_eq(tg_run_report_load(tmpdir, &r, &e), TG_ERR_IO);
    ck_assert_msg(strstr(e.msg, "is not a train run's output directory") != NULL, "%s", e.msg);
    tg_report_free(&r);
}
END_TEST

int main(void) {
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("report");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_heat_scale);
    tcase_add_test(tc, test_plot_geometry);
    tcase_add_test(tc, test_smooth);
    tcase_add_test(tc, test_run_png);
    tcase_add_test(tc, test_eval_png_many_classes);
    tcase_add_test(tc, test_write_errors);
    suite_add_tcase(s, tc);
    TCase *tl = tcase_create("steplog");
    tcase_add_checked_fixture(tl, setup, teardown);
    tcase_add_test(tl, test_steplog_write_read);
    tcase_add_test(tl, test_steplog_resume);
    tcase_add_test(tl, test_steplog_errors);
    tcase_add_test(tl, test_run_dir_report);
    suite_add_tcase(s, tl);
    return tg_test_run(s, 0);
}
