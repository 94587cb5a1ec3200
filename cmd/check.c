// check.c: `tgfinetune check --data DIR [--val DIR] [--json] [--threads N]`: what would
// break or skew training in an image folder, found before training (lib/app/check.h does
// the work; this file parses the options and prints the report as text or JSON).
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/check.h"
#include "app/config.h"
#include "commands.h"
#include "core/escape.h"
#include "options.h"

#define EXAMPLES 5  // informational lists show this many paths in the text report

// The notes, in tg_check_note order: the JSON key and what the text report says.
static const struct {
    const char *key, *text;
} notes[TG_CHECK_NOTES] = {
    [TG_CHECK_CMYK] = {"cmyk", "CMYK or YCCK JPEG: converted to RGB with PIL's formula, "
                               "without a colour profile"},
    [TG_CHECK_16BIT] = {"16bit", "16 bits per sample: reduced to 8 (16-bit gray is clipped at "
                                 "255 as PIL does, so it is mostly white)"},
    [TG_CHECK_PALETTE] = {"palette", "palette PNG: expanded to RGB"},
    [TG_CHECK_ALPHA] = {"alpha", "transparency (alpha or tRNS) discarded: transparent areas "
                                 "train as their stored colour"},
    [TG_CHECK_GRAY] = {"grayscale", "grayscale: trained as three equal channels"},
    [TG_CHECK_EXIF] = {"exif_rotated", NULL},  // depends on exif_orientation: exif_text()
    [TG_CHECK_SMALL] = {"smaller_than_image_size", NULL},  // names image_size: small_text()
    [TG_CHECK_ASPECT] = {"extreme_aspect", "longer side more than 3x the shorter: the centre "
                                           "crop keeps only a part"},
};

// What the scan left out, in tg_folder_skip_kind order.
static const struct {
    const char *key, *text;
} skips[TG_FOLDER_SKIP_KINDS] = {
    [TG_FOLDER_SKIP_HIDDEN] = {"hidden", "hidden (the name starts with '.')"},
    [TG_FOLDER_SKIP_LINK] = {"links_not_followed",
                             "link not followed (to the dataset folder, a folder above it or "
                             "a folder already scanned)"},
    [TG_FOLDER_SKIP_EXTENSION] = {"other_extensions", "not named .png, .jpg or .jpeg"},
    [TG_FOLDER_SKIP_OUTSIDE] = {"outside_classes", "directly in the folder, in no class folder"},
};

static const char *set_key[2] = {"data", "val"};

typedef struct {
    const tg_check_report *r;
    const tg_check_opts *o;
} view;

static const char *note_text(const view *v, tg_check_note n, char *buf, size_t cap) {
    if (n == TG_CHECK_EXIF)
        return v->o->image.exif_orientation
                   ? "EXIF-rotated: training applies the rotation (data.exif_orientation)"
                   : "EXIF-rotated: training does NOT apply it (data.exif_orientation false)";
    if (n == TG_CHECK_SMALL) {
        snprintf(buf, cap, "shorter side below image_size %d: upscaled", v->o->image_size);
        return buf;
    }
    return notes[n].text;
}

static const char *item_path(const view *v, int set, size_t item) {
    return v->r->sets[set].folder.items[item].path;
}

static const char *item_class(const view *v, int set, size_t item) {
    const tg_folder *f = &v->r->sets[set].folder;
    return f->classes[f->items[item].label];
}

// ---------------------------------------------------------------------------------
// What would stop or skew training: one line each, for the text summary and "problems".

typedef void (*line_fn)(void *user, const char *line);

static void problems(const view *v, line_fn emit, void *user) {
    const tg_check_report *r = v->r;
    char line[8192], root[4096], name[1024];
    for (int s = 0; s < r->nsets; s++) {
        const tg_check_set *t = &r->sets[s];
        tg_path_escape(t->folder.root, root, sizeof root);
        if (t->bad_exceeds) {
            snprintf(line, sizeof line,
                     "%s: %zu of %zu image files are unreadable, more than max_bad_fraction %g: "
                     "training stops",
                     root, t->nbad, t->folder.count, v->o->max_bad_fraction);
            emit(user, line);
        }
        for (int c = 0; c < t->folder.num_classes; c++) {
            if (t->classes[c].readable) continue;
            tg_path_escape(t->folder.classes[c], name, sizeof name);
            if (t->classes[c].files == 0)
                snprintf(line, sizeof line, "%s: class '%s' has no image file: training stops",
                         root, name);
            else
                snprintf(line, sizeof line,
                         "%s: class '%s' has no readable image (%zu unreadable): it is never "
                         "seen in training",
                         root, name, t->classes[c].files);
            emit(user, line);
        }
    }
    if (r->class_mismatch) {
        snprintf(line, sizeof line, "%s: training stops", r->class_mismatch);
        emit(user, line);
    }
    if (r->dup_cross) {
        snprintf(line, sizeof line,
                 "%zu image%s under more than one class (a labelling conflict)", r->dup_cross,
                 r->dup_cross == 1 ? " is" : "s are");
        emit(user, line);
    }
    if (r->dup_leak) {
        snprintf(line, sizeof line,
                 "%zu image%s in both --data and --val (leakage: validation accuracy is "
                 "inflated)",
                 r->dup_leak, r->dup_leak == 1 ? " is" : "s are");
        emit(user, line);
    }
}

// ---------------------------------------------------------------------------------
// Text

static void put_path(const char *indent, const char *path, const char *tail) {
    char shown[16384];
    tg_path_escape(path, shown, sizeof shown);
    printf("%s%s%s\n", indent, shown, tail ? tail : "");
}

// "... and N more" after the first EXAMPLES of an informational list.
static void more(size_t count) {
    if (count > EXAMPLES)
        printf("      ... and %zu more (--json lists all)\n", count - EXAMPLES);
}

static void print_classes(const tg_check_set *t) {
    int w = 5;
    char name[1024];
    for (int c = 0; c < t->folder.num_classes; c++) {
        int n = (int)tg_path_escape(t->folder.classes[c], name, sizeof name);
        if (n > w) w = n < 60 ? n : 60;
    }
    printf("  %-*s  %8s  %7s  %7s  %s\n", w, "class", "images", "share", "weight", "(unreadable)");
    for (int c = 0; c < t->folder.num_classes; c++) {
        const tg_check_class *k = &t->classes[c];
        tg_path_escape(t->folder.classes[c], name, sizeof name);
        printf("  %-*s  %8zu  %6.2f%%  ", w, name, k->readable, 100 * k->share);
        if (k->readable)
            printf("%7.4f", k->weight);
        else
            printf("%7s", "-");
        if (k->files > k->readable) printf("  (%zu)", k->files - k->readable);
        if (!k->readable)
            printf("  EMPTY: no readable image");
        else if (k->readable < TG_CHECK_SMALL_CLASS)
            printf("  few: fewer than %d images", TG_CHECK_SMALL_CLASS);
        printf("\n");
    }
    printf("  weight: the balanced class weight, n / (classes x images of the class)\n");
}

static void print_set(const view *v, int s) {
    const tg_check_set *t = &v->r->sets[s];
    put_path(s ? "\n--val " : "--data ", t->folder.root, NULL);
    printf("  %d classes, %zu image files, %zu readable\n", t->folder.num_classes,
           t->folder.count, t->readable);
    print_classes(t);
    if (t->readable)
        printf("  sizes as decoded: shorter side %d / %g / %d, longer side %d / %g / %d "
               "(min / median / max)\n",
               t->short_side.min, t->short_side.median, t->short_side.max, t->long_side.min,
               t->long_side.median, t->long_side.max);
    if (t->nbad) {
        printf("  unreadable: %zu of %zu files (%.1f%%), %s max_bad_fraction %g%s\n", t->nbad,
               t->folder.count, 100.0 * (double)t->nbad / (double)t->folder.count,
               t->bad_exceeds ? "more than" : "within", v->o->max_bad_fraction,
               t->bad_exceeds ? ": training stops" : ": training skips them");
        for (size_t i = 0; i < t->nbad; i++) put_path("    ", t->bad[i].reason, NULL);
    }
    char buf[256];
    bool any = false;
    for (int n = 0; n < TG_CHECK_NOTES; n++) {
        const tg_check_list *l = &t->notes[n];
        if (!l->count) continue;
        if (!any) printf("  loads, but may not be what you expect:\n");
        any = true;
        printf("    %zu  %s\n", l->count, note_text(v, (tg_check_note)n, buf, sizeof buf));
        for (size_t i = 0; i < l->count && i < EXAMPLES; i++)
            put_path("      ", item_path(v, s, l->items[i]), NULL);
        more(l->count);
    }
    if (t->folder.nskipped) printf("  skipped by the scan, as train skips them:\n");
    for (int k = 0; k < TG_FOLDER_SKIP_KINDS; k++) {
        size_t count = 0;
        for (size_t i = 0; i < t->folder.nskipped; i++)
            count += t->folder.skipped[i].kind == (tg_folder_skip_kind)k;
        if (!count) continue;
        printf("    %zu  %s\n", count, skips[k].text);
        for (size_t i = 0, shown = 0; i < t->folder.nskipped && shown < EXAMPLES; i++)
            if (t->folder.skipped[i].kind == (tg_folder_skip_kind)k && ++shown)
                put_path("      ", t->folder.skipped[i].path, NULL);
        more(count);
    }
}

static void print_dup_group(const view *v, const tg_check_dup *d) {
    printf("    group of %zu:\n", d->n);
    for (size_t i = 0; i < d->n; i++) {
        char cls[1100], tail[1200];
        tg_path_escape(item_class(v, d->members[i].set, d->members[i].item), cls, sizeof cls);
        snprintf(tail, sizeof tail, "  (%s, class '%s')", set_key[d->members[i].set], cls);
        put_path("      ", item_path(v, d->members[i].set, d->members[i].item), tail);
    }
}

static void print_dups(const view *v) {
    const tg_check_report *r = v->r;
    static const char *titles[3] = {
        "across classes (a labelling conflict)",
        "between --data and --val (leakage)",
        "within a class (the image weighs twice or more)",
    };
    size_t counts[3] = {r->dup_cross, r->dup_leak, r->dup_within};
    printf("\nexact duplicates (the same decoded pixels): %zu group%s\n", r->ndups,
           r->ndups == 1 ? "" : "s");
    for (int k = 0; k < 3; k++) {
        if (!counts[k]) continue;
        printf("  %s: %zu group%s\n", titles[k], counts[k], counts[k] == 1 ? "" : "s");
        size_t shown = 0;
        for (size_t g = 0; g < r->ndups; g++) {
            const tg_check_dup *d = &r->dups[g];
            bool in = k == 0 ? d->cross_class : k == 1 ? d->leak : d->within_class;
            if (!in || (k == 2 && shown >= EXAMPLES)) continue;  // problems: every group
            print_dup_group(v, d);
            shown++;
        }
        if (k == 2) more(counts[k]);
    }
}

static void print_problem(void *user, const char *line) {
    (*(size_t *)user)++;
    printf("  - %s\n", line);
}

static void print_text(const view *v) {
    for (int s = 0; s < v->r->nsets; s++) print_set(v, s);
    print_dups(v);
    printf("\n");
    if (!v->r->fails) {
        printf("result: nothing here would stop or silently skew training\n");
        return;
    }
    printf("result: training would stop or be skewed:\n");
    size_t n = 0;
    problems(v, print_problem, &n);
}

// ---------------------------------------------------------------------------------
// JSON (the README documents every field)

static cJSON *json_str(const char *s) {
    char *t = tg_cmd_json_text(s);  // valid JSON whatever the bytes of a file name
    cJSON *j = cJSON_CreateString(t ? t : "");
    free(t);
    return j;
}

// {"count": N, "paths": [...]} of a note's items.
static cJSON *json_list(const view *v, int s, const tg_check_list *l) {
    cJSON *o = cJSON_CreateObject(), *a = cJSON_CreateArray();
    cJSON_AddNumberToObject(o, "count", (double)l->count);
    for (size_t i = 0; i < l->count; i++)
        cJSON_AddItemToArray(a, json_str(item_path(v, s, l->items[i])));
    cJSON_AddItemToObject(o, "paths", a);
    return o;
}

static cJSON *json_sides(const tg_check_sides *d) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "min", d->min);
    cJSON_AddNumberToObject(o, "median", d->median);
    cJSON_AddNumberToObject(o, "max", d->max);
    return o;
}

static cJSON *json_set(const view *v, int s) {
    const tg_check_set *t = &v->r->sets[s];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "root", json_str(t->folder.root));
    cJSON_AddNumberToObject(o, "files", (double)t->folder.count);
    cJSON_AddNumberToObject(o, "readable", (double)t->readable);
    cJSON *cl = cJSON_AddArrayToObject(o, "classes");
    for (int c = 0; c < t->folder.num_classes; c++) {
        const tg_check_class *k = &t->classes[c];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToObject(e, "name", json_str(t->folder.classes[c]));
        cJSON_AddNumberToObject(e, "files", (double)k->files);
        cJSON_AddNumberToObject(e, "readable", (double)k->readable);
        cJSON_AddNumberToObject(e, "share", k->share);
        if (k->readable)
            cJSON_AddNumberToObject(e, "weight", k->weight);
        else
            cJSON_AddNullToObject(e, "weight");
        cJSON_AddBoolToObject(e, "empty", k->readable == 0);
        cJSON_AddBoolToObject(e, "few", k->readable > 0 && k->readable < TG_CHECK_SMALL_CLASS);
        cJSON_AddItemToArray(cl, e);
    }
    cJSON *u = cJSON_AddObjectToObject(o, "unreadable");
    cJSON_AddNumberToObject(u, "count", (double)t->nbad);
    cJSON_AddNumberToObject(u, "fraction",
                            t->folder.count ? (double)t->nbad / (double)t->folder.count : 0.0);
    cJSON_AddBoolToObject(u, "exceeds_max_bad_fraction", t->bad_exceeds);
    cJSON *uf = cJSON_AddArrayToObject(u, "files");
    for (size_t i = 0; i < t->nbad; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToObject(e, "path", json_str(item_path(v, s, t->bad[i].item)));
        cJSON_AddItemToObject(e, "reason", json_str(t->bad[i].reason));
        cJSON_AddItemToArray(uf, e);
    }
    cJSON *no = cJSON_AddObjectToObject(o, "notes");
    for (int n = 0; n < TG_CHECK_NOTES; n++)
        cJSON_AddItemToObject(no, notes[n].key, json_list(v, s, &t->notes[n]));
    cJSON *sz = cJSON_AddObjectToObject(o, "sizes");
    cJSON_AddItemToObject(sz, "short_side", json_sides(&t->short_side));
    cJSON_AddItemToObject(sz, "long_side", json_sides(&t->long_side));
    cJSON *sk = cJSON_AddObjectToObject(o, "skipped");
    for (int k = 0; k < TG_FOLDER_SKIP_KINDS; k++) {
        cJSON *e = cJSON_CreateObject(), *a = cJSON_CreateArray();
        for (size_t i = 0; i < t->folder.nskipped; i++)
            if (t->folder.skipped[i].kind == (tg_folder_skip_kind)k)
                cJSON_AddItemToArray(a, json_str(t->folder.skipped[i].path));
        cJSON_AddNumberToObject(e, "count", cJSON_GetArraySize(a));
        cJSON_AddItemToObject(e, "paths", a);
        cJSON_AddItemToObject(sk, skips[k].key, e);
    }
    return o;
}

static cJSON *json_dups(const view *v) {
    const tg_check_report *r = v->r;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "within_class", (double)r->dup_within);
    cJSON_AddNumberToObject(o, "cross_class", (double)r->dup_cross);
    cJSON_AddNumberToObject(o, "leak", (double)r->dup_leak);
    cJSON *groups = cJSON_AddArrayToObject(o, "groups");
    for (size_t g = 0; g < r->ndups; g++) {
        const tg_check_dup *d = &r->dups[g];
        cJSON *e = cJSON_CreateObject(), *im = cJSON_CreateArray();
        for (size_t i = 0; i < d->n; i++) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "set", set_key[d->members[i].set]);
            cJSON_AddItemToObject(m, "class",
                                  json_str(item_class(v, d->members[i].set, d->members[i].item)));
            cJSON_AddItemToObject(m, "path",
                                  json_str(item_path(v, d->members[i].set, d->members[i].item)));
            cJSON_AddItemToArray(im, m);
        }
        cJSON_AddItemToObject(e, "images", im);
        cJSON_AddBoolToObject(e, "within_class", d->within_class);
        cJSON_AddBoolToObject(e, "cross_class", d->cross_class);
        cJSON_AddBoolToObject(e, "leak", d->leak);
        cJSON_AddItemToArray(groups, e);
    }
    return o;
}

static void json_problem(void *user, const char *line) {
    cJSON_AddItemToArray(user, json_str(line));
}

static void print_json(const view *v) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", !v->r->fails);
    cJSON *pr = cJSON_AddArrayToObject(o, "problems");
    problems(v, json_problem, pr);
    cJSON *st = cJSON_AddObjectToObject(o, "settings");
    cJSON_AddNumberToObject(st, "image_size", v->o->image_size);
    cJSON_AddNumberToObject(st, "max_bad_fraction", v->o->max_bad_fraction);
    cJSON_AddNumberToObject(st, "max_pixels", (double)v->o->image.max_pixels);
    cJSON_AddBoolToObject(st, "exif_orientation", v->o->image.exif_orientation);
    cJSON_AddNumberToObject(st, "few_images", TG_CHECK_SMALL_CLASS);
    cJSON_AddNumberToObject(st, "max_aspect", TG_CHECK_MAX_ASPECT);
    for (int s = 0; s < 2; s++) {
        if (s < v->r->nsets)
            cJSON_AddItemToObject(o, set_key[s], json_set(v, s));
        else
            cJSON_AddNullToObject(o, set_key[s]);
    }
    if (v->r->class_mismatch)
        cJSON_AddItemToObject(o, "class_mismatch", json_str(v->r->class_mismatch));
    else
        cJSON_AddNullToObject(o, "class_mismatch");
    cJSON_AddItemToObject(o, "duplicates", json_dups(v));
    char *s = cJSON_Print(o);
    if (s) printf("%s\n", s);
    else fprintf(stderr, "tgfinetune check: out of memory printing the report\n");
    free(s);
    cJSON_Delete(o);
}

// ---------------------------------------------------------------------------------

typedef struct {
    double last;
    bool shown;
} bar;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void on_progress(void *user, int stage, size_t done, size_t total) {
    bar *b = user;
    double t = now_s();
    if (done < total && t - b->last < 0.1) return;
    b->last = t;
    const int W = 24;
    int fill = total ? (int)(W * done / total) : W;
    char line[32];
    for (int i = 0; i < W; i++) line[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    line[W] = 0;
    fprintf(stderr, "\r\033[Kcheck: %s [%s] %zu/%zu", stage ? "comparing duplicates" : "decoding",
            line, done, total);
    fflush(stderr);
    b->shown = true;
}

static const char about[] =
    "Scans an image folder as train does and decodes every image: per-class counts and\n"
    "balanced weights, unreadable files, images that are not plain RGB, sizes, exact\n"
    "duplicates (within a class, across classes, between --data and --val) and what the\n"
    "scan skipped. Reads the folders, never writes into them.\n";
static const char epilog[] =
    "--data, --val, --image-size and --max-bad-fraction given on the command line override\n"
    "the config's. Exit codes: 0 nothing would stop or skew training, 1 something would\n"
    "(unreadable files above the fraction, a class without readable images, other classes\n"
    "in --val, duplicates across classes or between --data and --val) or a folder cannot be\n"
    "scanned, 2 usage or config error.\n";

// --max-bad-fraction X: a number in [0, 1].
static bool parse_fraction(const char *s, double *out) {
    char *end;
    double x = strtod(s, &end);
    if (!*s || *end || !(x >= 0.0 && x <= 1.0)) {
        fprintf(stderr, "tgfinetune check: --max-bad-fraction must be a number in [0, 1] "
                        "(got '%s')\n", s);
        return false;
    }
    *out = x;
    return true;
}

int tg_cmd_check(int argc, char **argv) {
    const char *data = NULL, *val = NULL, *config = NULL, *fraction = NULL;
    bool json = false;
    int threads = 0, image_size = 0;
    const tg_option opts[] = {
        TG_OPT_STRING('d', "data", &data, "DIR", "the training folder: DIR/<class>/<images>"),
        TG_OPT_STRING('v', "val", &val, "DIR", "a validation folder, checked too and compared "
                                               "with --data for leakage"),
        TG_OPT_STRING('c', "config", &config, "FILE",
                      "take data.train, data.val, image_size, max_bad_fraction, max_pixels and "
                      "exif_orientation from a training config"),
        TG_OPT_INT('s', "image-size", &image_size, "N", 1, 8192,
                   "the crop side: smaller images are noted (default 224, as data.image_size)"),
        TG_OPT_STRING('f', "max-bad-fraction", &fraction, "X",
                      "the unreadable share training tolerates (default 0.10, as "
                      "data.max_bad_fraction)"),
        TG_OPT_BOOL('j', "json", &json, "the whole report as one JSON object (see README)"),
        TG_OPT_THREADS(&threads, "decoding threads, 0..1024 (default 0: every core)"),
        TG_OPT_END,
    };
    const tg_cmd_spec spec = {"check", about, opts, epilog, NULL, false};
    int rc = tg_cmd_parse(&spec, argc, argv);
    if (rc != TG_CMD_GO) return rc;
    tg_check_opts co;
    tg_check_opts_default(&co);
    tg_config cfg;
    bool have_cfg = false;
    if (config) {
        tg_error err = {0};
        if (tg_config_load(config, &cfg, &err) != TG_OK) {
            tg_cmd_error("check", err.msg);
            return TG_EXIT_USAGE;  // as train: a config that cannot be used is a usage error
        }
        have_cfg = true;
        if (!data) data = cfg.train_dir;
        if (!val) val = cfg.val_dir;
        co.image_size = cfg.image_size;
        co.max_bad_fraction = cfg.max_bad_fraction;
        co.image.max_pixels = cfg.max_pixels;
        co.image.exif_orientation = cfg.exif_orientation;
    }
    rc = TG_EXIT_USAGE;
    if (fraction && !parse_fraction(fraction, &co.max_bad_fraction)) goto done;
    if (image_size) co.image_size = image_size;
    if (!data) {
        fprintf(stderr, "tgfinetune check: --data DIR (or --config FILE) is required\n");
        tg_cmd_usage(&spec, stderr);
        goto done;
    }
    bar b = {0, false};
    co.threads = threads;
    if (isatty(STDERR_FILENO)) {
        co.progress = on_progress;
        co.user = &b;
    }
    tg_check_report r;
    tg_error err = {0};
    tg_status st = tg_check_run(data, val, &co, &r, &err);
    if (b.shown) fputs("\r\033[K", stderr);
    if (st != TG_OK) {
        tg_cmd_error("check", err.msg);
        rc = TG_EXIT_FAIL;
        goto done;
    }
    view v = {&r, &co};
    if (json)
        print_json(&v);
    else
        print_text(&v);
    fflush(stdout);
    rc = r.fails ? TG_EXIT_FAIL : TG_EXIT_OK;
    tg_check_report_free(&r);
done:
    if (have_cfg) tg_config_free(&cfg);
    return rc;
}
