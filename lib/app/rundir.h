// rundir.h: a training run's output directory: the names of the files a run writes there,
// paths in it, mkdir -p, atomic writes of small text files, clean-up at the start of a run
// (temporary files of an interrupted save, a previous run's models) and the last-run record
// (./.tgfinetune/last_run) that predict and eval use without --model.
#ifndef TG_RUNDIR_H
#define TG_RUNDIR_H

#include <stddef.h>

#include "app/notice.h"
#include "core/error.h"

// The files of a run, in the output directory (README.md, "What train writes").
#define TG_RUN_CONFIG "config.json"
#define TG_RUN_CHECKPOINT "checkpoint.safetensors"
#define TG_RUN_MODEL "model.safetensors"
#define TG_RUN_BEST "best.safetensors"
#define TG_RUN_METRICS "metrics.jsonl"
#define TG_RUN_STEPS "steps.csv"
#define TG_RUN_CONFUSION "confusion.json"
#define TG_RUN_REPORT "report.png"

// Where last_run is kept when the caller names no directory.
#define TG_RUN_LAST_RUN_DIR ".tgfinetune"

// "dir/name", malloc'd; NULL when out of memory.
char *tg_rundir_path(const char *dir, const char *name);
// mkdir -p; then path must be a directory.
tg_status tg_rundir_mkdir(const char *path, tg_error *err);
// Writes n bytes of text to path atomically (io/atomic.h).
tg_status tg_rundir_write(const char *path, const char *text, size_t n, tg_error *err);

// Removes "<file>.tmp.XXXXXX" left in dir by a save killed before its rename, for each of
// the run's own files above; nothing else. A missing dir has nothing stale.
void tg_rundir_remove_stale_tmp(const char *dir, tg_notice_fn notice, void *user);
// Removes the models (model.safetensors, best.safetensors) of a previous run in dir, so that
// predict never picks up a stale model while a new run trains. Each removal is said to
// notice (may be NULL).
void tg_rundir_remove_models(const char *dir, tg_notice_fn notice, void *user);

// Removes a previous run's report files (report.png, confusion.json) from dir, silently:
// the new run draws its own after its first epoch.
void tg_rundir_remove_report(const char *dir);

// Records dir (made absolute) in last_run_dir/last_run (NULL: TG_RUN_LAST_RUN_DIR).
tg_status tg_rundir_record_last_run(const char *last_run_dir, const char *dir, tg_error *err);
// The directory recorded there, malloc'd; NULL with err set when there is none.
char *tg_rundir_last_run(const char *last_run_dir, tg_error *err);

#endif
