// image.c: PNG (libpng) and JPEG (libjpeg-turbo) decoding to 8-bit RGB, matching
// PIL 9.4's Image.open(f).convert("RGB") (see image.h for the exact rules).
//
// libpng's longjmp and libjpeg's error_exit never leave this file: each decoder runs its
// library calls inside one small function that owns the setjmp, while everything that
// must be freed lives in a job struct in the caller's frame.
#include "data/image.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "core/escape.h"
#include "core/file.h"

#define TG_IMAGE_MAX_FILE_BYTES ((size_t)1 << 30)  // 1 GiB: no image file is this large
#define TG_JPEG_MAX_SCANS 100                       // libjpeg-turbo's fuzzers stop there too

void tg_image_opts_default(tg_image_opts *o) {
    o->max_pixels = TG_IMAGE_DEFAULT_MAX_PIXELS;
    o->exif_orientation = 1;
}

tg_status tg_image_alloc(tg_image *img, int width, int height, tg_error *err) {
    img->width = 0;
    img->height = 0;
    img->pixels = NULL;
    if (width <= 0 || height <= 0)
        return tg_error_set(err, TG_ERR_VALUE, "invalid image size %dx%d", width, height);
    size_t n = (size_t)width * (size_t)height * 3;
    img->pixels = calloc(n, 1);
    if (!img->pixels)
        return tg_error_set(err, TG_ERR_NOMEM, "out of memory for a %dx%d image", width,
                            height);
    img->width = width;
    img->height = height;
    return TG_OK;
}

void tg_image_free(tg_image *img) {
    if (!img) return;
    free(img->pixels);
    img->pixels = NULL;
    img->width = 0;
    img->height = 0;
}

static const char *disp(const char *name) { return name ? name : "<memory>"; }

static tg_status check_cap(const char *name, const char *fmt, uint64_t w, uint64_t h,
                           const tg_image_opts *o, tg_error *err) {
    if (w == 0 || h == 0)
        return tg_error_set(err, TG_ERR_FORMAT, "%s: %s header has a zero dimension (%llux%llu)",
                            disp(name), fmt, (unsigned long long)w, (unsigned long long)h);
    if (w > INT_MAX / 4 || h > INT_MAX / 4 || (int64_t)(w * h) > o->max_pixels)
        return tg_error_set(err, TG_ERR_NOMEM,
                            "%s: %s of %llux%llu pixels exceeds the cap of %lld pixels",
                            disp(name), fmt, (unsigned long long)w, (unsigned long long)h,
                            (long long)o->max_pixels);
    return TG_OK;
}

// ---------------------------------------------------------------------------------
// EXIF orientation (TIFF IFD0 tag 0x0112), as PIL's Exif.load reads it.

static unsigned rd16(const uint8_t *p, int le) {
    return le ? (unsigned)(p[0] | p[1] << 8) : (unsigned)(p[0] << 8 | p[1]);
}
static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

// d points at the TIFF header ("II*\0" or "MM\0*"). Returns 1..8, or 0 when absent.
static int exif_orientation_tiff(const uint8_t *d, size_t n) {
    if (n < 8) return 0;
    int le;
    if (d[0] == 'I' && d[1] == 'I') le = 1;
    else if (d[0] == 'M' && d[1] == 'M') le = 0;
    else return 0;
    uint32_t ifd = rd32(d + 4, le);
    if (ifd > n || n - ifd < 2) return 0;
    unsigned count = rd16(d + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n) return 0;
        if (rd16(d + e, le) != 0x0112) continue;
        unsigned type = rd16(d + e + 2, le);
        uint32_t cnt = rd32(d + e + 4, le);
        unsigned v;
        if (type == 3 && cnt >= 1) v = rd16(d + e + 8, le);        // SHORT
        else if (type == 4 && cnt >= 1) v = rd32(d + e + 8, le);   // LONG
        else return 0;
        return (v >= 1 && v <= 8) ? (int)v : 0;
    }
    return 0;
}

// Applies PIL.ImageOps.exif_transpose's transpose for orientation o (2..8).
static tg_status apply_orientation(tg_image *img, int o, const char *name, tg_error *err) {
    if (o < 2 || o > 8) return TG_OK;
    int W = img->width, H = img->height;
    int swap = o >= 5;
    tg_image out;
    if (tg_image_alloc(&out, swap ? H : W, swap ? W : H, err) != TG_OK) {
        tg_error_prefix(err, "%s", disp(name));
        return err ? err->status : TG_ERR_NOMEM;
    }
    int OW = out.width, OH = out.height;
    for (int y = 0; y < OH; y++) {
        uint8_t *dst = out.pixels + (size_t)y * OW * 3;
        for (int x = 0; x < OW; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = W - 1 - x; sy = y; break;              // FLIP_LEFT_RIGHT
            case 3: sx = W - 1 - x; sy = H - 1 - y; break;      // ROTATE_180
            case 4: sx = x; sy = H - 1 - y; break;              // FLIP_TOP_BOTTOM
            case 5: sx = y; sy = x; break;                      // TRANSPOSE
            case 6: sx = y; sy = H - 1 - x; break;              // ROTATE_270 (clockwise)
            case 7: sx = W - 1 - y; sy = H - 1 - x; break;      // TRANSVERSE
            default: sx = W - 1 - y; sy = x; break;             // 8: ROTATE_90
            }
            memcpy(dst + (size_t)x * 3, img->pixels + ((size_t)sy * W + sx) * 3, 3);
        }
    }
    tg_image_free(img);
    *img = out;
    return TG_OK;
}

// ---------------------------------------------------------------------------------
// PNG

typedef struct {
    const uint8_t *data;
    size_t len, pos;
    const char *name;
    const tg_image_opts *opts;
    png_structp png;
    png_infop info;
    uint8_t **rows;     // (height,) pointers into pixels or tmp
    uint8_t *tmp;       // 16-bit gray samples (height, width, 2)
    tg_image img;
    tg_status status;
    char msg[512];
    int orientation;
    tg_image_info *facts;  // the source's facts, or NULL
} png_job;

static void png_err_fn(png_structp png, png_const_charp msg) {
    png_job *j = png_get_error_ptr(png);
    if (j->status == TG_OK) {
        j->status = TG_ERR_FORMAT;
        snprintf(j->msg, sizeof j->msg, "%s", msg);
    }
    png_longjmp(png, 1);
}

static void png_warn_fn(png_structp png, png_const_charp msg) {
    // Ancillary-chunk problems (bad iCCP, CRC of a text chunk) do not touch pixels;
    // PIL ignores them as well. Truncation and bad image data are errors, not warnings.
    (void)png;
    (void)msg;
}

static void png_read_fn(png_structp png, png_bytep out, size_t n) {
    png_job *j = png_get_io_ptr(png);
    if (n > j->len - j->pos) {
        j->status = TG_ERR_FORMAT;
        snprintf(j->msg, sizeof j->msg, "truncated PNG (file ends at byte %zu)", j->len);
        png_longjmp(png, 1);
    }
    memcpy(out, j->data + j->pos, n);
    j->pos += n;
}

// All libpng calls that may longjmp happen here. Returns 0 on success.
static int png_decode_inner(png_job *j, tg_error *err) {
    if (setjmp(png_jmpbuf(j->png))) return -1;
    png_set_read_fn(j->png, j, png_read_fn);
    png_set_user_limits(j->png, 1000000, 1000000);
    png_set_chunk_malloc_max(j->png, 8u << 20);
    png_read_info(j->png, j->info);

    png_uint_32 w, h;
    int depth, ctype, interlace;
    png_get_IHDR(j->png, j->info, &w, &h, &depth, &ctype, &interlace, NULL, NULL);
    tg_status st = check_cap(j->name, "PNG", w, h, j->opts, err);
    if (st != TG_OK) {
        j->status = st;
        j->msg[0] = 0;  // message already in err
        return -1;
    }
    int gray16 = (ctype == PNG_COLOR_TYPE_GRAY && depth == 16);
    if (j->facts) {
        j->facts->is_png = 1;
        j->facts->width = (int)w;
        j->facts->height = (int)h;
        j->facts->bit_depth = depth;
        j->facts->color = ctype == PNG_COLOR_TYPE_GRAY         ? TG_IMAGE_GRAY
                          : ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? TG_IMAGE_GRAY_ALPHA
                          : ctype == PNG_COLOR_TYPE_PALETTE    ? TG_IMAGE_PALETTE
                          : ctype == PNG_COLOR_TYPE_RGB        ? TG_IMAGE_RGB
                                                               : TG_IMAGE_RGBA;
        j->facts->alpha = (ctype & PNG_COLOR_MASK_ALPHA) ||
                          png_get_valid(j->png, j->info, PNG_INFO_tRNS) != 0;
    }
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(j->png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(j->png);
    if (!gray16) {
        // PIL keeps the high byte for RGB;16B, RGBA;16B and LA;16B.
        if (depth == 16) png_set_strip_16(j->png);
        if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA)
            png_set_gray_to_rgb(j->png);
        // convert("RGB") ignores tRNS; palette expansion would turn it into alpha.
        if ((ctype & PNG_COLOR_MASK_ALPHA) || png_get_valid(j->png, j->info, PNG_INFO_tRNS))
            png_set_strip_alpha(j->png);
    }
    (void)png_set_interlace_handling(j->png);
    png_read_update_info(j->png, j->info);
    size_t rowbytes = png_get_rowbytes(j->png, j->info);
    size_t want = (size_t)w * (gray16 ? 2 : 3);
    if (rowbytes != want) {
        j->status = TG_ERR_FORMAT;
        snprintf(j->msg, sizeof j->msg, "unsupported PNG layout (row of %zu bytes)", rowbytes);
        return -1;
    }
    if (tg_image_alloc(&j->img, (int)w, (int)h, err) != TG_OK) {
        j->status = TG_ERR_NOMEM;
        j->msg[0] = 0;
        return -1;
    }
    j->rows = malloc(sizeof(uint8_t *) * h);
    if (gray16) j->tmp = malloc((size_t)w * h * 2);
    if (!j->rows || (gray16 && !j->tmp)) {
        j->status = TG_ERR_NOMEM;
        snprintf(j->msg, sizeof j->msg, "out of memory for %ux%u pixels", (unsigned)w,
                 (unsigned)h);
        return -1;
    }
    for (png_uint_32 y = 0; y < h; y++)
        j->rows[y] = gray16 ? j->tmp + (size_t)y * w * 2 : j->img.pixels + (size_t)y * w * 3;
    png_read_image(j->png, j->rows);
    if (gray16) {
        // PIL opens 16-bit gray as mode "I"; convert("RGB") clips it to 0..255.
        for (size_t i = 0; i < (size_t)w * h; i++) {
            unsigned v = (unsigned)j->tmp[2 * i] << 8 | j->tmp[2 * i + 1];
            uint8_t c = v > 255 ? 255 : (uint8_t)v;
            j->img.pixels[3 * i] = j->img.pixels[3 * i + 1] = j->img.pixels[3 * i + 2] = c;
        }
    }
    return 0;
}

// Reads the chunks after IDAT for eXIf. Failure here does not lose pixels: PIL also
// stops quietly at a damaged tail.
static int png_tail_inner(png_job *j) {
    if (setjmp(png_jmpbuf(j->png))) return -1;
    png_read_end(j->png, j->info);
    return 0;
}

static int png_exif(png_job *j) {
#ifdef PNG_eXIf_SUPPORTED
    png_uint_32 n = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1(j->png, j->info, &n, &exif) && exif) {
        // PIL strips an optional "Exif\0\0" prefix.
        if (n >= 6 && memcmp(exif, "Exif\0\0", 6) == 0) return exif_orientation_tiff(exif + 6, n - 6);
        return exif_orientation_tiff(exif, n);
    }
#else
    (void)j;
#endif
    return 0;
}

static tg_status decode_png(tg_image *img, const uint8_t *data, size_t len, const char *name,
                            const tg_image_opts *o, tg_image_info *facts, tg_error *err) {
    png_job j;
    memset(&j, 0, sizeof j);
    j.data = data;
    j.len = len;
    j.name = name;
    j.opts = o;
    j.facts = facts;
    j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, png_err_fn, png_warn_fn);
    if (j.png) j.info = png_create_info_struct(j.png);
    if (!j.png || !j.info) {
        tg_error_set(err, TG_ERR_NOMEM, "%s: cannot create a PNG reader", disp(name));
        j.status = TG_ERR_NOMEM;
        goto fail;
    }
    if (png_decode_inner(&j, err) != 0) {
        if (j.msg[0])
            tg_error_set(err, j.status, "%s: bad PNG: %s", disp(name), j.msg);
        goto fail;
    }
    if (o->exif_orientation || facts) {  // facts report it even when it is not applied
        j.orientation = png_exif(&j);
        if (!j.orientation && png_tail_inner(&j) == 0) j.orientation = png_exif(&j);
        if (facts) facts->orientation = j.orientation;
    }
    png_destroy_read_struct(&j.png, &j.info, NULL);
    free(j.rows);
    free(j.tmp);
    *img = j.img;
    if (o->exif_orientation && j.orientation >= 2) {
        tg_status st = apply_orientation(img, j.orientation, name, err);
        if (st != TG_OK) tg_image_free(img);
        return st;
    }
    return TG_OK;
fail:
    if (j.png) png_destroy_read_struct(&j.png, j.info ? &j.info : NULL, NULL);
    free(j.rows);
    free(j.tmp);
    tg_image_free(&j.img);
    return j.status != TG_OK ? j.status : TG_ERR_FORMAT;
}

// ---------------------------------------------------------------------------------
// JPEG

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX + 64];
    int too_many_scans;
} jpeg_err;

typedef struct {
    const uint8_t *data;
    size_t len;
    const char *name;
    const tg_image_opts *opts;
    struct jpeg_decompress_struct cinfo;
    jpeg_err jerr;
    struct jpeg_progress_mgr progress;
    int created;
    uint8_t *row;   // (width * 4,) CMYK scanline
    tg_image img;
    tg_status status;
    int orientation;
    tg_image_info *facts;  // the source's facts, or NULL
} jpeg_job;

static void jpeg_error_exit_fn(j_common_ptr c) {
    jpeg_err *e = (jpeg_err *)c->err;
    (*c->err->format_message)(c, e->msg);
    longjmp(e->jmp, 1);
}

static void jpeg_emit_fn(j_common_ptr c, int level) {
    if (level >= 0) return;  // trace messages
    // Junk between segments ("N extraneous bytes before marker") is skipped and leaves the
    // pixels whole; PIL loads such files silently, and real photo collections have them.
    if (c->err->msg_code == JWRN_EXTRANEOUS_DATA) return;
    // Any other warning means corrupt data (a truncated scan decodes "successfully" into
    // grey pixels), so it is an error here.
    jpeg_err *e = (jpeg_err *)c->err;
    char buf[JMSG_LENGTH_MAX];
    (*c->err->format_message)(c, buf);
    snprintf(e->msg, sizeof e->msg, "%s (corrupt or truncated data)", buf);
    longjmp(e->jmp, 1);
}

static void jpeg_progress_fn(j_common_ptr c) {
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (d->input_scan_number > TG_JPEG_MAX_SCANS) {
        jpeg_err *e = (jpeg_err *)c->err;
        snprintf(e->msg, sizeof e->msg, "more than %d scans", TG_JPEG_MAX_SCANS);
        longjmp(e->jmp, 1);
    }
}

static int jpeg_decode_inner(jpeg_job *j, tg_error *err) {
    j_decompress_ptr ci = &j->cinfo;
    if (setjmp(j->jerr.jmp)) return -1;
    jpeg_create_decompress(ci);
    j->created = 1;
    ci->mem->max_memory_to_use = 1L << 30;
    j->progress.progress_monitor = jpeg_progress_fn;
    ci->progress = &j->progress;
    jpeg_mem_src(ci, j->data, (unsigned long)j->len);
    int want_exif = j->opts->exif_orientation || j->facts;  // facts report it unapplied too
    if (want_exif) jpeg_save_markers(ci, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(ci, TRUE);
    tg_status st = check_cap(j->name, "JPEG", ci->image_width, ci->image_height, j->opts, err);
    if (st != TG_OK) {
        j->status = st;
        j->jerr.msg[0] = 0;
        return -1;
    }
    if (ci->data_precision != 8) {
        snprintf(j->jerr.msg, sizeof j->jerr.msg, "unsupported precision (%d-bit)",
                 ci->data_precision);
        return -1;
    }
    int comps = ci->num_components;
    if (comps == 1) ci->out_color_space = JCS_GRAYSCALE;
    else if (comps == 3) ci->out_color_space = JCS_RGB;
    else if (comps == 4) ci->out_color_space = JCS_CMYK;  // libjpeg turns YCCK into CMYK
    else {
        snprintf(j->jerr.msg, sizeof j->jerr.msg, "unsupported number of components (%d)", comps);
        return -1;
    }
    // PIL uses the library defaults: JDCT_ISLOW, fancy upsampling, no scaling.
    ci->dct_method = JDCT_ISLOW;
    ci->do_fancy_upsampling = TRUE;
    ci->scale_num = ci->scale_denom = 1;

    if (j->facts) {
        j->facts->is_png = 0;
        j->facts->width = (int)ci->image_width;
        j->facts->height = (int)ci->image_height;
        j->facts->bit_depth = ci->data_precision;
        j->facts->color = comps == 1 ? TG_IMAGE_GRAY
                          : comps == 3 ? TG_IMAGE_RGB
                          : ci->jpeg_color_space == JCS_YCCK ? TG_IMAGE_YCCK
                                                             : TG_IMAGE_CMYK;
        j->facts->alpha = 0;
    }
    if (want_exif) {
        for (jpeg_saved_marker_ptr m = ci->marker_list; m; m = m->next) {
            if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
                memcmp(m->data, "Exif\0", 5) == 0) {
                // PIL uses the first Exif APP1 only.
                j->orientation = exif_orientation_tiff(m->data + 6, m->data_length - 6);
                break;
            }
        }
        if (j->facts) j->facts->orientation = j->orientation;
    }

    jpeg_start_decompress(ci);
    int W = (int)ci->output_width, H = (int)ci->output_height;
    if (tg_image_alloc(&j->img, W, H, err) != TG_OK) {
        j->status = TG_ERR_NOMEM;
        j->jerr.msg[0] = 0;
        return -1;
    }
    if (comps == 4) {
        j->row = malloc((size_t)W * 4);
        if (!j->row) {
            snprintf(j->jerr.msg, sizeof j->jerr.msg, "out of memory");
            j->status = TG_ERR_NOMEM;
            return -1;
        }
    }
    while (ci->output_scanline < ci->output_height) {
        int y = (int)ci->output_scanline;
        uint8_t *dst = j->img.pixels + (size_t)y * W * 3;
        JSAMPROW r = comps == 4 ? j->row : dst;
        if (jpeg_read_scanlines(ci, &r, 1) != 1) {
            snprintf(j->jerr.msg, sizeof j->jerr.msg, "truncated JPEG (no data for row %d)", y);
            return -1;
        }
        if (comps == 1) {
            for (int x = W - 1; x >= 0; x--) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = dst[x];
        } else if (comps == 4) {
            // PIL reads 4-component JPEGs as "CMYK;I" (Adobe polarity: inverted), then
            // convert("RGB") computes nk - c * nk / 255 with nk = 255 - k.
            for (int x = 0; x < W; x++) {
                const uint8_t *p = j->row + 4 * x;
                int nk = p[3];  // 255 - (255 - k_raw)
                for (int c = 0; c < 3; c++) {
                    int cv = 255 - p[c];
                    int t = cv * nk + 128;
                    int v = nk - (((t >> 8) + t) >> 8);
                    dst[3 * x + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
                }
            }
        }
    }
    return 0;
}

static tg_status decode_jpeg(tg_image *img, const uint8_t *data, size_t len, const char *name,
                             const tg_image_opts *o, tg_image_info *facts, tg_error *err) {
    jpeg_job *j = calloc(1, sizeof *j);
    if (!j) return tg_error_set(err, TG_ERR_NOMEM, "%s: out of memory", disp(name));
    j->data = data;
    j->len = len;
    j->name = name;
    j->opts = o;
    j->facts = facts;
    j->cinfo.err = jpeg_std_error(&j->jerr.pub);
    j->jerr.pub.error_exit = jpeg_error_exit_fn;
    j->jerr.pub.emit_message = jpeg_emit_fn;
    tg_status st = TG_OK;
    if (jpeg_decode_inner(j, err) != 0) {
        st = j->status != TG_OK ? j->status : TG_ERR_FORMAT;
        if (j->jerr.msg[0]) tg_error_set(err, st, "%s: bad JPEG: %s", disp(name), j->jerr.msg);
        goto fail;
    }
    // Not jpeg_finish_decompress: the pixels are complete, and PIL does not require
    // anything after the last scan either.
    jpeg_destroy_decompress(&j->cinfo);
    *img = j->img;
    int orient = j->orientation;
    free(j->row);
    free(j);
    if (o->exif_orientation && orient >= 2) {
        st = apply_orientation(img, orient, name, err);
        if (st != TG_OK) tg_image_free(img);
    }
    return st;
fail:
    if (j->created) jpeg_destroy_decompress(&j->cinfo);
    free(j->row);
    tg_image_free(&j->img);
    free(j);
    return st;
}

// ---------------------------------------------------------------------------------

tg_status tg_image_decode(tg_image *img, const uint8_t *data, size_t len, const char *name,
                          const tg_image_opts *opts, tg_error *err) {
    return tg_image_decode_info(img, data, len, name, opts, NULL, err);
}

tg_status tg_image_decode_info(tg_image *img, const uint8_t *data, size_t len, const char *name,
                               const tg_image_opts *opts, tg_image_info *info, tg_error *err) {
    tg_image_opts def;
    if (info) memset(info, 0, sizeof *info);
    if (!opts) {
        tg_image_opts_default(&def);
        opts = &def;
    }
    img->width = img->height = 0;
    img->pixels = NULL;
    char shown[TG_ERR_MSG_MAX];  // name is only used in messages: escape it once here
    tg_path_escape(disp(name), shown, sizeof shown);
    name = shown;
    if (len == 0) return tg_error_set(err, TG_ERR_FORMAT, "%s: empty file", disp(name));
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    int png = len >= 8 && memcmp(data, png_sig, 8) == 0;
    if (png || (len >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)) {
        tg_status st = png ? decode_png(img, data, len, name, opts, info, err)
                           : decode_jpeg(img, data, len, name, opts, info, err);
        if (st != TG_OK && info) memset(info, 0, sizeof *info);  // no half-read facts
        return st;
    }
    if (len < 8 && ((len >= 1 && data[0] == 0x89) || (len >= 1 && data[0] == 0xFF)))
        return tg_error_set(err, TG_ERR_FORMAT, "%s: truncated file (%zu bytes)", disp(name), len);
    return tg_error_set(err, TG_ERR_FORMAT,
                        "%s: not a PNG or JPEG (unrecognised magic bytes %02x %02x %02x %02x)",
                        disp(name), data[0], len > 1 ? data[1] : 0, len > 2 ? data[2] : 0,
                        len > 3 ? data[3] : 0);
}

tg_status tg_image_load(tg_image *img, const char *path, const tg_image_opts *opts,
                        tg_error *err) {
    return tg_image_load_info(img, path, opts, NULL, err);
}

tg_status tg_image_load_info(tg_image *img, const char *path, const tg_image_opts *opts,
                             tg_image_info *info, tg_error *err) {
    if (info) memset(info, 0, sizeof *info);
    img->width = img->height = 0;
    img->pixels = NULL;
    unsigned char *buf = NULL;
    size_t n = 0;
    // a FIFO, socket or device named like an image is refused without being opened
    tg_status st = tg_file_read(path, TG_IMAGE_MAX_FILE_BYTES, &buf, &n, err);
    if (!st) st = tg_image_decode_info(img, buf, n, path, opts, info, err);
    free(buf);
    return st;
}
