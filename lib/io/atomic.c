// atomic.c: atomic file replacement (see atomic.h). The sequence is the one SQLite and
// most careful tools use: temp file in the same directory -> write -> fsync -> close ->
// rename -> fsync(directory). rename() within one directory is atomic on POSIX.
// A new file gets the mode open(path, O_CREAT, 0666) would give it, 0666 & ~umask; a
// replaced regular file keeps its permission bits, as cp or open(O_TRUNC) would.
#include "atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"

static const char KEPT[] = "the previous file (if any) is left intact and the temporary file removed";

// umask() can only be read by setting it, and it is process-wide: a file created by another
// thread in between would get the temporary mask. Linux (>= 4.7) shows it in
// /proc/self/status, read at every call so a umask changed later counts, as with open().
// Without /proc it is read once, by setting and restoring it.
static mode_t fallback_mask;
static pthread_once_t fallback_once = PTHREAD_ONCE_INIT;

static void read_umask_once(void) {
    fallback_mask = umask(022);
    umask(fallback_mask);
}

static mode_t current_umask(void) {
    char buf[4096];
    ssize_t n = -1;
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        do n = read(fd, buf, sizeof buf - 1);
        while (n < 0 && errno == EINTR);
        close(fd);
    }
    if (n > 0) {
        buf[n] = 0;
        const char *u = strstr(buf, "\nUmask:");
        char *end;
        long m = u ? strtol(u + 8, &end, 8) : -1;
        if (u && end != u + 8 && m >= 0 && m <= 0777) return (mode_t)m;
    }
    pthread_once(&fallback_once, read_umask_once);
    return fallback_mask;
}

static void free_names(tg_atomic_file *f) {
    free(f->path);
    free(f->tmp);
    f->path = f->tmp = NULL;
}

void tg_atomic_abort(tg_atomic_file *f) {
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    if (f->tmp) unlink(f->tmp);
    free_names(f);
}

tg_status tg_atomic_open(tg_atomic_file *f, const char *path, tg_error *err) {
    f->fd = -1;
    f->path = f->tmp = NULL;
    // rename would replace a FIFO, a device (-o /dev/null as root) or a socket by a file
    struct stat old;
    if (stat(path, &old) == 0 && !S_ISREG(old.st_mode))
        return tg_error_set(err, TG_ERR_IO, "%s: exists and is not a regular file (%s); not "
                                            "replacing it", path, tg_file_kind(old.st_mode));
    f->path = strdup(path);
    size_t n = strlen(path);
    f->tmp = malloc(n + 16);
    if (!f->path || !f->tmp) {
        free_names(f);
        return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(f->tmp, n + 16, "%s.tmp.XXXXXX", path);
    f->fd = mkstemp(f->tmp);
    if (f->fd < 0) {
        int e = errno;
        free_names(f);
        return tg_error_set(err, TG_ERR_IO, "%s: cannot create a temporary file beside it: %s",
                            path, strerror(e));
    }
    // mkstemp makes 0600; the file gets what cp or torch.save would leave: an existing
    // file's permissions (a checkpoint the user made private stays private), else what a
    // new file gets, 0666 & ~umask
    struct stat st;
    mode_t mode = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? st.st_mode & 0777
                                                               : 0666 & ~current_umask();
    (void)fchmod(f->fd, mode);
    return TG_OK;
}

tg_status tg_atomic_write(tg_atomic_file *f, const void *buf, size_t n, tg_error *err) {
    const char *p = buf;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        ssize_t w = write(f->fd, p, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            tg_error_set(err, TG_ERR_IO, "%s: write failed: %s; %s", f->path, strerror(e), KEPT);
            tg_atomic_abort(f);
            return TG_ERR_IO;
        }
        p += w;
        n -= (size_t)w;
    }
    return TG_OK;
}

static void fsync_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path)) : strdup(".");
    if (!dir) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);  // some filesystems refuse fsync on a directory (EINVAL): harmless
        close(fd);
    }
    free(dir);
}

tg_status tg_atomic_commit(tg_atomic_file *f, tg_error *err) {
    if (fsync(f->fd) != 0) {
        tg_error_set(err, TG_ERR_IO, "%s: fsync failed: %s; %s", f->path, strerror(errno), KEPT);
        goto fail;
    }
    int rc = close(f->fd);
    f->fd = -1;
    if (rc != 0) {
        tg_error_set(err, TG_ERR_IO, "%s: close failed: %s; %s", f->path, strerror(errno), KEPT);
        goto fail;
    }
    if (rename(f->tmp, f->path) != 0) {
        tg_error_set(err, TG_ERR_IO, "%s: rename from %s failed: %s; %s", f->path, f->tmp,
                     strerror(errno), KEPT);
        goto fail;
    }
    fsync_dir(f->path);
    free_names(f);
    return TG_OK;
fail:
    tg_atomic_abort(f);
    return TG_ERR_IO;
}
