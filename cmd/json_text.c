// json_text.c: tg_cmd_json_text (see commands.h). cJSON escapes quotes, backslashes and
// control characters but copies other bytes as they are, so a file or class name that is
// not UTF-8 (any bytes are allowed in Linux names) would make --json print invalid JSON.
#include <stdlib.h>

#include "commands.h"

// Length of the well-formed UTF-8 sequence at s (1..4), or 0 (the Unicode Standard's
// table 3-7: no overlong forms, no surrogates, nothing above U+10FFFF).
static size_t utf8_len(const unsigned char *s) {
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t len;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;  // also stops at the terminating NUL
    return len;
}

char *tg_cmd_json_text(const char *in) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)in;
    size_t n = 0;
    for (const unsigned char *p = s; *p;) {
        size_t len = utf8_len(p);
        n += len ? len : 4;
        p += len ? len : 1;
    }
    char *out = malloc(n + 1), *w = out;
    if (!out) return NULL;
    while (*s) {
        size_t len = utf8_len(s);
        if (len) {
            for (size_t i = 0; i < len; i++) *w++ = (char)s[i];
            s += len;
        } else {  // as tg_path_escape writes it in messages
            *w++ = '\\';
            *w++ = 'x';
            *w++ = hex[*s >> 4];
            *w++ = hex[*s & 15];
            s++;
        }
    }
    *w = 0;
    return out;
}
