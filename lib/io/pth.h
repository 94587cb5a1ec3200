// pth.h: PyTorch checkpoints: the zip format of torch >= 1.6 and the legacy format before
// it. The pickle inside is interpreted by a restricted VM (pickle.h): data, never code.
#ifndef TG_PTH_H
#define TG_PTH_H

#include <stddef.h>
#include <stdint.h>

#include "statedict.h"

// A .pth's tensors, made contiguous, may take at most max(2 x S, S + this) bytes, S being
// the bytes of the storage records they use: the bound on what expanded (stride 0) or
// overlapping views can make a small file ask for. Above it the file is refused.
#define TG_PTH_EXPAND_ALLOWANCE ((uint64_t)256 << 20)

// Appends the state_dict stored in buf (zip or legacy .pth) to sd (initialized).
tg_status tg_pth_read(const unsigned char *buf, size_t n, const char *name, tg_statedict *sd,
                      tg_error *err);
// Writes sd atomically as a zip-format .pth that torch.load(weights_only=True) accepts.
tg_status tg_pth_write(const char *path, const tg_statedict *sd, tg_error *err);

#endif
