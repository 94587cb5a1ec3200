// error.h: status codes and the error message that lib/ hands back to its caller.
// lib/ never prints and never exits: a failing call returns a tg_status and fills a
// tg_error whose message names the file, key or shapes involved. cmd/ prints it.
#ifndef TG_ERROR_H
#define TG_ERROR_H

#include <stdarg.h>

typedef enum {
    TG_OK = 0,
    TG_ERR_IO,          // open/read/write/rename failed (errno text in the message)
    TG_ERR_FORMAT,      // a file is malformed, truncated, hostile or unsupported
    TG_ERR_SHAPE,       // shapes do not fit together
    TG_ERR_VALUE,       // a value is out of range (NaN weights, bad argument)
    TG_ERR_NOMEM,       // allocation failed or a size cap was hit
    TG_ERR_STATE,       // API used in the wrong state (backward twice, no grad_fn)
    TG_ERR_CONFIG,      // a config file or key is wrong
    TG_ERR_INTERRUPTED, // stopped by a signal
} tg_status;

#define TG_ERR_MSG_MAX 1024

typedef struct {
    tg_status status;
    char msg[TG_ERR_MSG_MAX];
} tg_error;

// Sets err (if not NULL) and returns st. printf-style message.
tg_status tg_error_set(tg_error *err, tg_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
tg_status tg_error_vset(tg_error *err, tg_status st, const char *fmt, va_list ap);
// Prepends "prefix: " to an error already set (adds context as it travels up).
void tg_error_prefix(tg_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tg_error_clear(tg_error *err);
const char *tg_status_name(tg_status st);

// Asserts that stay on in release builds, for API misuse (not for bad input).
#define TG_ASSERT(cond, hint)                                                        \
    do {                                                                             \
        if (!(cond)) tg_assert_fail(#cond, hint, __FILE__, __LINE__);                \
    } while (0)
_Noreturn void tg_assert_fail(const char *cond, const char *hint, const char *file, int line);

#endif
