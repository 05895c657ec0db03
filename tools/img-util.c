/*
 * img-util.c: qemu-img's number formats for blockd-img: size arguments
 * with suffixes (qemu_strtosz) and human-readable sizes (size_to_str).
 * No block layer here (tests/unit/test-img-format.c links it alone).
 */
#include "img-common.h"
#include <math.h>

int64_t img_parse_size(const char *s)
{
    char *end;
    double d;
    uint64_t mult = 1;

    if (!*s || *s == '-' || g_ascii_isspace(*s)) {
        return -1;
    }
    errno = 0;
    d = g_ascii_strtod(s, &end);
    if (errno || end == s || d < 0) {
        return -1;
    }
    switch (*end) {
    case '\0':
        break;
    case 'b': case 'B':
        end++;
        break;
    case 'k': case 'K':
        mult = KiB;
        end++;
        break;
    case 'm': case 'M':
        mult = MiB;
        end++;
        break;
    case 'g': case 'G':
        mult = GiB;
        end++;
        break;
    case 't': case 'T':
        mult = TiB;
        end++;
        break;
    case 'p': case 'P':
        mult = TiB * 1024;
        end++;
        break;
    case 'e': case 'E':
        mult = TiB * 1024 * 1024;
        end++;
        break;
    default:
        return -1;
    }
    if (*end) {
        return -1;
    }
    /* A fraction needs a unit (as qemu_strtosz: "1.5" alone is refused) */
    if (mult == 1 && d != floor(d)) {
        return -1;
    }
    d *= mult;
    if (d >= (double)INT64_MAX) {
        return -1;
    }
    return (int64_t)d;
}

char *img_size_to_str(uint64_t val)
{
    static const char *const suffixes[] = { "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei" };
    int i;

    /* The unit is the largest power of 1024 at most 1000 times val/1024 */
    frexp(val / (1000.0 / 1024.0), &i);
    i = (i - 1) / 10;
    if (i < 0) {
        i = 0;
    }
    if (i >= (int)ARRAY_SIZE(suffixes)) {
        i = ARRAY_SIZE(suffixes) - 1;
    }
    return g_strdup_printf("%0.3g %sB", (double)val / (double)(1ULL << (i * 10)),
                           suffixes[i]);
}
