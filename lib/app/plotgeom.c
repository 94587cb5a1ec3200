// plotgeom.c: data-to-pixel mapping, tick choice and the heat-map colour scale (plotgeom.h).
#include "app/plotgeom.h"

#include <math.h>

double tg_plot_px(const tg_plot_axes *a, double x) {
    double span = a->xmax - a->xmin;
    return a->x + (span > 0 ? (x - a->xmin) / span : 0.5) * a->w;
}

double tg_plot_py(const tg_plot_axes *a, double y) {
    double lo = a->ymin, hi = a->ymax;
    if (a->ylog) {
        if (!(y > 0)) return a->y + a->h * 2;
        y = log10(y);
        lo = log10(lo);
        hi = log10(hi);
    }
    double span = hi - lo;
    return a->y + a->h - (span > 0 ? (y - lo) / span : 0.5) * a->h;
}

double tg_plot_nice_range(double *lo, double *hi, int max_ticks) {
    if (max_ticks < 1) max_ticks = 1;
    if (!isfinite(*lo) || !isfinite(*hi)) {
        *lo = 0;
        *hi = 1;
    }
    if (*hi <= *lo) {  // one value: a range around it
        double d = *lo != 0 ? fabs(*lo) * 0.1 : 0.5;
        *hi = *lo + d;
        *lo -= d;
    }
    double raw = (*hi - *lo) / max_ticks;
    double p = pow(10, floor(log10(raw)));
    static const double mult[] = {1, 2, 5, 10};
    double step = p * 10;
    for (int i = 0; i < 4; i++) {
        double s = p * mult[i];
        if (ceil(*hi / s - 1e-9) - floor(*lo / s + 1e-9) <= max_ticks) {
            step = s;
            break;
        }
    }
    *lo = floor(*lo / step + 1e-9) * step;
    *hi = ceil(*hi / step - 1e-9) * step;
    return step;
}

int tg_plot_ticks(double lo, double hi, double step, double *ticks, int cap) {
    int n = 0;
    if (!(step > 0)) return 0;
    for (double k = ceil(lo / step - 1e-9); n < cap; k++) {
        double v = k * step;
        if (v > hi + step * 1e-9) break;
        ticks[n++] = fabs(v) < step * 1e-9 ? 0 : v;
    }
    return n;
}

int tg_plot_log_range(double *lo, double *hi, double *ticks, int cap) {
    if (!(*lo > 0) || !isfinite(*lo)) *lo = *hi > 0 && isfinite(*hi) ? *hi : 1;
    if (!(*hi >= *lo) || !isfinite(*hi)) *hi = *lo;
    int d0 = (int)floor(log10(*lo) + 1e-9), d1 = (int)ceil(log10(*hi) - 1e-9);
    if (d1 <= d0) d1 = d0 + 1;
    *lo = pow(10, d0);
    *hi = pow(10, d1);
    bool fine = d1 - d0 <= 2;
    int n = 0;
    for (int d = d0; d <= d1 && n < cap; d++) {
        double p = pow(10, d);
        ticks[n++] = p;
        if (fine && d < d1 && n + 2 <= cap) {
            ticks[n++] = 2 * p;
            ticks[n++] = 5 * p;
        }
    }
    return n;
}

void tg_plot_heat_rgb(double v, uint8_t rgb[3]) {
    static const uint8_t stops[5][3] = {
        {247, 251, 255}, {198, 219, 239}, {107, 174, 214}, {33, 113, 181}, {8, 48, 107}};
    if (!(v > 0)) v = 0;
    if (v > 1) v = 1;
    double f = v * 4;
    int i = (int)f;
    if (i > 3) i = 3;
    double t = f - i;
    for (int c = 0; c < 3; c++)
        rgb[c] = (uint8_t)lround(stops[i][c] + (stops[i + 1][c] - stops[i][c]) * t);
}
