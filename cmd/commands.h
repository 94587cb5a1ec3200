// commands.h: one entry point per subcommand. Each returns the process exit code:
// 0 success, 1 runtime failure, 2 usage or config error, 130/143 interrupted.
#ifndef TG_COMMANDS_H
#define TG_COMMANDS_H

#include <stdbool.h>

#include "core/error.h"

#define TG_EXIT_OK 0
#define TG_EXIT_FAIL 1
#define TG_EXIT_USAGE 2

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);  // argv[0] is the subcommand's name
    const char *summary;
} tg_command;

// Defined in cmd/main.c, NULL-terminated.
extern const tg_command tg_commands[];

// cmd/train.c, cmd/predict.c, cmd/eval.c
int tg_cmd_train(int argc, char **argv);
int tg_cmd_predict(int argc, char **argv);
int tg_cmd_eval(int argc, char **argv);
// cmd/predict.c: the model to use for CMD (predict, eval): *model when given, else that of
// the last train run recorded in ./.tgfinetune/last_run, malloc'd into *found (the caller
// frees it; NULL when *model was given). If there is none, prints "tgfinetune CMD: ..."
// and returns false (exit 1).
bool tg_cmd_model_or_last(const char *cmd, const char **model, char **found);
// cmd/json_text.c: s for a cJSON string: each byte that is not part of well-formed UTF-8
// becomes the text \xNN (as tg_path_escape shows it), everything else is kept (cJSON
// escapes control characters itself), so --json output stays valid JSON. malloc'd (NULL:
// out of memory).
char *tg_cmd_json_text(const char *s);
#define TG_EXIT_SIGINT 130   // interrupted by SIGINT, checkpoint saved
#define TG_EXIT_SIGTERM 143  // interrupted by SIGTERM, checkpoint saved
// cmd/convert.c, cmd/info.c
int tg_cmd_convert(int argc, char **argv);
int tg_cmd_info(int argc, char **argv);
// cmd/bench.c
int tg_cmd_bench(int argc, char **argv);
// cmd/check.c
int tg_cmd_check(int argc, char **argv);

// cmd/report.c
int tg_cmd_report(int argc, char **argv);

// cmd/shown.c: strings from files made safe to print (control characters and bytes that
// are not UTF-8 as \xNN, tg_path_escape), malloc'd (NULL: out of memory); and a
// subcommand's error or notice "tgfinetune CMD: MSG" on stderr with MSG made safe the same
// way (CMD "": "tgfinetune: MSG").
char *tg_cmd_shown(const char *s);
void tg_cmd_error(const char *cmd, const char *msg);

#endif
