// knobs.c: the measurement knobs read from the environment once (see knobs.h).
#include "knobs.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

// The integer in environment variable name (as atoll reads it), or dflt when it is unset.
static int64_t env_int(const char *name, int64_t dflt) {
    const char *e = getenv(name);
    return e ? atoll(e) : dflt;
}

// v, or dflt when v is outside [lo, hi]
static int64_t in_range_or(int64_t v, int64_t lo, int64_t hi, int64_t dflt) {
    return v < lo || v > hi ? dflt : v;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

static tg_conv_algo conv_algo(const char *e) {
    if (!e) return TG_CONV_AUTO;
    if (!strcmp(e, "im2col")) return TG_CONV_IM2COL;
    if (!strcmp(e, "winograd2")) return TG_CONV_WINOGRAD2;
    if (!strcmp(e, "winograd4")) return TG_CONV_WINOGRAD4;
    return TG_CONV_AUTO;
}

void tg_knobs_read(tg_knobs *k) {
    const int64_t col_block = env_int("TG_CONV_COL_BLOCK", TG_CONV_COL_BLOCK_FLOATS);
    *k = (tg_knobs){
        .parallel_min = clamp(env_int("TG_PARALLEL_MIN", TG_PARALLEL_MIN_COST), 0, INT64_MAX),
        .parallel_spin = (int)clamp(env_int("TG_PARALLEL_SPIN", TG_PARALLEL_SPIN_POLLS), 0,
                                    INT_MAX),
        .conv_skinny = (int)in_range_or(env_int("TG_CONV_SKINNY", TG_SKINNY_MAX), 0,
                                        TG_SKINNY_MAX, TG_SKINNY_MAX),
        .gemm_small = clamp(env_int("TG_GEMM_SMALL", TG_GEMM_SMALL_MACS), 0, INT64_MAX),
        .gemm_restore = env_int("TG_GEMM_RESTORE", 0) > 0,
        .gemm_touch = env_int("TG_GEMM_TOUCH", 1) != 0,
        .conv_group_cols = (int)in_range_or(env_int("TG_CONV_GROUP_COLS", TG_CONV_GROUP_MIN_COLS),
                                            1, INT_MAX, TG_CONV_GROUP_MIN_COLS),
        .conv_col_block = col_block > 0 ? col_block : INT64_MAX,
        .conv_algo = conv_algo(getenv("TG_CONV_ALGO")),
    };
}

static tg_knobs knobs;
static pthread_once_t knobs_once = PTHREAD_ONCE_INIT;
static void read_knobs(void) { tg_knobs_read(&knobs); }

const tg_knobs *tg_knobs_get(void) {
    pthread_once(&knobs_once, read_knobs);
    return &knobs;
}
