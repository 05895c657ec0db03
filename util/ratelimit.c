/*
 * ratelimit.c: the job rate limiter.
 *
 * Time is cut into slices of slice_ns; each slice may carry slice_quota =
 * speed * slice_ns bytes.  The limiter is asked before a request goes out:
 * if it fits into what is left of the current slice it goes now, else it
 * waits for the first slice in which it fits.  Bytes charged beyond the
 * current slice (a request larger than a whole slice, which is let through
 * alone at the start of a slice) are debt paid off by the following ones,
 * so the long-run rate never exceeds speed and there is no burst beyond
 * one slice's quota.
 */
#include "qemu/osdep.h"
#include "qemu/ratelimit.h"

void ratelimit_init(RateLimit *limit)
{
    memset(limit, 0, sizeof(*limit));
}

void ratelimit_set_speed(RateLimit *limit, uint64_t speed, uint64_t slice_ns)
{
    unsigned __int128 quota;

    assert(slice_ns > 0);
    limit->slice_ns = slice_ns;
    if (speed == 0) {
        limit->slice_quota = 0;
        return;
    }
    quota = (unsigned __int128)speed * slice_ns / NANOSECONDS_PER_SECOND;
    limit->slice_quota = MAX(MIN(quota, (unsigned __int128)UINT64_MAX / 2), 1);
}

bool ratelimit_enabled(const RateLimit *limit)
{
    return limit->slice_quota != 0;
}

/* Move the window forward to the slice containing now, paying off debt. */
static void ratelimit_advance(RateLimit *limit, int64_t now_ns)
{
    uint64_t elapsed, paid;

    if (now_ns < limit->slice_end_ns) {
        return;
    }
    elapsed = (now_ns - limit->slice_start_ns) / limit->slice_ns;
    if (limit->slice_end_ns == 0 || elapsed > limit->dispatched / limit->slice_quota) {
        /* Idle or debt-free: start a fresh slice at now. */
        limit->dispatched = 0;
        limit->slice_start_ns = now_ns;
    } else {
        paid = elapsed * limit->slice_quota;
        limit->dispatched = limit->dispatched > paid ? limit->dispatched - paid : 0;
        limit->slice_start_ns += elapsed * limit->slice_ns;
    }
    limit->slice_end_ns = limit->slice_start_ns + limit->slice_ns;
}

int64_t ratelimit_calculate_delay(RateLimit *limit, int64_t now_ns,
                                  uint64_t bytes)
{
    uint64_t quota = limit->slice_quota;
    uint64_t slices;

    if (!quota) {
        return 0;
    }
    ratelimit_advance(limit, now_ns);
    if (limit->dispatched == 0 || limit->dispatched + bytes <= quota) {
        return 0;
    }
    /*
     * The first later slice k (k >= 1) where the debt left, dispatched -
     * k * quota, leaves room for bytes; an oversized request only waits
     * until the debt is gone.
     */
    if (bytes >= quota) {
        slices = DIV_ROUND_UP(limit->dispatched, quota);
    } else {
        slices = DIV_ROUND_UP(limit->dispatched + bytes - quota, quota);
    }
    return limit->slice_start_ns + (int64_t)(slices * limit->slice_ns) - now_ns;
}

void ratelimit_account(RateLimit *limit, int64_t now_ns, uint64_t bytes)
{
    if (!limit->slice_quota) {
        return;
    }
    ratelimit_advance(limit, now_ns);
    limit->dispatched += bytes;
}
