// evaluate.h: accuracy of a trained model file on an ImageFolder tree whose classes are the
// model's classes: top-1, top-5 (with 5 classes or more), mean cross-entropy loss,
// per-class accuracy and the confusion matrix.
#ifndef TG_EVALUATE_H
#define TG_EVALUATE_H

#include <stddef.h>

#include "app/modelfile.h"
#include "core/error.h"

typedef struct {
    int batch_size;  // default 32
    int threads;     // 0 = every core
    void (*message)(void *user, const char *msg);  // bad-file notices (may be NULL)
    void (*progress)(void *user, size_t done, size_t total);  // images so far (may be NULL)
    void *user;
} tg_eval_opts;

typedef struct {
    tg_model_meta meta;    // classes of the model (= the folder's)
    size_t images;         // images evaluated
    size_t skipped;        // unreadable files
    double top1, top5;     // fractions; top5 is NAN with fewer than 5 classes
    double loss;           // mean cross-entropy
    size_t *class_total;   // (K,) images per true class
    size_t *class_correct; // (K,) top-1 hits per true class
    size_t *confusion;     // (K, K): row = true class, column = predicted class
} tg_eval_result;

tg_status tg_evaluate(const char *model_path, const char *data_dir, const tg_eval_opts *o,
                      tg_eval_result *r, tg_error *err);
void tg_eval_result_free(tg_eval_result *r);

#endif
