// report.h: the run report, one PNG drawn with Cairo (report.png of a training run, or the
// picture of one evaluation with `eval --report`).
//
// A tg_report holds what is drawn: the steps of steps.csv, the epochs of metrics.jsonl, a
// confusion matrix with its class names, a title and the lines of the text panel. Fill it
// with the tg_report_add_* functions (runreport.h reads it from a run's directory), then
// tg_report_write_png. The picture is TG_REPORT_WIDTH x TG_REPORT_HEIGHT pixels:
//   run:  a title; step loss (raw, smoothed, the epochs' validation loss), top-1 per epoch
//         (train and validation, the best epoch marked), the learning rate (log axis); the
//         row-normalised confusion matrix as a heat map, per-class recall bars with their
//         support, and the text panel
//   eval: a title; the heat map, the per-class bars and the text panel
// tg_report_layout says where every panel's data lands (plotgeom.h), so a test can check
// the pixels a known curve or heat-map cell must colour.
#ifndef TG_REPORT_H
#define TG_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/plotgeom.h"
#include "core/error.h"

#define TG_REPORT_WIDTH 1600
#define TG_REPORT_HEIGHT 1000
#define TG_REPORT_MAX_BARS 40  // classes shown in the recall panel at most

typedef enum { TG_REPORT_RUN, TG_REPORT_EVAL } tg_report_kind;

typedef struct {
    int epoch;                     // 1-based
    double train_loss, train_acc;  // accuracies as fractions; NAN when unknown
    double val_loss, val_acc;      // NAN without validation
    double lr, seconds, images_per_s;
} tg_report_epoch;

typedef struct {
    tg_report_kind kind;
    char *title;
    size_t n_steps, cap_steps;
    double *step_x;     // (n_steps,) optimizer step, 1-based, counted over the whole run
    int *step_epoch;    // (n_steps,) 1-based
    double *step_loss;  // (n_steps,) the step's mean loss
    double *step_lr;    // (n_steps,)
    size_t n_epochs, cap_epochs;
    tg_report_epoch *epochs;  // (n_epochs,)
    int k;                    // classes of the confusion matrix; 0: none
    char **classes;           // (k,)
    uint64_t *confusion;      // (k, k): row = true class, column = predicted class
    char *confusion_label;    // what the matrix is of ("validation after epoch 3")
    size_t n_info, cap_info;
    char **info;  // (n_info, 2): key, value of the text panel
} tg_report;

void tg_report_init(tg_report *r, tg_report_kind kind);
void tg_report_free(tg_report *r);
tg_status tg_report_set_title(tg_report *r, const char *title, tg_error *err);
tg_status tg_report_add_step(tg_report *r, double step, int epoch, double loss, double lr,
                             tg_error *err);
tg_status tg_report_add_epoch(tg_report *r, const tg_report_epoch *e, tg_error *err);
// counts: (k, k) row = true class; label may be NULL. Replaces an earlier matrix.
tg_status tg_report_set_confusion(tg_report *r, int k, char *const *classes,
                                  const uint64_t *counts, const char *label, tg_error *err);
tg_status tg_report_add_info(tg_report *r, const char *key, const char *value, tg_error *err);

// The recall of class i of the confusion matrix (NAN for a class without images), and its
// support (the row's sum; may be NULL).
double tg_report_recall(const tg_report *r, int i, uint64_t *support);

// The smoothed loss curve: an exponential moving average over the steps with a window of
// w = clamp(n / 30, 1, 200) steps (beta = 1 - 2 / (w + 1)), bias-corrected as
// TensorBoard's smoothing is (out[0] = y[0]); non-finite values are skipped (out keeps
// the previous value).
size_t tg_report_smooth_window(size_t n);
void tg_report_smooth(const double *y, size_t n, double *out);

// The fonts (fontconfig names; Debian's fonts-dejavu-core): labels and the text panel.
#define TG_REPORT_FONT "DejaVu Sans"
#define TG_REPORT_FONT_MONO "DejaVu Sans Mono"

// The colours (0xRRGGBB) of the curves and bars.
#define TG_REPORT_RGB_RAW 0xa6c8e8     // step loss
#define TG_REPORT_RGB_SMOOTH 0x1f5fa8  // smoothed step loss
#define TG_REPORT_RGB_VAL 0xe8710a     // validation loss and top-1
#define TG_REPORT_RGB_TRAIN 0x1f5fa8   // train top-1
#define TG_REPORT_RGB_BEST 0xc81e1e    // the best epoch's ring, the overall top-1 line
#define TG_REPORT_RGB_LR 0x2a9a3a      // learning rate
#define TG_REPORT_RGB_BAR 0x4a78b5     // recall bars

typedef struct {
    double x, y, w, h;
} tg_report_rect;

// Where the content lands. Heat-map cell (i, j) (true class i, predicted class j) is the
// square [heat_x + j * cell, heat_x + (j + 1) * cell) x [heat_y + i * cell, ...), filled
// with tg_plot_heat_rgb(confusion[i][j] / row i's sum) (0 for an empty row); its number,
// when drawn, sits at its centre, so a cell's corners show the bare colour. Bar b shows
// class bar_class[b]: a bar from bars.x to tg_plot_px(&bars, recall) centred on
// bars.y + (b + 0.5) * bars.h / n_bars.
typedef struct {
    tg_report_rect title;  // the title band
    bool has_loss, has_acc, has_lr;  // run reports: the top row's panels
    tg_report_rect loss_box, acc_box, lr_box;  // each panel's frame (title included)
    tg_plot_axes loss;  // x: step, y: loss
    bool loss_clipped;  // step losses above loss.ymax (rare spikes) run off the top
    tg_plot_axes acc;   // x: epoch, y: top-1 in percent
    tg_plot_axes lr;    // x: step, y: learning rate (log)
    double step_xstep, loss_step, acc_xstep, acc_step;  // tick steps of the linear axes
    tg_report_rect heat_box, bars_box, text_box;
    bool has_heat;  // a confusion matrix is there
    double heat_x, heat_y, cell;
    int k;
    double name_font, name_w;  // class-name labels: font size (0: none drawn), widest width
    tg_plot_axes bars;         // x: recall in [0, 1]
    int n_bars;
    int bar_class[TG_REPORT_MAX_BARS];
    bool bars_lowest;  // more classes than bars: the n_bars lowest recalls, ascending
    tg_report_rect text;  // the text panel's lines
} tg_report_layout;

tg_status tg_report_layout_compute(const tg_report *r, tg_report_layout *L, tg_error *err);

// Draws the report into path (PNG, RGB, written atomically: a temporary file renamed).
tg_status tg_report_write_png(const tg_report *r, const char *path, tg_error *err);

#endif
