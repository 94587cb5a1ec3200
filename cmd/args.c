// args.c: integer option values for the subcommands, checked and reported one way.
#include <stdio.h>
#include <stdlib.h>

#include "app/threads.h"
#include "commands.h"

bool tg_cmd_int_arg(const char *cmd, const char *opt, const char *s, long lo, long hi,
                    const char *rule, int *out) {
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "tgfinetune %s: --%s must be an integer %s (got '%s')\n", cmd, opt, rule,
                s);
        return false;
    }
    *out = (int)v;
    return true;
}

bool tg_cmd_threads_arg(const char *cmd, const char *s, int *out) {
    char rule[64];
    snprintf(rule, sizeof rule, "in [0, %d] (0 = every core)", TG_THREADS_MAX);
    return tg_cmd_int_arg(cmd, "threads", s, 0, TG_THREADS_MAX, rule, out);
}
