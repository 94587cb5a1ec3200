// train.c: `tgfinetune train --config FILE [--resume] [--threads N]`.
// Parses arguments (its option table), installs the signal handlers, prints progress; the work is
// tg_train_run (lib/app/train.h).
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/config.h"
#include "app/threads.h"
#include "app/train.h"
#include "commands.h"
#include "options.h"

static volatile sig_atomic_t g_stop;  // the first signal's number, 0 until then

static void on_signal(int sig) {
    if (g_stop) _exit(128 + sig);  // a second signal: stop at once
    g_stop = sig;
}

static const char about[] =
    "Fine-tunes resnet18 as the JSON config says (see README.md, section config) and\n"
    "writes model.safetensors, best.safetensors, checkpoint.safetensors, metrics.jsonl\n"
    "and config.json into the config's output directory.\n";
static const char epilog[] =
    "Ctrl-C (SIGINT) or SIGTERM finishes the current step, saves the checkpoint and exits\n"
    "with 130 or 143; a second signal stops at once. Exit codes: 0 done, 1 runtime\n"
    "failure, 2 usage or config error, 130/143 interrupted (checkpoint saved).\n";

typedef struct {
    bool tty;
    bool bar_shown;
    double last_draw;
} ui;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void clear_bar(ui *u) {
    if (u->bar_shown) {
        fputs("\r\033[K", stderr);
        u->bar_shown = false;
    }
}

static void on_message(void *user, const char *msg) {
    ui *u = user;
    clear_bar(u);
    tg_cmd_error("train", msg);  // may name files and folders: made safe to print
}

static void fmt_time(double s, char *buf, size_t n) {
    if (!isfinite(s) || s < 0) s = 0;
    long t = lround(s);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

static void on_progress(void *user, const tg_train_progress *p) {
    ui *u = user;
    if (!u->tty) return;
    double t = now_s();
    if (p->step < p->steps && t - u->last_draw < 0.1) return;
    u->last_draw = t;
    const int W = 24;
    int fill = p->steps ? (int)(W * p->step / p->steps) : W;
    char bar[32], eta[32];
    for (int i = 0; i < W; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[W] = 0;
    fmt_time(p->eta_s, eta, sizeof eta);
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %zu/%zu  %.1f img/s  loss %.4f  acc %.1f%%  ETA %s",
            p->epoch, p->epochs, bar, p->step, p->steps, p->images_per_s, p->loss, 100 * p->acc,
            eta);
    fflush(stderr);
    u->bar_shown = true;
}

static void on_epoch(void *user, const tg_epoch_metrics *m) {
    ui *u = user;
    clear_bar(u);
    char el[32];
    fmt_time(m->seconds, el, sizeof el);
    printf("epoch %d/%d: train loss %.4f acc %.2f%%", m->epoch, m->epochs, m->train_loss,
           100 * m->train_acc);
    if (m->has_val)
        printf(" | val loss %.4f acc %.2f%%%s", m->val_loss, 100 * m->val_acc,
               m->best ? " (best)" : "");
    printf(" | lr %g | %zu images", m->lr, m->images);
    if (m->skipped) printf(", %zu skipped", m->skipped);
    if (m->dropped) printf(", %zu left out (batch of one)", m->dropped);
    printf(" | %s, %.1f img/s\n", el, m->images_per_s);
    fflush(stdout);
}

int tg_cmd_train(int argc, char **argv) {
    const char *config = NULL;
    bool resume = false;
    int threads = -1;  // not given: train.threads of the config
    const tg_option opts[] = {
        TG_OPT_STRING_REQUIRED('c', "config", &config, "FILE",
                               "the JSON config (paths in it are relative to its directory)"),
        TG_OPT_BOOL('r', "resume", &resume, "continue from output/checkpoint.safetensors"),
        TG_OPT_THREADS(&threads, "compute threads, 0..1024 (default: train.threads; 0 = every "
                                 "core)"),
        TG_OPT_END,
    };
    const tg_cmd_spec spec = {"train", about, opts, epilog, NULL, false};
    int rc = tg_cmd_parse(&spec, argc, argv);
    if (rc != TG_CMD_GO) return rc;
    // tg_train_opts.threads: 0 = the config's, TG_THREADS_ALL = every core
    threads = threads < 0 ? 0 : threads == 0 ? TG_THREADS_ALL : threads;
    tg_config cfg;
    tg_error err = {0};
    if (tg_config_load(config, &cfg, &err)) {
        tg_cmd_error("train", err.msg);
        return TG_EXIT_USAGE;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;  // reads and writes in flight (a checkpoint) continue
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    ui u = {.tty = isatty(STDERR_FILENO)};
    tg_train_opts to = {
        .resume = resume,
        .threads = threads,
        .stop = &g_stop,
        .message = on_message,
        .progress = on_progress,
        .epoch_end = on_epoch,
        .user = &u,
    };
    tg_status st = tg_train_run(&cfg, &to, &err);
    clear_bar(&u);
    rc = TG_EXIT_OK;
    if (st == TG_ERR_INTERRUPTED) {
        tg_cmd_error("train", err.msg);
        rc = g_stop == SIGTERM ? TG_EXIT_SIGTERM : TG_EXIT_SIGINT;
    } else if (st) {
        tg_cmd_error("train", err.msg);
        rc = st == TG_ERR_CONFIG ? TG_EXIT_USAGE : TG_EXIT_FAIL;
    } else {
        char *out = tg_cmd_shown(cfg.output);
        printf("model: %s/model.safetensors\n", out ? out : cfg.output);
        free(out);
    }
    tg_config_free(&cfg);
    return rc;
}
