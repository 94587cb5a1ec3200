// folder.c: the ImageFolder scan (torchvision.datasets.folder.make_dataset).
//
// torchvision: classes = sorted(d.name for d in scandir(root) if d.is_dir()); for each
// class, for root, _, fnames in sorted(os.walk(dir, followlinks=True)): for f in
// sorted(fnames): keep f if its lower-cased name ends with an allowed extension. Sorting
// os.walk's tuples orders directories by their path string, so files are ordered by
// (directory path, file name), both compared as bytes (= code points for UTF-8).
//
// One difference: os.walk(followlinks=True) follows every symlink, so a link to the
// dataset root, to a folder above it or to another class's folder relabels (or repeats)
// images. Here the root and its ancestors are never entered, each directory (by device
// and inode) is walked once for the whole dataset, and symlinks are followed only after
// every class folder's own tree, so a link never takes a directory from its class. A link
// that is not followed gives a notice naming it. Links elsewhere are followed as os.walk.
#include "data/folder.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/escape.h"

typedef struct {
    char *dir;   // directory path (borrowed from the dirs list)
    char *name;  // file name, malloc'd
    int label;   // class index
} file_ent;

// A directory the scan must not enter (again): one already walked, or the dataset root or
// one of its ancestors (dir NULL), which a symlink would turn into a walk of everything.
typedef struct {
    dev_t dev;
    ino_t ino;
    const char *dir;  // the path it was walked as (borrowed from dirs); NULL: root or above
    int label;        // the class it was walked for (-1 for the root and its ancestors)
} seen_dir;

// A symlink to a directory, followed after every class folder's own tree is walked.
typedef struct {
    char *path;  // malloc'd
    int label;
    int depth;
} pending_link;

typedef struct {
    file_ent *v;
    size_t n, cap;
    char **dirs;  // every directory path allocated during the walk
    size_t ndirs, capdirs;
    seen_dir *seen;  // shared by every class: a directory is walked at most once
    size_t nseen, capseen;
    size_t *slots;  // (nslots,) open-addressing hash of seen by (dev, ino): index + 1, 0 free
    size_t nslots;  // a power of two, at least twice nseen
    pending_link *links;
    size_t nlinks, caplinks;
    size_t hidden;
    char hidden_example[256];
    size_t links_skipped;
    tg_folder_skip *skips;  // what was left out, when record_skipped
    size_t nskips, capskips;
    int record;
    char *const *classes;  // class names, for notices
    tg_data_notice_fn notice;
    void *notice_user;
} walk_state;

static int grow(void **v, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *p = realloc(*v, nc * elem);
    if (!p) return -1;
    *v = p;
    *cap = nc;
    return 0;
}

// Sets err to "<path>: <what><detail>" with path escaped for printing (tg_path_escape).
// Not inlined into the recursive walk, so its buffer is not on every level's stack frame.
static __attribute__((noinline)) tg_status path_error(tg_error *err, tg_status st,
                                                      const char *path, const char *what,
                                                      const char *detail) {
    char shown[TG_ERR_MSG_MAX];
    tg_path_escape(path, shown, sizeof shown);
    return tg_error_set(err, st, "%s: %s%s", shown, what, detail);
}

static char *join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *p = malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

static int has_image_ext(const char *name) {
    static const char *exts[] = {".png", ".jpg", ".jpeg"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t e = strlen(exts[i]);
        if (n >= e && strcasecmp(name + n - e, exts[i]) == 0) return 1;
    }
    return 0;
}

// Lists dir/name as left out (kind) when the caller asked for the list. -1: out of memory.
static int record_skip(walk_state *w, const char *dir, const char *name,
                       tg_folder_skip_kind kind, int label) {
    if (!w->record) return 0;
    char *path = name ? join(dir, name) : strdup(dir);
    if (!path || grow((void **)&w->skips, &w->capskips, w->nskips + 1, sizeof *w->skips) != 0) {
        free(path);
        return -1;
    }
    w->skips[w->nskips++] = (tg_folder_skip){path, kind, label};
    return 0;
}

static int cmp_skip(const void *a, const void *b) {
    return strcmp(((const tg_folder_skip *)a)->path, ((const tg_folder_skip *)b)->path);
}

// -1: out of memory (listing it).
static __attribute__((noinline)) int note_hidden(walk_state *w, const char *dir,
                                                 const char *name, int label) {
    if (record_skip(w, dir, name, TG_FOLDER_SKIP_HIDDEN, label) != 0) return -1;
    if (w->hidden++ != 0) return 0;
    char raw[4096];
    snprintf(raw, sizeof raw, "%s/%s", dir, name);
    tg_path_escape(raw, w->hidden_example, sizeof w->hidden_example);
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_file(const void *a, const void *b) {
    const file_ent *x = a, *y = b;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    int c = strcmp(x->dir, y->dir);
    return c ? c : strcmp(x->name, y->name);
}

static size_t seen_hash(dev_t dev, ino_t ino) {
    uint64_t h = ((uint64_t)dev * 0x9e3779b97f4a7c15u) ^ (uint64_t)ino;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9u;
    return (size_t)(h ^ (h >> 29));
}

static const seen_dir *find_seen(const walk_state *w, const struct stat *sb) {
    if (!w->nslots) return NULL;
    for (size_t i = seen_hash(sb->st_dev, sb->st_ino);; i++) {
        size_t k = w->slots[i & (w->nslots - 1)];
        if (!k) return NULL;
        if (w->seen[k - 1].dev == sb->st_dev && w->seen[k - 1].ino == sb->st_ino)
            return &w->seen[k - 1];
    }
}

static void slot_insert(size_t *slots, size_t nslots, const seen_dir *s, size_t index) {
    size_t i = seen_hash(s->dev, s->ino);
    while (slots[i & (nslots - 1)]) i++;
    slots[i & (nslots - 1)] = index + 1;
}

// Adds a directory not in the set yet. -1 if out of memory.
static int add_seen(walk_state *w, const struct stat *sb, const char *dir, int label) {
    if (grow((void **)&w->seen, &w->capseen, w->nseen + 1, sizeof *w->seen) != 0) return -1;
    if (2 * (w->nseen + 1) > w->nslots) {
        size_t n = w->nslots ? 2 * w->nslots : 64;
        size_t *slots = calloc(n, sizeof *slots);
        if (!slots) return -1;
        for (size_t i = 0; i < w->nseen; i++) slot_insert(slots, n, &w->seen[i], i);
        free(w->slots);
        w->slots = slots;
        w->nslots = n;
    }
    w->seen[w->nseen] = (seen_dir){sb->st_dev, sb->st_ino, dir, label};
    slot_insert(w->slots, w->nslots, &w->seen[w->nseen], w->nseen);
    w->nseen++;
    return 0;
}

// "<path>: <what> <where>" for a directory that is not entered (again).
static __attribute__((noinline)) void describe_skip(const walk_state *w, const seen_dir *s,
                                                    const char *path, const char *what,
                                                    char *msg, size_t n) {
    char p[TG_ERR_MSG_MAX / 2], where[TG_ERR_MSG_MAX / 2], cls[256];
    tg_path_escape(path, p, sizeof p);
    if (!s->dir) {
        snprintf(msg, n, "%s: %s the dataset folder or a folder that contains it", p, what);
        return;
    }
    tg_path_escape(s->dir, where, sizeof where);
    tg_path_escape(w->classes[s->label], cls, sizeof cls);
    snprintf(msg, n, "%s: %s %s, already scanned for class '%s'", p, what, where, cls);
}

// A symlink (or a second path, as a bind mount gives) to a directory that is not entered:
// one notice each, so the images it would have added are not silently missing. -1: out of
// memory (listing it).
static __attribute__((noinline)) int note_skipped(walk_state *w, const seen_dir *s,
                                                  const char *path, int is_link, int label) {
    if (record_skip(w, path, NULL, TG_FOLDER_SKIP_LINK, label) != 0) return -1;
    w->links_skipped++;
    if (!w->notice) return 0;
    char msg[TG_ERR_MSG_MAX];
    describe_skip(w, s, path, is_link ? "symlink not followed: it points to" : "not scanned: it is",
                  msg, sizeof msg);
    w->notice(w->notice_user, msg);
    return 0;
}

static __attribute__((noinline)) tg_status class_folder_error(const walk_state *w,
                                                              const seen_dir *s,
                                                              const char *dir, tg_error *err) {
    char msg[TG_ERR_MSG_MAX];
    describe_skip(w, s, dir, "class folder is", msg, sizeof msg);
    return tg_error_set(err, TG_ERR_VALUE, "%s", msg);
}

// Walks dir for class label: its files, then its subdirectories recursively, in sorted
// order. Symlinks to directories are queued in w->links and followed after every class's
// own tree (tg_folder_scan), so a link never claims a directory that a class folder holds.
// A directory already in w->seen is not entered: that cuts loops, and keeps a link to the
// dataset root, an ancestor of it or another class's folder from relabelling images.
static tg_status walk(walk_state *w, const char *dir, int label, int depth, int is_link,
                      tg_error *err) {
    if (depth > 256) return path_error(err, TG_ERR_IO, dir, "directories nested too deeply", "");
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return path_error(err, TG_ERR_IO, dir, "cannot stat: ", strerror(errno));
    const seen_dir *seen = find_seen(w, &sb);
    if (seen) {
        if (depth > 0) {
            if (note_skipped(w, seen, dir, is_link, label) != 0)
                return path_error(err, TG_ERR_NOMEM, dir, "out of memory while scanning", "");
            return TG_OK;
        }
        return class_folder_error(w, seen, dir, err);  // a link to the root or a class
    }

    DIR *d = opendir(dir);
    if (!d) return path_error(err, TG_ERR_IO, dir, "cannot open directory: ", strerror(errno));
    char *mydir = strdup(dir);
    if (!mydir || grow((void **)&w->dirs, &w->capdirs, w->ndirs + 1, sizeof(char *)) != 0) {
        free(mydir);
        closedir(d);
        return path_error(err, TG_ERR_NOMEM, dir, "out of memory while scanning", "");
    }
    w->dirs[w->ndirs++] = mydir;
    if (add_seen(w, &sb, mydir, label) != 0) {
        closedir(d);
        return path_error(err, TG_ERR_NOMEM, dir, "out of memory while scanning", "");
    }
    char **subdirs = NULL;
    size_t nsub = 0, capsub = 0;
    tg_status st = TG_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        if (name[0] == '.') {
            if (note_hidden(w, dir, name, label) != 0) {
                st = path_error(err, TG_ERR_NOMEM, dir, "out of memory while scanning", "");
                break;
            }
            continue;
        }
        char *path = join(dir, name);
        if (!path) {
            st = path_error(err, TG_ERR_NOMEM, dir, "out of memory while scanning", "");
            break;
        }
        struct stat ls, es;
        int link = lstat(path, &ls) == 0 && S_ISLNK(ls.st_mode);
        int is_dir = stat(path, &es) == 0 && S_ISDIR(es.st_mode);  // follows symlinks
        if (is_dir && link) {
            if (grow((void **)&w->links, &w->caplinks, w->nlinks + 1, sizeof *w->links) != 0) {
                free(path);
                st = path_error(err, TG_ERR_NOMEM, dir, "out of memory while scanning", "");
                break;
            }
            w->links[w->nlinks++] = (pending_link){path, label, depth + 1};
            continue;
        }
        if (is_dir) {
            if (grow((void **)&subdirs, &capsub, nsub + 1, sizeof(char *)) != 0) {
                free(path);
                st = path_error(err, TG_ERR_NOMEM, dir, "out of memory while scanning", "");
                break;
            }
            subdirs[nsub++] = path;
            continue;
        }
        free(path);
        if (!has_image_ext(name)) {
            if (record_skip(w, dir, name, TG_FOLDER_SKIP_EXTENSION, label) != 0) {
                st = path_error(err, TG_ERR_NOMEM, dir, "out of memory while scanning", "");
                break;
            }
            continue;
        }
        char *nm = strdup(name);
        if (!nm || grow((void **)&w->v, &w->cap, w->n + 1, sizeof(file_ent)) != 0) {
            free(nm);
            st = path_error(err, TG_ERR_NOMEM, dir, "out of memory while scanning", "");
            break;
        }
        w->v[w->n++] = (file_ent){mydir, nm, label};
    }
    closedir(d);
    if (st == TG_OK) {
        if (nsub > 1) qsort(subdirs, nsub, sizeof(char *), cmp_str);
        for (size_t i = 0; i < nsub && st == TG_OK; i++)
            st = walk(w, subdirs[i], label, depth + 1, 0, err);
    }
    for (size_t i = 0; i < nsub; i++) free(subdirs[i]);
    free(subdirs);
    return st;
}

// Puts the dataset root and every folder above it (by device and inode, following "..")
// in the seen set: a symlink to any of them would walk the whole dataset again (or the
// whole disk) under one class.
static tg_status seen_root_and_ancestors(walk_state *w, const char *root, tg_error *err) {
    size_t rl = strlen(root);
    char *p = malloc(rl + 1);
    if (!p) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    memcpy(p, root, rl + 1);
    struct stat sb, prev;
    tg_status st = TG_OK;
    for (int level = 0; level < 4096 && stat(p, &sb) == 0; level++) {
        if (level > 0 && sb.st_dev == prev.st_dev && sb.st_ino == prev.st_ino) break;  // at "/"
        if (!find_seen(w, &sb) && add_seen(w, &sb, NULL, -1) != 0) {
            st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
            break;
        }
        prev = sb;
        size_t l = strlen(p);
        char *q = realloc(p, l + 4);
        if (!q) {
            st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
            break;
        }
        p = q;
        memcpy(p + l, "/..", 4);
    }
    free(p);
    return st;
}

static void walk_free(walk_state *w) {
    for (size_t i = 0; i < w->n; i++) free(w->v[i].name);
    free(w->v);
    for (size_t i = 0; i < w->ndirs; i++) free(w->dirs[i]);
    free(w->dirs);
    free(w->seen);
    free(w->slots);
    for (size_t i = 0; i < w->nlinks; i++) free(w->links[i].path);
    free(w->links);
    for (size_t i = 0; i < w->nskips; i++) free(w->skips[i].path);
    free(w->skips);
    memset(w, 0, sizeof *w);
}

tg_status tg_folder_scan(tg_folder *f, const char *root, tg_data_notice_fn notice,
                         void *notice_user, tg_error *err) {
    tg_folder_scan_opts o = {.notice = notice, .notice_user = notice_user};
    return tg_folder_scan_with(f, root, &o, err);
}

tg_status tg_folder_scan_with(tg_folder *f, const char *root, const tg_folder_scan_opts *o,
                              tg_error *err) {
    static const tg_folder_scan_opts none = {0};
    if (!o) o = &none;
    tg_data_notice_fn notice = o->notice;
    void *notice_user = o->notice_user;
    memset(f, 0, sizeof *f);
    walk_state w;
    memset(&w, 0, sizeof w);
    w.record = o->record_skipped;
    tg_status st = TG_OK;
    DIR *d = NULL;
    size_t capc = 0;

    f->root = strdup(root);
    if (!f->root) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    size_t rl = strlen(f->root);
    while (rl > 1 && f->root[rl - 1] == '/') f->root[--rl] = 0;

    d = opendir(f->root);
    if (!d) {
        st = path_error(err, TG_ERR_IO, root, "cannot open dataset folder: ", strerror(errno));
        goto fail;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        char *path = join(f->root, name);
        if (!path) {
            st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
            goto fail;
        }
        struct stat sb;
        int is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
        free(path);
        int listed = 0;
        if (!is_dir && name[0] != '.')
            listed = record_skip(&w, f->root, name, TG_FOLDER_SKIP_OUTSIDE, -1);
        else if (is_dir && name[0] == '.')
            listed = note_hidden(&w, f->root, name, -1);
        if (listed != 0) {
            st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if (!is_dir || name[0] == '.') continue;
        char *nm = strdup(name);
        if (!nm || grow((void **)&f->classes, &capc, (size_t)f->num_classes + 1, sizeof(char *)) != 0) {
            free(nm);
            st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
            goto fail;
        }
        f->classes[f->num_classes++] = nm;
    }
    closedir(d);
    d = NULL;
    if (f->num_classes < 2) {
        char shown_root[TG_ERR_MSG_MAX], shown_class[TG_ERR_MSG_MAX];
        tg_path_escape(f->root, shown_root, sizeof shown_root);
        tg_path_escape(f->num_classes == 1 ? f->classes[0] : "", shown_class, sizeof shown_class);
        st = tg_error_set(err, TG_ERR_VALUE,
                          "%s: found %d class folder%s%s%s; need at least 2 (one subfolder per class)",
                          shown_root, f->num_classes, f->num_classes == 1 ? " '" : "s",
                          shown_class, f->num_classes == 1 ? "'" : "");
        goto fail;
    }
    qsort(f->classes, (size_t)f->num_classes, sizeof(char *), cmp_str);
    f->class_counts = calloc((size_t)f->num_classes, sizeof(size_t));
    if (!f->class_counts) {
        st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    // Every class's own tree first, then the symlinks to directories found on the way
    // (links inside those are queued in turn), so a directory inside a class folder always
    // belongs to that class. Each directory is walked once for the whole dataset.
    w.classes = f->classes;
    w.notice = notice;
    w.notice_user = notice_user;
    if ((st = seen_root_and_ancestors(&w, f->root, err)) != TG_OK) goto fail;
    for (int c = 0; c < f->num_classes; c++) {
        char *cdir = join(f->root, f->classes[c]);
        if (!cdir) {
            st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
            goto fail;
        }
        st = walk(&w, cdir, c, 0, 0, err);
        free(cdir);
        if (st != TG_OK) goto fail;
    }
    for (size_t i = 0; i < w.nlinks; i++) {  // w.nlinks grows as links are found
        pending_link l = w.links[i];
        if ((st = walk(&w, l.path, l.label, l.depth, 1, err)) != TG_OK) goto fail;
    }
    if (w.n > 1) qsort(w.v, w.n, sizeof(file_ent), cmp_file);  // class, directory, name
    for (size_t i = 0; i < w.n; i++) f->class_counts[w.v[i].label]++;
    for (int c = 0; c < f->num_classes && !o->allow_empty_classes; c++) {
        if (f->class_counts[c] > 0) continue;
        char shown_root[TG_ERR_MSG_MAX], shown_class[TG_ERR_MSG_MAX];
        tg_path_escape(f->root, shown_root, sizeof shown_root);
        tg_path_escape(f->classes[c], shown_class, sizeof shown_class);
        st = tg_error_set(err, TG_ERR_VALUE,
                          "%s: class '%s' has 0 images (.png, .jpg or .jpeg files)", shown_root,
                          shown_class);
        goto fail;
    }
    f->items = malloc(w.n * sizeof(tg_folder_item));
    if (!f->items) {
        st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < w.n; i++) {
        char *p = join(w.v[i].dir, w.v[i].name);
        if (!p) {
            st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
            goto fail;
        }
        f->items[f->count].path = p;
        f->items[f->count].label = w.v[i].label;
        f->count++;
    }
    f->links_skipped = w.links_skipped;
    f->hidden_skipped = w.hidden;
    if (w.nskips > 1) qsort(w.skips, w.nskips, sizeof *w.skips, cmp_skip);
    f->skipped = w.skips;  // the list moves to f
    f->nskipped = w.nskips;
    w.skips = NULL;
    w.nskips = 0;
    if (w.hidden && notice) {
        char shown_root[TG_ERR_MSG_MAX], msg[TG_ERR_MSG_MAX];
        tg_path_escape(f->root, shown_root, sizeof shown_root);
        snprintf(msg, sizeof msg,
                 "%s: skipped %zu hidden name%s starting with '.' (e.g. %s)", shown_root,
                 w.hidden, w.hidden == 1 ? "" : "s", w.hidden_example);
        notice(notice_user, msg);
    }
    walk_free(&w);
    return TG_OK;
fail:
    if (d) closedir(d);
    walk_free(&w);
    tg_folder_free(f);
    return st;
}

// The class-mismatch message, every name in it escaped for printing.
static tg_status class_error(tg_error *err, const tg_folder *train, const tg_folder *val,
                             const char *name, int missing) {
    char vr[TG_ERR_MSG_MAX], tr[TG_ERR_MSG_MAX], nm[TG_ERR_MSG_MAX];
    tg_path_escape(val->root, vr, sizeof vr);
    tg_path_escape(name, nm, sizeof nm);
    tg_path_escape(train->root, tr, sizeof tr);
    if (missing)
        return tg_error_set(err, TG_ERR_VALUE,
                            "%s: class '%s' of the training folder %s is missing", vr, nm, tr);
    return tg_error_set(err, TG_ERR_VALUE,
                        "%s: class '%s' is not a class of the training folder %s", vr, nm, tr);
}

tg_status tg_folder_check_same_classes(const tg_folder *train, const tg_folder *val,
                                       tg_error *err) {
    for (int i = 0; i < train->num_classes; i++) {
        int found = 0;
        for (int j = 0; j < val->num_classes && !found; j++)
            found = strcmp(train->classes[i], val->classes[j]) == 0;
        if (!found)
            return class_error(err, train, val, train->classes[i], 1);
    }
    for (int j = 0; j < val->num_classes; j++) {
        int found = 0;
        for (int i = 0; i < train->num_classes && !found; i++)
            found = strcmp(train->classes[i], val->classes[j]) == 0;
        if (!found)
            return class_error(err, train, val, val->classes[j], 0);
    }
    return TG_OK;  // same set, both sorted: same order and indices
}

void tg_folder_free(tg_folder *f) {
    if (!f) return;
    for (int i = 0; i < f->num_classes; i++) free(f->classes[i]);
    free(f->classes);
    free(f->class_counts);
    for (size_t i = 0; i < f->count; i++) free(f->items[i].path);
    free(f->items);
    for (size_t i = 0; i < f->nskipped; i++) free(f->skipped[i].path);
    free(f->skipped);
    free(f->root);
    memset(f, 0, sizeof *f);
}
