// image.h: decode a PNG or JPEG file to 8-bit RGB, the way PIL's
// Image.open(path).convert("RGB") does (torchvision's ImageFolder loader).
//
// - The format is chosen by the file's magic bytes, never by its extension.
// - PNG (libpng): gray, gray+alpha, palette (tRNS ignored, as convert("RGB") ignores it),
//   RGB, RGBA, 1/2/4/8/16-bit, interlaced. Alpha is discarded. 16-bit samples are reduced
//   as PIL 9.4 reduces them: the high byte for RGB/RGBA/gray+alpha; 16-bit gray opens in
//   PIL as mode "I" and convert("RGB") clips it to 255 (so we clip too).
// - JPEG (libjpeg-turbo, library defaults as PIL: JDCT_ISLOW, fancy upsampling): baseline,
//   progressive, grayscale, CMYK and YCCK (Adobe-inverted) converted with PIL's cmyk2rgb.
//   libjpeg warnings are errors (a truncated scan must not give grey pixels).
// - EXIF orientation (tag 0x0112, JPEG APP1 or PNG eXIf) applied like
//   PIL.ImageOps.exif_transpose when opts->exif_orientation is set.
// - The pixel count is checked against opts->max_pixels from the header, before any
//   pixel buffer is allocated.
// Errors name the file and the reason (TG_ERR_FORMAT for bad data, TG_ERR_NOMEM for the
// cap, TG_ERR_IO for open/read failures).
#ifndef TG_DATA_IMAGE_H
#define TG_DATA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

// An 8-bit RGB image, rows top to bottom, pixels interleaved: (height, width, 3).
typedef struct {
    int width;
    int height;
    uint8_t *pixels;  // (height, width, 3), malloc'd, freed by tg_image_free
} tg_image;

typedef struct {
    int64_t max_pixels;    // width*height cap checked from the header (default 50e6)
    int exif_orientation;  // apply EXIF orientation (default 1)
} tg_image_opts;

#define TG_IMAGE_DEFAULT_MAX_PIXELS 50000000LL

// What the file holds, as opposed to the RGB it decodes to (for `tgfinetune check`).
typedef enum {
    TG_IMAGE_GRAY = 1,    // PNG gray, JPEG grayscale
    TG_IMAGE_GRAY_ALPHA,  // PNG gray + alpha
    TG_IMAGE_PALETTE,     // PNG palette
    TG_IMAGE_RGB,         // PNG RGB, JPEG RGB or YCbCr
    TG_IMAGE_RGBA,        // PNG RGB + alpha
    TG_IMAGE_CMYK,        // JPEG CMYK (Adobe-inverted)
    TG_IMAGE_YCCK,        // JPEG YCCK
} tg_image_color;

typedef struct {
    int is_png;            // 1: PNG, 0: JPEG
    int width, height;     // as stored, before the EXIF orientation
    int bit_depth;         // bits per sample in the file: 1, 2, 4, 8 or 16 (JPEG: 8)
    tg_image_color color;
    int alpha;             // transparency discarded: an alpha channel or a tRNS chunk
    int orientation;       // EXIF orientation tag 1..8, 0 when absent; read even when
                           // opts->exif_orientation is off (then it is not applied)
} tg_image_info;

void tg_image_opts_default(tg_image_opts *o);

// Allocates img->pixels for a width x height image (zeroed). Caller frees with tg_image_free.
tg_status tg_image_alloc(tg_image *img, int width, int height, tg_error *err);
void tg_image_free(tg_image *img);

// Decodes a whole file held in memory. name is used in messages only (may be NULL).
// opts may be NULL (defaults). On failure img is left empty (pixels NULL).
tg_status tg_image_decode(tg_image *img, const uint8_t *data, size_t len, const char *name,
                          const tg_image_opts *opts, tg_error *err);

// Reads path and decodes it.
tg_status tg_image_load(tg_image *img, const char *path, const tg_image_opts *opts,
                        tg_error *err);

// The same, also filling *info (may be NULL) with the facts of the source file. The pixels
// are those of tg_image_decode / tg_image_load. info is valid when TG_OK is returned.
tg_status tg_image_decode_info(tg_image *img, const uint8_t *data, size_t len, const char *name,
                               const tg_image_opts *opts, tg_image_info *info, tg_error *err);
tg_status tg_image_load_info(tg_image *img, const char *path, const tg_image_opts *opts,
                             tg_image_info *info, tg_error *err);

#endif
