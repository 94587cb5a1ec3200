// pth.c: placeholder while the zip/pickle reader is written.
#include "pth.h"

tg_status tg_pth_read(const unsigned char *buf, size_t n, const char *name, tg_statedict *sd,
                      tg_error *err) {
    (void)buf; (void)n; (void)sd;
    return tg_error_set(err, TG_ERR_FORMAT, "%s: .pth reading is not implemented yet", name);
}

tg_status tg_pth_write(const char *path, const tg_statedict *sd, tg_error *err) {
    (void)sd;
    return tg_error_set(err, TG_ERR_FORMAT, "%s: .pth writing is not implemented yet", path);
}
