/*
 * bufferiszero.c: buffer_is_zero(), tuned for the common cases of block
 * I/O: cluster-sized buffers that are either all zero or non-zero early.
 */
#include "qemu/osdep.h"
#include "qemu/iov.h"

static bool bytes_are_zero(const unsigned char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

bool buffer_is_zero(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    const uint64_t *w, *end;
    size_t head;

    if (len < 64) {
        return bytes_are_zero(p, len);
    }

    /* Data is rarely zero in the middle and non-zero at the edges. */
    if (p[0] | p[len - 1] | p[len / 2]) {
        return false;
    }

    head = (8 - ((uintptr_t)p & 7)) & 7;
    if (!bytes_are_zero(p, head)) {
        return false;
    }
    w = (const uint64_t *)(p + head);
    end = w + (len - head) / 8;

    /* Four words per test: OR is cheaper than a branch per word. */
    while (end - w >= 4) {
        if (w[0] | w[1] | w[2] | w[3]) {
            return false;
        }
        w += 4;
    }
    while (w < end) {
        if (*w++) {
            return false;
        }
    }
    return bytes_are_zero((const unsigned char *)end,
                          p + len - (const unsigned char *)end);
}
