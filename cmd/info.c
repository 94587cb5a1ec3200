// info.c: `tgfinetune info FILE`: the tensors (name, dtype, shape), the metadata and the
// parameter count of a .pth or .safetensors file. A tensor holding NaN or Inf says how many,
// on its line and in a warning on stderr. Names and metadata come from the file: they are
// printed through tg_cmd_shown (control characters and bytes that are not UTF-8 as \xNN).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "core/file.h"
#include "io/weightfile.h"
#include "options.h"

static const char about[] =
    "Lists the tensors of a .pth (zip or legacy) or .safetensors file with their dtype\n"
    "and shape, its metadata, and the parameter count.\n";
static const char epilog[] = "Exit codes: 0 done, 1 unreadable or bad file, 2 usage.\n";

// The format line: the library's own detection on the file's first bytes, so info names
// the reader that loaded the file.
static const char *format_of(const char *path) {
    unsigned char b[16] = {0};
    int fd = tg_file_open(path, NULL, NULL);  // never blocks on a special file
    if (fd < 0) return "?";
    ssize_t r = read(fd, b, sizeof b);
    close(fd);
    size_t n = r > 0 ? (size_t)r : 0;
    return tg_sd_format_name(tg_statedict_detect(b, n, path));
}

// BatchNorm running statistics are buffers, not parameters (PyTorch's parameters()).
static int is_buffer(const char *name) {
    const char *dot = strrchr(name, '.');
    const char *leaf = dot ? dot + 1 : name;
    return !strcmp(leaf, "running_mean") || !strcmp(leaf, "running_var") ||
           !strcmp(leaf, "num_batches_tracked");
}

int tg_cmd_info(int argc, char **argv) {
    const char *path = NULL;
    const tg_option opts[] = {
        TG_ARG("FILE", &path, "a .pth/.pt (zip or legacy format) or a .safetensors file"),
        TG_OPT_END,
    };
    const tg_cmd_spec spec = {"info", about, opts, epilog, NULL, false};
    int rc = tg_cmd_parse(&spec, argc, argv);
    if (rc != TG_CMD_GO) return rc;
    tg_statedict sd;
    tg_error err = {0};
    if (tg_statedict_load(path, &sd, &err) != TG_OK) {
        tg_cmd_error("info", err.msg);
        tg_statedict_free(&sd);
        return TG_EXIT_FAIL;
    }
    // every name escaped once, up front (NULL entries: out of memory)
    char **names = calloc(sd.n ? sd.n : 1, sizeof *names);
    char *file = tg_cmd_shown(path);
    rc = TG_EXIT_OK;
    for (size_t i = 0; names && i < sd.n; i++)
        if (!(names[i] = tg_cmd_shown(sd.entries[i].name))) break;
    if (!names || !file || (sd.n && !names[sd.n - 1])) {
        tg_cmd_error("info", "out of memory");
        rc = TG_EXIT_FAIL;
        goto done;
    }
    printf("%s: %s\n", file, format_of(path));
    if (sd.n_meta) {
        printf("metadata:\n");
        for (size_t i = 0; i < sd.n_meta; i++) {
            char *k = tg_cmd_shown(sd.meta_keys[i]), *v = tg_cmd_shown(sd.meta_vals[i]);
            printf("  %s: %s\n", k ? k : "?", v ? v : "?");
            free(k);
            free(v);
        }
    }
    size_t width = 4;
    for (size_t i = 0; i < sd.n; i++)
        if (strlen(names[i]) > width) width = strlen(names[i]);
    printf("tensors:\n");
    int64_t params = 0, bytes = 0;
    size_t nonfinite_tensors = 0;
    for (size_t i = 0; i < sd.n; i++) {
        const tg_sd_entry *e = &sd.entries[i];
        char shape[256];
        int k = snprintf(shape, sizeof shape, "[");
        for (int d = 0; d < e->ndim && k < (int)sizeof shape; d++)
            k += snprintf(shape + k, sizeof shape - (size_t)k, "%s%lld", d ? ", " : "",
                          (long long)e->shape[d]);
        if (k < (int)sizeof shape) snprintf(shape + k, sizeof shape - (size_t)k, "]");
        int64_t bad = tg_sd_entry_nonfinite(e);
        if (bad) {
            printf("  %-*s %-4s %-16s %lld non-finite (NaN or Inf)\n", (int)width, names[i],
                   tg_dt_name(e->dtype), shape, (long long)bad);
            nonfinite_tensors++;
        } else {
            printf("  %-*s %-4s %s\n", (int)width, names[i], tg_dt_name(e->dtype), shape);
        }
        if (!is_buffer(e->name)) params += tg_sd_entry_numel(e);
        bytes += (int64_t)e->nbytes;
    }
    printf("%zu tensors, %lld elements (%lld bytes), %lld parameters without BatchNorm "
           "buffers\n", sd.n, (long long)tg_statedict_numel(&sd), (long long)bytes,
           (long long)params);
    for (size_t i = 0; nonfinite_tensors && i < sd.n; i++) {
        int64_t bad = tg_sd_entry_nonfinite(&sd.entries[i]);
        if (bad)
            fprintf(stderr, "tgfinetune info: warning: tensor %s: %lld non-finite value%s (NaN "
                    "or Inf)\n", names[i], (long long)bad, bad == 1 ? "" : "s");
    }
done:
    for (size_t i = 0; names && i < sd.n; i++) free(names[i]);
    free(names);
    free(file);
    tg_statedict_free(&sd);
    return rc;
}
