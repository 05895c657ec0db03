/*
 * qemu-timer.c: clocks and the per-AioContext timer list.
 *
 * Pending timers live in a GSequence (a balanced tree) ordered by expiry
 * time, then by arming order: arming, deleting and finding the next
 * deadline are O(log n).  Timers are not thread-safe: arm and delete them
 * from the thread that runs their AioContext.
 */
#include "qemu/osdep.h"
#include "aio-internal.h"
#include "util-trace.h"

#include <time.h>

/* ---- clocks ---- */

static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return ts.tv_sec * NANOSECONDS_PER_SECOND + ts.tv_nsec;
}

int64_t qemu_clock_get_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

int64_t qemu_clock_get_ms(void)
{
    return qemu_clock_get_ns() / SCALE_MS;
}

int64_t qemu_realtime_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

/* ---- timer list ---- */

static gint timer_cmp(gconstpointer a, gconstpointer b, gpointer unused)
{
    const QEMUTimer *ta = a;
    const QEMUTimer *tb = b;

    if (ta->expire_ns != tb->expire_ns) {
        return ta->expire_ns < tb->expire_ns ? -1 : 1;
    }
    if (ta->seq != tb->seq) {
        return ta->seq < tb->seq ? -1 : 1;
    }
    return 0;
}

void aio_timers_init(AioContext *ctx)
{
    ctx->timers = g_sequence_new(NULL);
}

void aio_timers_cleanup(AioContext *ctx)
{
    GSequenceIter *iter = g_sequence_get_begin_iter(ctx->timers);

    /* Timers belong to their creators; just forget them. */
    while (!g_sequence_iter_is_end(iter)) {
        QEMUTimer *t = g_sequence_get(iter);

        t->iter = NULL;
        t->expire_ns = -1;
        iter = g_sequence_iter_next(iter);
    }
    g_sequence_free(ctx->timers);
    ctx->timers = NULL;
}

void aio_timer_init(AioContext *ctx, QEMUTimer *t, QEMUTimerCB *cb, void *opaque)
{
    memset(t, 0, sizeof(*t));
    t->ctx = ctx;
    t->cb = cb;
    t->opaque = opaque;
    t->expire_ns = -1;
}

QEMUTimer *aio_timer_new(AioContext *ctx, QEMUTimerCB *cb, void *opaque)
{
    QEMUTimer *t = g_new(QEMUTimer, 1);

    aio_timer_init(ctx, t, cb, opaque);
    return t;
}

void timer_del(QEMUTimer *t)
{
    if (t->iter) {
        g_sequence_remove(t->iter);
        t->iter = NULL;
    }
    t->expire_ns = -1;
}

void timer_mod(QEMUTimer *t, int64_t expire_ns)
{
    AioContext *ctx = t->ctx;

    trace_timer_mod(t, expire_ns);
    timer_del(t);
    t->expire_ns = MAX(expire_ns, 0);
    t->seq = ctx->timer_seq++;
    t->iter = g_sequence_insert_sorted(ctx->timers, t, timer_cmp, NULL);
    if (g_sequence_iter_is_begin(t->iter)) {
        /* New earliest deadline: a blocked poll must recompute its timeout. */
        aio_notify(ctx);
    }
}

bool timer_pending(QEMUTimer *t)
{
    return t->iter != NULL;
}

int64_t timer_expire_time_ns(QEMUTimer *t)
{
    return t->iter ? t->expire_ns : -1;
}

void timer_free(QEMUTimer *t)
{
    if (t) {
        timer_del(t);
        g_free(t);
    }
}

int64_t aio_timers_deadline_ns(AioContext *ctx)
{
    GSequenceIter *iter = g_sequence_get_begin_iter(ctx->timers);
    QEMUTimer *t;
    int64_t remaining;

    if (g_sequence_iter_is_end(iter)) {
        return -1;
    }
    t = g_sequence_get(iter);
    /*
     * Read the clock once: with MAX(t->expire_ns - qemu_clock_get_ns(), 0)
     * a deadline passing between two reads made the result negative, which
     * callers take for "no timer" and block forever.
     */
    remaining = t->expire_ns - qemu_clock_get_ns();
    return remaining > 0 ? remaining : 0;
}

/*
 * Fire the timers that expired before we started, each at most once per
 * call: a callback that re-arms its timer in the past runs again on the
 * next iteration.  Callbacks may arm, delete or free any timer, themselves
 * included, and may call aio_poll().
 */
bool aio_timers_run(AioContext *ctx)
{
    int64_t now = qemu_clock_get_ns();
    uint64_t limit = ctx->timer_seq;
    GSequenceIter *iter = g_sequence_get_begin_iter(ctx->timers);
    bool progress = false;

    while (!g_sequence_iter_is_end(iter)) {
        QEMUTimer *t = g_sequence_get(iter);

        if (t->expire_ns > now) {
            break;
        }
        if (t->seq >= limit) {
            iter = g_sequence_iter_next(iter);
            continue;
        }
        timer_del(t);
        trace_timer_fire(ctx, t, t->opaque);
        t->cb(t->opaque);
        progress = true;
        /* The callback may have changed anything: start over. */
        iter = g_sequence_get_begin_iter(ctx->timers);
    }
    return progress;
}
