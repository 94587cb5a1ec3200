// rng.h: a seeded generator, identical on every platform (xoshiro256** seeded by
// splitmix64), for initialisation, shuffling and augmentation. Its whole state can be
// saved in a checkpoint and restored.
#ifndef TG_RNG_H
#define TG_RNG_H

#include <stdint.h>

struct tg_rng {
    uint64_t s[4];
    int has_spare;   // Box-Muller spare
    double spare;
};
typedef struct tg_rng tg_rng;

void tg_rng_seed(tg_rng *r, uint64_t seed);
uint64_t tg_rng_u64(tg_rng *r);
double tg_rng_uniform(tg_rng *r);                  // [0, 1)
double tg_rng_uniform_range(tg_rng *r, double lo, double hi);
double tg_rng_normal(tg_rng *r);                   // N(0, 1)
uint64_t tg_rng_below(tg_rng *r, uint64_t n);      // uniform in [0, n), unbiased

#endif
