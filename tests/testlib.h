// testlib.h: what every Check suite in tests/ shares (tests/testlib.c, linked into each).
//
// - tg_test_run: the one runner main() hands its suite to.
// - Test-data paths: $TG_TEST_DATA (tests/data, set by tests/meson.build) and
//   $TG_BUILD_DIR, failing the test with a clear message when run outside meson.
// - Small random tensors for the op tests.
// - The twins' reference data (scripts/gen_*.py run with /usr/bin/python3 and Debian's
//   torch 1.13): tg_fill, the counter-based generator both sides implement, and one reader
//   for the three reference formats:
//   "TGREF1" (ops/nn_ref.bin): u32 count, then per record u32 name length, name, u32 ndim,
//     i64 shape[ndim], the whole tensor as f32;
//   "TGPARIT1" / "TGRECIP1" (nn/parity.bin, nn/recipes.bin): records of u16 name length,
//     name, i64 numel (-1: none, e.g. no gradient), f64 max-abs, sum and sum of absolute
//     values of the whole tensor, u32 k and k evenly spaced elements (index j * numel / k;
//     all of a small tensor) as f32 (TGPARIT1) or f64 (TGRECIP1).
#ifndef TG_TESTLIB_H
#define TG_TESTLIB_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/tensor.h"

// ---- the runner ----
enum {
    TG_TEST_NOFORK = 1,  // run every test in this process (state shared between tests)
};
// Runs every test of s (Check's normal output), frees the runner; EXIT_SUCCESS when none
// failed, else EXIT_FAILURE.
int tg_test_run(Suite *s, int flags);

// ---- paths ----
// $TG_TEST_DATA and $TG_BUILD_DIR; the test fails when unset.
const char *tg_test_data_dir(void);
const char *tg_test_build_dir(void);
// A new empty directory $TMPDIR/<prefix>_XXXXXX (/tmp when TMPDIR is unset), its path in
// out (n bytes); the test fails when it cannot be made. Returns out.
char *tg_test_tmpdir(char *out, size_t n, const char *prefix);
// Removes dir and everything below it (symbolic links are removed, not followed); 0 on
// success, -1 when something could not be removed.
int tg_test_remove_tree(const char *dir);
// out = $TG_TEST_DATA/rel (the test fails when it does not fit in n bytes); returns out.
char *tg_test_data_path(char *out, size_t n, const char *rel);

// ---- random tensors ----
// A persistent N(0, 1) tensor of the shape from r, with requires_grad as given.
tg_tensor *tg_test_randn(tg_rng *r, int ndim, const int64_t *shape, bool requires_grad);

// ---- the twins' generator ----
// u_i = mix(base + i * golden) >> 11 * 2^-53, value lo + (hi - lo) * u rounded to float,
// base from (seed, stream): the scripts' fill().
void tg_fill(float *out, int64_t n, uint64_t seed, uint64_t stream, double lo, double hi);

// ---- reference files ----
typedef struct {
    char name[96];
    int64_t numel;  // -1: none
    int ndim;       // -1: not stored (TGPARIT1, TGRECIP1)
    int64_t shape[TG_MAX_DIMS];
    double maxabs, sum, sumabs;
    uint32_t k;     // stored values (numel for TGREF1)
    double *vals;   // (k,)
    float *data;    // (k,) the same values as float
} tg_ref;

typedef struct {
    const char *file;
    tg_ref *r;
    int n;
} tg_refs;

// Reads $TG_TEST_DATA/<rel> once into R (any of the three formats); the test fails unless
// it holds at least min_records records.
void tg_refs_load(tg_refs *R, const char *rel, int min_records);
// The record named name, or NULL.
const tg_ref *tg_refs_get(const tg_refs *R, const char *name);
// The record named name; the test fails naming the file when there is none.
const tg_ref *tg_refs_find(const tg_refs *R, const char *name);
// x (numel,) against the record: max-abs error over the sampled elements <= tol * the
// reference's max-abs; the whole tensor's max-abs agrees within that bound and its sum
// within tol * the sum of |reference|.
void tg_refs_check(const tg_refs *R, const char *name, const float *x, int64_t numel, double tol);
// The record holds all of a tensor of numel elements: x must equal it bit for bit (the
// record's values are the reference's float32 values exactly).
void tg_refs_check_exact(const tg_refs *R, const char *name, const float *x, int64_t numel);
// A scalar or a short series stored whole: got[i] within rel * |want[i]| (+ abs_tol).
void tg_refs_check_series(const tg_refs *R, const char *name, const double *got, int64_t n,
                          double rel, double abs_tol);

#endif
