// main.c: `tgfinetune COMMAND [ARGS...]`: dispatches to the subcommands in cmd/.
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "options.h"

// Subcommands register here (name, entry point, one-line summary).
const tg_command tg_commands[] = {
    {"train", tg_cmd_train, "train on an image folder from a JSON config"},
    {"predict", tg_cmd_predict, "top-k classes of images with a trained model"},
    {"eval", tg_cmd_eval, "accuracy, per-class accuracy and confusion matrix on a folder"},
    {"check", tg_cmd_check, "what would break or skew training in an image folder"},
    {"report", tg_cmd_report, "draw a train run's report.png from its files"},
    {"convert", tg_cmd_convert, "convert a checkpoint between .pth and .safetensors"},
    {"info", tg_cmd_info, "tensors, dtypes, shapes, metadata of a .pth or .safetensors"},
    {"bench", tg_cmd_bench, "time resnet18 training steps on random input"},
    {NULL, NULL, NULL},
};

static void list_commands(FILE *f) {
    fprintf(f, "\ncommands:\n");
    for (const tg_command *c = tg_commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(f, "  help       this help (also -h, --help)\n"
               "  version    print the version (also -V, --version)\n");
}

int main(int argc, char **argv) {
    const char *cmd = NULL;
    tg_cmd_list rest = {0};
    const tg_option opts[] = {
        TG_ARG("COMMAND", &cmd, "one of the commands above"),
        TG_ARGS_OPTIONAL("ARGS", &rest,
                         "its options and arguments: `tgfinetune COMMAND --help` describes them"),
        TG_OPT_END,
    };
    const tg_cmd_spec spec = {
        "", "Fine-tune a pretrained ResNet-18 on a folder of images.\n", opts, NULL,
        list_commands, true,  // options stop at COMMAND: the rest is the command's
    };
    int rc = tg_cmd_parse(&spec, argc, argv);
    if (rc != TG_CMD_GO) return rc;
    if (!strcmp(cmd, "help")) {
        tg_cmd_usage(&spec, stdout);
        return TG_EXIT_OK;
    }
    if (!strcmp(cmd, "version")) {
        printf("tgfinetune %s\n", TG_VERSION);
        return TG_EXIT_OK;
    }
    // tg_cmd_parse moved the positionals to argv[1..]: COMMAND, then its ARGS
    for (const tg_command *c = tg_commands; c->name; c++)
        if (!strcmp(cmd, c->name)) return c->run(1 + rest.n, argv + 1);
    char msg[512];
    snprintf(msg, sizeof msg, "unknown command '%s' (see tgfinetune --help)", cmd);
    tg_cmd_error("", msg);
    return TG_EXIT_USAGE;
}
