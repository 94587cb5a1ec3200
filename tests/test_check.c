// test_check.c: lib/app/check.c on the fixture of tests/check_fixture.sh (one of each
// problem; see the list there): every count, path, class, note, size and duplicate group of
// the report, and that the thread count changes nothing.
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/check.h"
#include "testlib.h"

static char g_tmp[4096], g_fix[4200];  // mkdtemp's directory, the fixture in it

static const char *fixture(void) { return g_fix; }

static void fixture_make(void) {
    const char *data = tg_test_data_dir();
    tg_test_tmpdir(g_tmp, sizeof g_tmp, "tg_check");
    snprintf(g_fix, sizeof g_fix, "%s/ds", g_tmp);
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "bash '%s/../check_fixture.sh' '%s' '%s/images'", data, g_fix,
             data);
    ck_assert_int_eq(system(cmd), 0);
}

static void fixture_remove(void) {
    ck_assert_int_eq(tg_test_remove_tree(g_tmp), 0);
}

// An item's path relative to the fixture ("train/cat/gray.jpg").
static const char *rel(const tg_check_report *r, int set, size_t item) {
    const char *p = r->sets[set].folder.items[item].path;
    size_t n = strlen(fixture());
    ck_assert(strncmp(p, fixture(), n) == 0 && p[n] == '/');
    return p + n + 1;
}

static void run(tg_check_report *r, int image_size, int threads) {
    char data[4200], val[4200];
    snprintf(data, sizeof data, "%s/train", fixture());
    snprintf(val, sizeof val, "%s/val", fixture());
    tg_check_opts o;
    tg_check_opts_default(&o);
    o.image_size = image_size;
    o.threads = threads;
    tg_error err = {0};
    ck_assert_msg(tg_check_run(data, val, &o, r, &err) == TG_OK, "%s", err.msg);
}

// The list of a note as "path,path,...".
static void note_paths(const tg_check_report *r, int set, tg_check_note n, char *out, size_t cap) {
    out[0] = 0;
    const tg_check_list *l = &r->sets[set].notes[n];
    for (size_t i = 0; i < l->count; i++) {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s", i ? "," : "", rel(r, set, l->items[i]));
    }
}

START_TEST(test_check_fixture_report) {
    tg_check_report r;
    run(&r, 20, 2);
    ck_assert_int_eq(r.nsets, 2);
    ck_assert_ptr_null(r.class_mismatch);
    const tg_check_set *t = &r.sets[0], *v = &r.sets[1];
    // classes: files, readable, share, balanced weight n / (C * count)
    static const char *names[] = {"bird", "cat", "dog"};
    static const size_t files[] = {1, 10, 10}, readable[] = {0, 8, 10};
    static const double weight[] = {0.0, 18.0 / (3 * 8), 18.0 / (3 * 10)};
    ck_assert_int_eq(t->folder.num_classes, 3);
    ck_assert_uint_eq(t->folder.count, 21);
    ck_assert_uint_eq(t->readable, 18);
    for (int c = 0; c < 3; c++) {
        ck_assert_str_eq(t->folder.classes[c], names[c]);
        ck_assert_uint_eq(t->classes[c].files, files[c]);
        ck_assert_uint_eq(t->classes[c].readable, readable[c]);
        ck_assert_double_eq_tol(t->classes[c].share, readable[c] / 18.0, 1e-12);
        ck_assert_double_eq_tol(t->classes[c].weight, weight[c], 1e-12);
    }
    ck_assert_uint_eq(t->empty_classes, 1);  // bird: its only file is unreadable
    ck_assert_uint_eq(t->small_classes, 1);  // cat: 8 readable images
    // unreadable files: the decoder's messages, 3 of 21 > 10%
    static const char *bad[][2] = {
        {"train/bird/garbage.jpg", "garbage.jpg: not a PNG or JPEG"},
        {"train/cat/lost.png", "lost.png: cannot open: No such file or directory"},
        {"train/cat/trunc40.png", "trunc40.png: bad PNG: truncated PNG"},
    };
    ck_assert_uint_eq(t->nbad, 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(rel(&r, 0, t->bad[i].item), bad[i][0]);
        ck_assert_msg(strstr(t->bad[i].reason, bad[i][1]) != NULL, "%s", t->bad[i].reason);
        ck_assert_ptr_nonnull(strstr(t->bad[i].reason, fixture()));  // names the file
    }
    ck_assert(t->bad_exceeds);
    // images that load but may surprise
    static const char *notes[TG_CHECK_NOTES] = {
        [TG_CHECK_CMYK] = "train/cat/cmyk.jpg,train/cat/ycck.jpg",
        [TG_CHECK_16BIT] = "train/cat/rgb16.png,train/dog/gray16.png",
        [TG_CHECK_PALETTE] = "train/cat/pal4.png",
        [TG_CHECK_ALPHA] = "train/cat/graya8.png,train/dog/sub/rgba8.png",
        [TG_CHECK_GRAY] = "train/cat/gray.jpg,train/cat/graya8.png,train/dog/gray16.png,"
                          "train/dog/gray_copy.jpg",
        [TG_CHECK_EXIF] = "train/cat/exif6.jpg,train/dog/rgb8_exif6.png",
        [TG_CHECK_SMALL] = "train/dog/col.png,train/dog/one.png,train/dog/row.png",
        [TG_CHECK_ASPECT] = "train/dog/wide.png",
    };
    char got[4096];
    for (int n = 0; n < TG_CHECK_NOTES; n++) {
        note_paths(&r, 0, (tg_check_note)n, got, sizeof got);
        ck_assert_msg(strcmp(got, notes[n]) == 0, "note %d: %s", n, got);
        note_paths(&r, 1, (tg_check_note)n, got, sizeof got);
        ck_assert_msg(strcmp(got, "") == 0, "val note %d: %s", n, got);
    }
    // sizes as decoded: short sides 1 1 1 20 29x7 45 47x5 375, long 1 2 2 37x7 61x5 80 200 500
    ck_assert_int_eq(t->short_side.min, 1);
    ck_assert_double_eq(t->short_side.median, 29.0);
    ck_assert_int_eq(t->short_side.max, 375);
    ck_assert_int_eq(t->long_side.min, 1);
    ck_assert_double_eq(t->long_side.median, 37.0);
    ck_assert_int_eq(t->long_side.max, 500);
    ck_assert_int_eq(v->short_side.min, 47);
    ck_assert_double_eq(v->short_side.median, 47.0);
    ck_assert_int_eq(v->long_side.max, 500);
    // what the scan left out, sorted by path
    static const struct {
        const char *rel;
        tg_folder_skip_kind kind;
    } skipped[] = {
        {"train/.ipynb_checkpoints", TG_FOLDER_SKIP_HIDDEN},
        {"train/cat/.DS_Store", TG_FOLDER_SKIP_HIDDEN},
        {"train/cat/.cache", TG_FOLDER_SKIP_HIDDEN},
        {"train/cat/notes.txt", TG_FOLDER_SKIP_EXTENSION},
        {"train/dog/link", TG_FOLDER_SKIP_LINK},
        {"train/readme.md", TG_FOLDER_SKIP_OUTSIDE},
    };
    ck_assert_uint_eq(t->folder.nskipped, 6);
    size_t n = strlen(fixture()) + 1;
    for (size_t i = 0; i < 6; i++) {
        ck_assert_str_eq(t->folder.skipped[i].path + n, skipped[i].rel);
        ck_assert_int_eq(t->folder.skipped[i].kind, skipped[i].kind);
    }
    // val: bird is an empty folder, nothing unreadable, nothing skipped
    static const size_t vfiles[] = {0, 2, 1};
    for (int c = 0; c < 3; c++) {
        ck_assert_uint_eq(v->classes[c].files, vfiles[c]);
        ck_assert_uint_eq(v->classes[c].readable, vfiles[c]);
    }
    ck_assert_uint_eq(v->empty_classes, 1);
    ck_assert_uint_eq(v->nbad, 0);
    ck_assert(!v->bad_exceeds);
    ck_assert_uint_eq(v->folder.nskipped, 0);
    // duplicates, by their first member: across classes, leakage, within a class
    ck_assert_uint_eq(r.ndups, 3);
    static const struct {
        const char *a, *b;
        int set_b;
        bool within, cross, leak;
    } dups[] = {
        {"train/cat/gray.jpg", "train/dog/gray_copy.jpg", 0, false, true, false},
        {"train/cat/photo.jpg", "val/cat/photo.jpg", 1, false, false, true},
        {"train/dog/rgb8.png", "train/dog/sub/rgba8.png", 0, true, false, false},
    };
    for (size_t i = 0; i < 3; i++) {
        const tg_check_dup *d = &r.dups[i];
        ck_assert_uint_eq(d->n, 2);
        ck_assert_int_eq(d->members[0].set, 0);
        ck_assert_str_eq(rel(&r, 0, d->members[0].item), dups[i].a);
        ck_assert_int_eq(d->members[1].set, dups[i].set_b);
        ck_assert_str_eq(rel(&r, dups[i].set_b, d->members[1].item), dups[i].b);
        ck_assert_int_eq(d->within_class, dups[i].within);
        ck_assert_int_eq(d->cross_class, dups[i].cross);
        ck_assert_int_eq(d->leak, dups[i].leak);
    }
    ck_assert_uint_eq(r.dup_within, 1);
    ck_assert_uint_eq(r.dup_cross, 1);
    ck_assert_uint_eq(r.dup_leak, 1);
    ck_assert(r.fails);
    tg_check_report_free(&r);
}
END_TEST

// Everything of a report that a thread count could change, as text.
static void render(const tg_check_report *r, char *out, size_t cap) {
    size_t len = 0;
#define PUT(...) len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, __VA_ARGS__)
    for (int s = 0; s < r->nsets; s++) {
        const tg_check_set *t = &r->sets[s];
        for (int c = 0; c < t->folder.num_classes; c++)
            PUT("%zu/%zu %.17g;", t->classes[c].readable, t->classes[c].files, t->classes[c].weight);
        for (size_t i = 0; i < t->nbad; i++) PUT("%zu %s;", t->bad[i].item, t->bad[i].reason);
        for (int n = 0; n < TG_CHECK_NOTES; n++)
            for (size_t i = 0; i < t->notes[n].count; i++) PUT("%d:%zu;", n, t->notes[n].items[i]);
        PUT("%d %g %d %d %g %d|", t->short_side.min, t->short_side.median, t->short_side.max,
            t->long_side.min, t->long_side.median, t->long_side.max);
    }
    for (size_t k = 0; k < r->ndups; k++)
        for (size_t i = 0; i < r->dups[k].n; i++)
            PUT("%zu:%d:%zu;", k, r->dups[k].members[i].set, r->dups[k].members[i].item);
#undef PUT
    ck_assert_uint_lt(len, cap);
}

START_TEST(test_check_threads_and_defaults) {
    static char a[65536], b[65536];
    tg_check_report r;
    run(&r, 20, 1);
    render(&r, a, sizeof a);
    tg_check_report_free(&r);
    run(&r, 20, 5);
    render(&r, b, sizeof b);
    ck_assert_str_eq(a, b);
    tg_check_report_free(&r);
    // at the default crop of 224 every readable image but the 500x375 photos is small
    run(&r, 224, 0);
    ck_assert_uint_eq(r.sets[0].notes[TG_CHECK_SMALL].count, 17);
    ck_assert_uint_eq(r.sets[1].notes[TG_CHECK_SMALL].count, 2);
    tg_check_report_free(&r);
}
END_TEST

// --val with other classes: in the report (train stops on it), not a failure of the run;
// --data alone has no val set; a missing folder is an error naming it.
START_TEST(test_check_val_classes_and_errors) {
    char data[4200], val[4200];
    snprintf(data, sizeof data, "%s/train", fixture());
    snprintf(val, sizeof val, "%s/val/cat/../../val", fixture());
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "mkdir '%s/val/emu'", fixture());
    ck_assert_int_eq(system(cmd), 0);
    tg_check_opts o;
    tg_check_opts_default(&o);
    tg_check_report r;
    tg_error err = {0};
    ck_assert_msg(tg_check_run(data, val, &o, &r, &err) == TG_OK, "%s", err.msg);
    ck_assert_ptr_nonnull(r.class_mismatch);
    ck_assert_ptr_nonnull(strstr(r.class_mismatch, "class 'emu' is not a class of the training folder"));
    ck_assert(r.fails);
    tg_check_report_free(&r);
    snprintf(cmd, sizeof cmd, "rmdir '%s/val/emu'", fixture());
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_msg(tg_check_run(data, NULL, &o, &r, &err) == TG_OK, "%s", err.msg);
    ck_assert_int_eq(r.nsets, 1);
    ck_assert_uint_eq(r.ndups, 2);  // the leak needs --val
    ck_assert_uint_eq(r.dup_leak, 0);
    tg_check_report_free(&r);
    // an even count's median is the mean of the middle two: val alone plus a 45x80 image,
    // long sides 61 61 80 500 -> 70.5, short sides 45 47 47 375 -> 47
    snprintf(cmd, sizeof cmd, "cp '%s/images/tall.png' '%s/val/dog/'", tg_test_data_dir(),
             fixture());
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_msg(tg_check_run(val, NULL, &o, &r, &err) == TG_OK, "%s", err.msg);
    ck_assert_double_eq(r.sets[0].long_side.median, 70.5);
    ck_assert_double_eq(r.sets[0].short_side.median, 47.0);
    ck_assert_int_eq(r.sets[0].short_side.min, 45);
    ck_assert(r.fails);  // bird is empty
    tg_check_report_free(&r);
    snprintf(cmd, sizeof cmd, "rm '%s/val/dog/tall.png'", fixture());
    ck_assert_int_eq(system(cmd), 0);
    snprintf(val, sizeof val, "%s/nowhere", fixture());
    ck_assert_int_ne(tg_check_run(data, val, &o, &r, &err), TG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nowhere: cannot open dataset folder"));
    ck_assert_int_eq(r.nsets, 0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("check");
    TCase *tc = tcase_create("check");
    tcase_set_timeout(tc, 600);
    tcase_add_unchecked_fixture(tc, fixture_make, fixture_remove);  // once, in the parent
    tcase_add_test(tc, test_check_fixture_report);
    tcase_add_test(tc, test_check_threads_and_defaults);
    tcase_add_test(tc, test_check_val_classes_and_errors);
    suite_add_tcase(s, tc);
    return tg_test_run(s, 0);
}
