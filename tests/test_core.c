// test_core.c: arena, tensors, the seeded generator, path escaping, the measurement
// knobs and reading files.
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/escape.h"
#include "core/file.h"
#include "core/knobs.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "testlib.h"

START_TEST(test_arena_steady_state) {
    tg_arena a;
    tg_arena_init(&a);
    // a "step" that allocates more than one block
    for (int step = 0; step < 5; step++) {
        for (int i = 0; i < 10; i++) {
            float *p = tg_arena_alloc(&a, (size_t)(300 << 10) * (size_t)(i + 1));
            ck_assert_ptr_nonnull(p);
            ck_assert_uint_eq((uintptr_t)p % 64, 0);
            p[0] = 1.0f;
        }
        size_t cap = a.capacity;
        tg_arena_reset(&a);
        if (step >= 1) ck_assert_uint_eq(a.capacity, cap);  // no growth after the first step
    }
    ck_assert_uint_eq(a.peak, (size_t)(300 << 10) * 55);
    tg_arena_free(&a);
}
END_TEST

START_TEST(test_tensor_create) {
    int64_t shape[2] = {2, 3};
    float v[6] = {0, 1, 2, 3, 4, 5};
    tg_tensor *t = tg_tensor_from(2, shape, v);
    ck_assert_int_eq(t->numel, 6);
    ck_assert_float_eq(t->data[5], 5.0f);
    ck_assert(t->grad_fn == NULL && !t->requires_grad && t->grad == NULL);
    char s[TG_SHAPE_STR_MAX];
    ck_assert_str_eq(tg_shape_str(t, s, sizeof s), "(2, 3)");
    tg_tensor_free(t);

    tg_tensor *r = tg_tensor_arange(0, 5, 2);
    ck_assert_int_eq(r->numel, 3);
    ck_assert_float_eq(r->data[2], 4.0f);
    ck_assert_str_eq(tg_shape_str(r, s, sizeof s), "(3,)");
    tg_tensor_free(r);

    tg_tensor *o = tg_tensor_ones(2, shape);
    ck_assert_float_eq(o->data[3], 1.0f);
    tg_tensor_free(o);
    int64_t bad[1] = {-1};
    ck_assert_ptr_null(tg_tensor_new(1, bad));
}
END_TEST

START_TEST(test_rng) {
    tg_rng a, b;
    tg_rng_seed(&a, 42);
    tg_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) ck_assert_uint_eq(tg_rng_u64(&a), tg_rng_u64(&b));
    double sum = 0, sq = 0;
    int n = 20000;
    for (int i = 0; i < n; i++) {
        double x = tg_rng_normal(&a);
        sum += x;
        sq += x * x;
    }
    ck_assert_double_lt(fabs(sum / n), 0.03);
    ck_assert_double_lt(fabs(sq / n - 1.0), 0.05);
    for (int i = 0; i < 1000; i++) ck_assert_uint_lt(tg_rng_below(&a, 7), 7);
}
END_TEST

// File names reach messages through tg_path_escape: controls and invalid UTF-8 become \xNN.
static void esc_eq(const char *in, const char *want) {
    char out[256];
    size_t n = tg_path_escape(in, out, sizeof out);
    ck_assert_str_eq(out, want);
    ck_assert_uint_eq(n, strlen(want));
}

START_TEST(test_path_escape) {
    esc_eq("data/cat/a b.png", "data/cat/a b.png");
    esc_eq("", "");
    // valid UTF-8 of every length passes through: é, €, 😀 (U+1F600), U+10FFFF
    esc_eq("caf\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x98\x80/\xf4\x8f\xbf\xbf",
           "caf\xc3\xa9/\xe2\x82\xac/\xf0\x9f\x98\x80/\xf4\x8f\xbf\xbf");
    // C0 controls, ESC sequences, DEL
    esc_eq("a\x1b[31mred\n\t\x7f", "a\\x1b[31mred\\x0a\\x09\\x7f");
    // C1 controls (U+0085 NEL, U+009B CSI) are escaped byte by byte; U+00A0 is not
    esc_eq("\xc2\x85\xc2\x9b\xc2\xa0", "\\xc2\\x85\\xc2\\x9b\xc2\xa0");
    // invalid: lone continuation, Latin-1 byte, truncated sequence, overlong '/', surrogate,
    // above U+10FFFF, 0xff
    esc_eq("\x80", "\\x80");
    esc_eq("caf\xe9.png", "caf\\xe9.png");
    esc_eq("\xe2\x82", "\\xe2\\x82");
    esc_eq("\xc0\xaf", "\\xc0\\xaf");
    esc_eq("\xed\xa0\x80", "\\xed\\xa0\\x80");
    esc_eq("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
    esc_eq("x\xff" "y", "x\\xffy");
    // a start byte followed by an invalid byte: only the start byte is escaped
    esc_eq("\xe2(x", "\\xe2(x");
    // cut to fit, never inside an escape or a character; the return value is the full length
    char out[8];
    ck_assert_uint_eq(tg_path_escape("ab\x1b" "cd", out, sizeof out), 8);
    ck_assert_str_eq(out, "ab\\x1bc");
    ck_assert_uint_eq(tg_path_escape("abcd\x1b", out, 6), 8);
    ck_assert_str_eq(out, "abcd");
    ck_assert_uint_eq(tg_path_escape("\xe2\x82\xac\xe2\x82\xac", out, 6), 6);
    ck_assert_str_eq(out, "\xe2\x82\xac");
    ck_assert_uint_eq(tg_path_escape("abc", out, 1), 3);
    ck_assert_str_eq(out, "");
    ck_assert_uint_eq(tg_path_escape("abc", NULL, 0), 3);
}
END_TEST

static const char *const KNOB_VARS[] = {
    "TG_PARALLEL_MIN", "TG_PARALLEL_SPIN", "TG_CONV_SKINNY",     "TG_GEMM_SMALL", "TG_GEMM_RESTORE",
    "TG_GEMM_TOUCH",   "TG_CONV_GROUP_COLS", "TG_CONV_COL_BLOCK", "TG_CONV_ALGO",
};

static void knobs_unset(void) {
    for (size_t i = 0; i < sizeof KNOB_VARS / sizeof KNOB_VARS[0]; i++) unsetenv(KNOB_VARS[i]);
}

// Reads the knobs with one variable set to value (the others unset).
static tg_knobs knobs_with(const char *name, const char *value) {
    knobs_unset();
    setenv(name, value, 1);
    tg_knobs k;
    tg_knobs_read(&k);
    unsetenv(name);
    return k;
}

// Unset: the defaults; set: the value; out of range: bounded as each knob was when it read
// the environment itself (parallel.c, conv_gemm.c and conv2d.c before the knobs struct).
START_TEST(test_knobs_bounds) {
    knobs_unset();
    tg_knobs k;
    tg_knobs_read(&k);
    ck_assert_int_eq(k.parallel_min, 4096);
    ck_assert_int_eq(k.parallel_spin, 4000);
    ck_assert_int_eq(k.conv_skinny, 8);
    ck_assert(k.gemm_small == INT64_MAX);
    ck_assert(!k.gemm_restore && k.gemm_touch);
    ck_assert_int_eq(k.conv_group_cols, 1024);
    ck_assert_int_eq(k.conv_col_block, 192 << 10);
    ck_assert_int_eq(k.conv_algo, TG_CONV_AUTO);

    ck_assert_int_eq(knobs_with("TG_PARALLEL_MIN", "1000000000000").parallel_min, 1000000000000);
    ck_assert_int_eq(knobs_with("TG_PARALLEL_MIN", "0").parallel_min, 0);
    ck_assert_int_eq(knobs_with("TG_PARALLEL_MIN", "-5").parallel_min, 0);
    ck_assert_int_eq(knobs_with("TG_PARALLEL_MIN", "many").parallel_min, 0);  // atoll: 0
    ck_assert_int_eq(knobs_with("TG_PARALLEL_SPIN", "12").parallel_spin, 12);
    ck_assert_int_eq(knobs_with("TG_PARALLEL_SPIN", "-1").parallel_spin, 0);
    ck_assert_int_eq(knobs_with("TG_PARALLEL_SPIN", "99999999999").parallel_spin, INT_MAX);
    ck_assert_int_eq(knobs_with("TG_CONV_SKINNY", "0").conv_skinny, 0);
    ck_assert_int_eq(knobs_with("TG_CONV_SKINNY", "4").conv_skinny, 4);
    ck_assert_int_eq(knobs_with("TG_CONV_SKINNY", "9").conv_skinny, 8);  // past the kernels
    ck_assert_int_eq(knobs_with("TG_CONV_SKINNY", "-1").conv_skinny, 8);
    ck_assert_int_eq(knobs_with("TG_GEMM_SMALL", "65536").gemm_small, 65536);
    ck_assert_int_eq(knobs_with("TG_GEMM_SMALL", "-3").gemm_small, 0);
    ck_assert(knobs_with("TG_GEMM_RESTORE", "1").gemm_restore);
    ck_assert(!knobs_with("TG_GEMM_RESTORE", "0").gemm_restore);
    ck_assert(!knobs_with("TG_GEMM_RESTORE", "-1").gemm_restore);
    ck_assert(!knobs_with("TG_GEMM_TOUCH", "0").gemm_touch);
    ck_assert(knobs_with("TG_GEMM_TOUCH", "-2").gemm_touch);
    ck_assert_int_eq(knobs_with("TG_CONV_GROUP_COLS", "7").conv_group_cols, 7);
    ck_assert_int_eq(knobs_with("TG_CONV_GROUP_COLS", "0").conv_group_cols, 1024);
    ck_assert_int_eq(knobs_with("TG_CONV_GROUP_COLS", "3000000000").conv_group_cols, 1024);
    ck_assert_int_eq(knobs_with("TG_CONV_COL_BLOCK", "100").conv_col_block, 100);
    ck_assert(knobs_with("TG_CONV_COL_BLOCK", "0").conv_col_block == INT64_MAX);  // no blocks
    ck_assert(knobs_with("TG_CONV_COL_BLOCK", "-4").conv_col_block == INT64_MAX);
    ck_assert_int_eq(knobs_with("TG_CONV_ALGO", "im2col").conv_algo, TG_CONV_IM2COL);
    ck_assert_int_eq(knobs_with("TG_CONV_ALGO", "winograd2").conv_algo, TG_CONV_WINOGRAD2);
    ck_assert_int_eq(knobs_with("TG_CONV_ALGO", "winograd4").conv_algo, TG_CONV_WINOGRAD4);
    ck_assert_int_eq(knobs_with("TG_CONV_ALGO", "Winograd4").conv_algo, TG_CONV_AUTO);
    // one variable set moves only its own field
    k = knobs_with("TG_GEMM_SMALL", "5");
    ck_assert_int_eq(k.parallel_min, 4096);
    ck_assert_int_eq(k.conv_group_cols, 1024);
}
END_TEST

// The process's knobs are read once: a variable set after the first tg_knobs_get changes
// nothing.
START_TEST(test_knobs_read_once) {
    knobs_unset();
    setenv("TG_PARALLEL_SPIN", "77", 1);
    const tg_knobs *k = tg_knobs_get();
    const int spin = k->parallel_spin;  // 77 unless an earlier test of this process read them
    setenv("TG_PARALLEL_SPIN", "5", 1);
    ck_assert_ptr_eq(tg_knobs_get(), k);
    ck_assert_int_eq(tg_knobs_get()->parallel_spin, spin);
    ck_assert_int_ne(tg_knobs_get()->parallel_spin, 5);
    unsetenv("TG_PARALLEL_SPIN");
}
END_TEST

// tg_file_read on each kind of file: a FIFO (with no writer: open(2) would wait forever), a
// socket, a directory, a character device and a symlink to the FIFO are refused without
// blocking, named with what they are; a regular file is read whole and NUL-terminated; one
// above the cap is refused.
START_TEST(test_file_read_kinds) {
    alarm(20);  // a blocking open would hang: SIGALRM fails the test instead
    char dir[] = "/tmp/tg_file_XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[6][256];
    const char *names[] = {"fifo.png", "sock.png", "sub.png", "link.png", "ok.png", "missing"};
    for (int i = 0; i < 6; i++) snprintf(path[i], sizeof path[i], "%s/%s", dir, names[i]);
    ck_assert_int_eq(mkfifo(path[0], 0600), 0);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path[1]);
    ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    ck_assert_int_eq(mkdir(path[2], 0700), 0);
    ck_assert_int_eq(symlink(path[0], path[3]), 0);
    FILE *f = fopen(path[4], "wb");
    fputs("hello", f);
    fclose(f);
    const struct {
        const char *path, *msg;
    } refused[] = {
        {path[0], "fifo.png: not a regular file (a FIFO)"},
        {path[1], "sock.png: not a regular file (a socket)"},
        {path[2], "sub.png: not a regular file (a directory)"},
        {path[3], "link.png: not a regular file (a FIFO)"},
        {"/dev/null", "/dev/null: not a regular file (a character device)"},
        {path[5], "missing: cannot open: No such file or directory"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        unsigned char *buf = (unsigned char *)"x";
        size_t n = 7;
        tg_error err = {0};
        ck_assert_int_eq(tg_file_read(refused[i].path, 100, &buf, &n, &err), TG_ERR_IO);
        ck_assert_msg(strstr(err.msg, refused[i].msg), "%s: got \"%s\"", refused[i].path,
                      err.msg);
        ck_assert_ptr_null(buf);
        ck_assert_uint_eq(n, 0);
        ck_assert_int_eq(tg_file_open(refused[i].path, NULL, NULL), -1);
    }
    unsigned char *buf;
    size_t n;
    tg_error err = {0};
    ck_assert_int_eq(tg_file_read(path[4], 5, &buf, &n, &err), TG_OK);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq((char *)buf, "hello");
    free(buf);
    ck_assert_int_eq(tg_file_read(path[4], 4, &buf, &n, &err), TG_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "ok.png: 5 bytes, larger than 4"), "got \"%s\"", err.msg);
    off_t size = 0;
    int fd = tg_file_open(path[4], &size, &err);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(size, 5);
    close(fd);
    close(s);
    for (int i = 0; i < 5; i++) (i == 2 ? rmdir : unlink)(path[i]);
    rmdir(dir);
    alarm(0);
}
END_TEST

int main(void) {
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_arena_steady_state);
    tcase_add_test(tc, test_tensor_create);
    tcase_add_test(tc, test_rng);
    tcase_add_test(tc, test_path_escape);
    tcase_add_test(tc, test_knobs_bounds);
    tcase_add_test(tc, test_knobs_read_once);
    tcase_add_test(tc, test_file_read_kinds);
    suite_add_tcase(s, tc);
    return tg_test_run(s, 0);
}
