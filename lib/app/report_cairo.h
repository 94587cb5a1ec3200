// report_cairo.h: what report_layout.c and report_draw.c share inside lib/app: the fonts
// and the fitting of untrusted text (class names, paths) into a width.
#ifndef TG_REPORT_CAIRO_H
#define TG_REPORT_CAIRO_H

#include <cairo.h>
#include <stddef.h>

#include "app/report.h"

typedef enum { TG_FONT_SANS, TG_FONT_BOLD, TG_FONT_MONO } tg_report_font;

void tg_report_font_set(cairo_t *cr, tg_report_font f, double size);
// in made printable (tg_path_escape: control bytes and bytes that are not UTF-8 become
// \xNN, which Cairo could not draw) and cut with an ellipsis to at most max_w pixels in
// the current font. Returns its width.
double tg_report_fit(cairo_t *cr, const char *in, double max_w, char *out, size_t n);
// The same, cut at the start ("…/data/train"): for paths, whose end says the most.
double tg_report_fit_tail(cairo_t *cr, const char *in, double max_w, char *out, size_t n);

#endif
