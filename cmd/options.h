// options.h: one option table per command, one parser, and the usage text printed from the
// same table, so --help and the accepted options cannot drift apart (git's parse-options).
//
//     bool resume = false;
//     const tg_option opts[] = {
//         TG_OPT_STRING_REQUIRED('c', "config", &config, "FILE", "the JSON config"),
//         TG_OPT_BOOL('r', "resume", &resume, "continue from the checkpoint"),
//         TG_OPT_END,
//     };
//     const tg_cmd_spec spec = {"train", "Fine-tunes resnet18 ...\n", opts, NULL, NULL, false};
//     int rc = tg_cmd_parse(&spec, argc, argv);
//     if (rc != TG_CMD_GO) return rc;
//
// The parser: long options (--config FILE, --config=FILE, an unambiguous prefix such as
// --conf), short ones (-c FILE, -cFILE, clusters of flags such as -jk3), `--` ends the
// options, a lone `-` is an argument; options and arguments may come in any order (unless
// stop_at_arg). A repeated option: the last one wins, a list option keeps every value.
// Every command also accepts -h/--help (the help on stdout, exit 0) and -V/--version
// ("tgfinetune VERSION", exit 0), acted on where they stand. A usage error prints
// "tgfinetune CMD: ..." on stderr (the help follows for a malformed command line, not for a
// value out of range) and returns TG_EXIT_USAGE.
#ifndef TG_CMD_OPTIONS_H
#define TG_CMD_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

#include "app/threads.h"

typedef enum {
    TG_OPT_KIND_END = 0,  // ends a table
    TG_OPT_KIND_FLAG,     // bool *: set to true; takes no value
    TG_OPT_KIND_INT,      // int *: an integer in [lo, hi]
    TG_OPT_KIND_STRING,   // const char **: the value (the last one given)
    TG_OPT_KIND_LIST,     // tg_cmd_list *: every value, in order (malloc'd: tg_cmd_list_free)
    TG_OPT_KIND_ARG,      // positional, const char **: one argument
    TG_OPT_KIND_ARGS,     // positional, tg_cmd_list *: the remaining arguments (in argv)
} tg_opt_kind;

// Values of a list option or a positional list. A list option's v is malloc'd; a positional
// list's v points into argv (see tg_cmd_parse).
typedef struct {
    const char **v;
    int n;
} tg_cmd_list;

typedef struct {
    tg_opt_kind kind;
    char short_name;        // 0: long name only
    const char *long_name;  // positionals: NULL
    const char *metavar;    // the value's name in the help ("FILE"); positionals: their name
    void *value;            // where the value goes (the kind says its type)
    const char *help;       // one paragraph (no newline), wrapped when printed; every entry has one
    bool required;          // an option that must be given / a positional that may be left out
                            // when false (printed [IN] / [ARGS...])
    long lo, hi;            // TG_OPT_KIND_INT: the accepted range
    const char *note;       // TG_OPT_KIND_INT: said after the range in errors ("0 = every core")
} tg_option;

// Type checks: a value pointer of the wrong type is a compile error (pointer mismatch in ?:).
#define TG_OPT_PTR_(type, p) ((void *)(1 ? (p) : (type *)0))
#define TG_OPT_BOOL(s, l, v, h) \
    {TG_OPT_KIND_FLAG, (s), (l), NULL, TG_OPT_PTR_(bool, v), (h), false, 0, 0, NULL}
#define TG_OPT_INT(s, l, v, mv, lo, hi, h) \
    {TG_OPT_KIND_INT, (s), (l), (mv), TG_OPT_PTR_(int, v), (h), false, (lo), (hi), NULL}
// --threads N of every command: 0 (every core) to TG_THREADS_MAX, as train.threads.
#define TG_OPT_THREADS(v, h)                                                               \
    {TG_OPT_KIND_INT, 't', "threads", "N", TG_OPT_PTR_(int, v), (h), false, 0, TG_THREADS_MAX, \
     "0 = every core"}
#define TG_OPT_STRING(s, l, v, mv, h) \
    {TG_OPT_KIND_STRING, (s), (l), (mv), TG_OPT_PTR_(const char *, v), (h), false, 0, 0, NULL}
#define TG_OPT_STRING_REQUIRED(s, l, v, mv, h) \
    {TG_OPT_KIND_STRING, (s), (l), (mv), TG_OPT_PTR_(const char *, v), (h), true, 0, 0, NULL}
#define TG_OPT_LIST(s, l, v, mv, h) \
    {TG_OPT_KIND_LIST, (s), (l), (mv), TG_OPT_PTR_(tg_cmd_list, v), (h), false, 0, 0, NULL}
#define TG_ARG(name, v, h) \
    {TG_OPT_KIND_ARG, 0, NULL, (name), TG_OPT_PTR_(const char *, v), (h), true, 0, 0, NULL}
#define TG_ARGS(name, v, h) \
    {TG_OPT_KIND_ARGS, 0, NULL, (name), TG_OPT_PTR_(tg_cmd_list, v), (h), true, 0, 0, NULL}
#define TG_ARGS_OPTIONAL(name, v, h) \
    {TG_OPT_KIND_ARGS, 0, NULL, (name), TG_OPT_PTR_(tg_cmd_list, v), (h), false, 0, 0, NULL}
#define TG_OPT_END {TG_OPT_KIND_END, 0, NULL, NULL, NULL, NULL, false, 0, 0, NULL}

typedef struct {
    const char *name;          // "train"; "" for tgfinetune itself (messages "tgfinetune: ...")
    const char *about;         // printed after the usage lines (whole lines, or NULL)
    const tg_option *options;  // the table, TG_OPT_END last; positionals in the order given
    const char *epilog;        // printed after the option list (or NULL)
    void (*more)(FILE *f);     // printed before the option list (tgfinetune: the commands)
    bool stop_at_arg;          // the first argument ends the options (tgfinetune COMMAND ...)
} tg_cmd_spec;

#define TG_CMD_GO (-1)  // tg_cmd_parse: parsed, the command goes on

// Parses argv[1..argc-1] (argv[0] is the command's name) into the table's values. Values
// not given keep what the caller set. Returns TG_CMD_GO, or the exit code to return now:
// TG_EXIT_OK after --help / --version, TG_EXIT_USAGE after a usage error (printed),
// TG_EXIT_FAIL when out of memory. Positionals are moved to the front of argv, in order
// (as GNU getopt permutes it); a positional list points there.
int tg_cmd_parse(const tg_cmd_spec *spec, int argc, char **argv);
// The help: usage lines built from the table, about, the option list, epilog.
void tg_cmd_usage(const tg_cmd_spec *spec, FILE *f);
// Frees a list option's values (tg_cmd_parse allocates them); a positional list owns nothing.
void tg_cmd_list_free(tg_cmd_list *l);

#endif
