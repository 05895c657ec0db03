/*
 * async.c: AioContext life cycle, bottom halves, cross-thread notification
 * and coroutine wake-up (aio_co_wake / aio_co_schedule).
 *
 * Bottom halves may be scheduled from any thread: the pending list is
 * protected by ctx->bh_lock and the event loop is woken through an eventfd,
 * written only while the loop is (about to be) blocked in epoll_wait().
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "aio-internal.h"
#include "coroutine-int.h"
#include "util-trace.h"

#include <sys/eventfd.h>

/* ---- notification ---- */

void aio_notify(AioContext *ctx)
{
    /* Pairs with the fence in aio_poll() after notify_me is raised. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ctx->notify_me, __ATOMIC_SEQ_CST) == 0) {
        return;   /* the loop will look at the BH list before blocking */
    }
    if (!__atomic_exchange_n(&ctx->notified, 1, __ATOMIC_SEQ_CST)) {
        uint64_t one = 1;
        ssize_t r = RETRY_ON_EINTR(write(ctx->notify_fd, &one, sizeof(one)));
        (void)r;   /* EAGAIN: the counter is saturated, still readable */
    }
}

/* Called by aio_poll() when notify_fd is readable. */
void aio_notifier_read(AioContext *ctx)
{
    uint64_t val;
    ssize_t r = RETRY_ON_EINTR(read(ctx->notify_fd, &val, sizeof(val)));

    (void)r;
    /* Cleared after draining: a notifier that sees 1 here was covered. */
    __atomic_store_n(&ctx->notified, 0, __ATOMIC_SEQ_CST);
}

/* ---- bottom halves ---- */

static QEMUBH *bh_new(AioContext *ctx, QEMUBHFunc *cb, void *opaque,
                      bool oneshot)
{
    QEMUBH *bh = g_new0(QEMUBH, 1);

    bh->ctx = ctx;
    bh->cb = cb;
    bh->opaque = opaque;
    bh->oneshot = oneshot;
    bh->link.data = bh;
    return bh;
}

QEMUBH *aio_bh_new(AioContext *ctx, QEMUBHFunc *cb, void *opaque)
{
    return bh_new(ctx, cb, opaque, false);
}

void qemu_bh_schedule(QEMUBH *bh)
{
    AioContext *ctx = bh->ctx;

    g_mutex_lock(&ctx->bh_lock);
    if (!bh->scheduled) {
        bh->scheduled = true;
        bh->seq = ctx->bh_seq++;
        g_queue_push_tail_link(&ctx->bh_pending, &bh->link);
    }
    g_mutex_unlock(&ctx->bh_lock);
    aio_notify(ctx);
}

void qemu_bh_cancel(QEMUBH *bh)
{
    AioContext *ctx = bh->ctx;

    g_mutex_lock(&ctx->bh_lock);
    if (bh->scheduled) {
        g_queue_unlink(&ctx->bh_pending, &bh->link);
        bh->scheduled = false;
    }
    g_mutex_unlock(&ctx->bh_lock);
}

void qemu_bh_delete(QEMUBH *bh)
{
    if (!bh) {
        return;
    }
    qemu_bh_cancel(bh);
    g_free(bh);
}

void aio_bh_schedule_oneshot(AioContext *ctx, QEMUBHFunc *cb, void *opaque)
{
    qemu_bh_schedule(bh_new(ctx, cb, opaque, true));
}

bool aio_bh_pending(AioContext *ctx)
{
    bool pending;

    g_mutex_lock(&ctx->bh_lock);
    pending = !g_queue_is_empty(&ctx->bh_pending);
    g_mutex_unlock(&ctx->bh_lock);
    return pending;
}

/*
 * Run the BHs that were scheduled when we started; ones scheduled by the
 * callbacks wait for the next round so that a self-rescheduling BH cannot
 * starve the rest of the loop.  Safe against nested aio_poll() calls made
 * by a callback: the list is consistent whenever a callback runs, and a
 * callback may delete its own BH.
 */
bool aio_bh_poll(AioContext *ctx)
{
    bool progress = false;
    uint64_t limit;

    g_mutex_lock(&ctx->bh_lock);
    limit = ctx->bh_seq;
    for (;;) {
        GList *link = g_queue_peek_head_link(&ctx->bh_pending);
        QEMUBH *bh = link ? link->data : NULL;
        QEMUBHFunc *cb;
        void *opaque;

        if (!bh || bh->seq >= limit) {
            break;
        }
        g_queue_unlink(&ctx->bh_pending, link);
        bh->scheduled = false;
        cb = bh->cb;
        opaque = bh->opaque;
        trace_aio_bh_run(ctx, bh, opaque);
        if (bh->oneshot) {
            g_free(bh);
        }
        g_mutex_unlock(&ctx->bh_lock);

        cb(opaque);
        progress = true;

        g_mutex_lock(&ctx->bh_lock);
    }
    g_mutex_unlock(&ctx->bh_lock);
    return progress;
}

/* ---- coroutine wake-up ---- */

static void co_schedule_bh_cb(void *opaque)
{
    AioContext *ctx = opaque;
    Coroutine *list;

    g_mutex_lock(&ctx->bh_lock);
    list = ctx->co_sched_head;
    ctx->co_sched_head = NULL;
    ctx->co_sched_tail = &ctx->co_sched_head;
    g_mutex_unlock(&ctx->bh_lock);

    while (list) {
        Coroutine *co = list;

        list = co->co_scheduled_next;
        co->co_scheduled_next = NULL;
        trace_aio_co_schedule_bh_cb(ctx, co);
        __atomic_store_n(&co->scheduled, NULL, __ATOMIC_SEQ_CST);
        qemu_aio_coroutine_enter(ctx, co);
    }
}

void aio_co_schedule_init(AioContext *ctx)
{
    ctx->co_sched_head = NULL;
    ctx->co_sched_tail = &ctx->co_sched_head;
    ctx->co_schedule_bh = aio_bh_new(ctx, co_schedule_bh_cb, ctx);
}

void aio_co_schedule(AioContext *ctx, Coroutine *co)
{
    const char *old = NULL;

    trace_aio_co_schedule(ctx, co);
    if (!__atomic_compare_exchange_n(&co->scheduled, &old, __func__, false,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        fprintf(stderr, "blockd: co-routine was already scheduled in '%s'\n",
                old);
        abort();
    }

    g_mutex_lock(&ctx->bh_lock);
    co->co_scheduled_next = NULL;
    *ctx->co_sched_tail = co;
    ctx->co_sched_tail = &co->co_scheduled_next;
    g_mutex_unlock(&ctx->bh_lock);

    qemu_bh_schedule(ctx->co_schedule_bh);
}

void aio_co_wake(Coroutine *co)
{
    AioContext *ctx = __atomic_load_n(&co->ctx, __ATOMIC_SEQ_CST);
    AioContext *current = qemu_get_current_aio_context();

    if (!ctx) {
        ctx = current;
    }
    if (ctx != current || qemu_in_coroutine()) {
        if (!ctx) {
            fprintf(stderr, "blockd: aio_co_wake() of a co-routine without "
                    "AioContext from co-routine context\n");
            abort();
        }
        aio_co_schedule(ctx, co);
        return;
    }
    qemu_aio_coroutine_enter(ctx, co);
}

/* ---- context life cycle ---- */

AioContext *aio_context_new(Error **errp)
{
    AioContext *ctx = g_new0(AioContext, 1);

    ctx->refcnt = 1;
    ctx->notify_fd = -1;
    if (!aio_epoll_init(ctx, errp)) {
        g_free(ctx);
        return NULL;
    }
    ctx->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ctx->notify_fd < 0) {
        error_setg_errno(errp, errno, "Failed to create an event notifier");
        aio_epoll_cleanup(ctx);
        g_free(ctx);
        return NULL;
    }
    aio_epoll_add_internal(ctx, ctx->notify_fd, &ctx->notify_fd);

    g_mutex_init(&ctx->bh_lock);
    g_queue_init(&ctx->bh_pending);
    aio_co_schedule_init(ctx);
    aio_timers_init(ctx);
    luring_init(ctx);
    return ctx;
}

void aio_context_ref(AioContext *ctx)
{
    __atomic_fetch_add(&ctx->refcnt, 1, __ATOMIC_SEQ_CST);
}

void aio_context_unref(AioContext *ctx)
{
    GList *link;

    if (!ctx || __atomic_sub_fetch(&ctx->refcnt, 1, __ATOMIC_SEQ_CST) > 0) {
        return;
    }
    luring_cleanup(ctx);
    aio_timers_cleanup(ctx);
    qemu_bh_delete(ctx->co_schedule_bh);

    /* Oneshot BHs belong to the context; others to their creators. */
    while ((link = g_queue_pop_head_link(&ctx->bh_pending))) {
        QEMUBH *bh = link->data;

        bh->scheduled = false;
        if (bh->oneshot) {
            g_free(bh);
        }
    }
    g_mutex_clear(&ctx->bh_lock);

    aio_epoll_del_internal(ctx, ctx->notify_fd);
    close(ctx->notify_fd);
    aio_epoll_cleanup(ctx);
    g_free(ctx);
}
