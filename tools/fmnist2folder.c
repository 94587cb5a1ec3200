// fmnist2folder.c: turns Fashion-MNIST's idx files (Debian's dataset-fashion-mnist:
// /usr/share/datasets/fashion-mnist/*-idx?-ubyte.gz) into an ImageFolder tree of 28x28
// grayscale PNGs, one folder per class name:
//   OUT/train/<class>/NNNNN.png  the first --train N images of each class of the train set
//   OUT/val/<class>/NNNNN.png    the first --val N images of each class of the t10k set
//   OUT/test/<class>/NNNNN.png   the next --test N images of each class of the t10k set
// val and test are disjoint and never seen in training (held-out). An existing tree is
// replaced file by file; run it again with other counts into a fresh OUT.
#include <errno.h>
#include <getopt.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define N_CLASSES 10
static const char *const k_classes[N_CLASSES] = {
    "T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle_boot",
};

typedef struct {
    uint8_t *data;
    uint32_t n, rows, cols;  // labels: rows = cols = 1
} idx_file;

static uint32_t be32(const uint8_t *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

// Reads a gzip'd idx file: magic 0x00000801 (labels) or 0x00000803 (images).
static int read_idx(const char *path, int want_dims, idx_file *out) {
    memset(out, 0, sizeof *out);
    gzFile g = gzopen(path, "rb");
    if (!g) {
        fprintf(stderr, "fmnist2folder: %s: %s\n", path, strerror(errno ? errno : ENOENT));
        return -1;
    }
    uint8_t hdr[16];
    size_t hlen = want_dims == 3 ? 16 : 8;
    if (gzread(g, hdr, (unsigned)hlen) != (int)hlen || be32(hdr) != (0x800u | (uint32_t)want_dims)) {
        fprintf(stderr, "fmnist2folder: %s: not an idx%d file\n", path, want_dims);
        gzclose(g);
        return -1;
    }
    out->n = be32(hdr + 4);
    out->rows = want_dims == 3 ? be32(hdr + 8) : 1;
    out->cols = want_dims == 3 ? be32(hdr + 12) : 1;
    if (out->n > 1000000 || out->rows > 1024 || out->cols > 1024) {
        fprintf(stderr, "fmnist2folder: %s: implausible sizes\n", path);
        gzclose(g);
        return -1;
    }
    size_t bytes = (size_t)out->n * out->rows * out->cols;
    out->data = malloc(bytes ? bytes : 1);
    if (!out->data || gzread(g, out->data, (unsigned)bytes) != (int)bytes) {
        fprintf(stderr, "fmnist2folder: %s: truncated\n", path);
        free(out->data);
        gzclose(g);
        return -1;
    }
    gzclose(g);
    return 0;
}

static int mkdir_p(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST) return -1;
    return 0;
}

static int write_png(const char *path, const uint8_t *px, uint32_t w, uint32_t h) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, info ? &info : NULL);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (uint32_t y = 0; y < h; y++) png_write_row(png, px + (size_t)y * w);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f) ? -1 : 0;
}

// Writes images [skip, skip + count) of each class (in file order) into out/split/<class>/.
static int write_split(const char *out, const char *split, const idx_file *img,
                       const idx_file *lab, int skip, int count) {
    if (count <= 0) return 0;
    int seen[N_CLASSES] = {0}, written[N_CLASSES] = {0};
    char dir[4096], path[4200];
    for (int c = 0; c < N_CLASSES; c++) {
        snprintf(dir, sizeof dir, "%s/%s/%s", out, split, k_classes[c]);
        if (mkdir_p(dir)) {
            fprintf(stderr, "fmnist2folder: cannot create %s: %s\n", dir, strerror(errno));
            return -1;
        }
    }
    size_t plane = (size_t)img->rows * img->cols;
    for (uint32_t i = 0; i < img->n; i++) {
        int c = lab->data[i];
        if (c >= N_CLASSES) {
            fprintf(stderr, "fmnist2folder: label %d out of range at %u\n", c, i);
            return -1;
        }
        if (seen[c]++ < skip || written[c] >= count) continue;
        snprintf(path, sizeof path, "%s/%s/%s/%05u.png", out, split, k_classes[c], i);
        if (write_png(path, img->data + plane * i, img->cols, img->rows)) {
            fprintf(stderr, "fmnist2folder: cannot write %s: %s\n", path, strerror(errno));
            return -1;
        }
        written[c]++;
    }
    for (int c = 0; c < N_CLASSES; c++)
        if (written[c] < count) {
            fprintf(stderr, "fmnist2folder: %s: only %d images of class %s available\n", split,
                    written[c], k_classes[c]);
            return -1;
        }
    printf("%s: %d images per class, %d in all, in %s/%s\n", split, count, count * N_CLASSES,
           out, split);
    return 0;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: fmnist2folder [--src DIR] [--train N] [--val N] [--test N] OUT\n"
            "Writes Fashion-MNIST as an ImageFolder tree of 28x28 PNGs under OUT/{train,val,test}.\n"
            "  --src DIR    the idx .gz files (default /usr/share/datasets/fashion-mnist)\n"
            "  --train N    images per class from the training set (default 500)\n"
            "  --val N      images per class from the test set (default 100)\n"
            "  --test N     further images per class from the test set, disjoint from val\n"
            "               (default 100)\n"
            "  -h, --help   this help\n");
}

static int parse_count(const char *s, const char *opt, int max, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end || v < 0 || v > max) {
        fprintf(stderr, "fmnist2folder: %s must be an integer in [0, %d] (got '%s')\n", opt, max, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv) {
    const char *src = "/usr/share/datasets/fashion-mnist";
    int n_train = 500, n_val = 100, n_test = 100;
    static const struct option opts[] = {
        {"src", required_argument, NULL, 's'},   {"train", required_argument, NULL, 't'},
        {"val", required_argument, NULL, 'v'},   {"test", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (o) {
        case 's': src = optarg; break;
        case 't': if (parse_count(optarg, "--train", 6000, &n_train)) return 2; break;
        case 'v': if (parse_count(optarg, "--val", 1000, &n_val)) return 2; break;
        case 'e': if (parse_count(optarg, "--test", 1000, &n_test)) return 2; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    if (n_val + n_test > 1000) {
        fprintf(stderr, "fmnist2folder: --val + --test must be at most 1000 (the test set has "
                        "1000 images per class)\n");
        return 2;
    }
    const char *out = argv[optind];
    char p1[4096], p2[4096];
    idx_file img = {0}, lab = {0};
    int rc = 1;
    if (n_train > 0) {
        snprintf(p1, sizeof p1, "%s/train-images-idx3-ubyte.gz", src);
        snprintf(p2, sizeof p2, "%s/train-labels-idx1-ubyte.gz", src);
        if (read_idx(p1, 3, &img) || read_idx(p2, 1, &lab)) goto done;
        if (img.n != lab.n) {
            fprintf(stderr, "fmnist2folder: %s and %s disagree on the count\n", p1, p2);
            goto done;
        }
        if (write_split(out, "train", &img, &lab, 0, n_train)) goto done;
        free(img.data);
        free(lab.data);
        img.data = lab.data = NULL;
    }
    if (n_val + n_test > 0) {
        snprintf(p1, sizeof p1, "%s/t10k-images-idx3-ubyte.gz", src);
        snprintf(p2, sizeof p2, "%s/t10k-labels-idx1-ubyte.gz", src);
        if (read_idx(p1, 3, &img) || read_idx(p2, 1, &lab)) goto done;
        if (img.n != lab.n) {
            fprintf(stderr, "fmnist2folder: %s and %s disagree on the count\n", p1, p2);
            goto done;
        }
        if (write_split(out, "val", &img, &lab, 0, n_val) ||
            write_split(out, "test", &img, &lab, n_val, n_test))
            goto done;
    }
    rc = 0;
done:
    free(img.data);
    free(lab.data);
    return rc;
}
