// file.h: opening a named file to read it, without ever blocking on a special file.
//
// open(2) of a FIFO for reading waits until a writer appears (forever, and a signal's flag
// is never seen), a terminal or tape device can block or act when it is opened, a socket
// cannot be opened at all, and a device such as /dev/zero reads without end. So every reader
// of a named file (images, .pth/.safetensors, the config, model files, last_run,
// metrics.jsonl) opens it here: the type is checked first (stat: a special file is never
// opened), the file is opened O_NONBLOCK | O_NOCTTY and checked again with fstat (which
// closes the race of a name replaced by a FIFO between the two), then set back to blocking.
// Anything but a regular file (after symlinks) is refused with a message naming the path
// and what it is: "x.png: not a regular file (a FIFO)".
#ifndef TG_FILE_H
#define TG_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "core/error.h"

// What a file of this mode is, for messages: "a FIFO", "a socket", "a character device",
// "a block device", "a directory", "a symbolic link", "a regular file".
const char *tg_file_kind(mode_t mode);

// Opens path, a regular file, for reading (O_CLOEXEC). Returns the descriptor, its size in
// *size (may be NULL), or -1 with err set (TG_ERR_IO: "<path>: cannot open: <reason>" or
// "<path>: not a regular file (a FIFO)"; the path escaped for printing; errno says why:
// ENOENT for a missing file, EINVAL for one that is not a regular file).
int tg_file_open(const char *path, off_t *size, tg_error *err);

// Reads the whole of path, a regular file of at most max bytes, into *buf (malloc'd, with a
// NUL after the n bytes, so text can be parsed in place; free it with free()). Larger:
// TG_ERR_FORMAT "<path>: N bytes, larger than M". A file that shrinks while it is read gives
// what was there. On failure *buf is NULL.
tg_status tg_file_read(const char *path, size_t max, unsigned char **buf, size_t *n,
                       tg_error *err);

#endif
