// test_weights.c: resnet18 <-> state dict (lib/app/weights.c): export, strict load and its
// messages, optional num_batches_tracked, head replacement, dtype conversion, non-finite.
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app/weights.h"
#include "testlib.h"

static tg_resnet18 *new_model(int classes, uint64_t seed) {
    tg_rng rng;
    tg_rng_seed(&rng, seed);
    tg_error err = {0};
    tg_resnet18 *m = tg_resnet18_new(classes, &rng, &err);
    ck_assert_msg(m != NULL, "%s", err.msg);
    return m;
}

// Copy of src without entry `drop` (may be NULL).
static void copy_sd(tg_statedict *dst, const tg_statedict *src, const char *drop) {
    tg_error err = {0};
    tg_statedict_init(dst);
    for (size_t i = 0; i < src->n; i++) {
        const tg_sd_entry *e = &src->entries[i];
        if (drop && !strcmp(e->name, drop)) continue;
        ck_assert_int_eq(tg_statedict_add(dst, e->name, e->dtype, e->ndim, e->shape, e->data, &err),
                         TG_OK);
    }
}

static bool same_params(tg_resnet18 *a, tg_resnet18 *b) {
    for (int k = 0; k < a->n_entries; k++) {
        if (a->entries[k].t) {
            if (a->entries[k].t->numel != b->entries[k].t->numel ||
                memcmp(a->entries[k].t->data, b->entries[k].t->data,
                       (size_t)a->entries[k].t->numel * sizeof(float)))
                return false;
        } else if (*a->entries[k].count != *b->entries[k].count) {
            return false;
        }
    }
    return true;
}

START_TEST(test_export_roundtrip) {
    tg_resnet18 *a = new_model(10, 1), *b = new_model(10, 2);
    a->bn1.num_batches_tracked = 17;
    tg_statedict sd;
    tg_statedict_init(&sd);
    tg_error err = {0};
    ck_assert_int_eq(tg_weights_export(a, &sd, &err), TG_OK);
    ck_assert_uint_eq(sd.n, 122);
    ck_assert_str_eq(sd.entries[0].name, "conv1.weight");
    ck_assert_int_eq(sd.entries[0].dtype, TG_DT_F32);
    ck_assert_int_eq(sd.entries[0].ndim, 4);
    const tg_sd_entry *nbt = tg_statedict_find(&sd, "bn1.num_batches_tracked");
    ck_assert_int_eq(nbt->dtype, TG_DT_I64);
    ck_assert_int_eq(nbt->ndim, 0);
    ck_assert_int_eq(*(const int64_t *)nbt->data, 17);
    ck_assert_str_eq(sd.entries[121].name, "fc.bias");
    ck_assert(!same_params(a, b));
    tg_load_report rep;
    ck_assert_int_eq(tg_weights_load(b, &sd, false, &rep, &err), TG_OK);
    ck_assert(same_params(a, b));
    ck_assert(!rep.fc_replaced);
    ck_assert_int_eq(rep.file_classes, 10);
    ck_assert_int_eq(rep.n_counters_missing, 0);
    ck_assert_str_eq(rep.message, "");
    tg_statedict_free(&sd);
    tg_resnet18_free(a);
    tg_resnet18_free(b);
}
END_TEST

START_TEST(test_missing_unexpected_shape) {
    tg_resnet18 *a = new_model(10, 1), *b = new_model(10, 2);
    tg_resnet18 *b0 = new_model(10, 2);
    tg_statedict sd, bad;
    tg_statedict_init(&sd);
    tg_error err = {0};
    ck_assert_int_eq(tg_weights_export(a, &sd, &err), TG_OK);
    copy_sd(&bad, &sd, "layer1.0.conv1.weight");
    float one = 1.0f;
    int64_t s1[1] = {1};
    ck_assert_int_eq(tg_statedict_add(&bad, "module.extra", TG_DT_F32, 1, s1, &one, &err), TG_OK);
    ck_assert_int_eq(tg_weights_load(b, &bad, true, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "missing keys (1): layer1.0.conv1.weight") != NULL, "%s",
                  err.msg);
    ck_assert_msg(strstr(err.msg, "unexpected keys (1): module.extra") != NULL, "%s", err.msg);
    ck_assert(same_params(b, b0));
    tg_statedict_free(&bad);

    // shape mismatch names the key and both shapes
    copy_sd(&bad, &sd, NULL);
    int64_t ws[4] = {128, 32, 3, 3};
    float *w = calloc(128 * 32 * 9, sizeof(float));
    ck_assert_int_eq(tg_statedict_add(&bad, "layer2.0.conv1.weight", TG_DT_F32, 4, ws, w, &err),
                     TG_OK);
    free(w);
    ck_assert_int_eq(tg_weights_load(b, &bad, true, NULL, &err), TG_ERR_SHAPE);
    ck_assert_msg(strstr(err.msg, "layer2.0.conv1.weight") && strstr(err.msg, "(128, 32, 3, 3)") &&
                      strstr(err.msg, "(128, 64, 3, 3)"),
                  "%s", err.msg);
    ck_assert(same_params(b, b0));
    tg_statedict_free(&bad);

    // counters must be integers
    copy_sd(&bad, &sd, NULL);
    ck_assert_int_eq(tg_statedict_add(&bad, "bn1.num_batches_tracked", TG_DT_F32, 0, NULL, &one,
                                      &err),
                     TG_OK);
    ck_assert_int_eq(tg_weights_load(b, &bad, true, NULL, &err), TG_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "bn1.num_batches_tracked") != NULL, "%s", err.msg);
    tg_statedict_free(&bad);
    tg_statedict_free(&sd);
    tg_resnet18_free(a);
    tg_resnet18_free(b);
    tg_resnet18_free(b0);
}
END_TEST

START_TEST(test_counters_optional_and_nonfinite) {
    tg_resnet18 *a = new_model(10, 1), *b = new_model(10, 2), *b0 = new_model(10, 2);
    tg_statedict sd, no_nbt;
    tg_statedict_init(&sd);
    tg_statedict_init(&no_nbt);
    tg_error err = {0};
    ck_assert_int_eq(tg_weights_export(a, &sd, &err), TG_OK);
    for (size_t i = 0; i < sd.n; i++) {
        const tg_sd_entry *e = &sd.entries[i];
        if (strstr(e->name, "num_batches_tracked")) continue;
        ck_assert_int_eq(tg_statedict_add(&no_nbt, e->name, e->dtype, e->ndim, e->shape, e->data,
                                          &err),
                         TG_OK);
    }
    ck_assert_uint_eq(no_nbt.n, 102);  // as resnet18-f37072fd.pth
    b->bn1.num_batches_tracked = 5;
    tg_load_report rep;
    ck_assert_int_eq(tg_weights_load(b, &no_nbt, false, &rep, &err), TG_OK);
    ck_assert_int_eq(rep.n_counters_missing, 20);
    ck_assert_int_eq(b->bn1.num_batches_tracked, 0);
    ck_assert(same_params(a, b));

    // a NaN is refused and names the key; an inf too; the model is left as it was
    tg_statedict bad;
    copy_sd(&bad, &sd, NULL);
    tg_sd_entry *e = (tg_sd_entry *)tg_statedict_find(&bad, "layer3.1.bn2.weight");
    ((float *)e->data)[7] = NAN;
    ck_assert_int_eq(tg_weights_load(b0, &bad, false, NULL, &err), TG_ERR_VALUE);
    ck_assert_msg(strstr(err.msg, "layer3.1.bn2.weight") && strstr(err.msg, "element 7"), "%s",
                  err.msg);
    ((float *)e->data)[7] = INFINITY;
    ck_assert_int_eq(tg_weights_load(b0, &bad, false, NULL, &err), TG_ERR_VALUE);
    tg_resnet18 *fresh = new_model(10, 2);
    ck_assert(same_params(b0, fresh));
    tg_resnet18_free(fresh);
    tg_statedict_free(&bad);
    tg_statedict_free(&sd);
    tg_statedict_free(&no_nbt);
    tg_resnet18_free(a);
    tg_resnet18_free(b);
    tg_resnet18_free(b0);
}
END_TEST

START_TEST(test_fc_replacement) {
    tg_resnet18 *imagenet = new_model(1000, 1), *m = new_model(10, 2);
    tg_statedict sd;
    tg_statedict_init(&sd);
    tg_error err = {0};
    ck_assert_int_eq(tg_weights_export(imagenet, &sd, &err), TG_OK);
    ck_assert_int_eq(tg_weights_load(m, &sd, false, NULL, &err), TG_ERR_SHAPE);
    ck_assert_msg(strstr(err.msg, "1000 classes") != NULL, "%s", err.msg);
    float fc0 = m->fc_weight->data[0];
    tg_load_report rep;
    ck_assert_int_eq(tg_weights_load(m, &sd, true, &rep, &err), TG_OK);
    ck_assert(rep.fc_replaced);
    ck_assert_int_eq(rep.file_classes, 1000);
    ck_assert_msg(strstr(rep.message, "1000") && strstr(rep.message, "10-class"), "%s",
                  rep.message);
    ck_assert_float_eq(m->fc_weight->data[0], fc0);
    ck_assert(!memcmp(m->conv1->data, imagenet->conv1->data, (size_t)m->conv1->numel * 4));
    ck_assert_int_eq(m->num_classes, 10);
    tg_statedict_free(&sd);
    tg_resnet18_free(imagenet);
    tg_resnet18_free(m);
}
END_TEST

START_TEST(test_dtype_conversion) {
    tg_resnet18 *a = new_model(10, 1), *b = new_model(10, 2);
    tg_statedict sd, conv;
    tg_statedict_init(&sd);
    tg_statedict_init(&conv);
    tg_error err = {0};
    ck_assert_int_eq(tg_weights_export(a, &sd, &err), TG_OK);
    for (size_t i = 0; i < sd.n; i++) {
        const tg_sd_entry *e = &sd.entries[i];
        int64_t n = tg_sd_entry_numel(e);
        if (!strcmp(e->name, "conv1.weight")) {  // float64: exact for float32 values
            double *d = malloc((size_t)n * sizeof *d);
            for (int64_t j = 0; j < n; j++) d[j] = ((const float *)e->data)[j];
            tg_statedict_add(&conv, e->name, TG_DT_F64, e->ndim, e->shape, d, &err);
            free(d);
        } else if (!strcmp(e->name, "bn1.weight")) {  // float16: 1.5, -2, 2^-24 (subnormal), 0
            uint16_t h[64];
            for (int j = 0; j < 64; j++) h[j] = j % 4 == 0 ? 0x3E00 : j % 4 == 1 ? 0xC000 : j % 4 == 2 ? 0x0001 : 0x0000;
            tg_statedict_add(&conv, e->name, TG_DT_F16, e->ndim, e->shape, h, &err);
        } else if (!strcmp(e->name, "bn1.bias")) {  // bfloat16: 1.0, -0.5
            uint16_t h[64];
            for (int j = 0; j < 64; j++) h[j] = j % 2 ? 0xBF00 : 0x3F80;
            tg_statedict_add(&conv, e->name, TG_DT_BF16, e->ndim, e->shape, h, &err);
        } else {
            tg_statedict_add(&conv, e->name, e->dtype, e->ndim, e->shape, e->data, &err);
        }
    }
    tg_load_report rep;
    ck_assert_int_eq(tg_weights_load(b, &conv, false, &rep, &err), TG_OK);
    ck_assert_int_eq(rep.n_converted, 3);
    ck_assert(!memcmp(b->conv1->data, a->conv1->data, (size_t)a->conv1->numel * 4));
    ck_assert_float_eq(b->bn1.weight->data[0], 1.5f);
    ck_assert_float_eq(b->bn1.weight->data[1], -2.0f);
    ck_assert_float_eq(b->bn1.weight->data[2], 0x1p-24f);
    ck_assert_float_eq(b->bn1.weight->data[3], 0.0f);
    ck_assert_float_eq(b->bn1.bias->data[0], 1.0f);
    ck_assert_float_eq(b->bn1.bias->data[1], -0.5f);
    // float64 beyond float32's range is not finite as float32: refused
    tg_sd_entry *e = (tg_sd_entry *)tg_statedict_find(&conv, "conv1.weight");
    ((double *)e->data)[3] = 1e300;
    ck_assert_int_eq(tg_weights_load(b, &conv, false, &rep, &err), TG_ERR_VALUE);
    ck_assert_msg(strstr(err.msg, "conv1.weight") != NULL, "%s", err.msg);
    // an integer weight is refused
    tg_statedict bad;
    copy_sd(&bad, &sd, NULL);
    int64_t *iw = calloc(64, sizeof *iw);
    int64_t s64[1] = {64};
    tg_statedict_add(&bad, "bn1.bias", TG_DT_I64, 1, s64, iw, &err);
    free(iw);
    ck_assert_int_eq(tg_weights_load(b, &bad, false, &rep, &err), TG_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, "bn1.bias") && strstr(err.msg, "I64"), "%s", err.msg);
    tg_statedict_free(&bad);
    tg_statedict_free(&sd);
    tg_statedict_free(&conv);
    tg_resnet18_free(a);
    tg_resnet18_free(b);
}
END_TEST

int main(void) {
    Suite *s = suite_create("weights");
    TCase *tc = tcase_create("weights");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_export_roundtrip);
    tcase_add_test(tc, test_missing_unexpected_shape);
    tcase_add_test(tc, test_counters_optional_and_nonfinite);
    tcase_add_test(tc, test_fc_replacement);
    tcase_add_test(tc, test_dtype_conversion);
    suite_add_tcase(s, tc);
    return tg_test_run(s, 0);
}
