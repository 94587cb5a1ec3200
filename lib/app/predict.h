// predict.h: top-k classification of image files with a trained model file, preprocessing
// (Resize, CenterCrop, Normalize) taken from the model's metadata (modelfile.h).
#ifndef TG_PREDICT_H
#define TG_PREDICT_H

#include "app/modelfile.h"
#include "core/tensor.h"
#include "data/image.h"
#include "nn/resnet18.h"

typedef struct {
    int index;          // class index
    double probability; // softmax probability
} tg_prediction;

typedef struct {
    tg_resnet18 *model;
    tg_model_meta meta;
    tg_ctx ctx;
    float *x;             // (3, S, S) input buffer
    tg_image_opts image;  // decoder caps
} tg_predictor;

// Opens a model file written by train. threads: 0 = every core.
tg_status tg_predictor_open(tg_predictor *p, const char *model_path, int threads, tg_error *err);
// The k most probable classes of one image, best first (ties: lower index first);
// k is clamped to [1, num_classes]; out holds k entries. Returns the count in *n_out.
tg_status tg_predictor_run(tg_predictor *p, const char *image_path, int k, tg_prediction *out,
                           int *n_out, tg_error *err);
void tg_predictor_close(tg_predictor *p);

// Softmax of logits (n,) in double precision into probs (n,).
void tg_softmax(const float *logits, int n, double *probs);
// Indices of the k largest values of probs (n,), best first, ties by index (NaN last);
// O(n log k).
void tg_topk(const double *probs, int n, int k, int *idx);

#endif
