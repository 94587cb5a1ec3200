// error.c: tg_error helpers (see error.h).
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tg_status tg_error_vset(tg_error *err, tg_status st, const char *fmt, va_list ap) {
    if (err) {
        err->status = st;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return st;
}

tg_status tg_error_set(tg_error *err, tg_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tg_error_vset(err, st, fmt, ap);
    va_end(ap);
    return st;
}

void tg_error_prefix(tg_error *err, const char *fmt, ...) {
    if (!err) return;
    char pre[TG_ERR_MSG_MAX], old[TG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    snprintf(err->msg, sizeof err->msg, "%s: %s", pre, old);
}

void tg_error_clear(tg_error *err) {
    if (!err) return;
    err->status = TG_OK;
    err->msg[0] = '\0';
}

const char *tg_status_name(tg_status st) {
    switch (st) {
    case TG_OK: return "ok";
    case TG_ERR_IO: return "I/O error";
    case TG_ERR_FORMAT: return "bad format";
    case TG_ERR_SHAPE: return "shape mismatch";
    case TG_ERR_VALUE: return "bad value";
    case TG_ERR_NOMEM: return "out of memory";
    case TG_ERR_STATE: return "invalid state";
    case TG_ERR_CONFIG: return "config error";
    case TG_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown error";
}

// The one place lib/ writes to stderr: a broken API contract, which is a bug in the caller.
_Noreturn void tg_assert_fail(const char *cond, const char *hint, const char *file, int line) {
    fprintf(stderr, "tgfinetune: internal assertion failed at %s:%d: %s (%s)\n", file, line, cond,
            hint);
    abort();
}
