// plotgeom.h: where data lands on a plot, without drawing anything. The report (report.h)
// lays out its panels with these functions and draws through them, and the tests use the
// same functions to find the pixels a known curve or heat-map cell must colour.
//
// Pixel coordinates are Cairo's: x to the right, y down, pixel (i, j) covers the square
// [i, i + 1) x [j, j + 1), so a point at (x, y) lies in pixel (floor(x), floor(y)).
#ifndef TG_PLOTGEOM_H
#define TG_PLOTGEOM_H

#include <stdbool.h>
#include <stdint.h>

// A plot area and the data range it shows. xmin maps to x, xmax to x + w; ymin maps to the
// bottom edge y + h and ymax to the top edge y. With ylog the y axis is logarithmic (base
// 10; ymin and ymax > 0).
typedef struct {
    double x, y, w, h;
    double xmin, xmax, ymin, ymax;
    bool ylog;
} tg_plot_axes;

// Data to pixel coordinates (values outside the range map outside the area; a value <= 0
// on a log axis maps to -infinity's side: below the area).
double tg_plot_px(const tg_plot_axes *a, double x);
double tg_plot_py(const tg_plot_axes *a, double y);

// Widens [*lo, *hi] to multiples of a "nice" step (1, 2 or 5 times a power of ten) giving
// at most max_ticks intervals, and returns that step. An empty or reversed range (lo >= hi,
// or not finite) becomes a small range around lo (or [0, 1]).
double tg_plot_nice_range(double *lo, double *hi, int max_ticks);

// The multiples of step in [lo, hi] (at most cap of them, written to ticks); returns the
// count.
int tg_plot_ticks(double lo, double hi, double step, double *ticks, int cap);

// Log axis: widens [*lo, *hi] (both > 0) to whole decades, and writes the ticks: the powers
// of ten, plus 2x and 5x each when the range spans at most two decades. Returns the count.
int tg_plot_log_range(double *lo, double *hi, double *ticks, int cap);

// The heat map's colour scale for v in [0, 1] (clamped; NaN counts as 0): linear
// interpolation in sRGB between five stops, matplotlib's "Blues" at 0, 0.25, 0.5, 0.75, 1:
//   0.00 (247, 251, 255)   0.25 (198, 219, 239)   0.50 (107, 174, 214)
//   0.75 ( 33, 113, 181)   1.00 (  8,  48, 107)
// Each channel is rounded to the nearest integer.
void tg_plot_heat_rgb(double v, uint8_t rgb[3]);

#endif
