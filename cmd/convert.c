// convert.c: `tgfinetune convert IN -o OUT`: between PyTorch checkpoints (.pth, zip or
// legacy) and safetensors. Keys, dtypes, shapes and bytes are kept as they are.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "io/statedict.h"

static void convert_usage(FILE *f) {
    fprintf(f,
            "usage: tgfinetune convert IN -o OUT\n"
            "Converts a state_dict between a PyTorch checkpoint and safetensors.\n"
            "  IN   a .pth/.pt (torch.save, zip or legacy format) or a .safetensors file,\n"
            "       detected by its content\n"
            "  -o, --output OUT   a .safetensors file, or a .pth (zip format, loadable by\n"
            "       torch.load(path, weights_only=True)); written atomically\n"
            "The pickle inside a .pth is read as data: only the globals a state_dict needs are\n"
            "accepted and nothing is executed.\n");
}

int tg_cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            convert_usage(stdout);
            return TG_EXIT_OK;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tgfinetune convert: %s needs a file name\n", a);
                return TG_EXIT_USAGE;
            }
            out = argv[++i];
        } else if (!strncmp(a, "--output=", 9)) {
            out = a + 9;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "tgfinetune convert: unknown option '%s'\n", a);
            convert_usage(stderr);
            return TG_EXIT_USAGE;
        } else if (!in) {
            in = a;
        } else {
            fprintf(stderr, "tgfinetune convert: unexpected argument '%s'\n", a);
            return TG_EXIT_USAGE;
        }
    }
    if (!in || !out) {
        convert_usage(stderr);
        return TG_EXIT_USAGE;
    }
    size_t ol = strlen(out);
    int to_pth = (ol >= 4 && !strcasecmp(out + ol - 4, ".pth")) ||
                 (ol >= 3 && !strcasecmp(out + ol - 3, ".pt"));
    if (!to_pth && !(ol >= 12 && !strcasecmp(out + ol - 12, ".safetensors"))) {
        fprintf(stderr, "tgfinetune convert: %s: OUT must end in .safetensors or .pth\n", out);
        return TG_EXIT_USAGE;
    }
    tg_statedict sd;
    tg_error err = {0};
    if (tg_statedict_load(in, &sd, &err) != TG_OK) {
        tg_cmd_error("convert", err.msg);
        tg_statedict_free(&sd);
        return TG_EXIT_FAIL;
    }
    if (to_pth && sd.n_meta)
        fprintf(stderr,
                "tgfinetune convert: note: a .pth has no place for the %zu metadata entries of "
                "%s (class names, preprocessing); they are not copied\n", sd.n_meta, in);
    // A converter copies bits: NaN and Inf are kept, but said, as they break training.
    for (size_t i = 0; i < sd.n; i++) {
        int64_t bad = tg_sd_entry_nonfinite(&sd.entries[i]);
        if (!bad) continue;
        char *name = tg_cmd_shown(sd.entries[i].name);  // from the file: made safe to print
        fprintf(stderr, "tgfinetune convert: warning: tensor %s: %lld non-finite value%s "
                "(NaN or Inf), copied as they are\n", name ? name : "?", (long long)bad,
                bad == 1 ? "" : "s");
        free(name);
    }
    int rc = TG_EXIT_OK;
    if (tg_statedict_save(out, &sd, &err) != TG_OK) {
        tg_cmd_error("convert", err.msg);
        rc = TG_EXIT_FAIL;
    } else {
        printf("%s -> %s: %zu tensors, %lld elements\n", in, out, sd.n,
               (long long)tg_statedict_numel(&sd));
    }
    tg_statedict_free(&sd);
    return rc;
}
