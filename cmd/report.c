// report.c: `tgfinetune report RUN_DIR [-o FILE.png]`: draws a train run's report from the
// files in its output directory (config.json, metrics.jsonl, steps.csv, confusion.json),
// also while the run is still training. app/runreport.h does the reading and drawing.
#include <stdio.h>
#include <stdlib.h>

#include "app/runreport.h"
#include "app/rundir.h"
#include "commands.h"
#include "options.h"

static const char about[] =
    "Draws the report of a train run (the report.png train writes after every epoch)\n"
    "from the files in its output directory; works while the run is still training.\n";
static const char epilog[] =
    "Exit codes: 0 written, 1 not a run directory or a file that cannot be read or\n"
    "written, 2 usage.\n";

int tg_cmd_report(int argc, char **argv) {
    const char *dir = NULL, *out = NULL;
    const tg_option opts[] = {
        TG_ARG("RUN_DIR", &dir, "a train run's output directory (the config's \"output\")"),
        TG_OPT_STRING('o', "output", &out, "PNG",
                      "where to write the picture (default: RUN_DIR/report.png)"),
        TG_OPT_END,
    };
    const tg_cmd_spec spec = {"report", about, opts, epilog, NULL, false};
    int rc = tg_cmd_parse(&spec, argc, argv);
    if (rc != TG_CMD_GO) return rc;
    char *def = out ? NULL : tg_rundir_path(dir, TG_RUN_REPORT);
    if (!out && !def) {
        tg_cmd_error("report", "out of memory");
        return TG_EXIT_FAIL;
    }
    tg_error err = {0};
    rc = TG_EXIT_OK;
    if (tg_run_report_write(dir, out ? out : def, &err)) {
        tg_cmd_error("report", err.msg);
        rc = TG_EXIT_FAIL;
    } else {
        char *shown = tg_cmd_shown(out ? out : def);
        printf("wrote %s\n", shown ? shown : "the report");
        free(shown);
    }
    free(def);
    return rc;
}
