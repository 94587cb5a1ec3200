// transforms.h: torchvision 0.14's transforms on PIL images, in C.
//
// - Resize(size): shorter side to size, the long side int(size * long / short), resized
//   with PIL's Image.resize(BILINEAR) (a separable triangle filter whose support grows
//   with the downscale factor, i.e. antialiased; 8-bit fixed point, horizontal pass
//   first). The same size is the identity.
// - CenterCrop(size): top = int(round((h - ch) / 2.0)), zero padding when the crop is
//   larger than the image (torchvision pads first).
// - RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3)): 10 tries sampling the area
//   fraction uniformly and the ratio uniformly in log space, then the central fallback;
//   the crop is resized with the same PIL bilinear filter.
// - RandomHorizontalFlip(0.5), ToTensor (x / 255) and Normalize((x - mean) / std), written
//   as float32 (3, S, S) in CHW order.
#ifndef TG_DATA_TRANSFORMS_H
#define TG_DATA_TRANSFORMS_H

#include "core/error.h"
#include "core/rng.h"
#include "data/image.h"

// ImageNet statistics (torchvision's ResNet18_Weights.IMAGENET1K_V1).
extern const float tg_imagenet_mean[3];
extern const float tg_imagenet_std[3];

// A crop rectangle in source pixels (torchvision's i, j, h, w).
typedef struct {
    int top, left, height, width;
} tg_crop_box;

// torchvision's Resize(size) output size for a w x h image.
void tg_resize_output_size(int w, int h, int size, int *out_w, int *out_h);

// PIL Image.resize((out_w, out_h), BILINEAR) of the region `src` of `in` (the region is
// treated as a whole image, as crop-then-resize does). Only the output window
// [win_left, win_left + win_w) x [win_top, win_top + win_h) is computed and returned in
// `out` (win_w x win_h); pass the full output size for a plain resize. The window costs
// nothing in accuracy: each output pixel is computed exactly as in the full resize.
tg_status tg_image_resize_window(tg_image *out, const tg_image *in, tg_crop_box src,
                                 int out_w, int out_h, tg_crop_box win, tg_error *err);
// Plain resize of the whole image.
tg_status tg_image_resize(tg_image *out, const tg_image *in, int out_w, int out_h,
                          tg_error *err);

// Copies a crop; pixels outside `in` are zero (PIL crop / torchvision pad semantics).
tg_status tg_image_crop(tg_image *out, const tg_image *in, tg_crop_box box, tg_error *err);

// torchvision CenterCrop's box (may extend outside the image: zero padding).
tg_crop_box tg_center_crop_box(int w, int h, int crop_w, int crop_h);

// torchvision RandomResizedCrop.get_params with the given ranges; sets *fallback to 1 when
// the ten tries failed and the central fallback was used (fallback may be NULL).
tg_crop_box tg_random_resized_crop_box(int w, int h, const double scale[2],
                                       const double ratio[2], tg_rng *rng, int *fallback);

void tg_image_hflip(tg_image *img);

// ToTensor + Normalize: out (3, h, w) float32 = (px / 255 - mean[c]) / std[c].
void tg_image_to_chw(float *out, const tg_image *img, const float mean[3], const float std[3]);

// Evaluation pipeline: Resize(resize) + CenterCrop(crop) + ToTensor + Normalize into
// out (3, crop, crop).
tg_status tg_transform_eval(float *out, const tg_image *img, int resize, int crop,
                            const float mean[3], const float std[3], tg_error *err);

// Training pipeline: RandomResizedCrop(size) + RandomHorizontalFlip(0.5) + ToTensor +
// Normalize into out (3, size, size). Draws from rng (crop box, then the flip).
tg_status tg_transform_train(float *out, const tg_image *img, int size, tg_rng *rng,
                             const float mean[3], const float std[3], tg_error *err);

#endif
