// modelfile.h: what a trained model file (model.safetensors, best.safetensors,
// checkpoint.safetensors) carries besides the weights: safetensors __metadata__ with the
// class names in index order, the preprocessing and a format version, so predict and eval
// need nothing else.
//
//   "format": "pt"                      (what safetensors.torch.save_file writes)
//   "tgfinetune_format": "1"            (TG_MODEL_FORMAT_VERSION)
//   "arch": "resnet18"
//   "classes": "[\"Bag\", \"Coat\", ...]"  (a JSON array; index = position)
//   "image_size": "224", "resize": "256"
//   "mean": "[0.485, 0.456, 0.406]", "std": "[0.229, 0.224, 0.225]"
// The tensors are torchvision's resnet18 state_dict (safetensors.torch.load_file +
// model.load_state_dict load them).
#ifndef TG_MODELFILE_H
#define TG_MODELFILE_H

#include "core/error.h"
#include "io/statedict.h"
#include "nn/resnet18.h"

#define TG_MODEL_FORMAT_VERSION 1

typedef struct {
    int num_classes;
    char **classes;  // (num_classes,) malloc'd
    int image_size;
    int resize;
    float mean[3], std[3];
} tg_model_meta;

void tg_model_meta_free(tg_model_meta *m);
// Deep copy of class names (n of them) into m->classes.
tg_status tg_model_meta_set_classes(tg_model_meta *m, char *const *names, int n, tg_error *err);
// Adds the metadata keys above to sd.
tg_status tg_model_meta_put(tg_statedict *sd, const tg_model_meta *m, tg_error *err);
// Reads them back; path names the file in messages. Missing or malformed keys are errors
// that say the file was not written by tgfinetune train.
tg_status tg_model_meta_get(const tg_statedict *sd, const char *path, tg_model_meta *m,
                            tg_error *err);

// Weights plus metadata, written atomically.
tg_status tg_model_save(const char *path, const tg_resnet18 *model, const tg_model_meta *meta,
                        tg_error *err);
// Reads a model file: metadata, then a resnet18 with that many classes, loaded strictly and
// put in eval mode. On failure *model is NULL and meta empty.
tg_status tg_model_open(const char *path, tg_resnet18 **model, tg_model_meta *meta,
                        tg_error *err);

#endif
