// rundir.c: the run's output directory (see rundir.h).
#include "app/rundir.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "io/atomic.h"

char *tg_rundir_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%s", dir, name);
    return s;
}

tg_status tg_rundir_mkdir(const char *path, tg_error *err) {
    char *buf = strdup(path);
    if (!buf) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST) {
            tg_status st = tg_error_set(err, TG_ERR_IO, "%s: cannot create the directory: %s",
                                        buf, strerror(errno));
            free(buf);
            return st;
        }
        *p = c;
        if (!c) break;
    }
    free(buf);
    struct stat sb;
    if (stat(path, &sb) || !S_ISDIR(sb.st_mode))
        return tg_error_set(err, TG_ERR_IO, "%s: not a directory", path);
    return TG_OK;
}

tg_status tg_rundir_write(const char *path, const char *text, size_t n, tg_error *err) {
    tg_atomic_file f;
    tg_status st = tg_atomic_open(&f, path, err);
    if (!st) st = tg_atomic_write(&f, text, n, err);
    if (!st) st = tg_atomic_commit(&f, err);
    if (st) tg_atomic_abort(&f);
    return st;
}

// Removes dir/name, saying so with `why` after the path.
static void remove_said(const char *dir, const char *name, const char *why,
                        tg_notice_fn notice, void *user) {
    char *p = tg_rundir_path(dir, name);
    if (p && unlink(p) == 0) tg_notice(notice, user, "removed %s%s", p, why);
    free(p);
}

// Whether name is "<one of the run's files>.tmp.XXXXXX": tg_atomic_open names its temporary
// file so (mkstemp's six letters and digits).
static bool is_stale_tmp(const char *name) {
    static const char *const own[] = {TG_RUN_MODEL,  TG_RUN_BEST,      TG_RUN_CHECKPOINT,
                                      TG_RUN_METRICS, TG_RUN_CONFIG,    TG_RUN_STEPS,
                                      TG_RUN_REPORT,  TG_RUN_CONFUSION};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        size_t n = strlen(own[i]);
        if (strncmp(name, own[i], n) || strncmp(name + n, ".tmp.", 5)) continue;
        const char *x = name + n + 5;
        bool stale = strlen(x) == 6;
        for (int k = 0; stale && k < 6; k++) stale = isalnum((unsigned char)x[k]) != 0;
        if (stale) return true;
    }
    return false;
}

// A save killed between mkstemp and rename (kill -9, a power cut) leaves its temporary file.
void tg_rundir_remove_stale_tmp(const char *dir, tg_notice_fn notice, void *user) {
    DIR *d = opendir(dir);
    if (!d) return;  // not created yet: nothing stale
    struct dirent *e;
    while ((e = readdir(d)))
        if (is_stale_tmp(e->d_name))
            remove_said(dir, e->d_name, ", left by an interrupted save", notice, user);
    closedir(d);
}

void tg_rundir_remove_models(const char *dir, tg_notice_fn notice, void *user) {
    remove_said(dir, TG_RUN_MODEL, " of a previous run", notice, user);
    remove_said(dir, TG_RUN_BEST, " of a previous run", notice, user);
}

void tg_rundir_remove_report(const char *dir) {
    static const char *const files[] = {TG_RUN_REPORT, TG_RUN_CONFUSION};
    for (int i = 0; i < 2; i++) {
        char *p = tg_rundir_path(dir, files[i]);
        if (p) unlink(p);
        free(p);
    }
}

tg_status tg_rundir_record_last_run(const char *last_run_dir, const char *dir, tg_error *err) {
    const char *lr = last_run_dir ? last_run_dir : TG_RUN_LAST_RUN_DIR;
    tg_status st = tg_rundir_mkdir(lr, err);
    if (st) return st;
    char *abs = realpath(dir, NULL);
    char *path = tg_rundir_path(lr, "last_run");
    size_t n = strlen(abs ? abs : dir) + 2;
    char *text = malloc(n);
    if (!path || !text) {
        st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    } else {
        snprintf(text, n, "%s\n", abs ? abs : dir);
        st = tg_rundir_write(path, text, strlen(text), err);
    }
    free(abs);
    free(path);
    free(text);
    return st;
}

char *tg_rundir_last_run(const char *last_run_dir, tg_error *err) {
    char *path = tg_rundir_path(last_run_dir ? last_run_dir : TG_RUN_LAST_RUN_DIR, "last_run");
    if (!path) {
        tg_error_set(err, TG_ERR_NOMEM, "out of memory");
        return NULL;
    }
    // a FIFO or device put there is refused, not opened (core/file.h)
    tg_error oe = {0};
    int fd = tg_file_open(path, NULL, &oe);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!f) {
        if (fd >= 0) close(fd);
        if (errno == ENOENT)
            tg_error_set(err, TG_ERR_IO,
                         "no --model given and no train run recorded in this directory (%s: %s)",
                         path, strerror(ENOENT));
        else
            tg_error_set(err, TG_ERR_IO, "no --model given and %s", oe.msg);
        free(path);
        return NULL;
    }
    char line[4096];
    char *r = fgets(line, sizeof line, f);
    fclose(f);
    if (!r || !line[0] || line[0] == '\n') {
        tg_error_set(err, TG_ERR_FORMAT, "%s: empty; run train again or pass --model", path);
        free(path);
        return NULL;
    }
    free(path);
    line[strcspn(line, "\n")] = 0;
    char *s = strdup(line);
    if (!s) tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    return s;
}
