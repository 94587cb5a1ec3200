// eval.c: `tgfinetune eval [--model FILE] --data DIR [--json] [--batch-size N] [--threads N]`:
// top-1, top-5, mean loss, per-class accuracy and the confusion matrix of a trained model
// on a labelled folder.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/evaluate.h"
#include "app/runreport.h"
#include "commands.h"
#include "core/escape.h"
#include "options.h"

static const char about[] =
    "Evaluates a trained model on an image folder with the model's classes.\n";
static const char epilog[] =
    "top5 is reported with 5 classes or more (null otherwise). Confusion rows are true\n"
    "classes, columns predicted ones. Exit codes: 0 done, 1 runtime failure, 2 usage.\n";

static void on_message(void *user, const char *msg) {
    (void)user;
    tg_cmd_error("eval", msg);  // may name files and folders: made safe to print
}

static void on_progress(void *user, size_t done, size_t total) {
    (void)user;
    fprintf(stderr, "\r\033[Keval: %zu/%zu images", done, total);
    fflush(stderr);
}

// The text output prints the whole confusion matrix up to this many classes; above, it
// would be K * K numbers (6 MB for 1000 classes), so the most frequent confusions are
// printed instead and the matrix is left to --json.
#define TG_EVAL_PRINT_CLASSES 50
#define TG_EVAL_TOP_CONFUSIONS 20

static void print_matrix(const tg_eval_result *r, char (*names)[256], int w) {
    int K = r->meta.num_classes;
    printf("\nconfusion matrix (rows: true class, columns: predicted class index):\n%*s", w + 2, "");
    for (int k = 0; k < K; k++) printf(" %5d", k);
    printf("\n");
    for (int i = 0; i < K; i++) {
        printf("  %-*s", w, names[i]);
        for (int j = 0; j < K; j++) printf(" %5zu", r->confusion[(size_t)i * K + j]);
        printf("\n");
    }
}

// The largest off-diagonal counts, largest first (ties: row, then column order): one pass
// over the matrix keeping a short sorted list.
static void print_top_confusions(const tg_eval_result *r, char (*names)[256]) {
    int K = r->meta.num_classes;
    struct {
        size_t count;
        int i, j;
    } top[TG_EVAL_TOP_CONFUSIONS];
    int n = 0;
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            size_t c = r->confusion[(size_t)i * K + j];
            if (i == j || !c || (n == TG_EVAL_TOP_CONFUSIONS && c <= top[n - 1].count)) continue;
            int q = n < TG_EVAL_TOP_CONFUSIONS ? n++ : n - 1;
            for (; q > 0 && top[q - 1].count < c; q--) top[q] = top[q - 1];
            top[q].count = c;
            top[q].i = i;
            top[q].j = j;
        }
    printf("\nconfusion matrix: not printed for %d classes (more than %d); eval --json has it "
           "in full (\"confusion\").\n",
           K, TG_EVAL_PRINT_CLASSES);
    if (!n) {
        printf("no image was confused with another class\n");
        return;
    }
    printf("most frequent confusions (true class -> predicted class: images):\n");
    for (int q = 0; q < n; q++)
        printf("  %s (%d) -> %s (%d): %zu\n", names[top[q].i], top[q].i, names[top[q].j],
               top[q].j, top[q].count);
}

static void print_text(const tg_eval_result *r) {
    int K = r->meta.num_classes;
    // class names come from folder names: escaped for the terminal (core/escape.h)
    char(*names)[256] = calloc((size_t)K, sizeof *names);
    if (!names) {
        fprintf(stderr, "tgfinetune eval: out of memory\n");
        return;
    }
    for (int k = 0; k < K; k++) tg_path_escape(r->meta.classes[k], names[k], sizeof names[k]);
    printf("images: %zu", r->images);
    if (r->skipped) printf(" (%zu unreadable skipped)", r->skipped);
    printf("\ntop-1: %.2f%%\n", 100 * r->top1);
    if (K >= 5) printf("top-5: %.2f%%\n", 100 * r->top5);
    printf("loss:  %.4f\n\nper-class accuracy:\n", r->loss);
    int w = 5;
    for (int k = 0; k < K; k++)
        if ((int)strlen(names[k]) > w) w = (int)strlen(names[k]);
    for (int k = 0; k < K; k++)
        printf("  %-*s  %6.2f%%  (%zu/%zu)\n", w, names[k],
               r->class_total[k] ? 100.0 * r->class_correct[k] / r->class_total[k] : 0.0,
               r->class_correct[k], r->class_total[k]);
    if (K <= TG_EVAL_PRINT_CLASSES)
        print_matrix(r, names, w);
    else
        print_top_confusions(r, names);
    free(names);
}

static bool print_json(const tg_eval_result *r) {
    int K = r->meta.num_classes;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "images", (double)r->images);
    cJSON_AddNumberToObject(o, "top1", r->top1);
    if (isnan(r->top5))
        cJSON_AddNullToObject(o, "top5");
    else
        cJSON_AddNumberToObject(o, "top5", r->top5);
    cJSON_AddNumberToObject(o, "loss", r->loss);
    // names as valid JSON whatever their bytes (tg_cmd_json_text)
    cJSON *pc = cJSON_AddObjectToObject(o, "per_class");
    cJSON *cl = cJSON_AddArrayToObject(o, "classes");
    for (int k = 0; k < K; k++) {
        char *name = tg_cmd_json_text(r->meta.classes[k]);
        const char *nm = name ? name : "";
        if (r->class_total[k])
            cJSON_AddNumberToObject(pc, nm,
                                    (double)r->class_correct[k] / (double)r->class_total[k]);
        else
            cJSON_AddNullToObject(pc, nm);
        cJSON_AddItemToArray(cl, cJSON_CreateString(nm));
        free(name);
    }
    cJSON_AddNumberToObject(o, "skipped", (double)r->skipped);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    char *end = s ? strrchr(s, '}') : NULL;
    if (!end) {
        free(s);
        fprintf(stderr, "tgfinetune eval: out of memory\n");
        return false;
    }
    // the K x K matrix is streamed after the rest, one row a line: as cJSON nodes it would
    // take about 64 bytes a count (1.6 GB for 5000 classes)
    while (end > s && (end[-1] == '\n' || end[-1] == '\t')) end--;
    printf("%.*s,\n\t\"confusion\":\t[", (int)(end - s), s);
    free(s);
    for (int i = 0; i < K; i++) {
        printf(i ? ",\n\t\t[" : "[");
        for (int j = 0; j < K; j++) printf(j ? ", %zu" : "%zu", r->confusion[(size_t)i * K + j]);
        printf("]");
    }
    printf("]\n}\n");
    return true;
}

int tg_cmd_eval(int argc, char **argv) {
    const char *model = NULL, *data = NULL;
    const char *report = NULL;
    bool json = false;
    int batch = 32, threads = 0;
    const tg_option opts[] = {
        TG_OPT_STRING('m', "model", &model, "FILE",
                      "a model written by train (default: the last train run's "
                      "model.safetensors, as predict finds it)"),
        TG_OPT_STRING_REQUIRED('d', "data", &data, "DIR", "the folder: DIR/<class>/<images>"),
        TG_OPT_BOOL('j', "json", &json,
                    "{\"images\": N, \"top1\": F, \"top5\": F, \"loss\": F, \"per_class\": "
                    "{NAME: F, ...}, \"confusion\": [[...]], ...}"),
        TG_OPT_STRING('r', "report", &report, "PNG",
                      "also draw the confusion matrix and per-class recall as a PNG (as "
                      "train's report.png; written atomically)"),
        TG_OPT_INT('b', "batch-size", &batch, "N", 1, 65536,
                   "images per forward pass (default 32)"),
        TG_OPT_THREADS(&threads, "compute threads, 0..1024 (default 0: every core)"),
        TG_OPT_END,
    };
    const tg_cmd_spec spec = {"eval", about, opts, epilog, NULL, false};
    int rc = tg_cmd_parse(&spec, argc, argv);
    if (rc != TG_CMD_GO) return rc;
    char *found;
    if (!tg_cmd_model_or_last("eval", &model, &found)) return TG_EXIT_FAIL;
    tg_error err = {0};
    bool tty = isatty(STDERR_FILENO);
    tg_eval_opts eo = {.batch_size = batch,
                       .threads = threads,
                       .message = on_message,
                       .progress = tty ? on_progress : NULL};
    tg_eval_result r;
    tg_status st = tg_evaluate(model, data, &eo, &r, &err);
    if (tty) fputs("\r\033[K", stderr);
    rc = TG_EXIT_OK;
    if (st) {
        tg_cmd_error("eval", err.msg);
        rc = TG_EXIT_FAIL;
    } else {
        if (json && !print_json(&r)) rc = TG_EXIT_FAIL;
        if (!json) print_text(&r);
        if (report && tg_eval_report_write(&r, model, data, report, &err)) {
            tg_cmd_error("eval", err.msg);
            rc = TG_EXIT_FAIL;
        }
        tg_eval_result_free(&r);
    }
    free(found);
    return rc;
}
