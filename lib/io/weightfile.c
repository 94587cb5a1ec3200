// weightfile.c: loading and saving a state dict as a file: the format test and the dispatch
// to the .pth and safetensors readers and writers. See weightfile.h.
#include "weightfile.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/file.h"
#include "pth.h"
#include "safetensors.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcasecmp(s + n - m, suffix);
}

tg_sd_format tg_statedict_detect(const void *buf, size_t n, const char *name) {
    const unsigned char *b = buf;
    if (n >= 4 && !memcmp(b, "PK\x03\x04", 4)) return TG_SD_FORMAT_PTH_ZIP;
    if (n >= 8 && !memcmp(b, "PYTORCH1", 8)) return TG_SD_FORMAT_PTH_PREVIEW;
    if ((n > 8 && b[8] == '{') || (name && ends_with(name, ".safetensors")))
        return TG_SD_FORMAT_SAFETENSORS;
    if (n >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5) return TG_SD_FORMAT_PTH_LEGACY;
    return TG_SD_FORMAT_UNKNOWN;
}

const char *tg_sd_format_name(tg_sd_format f) {
    switch (f) {
    case TG_SD_FORMAT_PTH_ZIP:
        return "PyTorch checkpoint (zip format)";
    case TG_SD_FORMAT_PTH_LEGACY:
        return "PyTorch checkpoint (legacy format)";
    case TG_SD_FORMAT_PTH_PREVIEW:
        return "PyTorch checkpoint (PYTORCH1 preview format)";
    case TG_SD_FORMAT_SAFETENSORS:
        return "safetensors";
    case TG_SD_FORMAT_UNKNOWN:
        break;
    }
    return "unknown format";
}

tg_status tg_statedict_load_mem(const void *buf, size_t n, const char *name, tg_statedict *sd,
                                tg_error *err) {
    const unsigned char *b = buf;
    if (n == 0) return tg_error_set(err, TG_ERR_FORMAT, "%s: empty file", name);
    switch (tg_statedict_detect(b, n, name)) {
    case TG_SD_FORMAT_PTH_ZIP:
    case TG_SD_FORMAT_PTH_LEGACY:
        return tg_pth_read(b, n, name, sd, err);
    case TG_SD_FORMAT_SAFETENSORS:
        return tg_safetensors_read(b, n, name, sd, err);
    case TG_SD_FORMAT_PTH_PREVIEW:
        return tg_error_set(err, TG_ERR_FORMAT,
                            "%s: PYTORCH1 (pre-1.6 preview) format is not supported; re-save it "
                            "with torch.save", name);
    case TG_SD_FORMAT_UNKNOWN:
        break;
    }
    return tg_error_set(err, TG_ERR_FORMAT,
                        "%s: unrecognized format: not a zip .pth, a legacy .pth or a "
                        "safetensors file (first bytes %02x %02x %02x %02x)",
                        name, b[0], n > 1 ? b[1] : 0, n > 2 ? b[2] : 0, n > 3 ? b[3] : 0);
}

tg_status tg_statedict_load(const char *path, tg_statedict *sd, tg_error *err) {
    tg_statedict_init(sd);
    unsigned char *buf = NULL;
    size_t n = 0;
    // a FIFO or device given as a weights file is refused without being opened (core/file.h)
    tg_status st = tg_file_read(path, SIZE_MAX - 1, &buf, &n, err);
    if (st) return st;
    tg_statedict tmp;
    tg_statedict_init(&tmp);
    st = tg_statedict_load_mem(buf, n, path, &tmp, err);
    if (st != TG_OK) tg_statedict_free(&tmp);
    *sd = tmp;  // sd need not be initialized; on failure it is left empty (freeing is safe)
    free(buf);
    return st;
}

tg_status tg_statedict_save(const char *path, const tg_statedict *sd, tg_error *err) {
    if (ends_with(path, ".safetensors")) return tg_safetensors_write(path, sd, err);
    if (ends_with(path, ".pth") || ends_with(path, ".pt"))
        return tg_pth_write(path, sd, err);
    return tg_error_set(err, TG_ERR_VALUE,
                        "%s: unknown output format; use a .safetensors or .pth extension", path);
}
