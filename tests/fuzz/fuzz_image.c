// fuzz_image.c: libFuzzer target for the image decoders (lib/data/image.c: PNG and JPEG,
// chosen by magic bytes as for any file) with the pixel cap in place, followed by the eval
// transform so resize/crop see hostile sizes too.
// Seeds: tests/fuzz/corpus/image/ (png-* and jpeg-*). Build: see tests/fuzz/meson.build.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "data/image.h"
#include "data/transforms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tg_image_opts o;
    tg_image_opts_default(&o);
    o.max_pixels = 1 << 20;  // as libjpeg-turbo's own fuzzers: keeps each run fast
    tg_image img;
    tg_error err;
    if (tg_image_decode(&img, data, size, "fuzz.img", &o, &err) != TG_OK) return 0;
    float x[3 * 8 * 8];
    tg_transform_eval(x, &img, 9, 8, tg_imagenet_mean, tg_imagenet_std, &err);
    tg_image_free(&img);
    return 0;
}
