// transforms.c: torchvision 0.14 transforms on 8-bit RGB images (see transforms.h).
//
// The resize reproduces PIL's ImagingResample for 8-bit images with the BILINEAR
// (triangle) filter: for each output coordinate, the filter's support is widened by the
// downscale factor (antialiasing), weights are normalised in double precision, then
// rounded to 22-bit fixed point; the horizontal pass runs first over just the rows the
// vertical pass needs and is rounded to 8 bits in between.
#include "data/transforms.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const float tg_imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
const float tg_imagenet_std[3] = {0.229f, 0.224f, 0.225f};

#define PRECISION_BITS (32 - 8 - 2)

void tg_resize_output_size(int w, int h, int size, int *out_w, int *out_h) {
    // torchvision's _compute_resized_output_size: the long side is
    // int(size * long / short), a true division then truncation.
    int shrt = w <= h ? w : h;
    int lng = w <= h ? h : w;
    int new_long = (int)((double)size * (double)lng / (double)shrt);
    if (w <= h) {
        *out_w = size;
        *out_h = new_long;
    } else {
        *out_w = new_long;
        *out_h = size;
    }
}

// Filter weights for output coordinates [o0, o0 + on) of a resize from in_size to
// out_size. bounds (on, 2): first input index and tap count; kk (on, ksize): fixed point.
typedef struct {
    int ksize;
    int *bounds;  // (on, 2)
    int *kk;      // (on, ksize)
} coeffs;

static double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    if (x < 1.0) return 1.0 - x;
    return 0.0;
}

static int coeffs_make(coeffs *c, int in_size, int out_size, int o0, int on) {
    double scale = (double)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;  // bilinear support is 1
    c->ksize = (int)ceil(support) * 2 + 1;
    c->bounds = malloc(sizeof(int) * 2 * (size_t)on);
    c->kk = malloc(sizeof(int) * (size_t)c->ksize * (size_t)on);
    double *pre = malloc(sizeof(double) * (size_t)c->ksize);
    if (!c->bounds || !c->kk || !pre) {
        free(pre);
        return -1;
    }
    for (int i = 0; i < on; i++) {
        int xx = o0 + i;
        double center = (xx + 0.5) * scale;
        double ww = 0.0;
        double ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        if (xmax > c->ksize) xmax = c->ksize;  // cannot happen; keeps the bound obvious
        for (int x = 0; x < xmax; x++) {
            double w = bilinear_filter((x + xmin - center + 0.5) * ss);
            pre[x] = w;
            ww += w;
        }
        int *k = c->kk + (size_t)i * c->ksize;
        for (int x = 0; x < c->ksize; x++) {
            double v = 0.0;
            if (x < xmax) v = ww != 0.0 ? pre[x] / ww : pre[x];
            k[x] = v < 0 ? (int)(-0.5 + v * (1 << PRECISION_BITS))
                         : (int)(0.5 + v * (1 << PRECISION_BITS));
        }
        c->bounds[2 * i] = xmin;
        c->bounds[2 * i + 1] = xmax;
    }
    free(pre);
    return 0;
}

static void coeffs_free(coeffs *c) {
    free(c->bounds);
    free(c->kk);
}

static inline uint8_t clip8(int v) {
    if (v >= (1 << PRECISION_BITS) * 256) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> PRECISION_BITS);
}

tg_status tg_image_crop(tg_image *out, const tg_image *in, tg_crop_box box, tg_error *err) {
    tg_status st = tg_image_alloc(out, box.width, box.height, err);
    if (st != TG_OK) return st;
    for (int y = 0; y < box.height; y++) {
        int sy = box.top + y;
        if (sy < 0 || sy >= in->height) continue;
        int x0 = box.left < 0 ? -box.left : 0;
        int x1 = box.width;
        if (box.left + x1 > in->width) x1 = in->width - box.left;
        if (x1 <= x0) continue;
        memcpy(out->pixels + ((size_t)y * box.width + x0) * 3,
               in->pixels + ((size_t)sy * in->width + box.left + x0) * 3, (size_t)(x1 - x0) * 3);
    }
    return TG_OK;
}

tg_status tg_image_resize_window(tg_image *out, const tg_image *in, tg_crop_box src,
                                 int out_w, int out_h, tg_crop_box win, tg_error *err) {
    TG_ASSERT(src.left >= 0 && src.top >= 0 && src.width > 0 && src.height > 0 &&
                  src.left + src.width <= in->width && src.top + src.height <= in->height,
              "the source region must lie inside the image");
    TG_ASSERT(win.left >= 0 && win.top >= 0 && win.width > 0 && win.height > 0 &&
                  win.left + win.width <= out_w && win.top + win.height <= out_h,
              "the output window must lie inside the output size");
    out->pixels = NULL;
    int need_h = out_w != src.width;
    int need_v = out_h != src.height;
    if (!need_h && !need_v) {
        tg_crop_box b = {src.top + win.top, src.left + win.left, win.height, win.width};
        return tg_image_crop(out, in, b, err);
    }
    tg_status st = TG_OK;
    coeffs ch = {0, NULL, NULL}, cv = {0, NULL, NULL};
    uint8_t *tmp = NULL;
    if ((need_h && coeffs_make(&ch, src.width, out_w, win.left, win.width) != 0) ||
        (need_v && coeffs_make(&cv, src.height, out_h, win.top, win.height) != 0)) {
        st = tg_error_set(err, TG_ERR_NOMEM, "out of memory for resize coefficients");
        goto fail;
    }
    // Rows of the (source region's) image that the vertical pass reads.
    int r0, r1;
    if (need_v) {
        r0 = cv.bounds[0];
        r1 = cv.bounds[2 * (win.height - 1)] + cv.bounds[2 * (win.height - 1) + 1];
        for (int i = 0; i < win.height; i++) cv.bounds[2 * i] -= r0;
    } else {
        r0 = win.top;
        r1 = win.top + win.height;
    }
    int tw = win.width, th = r1 - r0;
    st = tg_image_alloc(out, win.width, win.height, err);
    if (st != TG_OK) goto fail;
    // Horizontal pass: tmp (th, tw, 3) from source rows r0..r1.
    tmp = malloc((size_t)tw * (size_t)th * 3);
    if (!tmp) {
        st = tg_error_set(err, TG_ERR_NOMEM, "out of memory for a resize buffer");
        goto fail;
    }
    for (int y = 0; y < th; y++) {
        const uint8_t *row = in->pixels + ((size_t)(src.top + r0 + y) * in->width + src.left) * 3;
        uint8_t *dst = tmp + (size_t)y * tw * 3;
        if (!need_h) {
            memcpy(dst, row + (size_t)win.left * 3, (size_t)tw * 3);
            continue;
        }
        for (int x = 0; x < tw; x++) {
            int xmin = ch.bounds[2 * x], n = ch.bounds[2 * x + 1];
            const int *k = ch.kk + (size_t)x * ch.ksize;
            const uint8_t *p = row + (size_t)xmin * 3;
            int s0 = 1 << (PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int i = 0; i < n; i++) {
                s0 += p[3 * i] * k[i];
                s1 += p[3 * i + 1] * k[i];
                s2 += p[3 * i + 2] * k[i];
            }
            dst[3 * x] = clip8(s0);
            dst[3 * x + 1] = clip8(s1);
            dst[3 * x + 2] = clip8(s2);
        }
    }
    if (!need_v) {
        memcpy(out->pixels, tmp, (size_t)tw * th * 3);
    } else {
        for (int y = 0; y < win.height; y++) {
            int ymin = cv.bounds[2 * y], n = cv.bounds[2 * y + 1];
            const int *k = cv.kk + (size_t)y * cv.ksize;
            uint8_t *dst = out->pixels + (size_t)y * tw * 3;
            for (int x = 0; x < tw * 3; x++) {
                const uint8_t *p = tmp + (size_t)ymin * tw * 3 + x;
                int s = 1 << (PRECISION_BITS - 1);
                for (int i = 0; i < n; i++) s += p[(size_t)i * tw * 3] * k[i];
                dst[x] = clip8(s);
            }
        }
    }
    free(tmp);
    coeffs_free(&ch);
    coeffs_free(&cv);
    return TG_OK;
fail:
    free(tmp);
    coeffs_free(&ch);
    coeffs_free(&cv);
    tg_image_free(out);
    return st;
}

tg_status tg_image_resize(tg_image *out, const tg_image *in, int out_w, int out_h,
                          tg_error *err) {
    tg_crop_box src = {0, 0, in->height, in->width};
    tg_crop_box win = {0, 0, out_h, out_w};
    return tg_image_resize_window(out, in, src, out_w, out_h, win, err);
}

tg_crop_box tg_center_crop_box(int w, int h, int crop_w, int crop_h) {
    // torchvision pads (left = (cw - w) // 2, top = (ch - h) // 2) when the crop is larger,
    // then crops at int(round((H - ch) / 2.0)) of the padded image.
    int pad_l = crop_w > w ? (crop_w - w) / 2 : 0;
    int pad_t = crop_h > h ? (crop_h - h) / 2 : 0;
    int pw = crop_w > w ? w + pad_l + (crop_w - w + 1) / 2 : w;
    int ph = crop_h > h ? h + pad_t + (crop_h - h + 1) / 2 : h;
    tg_crop_box b;
    b.top = (int)nearbyint((ph - crop_h) / 2.0) - pad_t;
    b.left = (int)nearbyint((pw - crop_w) / 2.0) - pad_l;
    b.height = crop_h;
    b.width = crop_w;
    return b;
}

tg_crop_box tg_random_resized_crop_box(int w, int h, const double scale[2],
                                       const double ratio[2], tg_rng *rng, int *fallback) {
    double area = (double)h * (double)w;
    double lr0 = log(ratio[0]), lr1 = log(ratio[1]);
    tg_crop_box b;
    if (fallback) *fallback = 0;
    for (int t = 0; t < 10; t++) {
        double target = area * tg_rng_uniform_range(rng, scale[0], scale[1]);
        double ar = exp(tg_rng_uniform_range(rng, lr0, lr1));
        // Python's round() rounds half to even, as nearbyint does by default.
        int cw = (int)nearbyint(sqrt(target * ar));
        int chh = (int)nearbyint(sqrt(target / ar));
        if (cw > 0 && cw <= w && chh > 0 && chh <= h) {
            b.top = (int)tg_rng_below(rng, (uint64_t)(h - chh + 1));
            b.left = (int)tg_rng_below(rng, (uint64_t)(w - cw + 1));
            b.height = chh;
            b.width = cw;
            return b;
        }
    }
    if (fallback) *fallback = 1;
    double in_ratio = (double)w / (double)h;
    double rmin = ratio[0] < ratio[1] ? ratio[0] : ratio[1];
    double rmax = ratio[0] < ratio[1] ? ratio[1] : ratio[0];
    if (in_ratio < rmin) {
        b.width = w;
        b.height = (int)nearbyint(w / rmin);
    } else if (in_ratio > rmax) {
        b.height = h;
        b.width = (int)nearbyint(h * rmax);
    } else {
        b.width = w;
        b.height = h;
    }
    b.top = (h - b.height) / 2;
    b.left = (w - b.width) / 2;
    return b;
}

void tg_image_hflip(tg_image *img) {
    for (int y = 0; y < img->height; y++) {
        uint8_t *row = img->pixels + (size_t)y * img->width * 3;
        for (int a = 0, b = img->width - 1; a < b; a++, b--) {
            for (int c = 0; c < 3; c++) {
                uint8_t t = row[3 * a + c];
                row[3 * a + c] = row[3 * b + c];
                row[3 * b + c] = t;
            }
        }
    }
}

void tg_image_to_chw(float *out, const tg_image *img, const float mean[3], const float std[3]) {
    size_t plane = (size_t)img->width * img->height;
    for (int c = 0; c < 3; c++) {
        float *o = out + c * plane;  // (H, W)
        const float m = mean[c], s = std[c];
        for (size_t i = 0; i < plane; i++) o[i] = ((float)img->pixels[3 * i + c] / 255.0f - m) / s;
    }
}

tg_status tg_transform_eval(float *out, const tg_image *img, int resize, int crop,
                            const float mean[3], const float std[3], tg_error *err) {
    // Resize keeps the aspect ratio, so a long thin image (a 1,000,000 x 1 PNG) with a
    // large resize has a long side beyond int: refuse it as a bad image (the same cap as
    // the decoder's per-side cap) instead of overflowing the crop arithmetic.
    int shrt = img->width <= img->height ? img->width : img->height;
    int lng = img->width <= img->height ? img->height : img->width;
    double long_side = (double)resize * (double)lng / (double)shrt;
    if (long_side > INT_MAX / 4)
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%dx%d image: Resize(%d) would make its long side %.0f pixels "
                            "(aspect ratio too extreme; the limit is %d)",
                            img->width, img->height, resize, long_side, INT_MAX / 4);
    int rw, rh;
    tg_resize_output_size(img->width, img->height, resize, &rw, &rh);
    tg_crop_box cb = tg_center_crop_box(rw, rh, crop, crop);
    tg_image a = {0, 0, NULL}, b = {0, 0, NULL};
    tg_status st;
    tg_crop_box src = {0, 0, img->height, img->width};
    if (cb.top >= 0 && cb.left >= 0 && cb.top + crop <= rh && cb.left + crop <= rw) {
        // Only the centre of the resized image is computed; the pixels are the same.
        st = tg_image_resize_window(&a, img, src, rw, rh, cb, err);
        if (st != TG_OK) return st;
        tg_image_to_chw(out, &a, mean, std);
    } else {
        tg_crop_box full = {0, 0, rh, rw};
        st = tg_image_resize_window(&a, img, src, rw, rh, full, err);
        if (st != TG_OK) return st;
        st = tg_image_crop(&b, &a, cb, err);
        if (st != TG_OK) goto done;
        tg_image_to_chw(out, &b, mean, std);
    }
done:
    tg_image_free(&a);
    tg_image_free(&b);
    return st;
}

tg_status tg_transform_train(float *out, const tg_image *img, int size, tg_rng *rng,
                             const float mean[3], const float std[3], tg_error *err) {
    static const double scale[2] = {0.08, 1.0};
    static const double ratio[2] = {3.0 / 4.0, 4.0 / 3.0};
    tg_crop_box box = tg_random_resized_crop_box(img->width, img->height, scale, ratio, rng, NULL);
    int flip = tg_rng_uniform(rng) < 0.5;
    tg_image a = {0, 0, NULL};
    tg_crop_box win = {0, 0, size, size};
    tg_status st = tg_image_resize_window(&a, img, box, size, size, win, err);
    if (st != TG_OK) return st;
    if (flip) tg_image_hflip(&a);
    tg_image_to_chw(out, &a, mean, std);
    tg_image_free(&a);
    return TG_OK;
}
