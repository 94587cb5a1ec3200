// evaluate.h: accuracy of a trained model file on an ImageFolder tree whose classes are the
// model's classes: top-1, top-5 (with 5 classes or more), mean cross-entropy loss,
// per-class accuracy and the confusion matrix. Below it, the pieces train shares: the
// evaluation loop (train's validation), a batch's forward pass and loss (train's step),
// and the loader options of a model's preprocessing (train's loaders start from them).
#ifndef TG_EVALUATE_H
#define TG_EVALUATE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "app/modelfile.h"
#include "app/notice.h"
#include "core/error.h"
#include "core/tensor.h"
#include "data/loader.h"
#include "nn/resnet18.h"

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

// ---- the evaluation loop ----
// What a pass adds up. The per-class arrays are the caller's (zeroed), or NULL when not
// wanted; "predicted" is the top-scoring class, the first of equal scores.
typedef struct {
    size_t images;          // images evaluated
    size_t skipped;         // unreadable files the loader dropped
    double loss_sum;        // sum over images of the cross-entropy
    size_t correct;         // images whose predicted class is their label
    size_t top1, top5;      // images whose label ranks first / in the first five: ranked by
                            // score, equal scores in index order
    size_t *class_total;    // (K,) images per true class, or NULL
    size_t *class_correct;  // (K,) correct images per true class, or NULL
    size_t *confusion;      // (K, K) row = true class, column = predicted class, or NULL
} tg_eval_sums;

typedef struct {
    const volatile sig_atomic_t *stop;  // non-zero before a batch: stop (may be NULL)
    const char *what;  // names the pass in a forward failure's message ("validation: ...")
    // After each batch: images and skipped files so far, and `total` as given (may be NULL).
    void (*progress)(void *user, size_t done, size_t total);
    size_t total;
    void *user;
} tg_eval_loop_opts;

// One pass over the loader's epoch 0 with the model in eval mode (its mode is restored
// after) and no gradients, c's arena reset after each batch; adds into s. *stopped tells
// that the stop flag rose (s is then incomplete).
tg_status tg_eval_loop(tg_ctx *c, tg_resnet18 *model, tg_loader *l, const tg_eval_loop_opts *o,
                       tg_eval_sums *s, bool *stopped, tg_error *err);

// A batch through the model: *logits (n, K) and the mean cross-entropy with
// label_smoothing (1 element), both in c's arena; NULL when an op failed (tg_ctx_error(c)).
tg_tensor *tg_batch_loss(tg_ctx *c, tg_resnet18 *model, const tg_batch *b,
                         float label_smoothing, tg_tensor **logits);
// Images of a batch whose predicted class (logits (n, K)) is their label.
size_t tg_count_correct(const tg_tensor *logits, const int *labels, int n);

// Loader options of the evaluation pipeline for a model's preprocessing (Resize(resize),
// CenterCrop(image_size), Normalize(mean, std); folder order, no augmentation), with one
// background decoder beside compute_threads >= 2 (decoding is light next to a forward
// pass). Bad-file notices go to notice.
void tg_eval_loader_opts(tg_loader_opts *o, const tg_model_meta *pre, int batch_size,
                         int compute_threads, tg_notice_fn notice, void *user);

#endif
