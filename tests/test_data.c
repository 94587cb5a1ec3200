// test_data.c: decoding, transforms, ImageFolder scan and loader against references
// written by scripts/gen_data_ref.py (PIL 9.4 + torchvision 0.14) in tests/data/images.
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/folder.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "testlib.h"

static char g_dir[4096];

static const char *img_dir(void) {
    if (!g_dir[0]) {
        tg_test_data_path(g_dir, sizeof g_dir, "images");
    }
    return g_dir;
}

static void fx(char *out, size_t n, const char *name) { snprintf(out, n, "%s/%s", img_dir(), name); }

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    ck_assert(fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void load_ok(tg_image *img, const char *name) {
    char p[4352];
    fx(p, sizeof p, name);
    tg_error err = {0};
    tg_status st = tg_image_load(img, p, NULL, &err);
    ck_assert_msg(st == TG_OK, "%s: %s", name, err.msg);
}

// Fraction of bytes that differ by more than tol.
static double frac_off(const uint8_t *a, const uint8_t *b, size_t n, int tol, int *maxd) {
    size_t bad = 0;
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > m) m = d;
        if (d > tol) bad++;
    }
    if (maxd) *maxd = m;
    return (double)bad / (double)n;
}

START_TEST(test_decode_matches_pil) {
    char p[4352];
    fx(p, sizeof p, "decode.tsv");
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    char name[256], ref[256];
    int w, h, count = 0;
    while (fscanf(f, "%255s %d %d %255s", name, &w, &h, ref) == 4) {
        tg_image img;
        load_ok(&img, name);
        ck_assert_msg(img.width == w && img.height == h, "%s: %dx%d, PIL %dx%d", name, img.width,
                      img.height, w, h);
        size_t n;
        fx(p, sizeof p, ref);
        uint8_t *r = read_all(p, &n);
        ck_assert_uint_eq(n, (size_t)w * h * 3);
        int maxd;
        double off = frac_off(img.pixels, r, n, 0, &maxd);
        ck_assert_msg(off == 0.0, "%s: %.4f%% of samples differ from PIL (max %d)", name,
                      off * 100, maxd);
        free(r);
        tg_image_free(&img);
        count++;
    }
    fclose(f);
    ck_assert_int_ge(count, 35);
}
END_TEST

START_TEST(test_decode_memory_and_exif_off) {
    // exif off: exif6.jpg keeps its stored orientation (61x47, not 47x61)
    char p[4352];
    fx(p, sizeof p, "exif6.jpg");
    size_t n;
    uint8_t *d = read_all(p, &n);
    tg_image_opts o;
    tg_image_opts_default(&o);
    ck_assert_int_eq(o.max_pixels, 50000000);
    ck_assert_int_eq(o.exif_orientation, 1);
    tg_image a, b;
    tg_error err = {0};
    ck_assert_int_eq(tg_image_decode(&a, d, n, "x", &o, &err), TG_OK);
    ck_assert_int_eq(a.width, 47);
    ck_assert_int_eq(a.height, 61);
    o.exif_orientation = 0;
    ck_assert_int_eq(tg_image_decode(&b, d, n, "x", &o, &err), TG_OK);
    ck_assert_int_eq(b.width, 61);
    ck_assert_int_eq(b.height, 47);
    // orientation 6 = rotate 90 degrees clockwise: a(x, y) = b(y, H - 1 - x)
    for (int y = 0; y < a.height; y += 7)
        for (int x = 0; x < a.width; x += 5)
            ck_assert(memcmp(a.pixels + ((size_t)y * a.width + x) * 3,
                             b.pixels + ((size_t)(b.height - 1 - x) * b.width + y) * 3, 3) == 0);
    // cap just below the image size: refused from the header
    o.max_pixels = 61 * 47 - 1;
    tg_image c;
    ck_assert_int_eq(tg_image_decode(&c, d, n, "x.jpg", &o, &err), TG_ERR_NOMEM);
    ck_assert_ptr_null(c.pixels);
    ck_assert_ptr_nonnull(strstr(err.msg, "exceeds the cap"));
    tg_image_free(&a);
    tg_image_free(&b);
    free(d);
}
END_TEST

// The source's facts (tg_image_load_info) for every kind of fixture, as PIL 9.4 sees them
// (mode, bits, tRNS, EXIF tag 0x0112, Adobe transform for YCCK), with the same pixels as
// tg_image_load: reporting them changes nothing that is decoded.
START_TEST(test_image_info) {
    static const struct {
        const char *name;
        int is_png, w, h, depth;
        tg_image_color color;
        int alpha, orientation;
    } cases[] = {
        {"gray1.png", 1, 37, 29, 1, TG_IMAGE_GRAY, 0, 0},
        {"gray4.png", 1, 37, 29, 4, TG_IMAGE_GRAY, 0, 0},
        {"gray16.png", 1, 37, 29, 16, TG_IMAGE_GRAY, 0, 0},
        {"gray8_trns.png", 1, 37, 29, 8, TG_IMAGE_GRAY, 1, 0},
        {"graya8.png", 1, 37, 29, 8, TG_IMAGE_GRAY_ALPHA, 1, 0},
        {"graya16.png", 1, 37, 29, 16, TG_IMAGE_GRAY_ALPHA, 1, 0},
        {"rgb8.png", 1, 37, 29, 8, TG_IMAGE_RGB, 0, 0},
        {"rgb16_interlaced.png", 1, 37, 29, 16, TG_IMAGE_RGB, 0, 0},
        {"rgba8.png", 1, 37, 29, 8, TG_IMAGE_RGBA, 1, 0},
        {"pal4.png", 1, 37, 29, 4, TG_IMAGE_PALETTE, 0, 0},
        {"pal8_trns.png", 1, 37, 29, 8, TG_IMAGE_PALETTE, 1, 0},
        {"rgb8_exif6.png", 1, 37, 29, 8, TG_IMAGE_RGB, 0, 6},
        {"png_named.jpg", 1, 37, 29, 8, TG_IMAGE_RGB, 0, 0},
        {"baseline420.jpg", 0, 61, 47, 8, TG_IMAGE_RGB, 0, 0},
        {"gray.jpg", 0, 61, 47, 8, TG_IMAGE_GRAY, 0, 0},
        {"cmyk.jpg", 0, 61, 47, 8, TG_IMAGE_CMYK, 0, 0},
        {"ycck.jpg", 0, 61, 47, 8, TG_IMAGE_YCCK, 0, 0},
        {"exif2.jpg", 0, 61, 47, 8, TG_IMAGE_RGB, 0, 2},
        {"exif8.jpg", 0, 61, 47, 8, TG_IMAGE_RGB, 0, 8},
    };
    char p[4352];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fx(p, sizeof p, cases[i].name);
        for (int exif = 0; exif <= 1; exif++) {
            tg_image_opts o;
            tg_image_opts_default(&o);
            o.exif_orientation = exif;
            tg_image a, b;
            tg_image_info info;
            tg_error err = {0};
            ck_assert_msg(tg_image_load_info(&a, p, &o, &info, &err) == TG_OK, "%s", err.msg);
            ck_assert_msg(info.is_png == cases[i].is_png && info.width == cases[i].w &&
                              info.height == cases[i].h && info.bit_depth == cases[i].depth &&
                              info.color == cases[i].color && info.alpha == cases[i].alpha &&
                              info.orientation == cases[i].orientation,
                          "%s (exif %d): png %d %dx%d depth %d color %d alpha %d orientation %d",
                          cases[i].name, exif, info.is_png, info.width, info.height,
                          info.bit_depth, (int)info.color, info.alpha, info.orientation);
            ck_assert_int_eq(tg_image_load(&b, p, &o, &err), TG_OK);
            ck_assert_int_eq(a.width, b.width);
            ck_assert_int_eq(a.height, b.height);
            ck_assert(memcmp(a.pixels, b.pixels, (size_t)a.width * a.height * 3) == 0);
            // the orientation is reported either way, applied only with exif_orientation
            int swap = exif && cases[i].orientation >= 5;
            ck_assert_int_eq(a.width, swap ? cases[i].h : cases[i].w);
            tg_image_free(&a);
            tg_image_free(&b);
        }
    }
    // a file that fails leaves the facts zeroed
    fx(p, sizeof p, "trunc40.png");
    tg_image img;
    tg_image_info info = {.width = 5};
    tg_error err = {0};
    ck_assert_int_ne(tg_image_load_info(&img, p, NULL, &info, &err), TG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "truncated"));
    ck_assert_int_eq(info.width, 0);
    ck_assert_int_eq(info.bit_depth, 0);
}
END_TEST

START_TEST(test_bad_files) {
    char p[4352];
    fx(p, sizeof p, "bad.tsv");
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    int count = 0;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        ck_assert_ptr_nonnull(tab);
        *tab = 0;
        char *why = tab + 1;
        why[strcspn(why, "\n")] = 0;
        fx(p, sizeof p, line);
        tg_image img = {1, 1, (uint8_t *)1};
        tg_error err = {0};
        tg_status st = tg_image_load(&img, p, NULL, &err);
        ck_assert_msg(st != TG_OK, "%s decoded but is bad", line);
        ck_assert_ptr_null(img.pixels);
        ck_assert_msg(strstr(err.msg, line) != NULL, "message does not name the file: %s", err.msg);
        ck_assert_msg(strstr(err.msg, why) != NULL, "%s: expected '%s' in: %s", line, why, err.msg);
        count++;
    }
    fclose(f);
    ck_assert_int_eq(count, 8);
    tg_image img;
    tg_error err = {0};
    ck_assert_int_eq(tg_image_load(&img, "/nonexistent/x.png", NULL, &err), TG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x.png"));
}
END_TEST

START_TEST(test_resize_matches_pil) {
    char p[4352];
    fx(p, sizeof p, "resize.tsv");
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    char name[256], ref[256];
    int size, w, h, count = 0;
    while (fscanf(f, "%255s %d %d %d %255s", name, &size, &w, &h, ref) == 5) {
        tg_image img, out;
        load_ok(&img, name);
        int ow, oh;
        tg_resize_output_size(img.width, img.height, size, &ow, &oh);
        ck_assert_msg(ow == w && oh == h, "%s Resize(%d): %dx%d, torchvision %dx%d", name, size,
                      ow, oh, w, h);
        tg_error err = {0};
        ck_assert_int_eq(tg_image_resize(&out, &img, ow, oh, &err), TG_OK);
        size_t n;
        fx(p, sizeof p, ref);
        uint8_t *r = read_all(p, &n);
        ck_assert_uint_eq(n, (size_t)w * h * 3);
        int maxd;
        double off1 = frac_off(out.pixels, r, n, 1, &maxd);
        ck_assert_msg(off1 <= 0.001, "%s Resize(%d): %.3f%% off by more than 1/255", name, size,
                      off1 * 100);
        double off0 = frac_off(out.pixels, r, n, 0, NULL);
        ck_assert_msg(off0 <= 0.01, "%s Resize(%d): %.3f%% not identical", name, size, off0 * 100);
        free(r);
        tg_image_free(&img);
        tg_image_free(&out);
        count++;
    }
    fclose(f);
    ck_assert_int_eq(count, 7);
}
END_TEST

START_TEST(test_eval_pipeline_matches_torchvision) {
    char p[4352];
    fx(p, sizeof p, "eval.tsv");
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    char name[256], ref[256];
    int rs, cs, count = 0;
    const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    while (fscanf(f, "%255s %d %d %255s", name, &rs, &cs, ref) == 4) {
        tg_image img;
        load_ok(&img, name);
        float *x = malloc(sizeof(float) * 3 * cs * cs);
        tg_error err = {0};
        ck_assert_int_eq(tg_transform_eval(x, &img, rs, cs, zero, one, &err), TG_OK);
        size_t n;
        fx(p, sizeof p, ref);
        uint8_t *r = read_all(p, &n);
        ck_assert_uint_eq(n, (size_t)cs * cs * 3);
        uint8_t *mine = malloc(n);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < cs * cs; i++)
                mine[(size_t)i * 3 + c] = (uint8_t)lrintf(x[(size_t)c * cs * cs + i] * 255.0f);
        int maxd;
        double off = frac_off(mine, r, n, 1, &maxd);
        ck_assert_msg(off <= 0.001, "%s eval(%d, %d): %.3f%% off by more than 1/255", name, rs, cs,
                      off * 100);
        free(mine);
        free(r);
        free(x);
        tg_image_free(&img);
        count++;
    }
    fclose(f);
    ck_assert_int_eq(count, 5);
}
END_TEST

START_TEST(test_normalize_matches_torchvision) {
    tg_image img;
    load_ok(&img, "photo.jpg");
    float x[3 * 56 * 56];
    tg_error err = {0};
    ck_assert_int_eq(tg_transform_eval(x, &img, 64, 56, tg_imagenet_mean, tg_imagenet_std, &err), TG_OK);
    char p[4352];
    fx(p, sizeof p, "norm.bin");
    size_t n;
    uint8_t *r = read_all(p, &n);
    ck_assert_uint_eq(n, sizeof x);
    const float *ref = (const float *)r;
    double maxd = 0;
    for (size_t i = 0; i < 3 * 56 * 56; i++) maxd = fmax(maxd, fabs((double)x[i] - ref[i]));
    // identical pixels give identical floats; allow one pixel level
    ck_assert_msg(maxd <= 1.0 / 255 / 0.224 + 1e-6, "max diff %g", maxd);
    free(r);
    tg_image_free(&img);
}
END_TEST

START_TEST(test_resized_crop_matches_torchvision) {
    char p[4352];
    fx(p, sizeof p, "crop.tsv");
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    char name[256], ref[256];
    int t, l, h, w, s, count = 0;
    while (fscanf(f, "%255s %d %d %d %d %d %255s", name, &t, &l, &h, &w, &s, ref) == 7) {
        tg_image img, out;
        load_ok(&img, name);
        tg_crop_box src = {t, l, h, w}, win = {0, 0, s, s};
        tg_error err = {0};
        ck_assert_int_eq(tg_image_resize_window(&out, &img, src, s, s, win, &err), TG_OK);
        size_t n;
        fx(p, sizeof p, ref);
        uint8_t *r = read_all(p, &n);
        ck_assert_uint_eq(n, (size_t)s * s * 3);
        double off = frac_off(out.pixels, r, n, 1, NULL);
        ck_assert_msg(off <= 0.001, "%s crop: %.3f%% off", name, off * 100);
        free(r);
        tg_image_free(&img);
        tg_image_free(&out);
        count++;
    }
    fclose(f);
    ck_assert_int_eq(count, 4);
}
END_TEST

START_TEST(test_center_crop_box) {
    // torchvision: top = int(round((h - ch) / 2.0)), half to even
    tg_crop_box b = tg_center_crop_box(341, 256, 224, 224);
    ck_assert_int_eq(b.top, 16);
    ck_assert_int_eq(b.left, 58);  // round(58.5) = 58
    b = tg_center_crop_box(227, 225, 224, 224);
    ck_assert_int_eq(b.left, 2);   // round(1.5) = 2
    ck_assert_int_eq(b.top, 0);    // round(0.5) = 0
    b = tg_center_crop_box(20, 20, 24, 25);  // padded: left 2, top 2
    ck_assert_int_eq(b.left, -2);
    ck_assert_int_eq(b.top, -2);
    int w, h;
    tg_resize_output_size(500, 375, 256, &w, &h);
    ck_assert_int_eq(w, 341);
    ck_assert_int_eq(h, 256);
    tg_resize_output_size(45, 80, 64, &w, &h);
    ck_assert_int_eq(w, 64);
    ck_assert_int_eq(h, 113);
}
END_TEST

START_TEST(test_random_resized_crop_rules) {
    static const double scale[2] = {0.08, 1.0}, ratio[2] = {3.0 / 4.0, 4.0 / 3.0};
    tg_rng r;
    tg_rng_seed(&r, 7);
    int sizes[][2] = {{500, 375}, {224, 224}, {37, 29}, {1000, 30}, {64, 640}};
    int fallbacks = 0, total = 0;
    double smin = 1, smax = 0;
    for (int s = 0; s < 5; s++) {
        int W = sizes[s][0], H = sizes[s][1];
        for (int k = 0; k < 2000; k++) {
            int fb;
            tg_crop_box b = tg_random_resized_crop_box(W, H, scale, ratio, &r, &fb);
            ck_assert(b.top >= 0 && b.left >= 0 && b.width > 0 && b.height > 0);
            ck_assert(b.top + b.height <= H && b.left + b.width <= W);
            total++;
            if (fb) {
                fallbacks++;
                continue;
            }
            // w = round(sqrt(A r)), h = round(sqrt(A / r)): undo the rounding bounds
            double area = (double)W * H;
            double lo = (b.width - 0.5) * (b.height - 0.5), hi = (b.width + 0.5) * (b.height + 0.5);
            ck_assert(hi >= 0.08 * area && lo <= area);
            double rlo = (b.width - 0.5) / (b.height + 0.5), rhi = (b.width + 0.5) / (b.height - 0.5);
            ck_assert(rhi >= 3.0 / 4.0 && rlo <= 4.0 / 3.0);
            double sc = b.width * (double)b.height / area;
            smin = fmin(smin, sc);
            smax = fmax(smax, sc);
        }
    }
    ck_assert(smin < 0.12 && smax > 0.9);  // the whole scale range is sampled
    ck_assert(fallbacks > 2000 && fallbacks < total / 2);  // 1000x30 always falls back
    // always-failing shapes take the central fallback
    int fb;
    tg_crop_box b = tg_random_resized_crop_box(10, 1000, scale, ratio, &r, &fb);
    ck_assert_int_eq(fb, 1);
    ck_assert_int_eq(b.width, 10);
    ck_assert_int_eq(b.height, 13);  // round(10 / 0.75)
    ck_assert_int_eq(b.top, 493);
    ck_assert_int_eq(b.left, 0);
    b = tg_random_resized_crop_box(1000, 10, scale, ratio, &r, &fb);
    ck_assert_int_eq(fb, 1);
    ck_assert_int_eq(b.height, 10);
    ck_assert_int_eq(b.width, 13);   // round(10 * 4/3)
    ck_assert_int_eq(b.left, 493);
    // reproducible from the seed
    tg_rng a1, a2;
    tg_rng_seed(&a1, 99);
    tg_rng_seed(&a2, 99);
    for (int k = 0; k < 50; k++) {
        tg_crop_box x = tg_random_resized_crop_box(300, 200, scale, ratio, &a1, NULL);
        tg_crop_box y = tg_random_resized_crop_box(300, 200, scale, ratio, &a2, NULL);
        ck_assert(memcmp(&x, &y, sizeof x) == 0);
    }
}
END_TEST

START_TEST(test_train_transform_and_flip) {
    tg_image img;
    load_ok(&img, "tall.png");
    float *x = malloc(sizeof(float) * 3 * 32 * 32);
    float *y = malloc(sizeof(float) * 3 * 32 * 32);
    tg_rng r1, r2;
    tg_rng_seed(&r1, 5);
    tg_rng_seed(&r2, 5);
    tg_error err = {0};
    int flips = 0;
    for (int k = 0; k < 40; k++) {
        ck_assert_int_eq(tg_transform_train(x, &img, 32, &r1, tg_imagenet_mean, tg_imagenet_std, &err), TG_OK);
        // recompute by hand from the same draws: box, flip
        static const double scale[2] = {0.08, 1.0}, ratio[2] = {3.0 / 4.0, 4.0 / 3.0};
        tg_crop_box b = tg_random_resized_crop_box(img.width, img.height, scale, ratio, &r2, NULL);
        int flip = tg_rng_uniform(&r2) < 0.5;
        flips += flip;
        tg_image o;
        tg_crop_box win = {0, 0, 32, 32};
        ck_assert_int_eq(tg_image_resize_window(&o, &img, b, 32, 32, win, &err), TG_OK);
        if (flip) tg_image_hflip(&o);
        tg_image_to_chw(y, &o, tg_imagenet_mean, tg_imagenet_std);
        ck_assert(memcmp(x, y, sizeof(float) * 3 * 32 * 32) == 0);
        tg_image_free(&o);
    }
    ck_assert(flips > 5 && flips < 35);
    // hflip twice is the identity, once mirrors
    tg_image c;
    tg_crop_box all = {0, 0, img.height, img.width};
    ck_assert_int_eq(tg_image_crop(&c, &img, all, &err), TG_OK);
    tg_image_hflip(&c);
    ck_assert(memcmp(c.pixels, img.pixels + (size_t)(img.width - 1) * 3, 3) == 0);
    tg_image_hflip(&c);
    ck_assert(memcmp(c.pixels, img.pixels, (size_t)img.width * img.height * 3) == 0);
    tg_image_free(&c);
    free(x);
    free(y);
    tg_image_free(&img);
}
END_TEST

// ---- folder ----

static char *make_tmp(void) {
    char *t = malloc(4096);
    ck_assert_ptr_nonnull(t);
    return tg_test_tmpdir(t, 4096, "tg_data");
}

static void rm_rf(const char *d) {
    ck_assert_int_eq(tg_test_remove_tree(d), 0);
}

static void touch(const char *root, const char *rel, const char *copy_from) {
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", p);
    if (copy_from) {
        char s[4352];
        fx(s, sizeof s, copy_from);
        size_t n;
        uint8_t *d = read_all(s, &n);
        ck_assert(fwrite(d, 1, n, f) == n);
        free(d);
    }
    fclose(f);
}

static void mkd(const char *root, const char *rel) {
    char p[8192];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    ck_assert_int_eq(mkdir(p, 0755), 0);
}

static int g_notices;
static char g_last_notice[1024];
static char g_all_notices[16384];  // every notice, one a line
static void count_notice(void *user, const char *msg) {
    (void)user;
    g_notices++;
    snprintf(g_last_notice, sizeof g_last_notice, "%s", msg);
    size_t n = strlen(g_all_notices);
    snprintf(g_all_notices + n, sizeof g_all_notices - n, "%s\n", msg);
}

START_TEST(test_folder_matches_imagefolder) {
    char *root = make_tmp();
    char p[4352];
    fx(p, sizeof p, "folder_tree.txt");
    FILE *f = fopen(p, "r");
    ck_assert_ptr_nonnull(f);
    char line[512];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!line[0]) continue;
        char *rest = line + 2;
        if (line[0] == 'd') {
            char q[8192];
            snprintf(q, sizeof q, "%s/%s", root, rest);
            char cmd[8300];
            snprintf(cmd, sizeof cmd, "mkdir -p '%s'", q);
            ck_assert_int_eq(system(cmd), 0);
        } else if (line[0] == 'f') {
            touch(root, rest, NULL);
        } else {
            char *sp = strchr(rest, ' ');
            *sp = 0;
            char q[8192];
            snprintf(q, sizeof q, "%s/%s", root, rest);
            ck_assert_int_eq(symlink(sp + 1, q), 0);
        }
    }
    fclose(f);
    tg_folder fo;
    tg_error err = {0};
    g_notices = 0;
    ck_assert_msg(tg_folder_scan(&fo, root, count_notice, NULL, &err) == TG_OK, "%s", err.msg);
    // The one deliberate difference from torchvision: dog/link -> ../bird (another class's
    // folder) is not followed, with a notice, so bird's images are not also labelled dog.
    ck_assert_int_eq(g_notices, 1);
    ck_assert_uint_eq(fo.links_skipped, 1);
    ck_assert_ptr_nonnull(strstr(g_last_notice, "/dog/link: symlink not followed"));
    ck_assert_ptr_nonnull(strstr(g_last_notice, "class 'bird'"));
    fx(p, sizeof p, "folder_expected.tsv");
    f = fopen(p, "r");
    size_t i = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "dog/link/", 9)) continue;
        char *t1 = strchr(line, '\t');
        *t1 = 0;
        int label = atoi(t1 + 1);
        ck_assert_uint_lt(i, fo.count);
        char q[8192];
        snprintf(q, sizeof q, "%s/%s", root, line);
        ck_assert_str_eq(fo.items[i].path, q);
        ck_assert_int_eq(fo.items[i].label, label);
        i++;
    }
    fclose(f);
    ck_assert_uint_eq(i, fo.count);
    ck_assert_int_eq(fo.num_classes, 4);
    ck_assert_str_eq(fo.classes[0], "Zebra");
    ck_assert_str_eq(fo.classes[3], "dog");
    tg_folder_free(&fo);

    // hidden names are skipped with one notice, and change nothing else
    mkd(root, ".ipynb_checkpoints");
    touch(root, ".ipynb_checkpoints/x.png", NULL);
    touch(root, "cat/.DS_Store", NULL);
    touch(root, "cat/.hidden.png", NULL);
    g_notices = 0;
    ck_assert_msg(tg_folder_scan(&fo, root, count_notice, NULL, &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(g_notices, 2);
    ck_assert_uint_eq(fo.hidden_skipped, 3);
    ck_assert_uint_eq(fo.count, i);
    ck_assert_int_eq(fo.num_classes, 4);
    ck_assert_ptr_nonnull(strstr(g_last_notice, ".ipynb_checkpoints"));
    tg_folder_free(&fo);
    rm_rf(root);
    free(root);
}
END_TEST

static void link_at(const char *root, const char *rel, const char *target) {
    char q[8192];
    snprintf(q, sizeof q, "%s/%s", root, rel);
    ck_assert_int_eq(symlink(target, q), 0);
}

static int notice_has(const char *needle) {
    return strstr(g_all_notices, needle) != NULL;
}

// What the scan leaves out, listed for `check` (record_skipped), sorted by path, each with
// its kind and class; train's notices and counts are the same with or without the list.
// allow_empty_classes keeps a class without images instead of failing on it.
START_TEST(test_folder_skipped_list) {
    char *root = make_tmp();
    mkd(root, "cat");
    mkd(root, "cat/sub");
    mkd(root, "cat/.hidden");
    mkd(root, "dog");
    mkd(root, ".ipynb_checkpoints");
    touch(root, "cat/a.png", NULL);
    touch(root, "cat/notes.txt", NULL);
    touch(root, "cat/.DS_Store", NULL);
    touch(root, "cat/.hidden/x.png", NULL);
    touch(root, "cat/sub/b.JPG", NULL);
    touch(root, "cat/sub/c.gif", NULL);
    touch(root, "readme.md", NULL);
    touch(root, "stray.png", NULL);
    touch(root, ".DS_Store", NULL);  // a hidden file at the root: ignored, as before
    link_at(root, "cat/link", "../dog");
    tg_folder fo;
    tg_error err = {0};
    ck_assert_int_ne(tg_folder_scan(&fo, root, NULL, NULL, &err), TG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "class 'dog' has 0 images"));
    g_notices = 0;
    g_all_notices[0] = 0;
    tg_folder_scan_opts o = {.notice = count_notice, .record_skipped = 1, .allow_empty_classes = 1};
    ck_assert_msg(tg_folder_scan_with(&fo, root, &o, &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(fo.num_classes, 2);
    ck_assert_uint_eq(fo.count, 2);
    ck_assert_uint_eq(fo.class_counts[0], 2);
    ck_assert_uint_eq(fo.class_counts[1], 0);
    ck_assert_uint_eq(fo.hidden_skipped, 3);
    ck_assert_uint_eq(fo.links_skipped, 1);
    ck_assert_int_eq(g_notices, 2);  // the link, then the hidden names
    ck_assert(notice_has("/cat/link: symlink not followed"));
    ck_assert(notice_has("skipped 3 hidden names starting with '.'"));
    static const struct {
        const char *rel;
        tg_folder_skip_kind kind;
        int label;
    } want[] = {
        {".ipynb_checkpoints", TG_FOLDER_SKIP_HIDDEN, -1},
        {"cat/.DS_Store", TG_FOLDER_SKIP_HIDDEN, 0},
        {"cat/.hidden", TG_FOLDER_SKIP_HIDDEN, 0},
        {"cat/link", TG_FOLDER_SKIP_LINK, 0},
        {"cat/notes.txt", TG_FOLDER_SKIP_EXTENSION, 0},
        {"cat/sub/c.gif", TG_FOLDER_SKIP_EXTENSION, 0},
        {"readme.md", TG_FOLDER_SKIP_OUTSIDE, -1},
        {"stray.png", TG_FOLDER_SKIP_OUTSIDE, -1},
    };
    ck_assert_uint_eq(fo.nskipped, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < fo.nskipped; i++) {
        char q[8192];
        snprintf(q, sizeof q, "%s/%s", root, want[i].rel);
        ck_assert_str_eq(fo.skipped[i].path, q);
        ck_assert_int_eq(fo.skipped[i].kind, want[i].kind);
        ck_assert_int_eq(fo.skipped[i].label, want[i].label);
    }
    tg_folder_free(&fo);
    // without the list: the same scan, the same notices, nothing listed
    g_notices = 0;
    o.record_skipped = 0;
    ck_assert_msg(tg_folder_scan_with(&fo, root, &o, &err) == TG_OK, "%s", err.msg);
    ck_assert_uint_eq(fo.nskipped, 0);
    ck_assert_ptr_null(fo.skipped);
    ck_assert_uint_eq(fo.count, 2);
    ck_assert_int_eq(g_notices, 2);
    tg_folder_free(&fo);
    rm_rf(root);
    free(root);
}
END_TEST

// Symlinks that would escape the dataset or relabel images are not followed (QA: a link
// to ../.. counted 81 images instead of 12, all labelled with the link's class).
START_TEST(test_folder_symlinks) {
    char *t = make_tmp();
    char ds[4200];
    snprintf(ds, sizeof ds, "%s/ds", t);
    mkd(t, "ds");
    mkd(t, "outside");
    touch(t, "outside/e.png", NULL);
    mkd(ds, "cat");
    mkd(ds, "dog");
    mkd(ds, "dog/sub");
    touch(ds, "cat/a.png", NULL);
    touch(ds, "cat/b.png", NULL);
    touch(ds, "dog/c.png", NULL);
    touch(ds, "dog/sub/d.png", NULL);
    link_at(ds, "dog/toroot", "../..");         // above the dataset
    link_at(ds, "dog/loop", "..");              // the dataset root
    link_at(ds, "dog/tocat", "../cat");         // another class's folder
    link_at(ds, "cat/todogsub", "../dog/sub");  // a folder inside a later class
    link_at(ds, "dog/out", "../../outside");    // outside the dataset: followed
    link_at(t, "outside/back", "../ds/cat");    // and back in from there: not followed
    link_at(ds, "dog/sub/up", "../../dog");     // a loop through a real subfolder
    tg_folder fo;
    tg_error err = {0};
    g_notices = 0;
    g_all_notices[0] = 0;
    ck_assert_msg(tg_folder_scan(&fo, ds, count_notice, NULL, &err) == TG_OK, "%s", err.msg);
    static const char *want[] = {"cat/a.png", "cat/b.png", "dog/c.png", "dog/out/e.png",
                                 "dog/sub/d.png"};
    static const int want_label[] = {0, 0, 1, 1, 1};
    ck_assert_uint_eq(fo.count, 5);
    for (size_t i = 0; i < 5; i++) {
        char q[8192];
        snprintf(q, sizeof q, "%s/%s", ds, want[i]);
        ck_assert_str_eq(fo.items[i].path, q);
        ck_assert_int_eq(fo.items[i].label, want_label[i]);
    }
    ck_assert_uint_eq(fo.class_counts[0], 2);
    ck_assert_uint_eq(fo.class_counts[1], 3);
    // one notice per link not followed, naming it and why
    ck_assert_int_eq(g_notices, 6);
    ck_assert_uint_eq(fo.links_skipped, 6);
    ck_assert(notice_has("/ds/dog/toroot: symlink not followed: it points to the dataset folder"));
    ck_assert(notice_has("/ds/dog/loop: symlink not followed: it points to the dataset folder"));
    ck_assert(notice_has("/ds/dog/tocat: symlink not followed: it points to"));
    ck_assert(notice_has("/ds/cat, already scanned for class 'cat'"));
    ck_assert(notice_has("/ds/cat/todogsub: symlink not followed: it points to"));
    ck_assert(notice_has("/ds/dog/sub, already scanned for class 'dog'"));
    ck_assert(notice_has("/ds/dog/out/back: symlink not followed"));
    ck_assert(notice_has("/ds/dog/sub/up: symlink not followed"));
    tg_folder_free(&fo);

    // a class folder that is a link to another class's folder, or to the root: an error
    link_at(ds, "emu", "cat");
    ck_assert_int_ne(tg_folder_scan(&fo, ds, NULL, NULL, &err), TG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "/ds/emu: class folder is"));
    ck_assert_ptr_nonnull(strstr(err.msg, "already scanned for class 'cat'"));
    char q[8192];
    snprintf(q, sizeof q, "%s/emu", ds);
    ck_assert_int_eq(unlink(q), 0);
    link_at(ds, "zz", "..");
    ck_assert_int_ne(tg_folder_scan(&fo, ds, NULL, NULL, &err), TG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "/ds/zz: class folder is the dataset folder"));
    snprintf(q, sizeof q, "%s/zz", ds);
    ck_assert_int_eq(unlink(q), 0);
    // a class folder that is a link outside the dataset is walked as the class
    link_at(ds, "emu", "../outside");
    g_notices = 0;
    ck_assert_msg(tg_folder_scan(&fo, ds, count_notice, NULL, &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(fo.num_classes, 3);
    ck_assert_uint_eq(fo.class_counts[2], 1);
    snprintf(q, sizeof q, "%s/emu/e.png", ds);
    ck_assert_str_eq(fo.items[fo.count - 1].path, q);
    ck_assert_uint_eq(fo.class_counts[1], 2);  // dog/out is now emu's folder: not followed
    tg_folder_free(&fo);
    rm_rf(t);
    free(t);
}
END_TEST

START_TEST(test_folder_errors) {
    char *root = make_tmp();
    tg_folder fo, fv;
    tg_error err = {0};
    mkd(root, "cat");
    touch(root, "cat/a.png", NULL);
    ck_assert_int_ne(tg_folder_scan(&fo, root, NULL, NULL, &err), TG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "need at least 2"));
    ck_assert_ptr_nonnull(strstr(err.msg, "'cat'"));
    mkd(root, "dog");
    touch(root, "dog/readme.txt", NULL);
    ck_assert_int_ne(tg_folder_scan(&fo, root, NULL, NULL, &err), TG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "class 'dog' has 0 images"));
    // a symlink loop terminates and lists each file once
    touch(root, "dog/b.jpg", NULL);
    char q[8192];
    snprintf(q, sizeof q, "%s/dog/loop", root);
    ck_assert_int_eq(symlink(".", q), 0);
    ck_assert_msg(tg_folder_scan(&fo, root, NULL, NULL, &err) == TG_OK, "%s", err.msg);
    ck_assert_uint_eq(fo.count, 2);
    // validation folder with different classes
    char *vroot = make_tmp();
    mkd(vroot, "cat");
    mkd(vroot, "cow");
    touch(vroot, "cat/a.png", NULL);
    touch(vroot, "cow/a.png", NULL);
    ck_assert_int_eq(tg_folder_scan(&fv, vroot, NULL, NULL, &err), TG_OK);
    ck_assert_int_ne(tg_folder_check_same_classes(&fo, &fv, &err), TG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "'dog'"));
    tg_folder_free(&fv);
    ck_assert_int_eq(tg_folder_check_same_classes(&fo, &fo, &err), TG_OK);
    ck_assert_int_ne(tg_folder_scan(&fv, "/nonexistent/dir", NULL, NULL, &err), TG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/dir"));
    tg_folder_free(&fo);
    rm_rf(root);
    rm_rf(vroot);
    free(root);
    free(vroot);
}
END_TEST

// No raw control byte or invalid UTF-8 from a file name reaches a message (bad-inputs #34).
static void assert_printable(const char *msg) {
    for (const unsigned char *c = (const unsigned char *)msg; *c; c++)
        ck_assert_msg(*c >= 0x20 && *c != 0x7f && *c != 0xff, "raw byte 0x%02x in '%s'", *c,
                      msg);
}

START_TEST(test_messages_escape_names) {
    char *root = make_tmp();
    tg_error err = {0};
    tg_image img;
    char p[8192];
    // cannot open
    snprintf(p, sizeof p, "%s/no\x1b[2Jsuch\xff.png", root);
    ck_assert_int_eq(tg_image_load(&img, p, NULL, &err), TG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/no\\x1b[2Jsuch\\xff.png: cannot open"));
    assert_printable(err.msg);
    // not an image (the decoder's message)
    mkd(root, "cat");
    snprintf(p, sizeof p, "%s/cat/bad\n\x9b" "1m.png", root);
    FILE *f = fopen(p, "wb");
    fputs("hello", f);
    fclose(f);
    ck_assert_int_eq(tg_image_load(&img, p, NULL, &err), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "/cat/bad\\x0a\\x9b1m.png: not a PNG or JPEG"));
    assert_printable(err.msg);
    // through the evaluation loader
    float out[3 * 8 * 8];
    const float mean[3] = {0, 0, 0}, std[3] = {1, 1, 1};
    ck_assert_int_ne(tg_data_load_eval(out, p, 8, 8, mean, std, NULL, &err), TG_OK);
    assert_printable(err.msg);
    // a class folder with an escape in its name and no images; a hidden name
    mkd(root, "d\x1b]0;owned\x07og");
    mkd(root, ".\x1b[8m");
    g_notices = 0;
    tg_folder fo;
    ck_assert_int_ne(tg_folder_scan(&fo, root, count_notice, NULL, &err), TG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "class 'd\\x1b]0;owned\\x07og' has 0 images"));
    assert_printable(err.msg);
    touch(root, "d\x1b]0;owned\x07og/a.png", NULL);
    ck_assert_msg(tg_folder_scan(&fo, root, count_notice, NULL, &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(g_notices, 1);
    ck_assert_ptr_nonnull(strstr(g_last_notice, "/.\\x1b[8m"));
    assert_printable(g_last_notice);
    // a validation folder that lacks the class
    char *vroot = make_tmp();
    tg_folder fv;
    mkd(vroot, "cat");
    mkd(vroot, "cow");
    touch(vroot, "cat/a.png", NULL);
    touch(vroot, "cow/a.png", NULL);
    ck_assert_int_eq(tg_folder_scan(&fv, vroot, NULL, NULL, &err), TG_OK);
    ck_assert_int_ne(tg_folder_check_same_classes(&fo, &fv, &err), TG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "'d\\x1b]0;owned\\x07og'"));
    assert_printable(err.msg);
    tg_folder_free(&fv);
    tg_folder_free(&fo);
    rm_rf(root);
    rm_rf(vroot);
    free(root);
    free(vroot);
}
END_TEST

// ---- loader ----

static const char *good_src[] = {"rgb8.png", "baseline420.jpg", "gray.jpg", "pal4.png",
                                 "cmyk.jpg", "tall.png", "one.png", "progressive.jpg"};

// 2 classes, 23 good files, 2 bad ones.
static char *make_dataset(void) {
    char *root = make_tmp();
    mkd(root, "a");
    mkd(root, "b");
    for (int i = 0; i < 23; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "%s/img%02d.%s", i % 2 ? "b" : "a", i,
                 strstr(good_src[i % 8], ".png") ? "png" : "jpg");
        touch(root, rel, good_src[i % 8]);
    }
    touch(root, "a/zz_empty.jpg", NULL);
    touch(root, "b/zz_trunc.jpg", "trunc_scan.jpg");
    return root;
}

typedef struct {
    int epoch_n, bad, batches, partial;
    int seen[64];
    float *xs;  // (N, 3, S, S) by dataset index
} epoch_result;

static void run_epoch(tg_loader *l, const tg_folder *fo, int epoch, size_t pos, epoch_result *r,
                      size_t S) {
    tg_error err = {0};
    ck_assert_int_eq(tg_loader_start_epoch(l, epoch, pos, &err), TG_OK);
    tg_batch b;
    for (;;) {
        ck_assert_msg(tg_loader_next(l, &b, &err) == TG_OK, "%s", err.msg);
        if (b.n == 0) break;
        r->batches++;
        if (b.next_position - b.position < 5) r->partial++;
        r->bad += b.bad;
        for (int i = 0; i < b.n; i++) {
            r->seen[b.indices[i]]++;
            r->epoch_n++;
            ck_assert_int_eq(b.labels[i], fo->items[b.indices[i]].label);
            memcpy(r->xs + b.indices[i] * 3 * S * S, b.x + (size_t)i * 3 * S * S, sizeof(float) * 3 * S * S);
        }
    }
}

START_TEST(test_loader_epoch) {
    char *root = make_dataset();
    tg_folder fo;
    tg_error err = {0};
    ck_assert_int_eq(tg_folder_scan(&fo, root, NULL, NULL, &err), TG_OK);
    ck_assert_uint_eq(fo.count, 25);
    const size_t S = 16;
    tg_loader_opts o;
    tg_loader_opts_default(&o);
    o.batch_size = 5;
    o.image_size = (int)S;
    o.resize = 18;
    o.augment = 1;
    o.seed = 42;
    o.threads = 2;
    o.notice = count_notice;
    g_notices = 0;
    tg_loader *l;
    ck_assert_int_eq(tg_loader_open(&l, &fo, &o, &err), TG_OK);
    ck_assert_uint_eq(tg_loader_num_batches(l), 5);
    epoch_result r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};
    r1.xs = calloc(25 * 3 * S * S, sizeof(float));
    r2.xs = calloc(25 * 3 * S * S, sizeof(float));
    r3.xs = calloc(25 * 3 * S * S, sizeof(float));
    r4.xs = calloc(25 * 3 * S * S, sizeof(float));
    run_epoch(l, &fo, 0, 0, &r1, S);
    ck_assert_int_eq(r1.epoch_n, 23);
    ck_assert_int_eq(r1.bad, 2);
    ck_assert_int_eq(g_notices, 2);
    ck_assert_ptr_nonnull(strstr(g_last_notice, "zz_"));
    size_t loaded, bad;
    tg_loader_epoch_stats(l, &loaded, &bad);
    ck_assert_uint_eq(loaded, 23);
    ck_assert_uint_eq(bad, 2);
    for (size_t i = 0; i < fo.count; i++)
        ck_assert_int_eq(r1.seen[i], strstr(fo.items[i].path, "zz_") ? 0 : 1);
    tg_loader_close(l);

    // same seed, no threads: identical tensors; 25 = 5 full batches (no partial)
    o.threads = 0;
    ck_assert_int_eq(tg_loader_open(&l, &fo, &o, &err), TG_OK);
    run_epoch(l, &fo, 0, 0, &r2, S);
    ck_assert(memcmp(r1.xs, r2.xs, 25 * 3 * S * S * sizeof(float)) == 0);
    // resume at position 10 gives the same samples as the tail of the epoch
    run_epoch(l, &fo, 0, 10, &r3, S);
    ck_assert_int_eq(r3.batches, 3);
    int tail = 0;
    for (size_t i = 0; i < fo.count; i++) {
        if (r3.seen[i]) {
            tail++;
            ck_assert(memcmp(r3.xs + i * 3 * S * S, r1.xs + i * 3 * S * S, 3 * S * S * sizeof(float)) == 0);
        }
    }
    ck_assert_int_ge(tail, 13);
    tg_loader_close(l);

    // another epoch shuffles differently; batch 7 leaves a partial last batch
    o.batch_size = 7;
    o.threads = 1;
    o.prefetch = 2;
    ck_assert_int_eq(tg_loader_open(&l, &fo, &o, &err), TG_OK);
    ck_assert_uint_eq(tg_loader_num_batches(l), 4);
    ck_assert_int_eq(tg_loader_start_epoch(l, 1, 0, &err), TG_OK);
    tg_batch b;
    ck_assert_int_eq(tg_loader_next(l, &b, &err), TG_OK);
    size_t first1[7];
    int n1 = b.n;
    memcpy(first1, b.indices, sizeof(size_t) * (size_t)b.n);
    ck_assert_int_eq(tg_loader_start_epoch(l, 0, 0, &err), TG_OK);
    ck_assert_int_eq(tg_loader_next(l, &b, &err), TG_OK);
    ck_assert(n1 != b.n || memcmp(first1, b.indices, sizeof(size_t) * (size_t)b.n) != 0);
    run_epoch(l, &fo, 2, 0, &r4, S);
    ck_assert_int_eq(r4.epoch_n, 23);
    ck_assert_int_eq(r4.batches, 4);
    tg_loader_close(l);

    // above the bad fraction: an error naming the count
    o.max_bad_fraction = 0.05;
    o.threads = 2;
    ck_assert_int_eq(tg_loader_open(&l, &fo, &o, &err), TG_OK);
    ck_assert_int_eq(tg_loader_start_epoch(l, 0, 0, &err), TG_OK);
    tg_status st = TG_OK;
    for (int k = 0; k < 10 && st == TG_OK; k++) {
        st = tg_loader_next(l, &b, &err);
        if (st == TG_OK && b.n == 0) break;
    }
    ck_assert_int_eq(st, TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "2 of 25"));
    tg_loader_close(l);

    free(r1.xs);
    free(r2.xs);
    free(r3.xs);
    free(r4.xs);
    tg_folder_free(&fo);
    rm_rf(root);
    free(root);
}
END_TEST

// Balanced sampling (WeightedRandomSampler(1 / count[y], n, replacement=True)): classes of
// 3, 9 and 36 images are drawn about equally often, items within a class about equally
// often, with replacement; the draw is a function of (seed, epoch), so a resumed epoch has
// the same tail and thread counts do not matter; an item drawn twice in an epoch gets two
// augmentations.
START_TEST(test_loader_balanced) {
    char *root = make_tmp();
    const char *cls[3] = {"a", "b", "c"};
    const int counts[3] = {3, 9, 36};
    for (int c = 0; c < 3; c++) {
        mkd(root, cls[c]);
        for (int i = 0; i < counts[c]; i++) {
            char rel[64];
            snprintf(rel, sizeof rel, "%s/%02d.png", cls[c], i);
            touch(root, rel, "rgb8.png");
        }
    }
    tg_folder fo;
    tg_error err = {0};
    ck_assert_int_eq(tg_folder_scan(&fo, root, NULL, NULL, &err), TG_OK);
    ck_assert_uint_eq(fo.count, 48);
    tg_loader_opts o;
    tg_loader_opts_default(&o);
    o.batch_size = 10;
    o.image_size = 8;
    o.resize = 8;
    o.balanced = 1;
    o.seed = 3;
    o.threads = 2;
    tg_loader *l;
    ck_assert_int_eq(tg_loader_open(&l, &fo, &o, &err), TG_OK);
    ck_assert_uint_eq(tg_loader_num_batches(l), 5);
    int per_class[3] = {0}, per_item[48] = {0}, dup_epochs = 0;
    size_t order[20][48];
    for (int e = 0; e < 20; e++) {
        ck_assert_int_eq(tg_loader_start_epoch(l, e, 0, &err), TG_OK);
        size_t n = 0;
        int seen[48] = {0}, dup = 0;
        tg_batch b;
        for (;;) {
            ck_assert_msg(tg_loader_next(l, &b, &err) == TG_OK, "%s", err.msg);
            if (b.n == 0) break;
            for (int i = 0; i < b.n; i++) {
                ck_assert_int_eq(b.labels[i], fo.items[b.indices[i]].label);
                per_class[b.labels[i]]++;
                per_item[b.indices[i]]++;
                dup |= seen[b.indices[i]]++ > 0;
                order[e][n++] = b.indices[i];
            }
        }
        ck_assert_uint_eq(n, 48);  // num_samples = the folder's size
        dup_epochs += dup;
    }
    ck_assert_int_eq(dup_epochs, 20);  // with replacement: class a's 3 images repeat
    for (int c = 0; c < 3; c++)  // 320 expected of 960, sd 14.6
        ck_assert_msg(abs(per_class[c] - 320) < 50, "class %d drawn %d times", c, per_class[c]);
    for (int i = 0; i < 48; i++) {  // 320 / count[c] expected
        int c = fo.items[i].label;
        double want = 320.0 / counts[c];
        ck_assert_msg(fabs(per_item[i] - want) < 5 * sqrt(want) + 1, "item %d: %d, expected %g", i,
                      per_item[i], want);
    }
    tg_loader_close(l);
    // the same epochs without threads, and epoch 7 resumed at position 20
    o.threads = 0;
    ck_assert_int_eq(tg_loader_open(&l, &fo, &o, &err), TG_OK);
    tg_batch b;
    ck_assert_int_eq(tg_loader_start_epoch(l, 7, 20, &err), TG_OK);
    size_t n = 20;
    while (tg_loader_next(l, &b, &err) == TG_OK && b.n > 0)
        for (int i = 0; i < b.n; i++) ck_assert_uint_eq(b.indices[i], order[7][n++]);
    ck_assert_uint_eq(n, 48);
    tg_loader_close(l);
    // an item drawn twice is augmented twice, differently
    o.augment = 1;
    o.image_size = 16;
    o.resize = 18;
    o.batch_size = 48;
    ck_assert_int_eq(tg_loader_open(&l, &fo, &o, &err), TG_OK);
    ck_assert_int_eq(tg_loader_start_epoch(l, 0, 0, &err), TG_OK);
    ck_assert_int_eq(tg_loader_next(l, &b, &err), TG_OK);
    ck_assert_int_eq(b.n, 48);
    int pairs = 0, differ = 0;
    const size_t plane = 3 * 16 * 16;
    for (int i = 0; i < 48; i++)
        for (int j = i + 1; j < 48; j++)
            if (b.indices[i] == b.indices[j]) {
                pairs++;
                differ += memcmp(b.x + i * plane, b.x + j * plane, plane * sizeof(float)) != 0;
            }
    ck_assert_int_gt(pairs, 0);
    ck_assert_int_eq(differ, pairs);
    tg_loader_close(l);
    tg_folder_free(&fo);
    rm_rf(root);
    free(root);
}
END_TEST

START_TEST(test_load_eval_one) {
    char p[4352];
    fx(p, sizeof p, "photo.jpg");
    float *x = malloc(sizeof(float) * 3 * 56 * 56);
    tg_error err = {0};
    ck_assert_int_eq(tg_data_load_eval(x, p, 64, 56, tg_imagenet_mean, tg_imagenet_std, NULL, &err), TG_OK);
    fx(p, sizeof p, "norm.bin");
    size_t n;
    uint8_t *r = read_all(p, &n);
    ck_assert(memcmp(x, r, n) == 0 || fabsf(x[0] - ((float *)r)[0]) < 1e-5f);
    free(r);
    fx(p, sizeof p, "garbage.jpg");
    ck_assert_int_eq(tg_data_load_eval(x, p, 64, 56, tg_imagenet_mean, tg_imagenet_std, NULL, &err), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "garbage.jpg"));
    free(x);
}
END_TEST

// A long thin image (a 600000x1 PNG is a few KB) resized with a large data.resize: the
// long side would not fit an int. It used to overflow the crop arithmetic and abort on an
// assertion; now it is a bad image (skipped in training), and a moderate resize still works.
START_TEST(test_eval_extreme_aspect) {
    const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    float *x = malloc(sizeof(float) * 3 * 32 * 32);
    tg_error err = {0};
    for (int tall = 0; tall < 2; tall++) {
        tg_image img;
        ck_assert_int_eq(tg_image_alloc(&img, tall ? 1 : 600000, tall ? 600000 : 1, &err), TG_OK);
        memset(img.pixels, 200, (size_t)600000 * 3);
        // 256 * 600000 fits: a constant image stays constant
        ck_assert_int_eq(tg_transform_eval(x, &img, 256, 32, zero, one, &err), TG_OK);
        for (int i = 0; i < 3 * 32 * 32; i++)
            ck_assert_msg(fabsf(x[i] - 200.0f / 255) <= 1.0f / 255 + 1e-6f, "x[%d] = %g", i, x[i]);
        // 4000 * 600000 does not
        tg_error_clear(&err);
        ck_assert_int_eq(tg_transform_eval(x, &img, 4000, 32, zero, one, &err), TG_ERR_FORMAT);
        ck_assert_msg(strstr(err.msg, "aspect ratio too extreme") != NULL, "%s", err.msg);
        ck_assert_msg(strstr(err.msg, tall ? "1x600000" : "600000x1") != NULL, "%s", err.msg);
        tg_image_free(&img);
    }
    free(x);
}
END_TEST

static Suite *data_suite(void) {
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("data");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_decode_matches_pil);
    tcase_add_test(tc, test_decode_memory_and_exif_off);
    tcase_add_test(tc, test_image_info);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_resize_matches_pil);
    tcase_add_test(tc, test_eval_pipeline_matches_torchvision);
    tcase_add_test(tc, test_normalize_matches_torchvision);
    tcase_add_test(tc, test_resized_crop_matches_torchvision);
    tcase_add_test(tc, test_center_crop_box);
    tcase_add_test(tc, test_random_resized_crop_rules);
    tcase_add_test(tc, test_train_transform_and_flip);
    tcase_add_test(tc, test_folder_matches_imagefolder);
    tcase_add_test(tc, test_folder_symlinks);
    tcase_add_test(tc, test_folder_skipped_list);
    tcase_add_test(tc, test_folder_errors);
    tcase_add_test(tc, test_messages_escape_names);
    tcase_add_test(tc, test_loader_epoch);
    tcase_add_test(tc, test_loader_balanced);
    tcase_add_test(tc, test_load_eval_one);
    tcase_add_test(tc, test_eval_extreme_aspect);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return tg_test_run(data_suite(), 0);
}
