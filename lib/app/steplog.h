// steplog.h: steps.csv, one line per optimizer step of a training run:
//
//   step,epoch,loss,lr
//   1,1,2.4031,0.02
//
// step counts optimizer steps over the whole run (1-based), epoch is 1-based, loss is the
// step's mean training loss, lr the learning rate it used. The columns are a table
// (steplog.c); a later column (grad_norm, once clipping exists) is appended to the header
// and readers find columns by name, so older files and older readers keep working.
//
// Writing is buffered: rows collect in memory and go to the file in one append of whole
// lines (then fsync) at tg_steplog_flush, which train calls before it writes each
// checkpoint, and when the buffer passes 64 KiB. So the file never holds fewer rows than
// the last checkpoint's steps; it may hold more (a kill -9 after a flush, before the
// checkpoint), and a crash inside a write may leave a last line without its newline.
// Resuming (tg_steplog_open with resume) cuts the file after the last complete row whose
// step is at most the checkpoint's, so the rows after it are never duplicated. Readers
// ignore a last line without a newline (it is still being written, or was torn).
#ifndef TG_STEPLOG_H
#define TG_STEPLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct {
    uint64_t step;
    int epoch;
    double loss, lr;
} tg_steplog_row;

typedef struct {
    int fd;
    char *path;
    char *buf;
    size_t len, cap;
} tg_steplog;

// Opens dir/steps.csv. Fresh (resume false): a new file with the header replaces any
// earlier one (atomically). resume: keeps the rows with step <= keep_steps (the
// checkpoint's), drops the rest and any torn last line; a missing file is started anew.
tg_status tg_steplog_open(tg_steplog *l, const char *dir, bool resume, uint64_t keep_steps,
                          tg_error *err);
// Adds a row to the buffer (flushing it when full).
tg_status tg_steplog_add(tg_steplog *l, const tg_steplog_row *row, tg_error *err);
// Appends the buffered rows to the file and fsyncs it.
tg_status tg_steplog_flush(tg_steplog *l, tg_error *err);
// Flushes (when err is not NULL; pass NULL to drop the buffer) and closes. Safe on a
// tg_steplog that failed to open or was closed.
tg_status tg_steplog_close(tg_steplog *l, tg_error *err);

// Reads a steps.csv: the rows in file order (*rows malloc'd, NULL when none). A header
// without the columns step, epoch, loss and lr, or a complete line that does not parse,
// is an error naming the file and line; a last line without a newline is ignored.
tg_status tg_steplog_read(const char *path, tg_steplog_row **rows, size_t *n, tg_error *err);

#endif
