// atomic.h: write a file so that readers see either the old file or the complete new one.
// A temporary file is created in the same directory (O_EXCL), written, fsync'd, closed,
// renamed over the target, and the directory is fsync'd. On any failure (a full disk,
// RLIMIT_FSIZE, EIO) the temporary file is removed, the previous file stays intact, and
// the error says so. A target that exists and is not a regular file (a FIFO, a device, a
// directory) is refused: renaming over it would replace /dev/null by a file.
#ifndef TG_ATOMIC_H
#define TG_ATOMIC_H

#include <stddef.h>

#include "core/error.h"

typedef struct {
    int fd;       // -1 when closed
    char *path;   // the target
    char *tmp;    // the temporary file beside it
} tg_atomic_file;

tg_status tg_atomic_open(tg_atomic_file *f, const char *path, tg_error *err);
// Writes all n bytes (retrying short writes). On failure the file is aborted.
tg_status tg_atomic_write(tg_atomic_file *f, const void *buf, size_t n, tg_error *err);
// fsync, close, rename over the target, fsync the directory. On failure the file is aborted.
tg_status tg_atomic_commit(tg_atomic_file *f, tg_error *err);
// Closes and removes the temporary file; safe to call on an aborted or committed file.
void tg_atomic_abort(tg_atomic_file *f);

#endif
