// folder.c: the ImageFolder scan (torchvision.datasets.folder.make_dataset).
//
// torchvision: classes = sorted(d.name for d in scandir(root) if d.is_dir()); for each
// class, for root, _, fnames in sorted(os.walk(dir, followlinks=True)): for f in
// sorted(fnames): keep f if its lower-cased name ends with an allowed extension. Sorting
// os.walk's tuples orders directories by their path string, so files are ordered by
// (directory path, file name), both compared as bytes (= code points for UTF-8).
#include "data/folder.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/escape.h"

typedef struct {
    char *dir;   // directory path (borrowed from the dirs list)
    char *name;  // file name, malloc'd
} file_ent;

typedef struct {
    file_ent *v;
    size_t n, cap;
    char **dirs;  // every directory path allocated during the walk
    size_t ndirs, capdirs;
    struct {
        dev_t dev;
        ino_t ino;
    } *seen;
    size_t nseen, capseen;
    size_t hidden;
    char hidden_example[256];
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

static __attribute__((noinline)) void note_hidden(walk_state *w, const char *dir,
                                                  const char *name) {
    if (w->hidden++ != 0) return;
    char raw[4096];
    snprintf(raw, sizeof raw, "%s/%s", dir, name);
    tg_path_escape(raw, w->hidden_example, sizeof w->hidden_example);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_file(const void *a, const void *b) {
    const file_ent *x = a, *y = b;
    int c = strcmp(x->dir, y->dir);
    return c ? c : strcmp(x->name, y->name);
}

// Walks dir recursively (following symlinks; a directory already seen is not entered
// again, which cuts symlink loops).
static tg_status walk(walk_state *w, const char *dir, int depth, tg_error *err) {
    if (depth > 256) return path_error(err, TG_ERR_IO, dir, "directories nested too deeply", "");
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return path_error(err, TG_ERR_IO, dir, "cannot stat: ", strerror(errno));
    for (size_t i = 0; i < w->nseen; i++)
        if (w->seen[i].dev == sb.st_dev && w->seen[i].ino == sb.st_ino) return TG_OK;
    if (grow((void **)&w->seen, &w->capseen, w->nseen + 1, sizeof *w->seen) != 0)
        return path_error(err, TG_ERR_NOMEM, dir, "out of memory while scanning", "");
    w->seen[w->nseen].dev = sb.st_dev;
    w->seen[w->nseen].ino = sb.st_ino;
    w->nseen++;

    DIR *d = opendir(dir);
    if (!d) return path_error(err, TG_ERR_IO, dir, "cannot open directory: ", strerror(errno));
    char *mydir = strdup(dir);
    if (!mydir || grow((void **)&w->dirs, &w->capdirs, w->ndirs + 1, sizeof(char *)) != 0) {
        free(mydir);
        closedir(d);
        return path_error(err, TG_ERR_NOMEM, dir, "out of memory while scanning", "");
    }
    w->dirs[w->ndirs++] = mydir;
    char **subdirs = NULL;
    size_t nsub = 0, capsub = 0;
    tg_status st = TG_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
        if (name[0] == '.') {
            note_hidden(w, dir, name);
            continue;
        }
        char *path = join(dir, name);
        if (!path) {
            st = path_error(err, TG_ERR_NOMEM, dir, "out of memory while scanning", "");
            break;
        }
        struct stat es;
        int is_dir = stat(path, &es) == 0 && S_ISDIR(es.st_mode);  // follows symlinks
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
        if (!has_image_ext(name)) continue;
        char *nm = strdup(name);
        if (!nm || grow((void **)&w->v, &w->cap, w->n + 1, sizeof(file_ent)) != 0) {
            free(nm);
            st = path_error(err, TG_ERR_NOMEM, dir, "out of memory while scanning", "");
            break;
        }
        w->v[w->n].dir = mydir;
        w->v[w->n].name = nm;
        w->n++;
    }
    closedir(d);
    if (st == TG_OK) {
        if (nsub > 1) qsort(subdirs, nsub, sizeof(char *), cmp_str);
        for (size_t i = 0; i < nsub && st == TG_OK; i++) st = walk(w, subdirs[i], depth + 1, err);
    }
    for (size_t i = 0; i < nsub; i++) free(subdirs[i]);
    free(subdirs);
    return st;
}

static void walk_free(walk_state *w) {
    for (size_t i = 0; i < w->n; i++) free(w->v[i].name);
    free(w->v);
    for (size_t i = 0; i < w->ndirs; i++) free(w->dirs[i]);
    free(w->dirs);
    free(w->seen);
    memset(w, 0, sizeof *w);
}

tg_status tg_folder_scan(tg_folder *f, const char *root, tg_data_notice_fn notice,
                         void *notice_user, tg_error *err) {
    memset(f, 0, sizeof *f);
    walk_state w;
    memset(&w, 0, sizeof w);
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
        if (!is_dir) continue;
        if (name[0] == '.') {
            note_hidden(&w, f->root, name);
            continue;
        }
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
    size_t capi = 0;
    for (int c = 0; c < f->num_classes; c++) {
        char *cdir = join(f->root, f->classes[c]);
        if (!cdir) {
            st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
            goto fail;
        }
        size_t n0 = w.n;
        w.nseen = 0;  // loops are cut within a class; two classes may share a target
        st = walk(&w, cdir, 0, err);
        free(cdir);
        if (st != TG_OK) goto fail;
        size_t cnt = w.n - n0;
        if (cnt == 0) {
            char shown_root[TG_ERR_MSG_MAX], shown_class[TG_ERR_MSG_MAX];
            tg_path_escape(f->root, shown_root, sizeof shown_root);
            tg_path_escape(f->classes[c], shown_class, sizeof shown_class);
            st = tg_error_set(err, TG_ERR_VALUE,
                              "%s: class '%s' has 0 images (.png, .jpg or .jpeg files)",
                              shown_root, shown_class);
            goto fail;
        }
        qsort(w.v + n0, cnt, sizeof(file_ent), cmp_file);
        if (grow((void **)&f->items, &capi, f->count + cnt, sizeof(tg_folder_item)) != 0) {
            st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = n0; i < w.n; i++) {
            char *p = join(w.v[i].dir, w.v[i].name);
            if (!p) {
                st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
                goto fail;
            }
            f->items[f->count].path = p;
            f->items[f->count].label = c;
            f->count++;
        }
        f->class_counts[c] = cnt;
    }
    f->hidden_skipped = w.hidden;
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
    free(f->root);
    memset(f, 0, sizeof *f);
}
