// test_app.c: the pieces of lib/app that predict and eval rely on: model-file metadata
// (write, read back, every malformed case), softmax and top-k, the last-run record.
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/modelfile.h"
#include "app/predict.h"
#include "app/train.h"
#include "testlib.h"

static void meta_fixture(tg_model_meta *m) {
    memset(m, 0, sizeof *m);
    char *names[3] = {"cat", "dog \"quoted\"", "h\xc3\xa9risson"};
    ck_assert_int_eq(tg_model_meta_set_classes(m, names, 3, NULL), TG_OK);
    m->image_size = 64;
    m->resize = 73;
    const float mean[3] = {0.5f, 0.25f, 0.125f}, std[3] = {0.2f, 0.3f, 0.4f};
    memcpy(m->mean, mean, sizeof mean);
    memcpy(m->std, std, sizeof std);
}

START_TEST(test_meta_roundtrip) {
    tg_model_meta m, r;
    meta_fixture(&m);
    tg_statedict sd;
    tg_statedict_init(&sd);
    tg_error e = {0};
    ck_assert_int_eq(tg_model_meta_put(&sd, &m, &e), TG_OK);
    ck_assert_str_eq(tg_statedict_get_meta(&sd, "format"), "pt");
    ck_assert_str_eq(tg_statedict_get_meta(&sd, "tgfinetune_format"), "1");
    ck_assert_str_eq(tg_statedict_get_meta(&sd, "arch"), "resnet18");
    ck_assert_str_eq(tg_statedict_get_meta(&sd, "image_size"), "64");
    ck_assert_int_eq(tg_model_meta_get(&sd, "m.safetensors", &r, &e), TG_OK);
    ck_assert_int_eq(r.num_classes, 3);
    ck_assert_str_eq(r.classes[1], "dog \"quoted\"");
    ck_assert_str_eq(r.classes[2], "h\xc3\xa9risson");
    ck_assert_int_eq(r.image_size, 64);
    ck_assert_int_eq(r.resize, 73);
    for (int i = 0; i < 3; i++) {
        ck_assert_float_eq(r.mean[i], m.mean[i]);
        ck_assert_float_eq(r.std[i], m.std[i]);
    }
    tg_model_meta_free(&r);
    tg_model_meta_free(&m);
    tg_statedict_free(&sd);
}
END_TEST

// Each malformed metadata (key, value) and the message it must give.
START_TEST(test_meta_errors) {
    static const struct {
        const char *key, *value, *msg;
    } cases[] = {
        {"classes", NULL,
         "m.st: no class names in the metadata; not a model written by tgfinetune train "
         "(convert/plain state dicts cannot be used by predict or eval)"},
        {"tgfinetune_format", "2",
         "m.st: model format version 2 is not supported (this tgfinetune reads version 1)"},
        {"arch", "resnet50", "m.st: arch \"resnet50\" is not supported (resnet18 only)"},
        {"classes", "[\"only\"]", "m.st: metadata \"classes\" is not a JSON array of 2 or more names"},
        {"classes", "{}", "m.st: metadata \"classes\" is not a JSON array of 2 or more names"},
        {"classes", "[\"a\", 3]", "m.st: class name 1 is not a string"},
        {"image_size", "0", "m.st: metadata \"image_size\" is \"0\" (want an integer in [1, 8192])"},
        {"resize", "12", "m.st: metadata \"resize\" is \"12\" (want an integer in [64, 16384])"},
        {"mean", "[1, 2]", "m.st: metadata \"mean\" is malformed (want a JSON array of 3 numbers)"},
        {"std", "[1, 0, 2]", "m.st: metadata \"std\" is malformed (want a JSON array of 3 numbers)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tg_model_meta m, r;
        meta_fixture(&m);
        tg_statedict sd;
        tg_statedict_init(&sd);
        ck_assert_int_eq(tg_model_meta_put(&sd, &m, NULL), TG_OK);
        if (cases[i].value) {
            ck_assert_int_eq(tg_statedict_set_meta(&sd, cases[i].key, cases[i].value, NULL), TG_OK);
        } else {  // drop the key: rebuild without it
            tg_statedict_free(&sd);
            tg_statedict_init(&sd);
            tg_statedict_set_meta(&sd, "tgfinetune_format", "1", NULL);
        }
        tg_error e = {0};
        ck_assert_int_eq(tg_model_meta_get(&sd, "m.st", &r, &e), TG_ERR_FORMAT);
        ck_assert_msg(!strcmp(e.msg, cases[i].msg), "case %zu\n got: %s\nwant: %s", i, e.msg,
                      cases[i].msg);
        ck_assert_ptr_null(r.classes);
        tg_model_meta_free(&m);
        tg_statedict_free(&sd);
    }
}
END_TEST

// The class list must agree with the head's rows: the model is built from the list before
// its weights are read, so a huge list in a small file would allocate a huge head first.
START_TEST(test_meta_classes_match_head) {
    for (int rows = 2; rows <= 3; rows++) {
        tg_model_meta m, r;
        meta_fixture(&m);  // 3 classes
        tg_statedict sd;
        tg_statedict_init(&sd);
        ck_assert_int_eq(tg_model_meta_put(&sd, &m, NULL), TG_OK);
        float *w = calloc((size_t)rows * 512, sizeof *w);
        ck_assert_int_eq(tg_statedict_add(&sd, "fc.weight", TG_DT_F32, 2, (int64_t[]){rows, 512}, w, NULL),
                         TG_OK);
        tg_error e = {0};
        tg_status st = tg_model_meta_get(&sd, "m.st", &r, &e);
        if (rows == 3) {
            ck_assert_int_eq(st, TG_OK);
            ck_assert_int_eq(r.num_classes, 3);
        } else {
            ck_assert_int_eq(st, TG_ERR_FORMAT);
            ck_assert_str_eq(e.msg, "m.st: metadata \"classes\" lists 3 names but fc.weight has 2 rows");
            ck_assert_ptr_null(r.classes);
        }
        tg_model_meta_free(&r);
        tg_model_meta_free(&m);
        tg_statedict_free(&sd);
        free(w);
    }
}
END_TEST

START_TEST(test_softmax_topk) {
    const float logits[5] = {1.0f, 3.0f, -2.0f, 3.0f, 0.5f};
    double p[5], sum = 0;
    tg_softmax(logits, 5, p);
    double z = exp(1.0) + 2 * exp(3.0) + exp(-2.0) + exp(0.5);
    for (int i = 0; i < 5; i++) {
        ck_assert_double_eq_tol(p[i], exp((double)logits[i]) / z, 1e-12);
        sum += p[i];
    }
    ck_assert_double_eq_tol(sum, 1.0, 1e-12);
    int idx[5];
    tg_topk(p, 5, 5, idx);
    // ties keep the lower index first
    const int want[5] = {1, 3, 0, 4, 2};
    for (int i = 0; i < 5; i++) ck_assert_int_eq(idx[i], want[i]);
    // large logits do not overflow
    const float big[2] = {1000.0f, 999.0f};
    tg_softmax(big, 2, p);
    ck_assert_double_eq_tol(p[0], 1 / (1 + exp(-1.0)), 1e-12);
}
END_TEST

// tg_topk is a partial selection: 1000 of 100000 classes (many ties) in milliseconds, equal
// to a full sort by (probability descending, index ascending); k = n and k = 1 too. The
// former k scans over the n classes (with a scan of the k taken for each) took minutes here:
// alarm(10) fails the test instead.
static const double *g_sort_p;
static int by_rank(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (g_sort_p[i] != g_sort_p[j]) return g_sort_p[i] > g_sort_p[j] ? -1 : 1;
    return i < j ? -1 : i > j;
}

START_TEST(test_topk_partial) {
    alarm(10);
    enum { N = 100000 };
    double *p = malloc(sizeof *p * N);
    int *want = malloc(sizeof *want * N), *got = malloc(sizeof *got * N);
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        p[i] = (double)(s >> 54) / 1024.0;  // 1024 distinct values: many ties
        want[i] = i;
    }
    g_sort_p = p;
    qsort(want, N, sizeof *want, by_rank);
    const int ks[] = {1, 5, 1000, N};
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        tg_topk(p, N, ks[t], got);
        for (int j = 0; j < ks[t]; j++)
            ck_assert_msg(got[j] == want[j], "k %d: rank %d is class %d, want %d", ks[t], j,
                          got[j], want[j]);
    }
    // NaN ranks after every number
    double q[4] = {0.1, NAN, 0.7, 0.2};
    int idx[4];
    tg_topk(q, 4, 4, idx);
    ck_assert_int_eq(idx[0], 2);
    ck_assert_int_eq(idx[1], 3);
    ck_assert_int_eq(idx[2], 0);
    ck_assert_int_eq(idx[3], 1);
    free(p);
    free(want);
    free(got);
    alarm(0);
}
END_TEST

START_TEST(test_last_run) {
    char dir[4096];
    tg_test_tmpdir(dir, sizeof dir, "tg_app");
    tg_error e = {0};
    ck_assert_ptr_null(tg_train_last_run(dir, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "no --model given and no train run recorded"));
    char path[256];
    snprintf(path, sizeof path, "%s/last_run", dir);
    FILE *f = fopen(path, "w");
    fputs("/some/where/runs/x\n", f);
    fclose(f);
    char *got = tg_train_last_run(dir, &e);
    ck_assert_str_eq(got, "/some/where/runs/x");
    free(got);
    unlink(path);
    rmdir(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("app");
    TCase *tc = tcase_create("app");
    tcase_add_test(tc, test_meta_roundtrip);
    tcase_add_test(tc, test_meta_errors);
    tcase_add_test(tc, test_meta_classes_match_head);
    tcase_add_test(tc, test_softmax_topk);
    tcase_add_test(tc, test_topk_partial);
    tcase_add_test(tc, test_last_run);
    suite_add_tcase(s, tc);
    return tg_test_run(s, 0);
}
