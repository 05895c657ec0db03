/*
 * aio-posix.c: fd handlers on epoll and the aio_poll() dispatch loop.
 *
 * One iteration: flush queued io_uring SQEs, wait in epoll (no wait if a BH
 * is pending, a completion is ready or the poll is non-blocking; otherwise
 * up to the next timer, to the nanosecond with epoll_pwait2() where the
 * kernel has it), then dispatch fd handlers, io_uring completions, bottom
 * halves and expired timers.  Handlers are level-triggered.  aio_poll() may be nested from callbacks (never from a
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

#if CONFIG_EPOLL_PWAIT2
/*
 * Set once epoll_pwait2() turned out not to exist (kernel < 5.11,
 * seccomp), or from the start with BLOCKD_NO_EPOLL_PWAIT2=1 in the
 * environment (to test and measure the millisecond fallback).
 */
static bool aio_no_epoll_pwait2;
#endif

bool aio_epoll_init(AioContext *ctx, Error **errp)
{
#if CONFIG_EPOLL_PWAIT2
    const char *off = getenv("BLOCKD_NO_EPOLL_PWAIT2");

    if (off && *off && strcmp(off, "0") != 0) {
        __atomic_store_n(&aio_no_epoll_pwait2, true, __ATOMIC_RELAXED);
    }
#endif
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

/*
 * How long aio_poll() may sleep, in nanoseconds: 0 if something is ready
 * or the poll is non-blocking, -1 (forever) without timers, else until the
 * first timer is due.
 */
static int64_t aio_compute_timeout_ns(AioContext *ctx, bool blocking)
{
    if (!blocking || aio_bh_pending(ctx) || luring_completions_ready(ctx)) {
        return 0;
    }
    return aio_timers_deadline_ns(ctx);
}

/*
 * Wait for events for up to timeout_ns (-1: forever).  Timers need the
 * nanosecond timeout of epoll_pwait2(): with epoll_wait()'s milliseconds a
 * 1 us sleep would take 1 ms.  The fallback rounds up, so that a timer is
 * due when the wait ends and the loop never spins on a timeout of 0.
 */
static int aio_epoll_wait(AioContext *ctx, struct epoll_event *events,
                          int64_t timeout_ns)
{
    int timeout_ms;

#if CONFIG_EPOLL_PWAIT2
    if (timeout_ns > 0 &&
        !__atomic_load_n(&aio_no_epoll_pwait2, __ATOMIC_RELAXED)) {
        struct timespec ts = {
            .tv_sec = timeout_ns / NANOSECONDS_PER_SECOND,
            .tv_nsec = timeout_ns % NANOSECONDS_PER_SECOND,
        };
        int n = epoll_pwait2(ctx->epollfd, events, AIO_MAX_EVENTS, &ts, NULL);

        if (n >= 0 || (errno != ENOSYS && errno != EPERM)) {
            return n;
        }
        __atomic_store_n(&aio_no_epoll_pwait2, true, __ATOMIC_RELAXED);
    }
#endif
    if (timeout_ns < 0) {
        timeout_ms = -1;
    } else {
        timeout_ms = (int)MIN(DIV_ROUND_UP(timeout_ns, SCALE_MS), INT_MAX);
    }
    return epoll_wait(ctx->epollfd, events, AIO_MAX_EVENTS, timeout_ms);
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
    int64_t timeout_ns;
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
    timeout_ns = aio_compute_timeout_ns(ctx, blocking);
    n = aio_epoll_wait(ctx, events, timeout_ns);
    if (blocking) {
        __atomic_fetch_sub(&ctx->notify_me, 1, __ATOMIC_SEQ_CST);
    }
    if (n < 0 && errno != EINTR) {
        error_report("epoll wait failed: %s", strerror(errno));
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
