// check.c: tg_check_run (see check.h). Three steps: scan the folders, decode every image
// on a few threads (keeping only its size, the source's facts and a hash of its pixels),
// then summarise each folder and find exact duplicates: images whose (width, height,
// pixel hash) agree are decoded again and compared byte for byte, so a hash collision
// never reports a duplicate.
#include "app/check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// One decoded image: what the summaries and the duplicate search need.
typedef struct {
    int width, height;   // as decoded (after the EXIF orientation when it is applied)
    tg_image_info info;  // the source's facts
    uint64_t hash;       // of the pixels and the size
    char *reason;        // the decoder's message when it failed, else NULL
} item_result;

typedef struct {
    const tg_check_opts *o;
    tg_check_report *r;
    size_t nitems[2];       // items per set
    item_result *results;   // (nitems[0] + nitems[1],): --data's, then --val's
    tg_check_ref *refs;     // (nrefs,) readable images sorted by (hash, width, height)
    size_t nrefs;
    size_t (*cand)[2];      // (ncand,) [begin, end) in refs of a run with one key
    size_t ncand;
    tg_check_dup **found;   // (ncand,) groups confirmed in each run (malloc'd lists)
    size_t *nfound;         // (ncand,)
    atomic_int failed;      // out of memory in a worker
} check_state;

void tg_check_opts_default(tg_check_opts *o) {
    memset(o, 0, sizeof *o);
    o->image_size = 224;
    o->max_bad_fraction = 0.10;
    tg_image_opts_default(&o->image);
}

// ---------------------------------------------------------------------------------
// A small pool: fn(ctx, i) for i in [0, n) on `threads` threads, while the caller's
// thread reports progress (decoding a file takes far longer than taking the lock).

typedef struct {
    void (*fn)(void *ctx, size_t i);
    void *ctx;
    size_t n, next, done;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} pool;

static void *pool_worker(void *arg) {
    pool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (p->next < p->n) {
        size_t i = p->next++;
        pthread_mutex_unlock(&p->mu);
        p->fn(p->ctx, i);
        pthread_mutex_lock(&p->mu);
        p->done++;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pool_run(void (*fn)(void *, size_t), void *ctx, size_t n, int threads,
                     const tg_check_opts *o, int stage) {
    if (n == 0) return;
    pool p = {.fn = fn, .ctx = ctx, .n = n};
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    if ((size_t)threads > n) threads = (int)n;
    pthread_t *tid = malloc(sizeof *tid * (size_t)threads);
    int started = 0;
    while (tid && started < threads && pthread_create(&tid[started], NULL, pool_worker, &p) == 0)
        started++;
    if (started == 0) {  // no thread could start: do the work here
        pool_worker(&p);
    } else {
        pthread_mutex_lock(&p.mu);
        while (p.done < n) {
            size_t d = p.done;
            pthread_mutex_unlock(&p.mu);
            if (o->progress) o->progress(o->user, stage, d, n);
            pthread_mutex_lock(&p.mu);
            while (p.done == d) pthread_cond_wait(&p.cv, &p.mu);
        }
        pthread_mutex_unlock(&p.mu);
        for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    }
    if (o->progress) o->progress(o->user, stage, n, n);
    free(tid);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.mu);
}

// ---------------------------------------------------------------------------------
// Decoding

// 64-bit hash of (width, height, pixels), eight bytes at a time. Equal hashes are only
// candidates: find_duplicates compares the pixels themselves.
static uint64_t pixels_hash(const tg_image *img) {
    size_t n = (size_t)img->width * (size_t)img->height * 3, i = 0;
    uint64_t x = 0x9e3779b97f4a7c15u ^ ((uint64_t)(uint32_t)img->width << 32 |
                                        (uint32_t)img->height);
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, img->pixels + i, 8);
        x = (x ^ v) * 0xff51afd7ed558ccdu;
        x ^= x >> 32;
    }
    for (; i < n; i++) x = (x ^ img->pixels[i]) * 0x100000001b3u;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53u;
    return x ^ (x >> 33);
}

static const char *item_path(const check_state *s, int set, size_t item) {
    return s->r->sets[set].folder.items[item].path;
}

static void decode_one(void *ctx, size_t i) {
    check_state *s = ctx;
    int set = i >= s->nitems[0];
    const char *path = item_path(s, set, set ? i - s->nitems[0] : i);
    item_result *res = &s->results[i];
    tg_image img;
    tg_error err = {0};
    if (tg_image_load_info(&img, path, &s->o->image, &res->info, &err) != TG_OK) {
        res->reason = strdup(err.msg);
        if (!res->reason) s->failed = 1;
        return;
    }
    res->width = img.width;
    res->height = img.height;
    res->hash = pixels_hash(&img);
    tg_image_free(&img);
}

// ---------------------------------------------------------------------------------
// Summaries of one folder

static int list_add(tg_check_list *l, size_t item) {
    size_t *p = realloc(l->items, sizeof *p * (l->count + 1));
    if (!p) return -1;
    p[l->count++] = item;
    l->items = p;
    return 0;
}

// Which notes an image gets (decoded size w x h).
static void image_notes(const item_result *res, int image_size, bool note[TG_CHECK_NOTES]) {
    const tg_image_info *f = &res->info;
    int lo = res->width < res->height ? res->width : res->height;
    int hi = res->width < res->height ? res->height : res->width;
    note[TG_CHECK_CMYK] = f->color == TG_IMAGE_CMYK || f->color == TG_IMAGE_YCCK;
    note[TG_CHECK_16BIT] = f->bit_depth == 16;
    note[TG_CHECK_PALETTE] = f->color == TG_IMAGE_PALETTE;
    note[TG_CHECK_ALPHA] = f->alpha != 0;
    note[TG_CHECK_GRAY] = f->color == TG_IMAGE_GRAY || f->color == TG_IMAGE_GRAY_ALPHA;
    note[TG_CHECK_EXIF] = f->orientation >= 2;
    note[TG_CHECK_SMALL] = lo < image_size;
    note[TG_CHECK_ASPECT] = (double)hi > TG_CHECK_MAX_ASPECT * (double)lo;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

static tg_check_sides sides_of(int *v, size_t n) {
    tg_check_sides s = {0, 0, 0.0};
    if (n == 0) return s;
    qsort(v, n, sizeof *v, cmp_int);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2.0;
    return s;
}

static tg_status summarise(tg_check_set *cs, const item_result *res, const tg_check_opts *o,
                           tg_error *err) {
    const tg_folder *f = &cs->folder;
    int C = f->num_classes;
    int *lo = malloc(sizeof *lo * (f->count + 1)), *hi = malloc(sizeof *hi * (f->count + 1));
    cs->classes = calloc((size_t)C, sizeof *cs->classes);
    cs->bad = malloc(sizeof *cs->bad * (f->count + 1));
    tg_status st = TG_OK;
    if (!lo || !hi || !cs->classes || !cs->bad) goto nomem;
    size_t nsides = 0;
    for (size_t i = 0; i < f->count; i++) {
        tg_check_class *k = &cs->classes[f->items[i].label];
        k->files++;
        if (res[i].reason) {
            cs->bad[cs->nbad++] = (tg_check_bad){i, res[i].reason};
            continue;
        }
        k->readable++;
        cs->readable++;
        bool note[TG_CHECK_NOTES];
        image_notes(&res[i], o->image_size, note);
        for (int n = 0; n < TG_CHECK_NOTES; n++)
            if (note[n] && list_add(&cs->notes[n], i) != 0) goto nomem;
        lo[nsides] = res[i].width < res[i].height ? res[i].width : res[i].height;
        hi[nsides++] = res[i].width < res[i].height ? res[i].height : res[i].width;
    }
    for (int c = 0; c < C; c++) {
        tg_check_class *k = &cs->classes[c];
        if (k->readable == 0) {
            cs->empty_classes++;
            continue;
        }
        cs->small_classes += k->readable < TG_CHECK_SMALL_CLASS;
        k->share = (double)k->readable / (double)cs->readable;
        k->weight = (double)cs->readable / ((double)C * (double)k->readable);
    }
    cs->bad_exceeds = (double)cs->nbad > o->max_bad_fraction * (double)f->count;
    cs->short_side = sides_of(lo, nsides);
    cs->long_side = sides_of(hi, nsides);
    goto done;
nomem:
    st = tg_error_set(err, TG_ERR_NOMEM, "out of memory while summarising the images");
done:
    free(lo);
    free(hi);
    return st;
}

// ---------------------------------------------------------------------------------
// Exact duplicates

static const item_result *ref_result(const check_state *s, tg_check_ref r) {
    return &s->results[r.set ? s->nitems[0] + r.item : r.item];
}

static int cmp_ref_key(const void *a, const void *b, void *ctx) {
    const check_state *s = ctx;
    const tg_check_ref *x = a, *y = b;
    const item_result *p = ref_result(s, *x), *q = ref_result(s, *y);
    if (p->hash != q->hash) return p->hash < q->hash ? -1 : 1;
    if (p->width != q->width) return p->width < q->width ? -1 : 1;
    if (p->height != q->height) return p->height < q->height ? -1 : 1;
    if (x->set != y->set) return x->set - y->set;
    return (x->item > y->item) - (x->item < y->item);
}

static int same_key(const check_state *s, tg_check_ref a, tg_check_ref b) {
    const item_result *p = ref_result(s, a), *q = ref_result(s, b);
    return p->hash == q->hash && p->width == q->width && p->height == q->height;
}

static int ref_before(tg_check_ref a, tg_check_ref b) {
    return a.set != b.set ? a.set < b.set : a.item < b.item;
}

static const char *ref_class(const check_state *s, tg_check_ref m) {
    const tg_folder *f = &s->r->sets[m.set].folder;
    return f->classes[f->items[m.item].label];
}

// The kinds of a confirmed group (members in folder order).
static void classify(const check_state *s, tg_check_dup *d) {
    for (size_t a = 0; a < d->n; a++) {
        for (size_t b = a + 1; b < d->n; b++) {
            tg_check_ref x = d->members[a], y = d->members[b];
            int same_class = strcmp(ref_class(s, x), ref_class(s, y)) == 0;
            d->within_class |= same_class && x.set == y.set;
            d->cross_class |= !same_class;
            d->leak |= x.set != y.set;
        }
    }
}

// Decodes the members of candidate run c again and splits them into groups of equal
// pixels (usually one). A member that no longer decodes is left out.
static void confirm_run(void *ctx, size_t c) {
    check_state *s = ctx;
    size_t b = s->cand[c][0], n = s->cand[c][1] - b;
    tg_image *rep = calloc(n, sizeof *rep);    // (n,) one image per group so far
    tg_check_dup *g = calloc(n, sizeof *g);    // (n,) the groups
    if (!rep || !g) goto nomem;
    size_t ng = 0;
    for (size_t i = 0; i < n; i++) {
        tg_check_ref m = s->refs[b + i];
        tg_image img;
        tg_error err = {0};
        if (tg_image_load(&img, item_path(s, m.set, m.item), &s->o->image, &err) != TG_OK)
            continue;
        size_t bytes = (size_t)img.width * (size_t)img.height * 3, k = 0;
        while (k < ng && !(rep[k].width == img.width && rep[k].height == img.height &&
                           memcmp(rep[k].pixels, img.pixels, bytes) == 0))
            k++;
        if (k == ng) {
            rep[ng++] = img;
        } else {
            tg_image_free(&img);
        }
        if (!g[k].members && !(g[k].members = malloc(sizeof *g[k].members * n))) goto nomem;
        g[k].members[g[k].n++] = m;
    }
    size_t kept = 0;
    for (size_t k = 0; k < ng; k++) {
        if (g[k].n < 2) {
            free(g[k].members);
            continue;
        }
        classify(s, &g[k]);
        g[kept++] = g[k];
    }
    s->found[c] = g;
    s->nfound[c] = kept;
    g = NULL;
    goto done;
nomem:
    s->failed = 1;
    for (size_t k = 0; g && k < n; k++) free(g[k].members);
done:
    for (size_t k = 0; rep && k < n; k++) tg_image_free(&rep[k]);
    free(rep);
    free(g);
}

static int cmp_dup(const void *a, const void *b) {
    tg_check_ref x = ((const tg_check_dup *)a)->members[0];
    tg_check_ref y = ((const tg_check_dup *)b)->members[0];
    return ref_before(x, y) ? -1 : ref_before(y, x);
}

static tg_status find_duplicates(check_state *s, int threads, tg_error *err) {
    tg_check_report *r = s->r;
    size_t total = s->nitems[0] + s->nitems[1];
    s->refs = malloc(sizeof *s->refs * (total + 1));
    s->cand = malloc(sizeof *s->cand * (total / 2 + 1));
    if (!s->refs || !s->cand) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < total; i++) {
        if (s->results[i].reason) continue;
        int set = i >= s->nitems[0];
        s->refs[s->nrefs++] = (tg_check_ref){set, set ? i - s->nitems[0] : i};
    }
    qsort_r(s->refs, s->nrefs, sizeof *s->refs, cmp_ref_key, s);
    for (size_t i = 0; i < s->nrefs;) {
        size_t j = i + 1;
        while (j < s->nrefs && same_key(s, s->refs[i], s->refs[j])) j++;
        if (j - i >= 2) {
            s->cand[s->ncand][0] = i;
            s->cand[s->ncand++][1] = j;
        }
        i = j;
    }
    s->found = calloc(s->ncand + 1, sizeof *s->found);
    s->nfound = calloc(s->ncand + 1, sizeof *s->nfound);
    if (!s->found || !s->nfound) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    pool_run(confirm_run, s, s->ncand, threads, s->o, 1);
    size_t n = 0;
    for (size_t c = 0; c < s->ncand; c++) n += s->nfound[c];
    r->dups = calloc(n + 1, sizeof *r->dups);
    if (!r->dups) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    for (size_t c = 0; c < s->ncand; c++) {
        for (size_t k = 0; k < s->nfound[c]; k++) r->dups[r->ndups++] = s->found[c][k];
        s->nfound[c] = 0;  // moved to r->dups
    }
    if (s->failed) return tg_error_set(err, TG_ERR_NOMEM, "out of memory comparing duplicates");
    if (r->ndups > 1) qsort(r->dups, r->ndups, sizeof *r->dups, cmp_dup);
    for (size_t k = 0; k < r->ndups; k++) {
        r->dup_within += r->dups[k].within_class;
        r->dup_cross += r->dups[k].cross_class;
        r->dup_leak += r->dups[k].leak;
    }
    return TG_OK;
}

// ---------------------------------------------------------------------------------

static void state_free(check_state *s) {
    for (size_t c = 0; s->found && c < s->ncand; c++) {
        for (size_t k = 0; k < s->nfound[c]; k++) free(s->found[c][k].members);
        free(s->found[c]);
    }
    free(s->found);
    free(s->nfound);
    free(s->cand);
    free(s->refs);
    for (size_t i = 0; s->results && i < s->nitems[0] + s->nitems[1]; i++)
        free(s->results[i].reason);
    free(s->results);
}

static int thread_count(int asked) {
    if (asked > 0) return asked;
    long p = sysconf(_SC_NPROCESSORS_ONLN);
    return p < 1 ? 1 : (int)p;
}

tg_status tg_check_run(const char *data_dir, const char *val_dir, const tg_check_opts *o,
                       tg_check_report *r, tg_error *err) {
    memset(r, 0, sizeof *r);
    check_state s = {.o = o, .r = r};
    tg_folder_scan_opts so = {.record_skipped = 1, .allow_empty_classes = 1};
    const char *dirs[2] = {data_dir, val_dir};
    tg_status st = TG_OK;
    size_t total = 0;
    for (int k = 0; k < 2 && dirs[k]; k++) {
        if ((st = tg_folder_scan_with(&r->sets[k].folder, dirs[k], &so, err))) goto fail;
        r->nsets = k + 1;
        s.nitems[k] = r->sets[k].folder.count;
    }
    if (r->nsets == 2) {
        tg_error mismatch = {0};
        if (tg_folder_check_same_classes(&r->sets[0].folder, &r->sets[1].folder, &mismatch) &&
            !(r->class_mismatch = strdup(mismatch.msg)))
            goto nomem;
    }
    total = s.nitems[0] + s.nitems[1];
    if (!(s.results = calloc(total + 1, sizeof *s.results))) goto nomem;
    int threads = thread_count(o->threads);
    pool_run(decode_one, &s, total, threads, o, 0);
    if (s.failed) goto nomem;
    for (int k = 0; k < r->nsets; k++)
        if ((st = summarise(&r->sets[k], s.results + (k ? s.nitems[0] : 0), o, err))) goto fail;
    if ((st = find_duplicates(&s, threads, err))) goto fail;
    for (int k = 0; k < r->nsets; k++)
        r->fails |= r->sets[k].bad_exceeds || r->sets[k].empty_classes > 0;
    r->fails |= r->class_mismatch != NULL || r->dup_cross > 0 || r->dup_leak > 0;
    for (size_t i = 0; i < total; i++) s.results[i].reason = NULL;  // owned by the bad lists
    state_free(&s);
    return TG_OK;
nomem:
    st = tg_error_set(err, TG_ERR_NOMEM, "out of memory");
fail:
    for (int k = 0; k < 2; k++) r->sets[k].nbad = 0;  // the reasons are still the results'
    state_free(&s);
    tg_check_report_free(r);
    return st;
}

void tg_check_report_free(tg_check_report *r) {
    for (int k = 0; k < 2; k++) {
        tg_check_set *cs = &r->sets[k];
        for (size_t i = 0; i < cs->nbad; i++) free(cs->bad[i].reason);
        free(cs->bad);
        free(cs->classes);
        for (int n = 0; n < TG_CHECK_NOTES; n++) free(cs->notes[n].items);
        tg_folder_free(&cs->folder);
    }
    for (size_t k = 0; k < r->ndups; k++) free(r->dups[k].members);
    free(r->dups);
    free(r->class_mismatch);
    memset(r, 0, sizeof *r);
}
