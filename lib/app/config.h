// config.h: the training config, a JSON file read with cJSON.
//
// The keys are one table (tg_config_schema, in config.c: section, name, type, default,
// bounds, rule text and the tg_config member of each key) that the schema engine
// (schema.h) reads, checks, defaults and writes back from. Every key is validated: an
// unknown key is an error that suggests the nearest valid one (edit distance); a wrong type
// or an out-of-range value names the key and the rule. Relative paths are resolved against
// the directory of the config file. Missing keys take the table's defaults (documented in
// README.md, section config, which test_config compares with the table), and
// tg_config_to_json writes the resolved config back, every key present.
#ifndef TG_CONFIG_H
#define TG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "app/schema.h"
#include "core/error.h"
#include "nn/optim.h"  // tg_optim_type

#define TG_CONFIG_MAX_FREEZE 256

typedef enum { TG_SCHED_CONSTANT = 0, TG_SCHED_STEP, TG_SCHED_COSINE } tg_sched_type;
typedef enum { TG_LOSS_CROSS_ENTROPY = 0 } tg_loss_type;

typedef struct {
    char *source;  // the config file's path as given ("<string>" for tg_config_parse)

    // model
    char *weights;        // resolved path of a .pth/.safetensors, or NULL = random init
    int num_classes;      // 0 = not given (taken from the class folders)
    char **freeze;        // glob patterns over state_dict names
    int n_freeze;
    bool freeze_bn_stats; // BN layers whose parameters are all frozen run in eval mode

    // data
    char *train_dir;      // resolved, required
    char *val_dir;        // resolved, or NULL
    int image_size;       // crop side (default 224)
    int resize;           // shorter side before the centre crop (default image_size*8/7)
    bool augment;         // RandomResizedCrop + flip for training
    double mean[3], std[3];
    bool exif_orientation;
    double max_bad_fraction;  // stop when more of the files are unreadable (default 0.10)
    int64_t max_pixels;       // decoding cap (default 50,000,000)

    // train
    int epochs;
    int batch_size;
    bool shuffle;
    uint64_t seed;
    int threads;           // 0 = every core
    int checkpoint_every;  // steps between mid-epoch checkpoints, 0 = only at epoch ends

    // loss
    tg_loss_type loss_type;  // the only one
    double label_smoothing;

    // optimizer
    tg_optim_type optim_type;  // the only one
    double lr, momentum, dampening, weight_decay;
    bool nesterov;

    // scheduler: the lr of an epoch (constant, step: lr*gamma^(epoch/step_size),
    // cosine: min_lr + (lr-min_lr)*(1+cos(pi*epoch/epochs))/2), epochs counted from 0
    tg_sched_type sched;
    int sched_step_size;
    double sched_gamma;
    double sched_min_lr;

    char *output;  // resolved output directory
} tg_config;

// Fills every default (no paths set; train_dir and output NULL).
void tg_config_defaults(tg_config *cfg);
// Reads and validates a config file. On failure cfg is left empty (safe to free) and err
// names the file, the key and the rule (status TG_ERR_CONFIG, or TG_ERR_IO if unreadable).
tg_status tg_config_load(const char *path, tg_config *cfg, tg_error *err);
// Same from a string; relative paths are resolved against base_dir (NULL = as they are);
// source names the text in messages.
tg_status tg_config_parse(const char *json, const char *base_dir, const char *source,
                          tg_config *cfg, tg_error *err);
// The resolved config as a JSON document (malloc'd, free with free()), NULL on OOM.
char *tg_config_to_json(const tg_config *cfg);
// The learning rate of epoch e (0-based) under the schedule.
double tg_config_lr_at(const tg_config *cfg, int epoch);
void tg_config_free(tg_config *cfg);

// The schema: one row per key, in the order of config.json (for tests and documentation:
// tg_schema_key, tg_schema_type_text, tg_schema_default_text).
extern const tg_schema tg_config_schema;

#endif
