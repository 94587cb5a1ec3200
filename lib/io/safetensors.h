// safetensors.h: the safetensors format (Hugging Face), tgfinetune's native format.
// Layout: u64 LE header length N, N bytes of JSON {"name": {"dtype","shape","data_offsets"},
// "__metadata__": {str: str}}, then the data buffer (C-contiguous, little-endian).
#ifndef TG_SAFETENSORS_H
#define TG_SAFETENSORS_H

#include <stddef.h>

#include "statedict.h"

#define TG_SAFETENSORS_MAX_HEADER ((size_t)100 << 20)  // the reference reader's cap
#define TG_SAFETENSORS_MAX_TENSORS 1000000

// Appends the tensors and metadata of the file in buf to sd (initialized). name: messages.
tg_status tg_safetensors_read(const unsigned char *buf, size_t n, const char *name,
                              tg_statedict *sd, tg_error *err);
// Writes sd atomically: tensors in sd's order, header padded with spaces to 8 bytes.
tg_status tg_safetensors_write(const char *path, const tg_statedict *sd, tg_error *err);

#endif
