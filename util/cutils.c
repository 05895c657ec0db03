/*
 * cutils.c: small string helpers (byte counts with suffixes).
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"

#include <math.h>

static int size_suffix_shift(char c)
{
    static const char suffixes[] = "BKMGTPE";
    const char *p = c ? strchr(suffixes, g_ascii_toupper(c)) : NULL;

    return p ? (int)(p - suffixes) * 10 : -1;
}

int qemu_strtosz(const char *s, uint64_t *result)
{
    const char *num_end = s;
    char *end;
    int shift = 0;

    if (!*s || g_ascii_isspace(*s) || strchr(s, '-')) {
        return -EINVAL;
    }
    /* split number and suffix */
    while (g_ascii_isxdigit(*num_end) || *num_end == '.' || *num_end == 'x' ||
           *num_end == 'X') {
        if ((*num_end == 'b' || *num_end == 'B' || *num_end == 'e' || *num_end == 'E') &&
            !(s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))) {
            break;          /* a suffix, not a hex digit */
        }
        num_end++;
    }
    if (num_end == s) {
        return -EINVAL;     /* no digits */
    }
    if (*num_end) {
        shift = size_suffix_shift(*num_end);
        if (shift < 0 || num_end[1]) {
            return -EINVAL;
        }
    }
    errno = 0;
    if (memchr(s, '.', num_end - s)) {
        /* a fraction needs a unit: "1.5G" */
        double d = strtod(s, &end);
        if (end != num_end || errno || shift == 0) {
            return -EINVAL;
        }
        d = ldexp(d, shift);
        if (d >= 0x1p64) {
            return -ERANGE;
        }
        *result = (uint64_t)d;
        return 0;
    }
    uint64_t v = strtoull(s, &end, 0);
    if (end != num_end) {
        return -EINVAL;
    }
    if (errno == ERANGE || (shift && v > (UINT64_MAX >> shift))) {
        return -ERANGE;
    }
    *result = v << shift;
    return 0;
}
