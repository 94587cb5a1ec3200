// report_layout.c: the panels of the report and the data ranges of their axes (report.h's
// tg_report_layout). The drawing (report_draw.c) and the tests both take every position
// from here.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/report_cairo.h"
#include "core/escape.h"

#define MARGIN 20.0
#define TITLE_H 50.0
#define PANEL_TITLE_H 32.0
#define NAME_MAX_W 150.0
#define BAR_ROW_MIN 13.0

void tg_report_font_set(cairo_t *cr, tg_report_font f, double size) {
    cairo_select_font_face(cr, f == TG_FONT_MONO ? TG_REPORT_FONT_MONO : TG_REPORT_FONT,
                           CAIRO_FONT_SLANT_NORMAL,
                           f == TG_FONT_BOLD ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

static double text_w(cairo_t *cr, const char *s) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

double tg_report_fit(cairo_t *cr, const char *in, double max_w, char *out, size_t n) {
    tg_path_escape(in, out, n);
    double w = text_w(cr, out);
    if (w <= max_w) return w;
    static const char ell[] = "\xe2\x80\xa6";  // U+2026
    size_t len = strlen(out);
    while (len > 0) {
        len--;
        while (len > 0 && ((unsigned char)out[len] & 0xc0) == 0x80) len--;  // whole chars
        if (len + sizeof ell > n) continue;
        memcpy(out + len, ell, sizeof ell);
        w = text_w(cr, out);
        if (w <= max_w) return w;
    }
    memcpy(out, ell, sizeof ell);
    return text_w(cr, out);
}

double tg_report_fit_tail(cairo_t *cr, const char *in, double max_w, char *out, size_t n) {
    char buf[1024];
    tg_path_escape(in, buf, sizeof buf);
    double w = text_w(cr, buf);
    static const char ell[] = "\xe2\x80\xa6";  // U+2026
    const char *p = buf;
    while (w > max_w && *p) {
        p++;
        while (((unsigned char)*p & 0xc0) == 0x80) p++;  // whole characters
        snprintf(out, n, "%s%s", ell, p);
        w = text_w(cr, out);
    }
    if (p == buf) snprintf(out, n, "%s", buf);
    return w;
}

double tg_report_recall(const tg_report *r, int i, uint64_t *support) {
    uint64_t s = 0;
    for (int j = 0; j < r->k; j++) s += r->confusion[(size_t)i * r->k + j];
    if (support) *support = s;
    return s ? (double)r->confusion[(size_t)i * r->k + i] / (double)s : NAN;
}

static tg_report_rect rect(double x, double y, double w, double h) {
    return (tg_report_rect){x, y, w, h};
}

// A plot inside a panel frame: room for the title, tick labels and axis titles.
static tg_plot_axes axes_in(tg_report_rect b) {
    tg_plot_axes a = {0};
    a.x = b.x + 66;
    a.y = b.y + PANEL_TITLE_H + 8;
    a.w = b.w - 66 - 16;
    a.h = b.h - PANEL_TITLE_H - 8 - 46;
    return a;
}

static void widen(double x, double *lo, double *hi) {
    if (!isfinite(x)) return;
    if (x < *lo) *lo = x;
    if (x > *hi) *hi = x;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// The top of the loss axis: the highest smoothed or validation loss, or the 98th
// percentile of the step losses when higher; rarer spikes run off the top (*clipped).
static bool loss_top(const tg_report *r, double *top, bool *clipped) {
    size_t n = r->n_steps, m = 0;
    double *v = malloc((2 * n + 1) * sizeof *v), raw_max = -INFINITY;
    if (!v) return false;
    double *sm = v + n;
    tg_report_smooth(r->step_loss, n, sm);
    *top = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        widen(sm[i], top, top);
        if (isfinite(r->step_loss[i])) v[m++] = r->step_loss[i];
        raw_max = fmax(raw_max, isfinite(r->step_loss[i]) ? r->step_loss[i] : -INFINITY);
    }
    for (size_t i = 0; i < r->n_epochs; i++)
        if (isfinite(r->epochs[i].val_loss)) *top = fmax(*top, r->epochs[i].val_loss);
    if (m) {
        qsort(v, m, sizeof *v, cmp_double);
        *top = fmax(*top, v[(size_t)floor(0.98 * (double)(m - 1))]);
    }
    *clipped = raw_max > *top;
    free(v);
    return true;
}

static bool layout_curves(const tg_report *r, tg_report_layout *L) {
    double smax = 0;
    for (size_t i = 0; i < r->n_steps; i++) smax = fmax(smax, r->step_x[i]);
    // loss over steps, with the epochs' validation loss; the x axis ends at the last step
    L->has_loss = r->n_steps > 0;
    L->loss = axes_in(L->loss_box);
    double x0 = 0, x1 = smax > 0 ? smax : 1;
    L->step_xstep = tg_plot_nice_range(&x0, &x1, 6);
    L->loss.xmin = 0;
    L->loss.xmax = smax > 0 ? smax : 1;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < r->n_steps; i++) widen(r->step_loss[i], &lo, &hi);
    for (size_t i = 0; i < r->n_epochs; i++) widen(r->epochs[i].val_loss, &lo, &hi);
    if (r->n_steps && !loss_top(r, &hi, &L->loss_clipped)) return false;
    if (!(lo <= hi)) lo = 0, hi = 1;
    hi += (hi - lo) * 0.03;  // the highest point off the frame
    L->loss.ymin = lo;
    L->loss.ymax = hi;
    L->loss_step = tg_plot_nice_range(&L->loss.ymin, &L->loss.ymax, 6);
    // top-1 per epoch, in percent
    L->has_acc = r->n_epochs > 0;
    L->acc = axes_in(L->acc_box);
    int last = 1;
    for (size_t i = 0; i < r->n_epochs; i++)
        if (r->epochs[i].epoch > last) last = r->epochs[i].epoch;
    L->acc.xmin = 0.5;
    L->acc.xmax = last + 0.5;
    L->acc_xstep = last <= 10 ? 1 : ceil(last / 10.0);
    lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < r->n_epochs; i++) {
        widen(r->epochs[i].train_acc, &lo, &hi);
        widen(r->epochs[i].val_acc, &lo, &hi);
    }
    if (!(lo <= hi)) lo = 0, hi = 1;
    L->acc.ymin = (lo - (hi - lo) * 0.1) * 100;  // room for the best epoch's note below
    L->acc.ymax = (hi + (hi - lo) * 0.04) * 100;
    L->acc_step = tg_plot_nice_range(&L->acc.ymin, &L->acc.ymax, 6);
    if (L->acc.ymin < 0) L->acc.ymin = 0;
    if (L->acc.ymax > 100) L->acc.ymax = 100;
    // the learning rate of each step, log axis
    L->has_lr = r->n_steps > 0;
    L->lr = axes_in(L->lr_box);
    L->lr.xmin = L->loss.xmin;
    L->lr.xmax = L->loss.xmax;
    L->lr.ylog = true;
    lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < r->n_steps; i++) {
        double v = r->step_lr[i];
        if (!(v > 0) || !isfinite(v)) continue;
        lo = fmin(lo, v);
        hi = fmax(hi, v);
    }
    double ticks[32];
    if (!(lo <= hi)) lo = hi = 0.01;
    lo /= 1.25;  // a value on a decade stays off the frame
    hi *= 1.25;
    tg_plot_log_range(&lo, &hi, ticks, 32);
    L->lr.ymin = lo;
    L->lr.ymax = hi;
    return true;
}

// The widest class name at font size f (cut at NAME_MAX_W).
static double names_width(cairo_t *cr, const tg_report *r, double f) {
    tg_report_font_set(cr, TG_FONT_SANS, f);
    double w = 0;
    char buf[512];
    for (int i = 0; i < r->k; i++)
        w = fmax(w, tg_report_fit(cr, r->classes[i], NAME_MAX_W, buf, sizeof buf));
    return ceil(w);
}

// The heat map: a square grid with row names on the left, column names below (turned a
// quarter), axis titles, and the colour bar on the right.
static void layout_heat(cairo_t *cr, const tg_report *r, tg_report_layout *L) {
    tg_report_rect b = L->heat_box;
    L->has_heat = r->k > 0;
    L->k = r->k;
    if (!r->k) return;
    const double axis_title = 22, bar_room = 70;
    double top = b.y + PANEL_TITLE_H + 10;
    double avail_h = b.y + b.h - 12 - top, avail_w = b.w - 24 - bar_room;
    double font = 12, nw = names_width(cr, r, font);
    double side = fmin(avail_w - nw - 8 - axis_title, avail_h - nw - 8 - axis_title);
    double cell = side / r->k;
    if (cell < 13) {  // smaller names, or none below 7 px
        font = fmax(7, floor(cell * 0.9));
        nw = cell >= 7 ? names_width(cr, r, font) : 0;
        side = fmin(avail_w - nw - 8 - axis_title, avail_h - nw - 8 - axis_title);
        cell = side / r->k;
        if (cell < 7) font = 0, nw = 0;
        if (!font) cell = fmin(avail_w - axis_title, avail_h - axis_title) / r->k;
    }
    if (cell > 100) cell = 100;
    if (cell >= 2) cell = floor(cell);
    L->cell = cell;
    L->name_font = font;
    L->name_w = nw;
    double label = font ? nw + 8 : 0, grid = cell * r->k;
    double used_w = axis_title + label + grid + bar_room;
    L->heat_x = round(b.x + 12 + (b.w - 24 - used_w) / 2 + axis_title + label);
    L->heat_y = round(top);
}

static void layout_bars(cairo_t *cr, const tg_report *r, tg_report_layout *L) {
    tg_report_rect b = L->bars_box;
    if (!r->k) return;
    double top = b.y + PANEL_TITLE_H + 10, bottom = b.y + b.h - 40;
    int fit = (int)((bottom - top) / BAR_ROW_MIN);
    if (fit > TG_REPORT_MAX_BARS) fit = TG_REPORT_MAX_BARS;
    int n = r->k < fit ? r->k : fit;
    L->n_bars = n;
    L->bars_lowest = n < r->k;
    if (!L->bars_lowest) {
        for (int i = 0; i < n; i++) L->bar_class[i] = i;
    } else {  // the n lowest recalls, ascending (classes without images last)
        for (int s = 0; s < n; s++) {
            int best = -1;
            double bv = INFINITY;
            for (int i = 0; i < r->k; i++) {
                bool taken = false;
                for (int t = 0; t < s && !taken; t++) taken = L->bar_class[t] == i;
                if (taken) continue;
                double v = tg_report_recall(r, i, NULL);
                if (!isfinite(v)) v = 2;
                if (best < 0 || v < bv) best = i, bv = v;
            }
            L->bar_class[s] = best;
        }
    }
    double row = fmin(36, (bottom - top) / n), font = fmin(12, floor(row * 0.85));
    double nw = names_width(cr, r, font);
    L->bars.x = b.x + 14 + nw + 8;
    L->bars.y = top;
    L->bars.w = b.x + b.w - 118 - L->bars.x;
    L->bars.h = row * n;
    L->bars.xmin = 0;
    L->bars.xmax = 1;
    L->bars.ymin = 0;
    L->bars.ymax = n;
}

tg_status tg_report_layout_compute(const tg_report *r, tg_report_layout *L, tg_error *err) {
    memset(L, 0, sizeof *L);
    const double W = TG_REPORT_WIDTH, H = TG_REPORT_HEIGHT, M = MARGIN;
    L->title = rect(0, 0, W, TITLE_H);
    if (r->kind == TG_REPORT_RUN) {
        double bw = (W - 4 * M) / 3, top = TITLE_H + 8, row_h = 412;
        L->loss_box = rect(M, top, bw, row_h);
        L->acc_box = rect(2 * M + bw, top, bw, row_h);
        L->lr_box = rect(3 * M + 2 * bw, top, bw, row_h);
        double y2 = top + row_h + M, h2 = H - M - y2;
        L->heat_box = rect(M, y2, 620, h2);
        L->bars_box = rect(2 * M + 620, y2, 480, h2);
        L->text_box = rect(3 * M + 1100, y2, W - 4 * M - 1100, h2);
        if (!layout_curves(r, L)) return tg_error_set(err, TG_ERR_NOMEM, "report: out of memory");
    } else {
        double top = TITLE_H + 8;
        L->heat_box = rect(M, top, 880, H - M - top);
        L->bars_box = rect(2 * M + 880, top, W - 3 * M - 880, 640);
        L->text_box = rect(2 * M + 880, top + 640 + M, W - 3 * M - 880, H - 2 * M - top - 640);
    }
    L->text = rect(L->text_box.x + 14, L->text_box.y + PANEL_TITLE_H + 8, L->text_box.w - 28,
                   L->text_box.h - PANEL_TITLE_H - 16);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 8, 8);
    cairo_t *cr = cairo_create(s);
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        cairo_destroy(cr);
        cairo_surface_destroy(s);
        return tg_error_set(err, TG_ERR_NOMEM, "report: cannot create a Cairo context");
    }
    layout_heat(cr, r, L);
    layout_bars(cr, r, L);
    cairo_destroy(cr);
    cairo_surface_destroy(s);
    return TG_OK;
}
