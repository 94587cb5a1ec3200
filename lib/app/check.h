// check.h: what `tgfinetune check` finds in a dataset before training. The folders are
// scanned as train scans them (data/folder.h: the same classes, the same files) and every
// image is decoded as train decodes it (data/image.h), on several threads. The report
// holds, per folder: each class's image count, share and "balanced" class weight; every
// unreadable file with the decoder's message; the images that load but are not what the
// user may think (CMYK, 16-bit, palette, alpha, gray, EXIF-rotated, small, extreme aspect
// ratio); the size distribution; what the scan left out. Across both folders: exact
// duplicates (the same decoded pixels and size) within a class, across classes and
// between --data and --val. Files are only read, never written. lib/ never prints:
// cmd/check.c prints the report as text or JSON.
#ifndef TG_APP_CHECK_H
#define TG_APP_CHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "data/folder.h"
#include "data/image.h"

#define TG_CHECK_SMALL_CLASS 10  // a class with fewer readable images (but some) is flagged
#define TG_CHECK_MAX_ASPECT 3.0  // a longer side above 3 x the shorter one is extreme

// Images that load but may not be what the user thinks (indices into tg_check_set.notes).
typedef enum {
    TG_CHECK_CMYK = 0,     // a CMYK or YCCK JPEG (converted with PIL's formula, no profile)
    TG_CHECK_16BIT,        // 16 bits per sample (reduced to 8; 16-bit gray is clipped)
    TG_CHECK_PALETTE,      // a palette PNG
    TG_CHECK_ALPHA,        // an alpha channel or tRNS transparency, discarded
    TG_CHECK_GRAY,         // gray or gray+alpha (trained as three equal channels)
    TG_CHECK_EXIF,         // EXIF orientation 2..8 (applied when exif_orientation is on)
    TG_CHECK_SMALL,        // shorter side (as decoded) below image_size: upscaled
    TG_CHECK_ASPECT,       // longer side above TG_CHECK_MAX_ASPECT x the shorter side
    TG_CHECK_NOTES
} tg_check_note;

typedef struct {
    size_t files;     // image files the scan found in the class
    size_t readable;  // of which decoded
    double share;     // readable / the folder's readable images (0 when there are none)
    double weight;    // scikit-learn's "balanced": n / (C * readable), n = the folder's
                      // readable images, C = classes; 0 for a class without readable images
} tg_check_class;

typedef struct {
    size_t item;   // index into folder.items
    char *reason;  // the decoder's message, as training reports it (names the file)
} tg_check_bad;

typedef struct {
    size_t *items;  // (count,) indices into folder.items, in folder order
    size_t count;
} tg_check_list;

typedef struct {
    int min, max;
    double median;  // of an even count: the mean of the two middle values (numpy.median)
} tg_check_sides;

typedef struct {
    tg_folder folder;         // the scan: classes, items, skipped entries (folder.skipped)
    tg_check_class *classes;  // (folder.num_classes,)
    size_t readable;          // images that decoded
    tg_check_bad *bad;        // (nbad,) unreadable files, in folder order
    size_t nbad;
    bool bad_exceeds;         // nbad > max_bad_fraction * folder.count: training stops
    size_t empty_classes;     // classes without a readable image
    size_t small_classes;     // classes with 1 to TG_CHECK_SMALL_CLASS - 1 readable images
    tg_check_list notes[TG_CHECK_NOTES];
    tg_check_sides short_side, long_side;  // of the readable images as decoded
} tg_check_set;

typedef struct {
    int set;      // 0: --data, 1: --val
    size_t item;  // index into that set's folder.items
} tg_check_ref;

// A group of two or more images with the same decoded pixels (hashed, then compared).
typedef struct {
    tg_check_ref *members;  // (n,) --data before --val, each in folder order
    size_t n;
    bool within_class;      // two members in the same folder and class
    bool cross_class;       // members under different class names: a labelling conflict
    bool leak;              // members in both --data and --val
} tg_check_dup;

typedef struct {
    tg_check_set sets[2];   // [0]: --data; [1]: --val when nsets is 2
    int nsets;
    char *class_mismatch;   // --val's classes are not --data's: the message train gives
    tg_check_dup *dups;     // (ndups,) ordered by their first member
    size_t ndups;
    size_t dup_within, dup_cross, dup_leak;  // groups of each kind (a group can be several)
    bool fails;  // something would stop or silently skew training: unreadable files over
                 // the fraction, an empty class, other classes in --val, cross-class
                 // duplicates or leakage (the exit status 1 of `check`)
} tg_check_report;

typedef struct {
    int image_size;           // the crop side (default 224): smaller images are noted
    double max_bad_fraction;  // default 0.10, as data.max_bad_fraction
    tg_image_opts image;      // max_pixels, exif_orientation (defaults as train)
    int threads;              // decoding threads (0: every core)
    // Called on the caller's thread while the images are decoded (stage 0) and while
    // duplicate candidates are compared (stage 1): items done out of total. May be NULL.
    void (*progress)(void *user, int stage, size_t done, size_t total);
    void *user;
} tg_check_opts;

void tg_check_opts_default(tg_check_opts *o);

// Scans data_dir (and val_dir, may be NULL), decodes every image and fills r. Fails only
// when a folder cannot be scanned (missing, fewer than 2 classes) or memory runs out;
// everything else is in the report. On failure r is left empty.
tg_status tg_check_run(const char *data_dir, const char *val_dir, const tg_check_opts *o,
                       tg_check_report *r, tg_error *err);
void tg_check_report_free(tg_check_report *r);

#endif
