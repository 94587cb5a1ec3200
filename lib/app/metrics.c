// metrics.c: metrics.jsonl (see metrics.h).
#include "app/metrics.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/rundir.h"
#include "core/file.h"

tg_status tg_metrics_open(tg_metrics_log *m, const char *dir, tg_error *err) {
    memset(m, 0, sizeof *m);
    m->path = tg_rundir_path(dir, TG_RUN_METRICS);
    return m->path ? TG_OK : tg_error_set(err, TG_ERR_NOMEM, "out of memory");
}

void tg_metrics_free(tg_metrics_log *m) {
    free(m->path);
    free(m->text);
    memset(m, 0, sizeof *m);
}

// Adds line (n bytes, no '\n') and its '\n' to the text; false when out of memory.
static bool add_line(tg_metrics_log *m, const char *line, size_t n) {
    char *t = realloc(m->text, m->len + n + 2);
    if (!t) return false;
    m->text = t;
    memcpy(t + m->len, line, n);
    t[m->len + n] = '\n';
    m->len += n + 1;
    t[m->len] = 0;
    return true;
}

void tg_metrics_reload(tg_metrics_log *m, int completed) {
    int fd = m->path ? tg_file_open(m->path, NULL, NULL) : -1;  // never a FIFO (core/file.h)
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!f) {
        if (fd >= 0) close(fd);
        return;
    }
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        cJSON *o = cJSON_Parse(line);
        const cJSON *e = o ? cJSON_GetObjectItemCaseSensitive(o, "epoch") : NULL;
        bool keep = e && cJSON_IsNumber(e) && e->valuedouble >= 1 && e->valuedouble <= completed;
        cJSON_Delete(o);
        if (keep && !add_line(m, line, strlen(line))) break;
    }
    fclose(f);
}

// em as one line of JSON (malloc'd), NULL when out of memory.
static char *metrics_json(const tg_epoch_metrics *em) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "epoch", em->epoch);
    cJSON_AddNumberToObject(o, "train_loss", em->train_loss);
    cJSON_AddNumberToObject(o, "train_acc", em->train_acc);
    if (em->has_val) {
        cJSON_AddNumberToObject(o, "val_loss", em->val_loss);
        cJSON_AddNumberToObject(o, "val_acc", em->val_acc);
    } else {
        cJSON_AddNullToObject(o, "val_loss");
        cJSON_AddNullToObject(o, "val_acc");
    }
    cJSON_AddNumberToObject(o, "lr", em->lr);
    cJSON_AddNumberToObject(o, "images", (double)em->images);
    cJSON_AddNumberToObject(o, "skipped", (double)em->skipped);
    cJSON_AddNumberToObject(o, "seconds", round(em->seconds * 1000) / 1000);
    cJSON_AddNumberToObject(o, "images_per_s", round(em->images_per_s * 100) / 100);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

tg_status tg_metrics_append(tg_metrics_log *m, const tg_epoch_metrics *em, tg_error *err) {
    char *s = metrics_json(em);
    bool ok = s && add_line(m, s, strlen(s));
    free(s);
    if (!ok) return tg_error_set(err, TG_ERR_NOMEM, "out of memory");
    return tg_rundir_write(m->path, m->text, m->len, err);
}
