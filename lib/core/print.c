// print.c: PyTorch's tensor print format (see print.h). The rules follow
// torch/_tensor_str.py (1.13): a formatter chooses integer, fixed or scientific notation
// and one column width from the (summarised) values, then rows are laid out with
// elements_per_line = (linewidth - indent) / (width + 2), nested brackets aligned under
// "tensor(", and the grad_fn / requires_grad suffix appended.
#include "print.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PRECISION = 4, LINEWIDTH = 80, THRESHOLD = 1000, EDGEITEMS = 3 };

// ---- a growable string ----

typedef struct {
    char *s;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_spaces(sbuf *b, int n) {
    for (int i = 0; i < n; i++) sb_put(b, " ", 1);
}

// ---- the formatter ----

typedef struct {
    bool is_bool;
    bool int_mode, sci_mode;
    int width;
    // statistics over the nonzero finite values
    bool any;
    bool all_integral;
    double min_abs, max_abs;
    int bool_width;
} formatter;

// Python's float formatting for one value in a mode; NaN prints as "nan" whatever its sign.
static int fmt_value(char *out, size_t n, double v, char mode) {
    if (isnan(v)) return snprintf(out, n, "nan");
    if (isinf(v)) return snprintf(out, n, v > 0 ? "inf" : "-inf");
    switch (mode) {
    case 'e': return snprintf(out, n, "%.*e", PRECISION, v);
    case 'i': return snprintf(out, n, "%.0f", v);
    default: return snprintf(out, n, "%.*f", PRECISION, v);
    }
}

static void fmt_observe(formatter *f, double v) {
    if (!isfinite(v) || v == 0) return;
    double a = fabs(v);
    if (!f->any) {
        f->min_abs = f->max_abs = a;
        f->any = true;
    }
    if (a < f->min_abs) f->min_abs = a;
    if (a > f->max_abs) f->max_abs = a;
    if (v != ceil(v)) f->all_integral = false;
}

// Calls fn on every element offset that the printout shows (all of them, or the
// summarised EDGEITEMS at each end of every dimension), in row-major order.
typedef void (*visit_fn)(void *ud, int64_t off);
static void visit(const tg_tensor *t, int d, int64_t off, bool summarize, visit_fn fn,
                  void *ud) {
    if (d == t->ndim) {
        fn(ud, off);
        return;
    }
    int64_t n = t->shape[d], stride = tg_shape_numel(t->ndim - d - 1, t->shape + d + 1);
    for (int64_t i = 0; i < n; i++) {
        if (summarize && n > 2 * EDGEITEMS && i == EDGEITEMS) i = n - EDGEITEMS;
        visit(t, d + 1, off + i * stride, summarize, fn, ud);
    }
}

typedef struct {
    const tg_tensor *t;
    formatter *f;
    int pass;  // 0: statistics, 1: widths
} fmt_visit;

static void fmt_visit_fn(void *ud, int64_t off) {
    fmt_visit *v = ud;
    formatter *f = v->f;
    double x = v->t->data[off];
    if (f->is_bool) {
        int w = x != 0 ? 4 : 5;
        if (w > f->width) f->width = w;
        return;
    }
    if (v->pass == 0) {
        fmt_observe(f, x);
        return;
    }
    if (!isfinite(x) || x == 0) return;
    char s[64];
    int w = fmt_value(s, sizeof s, x, f->sci_mode ? 'e' : f->int_mode ? 'i' : 'f');
    if (f->int_mode && !f->sci_mode) w += 1;  // the "." that marks a float
    if (w > f->width) f->width = w;
}

static void fmt_init(formatter *f, const tg_tensor *t, bool summarize) {
    memset(f, 0, sizeof *f);
    f->is_bool = t->dtype == TG_BOOL;
    f->int_mode = true;
    f->all_integral = true;
    f->width = 1;
    fmt_visit v = {t, f, 0};
    visit(t, 0, 0, summarize, fmt_visit_fn, &v);
    if (f->is_bool || !f->any) return;
    f->int_mode = f->all_integral;
    double ratio = f->max_abs / f->min_abs;
    if (f->int_mode)
        f->sci_mode = ratio > 1000.0 || f->max_abs > 1e8;
    else
        f->sci_mode = ratio > 1000.0 || f->max_abs > 1e8 || f->min_abs < 1e-4;
    v.pass = 1;
    visit(t, 0, 0, summarize, fmt_visit_fn, &v);
}

// One element, padded on the left to the column width.
static void fmt_put(sbuf *b, const formatter *f, float x) {
    char s[64];
    int n;
    if (f->is_bool) {
        n = snprintf(s, sizeof s, "%s", x != 0 ? "True" : "False");
    } else if (f->sci_mode) {
        n = fmt_value(s, sizeof s, x, 'e');
    } else if (f->int_mode) {
        n = fmt_value(s, sizeof s, x, 'i');
        if (isfinite(x)) n += snprintf(s + n, sizeof s - (size_t)n, ".");
    } else {
        n = fmt_value(s, sizeof s, x, 'f');
    }
    sb_spaces(b, f->width - n);
    sb_put(b, s, (size_t)n);
}

// ---- layout ----

static void put_vector(sbuf *b, const tg_tensor *t, int64_t off, int indent, bool summarize,
                       const formatter *f) {
    int64_t n = t->shape[t->ndim - 1];
    int per_line = (LINEWIDTH - indent) / (f->width + 2);
    if (per_line < 1) per_line = 1;
    sb_str(b, "[");
    int64_t item = 0;  // position in the list of printed items (" ..." counts as one)
    for (int64_t i = 0; i < n; i++, item++) {
        if (item) {
            if (item % per_line == 0) {
                sb_str(b, ",\n");
                sb_spaces(b, indent + 1);
            } else {
                sb_str(b, ", ");
            }
        }
        if (summarize && n > 2 * EDGEITEMS && i == EDGEITEMS) {
            sb_str(b, " ...");
            i = n - EDGEITEMS - 1;
            continue;
        }
        fmt_put(b, f, t->data[off + i]);
    }
    sb_str(b, "]");
}

static void put_tensor(sbuf *b, const tg_tensor *t, int d, int64_t off, int indent,
                       bool summarize, const formatter *f) {
    if (d == t->ndim - 1) {
        put_vector(b, t, off, indent, summarize, f);
        return;
    }
    int64_t n = t->shape[d], stride = tg_shape_numel(t->ndim - d - 1, t->shape + d + 1);
    int rest = t->ndim - d;  // dims of this slice
    sb_str(b, "[");
    for (int64_t i = 0; i < n; i++) {
        if (i) {
            sb_str(b, ",");
            for (int k = 0; k < rest - 1; k++) sb_str(b, "\n");
            sb_spaces(b, indent + 1);
        }
        if (summarize && n > 2 * EDGEITEMS && i == EDGEITEMS) {
            sb_str(b, "...");
            i = n - EDGEITEMS - 1;
            continue;
        }
        put_tensor(b, t, d + 1, off + i * stride, indent + 1, summarize, f);
    }
    sb_str(b, "]");
}

// ", suffix" or ",\n<indent>suffix" when the last line would pass the line width
static void put_suffix(sbuf *b, const char *suffix, int indent) {
    const char *nl = NULL;
    for (const char *p = b->s; p && *p; p++)
        if (*p == '\n') nl = p;
    // torch: last_line_len = len(s) - s.rfind('\n') + 1
    long last = (long)b->len - (nl ? (long)(nl - b->s) : -1) + 1;
    long slen = (long)strlen(suffix);
    if (last + slen + 2 > LINEWIDTH) {
        sb_str(b, ",\n");
        sb_spaces(b, indent);
    } else {
        sb_str(b, ", ");
    }
    sb_str(b, suffix);
}

char *tg_tensor_str(const tg_tensor *t) {
    sbuf b = {0};
    const int indent = 7;  // strlen("tensor(")
    sb_str(&b, "tensor(");
    bool summarize = t->numel > THRESHOLD;
    bool empty_size = false;
    if (t->numel == 0) {
        sb_str(&b, "[]");
        empty_size = t->ndim != 1;
    } else {
        formatter f;
        fmt_init(&f, t, summarize);
        if (t->ndim == 0)
            fmt_put(&b, &f, t->data[0]);
        else
            put_tensor(&b, t, 0, 0, indent, summarize, &f);
    }
    char suffix[TG_SHAPE_STR_MAX + 64];
    if (empty_size) {
        char s[TG_SHAPE_STR_MAX];
        snprintf(suffix, sizeof suffix, "size=%s", tg_shape_str(t, s, sizeof s));
        put_suffix(&b, suffix, indent);
    }
    if (t->numel == 0 && t->dtype == TG_BOOL) put_suffix(&b, "dtype=torch.bool", indent);
    if (t->grad_fn) {
        snprintf(suffix, sizeof suffix, "grad_fn=<%s>", tg_node_name(t->grad_fn));
        put_suffix(&b, suffix, indent);
    } else if (t->requires_grad) {
        put_suffix(&b, "requires_grad=True", indent);
    }
    sb_str(&b, ")");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
