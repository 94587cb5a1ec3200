// runreport.h: the report of a training run drawn from the files in its output directory
// (so `train` after each epoch and `tgfinetune report RUN_DIR` draw the same picture, also
// while the run is still training), and the report of one evaluation.
//
// A run directory holds, besides the models and the checkpoint:
//   config.json     the resolved config (its main keys go into the text panel)
//   metrics.jsonl   one object per epoch (the accuracy curves, the validation loss)
//   steps.csv       one row per optimizer step (steplog.h: the loss and lr curves)
//   confusion.json  the last validation's confusion matrix:
//                   {"epoch": E, "classes": [NAME, ...], "confusion": [[N, ...], ...]}
//                   (rows: true class, columns: predicted), written atomically
// Every file but config.json may be missing (a run that has not finished an epoch): that
// part of the picture is empty.
#ifndef TG_RUNREPORT_H
#define TG_RUNREPORT_H

#include <stddef.h>

#include "app/evaluate.h"
#include "app/report.h"
#include "core/error.h"

// Writes dir/confusion.json (atomically). counts: (k, k), row = true class.
tg_status tg_run_confusion_save(const char *dir, int epoch, int k, char *const *classes,
                                const size_t *counts, tg_error *err);

// Reads the run in dir into r (initialised here; tg_report_free it, also on failure).
// A directory without config.json is not a run (TG_ERR_IO naming it); a file that does not
// parse is TG_ERR_FORMAT naming the file and line.
tg_status tg_run_report_load(const char *dir, tg_report *r, tg_error *err);

// tg_run_report_load, then tg_report_write_png to png (NULL: dir/report.png).
tg_status tg_run_report_write(const char *dir, const char *png, tg_error *err);

// The report of an evaluation (TG_REPORT_EVAL): model and data name the files in the
// title and text panel.
tg_status tg_eval_report_write(const tg_eval_result *res, const char *model, const char *data,
                               const char *png, tg_error *err);

#endif
