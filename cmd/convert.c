// convert.c: `tgfinetune convert IN --output OUT`: between PyTorch checkpoints (.pth, zip or
// legacy) and safetensors. Keys, dtypes, shapes and bytes are kept as they are.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "io/weightfile.h"
#include "options.h"

static const char about[] = "Converts a state_dict between a PyTorch checkpoint and safetensors.\n";
static const char epilog[] =
    "The pickle inside a .pth is read as data: only the globals a state_dict needs are\n"
    "accepted and nothing is executed. Exit codes: 0 done, 1 unreadable or bad file, 2 usage.\n";

int tg_cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    const tg_option opts[] = {
        TG_ARG("IN", &in,
               "a .pth/.pt (torch.save, zip or legacy format) or a .safetensors file, detected "
               "by its content"),
        TG_OPT_STRING_REQUIRED('o', "output", &out, "OUT",
                               "a .safetensors file, or a .pth (zip format, loadable by "
                               "torch.load(path, weights_only=True)); written atomically"),
        TG_OPT_END,
    };
    const tg_cmd_spec spec = {"convert", about, opts, epilog, NULL, false};
    int rc = tg_cmd_parse(&spec, argc, argv);
    if (rc != TG_CMD_GO) return rc;
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
    rc = TG_EXIT_OK;
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
