// loader.c: the batch loader (PyTorch's DataLoader(shuffle=True, drop_last=False) with
// worker threads; see loader.h).
//
// Batch k of an epoch started at position p0 covers permutation positions
// [p0 + k*B, p0 + (k+1)*B). Batches live in `prefetch` slots used round-robin: workers
// claim single positions (so one slow image does not stall a whole batch's worth of
// threads) but only for batches inside the window [held, held + prefetch), where `held`
// counts the batches the caller has given back. The caller's current batch is one of the
// slots, so memory stays at `prefetch` batches.
#include "data/loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/escape.h"
#include "core/rng.h"
#include "data/transforms.h"

typedef struct {
    float *x;          // (B, 3, S, S)
    int *labels;       // (B,)
    size_t *indices;   // (B,)
    int *ok;           // (B,) 1 loaded, 0 bad
    tg_error *errs;    // (B,) reason for bad ones
    int done;          // samples finished for the batch currently in this slot
} slot;

struct tg_loader {
    const tg_folder *f;
    tg_loader_opts o;
    size_t sample_floats;  // 3 * S * S
    int nslots;
    slot *slots;           // (nslots,)
    size_t *perm;          // (N,) epoch order
    size_t *class_start;   // (num_classes + 1,) class c's items: [class_start[c], [c + 1])
    int *classes;          // (n_classes,) the classes with items (balanced sampling)
    int n_classes;
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    int epoch;
    size_t start_pos;
    size_t next_claim;     // next position a worker takes
    size_t held;           // batches released by the caller
    int returned;          // the caller holds batch `held`
    int active, stop, in_flight;
    size_t loaded, bad;
};

static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void tg_loader_opts_default(tg_loader_opts *o) {
    memset(o, 0, sizeof *o);
    o->batch_size = 32;
    o->image_size = 224;
    o->resize = 256;
    o->augment = 0;
    o->shuffle = 1;
    o->seed = 0;
    o->threads = 2;
    o->prefetch = 3;
    o->max_bad_fraction = 0.10;
    memcpy(o->mean, tg_imagenet_mean, sizeof o->mean);
    memcpy(o->std, tg_imagenet_std, sizeof o->std);
    tg_image_opts_default(&o->image);
}

static size_t batch_start(const tg_loader *l, size_t k) {
    return l->start_pos + k * (size_t)l->o.batch_size;
}
static size_t batch_of(const tg_loader *l, size_t p) {
    return (p - l->start_pos) / (size_t)l->o.batch_size;
}
static size_t batch_len(const tg_loader *l, size_t k) {
    size_t s = batch_start(l, k), e = s + (size_t)l->o.batch_size;
    if (s >= l->f->count) return 0;
    return (e > l->f->count ? l->f->count : e) - s;
}

// Prefixes err's message with path, escaped for printing (tg_path_escape).
static void prefix_path(tg_error *err, const char *path) {
    char shown[TG_ERR_MSG_MAX];
    tg_path_escape(path, shown, sizeof shown);
    tg_error_prefix(err, "%s", shown);
}

// Decodes and transforms item `idx` (at epoch position p) into dst (3, S, S). Per-sample
// randomness comes from (seed, epoch, idx), so it does not depend on threads or timing;
// with balanced sampling, where an item can come twice, from (seed, epoch, p).
static tg_status load_sample(const tg_loader *l, int epoch, size_t idx, size_t p, float *dst,
                             tg_error *err) {
    tg_image img;
    const char *path = l->f->items[idx].path;
    tg_status st = tg_image_load(&img, path, &l->o.image, err);
    if (st != TG_OK) return st;
    if (l->o.augment) {
        tg_rng r;
        uint64_t key = l->o.balanced ? mix64((uint64_t)p + 0xba1a) : (uint64_t)idx;
        tg_rng_seed(&r, mix64(mix64(l->o.seed) ^ (uint64_t)epoch) ^ key);
        st = tg_transform_train(dst, &img, l->o.image_size, &r, l->o.mean, l->o.std, err);
    } else {
        st = tg_transform_eval(dst, &img, l->o.resize, l->o.image_size, l->o.mean, l->o.std, err);
    }
    if (st != TG_OK) prefix_path(err, path);
    tg_image_free(&img);
    return st;
}

static void run_position(tg_loader *l, size_t p, int epoch) {
    size_t k = batch_of(l, p);
    slot *s = &l->slots[k % (size_t)l->nslots];
    size_t j = p - batch_start(l, k);
    size_t idx = l->perm[p];
    s->indices[j] = idx;
    s->labels[j] = l->f->items[idx].label;
    tg_error_clear(&s->errs[j]);
    s->ok[j] = load_sample(l, epoch, idx, p, s->x + j * l->sample_floats, &s->errs[j]) == TG_OK;
}

static void *worker(void *arg) {
    tg_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && !(l->active && l->next_claim < l->f->count &&
                             batch_of(l, l->next_claim) < l->held + (size_t)l->nslots))
            pthread_cond_wait(&l->cv_work, &l->mu);
        if (l->stop) break;
        size_t p = l->next_claim++;
        int epoch = l->epoch;
        l->in_flight++;
        pthread_mutex_unlock(&l->mu);
        run_position(l, p, epoch);
        pthread_mutex_lock(&l->mu);
        l->in_flight--;
        l->slots[batch_of(l, p) % (size_t)l->nslots].done++;
        pthread_cond_broadcast(&l->cv_done);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

tg_status tg_loader_open(tg_loader **out, const tg_folder *folder, const tg_loader_opts *o,
                         tg_error *err) {
    *out = NULL;
    if (o->batch_size < 1 || o->image_size < 1 || o->resize < 1 || o->threads < 0 ||
        o->threads > 256 || !(o->max_bad_fraction >= 0.0 && o->max_bad_fraction <= 1.0))
        return tg_error_set(err, TG_ERR_VALUE,
                            "loader: invalid options (batch_size %d, image_size %d, resize %d, "
                            "threads %d, max_bad_fraction %g)",
                            o->batch_size, o->image_size, o->resize, o->threads,
                            o->max_bad_fraction);
    if (folder->count == 0) {
        char shown[TG_ERR_MSG_MAX];
        tg_path_escape(folder->root, shown, sizeof shown);
        return tg_error_set(err, TG_ERR_VALUE, "%s: no images", shown);
    }
    tg_loader *l = calloc(1, sizeof *l);
    if (!l) return tg_error_set(err, TG_ERR_NOMEM, "out of memory for the loader");
    l->f = folder;
    l->o = *o;
    l->nslots = o->prefetch < 1 ? 1 : o->prefetch;
    l->sample_floats = (size_t)3 * o->image_size * o->image_size;
    l->active = 0;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv_work, NULL);
    pthread_cond_init(&l->cv_done, NULL);
    size_t B = (size_t)o->batch_size;
    l->perm = malloc(sizeof(size_t) * folder->count);
    l->slots = calloc((size_t)l->nslots, sizeof(slot));
    l->class_start = calloc((size_t)folder->num_classes + 1, sizeof(size_t));
    l->classes = calloc((size_t)folder->num_classes + 1, sizeof(int));
    if (!l->perm || !l->slots || !l->class_start || !l->classes) goto nomem;
    for (int c = 0; c < folder->num_classes; c++) {  // items are in class order (folder.h)
        l->class_start[c + 1] = l->class_start[c] + folder->class_counts[c];
        if (folder->class_counts[c] > 0) l->classes[l->n_classes++] = c;
    }
    for (int i = 0; i < l->nslots; i++) {
        slot *s = &l->slots[i];
        s->x = malloc(sizeof(float) * B * l->sample_floats);
        s->labels = malloc(sizeof(int) * B);
        s->indices = malloc(sizeof(size_t) * B);
        s->ok = malloc(sizeof(int) * B);
        s->errs = malloc(sizeof(tg_error) * B);
        if (!s->x || !s->labels || !s->indices || !s->ok || !s->errs) goto nomem;
    }
    if (o->threads > 0) {
        l->threads = calloc((size_t)o->threads, sizeof(pthread_t));
        if (!l->threads) goto nomem;
        for (int i = 0; i < o->threads; i++) {
            if (pthread_create(&l->threads[i], NULL, worker, l) != 0) {
                tg_loader_close(l);
                return tg_error_set(err, TG_ERR_NOMEM, "loader: cannot start thread %d", i);
            }
            l->nthreads++;
        }
    }
    *out = l;
    return TG_OK;
nomem:
    tg_loader_close(l);
    return tg_error_set(err, TG_ERR_NOMEM, "out of memory for %d loader batches of %d images",
                        o->prefetch, o->batch_size);
}

// The epoch's items for balanced sampling: N draws with replacement, a class uniformly
// among the non-empty ones, then an item uniformly in it (probability 1 / (C * count[c])
// for each item of class c, WeightedRandomSampler's with weights 1 / count[y]).
static void draw_balanced(tg_loader *l, int epoch) {
    const tg_folder *f = l->f;
    tg_rng r;
    tg_rng_seed(&r, mix64(l->o.seed) ^ mix64((uint64_t)epoch + 0xba1a5eed));
    for (size_t i = 0; i < f->count; i++) {
        int c = l->classes[tg_rng_below(&r, (uint64_t)l->n_classes)];
        l->perm[i] = l->class_start[c] + (size_t)tg_rng_below(&r, f->class_counts[c]);
    }
}

size_t tg_loader_num_batches(const tg_loader *l) {
    return (l->f->count + (size_t)l->o.batch_size - 1) / (size_t)l->o.batch_size;
}

tg_status tg_loader_start_epoch(tg_loader *l, int epoch, size_t position, tg_error *err) {
    if (position > l->f->count)
        return tg_error_set(err, TG_ERR_VALUE, "loader: resume position %zu is past the %zu images",
                            position, l->f->count);
    pthread_mutex_lock(&l->mu);
    l->active = 0;
    while (l->in_flight > 0) pthread_cond_wait(&l->cv_done, &l->mu);
    size_t N = l->f->count;
    for (size_t i = 0; i < N; i++) l->perm[i] = i;
    if (l->o.balanced) {
        draw_balanced(l, epoch);
    } else if (l->o.shuffle) {
        tg_rng r;
        tg_rng_seed(&r, mix64(l->o.seed) ^ mix64((uint64_t)epoch + 0x5eed));
        for (size_t i = N - 1; i > 0; i--) {
            size_t j = (size_t)tg_rng_below(&r, (uint64_t)i + 1);
            size_t t = l->perm[i];
            l->perm[i] = l->perm[j];
            l->perm[j] = t;
        }
    }
    l->epoch = epoch;
    l->start_pos = position;
    l->next_claim = position;
    l->held = 0;
    l->returned = 0;
    l->loaded = 0;
    l->bad = 0;
    for (int i = 0; i < l->nslots; i++) l->slots[i].done = 0;
    l->active = 1;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    return TG_OK;
}

tg_status tg_loader_next(tg_loader *l, tg_batch *b, tg_error *err) {
    memset(b, 0, sizeof *b);
    b->size = l->o.image_size;
    b->epoch = l->epoch;
    if (!l->active)
        return tg_error_set(err, TG_ERR_STATE, "loader: call tg_loader_start_epoch first");
    for (;;) {
        pthread_mutex_lock(&l->mu);
        if (l->returned) {
            // Give the caller's previous batch back; its slot takes batch held + nslots.
            l->slots[l->held % (size_t)l->nslots].done = 0;
            l->held++;
            l->returned = 0;
            pthread_cond_broadcast(&l->cv_work);
        }
        size_t k = l->held;
        size_t n = batch_len(l, k);
        b->position = batch_start(l, k) < l->f->count ? batch_start(l, k) : l->f->count;
        b->next_position = b->position + n;
        if (n == 0) {
            pthread_mutex_unlock(&l->mu);
            return TG_OK;  // end of the epoch
        }
        slot *s = &l->slots[k % (size_t)l->nslots];
        if (l->nthreads == 0) {
            pthread_mutex_unlock(&l->mu);
            for (size_t p = b->position; p < b->next_position; p++) run_position(l, p, l->epoch);
            pthread_mutex_lock(&l->mu);
            s->done = (int)n;
            l->next_claim = b->next_position;
        }
        while ((size_t)s->done < n) pthread_cond_wait(&l->cv_done, &l->mu);
        l->returned = 1;
        pthread_mutex_unlock(&l->mu);

        // The slot is ours until the next call: drop bad files, report them.
        int m = 0, bad = 0;
        const char *last_bad = "";
        for (size_t j = 0; j < n; j++) {
            if (!s->ok[j]) {
                bad++;
                last_bad = s->errs[j].msg;
                if (l->o.notice) l->o.notice(l->o.notice_user, s->errs[j].msg);
                continue;
            }
            if ((size_t)m != j) {
                memmove(s->x + (size_t)m * l->sample_floats, s->x + j * l->sample_floats,
                        sizeof(float) * l->sample_floats);
                s->labels[m] = s->labels[j];
                s->indices[m] = s->indices[j];
            }
            m++;
        }
        l->loaded += (size_t)m;
        l->bad += (size_t)bad;
        b->bad += bad;
        if ((double)l->bad > l->o.max_bad_fraction * (double)l->f->count) {
            char shown[TG_ERR_MSG_MAX];  // last_bad is escaped already (tg_image_load)
            tg_path_escape(l->f->root, shown, sizeof shown);
            return tg_error_set(err, TG_ERR_FORMAT,
                                "%s: %zu of %zu images are unreadable, more than the allowed "
                                "fraction %g (last: %s)",
                                shown, l->bad, l->f->count, l->o.max_bad_fraction, last_bad);
        }
        if (m == 0) continue;  // a batch of only bad files: move on to the next
        b->n = m;
        b->x = s->x;
        b->labels = s->labels;
        b->indices = s->indices;
        return TG_OK;
    }
}

void tg_loader_epoch_stats(const tg_loader *l, size_t *loaded, size_t *bad) {
    if (loaded) *loaded = l->loaded;
    if (bad) *bad = l->bad;
}

void tg_loader_close(tg_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nthreads; i++) pthread_join(l->threads[i], NULL);
    free(l->threads);
    if (l->slots) {
        for (int i = 0; i < l->nslots; i++) {
            free(l->slots[i].x);
            free(l->slots[i].labels);
            free(l->slots[i].indices);
            free(l->slots[i].ok);
            free(l->slots[i].errs);
        }
    }
    free(l->slots);
    free(l->perm);
    free(l->class_start);
    free(l->classes);
    pthread_cond_destroy(&l->cv_work);
    pthread_cond_destroy(&l->cv_done);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

tg_status tg_data_load_eval(float *out, const char *path, int resize, int crop,
                            const float mean[3], const float std[3],
                            const tg_image_opts *image_opts, tg_error *err) {
    tg_image img;
    tg_status st = tg_image_load(&img, path, image_opts, err);
    if (st != TG_OK) return st;
    st = tg_transform_eval(out, &img, resize, crop, mean, std, err);
    if (st != TG_OK) prefix_path(err, path);
    tg_image_free(&img);
    return st;
}
