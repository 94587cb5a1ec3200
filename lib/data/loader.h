// loader.h: batches of transformed images from a tg_folder, decoded on background
// pthreads (PyTorch's DataLoader with shuffle, drop_last=False).
//
// - Every epoch visits each item once, in a permutation drawn from (seed, epoch) (or in
//   folder order when shuffle is off); batches of batch_size, the last partial one kept.
//   An epoch can start at any position (resume), with the same batches as before.
// - balanced: each epoch draws as many items as the folder has, with replacement, item i
//   with probability proportional to 1 / count[class of i] (PyTorch's
//   WeightedRandomSampler(1 / count[y], num_samples = n, replacement = True)): a class
//   uniformly among the non-empty ones, then an item uniformly in it; also from
//   (seed, epoch), so resumable. An item drawn twice gets its own augmentation.
// - Augmentation randomness is per sample, drawn from (seed, epoch, position), so results
//   do not depend on the number of threads.
// - At most `prefetch` batches are in flight (memory bounded); workers fill the next ones
//   while the caller trains on the current one. threads = 0 decodes in tg_loader_next.
// - Bad files (empty, truncated, garbage, too large, unreadable) are dropped from their
//   batch, reported to the notice callback (file and reason) from tg_loader_next on the
//   caller's thread, and counted. When an epoch's bad count exceeds
//   max_bad_fraction * dataset size, tg_loader_next fails with TG_ERR_FORMAT.
#ifndef TG_DATA_LOADER_H
#define TG_DATA_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "data/folder.h"
#include "data/image.h"

typedef struct {
    int batch_size;           // default 32
    int image_size;           // crop size S (default 224)
    int resize;               // eval Resize size (default 256)
    int augment;              // 1: RandomResizedCrop + flip; 0: Resize + CenterCrop
    int shuffle;              // default 1
    int balanced;             // class-balanced sampling with replacement (default 0)
    uint64_t seed;            // default 0
    int threads;              // background decoders (default 2; 0 = synchronous)
    int prefetch;             // batches in flight (default 3, min 1)
    double max_bad_fraction;  // default 0.10
    float mean[3], std[3];    // Normalize (default ImageNet)
    tg_image_opts image;      // decoder caps, EXIF
    tg_data_notice_fn notice; // bad-file warnings (may be NULL)
    void *notice_user;
} tg_loader_opts;

void tg_loader_opts_default(tg_loader_opts *o);

// One batch. Owned by the loader; valid until the next tg_loader_next / start_epoch /
// close. Bad files are already removed, so n may be less than batch_size.
typedef struct {
    int n;             // images in this batch
    int size;          // S
    float *x;          // (n, 3, S, S)
    int *labels;       // (n,)
    size_t *indices;   // (n,) indices into folder->items
    int epoch;
    size_t position;   // epoch position of the batch's first slot
    size_t next_position;  // position to resume from after this batch
    int bad;           // files dropped from this batch
} tg_batch;

typedef struct tg_loader tg_loader;

// The folder must outlive the loader.
tg_status tg_loader_open(tg_loader **out, const tg_folder *folder, const tg_loader_opts *o,
                         tg_error *err);
// Begins epoch `epoch` at `position` (0 for a fresh epoch; a batch's next_position to
// resume). Waits for in-flight work of the previous epoch.
tg_status tg_loader_start_epoch(tg_loader *l, int epoch, size_t position, tg_error *err);
// Next batch: TG_OK with b->n > 0; TG_OK with b->n == 0 at the end of the epoch; an error
// when the bad fraction is exceeded.
tg_status tg_loader_next(tg_loader *l, tg_batch *b, tg_error *err);
// Batches in an epoch started at position 0.
size_t tg_loader_num_batches(const tg_loader *l);
// Counts for the current epoch so far.
void tg_loader_epoch_stats(const tg_loader *l, size_t *loaded, size_t *bad);
void tg_loader_close(tg_loader *l);

// Synchronous path for predict/eval of one file: decode + Resize(resize) +
// CenterCrop(crop) + ToTensor + Normalize into out (3, crop, crop).
tg_status tg_data_load_eval(float *out, const char *path, int resize, int crop,
                            const float mean[3], const float std[3],
                            const tg_image_opts *image_opts, tg_error *err);

#endif
