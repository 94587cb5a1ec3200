// train.c: `tgfinetune train --config FILE [--resume] [--threads N]`.
// Parses arguments, installs the signal handlers, prints progress; the work is
// tg_train_run (lib/app/train.h).
#include <getopt.h>
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

static volatile sig_atomic_t g_stop;  // the first signal's number, 0 until then

static void on_signal(int sig) {
    if (g_stop) _exit(128 + sig);  // a second signal: stop at once
    g_stop = sig;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: tgfinetune train --config FILE [--resume] [--threads N]\n"
            "Fine-tunes resnet18 as the JSON config says (see README.md, section config) and\n"
            "writes model.safetensors, best.safetensors, checkpoint.safetensors, metrics.jsonl\n"
            "and config.json into the config's output directory.\n\n"
            "  -c, --config FILE  the JSON config (paths in it are relative to its directory)\n"
            "  -r, --resume       continue from output/checkpoint.safetensors\n"
            "  -t, --threads N    compute threads, 0..1024 (default: train.threads; 0 = every\n"
            "                     core)\n"
            "  -V, --version      print the version\n"
            "  -h, --help         this help\n\n"
            "Ctrl-C (SIGINT) or SIGTERM finishes the current step, saves the checkpoint and exits\n"
            "with 130 or 143; a second signal stops at once. Exit codes: 0 done, 1 runtime\n"
            "failure, 2 usage or config error, 130/143 interrupted (checkpoint saved).\n");
}

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
    char *s = tg_cmd_shown(msg);  // may name files and folders: made safe to print
    fprintf(stderr, "train: %s\n", s ? s : msg);
    free(s);
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
    int threads = 0;  // 0: train.threads of the config
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"resume", no_argument, NULL, 'r'},
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int o;
    while ((o = getopt_long(argc, argv, "c:rt:hV", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            config = optarg;
            break;
        case 'r':
            resume = true;
            break;
        case 't': {
            int v;
            if (!tg_cmd_threads_arg("train", optarg, &v)) return TG_EXIT_USAGE;
            threads = v == 0 ? TG_THREADS_ALL : v;
            break;
        }
        case 'h':
            usage(stdout);
            return TG_EXIT_OK;
        case 'V':
            printf("tgfinetune %s\n", TG_VERSION);
            return TG_EXIT_OK;
        default:
            usage(stderr);
            return TG_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tgfinetune train: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return TG_EXIT_USAGE;
    }
    if (!config) {
        fprintf(stderr, "tgfinetune train: --config FILE is required\n");
        usage(stderr);
        return TG_EXIT_USAGE;
    }
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
    int rc = TG_EXIT_OK;
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
