// zip.h: the subset of the zip format that torch.save uses, read from memory and written
// through an atomic file. Reading goes through the central directory (torch's local headers
// carry zero sizes and a data descriptor), understands ZIP64 end records, and accepts
// stored or deflated entries. Every offset and size is bounds- and overflow-checked.
#ifndef TG_ZIP_H
#define TG_ZIP_H

#include <stddef.h>
#include <stdint.h>

#include "atomic.h"
#include "core/error.h"

#define TG_ZIP_MAX_ENTRIES 1000000

typedef struct {
    char *name;
    uint16_t method;  // 0 stored, 8 deflated
    uint32_t crc;
    uint64_t csize, usize, local_offset;
} tg_zip_entry;

typedef struct {
    const unsigned char *buf;  // the whole file, not owned
    size_t n;
    const char *file;          // for messages, not owned
    tg_zip_entry *entries;     // in central-directory order
    size_t count;
    tg_zip_entry **by_name;    // sorted by name, for tg_zip_find
} tg_zip;

tg_status tg_zip_open(tg_zip *z, const unsigned char *buf, size_t n, const char *file,
                      tg_error *err);
void tg_zip_close(tg_zip *z);
const tg_zip_entry *tg_zip_find(const tg_zip *z, const char *name);
// The entry's bytes: for a stored entry *data points into the file and *owned is NULL; for
// a deflated one *data == *owned, a malloc'd buffer the caller frees.
tg_status tg_zip_read(const tg_zip *z, const tg_zip_entry *e, const unsigned char **data,
                      size_t *len, void **owned, tg_error *err);

// Writer: entries are stored (not compressed) with their data aligned to `align` bytes
// through a local "FB" padding extra field, as torch.save does.
typedef struct {
    tg_atomic_file *f;
    uint64_t pos;
    tg_zip_entry *entries;
    size_t count, cap;
} tg_zip_writer;

void tg_zip_writer_init(tg_zip_writer *w, tg_atomic_file *f);
tg_status tg_zip_writer_add(tg_zip_writer *w, const char *name, const void *data, size_t len,
                            unsigned align, tg_error *err);
// Writes the central directory and end records. Does not commit the file.
tg_status tg_zip_writer_finish(tg_zip_writer *w, tg_error *err);
void tg_zip_writer_free(tg_zip_writer *w);

#endif
