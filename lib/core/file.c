// file.c: opening files to read them, never blocking on a special file (see file.h).
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/escape.h"

const char *tg_file_kind(mode_t mode) {
    if (S_ISREG(mode)) return "a regular file";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISLNK(mode)) return "a symbolic link";
    return "not a file";
}

// "<path>: <what><reason>" with the path escaped for printing.
// errno is kept (callers tell a missing file from others).
static tg_status path_error(tg_error *err, tg_status st, const char *path, const char *what,
                            const char *reason) {
    int e = errno;
    char shown[TG_ERR_MSG_MAX / 2];
    tg_path_escape(path, shown, sizeof shown);
    tg_error_set(err, st, "%s: %s%s", shown, what, reason);
    errno = e;
    return st;
}

static tg_status not_regular(tg_error *err, const char *path, mode_t mode) {
    errno = EINVAL;
    char what[64];
    strcpy(what, "not a regular file (");
    strcat(what, tg_file_kind(mode));
    strcat(what, ")");
    return path_error(err, TG_ERR_IO, path, what, "");
}

int tg_file_open(const char *path, off_t *size, tg_error *err) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        path_error(err, TG_ERR_IO, path, "cannot open: ", strerror(errno));
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {  // never opened: a FIFO would block, a device could act
        not_regular(err, path, sb.st_mode);
        return -1;
    }
    int fd;
    do fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        path_error(err, TG_ERR_IO, path, "cannot open: ", strerror(errno));
        return -1;
    }
    // the name may have been replaced between stat and open: what was opened counts
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        int e = errno;
        if (S_ISREG(sb.st_mode))
            path_error(err, TG_ERR_IO, path, "cannot stat: ", strerror(e));
        else
            not_regular(err, path, sb.st_mode);
        close(fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    if (size) *size = sb.st_size;
    return fd;
}

tg_status tg_file_read(const char *path, size_t max, unsigned char **buf, size_t *n,
                       tg_error *err) {
    *buf = NULL;
    *n = 0;
    off_t size;
    int fd = tg_file_open(path, &size, err);
    if (fd < 0) return err ? err->status : TG_ERR_IO;
    tg_status st = TG_OK;
    char shown[TG_ERR_MSG_MAX / 2];
    unsigned char *b = NULL;
    if ((uint64_t)size > (uint64_t)max || (uint64_t)size >= (uint64_t)SIZE_MAX) {
        tg_path_escape(path, shown, sizeof shown);
        st = tg_error_set(err, TG_ERR_FORMAT, "%s: %lld bytes, larger than %zu", shown,
                          (long long)size, max);
        goto done;
    }
    size_t want = (size_t)size;
    if (!(b = malloc(want + 1))) {
        tg_path_escape(path, shown, sizeof shown);
        st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory reading %zu bytes", shown, want);
        goto done;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t r = read(fd, b + got, want - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            st = path_error(err, TG_ERR_IO, path, "read failed: ", strerror(errno));
            goto done;
        }
        if (r == 0) break;  // the file shrank under us: what is there
        got += (size_t)r;
    }
    b[got] = 0;
    *buf = b;
    *n = got;
    b = NULL;
done:
    free(b);
    close(fd);
    return st;
}
