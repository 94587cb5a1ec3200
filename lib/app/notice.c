// notice.c: see notice.h.
#include "app/notice.h"

#include <stdarg.h>
#include <stdio.h>

void tg_notice(tg_notice_fn fn, void *user, const char *fmt, ...) {
    if (!fn) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fn(user, buf);
}
