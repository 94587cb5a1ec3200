// main.c: `tgfinetune COMMAND [ARGS]`: dispatches to the subcommands in cmd/.
#include <stdio.h>
#include <string.h>

#include "commands.h"

// Subcommands register here (name, entry point, one-line summary).
const tg_command tg_commands[] = {
    {"train", tg_cmd_train, "train on an image folder from a JSON config"},
    {"predict", tg_cmd_predict, "top-k classes of images with a trained model"},
    {"eval", tg_cmd_eval, "accuracy, per-class accuracy and confusion matrix on a folder"},
    {"convert", tg_cmd_convert, "convert a checkpoint between .pth and .safetensors"},
    {"info", tg_cmd_info, "tensors, dtypes, shapes, metadata of a .pth or .safetensors"},
    {"bench", tg_cmd_bench, "time resnet18 training steps on random input"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f) {
    fprintf(f,
            "usage: tgfinetune COMMAND [OPTIONS]\n"
            "Fine-tune a pretrained ResNet-18 on a folder of images.\n\n"
            "commands:\n");
    for (const tg_command *c = tg_commands; c->name; c++)
        fprintf(f, "  %-10s %s\n", c->name, c->summary);
    fprintf(f,
            "\n`tgfinetune COMMAND --help` describes each command.\n"
            "options:\n  -h, --help     this help\n  -V, --version  print the version\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return TG_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return TG_EXIT_OK;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("tgfinetune %s\n", TG_VERSION);
        return TG_EXIT_OK;
    }
    for (const tg_command *c = tg_commands; c->name; c++)
        if (!strcmp(cmd, c->name)) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "tgfinetune: unknown command '%s' (see tgfinetune --help)\n", cmd);
    return TG_EXIT_USAGE;
}
