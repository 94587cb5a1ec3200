// notice.h: how lib/app hands notices and warnings to its caller (lib/ never prints): a
// callback with a message, the same shape as data/'s tg_data_notice_fn.
#ifndef TG_NOTICE_H
#define TG_NOTICE_H

typedef void (*tg_notice_fn)(void *user, const char *msg);

// Formats the message (at most 2047 bytes) and passes it to fn; nothing when fn is NULL.
void tg_notice(tg_notice_fn fn, void *user, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
