/*
 * cutils.h: small string helpers shared by the daemon, the QAPI keyval
 * input and the tools.
 */
#ifndef QEMU_CUTILS_H
#define QEMU_CUTILS_H

#include "qemu/osdep.h"

/*
 * Parse a byte count: a decimal or 0x hexadecimal integer, or a decimal
 * fraction followed by a suffix, with an optional suffix B, K, M, G, T, P
 * or E (case-insensitive, powers of 1024), e.g. "4096", "0x1000", "64k",
 * "1.5G".  The whole string must be used.  Returns 0, or -EINVAL for
 * malformed input and -ERANGE for values of 2^64 or more.
 */
int qemu_strtosz(const char *s, uint64_t *result);

#endif
