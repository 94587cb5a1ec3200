// zip.c: zip reader and writer for PyTorch checkpoints (see zip.h). Structures follow
// PKWARE's APPNOTE: local file header (PK\3\4), central directory header (PK\1\2), end of
// central directory (PK\5\6), ZIP64 end record (PK\6\6) and its locator (PK\6\7).
#include "zip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint16_t rd16(const unsigned char *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const unsigned char *p) {
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

void tg_zip_close(tg_zip *z) {
    for (size_t i = 0; i < z->count; i++) free(z->entries[i].name);
    free(z->entries);
    free(z->by_name);
    z->by_name = NULL;
    z->entries = NULL;
    z->count = 0;
}

// Applies a ZIP64 extended-information extra field to the values that are saturated.
static int apply_zip64(tg_zip_entry *e, const unsigned char *x, size_t xlen, int need_u, int need_c,
                       int need_o) {
    size_t p = 0;
    while (p + 4 <= xlen) {
        uint16_t id = rd16(x + p), len = rd16(x + p + 2);
        if (p + 4 + len > xlen) return 0;
        if (id == 1) {
            const unsigned char *v = x + p + 4;
            size_t q = 0;
            if (need_u) {
                if (q + 8 > len) return 0;
                e->usize = rd64(v + q);
                q += 8;
            }
            if (need_c) {
                if (q + 8 > len) return 0;
                e->csize = rd64(v + q);
                q += 8;
            }
            if (need_o) {
                if (q + 8 > len) return 0;
                e->local_offset = rd64(v + q);
            }
            return 1;
        }
        p += 4 + (size_t)len;
    }
    return !(need_u || need_c || need_o);
}

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp((*(const tg_zip_entry *const *)a)->name, (*(const tg_zip_entry *const *)b)->name);
}

tg_status tg_zip_open(tg_zip *z, const unsigned char *buf, size_t n, const char *file,
                      tg_error *err) {
    memset(z, 0, sizeof *z);
    z->buf = buf;
    z->n = n;
    z->file = file;
    if (n < 22)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: incomplete zip: %zu bytes, too short for an end-of-central-"
                            "directory record (truncated file?)", file, n);
    size_t eocd = (size_t)-1;
    size_t lo = n - 22 > 65535 ? n - 22 - 65535 : 0;
    for (size_t p = n - 22 + 1; p-- > lo;)
        if (!memcmp(buf + p, "PK\x05\x06", 4)) {
            eocd = p;
            break;
        }
    if (eocd == (size_t)-1)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: incomplete zip: no end-of-central-directory record (truncated "
                            "file?)", file);
    uint64_t count = rd16(buf + eocd + 10), cd_size = rd32(buf + eocd + 12),
             cd_off = rd32(buf + eocd + 16);
    if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_off == 0xFFFFFFFF) {
        if (eocd < 20 || memcmp(buf + eocd - 20, "PK\x06\x07", 4))
            return tg_error_set(err, TG_ERR_FORMAT,
                                "%s: bad zip: saturated end record without a ZIP64 locator",
                                file);
        uint64_t z64 = rd64(buf + eocd - 20 + 8);
        if (n < 56 || z64 > n - 56 || memcmp(buf + z64, "PK\x06\x06", 4))
            return tg_error_set(err, TG_ERR_FORMAT, "%s: bad zip: ZIP64 end record out of bounds",
                                file);
        count = rd64(buf + z64 + 32);
        cd_size = rd64(buf + z64 + 40);
        cd_off = rd64(buf + z64 + 48);
    }
    if (cd_off > n || cd_size > n - cd_off)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: incomplete zip: central directory [%llu, +%llu) beyond the file "
                            "(%zu bytes)", file, (unsigned long long)cd_off,
                            (unsigned long long)cd_size, n);
    if (count > TG_ZIP_MAX_ENTRIES || count > cd_size / 46 + 1)
        return tg_error_set(err, TG_ERR_FORMAT, "%s: bad zip: %llu entries cannot fit", file,
                            (unsigned long long)count);
    z->entries = calloc(count ? count : 1, sizeof *z->entries);
    if (!z->entries) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", file);
    const unsigned char *p = buf + cd_off, *end = buf + cd_off + cd_size;
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 46 || memcmp(p, "PK\x01\x02", 4)) {
            tg_error_set(err, TG_ERR_FORMAT, "%s: bad zip: central directory entry %llu is "
                         "corrupt", file, (unsigned long long)i);
            goto fail;
        }
        uint16_t flags = rd16(p + 8);
        size_t nl = rd16(p + 28), xl = rd16(p + 30), cl = rd16(p + 32);
        if ((size_t)(end - p) < 46 + nl + xl + cl) {
            tg_error_set(err, TG_ERR_FORMAT, "%s: bad zip: central directory entry %llu runs "
                         "past its end", file, (unsigned long long)i);
            goto fail;
        }
        tg_zip_entry *e = &z->entries[z->count];
        e->method = rd16(p + 10);
        e->crc = rd32(p + 16);
        e->csize = rd32(p + 20);
        e->usize = rd32(p + 24);
        e->local_offset = rd32(p + 42);
        if (!apply_zip64(e, p + 46 + nl, xl, e->usize == 0xFFFFFFFF, e->csize == 0xFFFFFFFF,
                         e->local_offset == 0xFFFFFFFF)) {
            tg_error_set(err, TG_ERR_FORMAT, "%s: bad zip: entry %llu has a bad ZIP64 field",
                         file, (unsigned long long)i);
            goto fail;
        }
        if (memchr(p + 46, 0, nl)) {
            tg_error_set(err, TG_ERR_FORMAT, "%s: bad zip: entry name with a NUL byte", file);
            goto fail;
        }
        e->name = malloc(nl + 1);
        if (!e->name) {
            tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", file);
            goto fail;
        }
        memcpy(e->name, p + 46, nl);
        e->name[nl] = '\0';
        z->count++;
        if (flags & 1) {
            tg_error_set(err, TG_ERR_FORMAT, "%s: zip entry '%s' is encrypted", file, e->name);
            goto fail;
        }
        p += 46 + nl + xl + cl;
    }
    z->by_name = malloc((z->count ? z->count : 1) * sizeof *z->by_name);
    if (!z->by_name) {
        tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", file);
        goto fail;
    }
    for (size_t i = 0; i < z->count; i++) z->by_name[i] = &z->entries[i];
    qsort(z->by_name, z->count, sizeof *z->by_name, cmp_entry_name);
    return TG_OK;
fail:
    tg_zip_close(z);
    return err ? err->status : TG_ERR_FORMAT;
}

// Binary search; with duplicate names (a malformed zip) the first in sorted order wins.
const tg_zip_entry *tg_zip_find(const tg_zip *z, const char *name) {
    size_t lo = 0, hi = z->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(z->by_name[mid]->name, name) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < z->count && !strcmp(z->by_name[lo]->name, name) ? z->by_name[lo] : NULL;
}

tg_status tg_zip_read(const tg_zip *z, const tg_zip_entry *e, const unsigned char **data,
                      size_t *len, void **owned, tg_error *err) {
    *data = NULL;
    *len = 0;
    *owned = NULL;
    uint64_t lho = e->local_offset;
    if (lho > z->n || z->n - lho < 30 || memcmp(z->buf + lho, "PK\x03\x04", 4))
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: zip entry '%s': local header missing or out of bounds "
                            "(truncated file?)", z->file, e->name);
    uint64_t start = lho + 30 + rd16(z->buf + lho + 26) + rd16(z->buf + lho + 28);
    if (start > z->n || e->csize > z->n - start)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: zip entry '%s': %llu bytes of data at offset %llu run past the "
                            "end of the file (%zu bytes; truncated?)", z->file, e->name,
                            (unsigned long long)e->csize, (unsigned long long)start, z->n);
    const unsigned char *src = z->buf + start;
    if (e->method == 0) {
        if (e->csize != e->usize)
            return tg_error_set(err, TG_ERR_FORMAT,
                                "%s: zip entry '%s': stored entry with different sizes", z->file,
                                e->name);
        *data = src;
        *len = (size_t)e->usize;
    } else if (e->method == 8) {
        // deflate expands at most ~1032:1; a larger claim is a bomb or a corrupt header
        if (e->usize > e->csize * 1032 + 1024 || e->usize > (uint64_t)SIZE_MAX / 2)
            return tg_error_set(err, TG_ERR_FORMAT,
                                "%s: zip entry '%s': uncompressed size %llu is implausible for "
                                "%llu compressed bytes", z->file, e->name,
                                (unsigned long long)e->usize, (unsigned long long)e->csize);
        // one spare output byte detects a stream longer than the declared size
        unsigned char *out = malloc((size_t)e->usize + 1);
        if (!out) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", z->file);
        z_stream s;
        memset(&s, 0, sizeof s);
        if (inflateInit2(&s, -15) != Z_OK) {
            free(out);
            return tg_error_set(err, TG_ERR_NOMEM, "%s: zlib init failed", z->file);
        }
        uint64_t in_left = e->csize, out_left = e->usize + 1;
        int rc = Z_OK;
        s.next_in = (unsigned char *)(uintptr_t)src;
        s.next_out = out;
        while (rc == Z_OK) {
            if (s.avail_in == 0 && in_left) {
                s.avail_in = in_left > (1u << 30) ? (1u << 30) : (unsigned)in_left;
                in_left -= s.avail_in;
            }
            if (s.avail_out == 0 && out_left) {
                s.avail_out = out_left > (1u << 30) ? (1u << 30) : (unsigned)out_left;
                out_left -= s.avail_out;
            }
            rc = inflate(&s, Z_NO_FLUSH);
        }
        uint64_t produced = s.total_out;
        inflateEnd(&s);
        if (rc != Z_STREAM_END || produced != e->usize) {
            free(out);
            return tg_error_set(err, TG_ERR_FORMAT,
                                "%s: zip entry '%s': corrupt deflate data (%llu of %llu bytes "
                                "inflated)", z->file, e->name, (unsigned long long)produced,
                                (unsigned long long)e->usize);
        }
        *data = out;
        *owned = out;
        *len = (size_t)e->usize;
    } else {
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: zip entry '%s': compression method %u is not supported (only "
                            "stored and deflated)", z->file, e->name, e->method);
    }
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION  // fuzzers cannot fix CRCs; skip it there
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < *len;) {
        size_t chunk = *len - off > (1u << 30) ? (1u << 30) : *len - off;
        crc = crc32(crc, *data + off, (uInt)chunk);
        off += chunk;
    }
    if ((uint32_t)crc != e->crc) {
        free(*owned);
        *owned = NULL;
        *data = NULL;
        return tg_error_set(err, TG_ERR_FORMAT, "%s: zip entry '%s': CRC mismatch (corrupt file)",
                            z->file, e->name);
    }
#endif
    return TG_OK;
}

// ---- writer ----

static void wr16(unsigned char *p, uint16_t v) {
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}
static void wr32(unsigned char *p, uint32_t v) {
    wr16(p, (uint16_t)v);
    wr16(p + 2, (uint16_t)(v >> 16));
}

void tg_zip_writer_init(tg_zip_writer *w, tg_atomic_file *f) {
    memset(w, 0, sizeof *w);
    w->f = f;
}

void tg_zip_writer_free(tg_zip_writer *w) {
    for (size_t i = 0; i < w->count; i++) free(w->entries[i].name);
    free(w->entries);
    memset(w, 0, sizeof *w);
}

tg_status tg_zip_writer_add(tg_zip_writer *w, const char *name, const void *data, size_t len,
                            unsigned align, tg_error *err) {
    size_t nl = strlen(name);
    if (nl > 0xFFFF)
        return tg_error_set(err, TG_ERR_VALUE, "%s: zip entry name of %zu bytes is too long",
                            w->f->path, nl);
    // Without ZIP64 the end record counts at most 65534 entries: 0xFFFF means "see the ZIP64
    // record" (APPNOTE 4.4.1.4), which our reader then requires (torch 1.13 and Python's
    // zipfile fall back to the 16-bit count): refuse the next one.
    if (w->count >= 0xFFFE)
        return tg_error_set(err, TG_ERR_VALUE,
                            "%s: more than 65534 zip entries (one per tensor, plus 3): not "
                            "supported by the .pth writer; write a .safetensors instead",
                            w->f->path);
    // Without ZIP64 every offset and size must stay below 4 GiB.
    if (w->pos + 30 + nl + 4 + align + len >= 0xFFFFFFFFull)
        return tg_error_set(err, TG_ERR_VALUE,
                            "%s: checkpoint larger than 4 GiB: not supported by the .pth writer",
                            w->f->path);
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        tg_zip_entry *e = realloc(w->entries, cap * sizeof *e);
        if (!e) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", w->f->path);
        w->entries = e;
        w->cap = cap;
    }
    tg_zip_entry *e = &w->entries[w->count];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (!e->name) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", w->f->path);
    w->count++;
    e->local_offset = w->pos;
    e->csize = e->usize = len;
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t off = 0; off < len;) {
        size_t chunk = len - off > (1u << 30) ? (1u << 30) : len - off;
        crc = crc32(crc, (const unsigned char *)data + off, (uInt)chunk);
        off += chunk;
    }
    e->crc = (uint32_t)crc;
    // Pad with an extra field "FB" + u16 length + 'Z's so the data starts aligned.
    uint64_t start = w->pos + 30 + nl + 4;
    size_t pad = align ? (size_t)((align - start % align) % align) : 0;
    size_t xl = 4 + pad;
    unsigned char hdr[30];
    memset(hdr, 0, sizeof hdr);
    wr32(hdr, 0x04034b50);
    wr16(hdr + 4, 20);      // version needed
    wr16(hdr + 6, 0x0800);  // UTF-8 names
    wr16(hdr + 8, 0);       // stored
    wr32(hdr + 14, e->crc);
    wr32(hdr + 18, (uint32_t)len);
    wr32(hdr + 22, (uint32_t)len);
    wr16(hdr + 26, (uint16_t)nl);
    wr16(hdr + 28, (uint16_t)xl);
    unsigned char *extra = malloc(xl);
    if (!extra) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", w->f->path);
    memcpy(extra, "FB", 2);
    wr16(extra + 2, (uint16_t)pad);
    memset(extra + 4, 'Z', pad);
    tg_status st = tg_atomic_write(w->f, hdr, 30, err);
    if (!st) st = tg_atomic_write(w->f, name, nl, err);
    if (!st) st = tg_atomic_write(w->f, extra, xl, err);
    if (!st && len) st = tg_atomic_write(w->f, data, len, err);
    free(extra);
    if (!st) w->pos += 30 + nl + xl + len;
    return st;
}

tg_status tg_zip_writer_finish(tg_zip_writer *w, tg_error *err) {
    uint64_t cd_start = w->pos;
    TG_ASSERT(w->count < 0xFFFF, "tg_zip_writer_add refuses a 65535th entry");
    for (size_t i = 0; i < w->count; i++) {
        const tg_zip_entry *e = &w->entries[i];
        size_t nl = strlen(e->name);
        unsigned char h[46];
        memset(h, 0, sizeof h);
        wr32(h, 0x02014b50);
        wr16(h + 4, 20);  // version made by
        wr16(h + 6, 20);  // version needed
        wr16(h + 8, 0x0800);
        wr32(h + 16, e->crc);
        wr32(h + 20, (uint32_t)e->csize);
        wr32(h + 24, (uint32_t)e->usize);
        wr16(h + 28, (uint16_t)nl);
        wr32(h + 42, (uint32_t)e->local_offset);
        tg_status st = tg_atomic_write(w->f, h, 46, err);
        if (!st) st = tg_atomic_write(w->f, e->name, nl, err);
        if (st) return st;
        w->pos += 46 + nl;
    }
    if (w->pos >= 0xFFFFFFFFull)
        return tg_error_set(err, TG_ERR_VALUE,
                            "%s: checkpoint larger than 4 GiB: not supported by the .pth writer",
                            w->f->path);
    unsigned char end[22];
    memset(end, 0, sizeof end);
    wr32(end, 0x06054b50);
    wr16(end + 8, (uint16_t)w->count);
    wr16(end + 10, (uint16_t)w->count);
    wr32(end + 12, (uint32_t)(w->pos - cd_start));
    wr32(end + 16, (uint32_t)cd_start);
    return tg_atomic_write(w->f, end, 22, err);
}
