// predict.c: `tgfinetune predict IMAGE... [--model FILE] [--topk K] [--json] [--threads N]`.
// Without --model: the model.safetensors of the last train run started in the current
// directory, recorded by train in ./.tgfinetune/last_run.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/predict.h"
#include "app/train.h"
#include "commands.h"
#include "core/escape.h"
#include "options.h"

static const char about[] =
    "Prints the K most probable classes of each image with softmax probabilities.\n";
static const char epilog[] =
    "Exit codes: 0 done, 1 an image or the model could not be read, 2 usage error.\n";

// A JSON string member that stays valid JSON whatever bytes s holds (tg_cmd_json_text).
static void add_text(cJSON *o, const char *key, const char *s) {
    char *t = tg_cmd_json_text(s);
    cJSON_AddStringToObject(o, key, t ? t : "");
    free(t);
}

bool tg_cmd_model_or_last(const char *cmd, const char **model, char **found) {
    *found = NULL;
    if (*model) return true;
    tg_error err = {0};
    char *dir = tg_train_last_run(NULL, &err);
    if (dir) {
        size_t n = strlen(dir) + 32;
        *found = malloc(n);
        if (!*found) {
            tg_error_set(&err, TG_ERR_NOMEM, "out of memory");
        } else {
            snprintf(*found, n, "%s/model.safetensors", dir);
            if (access(*found, R_OK) != 0) {
                tg_error_set(&err, TG_ERR_IO,
                             "the last train run (%s) has no model.safetensors yet (still "
                             "running or interrupted: finish it with train --resume, or pass "
                             "--model)",
                             dir);
                free(*found);
                *found = NULL;
            }
        }
        free(dir);
    }
    if (!*found) {
        tg_cmd_error(cmd, err.msg);
        return false;
    }
    *model = *found;
    return true;
}

int tg_cmd_predict(int argc, char **argv) {
    const char *model = NULL;
    int topk = 5, threads = 0;
    bool json = false;
    tg_cmd_list images = {0};
    const tg_option opts[] = {
        TG_ARGS("IMAGE", &images, "the images to classify (PNG or JPEG)"),
        TG_OPT_STRING('m', "model", &model, "FILE",
                      "a model written by train (default: model.safetensors of the last train "
                      "run started in this directory, recorded in ./.tgfinetune/last_run)"),
        TG_OPT_INT('k', "topk", &topk, "K", 1, 1000000,
                   "classes per image (default 5, at most the class count)"),
        TG_OPT_BOOL('j', "json", &json,
                    "one JSON array: [{\"image\": PATH, \"predictions\": [{\"class\": NAME, "
                    "\"index\": I, \"probability\": P}, ...]}, ...]"),
        TG_OPT_THREADS(&threads, "compute threads, 0..1024 (default 0: every core)"),
        TG_OPT_END,
    };
    const tg_cmd_spec spec = {"predict", about, opts, epilog, NULL, false};
    int rc = tg_cmd_parse(&spec, argc, argv);
    if (rc != TG_CMD_GO) return rc;
    char *found;
    if (!tg_cmd_model_or_last("predict", &model, &found)) return TG_EXIT_FAIL;
    tg_error err = {0};
    tg_predictor p;
    if (tg_predictor_open(&p, model, threads, &err)) {
        tg_cmd_error("predict", err.msg);
        free(found);
        return TG_EXIT_FAIL;
    }
    int K = p.meta.num_classes;
    if (topk > K) topk = K;
    tg_prediction *pred = malloc(sizeof *pred * (size_t)topk);
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    rc = TG_EXIT_OK;
    if (!pred || (json && !arr)) {
        fprintf(stderr, "tgfinetune predict: out of memory\n");
        rc = TG_EXIT_FAIL;
        goto done;
    }
    char shown[4096], cls[1024];  // names printed as text: escaped (core/escape.h)
    if (!json) {
        tg_path_escape(model, shown, sizeof shown);
        printf("model: %s\n", shown);
    }
    for (int i = 0; i < images.n; i++) {
        const char *image = images.v[i];
        int n = 0;
        if (tg_predictor_run(&p, image, topk, pred, &n, &err)) {
            tg_cmd_error("predict", err.msg);
            rc = TG_EXIT_FAIL;
            continue;
        }
        if (json) {
            cJSON *item = cJSON_CreateObject();
            add_text(item, "image", image);
            cJSON *ps = cJSON_AddArrayToObject(item, "predictions");
            for (int j = 0; j < n; j++) {
                cJSON *e = cJSON_CreateObject();
                add_text(e, "class", p.meta.classes[pred[j].index]);
                cJSON_AddNumberToObject(e, "index", pred[j].index);
                cJSON_AddNumberToObject(e, "probability", pred[j].probability);
                cJSON_AddItemToArray(ps, e);
            }
            cJSON_AddItemToArray(arr, item);
        } else {
            tg_path_escape(image, shown, sizeof shown);
            printf("%s\n", shown);
            for (int j = 0; j < n; j++) {
                tg_path_escape(p.meta.classes[pred[j].index], cls, sizeof cls);
                printf("  %6.2f%%  %s (%d)\n", 100 * pred[j].probability, cls, pred[j].index);
            }
        }
    }
    if (json) {
        char *s = cJSON_Print(arr);
        if (s) printf("%s\n", s);
        free(s);
    }
done:
    cJSON_Delete(arr);
    free(pred);
    tg_predictor_close(&p);
    free(found);
    return rc;
}
