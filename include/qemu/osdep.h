/*
 * osdep.h: the first include of every blockd C file.
 * System headers, GLib, build configuration and the small macros used everywhere.
 */
#ifndef QEMU_OSDEP_H
#define QEMU_OSDEP_H

#include "config-host.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <assert.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <glib.h>

/*
 * A function marked coroutine_fn may yield: call it only from coroutine
 * context (another coroutine_fn, or a coroutine entry point).
 */
#ifdef __clang__
#define coroutine_fn __attribute__((annotate("coroutine_fn")))
#else
#define coroutine_fn
#endif
/* May be called from coroutine or non-coroutine context. */
#define coroutine_mixed_fn

#ifndef container_of
#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))
#endif

#define QEMU_ALIGN_DOWN(n, m)   ((n) / (m) * (m))
#define QEMU_ALIGN_UP(n, m)     QEMU_ALIGN_DOWN((n) + (m) - 1, (m))
#define QEMU_IS_ALIGNED(n, m)   (((n) % (m)) == 0)
#define ROUND_UP(n, d)          QEMU_ALIGN_UP(n, d)
#define DIV_ROUND_UP(n, d)      (((n) + (d) - 1) / (d))
#define QEMU_PTR_IS_ALIGNED(p, n) QEMU_IS_ALIGNED((uintptr_t)(p), (n))

#ifndef MIN
#define MIN(a, b) (((a) < (b)) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) (((a) > (b)) ? (a) : (b))
#endif
#define MIN_NON_ZERO(a, b) ((a) == 0 ? (b) : ((b) == 0 ? (a) : MIN(a, b)))

#define ARRAY_SIZE(x) (sizeof(x) / sizeof((x)[0]))

#define QEMU_NORETURN       __attribute__((noreturn))
#define QEMU_WARN_UNUSED_RESULT __attribute__((warn_unused_result))
#define QEMU_PRINTF(a, b)   __attribute__((format(printf, a, b)))
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define KiB (INT64_C(1) << 10)
#define MiB (INT64_C(1) << 20)
#define GiB (INT64_C(1) << 30)
#define TiB (INT64_C(1) << 40)

#define NANOSECONDS_PER_SECOND 1000000000LL
#define SCALE_MS 1000000LL
#define SCALE_US 1000LL

/* Retry a system call interrupted by a signal. */
#define RETRY_ON_EINTR(expr) \
    ({ typeof(expr) __r; do { __r = (expr); } while (__r == -1 && errno == EINTR); __r; })

static inline bool is_power_of_2(uint64_t v)
{
    return v && !(v & (v - 1));
}

static inline uint64_t pow2ceil(uint64_t v)
{
    if (v <= 1) {
        return 1;
    }
    return UINT64_C(1) << (64 - __builtin_clzll(v - 1));
}

#endif /* QEMU_OSDEP_H */
