// escape.h: a file name made safe to print. On Linux a name is any bytes but '/' and NUL,
// so it can hold an ESC (the start of a terminal escape sequence), a newline that forges
// a log line, or bytes that are not UTF-8. Messages that name a file pass it through
// tg_path_escape first (GNU ls and git quote such names for the same reason).
#ifndef TG_ESCAPE_H
#define TG_ESCAPE_H

#include <stddef.h>

// Copies in to out (n bytes, NUL-terminated if n > 0) writing as \xNN (two lowercase hex
// digits): each C0 control byte (0x00..0x1f) and DEL (0x7f), each byte of a C1 control
// (U+0080..U+009F, which some terminals obey: U+009B is CSI) and each byte that is not
// part of a valid UTF-8 sequence (overlong forms, surrogates and code points above
// U+10FFFF included). Everything else, valid UTF-8 included, passes through unchanged.
// A result that does not fit is cut before the character or escape that would not fit.
// Returns the length of the whole escaped string (as snprintf: >= n means it was cut).
size_t tg_path_escape(const char *in, char *out, size_t n);

#endif
