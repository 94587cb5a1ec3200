// shown.c: text from files, printed safely. Messages and listings can carry strings from
// untrusted files (a checkpoint's tensor names and metadata, a config's keys): an ESC in
// one would reach the terminal as an escape sequence, a newline would forge a line. Both
// go through tg_path_escape (core/escape.h): control characters and bytes that are not
// UTF-8 become \xNN; UTF-8 and names the library already escaped stay as they are.
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "core/escape.h"

char *tg_cmd_shown(const char *s) {
    size_t n = tg_path_escape(s, NULL, 0) + 1;
    char *out = malloc(n);
    if (out) tg_path_escape(s, out, n);
    return out;
}

void tg_cmd_error(const char *cmd, const char *msg) {
    char *s = tg_cmd_shown(msg);
    fprintf(stderr, "tgfinetune%s%s: %s\n", *cmd ? " " : "", cmd, s ? s : msg);
    free(s);
}
