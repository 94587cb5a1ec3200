// steplog.c: steps.csv (see steplog.h). The columns are one table: name, how a row's value
// is written and how it is read back; the header is made from it.
#include "app/steplog.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/rundir.h"
#include "io/atomic.h"

#define FLUSH_AT (64 * 1024)
#define ROW_MAX 256

static int put_step(char *s, size_t n, const tg_steplog_row *r) {
    return snprintf(s, n, "%" PRIu64, r->step);
}
static int put_epoch(char *s, size_t n, const tg_steplog_row *r) {
    return snprintf(s, n, "%d", r->epoch);
}
static int put_loss(char *s, size_t n, const tg_steplog_row *r) {
    return snprintf(s, n, "%.9g", r->loss);  // round-trips the float32 loss
}
static int put_lr(char *s, size_t n, const tg_steplog_row *r) {
    return snprintf(s, n, "%.9g", r->lr);
}

static bool get_step(const char *s, tg_steplog_row *r) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    r->step = v;
    return *s >= '1' && *s <= '9' && !*end && !errno;
}
static bool get_epoch(const char *s, tg_steplog_row *r) {
    char *end;
    long v = strtol(s, &end, 10);
    r->epoch = (int)v;
    return *s && !*end && v >= 1 && v <= 1000000000;
}
static bool get_double(const char *s, double *out) {
    char *end;
    *out = strtod(s, &end);
    return *s && !*end;
}
static bool get_loss(const char *s, tg_steplog_row *r) {
    return get_double(s, &r->loss);
}
static bool get_lr(const char *s, tg_steplog_row *r) {
    return get_double(s, &r->lr);
}

static const struct {
    const char *name;
    int (*put)(char *s, size_t n, const tg_steplog_row *r);
    bool (*get)(const char *s, tg_steplog_row *r);
} COLS[] = {
    {"step", put_step, get_step},
    {"epoch", put_epoch, get_epoch},
    {"loss", put_loss, get_loss},
    {"lr", put_lr, get_lr},
};
enum { NCOLS = sizeof COLS / sizeof COLS[0], FIELDS_MAX = 64 };

// The header line, newline included.
static void header(char *s, size_t n) {
    size_t k = 0;
    for (int c = 0; c < NCOLS; c++)
        k += (size_t)snprintf(s + k, n - k, "%s%s", c ? "," : "", COLS[c].name);
    snprintf(s + k, n - k, "\n");
}

static size_t format_row(char *s, size_t n, const tg_steplog_row *r) {
    size_t k = 0;
    for (int c = 0; c < NCOLS; c++) {
        if (c) s[k++] = ',';
        k += (size_t)COLS[c].put(s + k, n - k, r);
    }
    s[k++] = '\n';
    return k;
}

// Splits line (modified) at commas into at most FIELDS_MAX fields; returns the count.
static int split(char *line, char **f) {
    int n = 0;
    for (char *p = line;; p++) {
        if (n < FIELDS_MAX) f[n] = p;
        n++;
        p += strcspn(p, ",");
        if (!*p) break;
        *p = 0;
    }
    return n > FIELDS_MAX ? -1 : n;
}

typedef struct {
    tg_steplog_row *rows;
    size_t n, cap;
    size_t end;        // offset just past the last row taken
    bool same_header;  // the file's header is this version's
} parsed;

// Parses text (len bytes) of file path. strict: a complete line that does not parse is
// an error; otherwise parsing stops there (resume cuts the file at it). Rows with a step
// above keep stop the parse too.
static tg_status parse(const char *path, const char *text, size_t len, bool strict,
                       uint64_t keep, parsed *p, tg_error *err) {
    memset(p, 0, sizeof *p);
    char want[ROW_MAX], line[4096];
    header(want, sizeof want);
    const char *nl = memchr(text, '\n', len);
    size_t hl = nl ? (size_t)(nl - text) + 1 : 0;
    if (!nl || hl >= sizeof line)
        return tg_error_set(err, TG_ERR_FORMAT, "%s: no header line (want %.*s)", path,
                            (int)strlen(want) - 1, want);
    p->same_header = hl == strlen(want) && !memcmp(text, want, hl);
    memcpy(line, text, hl - 1);
    line[hl - 1] = 0;
    char *f[FIELDS_MAX];
    int nf = split(line, f), where[NCOLS];
    for (int c = 0; c < NCOLS; c++) {
        where[c] = -1;
        for (int i = 0; i < nf; i++)
            if (!strcmp(f[i], COLS[c].name)) where[c] = i;
        if (where[c] < 0)
            return tg_error_set(err, TG_ERR_FORMAT, "%s: the header has no column \"%s\"",
                                path, COLS[c].name);
    }
    p->end = hl;
    size_t lineno = 1;
    for (size_t at = hl; at < len;) {
        lineno++;
        nl = memchr(text + at, '\n', len - at);
        if (!nl) break;  // a line still being written, or torn by a crash
        size_t ll = (size_t)(nl - (text + at));
        tg_steplog_row r = {0};
        bool ok = ll < sizeof line;
        if (ok) {
            memcpy(line, text + at, ll);
            line[ll] = 0;
            ok = split(line, f) == nf;
            for (int c = 0; ok && c < NCOLS; c++) ok = COLS[c].get(f[where[c]], &r);
        }
        if (!ok) {
            if (!strict) break;
            free(p->rows);
            p->rows = NULL;
            return tg_error_set(err, TG_ERR_FORMAT,
                                "%s: line %zu is not a row of %d comma-separated values "
                                "matching the header",
                                path, lineno, nf);
        }
        if (r.step > keep) break;
        if (p->n == p->cap) {
            size_t cap = p->cap ? 2 * p->cap : 1024;
            tg_steplog_row *q = realloc(p->rows, cap * sizeof *q);
            if (!q) {
                free(p->rows);
                p->rows = NULL;
                return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
            }
            p->rows = q;
            p->cap = cap;
        }
        p->rows[p->n++] = r;
        at += ll + 1;
        p->end = at;
    }
    return TG_OK;
}

static tg_status read_all(const char *path, char **text, size_t *len, tg_error *err) {
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return tg_error_set(err, TG_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 0;
    tg_status st = TG_OK;
    for (;;) {
        if (*len + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 131072;
            char *q = realloc(*text, cap);
            if (!q) {
                st = tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            *text = q;
        }
        size_t got = fread(*text + *len, 1, 65536, f);
        *len += got;
        if (got < 65536) {
            if (ferror(f)) st = tg_error_set(err, TG_ERR_IO, "%s: read failed", path);
            break;
        }
    }
    fclose(f);
    if (st) {
        free(*text);
        *text = NULL;
    } else {
        (*text)[*len] = 0;
    }
    return st;
}

tg_status tg_steplog_read(const char *path, tg_steplog_row **rows, size_t *n, tg_error *err) {
    *rows = NULL;
    *n = 0;
    char *text;
    size_t len;
    tg_status st = read_all(path, &text, &len, err);
    if (st) return st;
    parsed p;
    st = parse(path, text, len, true, UINT64_MAX, &p, err);
    free(text);
    if (st) return st;
    *rows = p.rows;
    *n = p.n;
    return TG_OK;
}

// Replaces path with the header and rows (atomically).
static tg_status write_whole(const char *path, const tg_steplog_row *rows, size_t n,
                             tg_error *err) {
    tg_atomic_file f;
    tg_status st = tg_atomic_open(&f, path, err);
    if (st) return st;
    char line[ROW_MAX];
    header(line, sizeof line);
    st = tg_atomic_write(&f, line, strlen(line), err);
    for (size_t i = 0; !st && i < n; i++)
        st = tg_atomic_write(&f, line, format_row(line, sizeof line, &rows[i]), err);
    if (!st) st = tg_atomic_commit(&f, err);
    return st;  // tg_atomic_write and _commit abort the file on failure
}

// Resume: the rows up to keep stay; the file is cut after them (or rewritten under this
// version's header when its header differs).
static tg_status resume_file(const char *path, uint64_t keep, tg_error *err) {
    char *text;
    size_t len;
    if (access(path, F_OK) != 0) return write_whole(path, NULL, 0, err);
    tg_status st = read_all(path, &text, &len, err);
    if (st) return st;
    parsed p;
    st = parse(path, text, len, false, keep, &p, err);
    free(text);
    if (st) {
        tg_error_prefix(err, "cannot resume its rows (move it away to start it anew)");
        return st;
    }
    if (!p.same_header) {
        st = write_whole(path, p.rows, p.n, err);
    } else if (p.end < len) {
        int fd = open(path, O_WRONLY);
        if (fd < 0 || ftruncate(fd, (off_t)p.end) || fsync(fd))
            st = tg_error_set(err, TG_ERR_IO, "%s: cannot cut it after step %" PRIu64 ": %s",
                              path, keep, strerror(errno));
        if (fd >= 0) close(fd);
    }
    free(p.rows);
    return st;
}

tg_status tg_steplog_open(tg_steplog *l, const char *dir, bool resume, uint64_t keep_steps,
                          tg_error *err) {
    memset(l, 0, sizeof *l);
    l->fd = -1;
    l->path = tg_rundir_path(dir, TG_RUN_STEPS);
    if (!l->path) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    tg_status st = resume ? resume_file(l->path, keep_steps, err)
                          : write_whole(l->path, NULL, 0, err);
    if (!st) {
        l->fd = open(l->path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (l->fd < 0)
            st = tg_error_set(err, TG_ERR_IO, "%s: %s", l->path, strerror(errno));
    }
    if (st) tg_steplog_close(l, NULL);
    return st;
}

tg_status tg_steplog_add(tg_steplog *l, const tg_steplog_row *row, tg_error *err) {
    if (l->len + ROW_MAX > l->cap) {
        size_t cap = l->cap ? 2 * l->cap : FLUSH_AT + ROW_MAX;
        char *q = realloc(l->buf, cap);
        if (!q) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", l->path);
        l->buf = q;
        l->cap = cap;
    }
    l->len += format_row(l->buf + l->len, ROW_MAX, row);
    return l->len >= FLUSH_AT ? tg_steplog_flush(l, err) : TG_OK;
}

tg_status tg_steplog_flush(tg_steplog *l, tg_error *err) {
    TG_ASSERT(l->fd >= 0, "tg_steplog_flush on a steps.csv that is not open");
    size_t done = 0;
    while (done < l->len) {
        ssize_t w = write(l->fd, l->buf + done, l->len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            // a part written stays a torn last line: readers skip it, resume cuts it
            l->len = 0;
            return tg_error_set(err, TG_ERR_IO, "%s: write failed: %s", l->path, strerror(e));
        }
        done += (size_t)w;
    }
    l->len = 0;
    if (fsync(l->fd) && errno != EINVAL)
        return tg_error_set(err, TG_ERR_IO, "%s: fsync failed: %s", l->path, strerror(errno));
    return TG_OK;
}

tg_status tg_steplog_close(tg_steplog *l, tg_error *err) {
    tg_status st = TG_OK;
    if (l->fd >= 0 && err) st = tg_steplog_flush(l, err);
    if (l->fd >= 0) close(l->fd);
    free(l->buf);
    free(l->path);
    memset(l, 0, sizeof *l);
    l->fd = -1;
    return st;
}
