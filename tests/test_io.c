// test_io.c: state dicts, safetensors, .pth (zip + legacy) reading and writing, the hostile
// corpus, atomic writes. Reference tensors come from Debian's torch through
// scripts/gen_io_fixtures.py (small ones committed in tests/data/io, resnet18 ones generated
// at test time into the build dir), and files we write are checked by torch.load.
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic.h"
#include "io/pickle.h"
#include "io/statedict.h"
#include "io/weightfile.h"
#include "io/zip.h"
#include "testlib.h"

static char data_dir[1024], work_dir[1024], script[1100];

static void setup_paths(void) {
    tg_test_data_path(data_dir, sizeof data_dir, "io");
    tg_test_data_path(script, sizeof script, "../../scripts/gen_io_fixtures.py");
    tg_test_tmpdir(work_dir, sizeof work_dir, "tg_io");
}

static char *path_in(const char *dir, const char *name) {
    static char buf[4][2048];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void load_ok(const char *path, tg_statedict *sd) {
    tg_error err = {0};
    tg_status st = tg_statedict_load(path, sd, &err);
    ck_assert_msg(st == TG_OK, "loading %s: %s", path, err.msg);
}

// Same keys in the same order, dtypes, shapes and bytes.
static void assert_same(const tg_statedict *a, const tg_statedict *b) {
    ck_assert_uint_eq(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const tg_sd_entry *x = &a->entries[i], *y = &b->entries[i];
        ck_assert_str_eq(x->name, y->name);
        ck_assert_msg(x->dtype == y->dtype, "%s: dtype %s vs %s", x->name, tg_dt_name(x->dtype),
                      tg_dt_name(y->dtype));
        ck_assert_int_eq(x->ndim, y->ndim);
        for (int d = 0; d < x->ndim; d++) ck_assert_int_eq(x->shape[d], y->shape[d]);
        ck_assert_uint_eq(x->nbytes, y->nbytes);
        ck_assert_msg(x->nbytes == 0 || !memcmp(x->data, y->data, x->nbytes), "%s: bytes differ",
                      x->name);
    }
}

START_TEST(test_statedict_basics) {
    tg_statedict sd;
    tg_statedict_init(&sd);
    tg_error err = {0};
    float w[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    ck_assert_int_eq(tg_statedict_add(&sd, "w", TG_DT_F32, 2, shape, w, &err), TG_OK);
    int64_t n = 7;
    ck_assert_int_eq(tg_statedict_add(&sd, "n", TG_DT_I64, 0, NULL, &n, &err), TG_OK);
    w[0] = 9;  // the statedict holds a copy
    const tg_sd_entry *e = tg_statedict_find(&sd, "w");
    ck_assert_ptr_nonnull(e);
    ck_assert_float_eq(((float *)e->data)[0], 1.0f);
    ck_assert_int_eq(tg_sd_entry_numel(e), 6);
    ck_assert_int_eq(tg_sd_entry_numel(tg_statedict_find(&sd, "n")), 1);
    // same name: replaced in place
    ck_assert_int_eq(tg_statedict_add(&sd, "w", TG_DT_F32, 2, shape, w, &err), TG_OK);
    ck_assert_uint_eq(sd.n, 2);
    ck_assert_str_eq(sd.entries[0].name, "w");
    ck_assert_float_eq(((float *)sd.entries[0].data)[0], 9.0f);
    ck_assert_int_eq(tg_statedict_numel(&sd), 7);
    ck_assert_int_eq(tg_statedict_set_meta(&sd, "k", "v1", &err), TG_OK);
    ck_assert_int_eq(tg_statedict_set_meta(&sd, "k", "v2", &err), TG_OK);
    ck_assert_str_eq(tg_statedict_get_meta(&sd, "k"), "v2");
    ck_assert_ptr_null(tg_statedict_get_meta(&sd, "nope"));
    ck_assert_str_eq(tg_dt_name(TG_DT_BF16), "BF16");
    ck_assert_uint_eq(tg_dt_size(TG_DT_F16), 2);
    ck_assert_uint_eq(tg_dt_size(TG_DT_I64), 8);
    tg_dt dt;
    ck_assert(tg_dt_from_name("BOOL", &dt) && dt == TG_DT_BOOL);
    ck_assert(!tg_dt_from_name("U16", &dt));
    tg_statedict_free(&sd);
    ck_assert_uint_eq(sd.n, 0);
}
END_TEST

// A statedict with every dtype, a 0-dim tensor, an empty tensor and 8 dims.
static void make_every_dtype(tg_statedict *sd) {
    tg_statedict_init(sd);
    tg_error err = {0};
    unsigned char bytes[64];
    for (int i = 0; i < 64; i++) bytes[i] = (unsigned char)(i * 37 + 11);
    for (int dt = TG_DT_F32; dt <= TG_DT_BOOL; dt++) {
        char name[32];
        snprintf(name, sizeof name, "t.%s", tg_dt_name((tg_dt)dt));
        int64_t shape[2] = {2, (int64_t)(8 / tg_dt_size((tg_dt)dt))};
        if (dt == TG_DT_BOOL)
            for (int i = 0; i < 64; i++) bytes[i] &= 1;
        ck_assert_int_eq(tg_statedict_add(sd, name, (tg_dt)dt, 2, shape, bytes, &err), TG_OK);
    }
    double s = -0.0;
    ck_assert_int_eq(tg_statedict_add(sd, "scalar", TG_DT_F64, 0, NULL, &s, &err), TG_OK);
    int64_t empty[2] = {0, 5};
    ck_assert_int_eq(tg_statedict_add(sd, "empty", TG_DT_F32, 2, empty, NULL, &err), TG_OK);
    int64_t rank8[8] = {1, 2, 1, 2, 1, 2, 1, 2};
    ck_assert_int_eq(tg_statedict_add(sd, "rank8", TG_DT_U8, 8, rank8, bytes, &err), TG_OK);
    ck_assert_int_eq(tg_statedict_set_meta(sd, "classes", "[\"cat\",\"dog\"]", &err), TG_OK);
    ck_assert_int_eq(tg_statedict_set_meta(sd, "format_version", "1", &err), TG_OK);
}

START_TEST(test_roundtrip_every_dtype) {
    tg_statedict sd, back;
    make_every_dtype(&sd);
    tg_error err = {0};
    const char *names[] = {"every.safetensors", "every.pth"};
    for (int k = 0; k < 2; k++) {
        const char *p = path_in(work_dir, names[k]);
        ck_assert_msg(tg_statedict_save(p, &sd, &err) == TG_OK, "%s", err.msg);
        load_ok(p, &back);
        assert_same(&sd, &back);
        if (k == 0) {  // metadata only lives in safetensors
            ck_assert_uint_eq(back.n_meta, 2);
            ck_assert_str_eq(tg_statedict_get_meta(&back, "classes"), "[\"cat\",\"dog\"]");
            ck_assert_str_eq(back.meta_keys[1], "format_version");
        } else {
            ck_assert_uint_eq(back.n_meta, 0);
        }
        tg_statedict_free(&back);
    }
    ck_assert_int_ne(tg_statedict_save(path_in(work_dir, "x.bin"), &sd, &err), TG_OK);
    ck_assert_ptr_nonnull(strstr(err.msg, ".safetensors or .pth"));
    tg_statedict_free(&sd);
}
END_TEST

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

// A safetensors header of 128 bytes makes the file start with 0x80, the pickle PROTO byte:
// detection must still say safetensors (found with a 1-tensor file named like a .pth).
START_TEST(test_detect_header_0x80) {
    tg_statedict sd, back;
    tg_statedict_init(&sd);
    tg_error err = {0};
    float v = 1.5f;
    int64_t one[1] = {1};
    // grow the name until the padded header is exactly 128 bytes
    char name[200];
    for (size_t len = 1; len < 150; len++) {
        memset(name, 'k', len);
        name[len] = '\0';
        tg_statedict_free(&sd);
        ck_assert_int_eq(tg_statedict_add(&sd, name, TG_DT_F32, 1, one, &v, &err), TG_OK);
        const char *p = path_in(work_dir, "hdr128.safetensors");
        ck_assert_int_eq(tg_statedict_save(p, &sd, &err), TG_OK);
        size_t n;
        unsigned char *b = slurp(p, &n);
        int hit = b[0] == 0x80 && b[1] == 0;
        if (hit) {
            tg_statedict_init(&back);
            ck_assert_msg(tg_statedict_load_mem(b, n, "model.pth", &back, &err) == TG_OK, "%s",
                          err.msg);
            assert_same(&sd, &back);
            tg_statedict_free(&back);
        }
        if (hit) {  // the library's detection (info uses it) says safetensors, not pickle
            ck_assert_int_eq(tg_statedict_detect(b, n, "model.pth"), TG_SD_FORMAT_SAFETENSORS);
            ck_assert_int_eq(tg_statedict_detect(b, 9, NULL), TG_SD_FORMAT_SAFETENSORS);
        }
        free(b);
        if (hit) break;
        ck_assert_uint_lt(len, 149);
    }
    tg_statedict_free(&sd);
}
END_TEST

// NaN and Inf counted from bit patterns for every float dtype; integers never count.
START_TEST(test_entry_nonfinite) {
    tg_statedict sd;
    tg_statedict_init(&sd);
    tg_error err = {0};
    int64_t four[1] = {4}, three[1] = {3};
    float f32[4] = {1.0f, NAN, INFINITY, -INFINITY};
    double f64[3] = {-0.0, NAN, 1e308};
    uint16_t f16[4] = {0x3c00, 0x7c00, 0xfe00, 0x7bff};   // 1, +Inf, -NaN, 65504
    uint16_t bf16[4] = {0x3f80, 0x7f80, 0x7fc1, 0xff7f};  // 1, +Inf, NaN, -max
    int64_t i64[3] = {-1, INT64_MAX, 0x7ff0000000000000};
    ck_assert_int_eq(tg_statedict_add(&sd, "f32", TG_DT_F32, 1, four, f32, &err), TG_OK);
    ck_assert_int_eq(tg_statedict_add(&sd, "f64", TG_DT_F64, 1, three, f64, &err), TG_OK);
    ck_assert_int_eq(tg_statedict_add(&sd, "f16", TG_DT_F16, 1, four, f16, &err), TG_OK);
    ck_assert_int_eq(tg_statedict_add(&sd, "bf16", TG_DT_BF16, 1, four, bf16, &err), TG_OK);
    ck_assert_int_eq(tg_statedict_add(&sd, "i64", TG_DT_I64, 1, three, i64, &err), TG_OK);
    ck_assert_int_eq(tg_sd_entry_nonfinite(tg_statedict_find(&sd, "f32")), 3);
    ck_assert_int_eq(tg_sd_entry_nonfinite(tg_statedict_find(&sd, "f64")), 1);
    ck_assert_int_eq(tg_sd_entry_nonfinite(tg_statedict_find(&sd, "f16")), 2);
    ck_assert_int_eq(tg_sd_entry_nonfinite(tg_statedict_find(&sd, "bf16")), 2);
    ck_assert_int_eq(tg_sd_entry_nonfinite(tg_statedict_find(&sd, "i64")), 0);
    tg_statedict_free(&sd);
}
END_TEST

START_TEST(test_detect_formats) {
    static const struct {
        const char *file;
        tg_sd_format want;
    } fx[] = {
        {"dtypes_zip.pth", TG_SD_FORMAT_PTH_ZIP},
        {"dtypes_legacy.pth", TG_SD_FORMAT_PTH_LEGACY},
        {"dtypes_expected.safetensors", TG_SD_FORMAT_SAFETENSORS},
    };
    for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++) {
        size_t n;
        unsigned char *b = slurp(path_in(data_dir, fx[i].file), &n);
        ck_assert_uint_ge(n, 16);
        ck_assert_int_eq(tg_statedict_detect(b, 16, "x"), fx[i].want);
        free(b);
    }
    ck_assert_int_eq(tg_statedict_detect("PYTORCH1\0", 9, "x.pth"), TG_SD_FORMAT_PTH_PREVIEW);
    ck_assert_int_eq(tg_statedict_detect("garbage!!", 9, "x.pth"), TG_SD_FORMAT_UNKNOWN);
    ck_assert_int_eq(tg_statedict_detect("garbage!!", 9, "x.safetensors"),
                     TG_SD_FORMAT_SAFETENSORS);  // the reader then names the problem
    ck_assert_int_eq(tg_statedict_detect("", 0, "x"), TG_SD_FORMAT_UNKNOWN);
    ck_assert_str_eq(tg_sd_format_name(TG_SD_FORMAT_SAFETENSORS), "safetensors");
    ck_assert_str_eq(tg_sd_format_name(TG_SD_FORMAT_PTH_LEGACY),
                     "PyTorch checkpoint (legacy format)");
}
END_TEST

START_TEST(test_writers_layout) {
    tg_statedict sd;
    make_every_dtype(&sd);
    tg_error err = {0};
    const char *st = path_in(work_dir, "layout.safetensors");
    ck_assert_int_eq(tg_statedict_save(st, &sd, &err), TG_OK);
    size_t n;
    unsigned char *b = slurp(st, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
    ck_assert_uint_eq(hlen % 8, 0);  // header padded so the data is 8-byte aligned
    ck_assert_int_eq(b[8], '{');
    ck_assert(b[8 + hlen - 1] == '}' || b[8 + hlen - 1] == ' ');
    // keys in the statedict's order; __metadata__ first
    char *hdr = strndup((char *)b + 8, hlen);
    char *m = strstr(hdr, "__metadata__"), *f32 = strstr(hdr, "\"t.F32\""),
         *r8 = strstr(hdr, "\"rank8\"");
    ck_assert(m && f32 && r8 && m < f32 && f32 < r8);
    free(hdr);
    free(b);

    const char *pth = path_in(work_dir, "layout.pth");
    ck_assert_int_eq(tg_statedict_save(pth, &sd, &err), TG_OK);
    b = slurp(pth, &n);
    tg_zip z;
    ck_assert_int_eq(tg_zip_open(&z, b, n, pth, &err), TG_OK);
    ck_assert_uint_eq(z.count, sd.n + 3);  // data.pkl, byteorder, data/<i>..., version
    ck_assert_str_eq(z.entries[0].name, "layout/data.pkl");  // prefix = basename
    for (size_t i = 0; i < z.count; i++) {
        const unsigned char *d;
        size_t len;
        void *owned;
        ck_assert_int_eq(tg_zip_read(&z, &z.entries[i], &d, &len, &owned, &err), TG_OK);
        ck_assert_ptr_null(owned);                         // stored
        ck_assert_uint_eq((size_t)(d - b) % 64, 0);        // 64-byte aligned like torch
    }
    ck_assert_ptr_nonnull(tg_zip_find(&z, "layout/version"));
    tg_zip_close(&z);
    free(b);
    tg_statedict_free(&sd);
}
END_TEST

// The committed fixtures written by torch: every reader path gives the tensors that the
// pure-Python writer stored contiguously in dtypes_expected.safetensors.
START_TEST(test_torch_fixtures) {
    tg_statedict exp, got;
    load_ok(path_in(data_dir, "dtypes_expected.safetensors"), &exp);
    ck_assert_uint_eq(exp.n, 21);
    ck_assert_str_eq(tg_statedict_get_meta(&exp, "written_by"), "scripts/gen_io_fixtures.py");
    const char *files[] = {"dtypes_zip.pth", "dtypes_legacy.pth", "dtypes_deflated.pth"};
    for (int k = 0; k < 3; k++) {
        load_ok(path_in(data_dir, files[k]), &got);
        assert_same(&exp, &got);
        const tg_sd_entry *s = tg_statedict_find(&got, "scalar.f32");
        ck_assert_int_eq(s->ndim, 0);  // 0-dim stays 0-dim
        ck_assert_float_eq(*(float *)s->data, 3.25f);
        const tg_sd_entry *t = tg_statedict_find(&got, "view.transpose");
        ck_assert_int_eq(t->shape[0], 4);
        ck_assert_float_eq(((float *)t->data)[1], 2.0f);  // base.view(3,4).t()[0][1] = base[4]
        const tg_sd_entry *ex = tg_statedict_find(&got, "view.expand");
        ck_assert_float_eq(((float *)ex->data)[3], 2.5f);  // stride 0
        ck_assert_int_eq(tg_statedict_find(&got, "empty")->nbytes, 0);
        tg_statedict_free(&got);
    }
    tg_statedict_free(&exp);

    load_ok(path_in(data_dir, "linear_expected.safetensors"), &exp);
    const char *lin[] = {"nested.pth", "parameters.pth", "protocol4.pth"};
    for (int k = 0; k < 3; k++) {
        load_ok(path_in(data_dir, lin[k]), &got);
        assert_same(&exp, &got);
        tg_statedict_free(&got);
    }
    tg_statedict_free(&exp);
}
END_TEST

// torch writes ZIP64 end records too; force the reader onto them by saturating the classic
// end record's fields, as a file above 4 GiB or 65535 entries would have them.
START_TEST(test_zip64_end_record) {
    size_t n;
    unsigned char *b = slurp(path_in(data_dir, "dtypes_zip.pth"), &n);
    size_t eocd = n - 22;
    ck_assert(!memcmp(b + eocd, "PK\x05\x06", 4));
    ck_assert(!memcmp(b + eocd - 20, "PK\x06\x07", 4));  // the ZIP64 locator torch writes
    memset(b + eocd + 8, 0xff, 4);    // entry counts
    memset(b + eocd + 12, 0xff, 8);   // central directory size and offset
    tg_statedict exp, got;
    tg_error err = {0};
    load_ok(path_in(data_dir, "dtypes_expected.safetensors"), &exp);
    tg_statedict_init(&got);
    ck_assert_msg(tg_statedict_load_mem(b, n, "zip64.pth", &got, &err) == TG_OK, "%s", err.msg);
    assert_same(&exp, &got);
    tg_statedict_free(&got);
    // without the locator the saturated record is refused
    memcpy(b + eocd - 20, "XXXX", 4);
    tg_statedict_init(&got);
    ck_assert_int_eq(tg_statedict_load_mem(b, n, "zip64.pth", &got, &err), TG_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "ZIP64"));
    tg_statedict_free(&got);
    tg_statedict_free(&exp);
    free(b);
}
END_TEST

START_TEST(test_convert_chain) {
    // legacy .pth -> safetensors -> .pth -> safetensors: bit-identical all along
    tg_statedict a, b;
    tg_error err = {0};
    load_ok(path_in(data_dir, "dtypes_legacy.pth"), &a);
    const char *chain[] = {"chain1.safetensors", "chain2.pth", "chain3.safetensors"};
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(tg_statedict_save(path_in(work_dir, chain[k]), &a, &err), TG_OK);
        load_ok(path_in(work_dir, chain[k]), &b);
        assert_same(&a, &b);
        tg_statedict_free(&a);
        a = b;
    }
    tg_statedict_free(&a);
}
END_TEST

static const struct {
    const char *file, *reason;
} HOSTILE[] = {
    {"os_system.pth", "disallowed global os.system"},
    {"builtins_eval.pth", "disallowed global builtins.eval"},
    {"setitem_list.pth", "SETITEM on a list"},
    {"setitems_tuple.pth", "SETITEMS on a tuple"},
    {"bad_memo.pth", "bad memo index 7"},
    {"huge_memo.pth", "memo index 2147483647 exceeds the cap"},
    {"mark_depth.pth", "MARK depth exceeds the cap"},
    {"reduce_dict.pth", "REDUCE on a dict"},
    {"build_list.pth", "BUILD on a list"},
    {"storage_small.pth", "tensor 'w': storage too small"},
    {"view_oob.pth", "tensor 'w': storage too small: offset 2"},
    {"huge_dims.pth", "100 dims, more than the maximum of 8"},
    {"expand_huge.pth", "tensor 'w' (shape [1000000000], strides [0]) decodes to 4000000000 bytes "
                        "from a storage record of 4 bytes; the file's tensors would decode to "
                        "4000000000 bytes, more than the limit of 268435460 for its 4 bytes"},
    {"expand_many.pth", "tensor 'a' (shape [33554432], strides [0]) decodes to 134217728 bytes "
                        "from a storage record of 4 bytes; the file's tensors would decode to "
                        "402653184 bytes, more than the limit of 268435460"},
    {"overlap_huge.pth", "tensor 'w' (shape [20000, 20000], strides [1, 1]) decodes to "
                         "1600000000 bytes from a storage record of 160000 bytes"},
    {"missing_record.pth", "storage record 'archive/data/7' is missing"},
    {"not_a_tensor.pth", "entry 'w' is a int, not a tensor"},
    {"no_stop.pth", "no STOP opcode"},
    {"big_endian.pth", "only little-endian"},
    {"truncated.pth", "incomplete zip"},
    {"empty.pth", "empty file"},
    {"random.bin", "unrecognized format"},
    {"huge_header.safetensors", "header length 1099511627776 exceeds the cap"},
    {"header_past_eof.safetensors", "exceeds the file size"},
    {"overlap.safetensors", "tensor 'b': data_offsets [8, 24] overlap tensor 'a'"},
    {"out_of_bounds.safetensors", "out of bounds"},
    {"hole.safetensors", "hole of 8 bytes"},
    {"size_mismatch.safetensors", "numel x element size is 12"},
    {"shape_overflow.safetensors", "shape overflows"},
    {"huge_dims.safetensors", "100 dims exceed the maximum of 8"},
    {"bad_dtype.safetensors", "unsupported dtype 'F8_E4M3'"},
    {"bad_json.safetensors", "not a valid JSON object"},
    {"dup_key.safetensors", "duplicate tensor name 'a'"},
    {"meta_not_string.safetensors", "value of 'k' is not a string"},
};

START_TEST(test_hostile_corpus) {
    char hdir[1100];
    snprintf(hdir, sizeof hdir, "%s/hostile", data_dir);
    const char *p = path_in(hdir, HOSTILE[_i].file);
    tg_statedict sd;
    tg_error err = {0};
    tg_status st = tg_statedict_load(p, &sd, &err);
    ck_assert_msg(st == TG_ERR_FORMAT, "%s: status %d (%s)", HOSTILE[_i].file, st, err.msg);
    ck_assert_msg(strstr(err.msg, HOSTILE[_i].reason) != NULL, "%s: message '%s' lacks '%s'",
                  HOSTILE[_i].file, err.msg, HOSTILE[_i].reason);
    ck_assert_ptr_nonnull(strstr(err.msg, HOSTILE[_i].file));  // names the file
    ck_assert_uint_eq(sd.n, 0);  // left empty
    tg_statedict_free(&sd);
}
END_TEST

START_TEST(test_hostile_sanity) {
    // the valid twin of the hostile .pth files loads, so the corpus tests what it says
    tg_statedict sd;
    load_ok(path_in(data_dir, "hostile/good_small.pth"), &sd);
    ck_assert_uint_eq(sd.n, 1);
    ck_assert_float_eq(((float *)sd.entries[0].data)[3], 4.0f);
    tg_statedict_free(&sd);
    // every prefix of a valid file fails cleanly (truncation anywhere)
    size_t n;
    unsigned char *b = slurp(path_in(data_dir, "dtypes_legacy.pth"), &n);
    for (size_t k = 0; k < n; k += 1 + k / 16) {
        tg_statedict_init(&sd);
        tg_error err = {0};
        ck_assert_int_ne(tg_statedict_load_mem(b, k, "cut.pth", &sd, &err), TG_OK);
        ck_assert(err.msg[0] != '\0');
        tg_statedict_free(&sd);
    }
    free(b);
    b = slurp(path_in(data_dir, "dtypes_expected.safetensors"), &n);
    for (size_t k = 0; k < n; k += 1 + k / 16) {
        tg_statedict_init(&sd);
        tg_error err = {0};
        ck_assert_int_ne(tg_statedict_load_mem(b, k, "cut.safetensors", &sd, &err), TG_OK);
        tg_statedict_free(&sd);
    }
    free(b);
}
END_TEST

// torch.save of expanded tensors (stride 0): a modest expansion (4 MB and 12 MB from a few
// bytes) is within the decode budget and loads with every element.
START_TEST(test_expand_loads) {
    tg_statedict sd;
    load_ok(path_in(data_dir, "expand.pth"), &sd);
    ck_assert_uint_eq(sd.n, 3);
    const tg_sd_entry *z = tg_statedict_find(&sd, "zeros"), *r = tg_statedict_find(&sd, "rows");
    ck_assert_ptr_nonnull(z);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(z->ndim, 1);
    ck_assert_int_eq(z->shape[0], 1000000);
    ck_assert_uint_eq(z->nbytes, 4000000);
    const float *zf = z->data, *rf = r->data;
    for (size_t i = 0; i < 1000000; i++) ck_assert_float_eq(zf[i], 0.0f);
    ck_assert_int_eq(r->ndim, 2);
    ck_assert_int_eq(r->shape[0], 3);
    ck_assert_int_eq(r->shape[1], 1 << 20);
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < (1u << 20); j += 4099)
            ck_assert_float_eq(rf[i * (1u << 20) + j], (float)i);
    ck_assert_float_eq(rf[3 * (1u << 20) - 1], 2.0f);
    tg_statedict_free(&sd);
}
END_TEST

// Runs a whole pickle through the VM (vm is initialised here, freed by the caller).
static tg_pk_obj *load_whole_pickle(tg_pickle *vm, const unsigned char *p, size_t n) {
    tg_pickle_init(vm);
    tg_pk_obj *r;
    tg_error err = {0};
    size_t used;
    ck_assert_msg(tg_pickle_load(vm, p, n, &used, &r, "t", &err) == TG_OK, "%s", err.msg);
    ck_assert_uint_eq(used, n);
    return r;
}

START_TEST(test_pickle_vm_direct) {
    // LONG1 sign extension, BINFLOAT big-endian, MEMOIZE/BINGET, DUP, POP_MARK
    static const unsigned char p[] = {0x80, 0x04, 0x8a, 0x02, 0x00, 0xff,  // -256
                                      0x94, 'G',  0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d,
                                      0x18,  // pi
                                      '(',  'N',  '1', 'h',  0x00, 0x86, '.'};
    tg_pickle vm;
    tg_pk_obj *r = load_whole_pickle(&vm, p, sizeof p);
    ck_assert_int_eq(r->kind, TG_PK_TUPLE);
    ck_assert_uint_eq(r->u.seq.n, 2);
    ck_assert_double_eq_tol(r->u.seq.items[0]->u.f, 3.141592653589793, 1e-15);
    ck_assert_int_eq(r->u.seq.items[1]->u.i, -256);
    tg_pickle_free(&vm);
}
END_TEST

// APPENDS with an empty mark on a list without storage, twice (fuzz_pth found it: UBSan
// flagged pointer arithmetic on the list's NULL items); then APPEND still grows it: [7].
START_TEST(test_pickle_empty_appends) {
    static const unsigned char p[] = {0x80, 0x02, ']', '(', 'e', '(', 'e', 'K', 7, 'a', '.'};
    tg_pickle vm;
    tg_pk_obj *r = load_whole_pickle(&vm, p, sizeof p);
    ck_assert_int_eq(r->kind, TG_PK_LIST);
    ck_assert_uint_eq(r->u.seq.n, 1);
    ck_assert_int_eq(r->u.seq.items[0]->u.i, 7);
    tg_pickle_free(&vm);
}
END_TEST

// resnet18 state_dicts saved by Debian's torch, generated into the build dir at test time.
static char rdir[1100];
static void ensure_resnet_fixtures(void) {
    snprintf(rdir, sizeof rdir, "%s/resnet", work_dir);
    char done[1200];
    snprintf(done, sizeof done, "%s/resnet18_102_expected.safetensors", rdir);
    if (access(done, R_OK) == 0) return;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' resnet '%s' >/dev/null", script, rdir);
    ck_assert_msg(system(cmd) == 0, "generator failed: %s", cmd);
}

START_TEST(test_torch_reads_ours) {
    ensure_resnet_fixtures();
    struct {
        const char *pth, *expected;
        size_t n;
    } cases[] = {
        {"resnet18_122.pth", "resnet18_122_expected.safetensors", 122},
        {"resnet18_122_legacy.pth", "resnet18_122_expected.safetensors", 122},
        {"resnet18_102.pth", "resnet18_102_expected.safetensors", 102},
    };
    char cmd[16384];
    int len = snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' check", script);
    for (int k = 0; k < 3; k++) {
        tg_statedict exp, got;
        load_ok(path_in(rdir, cases[k].expected), &exp);
        load_ok(path_in(rdir, cases[k].pth), &got);
        ck_assert_uint_eq(got.n, cases[k].n);
        assert_same(&exp, &got);
        ck_assert_str_eq(got.entries[0].name, "conv1.weight");
        ck_assert_int_eq(got.entries[0].shape[1], 3);
        ck_assert_str_eq(got.entries[got.n - 1].name, "fc.bias");
        int64_t params = 0;
        for (size_t i = 0; i < got.n; i++)
            if (!strstr(got.entries[i].name, "running_") &&
                !strstr(got.entries[i].name, "num_batches_tracked"))
                params += tg_sd_entry_numel(&got.entries[i]);
        ck_assert_int_eq(params, 11689512);
        tg_statedict_free(&exp);
        if (k != 1) {  // write both formats for torch and a pure-Python reader to check
            tg_error err = {0};
            char op[64], os[64];
            snprintf(op, sizeof op, "ours_%zu.pth", cases[k].n);
            snprintf(os, sizeof os, "ours_%zu.safetensors", cases[k].n);
            ck_assert_int_eq(tg_statedict_save(path_in(rdir, op), &got, &err), TG_OK);
            ck_assert_int_eq(tg_statedict_save(path_in(rdir, os), &got, &err), TG_OK);
            len += snprintf(cmd + len, sizeof cmd - (size_t)len, " '%s' '%s' '%s' resnet",
                            path_in(rdir, op), path_in(rdir, os),
                            path_in(rdir, cases[k].expected));
        }
        tg_statedict_free(&got);
    }
    // every dtype, views, 0-dim: what we write from the torch fixture loads back identically
    tg_statedict sd;
    tg_error err = {0};
    load_ok(path_in(data_dir, "dtypes_zip.pth"), &sd);
    ck_assert_int_eq(tg_statedict_save(path_in(work_dir, "dt_ours.pth"), &sd, &err), TG_OK);
    ck_assert_int_eq(tg_statedict_save(path_in(work_dir, "dt_ours.safetensors"), &sd, &err),
                     TG_OK);
    tg_statedict_free(&sd);
    len += snprintf(cmd + len, sizeof cmd - (size_t)len, " '%s' '%s' '%s' plain",
                    path_in(work_dir, "dt_ours.pth"), path_in(work_dir, "dt_ours.safetensors"),
                    path_in(data_dir, "dtypes_expected.safetensors"));
    ck_assert_int_lt(len, (int)sizeof cmd);
    ck_assert_msg(system(cmd) == 0, "torch check failed: %s", cmd);
}
END_TEST

static int count_tmp_files(const char *dir, const char *stem) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, stem, strlen(stem)) && strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

// A write that fails (file size limit: the same path as a full disk, EFBIG instead of
// ENOSPC) leaves the previous file intact, removes the temporary file and says so.
START_TEST(test_atomic_failure_keeps_old_file) {
    tg_statedict small, big, back;
    tg_statedict_init(&small);
    tg_statedict_init(&big);
    tg_error err = {0};
    float v[4] = {1, 2, 3, 4};
    int64_t s4[1] = {4};
    ck_assert_int_eq(tg_statedict_add(&small, "w", TG_DT_F32, 1, s4, v, &err), TG_OK);
    int64_t sbig[1] = {1 << 20};
    float *z = calloc(1 << 20, sizeof *z);
    ck_assert_int_eq(tg_statedict_add(&big, "w", TG_DT_F32, 1, sbig, z, &err), TG_OK);
    free(z);
    const char *names[] = {"atomic_keep.safetensors", "atomic_keep.pth"};
    for (int k = 0; k < 2; k++) {
        const char *p = path_in(work_dir, names[k]);
        ck_assert_int_eq(tg_statedict_save(p, &small, &err), TG_OK);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit old, lim = {256 * 1024, 256 * 1024};
        getrlimit(RLIMIT_FSIZE, &old);
        lim.rlim_max = old.rlim_max;
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
        tg_status st = tg_statedict_save(p, &big, &err);
        setrlimit(RLIMIT_FSIZE, &old);
        ck_assert_int_eq(st, TG_ERR_IO);
        ck_assert_msg(strstr(err.msg, "File too large") && strstr(err.msg, "left intact") &&
                          strstr(err.msg, names[k]),
                      "%s", err.msg);
        load_ok(p, &back);  // the previous file is still complete
        assert_same(&small, &back);
        tg_statedict_free(&back);
        char stem[64];
        snprintf(stem, sizeof stem, "%s", names[k]);
        ck_assert_int_eq(count_tmp_files(work_dir, stem), 0);
    }
    // a directory that does not exist: a clear error, nothing written
    ck_assert_int_eq(tg_statedict_save("/nonexistent-dir/x.safetensors", &small, &err), TG_ERR_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent-dir/x.safetensors"));
    tg_statedict_free(&small);
    tg_statedict_free(&big);
}
END_TEST

// The .pth writer has no ZIP64: past 65534 zip entries (a tensor each, plus data.pkl,
// byteorder and version) it stops with a message naming the file and the way out, and
// leaves nothing behind. 65535 entries used to be written with the count 0xFFFF, ZIP64's
// marker, which our own reader then refused ("saturated end record"; torch 1.13 read it).
START_TEST(test_pth_too_many_entries) {
    tg_statedict sd;
    tg_statedict_init(&sd);
    tg_error err = {0};
    for (int i = 0; i < 65532; i++) {  // 65535 entries in all
        char name[32];
        snprintf(name, sizeof name, "t%d", i);
        float *v = calloc(1, sizeof *v);
        ck_assert_int_eq(tg_statedict_append_owned(&sd, strdup(name), TG_DT_F32, 0, NULL, v, 4, &err),
                         TG_OK);
    }
    const char *p = path_in(work_dir, "many.pth");
    unlink(p);
    ck_assert_int_eq(tg_statedict_save(p, &sd, &err), TG_ERR_VALUE);
    ck_assert_msg(strstr(err.msg, "many.pth: more than 65534 zip entries") &&
                      strstr(err.msg, ".safetensors"),
                  "%s", err.msg);
    ck_assert_int_ne(access(p, F_OK), 0);
    ck_assert_int_eq(count_tmp_files(work_dir, "many.pth"), 0);
    // one tensor fewer fits, and reads back
    free(sd.entries[--sd.n].name);
    free(sd.entries[sd.n].data);
    ck_assert_msg(tg_statedict_save(p, &sd, &err) == TG_OK, "%s", err.msg);
    tg_statedict back;
    load_ok(p, &back);
    assert_same(&sd, &back);
    tg_statedict_free(&back);
    unlink(p);
    tg_statedict_free(&sd);
}
END_TEST

START_TEST(test_atomic_api) {
    const char *p = path_in(work_dir, "atomic_api.txt");
    tg_error err = {0};
    tg_atomic_file f;
    ck_assert_int_eq(tg_atomic_open(&f, p, &err), TG_OK);
    ck_assert_int_eq(tg_atomic_write(&f, "old", 3, &err), TG_OK);
    ck_assert_int_eq(tg_atomic_commit(&f, &err), TG_OK);
    ck_assert_int_eq(tg_atomic_open(&f, p, &err), TG_OK);
    ck_assert_int_eq(tg_atomic_write(&f, "new!", 4, &err), TG_OK);
    tg_atomic_abort(&f);  // e.g. interrupted: the old content stays
    size_t n;
    unsigned char *b = slurp(p, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert(!memcmp(b, "old", 3));
    free(b);
    ck_assert_int_eq(count_tmp_files(work_dir, "atomic_api.txt"), 0);
}
END_TEST

// Writes p through tg_atomic_* (a .txt) or tg_statedict_save (.safetensors, .pth).
static void write_for_mode(const char *p, const tg_statedict *sd) {
    tg_error err = {0};
    if (strstr(p, ".txt")) {
        tg_atomic_file f;
        ck_assert_int_eq(tg_atomic_open(&f, p, &err), TG_OK);
        ck_assert_int_eq(tg_atomic_write(&f, "x", 1, &err), TG_OK);
        ck_assert_int_eq(tg_atomic_commit(&f, &err), TG_OK);
    } else {
        ck_assert_msg(tg_statedict_save(p, sd, &err) == TG_OK, "%s", err.msg);
    }
}

// New files get 0666 & ~umask, as from open(O_CREAT, 0666) (cp, torch.save): umask 077 keeps
// them private. A replaced file keeps its own permissions, as cp or torch.save leave them.
START_TEST(test_atomic_mode_follows_umask) {
    static const mode_t masks[] = {077, 022, 027, 002, 0};
    mode_t old = umask(022);
    tg_statedict sd;
    tg_statedict_init(&sd);
    const float v[2] = {1, 2};
    tg_error err = {0};
    ck_assert_int_eq(tg_statedict_add(&sd, "w", TG_DT_F32, 1, (int64_t[]){2}, v, &err), TG_OK);
    const char *names[] = {"mode.txt", "mode.safetensors", "mode.pth"};
    for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
        mode_t want = 0666 & ~masks[i];
        for (int k = 0; k < 3; k++) {
            const char *p = path_in(work_dir, names[k]);
            unlink(p);
            umask(masks[i]);
            write_for_mode(p, &sd);
            struct stat stt;
            ck_assert_int_eq(stat(p, &stt), 0);
            ck_assert_msg((stt.st_mode & 07777) == want, "%s with umask %03o: mode %03o, want %03o",
                          names[k], masks[i], stt.st_mode & 07777, want);
            // replacing a file of another mode: it keeps that mode, whatever the umask
            const mode_t other = want == 0600 ? 0640 : 0600;
            ck_assert_int_eq(chmod(p, other), 0);
            write_for_mode(p, &sd);
            ck_assert_int_eq(stat(p, &stt), 0);
            ck_assert_int_eq(stt.st_mode & 07777, other);
            ck_assert_int_eq(count_tmp_files(work_dir, names[k]), 0);
        }
    }
    umask(old);
    tg_statedict_free(&sd);
}
END_TEST

int main(void) {
    setup_paths();
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("io");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_statedict_basics);
    tcase_add_test(tc, test_roundtrip_every_dtype);
    tcase_add_test(tc, test_writers_layout);
    tcase_add_test(tc, test_detect_header_0x80);
    tcase_add_test(tc, test_detect_formats);
    tcase_add_test(tc, test_entry_nonfinite);
    tcase_add_test(tc, test_torch_fixtures);
    tcase_add_test(tc, test_convert_chain);
    tcase_add_test(tc, test_zip64_end_record);
    tcase_add_loop_test(tc, test_hostile_corpus, 0, (int)(sizeof HOSTILE / sizeof HOSTILE[0]));
    tcase_add_test(tc, test_hostile_sanity);
    tcase_add_test(tc, test_expand_loads);
    tcase_add_test(tc, test_pickle_vm_direct);
    tcase_add_test(tc, test_pickle_empty_appends);
    tcase_add_test(tc, test_atomic_api);
    tcase_add_test(tc, test_atomic_mode_follows_umask);
    tcase_add_test(tc, test_pth_too_many_entries);
    tcase_add_test(tc, test_atomic_failure_keeps_old_file);
    tcase_add_test(tc, test_torch_reads_ours);
    suite_add_tcase(s, tc);
    int rc = tg_test_run(s, 0);
    if (tg_test_remove_tree(work_dir)) rc = EXIT_FAILURE;
    return rc;
}
