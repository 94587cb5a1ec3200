// bench_data.c: decode + transform throughput for a typical photo (500x375 JPEG to a
// 224x224 crop), one thread, i.e. images/s per core. Goal: >= 300 images/s per core.
// Usage: bench_data [data_dir] [seconds]   (data_dir defaults to $TG_TEST_DATA or tests/data)
// The eval result is checked against PIL/torchvision's reference before timing.
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/image.h"
#include "data/transforms.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(b);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Runs `what` for about secs seconds in 5 rounds; returns the median images/s.
static double measure(int what, const uint8_t *jpg, size_t len, double secs, float *x) {
    double rates[5];
    tg_rng r;
    tg_rng_seed(&r, 1);
    tg_image pre;
    tg_error err;
    tg_image_decode(&pre, jpg, len, "photo.jpg", NULL, &err);
    for (int round = 0; round < 5; round++) {
        int n = 0;
        double t0 = now(), t;
        do {
            tg_image img;
            if (what != 2 && tg_image_decode(&img, jpg, len, "photo.jpg", NULL, &err) != TG_OK) {
                fprintf(stderr, "%s\n", err.msg);
                exit(1);
            }
            const tg_image *src = what == 2 ? &pre : &img;
            if (what == 0) tg_transform_eval(x, src, 256, 224, tg_imagenet_mean, tg_imagenet_std, &err);
            if (what == 1 || what == 2)
                tg_transform_train(x, src, 224, &r, tg_imagenet_mean, tg_imagenet_std, &err);
            if (what != 2) tg_image_free(&img);
            n++;
            t = now();
        } while (t - t0 < secs / 5);
        rates[round] = n / (t - t0);
    }
    tg_image_free(&pre);
    qsort(rates, 5, sizeof(double), cmp_d);
    return rates[2];
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : getenv("TG_TEST_DATA");
    if (!dir) dir = "tests/data";
    double secs = argc > 2 ? atof(argv[2]) : 5.0;
    char path[4096];
    snprintf(path, sizeof path, "%s/images/photo.jpg", dir);
    size_t len, rlen;
    uint8_t *jpg = read_all(path, &len);
    snprintf(path, sizeof path, "%s/images/ref_eval_256_224_photo_jpg.rgb", dir);
    uint8_t *ref = read_all(path, &rlen);
    if (!jpg || !ref || rlen != 224 * 224 * 3) {
        fprintf(stderr, "bench_data: cannot read the fixtures under %s/images\n", dir);
        return 1;
    }
    float *x = malloc(sizeof(float) * 3 * 224 * 224);
    // validate: eval output vs PIL + torchvision (Resize(256) + CenterCrop(224))
    tg_image img;
    tg_error err;
    const float zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
    if (tg_image_decode(&img, jpg, len, "photo.jpg", NULL, &err) != TG_OK ||
        tg_transform_eval(x, &img, 256, 224, zero, one, &err) != TG_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    int off = 0;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 224 * 224; i++) {
            int v = (int)(x[c * 224 * 224 + i] * 255.0f + 0.5f);
            if (abs(v - ref[i * 3 + c]) > 1) off++;
        }
    printf("validate: %dx%d photo, eval crop: %d of %d values off by more than 1/255\n",
           img.width, img.height, off, 3 * 224 * 224);
    tg_image_free(&img);
    if (off > 3 * 224 * 224 / 1000) return 1;

    double eval = measure(0, jpg, len, secs, x);
    double train = measure(1, jpg, len, secs, x);
    double tonly = measure(2, jpg, len, secs, x);
    printf("decode + Resize(256) + CenterCrop(224) + normalize: %.0f images/s per core (%.2f ms)\n",
           eval, 1e3 / eval);
    printf("decode + RandomResizedCrop(224) + flip + normalize: %.0f images/s per core (%.2f ms)\n",
           train, 1e3 / train);
    printf("RandomResizedCrop(224) + flip + normalize only:     %.0f images/s per core (%.2f ms)\n",
           tonly, 1e3 / tonly);
    printf("goal: >= 300 images/s per core: %s\n", eval >= 300 && train >= 300 ? "met" : "NOT met");
    free(x);
    free(jpg);
    free(ref);
    return 0;
}
