// escape.c: tg_path_escape (see escape.h).
#include "escape.h"

#include <stdint.h>

// Length of the valid UTF-8 sequence at s (1..4), or 0 if s does not start one. The table
// of well-formed sequences is the Unicode Standard's (chapter 3, table 3-7).
static size_t utf8_len(const unsigned char *s) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    unsigned char lo = 0x80, hi = 0xbf;
    size_t len;
    if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;  // overlong below U+0800
        else if (c == 0xed)
            hi = 0x9f;  // U+D800..U+DFFF are surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;  // overlong below U+10000
        else if (c == 0xf4)
            hi = 0x8f;  // above U+10FFFF
    } else {
        return 0;  // a continuation byte, 0xc0, 0xc1 or 0xf5..0xff
    }
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;  // also stops at the terminating NUL
    return len;
}

size_t tg_path_escape(const char *in, char *out, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)in;
    size_t total = 0, w = 0;  // total: the full length; w: bytes written to out
    int cut = 0;
    while (*s) {
        size_t len = utf8_len(s);
        // C0 controls and DEL; C1 controls are the 2-byte sequences c2 80..c2 9f
        int esc =
            len == 0 || s[0] < 0x20 || s[0] == 0x7f || (len == 2 && s[0] == 0xc2 && s[1] < 0xa0);
        size_t nb = esc ? 4 * (len ? len : 1) : len;
        if (!cut && n > 0 && w + nb < n) {
            if (esc) {
                for (size_t i = 0; i < (len ? len : 1); i++) {
                    out[w++] = '\\';
                    out[w++] = 'x';
                    out[w++] = hex[s[i] >> 4];
                    out[w++] = hex[s[i] & 15];
                }
            } else {
                for (size_t i = 0; i < len; i++) out[w++] = (char)s[i];
            }
        } else {
            cut = 1;
        }
        total += nb;
        s += len ? len : 1;
    }
    if (n > 0) out[w] = 0;
    return total;
}
