/*
 * aio-internal.h: private layout of AioContext, bottom halves and timers,
 * shared by util/async.c, util/aio-posix.c, util/qemu-timer.c,
 * util/io_uring.c and util/qemu-coroutine-sleep.c.
 */
#ifndef UTIL_AIO_INTERNAL_H
#define UTIL_AIO_INTERNAL_H

#include "qemu/aio.h"
#include <liburing.h>

typedef struct AioHandler AioHandler;

struct QEMUBH {
    AioContext *ctx;
    QEMUBHFunc *cb;
    void *opaque;
    GList link;           /* in ctx->bh_pending while scheduled */
    uint64_t seq;         /* scheduling order, to run each BH once per round */
    bool scheduled;       /* protected by ctx->bh_lock */
    bool oneshot;         /* free after running */
};

struct QEMUTimer {
    AioContext *ctx;
    QEMUTimerCB *cb;
    void *opaque;
    int64_t expire_ns;    /* -1 when not pending */
    uint64_t seq;         /* arming order: ties and once-per-round firing */
    GSequenceIter *iter;  /* position in ctx->timers while pending */
};

typedef struct LuringState {
    struct io_uring ring;
    bool ok;              /* ring initialised */
    int efd;              /* eventfd signalled on completions */
    unsigned pending;     /* SQEs prepared but not yet submitted */
} LuringState;

struct AioContext {
    int refcnt;
    int epollfd;

    /* fd handlers; deleted ones are freed when no one is walking the list */
    GHashTable *handlers;         /* fd -> AioHandler */
    GSList *deleted_handlers;
    unsigned walking_handlers;

    /* wake-ups from other threads */
    int notify_fd;                /* eventfd */
    int notify_me;                /* atomic: > 0 while blocking in epoll */
    int notified;                 /* atomic: notify_fd was written */

    /* bottom halves */
    GMutex bh_lock;
    GQueue bh_pending;            /* of QEMUBH (by link) */
    uint64_t bh_seq;

    /* coroutines queued by aio_co_schedule() (FIFO, protected by bh_lock) */
    Coroutine *co_sched_head;
    Coroutine **co_sched_tail;
    QEMUBH *co_schedule_bh;

    /* timers ordered by (expire_ns, seq) */
    GSequence *timers;
    uint64_t timer_seq;

    LuringState uring;

    unsigned poll_depth;          /* nesting of aio_poll() */
};

/* aio-posix.c */
bool aio_epoll_init(AioContext *ctx, Error **errp);
void aio_epoll_cleanup(AioContext *ctx);
/* Watch an internal fd for reading; `tag` identifies it in aio_poll(). */
void aio_epoll_add_internal(AioContext *ctx, int fd, void *tag);
void aio_epoll_del_internal(AioContext *ctx, int fd);

/* async.c */
void aio_notifier_read(AioContext *ctx);
bool aio_bh_pending(AioContext *ctx);
bool aio_bh_poll(AioContext *ctx);
void aio_co_schedule_init(AioContext *ctx);

/* qemu-timer.c */
void aio_timer_init(AioContext *ctx, QEMUTimer *t, QEMUTimerCB *cb, void *opaque);
void aio_timers_init(AioContext *ctx);
void aio_timers_cleanup(AioContext *ctx);
/* ns until the first timer fires, 0 if one is due, -1 if none */
int64_t aio_timers_deadline_ns(AioContext *ctx);
bool aio_timers_run(AioContext *ctx);

/* io_uring.c */
void luring_init(AioContext *ctx);
void luring_cleanup(AioContext *ctx);
/* Submit queued SQEs (called once per loop iteration). */
void luring_flush(AioContext *ctx);
bool luring_process_completions(AioContext *ctx);
/* Called by aio_poll() when the completion eventfd is readable. */
void luring_drain_eventfd(AioContext *ctx);
bool luring_completions_ready(AioContext *ctx);

#endif /* UTIL_AIO_INTERNAL_H */
