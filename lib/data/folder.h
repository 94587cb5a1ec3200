// folder.h: torchvision.datasets.ImageFolder's scan of a dataset root.
//
// root/<class>/**/<file>: classes are the subdirectories of root sorted by byte order,
// index = position. Files are found recursively in os.walk order: directories sorted by
// path, files sorted by name. Symlinks are followed, except (unlike torchvision, whose
// os.walk follows them all) a link to the dataset root, to a folder above it, or to a
// directory already walked (another class's folder, a loop): each directory (by device
// and inode) is walked once, for the class that holds it, and each link not followed
// gives a notice. A class folder that is the root, above it, or another class's folder
// is an error. Extensions .png .jpg .jpeg in any case (the decoder still sniffs magic
// bytes). Unlike torchvision, names starting with '.' (.ipynb_checkpoints, .DS_Store) are
// skipped, with a single notice. A class without files, or fewer than 2 classes, is an
// error naming it. lib/ never prints: notices go to the caller's callback. Names in
// messages and notices are escaped for printing (core/escape.h). On request the scan also
// lists what it left out (tg_folder_scan_with), for `tgfinetune check`.
#ifndef TG_DATA_FOLDER_H
#define TG_DATA_FOLDER_H

#include <stddef.h>

#include "core/error.h"

// Receives a human-readable notice (not an error). Called on the caller's thread.
typedef void (*tg_data_notice_fn)(void *user, const char *msg);

typedef struct {
    char *path;  // root-joined path, malloc'd
    int label;   // class index
} tg_folder_item;

// What the scan left out (listed with tg_folder_scan_opts.record_skipped).
typedef enum {
    TG_FOLDER_SKIP_HIDDEN = 0,  // a name starting with '.' inside the tree, or a hidden
                                // folder at the root (hidden files at the root are not listed)
    TG_FOLDER_SKIP_LINK,        // a symlink (or second path) to a folder that is not walked
    TG_FOLDER_SKIP_EXTENSION,   // a file under a class folder not named .png/.jpg/.jpeg
    TG_FOLDER_SKIP_OUTSIDE,     // a file directly in the root, in no class folder
    TG_FOLDER_SKIP_KINDS
} tg_folder_skip_kind;

typedef struct {
    char *path;  // root-joined path, malloc'd
    tg_folder_skip_kind kind;
    int label;   // the class folder it is under, -1 for the root
} tg_folder_skip;

typedef struct {
    char *root;
    int num_classes;
    char **classes;         // (num_classes,) names, sorted
    size_t *class_counts;   // (num_classes,) files per class
    size_t count;
    tg_folder_item *items;  // (count,) ImageFolder order: class, then os.walk order
    size_t hidden_skipped;  // names starting with '.' that were skipped
    size_t links_skipped;   // symlinks to directories not followed (see above)
    tg_folder_skip *skipped;  // (nskipped,) sorted by path; only with record_skipped
    size_t nskipped;
} tg_folder;

typedef struct {
    tg_data_notice_fn notice;  // may be NULL: as tg_folder_scan's notice
    void *notice_user;
    int record_skipped;        // list every entry left out in f->skipped
    int allow_empty_classes;   // a class folder without image files is not an error
} tg_folder_scan_opts;

// Scans root. notice (may be NULL) receives one message if hidden names were skipped and
// one for each symlink not followed.
tg_status tg_folder_scan(tg_folder *f, const char *root, tg_data_notice_fn notice,
                         void *notice_user, tg_error *err);
// The same scan with options (o may be NULL: no notices, nothing listed).
tg_status tg_folder_scan_with(tg_folder *f, const char *root, const tg_folder_scan_opts *o,
                              tg_error *err);

// TG_OK if val has exactly train's classes in the same order; otherwise an error that
// names the missing / extra class.
tg_status tg_folder_check_same_classes(const tg_folder *train, const tg_folder *val,
                                       tg_error *err);

void tg_folder_free(tg_folder *f);

#endif
