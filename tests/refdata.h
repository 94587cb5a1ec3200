// refdata.h: reference data written by the PyTorch twins (scripts/gen_parity.py,
// scripts/gen_recipes_ref.py, run with /usr/bin/python3 and Debian's torch 1.13), for
// tests. Header-only (static functions), used with Check.
//
// - tg_fill: the counter-based generator both sides implement (the scripts' fill()):
//   u_i = mix(base + i * golden) >> 11 * 2^-53, value lo + (hi - lo) * u rounded to float.
//   Weights, inputs and gradients come from it, so nothing large is committed.
// - Reference files: a magic, then records: u16 name length, name, i64 numel (-1: none,
//   e.g. no gradient), then f64 max-abs, sum and sum of absolute values of the whole tensor,
//   u32 k and k evenly spaced elements (index j * numel / k; all of a small tensor), as f32
//   ("TGPARIT1") or f64 ("TGRECIP1").
#ifndef TG_TEST_REFDATA_H
#define TG_TEST_REFDATA_H

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void tg_fill(float *out, int64_t n, uint64_t seed, uint64_t stream, double lo,
                           double hi) {
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

typedef struct {
    char name[96];
    int64_t numel;  // -1: none
    double maxabs, sum, sumabs;
    uint32_t k;
    double *vals;  // (k,)
} tg_ref;

typedef struct {
    const char *file;
    tg_ref *r;
    int n;
} tg_refs;

// Reads $TG_TEST_DATA/<rel> once into R; at least min_records records.
static inline void tg_refs_load(tg_refs *R, const char *rel, int min_records) {
    if (R->r) return;
    const char *dir = getenv("TG_TEST_DATA");
    ck_assert_msg(dir != NULL, "TG_TEST_DATA is not set (run through meson test)");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s (run its generator in scripts/)", path);
    char magic[8];
    ck_assert(fread(magic, 1, 8, f) == 8);
    const bool f64 = !memcmp(magic, "TGRECIP1", 8);
    ck_assert_msg(f64 || !memcmp(magic, "TGPARIT1", 8), "%s: not a reference file", path);
    int cap = 0;
    for (;;) {
        uint16_t len;
        if (fread(&len, 2, 1, f) != 1) break;
        if (R->n == cap) {
            cap = cap ? 2 * cap : 256;
            R->r = realloc(R->r, (size_t)cap * sizeof *R->r);
            ck_assert(R->r != NULL);
        }
        tg_ref *r = &R->r[R->n++];
        memset(r, 0, sizeof *r);
        ck_assert(len < sizeof r->name && fread(r->name, 1, len, f) == len);
        ck_assert(fread(&r->numel, 8, 1, f) == 1);
        if (r->numel < 0) continue;
        double st[3];
        ck_assert(fread(st, 8, 3, f) == 3);
        r->maxabs = st[0], r->sum = st[1], r->sumabs = st[2];
        ck_assert(fread(&r->k, 4, 1, f) == 1 && r->k <= 65536);
        r->vals = malloc((size_t)r->k * sizeof(double) + 1);
        ck_assert(r->vals != NULL);
        for (uint32_t j = 0; j < r->k; j++) {
            if (f64) {
                ck_assert(fread(&r->vals[j], 8, 1, f) == 1);
            } else {
                float v;
                ck_assert(fread(&v, 4, 1, f) == 1);
                r->vals[j] = v;
            }
        }
    }
    fclose(f);
    R->file = rel;
    ck_assert_msg(R->n >= min_records, "%s: %d records, expected at least %d", path, R->n,
                  min_records);
}

// The record named name, or NULL.
static inline const tg_ref *tg_refs_get(const tg_refs *R, const char *name) {
    for (int i = 0; i < R->n; i++)
        if (!strcmp(R->r[i].name, name)) return &R->r[i];
    return NULL;
}

static inline const tg_ref *tg_refs_find(const tg_refs *R, const char *name) {
    const tg_ref *r = tg_refs_get(R, name);
    ck_assert_msg(r != NULL, "%s: no reference record %s", R->file, name);
    return r;
}

// x (numel,) against the record: max-abs error over the sampled elements <= tol * the
// reference's max-abs; the whole tensor's max-abs agrees within that bound and its sum
// within tol * the sum of |reference|.
static inline void tg_refs_check(const tg_refs *R, const char *name, const float *x, int64_t numel,
                                 double tol) {
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

// The record holds all of a tensor of numel elements: x must equal it bit for bit (the
// record's f64 values are the reference's float32 values exactly).
static inline void tg_refs_check_exact(const tg_refs *R, const char *name, const float *x,
                                       int64_t numel) {
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
                  "%s: %lld of %lld elements differ from PyTorch's (first: [%lld] "
                  "%.9g vs %.9g)",
                  name, (long long)differ, (long long)numel, (long long)first,
                  first >= 0 ? (double)x[first] : 0.0, first >= 0 ? r->vals[first] : 0.0);
}

// A scalar or a short series stored whole: got[i] within rel * |want[i]| (+ abs).
static inline void tg_refs_check_series(const tg_refs *R, const char *name, const double *got,
                                        int64_t n, double rel, double abs_tol) {
    const tg_ref *r = tg_refs_find(R, name);
    ck_assert_msg(r->numel == n && r->k == (uint32_t)n, "%s: %lld values, expected %lld", name,
                  (long long)r->numel, (long long)n);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - r->vals[i]) <= rel * fabs(r->vals[i]) + abs_tol,
                      "%s[%lld]: %.17g, PyTorch %.17g", name, (long long)i, got[i], r->vals[i]);
}

#endif
