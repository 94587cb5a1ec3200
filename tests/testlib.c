// testlib.c: the shared test runner, paths, random tensors and reference readers
// (testlib.h).
#define _XOPEN_SOURCE 700  // nftw
#include "testlib.h"

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int tg_test_run(Suite *s, int flags) {
    SRunner *sr = srunner_create(s);
    if (flags & TG_TEST_NOFORK) srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

// The helpers below may run before the tests (in main, or an unchecked fixture), where a
// passing ck_assert would already report to a runner that is not there: they check with
// require, which says nothing on success and fails the test (or the program) otherwise.
#define require(cond, ...)                                  \
    do {                                                    \
        if (!(cond)) fail_now(__VA_ARGS__);                 \
    } while (0)

__attribute__((format(printf, 1, 2))) static void fail_now(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", msg);  // seen even outside a test
    ck_abort_msg("%s", msg);
}

static const char *env_dir(const char *name) {
    const char *d = getenv(name);
    require(d != NULL && *d, "%s is not set (run through meson test)", name);
    return d;
}

const char *tg_test_data_dir(void) { return env_dir("TG_TEST_DATA"); }
const char *tg_test_build_dir(void) { return env_dir("TG_BUILD_DIR"); }

char *tg_test_data_path(char *out, size_t n, const char *rel) {
    int len = snprintf(out, n, "%s/%s", tg_test_data_dir(), rel);
    require(len >= 0 && (size_t)len < n, "test data path too long: %s", rel);
    return out;
}

char *tg_test_tmpdir(char *out, size_t n, const char *prefix) {
    const char *t = getenv("TMPDIR");
    int len = snprintf(out, n, "%s/%s_XXXXXX", t && *t ? t : "/tmp", prefix);
    require(len >= 0 && (size_t)len < n, "temporary directory path too long: %s", prefix);
    require(mkdtemp(out) != NULL, "cannot make a directory %s: %s", out, strerror(errno));
    return out;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
    (void)st, (void)type, (void)ftw;
    return remove(path) ? -1 : 0;
}

int tg_test_remove_tree(const char *dir) {
    struct stat st;
    if (lstat(dir, &st) && errno == ENOENT) return 0;  // nothing to remove (as rm -rf)
    return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) ? -1 : 0;
}

tg_tensor *tg_test_randn(tg_rng *r, int ndim, const int64_t *shape, bool requires_grad) {
    tg_tensor *t = tg_tensor_randn(ndim, shape, r);
    require(t != NULL, "out of memory for a random tensor");
    tg_tensor_set_requires_grad(t, requires_grad);
    return t;
}

void tg_fill(float *out, int64_t n, uint64_t seed, uint64_t stream, double lo, double hi) {
    const uint64_t base = seed * 0xD1B54A32D192ED03ULL + (stream + 1) * 0xA0761D6478BD642FULL;
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = base + (uint64_t)i * 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        double u = (double)(z >> 11) * 0x1.0p-53;
        out[i] = (float)(lo + (hi - lo) * u);
    }
}

// ---- reference files ----

static tg_ref *new_record(tg_refs *R, int *cap) {
    if (R->n == *cap) {
        *cap = *cap ? 2 * *cap : 256;
        R->r = realloc(R->r, (size_t)*cap * sizeof *R->r);
        ck_assert(R->r != NULL);
    }
    tg_ref *r = &R->r[R->n++];
    memset(r, 0, sizeof *r);
    r->ndim = -1;
    return r;
}

static void alloc_values(tg_ref *r) {
    r->vals = malloc((size_t)r->k * sizeof(double) + 1);
    r->data = malloc((size_t)r->k * sizeof(float) + 1);
    ck_assert(r->vals != NULL && r->data != NULL);
}

// TGREF1: whole tensors with their shapes, as f32; the statistics are computed here.
static void read_ref1(tg_refs *R, FILE *f, const char *path) {
    uint32_t count;
    ck_assert_msg(fread(&count, 4, 1, f) == 1 && count < 100000, "%s: bad record count", path);
    int cap = 0;
    for (uint32_t i = 0; i < count; i++) {
        tg_ref *r = new_record(R, &cap);
        uint32_t len, nd;
        ck_assert(fread(&len, 4, 1, f) == 1 && len < sizeof r->name);
        ck_assert(fread(r->name, 1, len, f) == len);
        ck_assert(fread(&nd, 4, 1, f) == 1 && nd <= TG_MAX_DIMS);
        r->ndim = (int)nd;
        ck_assert(fread(r->shape, 8, nd, f) == nd);
        r->numel = tg_shape_numel((int)nd, r->shape);
        ck_assert(r->numel >= 0 && r->numel < (1 << 26));
        r->k = (uint32_t)r->numel;
        alloc_values(r);
        ck_assert_msg(fread(r->data, 4, r->k, f) == r->k, "%s: %s truncated", path, r->name);
        for (uint32_t j = 0; j < r->k; j++) {
            r->vals[j] = r->data[j];
            r->maxabs = fmax(r->maxabs, fabs(r->vals[j]));
            r->sum += r->vals[j];
            r->sumabs += fabs(r->vals[j]);
        }
    }
}

// TGPARIT1 (f32 values) and TGRECIP1 (f64): statistics and evenly spaced samples.
static void read_sampled(tg_refs *R, FILE *f, bool f64) {
    int cap = 0;
    for (;;) {
        uint16_t len;
        if (fread(&len, 2, 1, f) != 1) break;
        tg_ref *r = new_record(R, &cap);
        ck_assert(len < sizeof r->name && fread(r->name, 1, len, f) == len);
        ck_assert(fread(&r->numel, 8, 1, f) == 1);
        if (r->numel < 0) continue;
        double st[3];
        ck_assert(fread(st, 8, 3, f) == 3);
        r->maxabs = st[0], r->sum = st[1], r->sumabs = st[2];
        ck_assert(fread(&r->k, 4, 1, f) == 1 && r->k <= 65536);
        alloc_values(r);
        for (uint32_t j = 0; j < r->k; j++) {
            if (f64) {
                ck_assert(fread(&r->vals[j], 8, 1, f) == 1);
            } else {
                float v;
                ck_assert(fread(&v, 4, 1, f) == 1);
                r->vals[j] = v;
            }
            r->data[j] = (float)r->vals[j];
        }
    }
}

void tg_refs_load(tg_refs *R, const char *rel, int min_records) {
    if (R->r) return;
    char path[1024];
    tg_test_data_path(path, sizeof path, rel);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (run its generator in scripts/ with /usr/bin/python3)",
                  path);
    char magic[8];
    ck_assert_msg(fread(magic, 1, 6, f) == 6, "%s: not a reference file", path);
    if (!memcmp(magic, "TGREF1", 6)) {
        read_ref1(R, f, path);
    } else {
        ck_assert_msg(fread(magic + 6, 1, 2, f) == 2, "%s: not a reference file", path);
        const bool f64 = !memcmp(magic, "TGRECIP1", 8);
        ck_assert_msg(f64 || !memcmp(magic, "TGPARIT1", 8), "%s: not a reference file", path);
        read_sampled(R, f, f64);
    }
    fclose(f);
    R->file = rel;
    ck_assert_msg(R->n >= min_records, "%s: %d records, expected at least %d", path, R->n,
                  min_records);
}

const tg_ref *tg_refs_get(const tg_refs *R, const char *name) {
    for (int i = 0; i < R->n; i++)
        if (!strcmp(R->r[i].name, name)) return &R->r[i];
    return NULL;
}

const tg_ref *tg_refs_find(const tg_refs *R, const char *name) {
    const tg_ref *r = tg_refs_get(R, name);
    ck_assert_msg(r != NULL, "%s: no reference record %s", R->file, name);
    return r;
}

void tg_refs_check(const tg_refs *R, const char *name, const float *x, int64_t numel, double tol) {
    const tg_ref *r = tg_refs_find(R, name);
    ck_assert_msg(r->numel == numel, "%s: %lld elements, reference %lld", name, (long long)numel,
                  (long long)r->numel);
    const double bound = tol * r->maxabs;
    double maxerr = 0;
    for (uint32_t j = 0; j < r->k; j++) {
        int64_t i = (int64_t)j * numel / r->k;
        double e = fabs((double)x[i] - r->vals[j]);
        if (e > maxerr || isnan(e)) maxerr = isnan(e) ? INFINITY : e;
    }
    ck_assert_msg(maxerr <= bound, "%s: max-abs error %g > %g (ref max-abs %g)", name, maxerr,
                  bound, r->maxabs);
    double ma = 0, s = 0;
    for (int64_t i = 0; i < numel; i++) {
        ma = fmax(ma, fabs((double)x[i]));
        s += x[i];
    }
    ck_assert_msg(fabs(ma - r->maxabs) <= bound, "%s: max-abs %g, reference %g", name, ma,
                  r->maxabs);
    ck_assert_msg(fabs(s - r->sum) <= tol * r->sumabs + 1e-30, "%s: sum %g, reference %g", name, s,
                  r->sum);
}

void tg_refs_check_exact(const tg_refs *R, const char *name, const float *x, int64_t numel) {
    const tg_ref *r = tg_refs_find(R, name);
    ck_assert_msg(r->numel == numel && r->k == (uint32_t)numel,
                  "%s: %lld elements (%u stored), expected %lld", name, (long long)r->numel, r->k,
                  (long long)numel);
    int64_t differ = 0, first = -1;
    for (int64_t i = 0; i < numel; i++)
        if ((float)r->vals[i] != x[i] && !(isnan(x[i]) && isnan(r->vals[i]))) {
            if (first < 0) first = i;
            differ++;
        }
    ck_assert_msg(differ == 0,
                  "%s: %lld of %lld elements differ from PyTorch's (first: [%lld] %.9g vs %.9g)",
                  name, (long long)differ, (long long)numel, (long long)first,
                  first >= 0 ? (double)x[first] : 0.0, first >= 0 ? r->vals[first] : 0.0);
}

void tg_refs_check_series(const tg_refs *R, const char *name, const double *got, int64_t n,
                          double rel, double abs_tol) {
    const tg_ref *r = tg_refs_find(R, name);
    ck_assert_msg(r->numel == n && r->k == (uint32_t)n, "%s: %lld values, expected %lld", name,
                  (long long)r->numel, (long long)n);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - r->vals[i]) <= rel * fabs(r->vals[i]) + abs_tol,
                      "%s[%lld]: %.17g, PyTorch %.17g", name, (long long)i, got[i], r->vals[i]);
}
