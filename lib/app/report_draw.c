// report_draw.c: draws the report (report.h) with Cairo into an RGB image surface and
// writes it as PNG through an atomic file. Every position comes from report_layout.c.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/report_cairo.h"
#include "io/atomic.h"

typedef struct {
    double r, g, b;
} rgb;

#define HEX(v) {((v) >> 16 & 255) / 255.0, ((v) >> 8 & 255) / 255.0, ((v)&255) / 255.0}
static const rgb INK = HEX(0x222222), MUTED = HEX(0x666666), GRID = HEX(0xe4e4e4),
                 FRAME = HEX(0xcfcfcf), EPOCH = HEX(0xb8b8b8), RAW = HEX(TG_REPORT_RGB_RAW),
                 SMOOTH = HEX(TG_REPORT_RGB_SMOOTH), VAL = HEX(TG_REPORT_RGB_VAL),
                 TRAIN = HEX(TG_REPORT_RGB_TRAIN), BEST = HEX(TG_REPORT_RGB_BEST),
                 LR = HEX(TG_REPORT_RGB_LR), BAR = HEX(TG_REPORT_RGB_BAR);

static void ink(cairo_t *cr, rgb c) {
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
}

// Text at (x, y) (baseline), aligned by ax: 0 left, 0.5 centred, 1 right.
static void text_at(cairo_t *cr, double x, double y, double ax, const char *s) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.x_advance, y);
    cairo_show_text(cr, s);
}

static void fmt_lin(char *buf, size_t n, double v, double step) {
    int d = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(buf, n, "%.*f", d, v);
}

static void fmt_log(char *buf, size_t n, double v) {
    if (v >= 1e-3 && v < 1e5) {
        snprintf(buf, n, "%g", v);
        return;
    }
    int e = (int)floor(log10(v) + 1e-9);
    snprintf(buf, n, "%ge%d", round(v / pow(10, e)), e);
}

static void frame(cairo_t *cr, tg_report_rect b, const char *title) {
    cairo_rectangle(cr, b.x + 0.5, b.y + 0.5, b.w - 1, b.h - 1);
    ink(cr, FRAME);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    tg_report_font_set(cr, TG_FONT_BOLD, 15);
    ink(cr, INK);
    char buf[512];
    tg_report_fit(cr, title, b.w - 24, buf, sizeof buf);
    text_at(cr, b.x + 12, b.y + 22, 0, buf);
}

// Grid, ticks and their labels, axis titles. ystep 0: a log axis with decade ticks.
static void axes(cairo_t *cr, const tg_plot_axes *a, double xstep, double ystep,
                 const char *xtitle, const char *ytitle) {
    double t[64];
    char buf[64];
    int ny;
    if (a->ylog) {
        double lo = a->ymin, hi = a->ymax;
        ny = tg_plot_log_range(&lo, &hi, t, 64);
    } else {
        ny = tg_plot_ticks(a->ymin, a->ymax, ystep, t, 64);
    }
    cairo_set_line_width(cr, 1);
    tg_report_font_set(cr, TG_FONT_SANS, 12);
    for (int i = 0; i < ny; i++) {
        double y = round(tg_plot_py(a, t[i])) + 0.5;
        ink(cr, GRID);
        cairo_move_to(cr, a->x, y);
        cairo_line_to(cr, a->x + a->w, y);
        cairo_stroke(cr);
        if (a->ylog) fmt_log(buf, sizeof buf, t[i]);
        else fmt_lin(buf, sizeof buf, t[i], ystep);
        ink(cr, INK);
        text_at(cr, a->x - 6, y + 4, 1, buf);
    }
    int nx = tg_plot_ticks(a->xmin, a->xmax, xstep, t, 64);
    for (int i = 0; i < nx; i++) {
        double x = round(tg_plot_px(a, t[i])) + 0.5;
        ink(cr, GRID);
        cairo_move_to(cr, x, a->y);
        cairo_line_to(cr, x, a->y + a->h);
        cairo_stroke(cr);
        fmt_lin(buf, sizeof buf, t[i], xstep);
        ink(cr, INK);
        text_at(cr, x, a->y + a->h + 17, 0.5, buf);
    }
    ink(cr, MUTED);
    cairo_rectangle(cr, a->x + 0.5, a->y + 0.5, a->w - 1, a->h - 1);
    cairo_stroke(cr);
    tg_report_font_set(cr, TG_FONT_SANS, 13);
    ink(cr, INK);
    text_at(cr, a->x + a->w / 2, a->y + a->h + 37, 0.5, xtitle);
    cairo_save(cr);
    cairo_translate(cr, a->x - 50, a->y + a->h / 2);
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, 0, 0, 0.5, ytitle);
    cairo_restore(cr);
}

static void empty_note(cairo_t *cr, const tg_plot_axes *a, const char *note) {
    tg_report_font_set(cr, TG_FONT_SANS, 13);
    ink(cr, MUTED);
    text_at(cr, a->x + a->w / 2, a->y + a->h / 2, 0.5, note);
}

static void clip_to(cairo_t *cr, const tg_plot_axes *a) {
    cairo_save(cr);
    cairo_rectangle(cr, a->x, a->y, a->w, a->h);
    cairo_clip(cr);
}

// A polyline through the finite points (a gap at each non-finite one).
static void curve(cairo_t *cr, const tg_plot_axes *a, const double *x, const double *y,
                  size_t n, rgb c, double width) {
    clip_to(cr, a);
    bool pen = false;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]) || (a->ylog && !(y[i] > 0))) {
            pen = false;
            continue;
        }
        double px = tg_plot_px(a, x[i]), py = tg_plot_py(a, y[i]);
        if (pen) cairo_line_to(cr, px, py);
        else cairo_move_to(cr, px, py);
        pen = true;
    }
    ink(cr, c);
    cairo_set_line_width(cr, width);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_stroke(cr);
    cairo_restore(cr);
}

static void dot(cairo_t *cr, double x, double y, double radius, rgb c) {
    cairo_new_sub_path(cr);
    cairo_arc(cr, x, y, radius, 0, 2 * M_PI);
    ink(cr, c);
    cairo_fill(cr);
}

// A legend at the right of a panel's title row: a short line (or a dot) and a label each.
static void legend(cairo_t *cr, tg_report_rect box, int n, const char *const *labels,
                   const rgb *colors, const bool *dots) {
    tg_report_font_set(cr, TG_FONT_SANS, 12);
    double x = box.x + box.w - 12, y = box.y + 22;
    for (int i = n - 1; i >= 0; i--) {
        cairo_text_extents_t e;
        cairo_text_extents(cr, labels[i], &e);
        x -= e.x_advance;
        ink(cr, INK);
        text_at(cr, x, y, 0, labels[i]);
        x -= 24;
        if (dots[i]) {
            dot(cr, x + 10, y - 4, 4, colors[i]);
        } else {
            ink(cr, colors[i]);
            cairo_set_line_width(cr, 2.5);
            cairo_move_to(cr, x + 2, y - 4);
            cairo_line_to(cr, x + 19, y - 4);
            cairo_stroke(cr);
        }
        x -= 14;
    }
}

// The step at which epoch e ended (its last row in steps.csv), NAN when it has none.
static double epoch_end_step(const tg_report *r, int e) {
    double s = NAN;
    for (size_t i = 0; i < r->n_steps; i++)
        if (r->step_epoch[i] == e) s = r->step_x[i];
    return s;
}

static void epoch_marks(cairo_t *cr, const tg_report *r, const tg_plot_axes *a) {
    int last = r->n_steps ? r->step_epoch[r->n_steps - 1] : 0;
    if (last > 40) return;
    static const double dash[] = {4, 4};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_set_line_width(cr, 1);
    ink(cr, EPOCH);
    for (int e = 1; e < last; e++) {
        double s = epoch_end_step(r, e);
        if (!isfinite(s)) continue;
        double x = round(tg_plot_px(a, s)) + 0.5;
        cairo_move_to(cr, x, a->y + 1);
        cairo_line_to(cr, x, a->y + a->h - 1);
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
}

static bool draw_loss(cairo_t *cr, const tg_report *r, const tg_report_layout *L) {
    const tg_plot_axes *a = &L->loss;
    frame(cr, L->loss_box, "Loss per step");
    axes(cr, a, L->step_xstep, L->loss_step, "optimizer step", "loss");
    if (!r->n_steps) empty_note(cr, a, "no step yet");
    epoch_marks(cr, r, a);
    curve(cr, a, r->step_x, r->step_loss, r->n_steps, RAW, 1);
    double *sm = malloc((r->n_steps + 2 * r->n_epochs + 1) * sizeof *sm);
    if (!sm) return false;
    tg_report_smooth(r->step_loss, r->n_steps, sm);
    curve(cr, a, r->step_x, sm, r->n_steps, SMOOTH, 2.5);
    size_t nv = 0;
    double *vx = sm + r->n_steps, *vy = vx + r->n_epochs;
    for (size_t i = 0; i < r->n_epochs; i++) {
        double s = epoch_end_step(r, r->epochs[i].epoch);
        if (!isfinite(s) || !isfinite(r->epochs[i].val_loss)) continue;
        vx[nv] = s;
        vy[nv++] = r->epochs[i].val_loss;
    }
    curve(cr, a, vx, vy, nv, VAL, 2);
    if (L->loss_clipped) {
        tg_report_font_set(cr, TG_FONT_SANS, 11);
        ink(cr, MUTED);
        const char *note = "rare spikes run off the top";
        cairo_text_extents_t e;
        cairo_text_extents(cr, note, &e);
        cairo_rectangle(cr, a->x + 2, a->y + 2, e.x_advance + 8, 16);
        cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
        cairo_fill(cr);
        ink(cr, MUTED);
        text_at(cr, a->x + 6, a->y + 14, 0, note);
    }
    for (size_t i = 0; i < nv; i++) dot(cr, tg_plot_px(a, vx[i]), tg_plot_py(a, vy[i]), 4.5, VAL);
    char smooth_label[64];
    snprintf(smooth_label, sizeof smooth_label, "smoothed (EMA %zu)",
             tg_report_smooth_window(r->n_steps));
    const char *labels[] = {"step", smooth_label, "validation"};
    const rgb colors[] = {RAW, SMOOTH, VAL};
    const bool dots[] = {false, false, true};
    legend(cr, L->loss_box, nv ? 3 : 2, labels, colors, dots);
    free(sm);
    return true;
}

// The epoch with the best validation top-1 (the first of equals), -1 without validation.
static int best_epoch(const tg_report *r) {
    int best = -1;
    for (size_t i = 0; i < r->n_epochs; i++)
        if (isfinite(r->epochs[i].val_acc) &&
            (best < 0 || r->epochs[i].val_acc > r->epochs[best].val_acc))
            best = (int)i;
    return best;
}

static bool draw_acc(cairo_t *cr, const tg_report *r, const tg_report_layout *L) {
    const tg_plot_axes *a = &L->acc;
    frame(cr, L->acc_box, "Top-1 accuracy per epoch");
    axes(cr, a, L->acc_xstep, L->acc_step, "epoch", "top-1 (%)");
    if (!r->n_epochs) empty_note(cr, a, "no epoch finished yet");
    size_t n = r->n_epochs;
    double *buf = calloc(3 * n + 1, sizeof *buf);
    if (!buf) return false;
    double *x = buf, *tr = buf + n, *va = buf + 2 * n;
    for (size_t i = 0; i < n; i++) {
        x[i] = r->epochs[i].epoch;
        tr[i] = r->epochs[i].train_acc * 100;
        va[i] = r->epochs[i].val_acc * 100;
    }
    curve(cr, a, x, tr, n, TRAIN, 2.5);
    curve(cr, a, x, va, n, VAL, 2.5);
    for (size_t i = 0; i < n && n <= 60; i++) {
        if (isfinite(tr[i])) dot(cr, tg_plot_px(a, x[i]), tg_plot_py(a, tr[i]), 4, TRAIN);
        if (isfinite(va[i])) dot(cr, tg_plot_px(a, x[i]), tg_plot_py(a, va[i]), 4, VAL);
    }
    int b = best_epoch(r);
    bool has_val = b >= 0;
    if (has_val) {
        double px = tg_plot_px(a, x[b]), py = tg_plot_py(a, va[b]);
        cairo_new_sub_path(cr);
        cairo_arc(cr, px, py, 9, 0, 2 * M_PI);
        ink(cr, BEST);
        cairo_set_line_width(cr, 2.5);
        cairo_stroke(cr);
        char note[96];
        snprintf(note, sizeof note, "best %.2f%% (epoch %d)", va[b], r->epochs[b].epoch);
        tg_report_font_set(cr, TG_FONT_BOLD, 12);
        cairo_text_extents_t e;
        cairo_text_extents(cr, note, &e);
        double tx = fmin(fmax(px - e.x_advance / 2, a->x + 4), a->x + a->w - e.x_advance - 4);
        double ty = py - 17 > a->y + 16 ? py - 17 : py + 27;  // above: the highest validation point
        cairo_rectangle(cr, tx - 4, ty - 13, e.x_advance + 8, 18);  // a halo over the curves
        cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
        cairo_fill(cr);
        ink(cr, BEST);
        text_at(cr, tx, ty, 0, note);
    }
    const char *labels[] = {"train", "validation"};
    const rgb colors[] = {TRAIN, VAL};
    const bool dots[] = {false, false};
    legend(cr, L->acc_box, has_val ? 2 : 1, labels, colors, dots);
    free(buf);
    return true;
}

static bool draw_lr(cairo_t *cr, const tg_report *r, const tg_report_layout *L) {
    const tg_plot_axes *a = &L->lr;
    frame(cr, L->lr_box, "Learning rate per step");
    axes(cr, a, L->step_xstep, 0, "optimizer step", "learning rate (log)");
    if (!r->n_steps) empty_note(cr, a, "no step yet");
    epoch_marks(cr, r, a);
    curve(cr, a, r->step_x, r->step_lr, r->n_steps, LR, 2.5);
    return true;
}

static void heat_names(cairo_t *cr, const tg_report *r, const tg_report_layout *L) {
    double c = L->cell, grid = c * r->k;
    char buf[512];
    if (L->name_font > 0) {
        tg_report_font_set(cr, TG_FONT_SANS, L->name_font);
        ink(cr, INK);
        for (int i = 0; i < r->k; i++) {
            tg_report_fit(cr, r->classes[i], L->name_w + 1, buf, sizeof buf);
            double mid = L->heat_y + (i + 0.5) * c + L->name_font * 0.35;
            text_at(cr, L->heat_x - 6, mid, 1, buf);
            cairo_save(cr);
            cairo_translate(cr, L->heat_x + (i + 0.5) * c + L->name_font * 0.35,
                            L->heat_y + grid + 6);
            cairo_rotate(cr, -M_PI / 2);
            text_at(cr, 0, 0, 1, buf);
            cairo_restore(cr);
        }
    }
    double label = L->name_font > 0 ? L->name_w + 8 : 0;
    tg_report_font_set(cr, TG_FONT_SANS, 13);
    ink(cr, INK);
    text_at(cr, L->heat_x + grid / 2, L->heat_y + grid + label + 18, 0.5, "predicted class");
    cairo_save(cr);
    cairo_translate(cr, L->heat_x - label - 8, L->heat_y + grid / 2);
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, 0, 0, 0.5, "true class");
    cairo_restore(cr);
}

static void heat_colorbar(cairo_t *cr, const tg_report_layout *L) {
    double grid = L->cell * L->k, x = L->heat_x + grid + 14, y = L->heat_y;
    cairo_pattern_t *p = cairo_pattern_create_linear(0, y + grid, 0, y);
    for (int s = 0; s <= 4; s++) {
        uint8_t c[3];
        tg_plot_heat_rgb(s / 4.0, c);
        cairo_pattern_add_color_stop_rgb(p, s / 4.0, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
    }
    cairo_rectangle(cr, x, y, 14, grid);
    cairo_set_source(cr, p);
    cairo_fill(cr);
    cairo_pattern_destroy(p);
    tg_report_font_set(cr, TG_FONT_SANS, 11);
    ink(cr, INK);
    for (int s = 0; s <= 4; s++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d%%", s * 25);
        text_at(cr, x + 19, y + grid - grid * s / 4 + 4, 0, buf);
    }
}

static void draw_heat(cairo_t *cr, const tg_report *r, const tg_report_layout *L) {
    char title[512];
    snprintf(title, sizeof title, "Confusion matrix, row-normalised%s%s",
             r->confusion_label ? ": " : "", r->confusion_label ? r->confusion_label : "");
    frame(cr, L->heat_box, title);
    if (!L->has_heat) {
        tg_report_font_set(cr, TG_FONT_SANS, 13);
        ink(cr, MUTED);
        text_at(cr, L->heat_box.x + L->heat_box.w / 2, L->heat_box.y + L->heat_box.h / 2, 0.5,
                "no validation yet");
        return;
    }
    double c = L->cell;
    bool numbers = c >= 24;
    tg_report_font_set(cr, TG_FONT_SANS, fmin(13, floor(c * 0.36)));
    for (int i = 0; i < r->k; i++) {
        uint64_t support;
        tg_report_recall(r, i, &support);
        for (int j = 0; j < r->k; j++) {
            uint64_t n = r->confusion[(size_t)i * r->k + j];
            double v = support ? (double)n / (double)support : 0;
            uint8_t col[3];
            tg_plot_heat_rgb(v, col);
            cairo_set_source_rgb(cr, col[0] / 255.0, col[1] / 255.0, col[2] / 255.0);
            double x = L->heat_x + j * c, y = L->heat_y + i * c;
            cairo_rectangle(cr, x, y, c, c);
            cairo_fill(cr);
            if (!numbers || !n) continue;
            char buf[16];
            snprintf(buf, sizeof buf, "%.0f", v * 100);
            if (v > 0.55) cairo_set_source_rgb(cr, 1, 1, 1);
            else ink(cr, INK);
            text_at(cr, x + c / 2, y + c / 2 + c * 0.13, 0.5, buf);
        }
    }
    heat_names(cr, r, L);
    heat_colorbar(cr, L);
}

static void draw_bars(cairo_t *cr, const tg_report *r, const tg_report_layout *L) {
    char title[128];
    if (L->bars_lowest)
        snprintf(title, sizeof title, "Recall per class: the %d lowest of %d (support)",
                 L->n_bars, r->k);
    else
        snprintf(title, sizeof title, "Recall per class (support: images of the class)");
    frame(cr, L->bars_box, title);
    if (!L->n_bars) return;
    const tg_plot_axes *a = &L->bars;
    double row = a->h / L->n_bars, font = fmin(12, floor(row * 0.85));
    cairo_set_line_width(cr, 1);
    tg_report_font_set(cr, TG_FONT_SANS, 12);
    for (int t = 0; t <= 4; t++) {  // grid at 0, 25, ..., 100 %
        double x = round(tg_plot_px(a, t / 4.0)) + 0.5;
        ink(cr, GRID);
        cairo_move_to(cr, x, a->y);
        cairo_line_to(cr, x, a->y + a->h);
        cairo_stroke(cr);
        char buf[16];
        snprintf(buf, sizeof buf, "%d%%", t * 25);
        ink(cr, INK);
        text_at(cr, x, a->y + a->h + 17, 0.5, buf);
    }
    // the overall top-1 (the diagonal's share of all images), dashed
    uint64_t diag = 0, all = 0;
    for (int i = 0; i < r->k; i++) {
        uint64_t s;
        tg_report_recall(r, i, &s);
        diag += r->confusion[(size_t)i * r->k + i];
        all += s;
    }
    for (int b = 0; b < L->n_bars; b++) {
        int c = L->bar_class[b];
        uint64_t support;
        double v = tg_report_recall(r, c, &support);
        double y = a->y + b * row, x1 = tg_plot_px(a, isfinite(v) ? v : 0);
        ink(cr, BAR);
        cairo_rectangle(cr, a->x, y + row * 0.15, x1 - a->x, row * 0.7);
        cairo_fill(cr);
        char buf[512];
        tg_report_font_set(cr, TG_FONT_SANS, font);
        ink(cr, INK);
        tg_report_fit(cr, r->classes[c], a->x - L->bars_box.x - 22, buf, sizeof buf);
        text_at(cr, a->x - 8, y + row / 2 + font * 0.35, 1, buf);
        if (isfinite(v))
            snprintf(buf, sizeof buf, "%.1f%% (%llu)", v * 100, (unsigned long long)support);
        else
            snprintf(buf, sizeof buf, "no images");
        text_at(cr, x1 + 6, y + row / 2 + font * 0.35, 0, buf);
    }
    if (all) {
        static const double dash[] = {5, 3};
        double x = round(tg_plot_px(a, (double)diag / (double)all)) + 0.5;
        cairo_set_dash(cr, dash, 2, 0);
        ink(cr, BEST);
        cairo_set_line_width(cr, 1.5);
        cairo_move_to(cr, x, a->y - 4);
        cairo_line_to(cr, x, a->y + a->h);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        char buf[48];
        snprintf(buf, sizeof buf, "top-1 %.1f%%", 100.0 * diag / all);
        tg_report_font_set(cr, TG_FONT_SANS, 12);
        text_at(cr, x, a->y + a->h + 33, 0.5, buf);
    }
    ink(cr, MUTED);
    cairo_set_line_width(cr, 1);
    cairo_move_to(cr, a->x + 0.5, a->y);
    cairo_line_to(cr, a->x + 0.5, a->y + a->h);
    cairo_stroke(cr);
}

static void draw_text(cairo_t *cr, const tg_report *r, const tg_report_layout *L) {
    frame(cr, L->text_box, r->kind == TG_REPORT_RUN ? "Run" : "Evaluation");
    const double line = 19;
    tg_report_font_set(cr, TG_FONT_MONO, 12.5);
    double kw = 0;
    for (size_t i = 0; i < r->n_info; i++) {
        cairo_text_extents_t e;
        cairo_text_extents(cr, r->info[2 * i], &e);
        kw = fmax(kw, e.x_advance);
    }
    kw = fmin(kw, L->text.w * 0.45);
    char buf[512];
    for (size_t i = 0; i < r->n_info; i++) {
        double y = L->text.y + 14 + line * i;
        if (y > L->text.y + L->text.h) break;
        ink(cr, MUTED);
        tg_report_fit(cr, r->info[2 * i], kw, buf, sizeof buf);
        text_at(cr, L->text.x, y, 0, buf);
        ink(cr, INK);
        const char *v = r->info[2 * i + 1];
        if (v[0] == '/') tg_report_fit_tail(cr, v, L->text.w - kw - 12, buf, sizeof buf);
        else tg_report_fit(cr, v, L->text.w - kw - 12, buf, sizeof buf);
        text_at(cr, L->text.x + kw + 12, y, 0, buf);
    }
}

static bool draw(cairo_t *cr, const tg_report *r, const tg_report_layout *L) {
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    char buf[1024];
    tg_report_font_set(cr, TG_FONT_BOLD, 21);
    ink(cr, INK);
    tg_report_fit(cr, r->title ? r->title : "tgfinetune", L->title.w - 40, buf, sizeof buf);
    text_at(cr, 20, 34, 0, buf);
    if (r->kind == TG_REPORT_RUN) {
        if (!draw_loss(cr, r, L) || !draw_acc(cr, r, L) || !draw_lr(cr, r, L)) return false;
    }
    draw_heat(cr, r, L);
    draw_bars(cr, r, L);
    draw_text(cr, r, L);
    return true;
}

typedef struct {
    tg_atomic_file f;
    tg_error err;  // the first write's failure (a full disk)
    bool failed;
} png_sink;

static cairo_status_t png_out(void *closure, const unsigned char *data, unsigned int n) {
    png_sink *p = closure;
    if (p->failed) return CAIRO_STATUS_WRITE_ERROR;
    p->failed = tg_atomic_write(&p->f, data, n, &p->err) != TG_OK;  // aborts f on failure
    return p->failed ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

tg_status tg_report_write_png(const tg_report *r, const char *path, tg_error *err) {
    tg_report_layout L;
    tg_status st = tg_report_layout_compute(r, &L, err);
    if (st) return st;
    cairo_surface_t *s =
        cairo_image_surface_create(CAIRO_FORMAT_RGB24, TG_REPORT_WIDTH, TG_REPORT_HEIGHT);
    cairo_t *cr = cairo_create(s);
    bool ok = cairo_status(cr) == CAIRO_STATUS_SUCCESS && draw(cr, r, &L);
    cairo_status_t cs = cairo_status(cr);
    cairo_destroy(cr);
    if (!ok || cs != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return tg_error_set(err, TG_ERR_NOMEM, "%s: cannot draw the report: %s", path,
                            ok ? cairo_status_to_string(cs) : "out of memory");
    }
    cairo_surface_flush(s);
    png_sink p = {.failed = false};
    st = tg_atomic_open(&p.f, path, err);
    if (!st) {
        cs = cairo_surface_write_to_png_stream(s, png_out, &p);
        if (p.failed) {  // the file is aborted already: the previous report stays
            if (err) *err = p.err;
            st = p.err.status;
        } else if (cs != CAIRO_STATUS_SUCCESS) {
            tg_atomic_abort(&p.f);
            st = tg_error_set(err, TG_ERR_IO, "%s: cannot write the PNG: %s (no file written)",
                              path, cairo_status_to_string(cs));
        } else {
            st = tg_atomic_commit(&p.f, err);
        }
    }
    cairo_surface_destroy(s);
    return st;
}
