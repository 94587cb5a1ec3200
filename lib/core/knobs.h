// knobs.h: the measurement knobs, environment variables that change how the kernels split
// and schedule their work (never what they compute), so that a variant can be timed side
// by side without a rebuild. They are read once into one struct: tg_knobs_get() reads the
// environment on its first call (under pthread_once; the thread pool calls it before it
// starts a worker) and the struct is read-only after that, so a variable set later has no
// effect. Values are parsed as atoll parses them and bounded as each field says, the same
// rules the knobs had when each was read on its own. Why each default is what it is is said
// next to the code that uses it (the file named beside the default).
#ifndef TG_CORE_KNOBS_H
#define TG_CORE_KNOBS_H

#include <stdbool.h>
#include <stdint.h>

#define TG_PARALLEL_MIN_COST ((int64_t)1 << 12)  // core/parallel.c
#define TG_PARALLEL_SPIN_POLLS 4000               // core/parallel.c
#define TG_SKINNY_MAX 8  // widest product of ops/conv_gemm.c's skinny kernels (their registers)
#define TG_GEMM_SMALL_MACS INT64_MAX                   // ops/conv_gemm.h
#define TG_CONV_GROUP_MIN_COLS 1024                    // ops/conv2d.c
#define TG_CONV_COL_BLOCK_FLOATS ((int64_t)192 << 10)  // ops/conv2d.c

// Algorithm of the 3x3 stride-1 padding-1 convolutions (ops/conv2d.h, tg_conv2d_set_algo).
typedef enum {
    TG_CONV_AUTO = 0,
    TG_CONV_IM2COL,
    TG_CONV_WINOGRAD2,
    TG_CONV_WINOGRAD4,
} tg_conv_algo;

typedef struct {
    // TG_PARALLEL_MIN: loops of fewer items x cost run inline (default TG_PARALLEL_MIN_COST;
    // negative: 0)
    int64_t parallel_min;
    // TG_PARALLEL_SPIN: polls before a pool thread sleeps (default TG_PARALLEL_SPIN_POLLS;
    // bounded to 0..INT_MAX; 0: sleep at once)
    int parallel_spin;
    // TG_CONV_SKINNY: widest product the skinny kernels take (default and outside
    // 0..TG_SKINNY_MAX: TG_SKINNY_MAX; 0 turns them off)
    int conv_skinny;
    // TG_GEMM_SMALL: products of fewer multiply-adds are split by rows (default
    // TG_GEMM_SMALL_MACS; negative: 0, always OpenBLAS's threads)
    int64_t gemm_small;
    // TG_GEMM_RESTORE: a positive value gives OpenBLAS its threads back after a split
    // (default off)
    bool gemm_restore;
    // TG_GEMM_TOUCH: a thread reads its block of the weights once before its product (default
    // on; 0 turns it off)
    bool gemm_touch;
    // TG_CONV_GROUP_COLS: im2col groups grow to this many columns (default and outside
    // 1..INT_MAX: TG_CONV_GROUP_MIN_COLS)
    int conv_group_cols;
    // TG_CONV_COL_BLOCK: a column matrix of more floats than this is built in blocks of
    // output rows (default TG_CONV_COL_BLOCK_FLOATS; 0 or negative: INT64_MAX, never)
    int64_t conv_col_block;
    // TG_CONV_ALGO=im2col|winograd2|winograd4 forces the 3x3 algorithm (unset or anything
    // else: TG_CONV_AUTO)
    tg_conv_algo conv_algo;
} tg_knobs;

// The process's knobs, read from the environment on the first call.
const tg_knobs *tg_knobs_get(void);
// Reads the environment now into k (what tg_knobs_get does once; for tests).
void tg_knobs_read(tg_knobs *k);

#endif
