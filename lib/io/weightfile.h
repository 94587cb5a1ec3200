// weightfile.h: state dicts to and from files, in either format: the one place that tells
// a .pth from a .safetensors file (by content when reading, by extension when writing) and
// hands the bytes to the format's reader or writer (pth.h, safetensors.h). The readers and
// writers fill and read the container of statedict.h and know nothing of each other; the
// functions keep the tg_statedict_ names of what they load and save.
#ifndef TG_WEIGHTFILE_H
#define TG_WEIGHTFILE_H

#include <stddef.h>

#include "core/error.h"
#include "statedict.h"

// A checkpoint's format, as tg_statedict_load_mem detects it.
typedef enum {
    TG_SD_FORMAT_UNKNOWN,
    TG_SD_FORMAT_PTH_ZIP,      // torch.save since 1.6 ("PK\3\4")
    TG_SD_FORMAT_PTH_LEGACY,   // torch.save(_use_new_zipfile_serialization=False): pickles
    TG_SD_FORMAT_PTH_PREVIEW,  // "PYTORCH1", not supported
    TG_SD_FORMAT_SAFETENSORS,
} tg_sd_format;

// The format of a file from its first n bytes (9 are enough) and its name: the one test
// the reader uses. Safetensors is tried before pickle: a header length of 128 makes a
// safetensors file start with 0x80 like pickle's PROTO opcode, but has '{' at byte 8
// where a legacy .pth has its magic number. Without '{' a .safetensors name still
// decides (the reader then says what is wrong with the file).
tg_sd_format tg_statedict_detect(const void *buf, size_t n, const char *name);
// "PyTorch checkpoint (zip format)", "safetensors", ... ("unknown format" for UNKNOWN).
const char *tg_sd_format_name(tg_sd_format f);

// Reads a .pth (zip or legacy pickle) or .safetensors file, detected by its content.
// sd is overwritten (it need not be initialized); on failure it is left empty.
tg_status tg_statedict_load(const char *path, tg_statedict *sd, tg_error *err);
// Writes atomically (temporary file in the same directory, fsync, rename, fsync of the
// directory). The format follows the extension: .safetensors, or .pth (zip format).
tg_status tg_statedict_save(const char *path, const tg_statedict *sd, tg_error *err);

// The same reader on a buffer already in memory; name is used in messages.
// Appends to sd, which must be initialized.
tg_status tg_statedict_load_mem(const void *buf, size_t n, const char *name, tg_statedict *sd,
                                tg_error *err);

#endif
