/*
 * aio-posix.c: fd handlers on epoll and the aio_poll() dispatch loop.
 *
 * One iteration: flush queued io_uring SQEs, wait in epoll_wait() (no wait
 * if a BH is pending, a completion is ready or the poll is non-blocking;
 * otherwise up to the next timer), then dispatch fd handlers, io_uring
 * completions, bottom halves and expired timers.  Handlers are
 * level-triggered.  aio_poll() may be nested from callbacks (never from a
 * coroutine): a handler removed while the list is being walked is only
 * freed once the outermost walk is over.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "aio-internal.h"
#include "util-trace.h"

#include <sys/epoll.h>

#define AIO_MAX_EVENTS 128

struct AioHandler {
    int fd;
    IOHandler *io_read;
    IOHandler *io_write;
    void *opaque;
    uint32_t events;
    bool deleted;
};

bool aio_epoll_init(AioContext *ctx, Error **errp)
{
    ctx->epollfd = epoll_create1(EPOLL_CLOEXEC);
    if (ctx->epollfd < 0) {
        error_setg_errno(errp, errno, "Failed to create epoll instance");
        return false;
    }
    ctx->handlers = g_hash_table_new(g_int_hash, g_int_equal);
    return true;
}

void aio_epoll_cleanup(AioContext *ctx)
{
    GHashTableIter iter;
    gpointer value;

    if (ctx->handlers) {
        g_hash_table_iter_init(&iter, ctx->handlers);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
            g_free(value);
        }
        g_hash_table_destroy(ctx->handlers);
        ctx->handlers = NULL;
    }
    g_slist_free_full(ctx->deleted_handlers, g_free);
    ctx->deleted_handlers = NULL;
    close(ctx->epollfd);
    ctx->epollfd = -1;
}

static void aio_epoll_ctl(AioContext *ctx, int op, int fd, uint32_t events,
                          void *ptr)
{
    struct epoll_event ev = { .events = events, .data.ptr = ptr };

    if (epoll_ctl(ctx->epollfd, op, fd, &ev) < 0) {
        /* Only programming errors get here (bad fd, not pollable, ...). */
        error_report("epoll_ctl(op %d, fd %d) failed: %s", op, fd,
                     strerror(errno));
        abort();
    }
}

void aio_epoll_add_internal(AioContext *ctx, int fd, void *tag)
{
    aio_epoll_ctl(ctx, EPOLL_CTL_ADD, fd, EPOLLIN, tag);
}

void aio_epoll_del_internal(AioContext *ctx, int fd)
{
    aio_epoll_ctl(ctx, EPOLL_CTL_DEL, fd, 0, NULL);
}

static void aio_free_deleted_handlers(AioContext *ctx)
{
    if (ctx->walking_handlers == 0 && ctx->deleted_handlers) {
        g_slist_free_full(ctx->deleted_handlers, g_free);
        ctx->deleted_handlers = NULL;
    }
}

void aio_set_fd_handler(AioContext *ctx, int fd, IOHandler *io_read,
                        IOHandler *io_write, void *opaque)
{
    AioHandler *h = g_hash_table_lookup(ctx->handlers, &fd);
    uint32_t events = (io_read ? EPOLLIN : 0) | (io_write ? EPOLLOUT : 0);

    if (!events) {
        if (!h) {
            return;
        }
        aio_epoll_ctl(ctx, EPOLL_CTL_DEL, fd, 0, NULL);
        g_hash_table_remove(ctx->handlers, &fd);
        /* Events of this round may still point at h: free it later. */
        h->deleted = true;
        ctx->deleted_handlers = g_slist_prepend(ctx->deleted_handlers, h);
        aio_free_deleted_handlers(ctx);
        return;
    }

    if (!h) {
        h = g_new0(AioHandler, 1);
        h->fd = fd;
        g_hash_table_insert(ctx->handlers, &h->fd, h);
        aio_epoll_ctl(ctx, EPOLL_CTL_ADD, fd, events, h);
    } else if (h->events != events) {
        aio_epoll_ctl(ctx, EPOLL_CTL_MOD, fd, events, h);
    }
    h->events = events;
    h->io_read = io_read;
    h->io_write = io_write;
    h->opaque = opaque;
}

/* Milliseconds for epoll_wait(), rounded up so that timers are due on wake-up. */
static int aio_compute_timeout_ms(AioContext *ctx, bool blocking)
{
    int64_t ns;

    if (!blocking || aio_bh_pending(ctx) || luring_completions_ready(ctx)) {
        return 0;
    }
    ns = aio_timers_deadline_ns(ctx);
    if (ns < 0) {
        return -1;
    }
    return (int)MIN(DIV_ROUND_UP(ns, SCALE_MS), INT_MAX);
}

static bool aio_dispatch_handler(AioContext *ctx, AioHandler *h, uint32_t revents)
{
    bool progress = false;

    if (!h->deleted && h->io_read &&
        (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        h->io_read(h->opaque);
        progress = true;
    }
    /* The read handler may have removed or changed the handler. */
    if (!h->deleted && h->io_write &&
        (revents & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
        h->io_write(h->opaque);
        progress = true;
    }
    return progress;
}

static bool aio_dispatch_events(AioContext *ctx, struct epoll_event *events,
                                int n)
{
    bool progress = false;
    int i;

    ctx->walking_handlers++;
    for (i = 0; i < n; i++) {
        void *tag = events[i].data.ptr;

        if (tag == &ctx->notify_fd) {
            aio_notifier_read(ctx);
        } else if (tag == &ctx->uring.efd) {
            luring_drain_eventfd(ctx);
        } else {
            progress |= aio_dispatch_handler(ctx, tag, events[i].events);
        }
    }
    ctx->walking_handlers--;
    aio_free_deleted_handlers(ctx);
    return progress;
}

bool aio_poll(AioContext *ctx, bool blocking)
{
    struct epoll_event events[AIO_MAX_EVENTS];
    bool progress = false;
    int timeout;
    int n;

    /* A coroutine must yield instead; polling would run it recursively. */
    assert(!qemu_in_coroutine());
    trace_aio_poll_begin(ctx, blocking);
    ctx->poll_depth++;

    luring_flush(ctx);

    if (blocking) {
        __atomic_fetch_add(&ctx->notify_me, 1, __ATOMIC_SEQ_CST);
        /* Pairs with aio_notify(): see the BH or get the eventfd write. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
    timeout = aio_compute_timeout_ms(ctx, blocking);
    n = epoll_wait(ctx->epollfd, events, AIO_MAX_EVENTS, timeout);
    if (blocking) {
        __atomic_fetch_sub(&ctx->notify_me, 1, __ATOMIC_SEQ_CST);
    }
    if (n < 0 && errno != EINTR) {
        error_report("epoll_wait failed: %s", strerror(errno));
        abort();
    }

    if (n > 0) {
        progress |= aio_dispatch_events(ctx, events, n);
    }
    progress |= luring_process_completions(ctx);
    progress |= aio_bh_poll(ctx);
    progress |= aio_timers_run(ctx);

    /* Send what the callbacks queued without waiting for the next round. */
    luring_flush(ctx);

    ctx->poll_depth--;
    trace_aio_poll_end(ctx, progress);
    return progress;
}
