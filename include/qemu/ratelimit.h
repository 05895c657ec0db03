/*
 * ratelimit.h: a bytes-per-slice rate limiter for jobs.
 *
 * speed is bytes per second (0 = unlimited).  The limiter is asked *before*
 * dispatching: ratelimit_calculate_delay() says how long to wait before
 * `bytes` may go out; ratelimit_account() records them once sent.
 */
#ifndef QEMU_RATELIMIT_H
#define QEMU_RATELIMIT_H

#include "qemu/osdep.h"

typedef struct RateLimit {
    uint64_t slice_ns;
    uint64_t slice_quota;     /* bytes per slice; 0 = unlimited */
    int64_t slice_start_ns;
    int64_t slice_end_ns;
    uint64_t dispatched;      /* bytes charged in the current slice */
} RateLimit;

void ratelimit_init(RateLimit *limit);
/* speed in bytes/s, slice_ns the accounting window (jobs use 100 ms). */
void ratelimit_set_speed(RateLimit *limit, uint64_t speed, uint64_t slice_ns);
bool ratelimit_enabled(const RateLimit *limit);
/* ns to wait (from now_ns) before `bytes` more may be dispatched; 0 = go. */
int64_t ratelimit_calculate_delay(RateLimit *limit, int64_t now_ns, uint64_t bytes);
void ratelimit_account(RateLimit *limit, int64_t now_ns, uint64_t bytes);

#endif
