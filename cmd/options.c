// options.c: tg_cmd_parse and tg_cmd_usage (see options.h): the one option parser of the
// commands, and their help printed from the same table.
#include "options.h"

#include <assert.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

#define WIDTH 88    // help lines wrap before this column
#define COLUMN 24   // option descriptions start here, or at the longest name's end if less

// Every command's --help and --version, after its own table.
static bool g_help, g_version;
static const tg_option builtin[] = {
    TG_OPT_BOOL('h', "help", &g_help, "this help"),
    TG_OPT_BOOL('V', "version", &g_version, "print the version"),
    TG_OPT_END,
};

static bool is_positional(const tg_option *o) {
    return o->kind == TG_OPT_KIND_ARG || o->kind == TG_OPT_KIND_ARGS;
}

static bool takes_value(const tg_option *o) {
    return o->kind == TG_OPT_KIND_INT || o->kind == TG_OPT_KIND_STRING ||
           o->kind == TG_OPT_KIND_LIST;
}

// "tgfinetune CMD: MSG" on stderr (made safe to print: it may quote argv), then the help
// for a malformed command line (help). Returns TG_EXIT_USAGE.
static int usage_error(const tg_cmd_spec *spec, bool help, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int usage_error(const tg_cmd_spec *spec, bool help, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tg_cmd_error(spec->name, msg);
    if (help) tg_cmd_usage(spec, stderr);
    return TG_EXIT_USAGE;
}

// ---- the parser ----

// The option named NAME (LEN bytes, not NUL-terminated): an exact long name, else the one
// long name it is a prefix of. NULL: none; *ambiguous set when several match.
static const tg_option *find_long(const tg_option *tables[2], const char *name, size_t len,
                                  bool *ambiguous) {
    const tg_option *found = NULL;
    int matches = 0;
    *ambiguous = false;
    if (!len) return NULL;  // "--=x"
    for (int t = 0; t < 2; t++)
        for (const tg_option *o = tables[t]; o->kind; o++) {
            if (is_positional(o) || strncmp(o->long_name, name, len)) continue;
            if (!o->long_name[len]) return o;  // exact
            matches++;
            found = o;
        }
    *ambiguous = matches > 1;
    return matches == 1 ? found : NULL;
}

static const tg_option *find_short(const tg_option *tables[2], char c) {
    for (int t = 0; t < 2; t++)
        for (const tg_option *o = tables[t]; o->kind; o++)
            if (!is_positional(o) && o->short_name == c) return o;
    return NULL;
}

// The prefix's candidates, for the ambiguity message: "--size, --steps".
static void candidates(const tg_option *tables[2], const char *name, size_t len, char *out,
                       size_t n) {
    size_t k = 0;
    out[0] = 0;
    for (int t = 0; t < 2; t++)
        for (const tg_option *o = tables[t]; o->kind; o++)
            if (!is_positional(o) && !strncmp(o->long_name, name, len) && k < n)
                k += (size_t)snprintf(out + k, n - k, "%s--%s", k ? ", " : "", o->long_name);
}

// Stores VALUE (NULL for a flag) into o's variable. Returns TG_CMD_GO or an exit code.
static int apply(const tg_cmd_spec *spec, const tg_option *o, const char *value, int argc) {
    switch (o->kind) {
    case TG_OPT_KIND_FLAG:
        *(bool *)o->value = true;
        break;
    case TG_OPT_KIND_INT: {
        char *end;
        long v = strtol(value, &end, 10);
        if (!*value || *end || v < o->lo || v > o->hi) {
            return usage_error(spec, false,
                               "--%s must be an integer in [%ld, %ld]%s%s%s (got '%s')",
                               o->long_name, o->lo, o->hi, o->note ? " (" : "",
                               o->note ? o->note : "", o->note ? ")" : "", value);
        }
        *(int *)o->value = (int)v;
        break;
    }
    case TG_OPT_KIND_STRING:
        *(const char **)o->value = value;
        break;
    case TG_OPT_KIND_LIST: {
        tg_cmd_list *l = o->value;
        if (!l->v && !(l->v = malloc((size_t)argc * sizeof *l->v))) {  // argc: room for all
            tg_cmd_error(spec->name, "out of memory");
            return TG_EXIT_FAIL;
        }
        l->v[l->n++] = value;
        break;
    }
    default:
        assert(!"tg_cmd_parse: a positional has no option name");
    }
    return TG_CMD_GO;
}

// argv[*i], an option or a cluster of short ones: applies each, taking a value from the
// argument itself (--opt=VALUE, -oVALUE) or the next one. Returns TG_CMD_GO or an exit code.
static int parse_option(const tg_cmd_spec *spec, const tg_option *tables[2], int argc,
                        char **argv, int *i) {
    const char *a = argv[*i];
    if (a[1] == '-') {  // --name, --name=value
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        bool ambiguous;
        const tg_option *o = find_long(tables, name, len, &ambiguous);
        char shown[256];
        snprintf(shown, sizeof shown, "--%.*s", (int)len, name);
        if (!o && ambiguous) {
            char list[512];
            candidates(tables, name, len, list, sizeof list);
            return usage_error(spec, true, "option '%s' is ambiguous (%s)", shown, list);
        }
        if (!o) return usage_error(spec, true, "unknown option '%s'", shown);
        if (!takes_value(o) && eq)
            return usage_error(spec, true, "--%s takes no value", o->long_name);
        const char *value = eq ? eq + 1 : NULL;
        if (takes_value(o) && !value) {
            if (*i + 1 >= argc)
                return usage_error(spec, true, "--%s needs a value (%s)", o->long_name, o->metavar);
            value = argv[++*i];
        }
        return apply(spec, o, value, argc);
    }
    for (const char *c = a + 1; *c; c++) {  // -x, -xVALUE, -xyz
        const tg_option *o = find_short(tables, *c);
        char shown[3] = {'-', *c, 0};
        if (!o) return usage_error(spec, true, "unknown option '%s'", shown);
        if (!takes_value(o)) {
            int rc = apply(spec, o, NULL, argc);
            if (rc != TG_CMD_GO || g_help || g_version) return rc;
            continue;
        }
        const char *value = c[1] ? c + 1 : NULL;
        if (!value) {
            if (*i + 1 >= argc)
                return usage_error(spec, true, "--%s needs a value (%s)", o->long_name, o->metavar);
            value = argv[++*i];
        }
        return apply(spec, o, value, argc);
    }
    return TG_CMD_GO;
}

// Hands the n positionals (argv[1..n]) to the table's positional entries, in order.
static int take_positionals(const tg_cmd_spec *spec, int n, char **argv) {
    int k = 0;
    for (const tg_option *o = spec->options; o->kind; o++) {
        if (o->kind == TG_OPT_KIND_ARG) {
            if (k < n)
                *(const char **)o->value = argv[1 + k++];
            else if (o->required)
                return usage_error(spec, true, "missing %s", o->metavar);
        } else if (o->kind == TG_OPT_KIND_ARGS) {
            tg_cmd_list *l = o->value;
            l->v = (const char **)argv + 1 + k;
            l->n = n - k;
            k = n;
            if (!l->n && o->required)
                return usage_error(spec, true, "give at least one %s", o->metavar);
        }
    }
    if (k < n) return usage_error(spec, true, "unexpected argument '%s'", argv[1 + k]);
    return TG_CMD_GO;
}

static int parse(const tg_cmd_spec *spec, int argc, char **argv) {
    const tg_option *tables[2] = {spec->options, builtin};
    int n_pos = 0;  // positionals so far, moved to argv[1..n_pos] (slots already read)
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!options_done && !strcmp(a, "--")) {
            options_done = true;
        } else if (!options_done && a[0] == '-' && a[1]) {
            int rc = parse_option(spec, tables, argc, argv, &i);
            if (rc != TG_CMD_GO) return rc;
            if (g_help) {
                tg_cmd_usage(spec, stdout);
                return TG_EXIT_OK;
            }
            if (g_version) {
                printf("tgfinetune %s\n", TG_VERSION);
                return TG_EXIT_OK;
            }
        } else {
            argv[1 + n_pos++] = a;
            if (spec->stop_at_arg) options_done = true;
        }
    }
    int rc = take_positionals(spec, n_pos, argv);
    for (const tg_option *o = spec->options; rc == TG_CMD_GO && o->kind; o++)
        if (!is_positional(o) && o->required && !*(const char **)o->value)
            rc = usage_error(spec, true, "--%s %s is required", o->long_name, o->metavar);
    return rc;
}

int tg_cmd_parse(const tg_cmd_spec *spec, int argc, char **argv) {
    bool pos_list = false;  // the table's own consistency
    for (const tg_option *o = spec->options; o->kind; o++) {
        assert((is_positional(o) ? o->metavar && !o->long_name : o->long_name && *o->long_name) &&
               (!o->required || o->kind == TG_OPT_KIND_STRING || is_positional(o)) &&
               (!takes_value(o) || o->metavar) && o->help && "tg_cmd_parse: a malformed option");
        assert(o->short_name != 'h' && o->short_name != 'V' &&
               (is_positional(o) || (strcmp(o->long_name, "help") &&
                                     strcmp(o->long_name, "version"))) &&
               "tg_cmd_parse: -h/--help and -V/--version are every command's own");
        assert(!(pos_list && is_positional(o)) && "tg_cmd_parse: a positional list comes last");
        pos_list = pos_list || o->kind == TG_OPT_KIND_ARGS;
    }
    g_help = g_version = false;
    int rc = parse(spec, argc, argv);
    if (rc != TG_CMD_GO)
        for (const tg_option *o = spec->options; o->kind; o++)
            if (o->kind == TG_OPT_KIND_LIST) tg_cmd_list_free(o->value);
    return rc;
}

void tg_cmd_list_free(tg_cmd_list *l) {
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

// ---- the help ----

// One item of the usage line: "--config FILE", "[--resume]", "[--freeze GLOB]...", "IMAGE...".
static void synopsis_item(const tg_option *o, char *out, size_t n) {
    if (is_positional(o)) {
        const char *dots = o->kind == TG_OPT_KIND_ARGS ? "..." : "";
        snprintf(out, n, o->required ? "%s%s" : "[%s%s]", o->metavar, dots);
        return;
    }
    char core[128];
    snprintf(core, sizeof core, "--%s%s%s", o->long_name, takes_value(o) ? " " : "",
             takes_value(o) ? o->metavar : "");
    snprintf(out, n, o->required ? "%s" : o->kind == TG_OPT_KIND_LIST ? "[%s]..." : "[%s]",
             core);
}

// "usage: tgfinetune CMD ITEM..." wrapped under the first item, then the --help/--version line.
static void print_synopsis(const tg_cmd_spec *spec, FILE *f) {
    char head[64];
    int indent = snprintf(head, sizeof head, "usage: tgfinetune%s%s", *spec->name ? " " : "",
                          spec->name);
    fputs(head, f);
    int col = indent;
    for (const tg_option *o = spec->options; o->kind; o++) {
        char item[160];
        synopsis_item(o, item, sizeof item);
        int len = (int)strlen(item);
        if (col > indent && col + 1 + len > WIDTH) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        }
        fprintf(f, " %s", item);
        col += 1 + len;
    }
    fprintf(f, "\n       tgfinetune%s%s --help | --version\n", *spec->name ? " " : "",
            spec->name);  // under "usage: "
}

// "  -c, --config FILE", "      --phases", "  IMAGE": an entry's name in the option list.
static int entry_name(const tg_option *o, char *out, size_t n) {
    if (is_positional(o)) return snprintf(out, n, "  %s", o->metavar);
    char s[8] = "    ";
    if (o->short_name) snprintf(s, sizeof s, "-%c, ", o->short_name);
    return snprintf(out, n, "  %s--%s%s%s", s, o->long_name, takes_value(o) ? " " : "",
                    takes_value(o) ? o->metavar : "");
}

// TEXT wrapped at word boundaries into lines of WIDTH - col, each after col spaces but the
// first (already placed at col).
static void print_wrapped(FILE *f, const char *text, int col) {
    int room = WIDTH - col;
    const char *p = text;
    bool first = true;
    while (*p == ' ') p++;
    while (*p) {
        int len = (int)strlen(p);
        int cut = len;
        if (len > room) {
            cut = room;
            while (cut > 0 && p[cut] != ' ') cut--;
            if (cut == 0) cut = (int)strcspn(p, " ");  // a word longer than the room
        }
        fprintf(f, "%*s%.*s\n", first ? 0 : col, "", cut, p);
        first = false;
        p += cut;
        while (*p == ' ') p++;
    }
}

static void print_entries(const tg_option *table, int col, FILE *f) {
    for (const tg_option *o = table; o->kind; o++) {
        char name[160];
        int len = entry_name(o, name, sizeof name);
        if (len + 2 > col)
            fprintf(f, "%s\n%*s", name, col, "");
        else
            fprintf(f, "%-*s", col, name);
        print_wrapped(f, o->help, col);
    }
}

void tg_cmd_usage(const tg_cmd_spec *spec, FILE *f) {
    print_synopsis(spec, f);
    if (spec->about) fputs(spec->about, f);
    if (spec->more) spec->more(f);
    int col = 0;
    const tg_option *tables[2] = {spec->options, builtin};
    for (int t = 0; t < 2; t++)
        for (const tg_option *o = tables[t]; o->kind; o++) {
            char name[160];
            int len = entry_name(o, name, sizeof name) + 2;
            if (len <= COLUMN && len > col) col = len;
        }
    fputc('\n', f);
    print_entries(spec->options, col, f);
    print_entries(builtin, col, f);
    if (spec->epilog) fprintf(f, "\n%s", spec->epilog);
}
