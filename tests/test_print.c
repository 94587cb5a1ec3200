// test_print.c: lib/core/print.c against torch 1.13's own printout of the same tensors
// (tests/data/print/cases.txt, written by scripts/print_cases.py): integer, fixed and
// scientific modes, column padding, line wrapping, suffix placement, nan/inf, empty and
// bool tensors, and summarisation with "..." beyond 1000 elements.
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/print.h"
#include "core/tensor.h"
#include "testlib.h"

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

// next line of *p (modified in place), NULL at the end
static char *next_line(char **p) {
    if (!*p || !**p) return NULL;
    char *line = *p, *nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = line + strlen(line);
    }
    return line;
}

static int run_cases(const char *text_in) {
    char *text = strdup(text_in), *p = text, *line;
    int n_cases = 0;
    while ((line = next_line(&p))) {
        ck_assert_msg(strncmp(line, "case ", 5) == 0, "bad case header: %s", line);
        char name[64];
        snprintf(name, sizeof name, "%s", line + 5);
        // shape
        line = next_line(&p);
        ck_assert_ptr_nonnull(line);
        int64_t shape[TG_MAX_DIMS];
        int nd = 0;
        for (char *s = line + 6, *e; *s; s = e) {
            long long d = strtoll(s, &e, 10);
            if (e == s) break;
            shape[nd++] = d;
        }
        bool is_bool = strcmp(next_line(&p), "dtype bool") == 0;
        char flag[128];
        snprintf(flag, sizeof flag, "%s", next_line(&p) + 5);
        tg_tensor *t = tg_tensor_new(nd, shape);
        ck_assert_ptr_nonnull(t);
        line = next_line(&p);
        ck_assert(strncmp(line, "values", 6) == 0);
        char *s = line + 6;
        for (int64_t i = 0; i < t->numel; i++) {
            char *e;
            t->data[i] = strtof(s, &e);
            ck_assert_msg(e != s, "%s: value %lld missing", name, (long long)i);
            s = e;
        }
        if (is_bool) t->dtype = TG_BOOL;
        tg_op op = {NULL, NULL};
        tg_node node = {0};
        if (strcmp(flag, "requires_grad") == 0) {
            tg_tensor_set_requires_grad(t, true);
        } else if (strncmp(flag, "grad_fn=", 8) == 0) {
            op.name = flag + 8;
            node.op = &op;
            t->grad_fn = &node;
            t->requires_grad = true;
        }
        int n_lines = atoi(next_line(&p) + 7);
        char want[65536] = "";
        size_t k = 0;
        for (int i = 0; i < n_lines; i++)
            k += (size_t)snprintf(want + k, sizeof want - k, i ? "\n%s" : "%s", next_line(&p));
        char *got = tg_tensor_str(t);
        ck_assert_ptr_nonnull(got);
        ck_assert_msg(strcmp(got, want) == 0, "case %s:\n--- torch\n%s\n--- ours\n%s", name,
                      want, got);
        free(got);
        t->grad_fn = NULL;
        tg_tensor_free(t);
        n_cases++;
    }
    free(text);
    return n_cases;
}

START_TEST(test_print_matches_torch) {
    char path[4096];
    tg_test_data_path(path, sizeof path, "print/cases.txt");
    char *text = read_file(path);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    int n = run_cases(text);
    free(text);
    ck_assert_int_ge(n, 30);
}
END_TEST

// The cases the tutorial needs, spelled out (they must not depend on the data file).
START_TEST(test_print_tutorial_values) {
    tg_tensor *a = tg_tensor_from(1, (int64_t[]){2}, (float[]){36, 81});
    char *s = tg_tensor_str(a);
    ck_assert_str_eq(s, "tensor([36., 81.])");
    free(s);
    a->dtype = TG_BOOL;
    a->data[1] = 0;
    s = tg_tensor_str(a);
    ck_assert_str_eq(s, "tensor([ True, False])");
    free(s);
    tg_tensor *w = tg_tensor_from(2, (int64_t[]){3, 1}, (float[]){0.73f, 0.63f, 0.53f});
    tg_tensor_set_requires_grad(w, true);
    s = tg_tensor_str(w);
    ck_assert_str_eq(s, "tensor([[0.7300],\n        [0.6300],\n        [0.5300]], "
                        "requires_grad=True)");
    free(s);
    tg_tensor *z = tg_tensor_from(0, NULL, (float[]){41});
    s = tg_tensor_str(z);
    ck_assert_str_eq(s, "tensor(41.)");
    free(s);
    tg_tensor_free(a);
    tg_tensor_free(w);
    tg_tensor_free(z);
}
END_TEST

int main(void) {
    Suite *s = suite_create("print");
    TCase *tc = tcase_create("print");
    tcase_add_test(tc, test_print_matches_torch);
    tcase_add_test(tc, test_print_tutorial_values);
    suite_add_tcase(s, tc);
    return tg_test_run(s, 0);
}
