/*
 * aio.h: the event loop (AioContext).
 *
 * One AioContext per thread that runs block I/O; the daemon uses the main
 * one (qemu_get_aio_context()).  It dispatches fd handlers, timers on the
 * monotonic clock, bottom halves, and completions of io_uring requests.
 *
 * aio_poll(ctx, true) blocks until at least one thing was dispatched;
 * aio_poll(ctx, false) only dispatches what is ready.  AIO_WAIT_WHILE-style
 * loops (AIO_POLL_WHILE below) may be nested but never from a coroutine.
 *
 * Thread safety: BH scheduling (qemu_bh_schedule, aio_bh_schedule_oneshot),
 * aio_notify, aio_co_schedule and aio_co_wake may be called from any
 * thread; fd handlers, timers and io_uring submission only from the thread
 * that runs the context.  Set BLOCKD_NO_IO_URING=1 to disable io_uring.
 * See docs/devel/runtime.rst.
 */
#ifndef QEMU_AIO_H
#define QEMU_AIO_H

#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/coroutine.h"

struct io_uring;
struct io_uring_sqe;
struct io_uring_cqe;

typedef void IOHandler(void *opaque);
typedef void QEMUBHFunc(void *opaque);
typedef void QEMUTimerCB(void *opaque);

typedef struct QEMUBH QEMUBH;
typedef struct QEMUTimer QEMUTimer;

/* ---- contexts ---- */
AioContext *aio_context_new(Error **errp);
void aio_context_ref(AioContext *ctx);
/* Frees ctx on the last reference; it must be idle (no pending I/O). */
void aio_context_unref(AioContext *ctx);
/* The main loop's context; created by qemu_init_main_loop(). */
AioContext *qemu_get_aio_context(void);
/* The context of the calling thread (the main one on the main thread). */
AioContext *qemu_get_current_aio_context(void);
void qemu_set_current_aio_context(AioContext *ctx);
bool qemu_init_main_loop(Error **errp);

/* Dispatch ready events; block for at least one when blocking is true. */
bool aio_poll(AioContext *ctx, bool blocking);
/* Wake a blocking aio_poll() of ctx from any thread. */
void aio_notify(AioContext *ctx);

/* Run aio_poll(ctx, true) while cond holds.  Not from a coroutine. */
#define AIO_POLL_WHILE(ctx, cond) \
    do { \
        while ((cond)) { \
            aio_poll((ctx), true); \
        } \
    } while (0)

/* ---- fd handlers (level-triggered) ---- */
/* io_read/io_write NULL removes interest; both NULL removes the fd. */
void aio_set_fd_handler(AioContext *ctx, int fd, IOHandler *io_read,
                        IOHandler *io_write, void *opaque);

/* ---- bottom halves ---- */
QEMUBH *aio_bh_new(AioContext *ctx, QEMUBHFunc *cb, void *opaque);
void qemu_bh_schedule(QEMUBH *bh);      /* thread-safe */
void qemu_bh_cancel(QEMUBH *bh);
void qemu_bh_delete(QEMUBH *bh);
/* A bottom half that runs once and frees itself; thread-safe. */
void aio_bh_schedule_oneshot(AioContext *ctx, QEMUBHFunc *cb, void *opaque);

/* ---- timers (monotonic clock, nanoseconds) ---- */
int64_t qemu_clock_get_ns(void);       /* CLOCK_MONOTONIC */
int64_t qemu_clock_get_ms(void);
int64_t qemu_realtime_ns(void);        /* CLOCK_REALTIME (for event timestamps) */

QEMUTimer *aio_timer_new(AioContext *ctx, QEMUTimerCB *cb, void *opaque);
/* Fire at absolute monotonic time expire_ns (replaces a previous setting). */
void timer_mod(QEMUTimer *t, int64_t expire_ns);
void timer_del(QEMUTimer *t);
bool timer_pending(QEMUTimer *t);
int64_t timer_expire_time_ns(QEMUTimer *t);   /* -1 when not pending */
void timer_free(QEMUTimer *t);

/* ---- io_uring ---- */
/*
 * Each AioContext owns one ring.  aio_uring_get_sqe() returns a free SQE
 * (submitting pending ones if the queue is full); the caller fills it and
 * calls aio_uring_submit_sqe(), which sets its user data.  cb runs from
 * aio_poll() with the completion's res (>= 0 or -errno).  Submissions are
 * batched: the ring is flushed once per loop iteration or when full.
 */
typedef void AioUringCompletionFunc(void *opaque, int res);
typedef struct AioUringRequest {
    AioUringCompletionFunc *cb;
    void *opaque;
} AioUringRequest;

bool aio_uring_available(AioContext *ctx);
struct io_uring_sqe *aio_uring_get_sqe(AioContext *ctx);
void aio_uring_submit_sqe(AioContext *ctx, struct io_uring_sqe *sqe,
                          AioUringRequest *req);
/* Push queued SQEs to the kernel now. */
void aio_uring_flush(AioContext *ctx);

/*
 * Coroutine helper: fill an SQE with prep(sqe, opaque), submit, yield
 * until complete, return res.
 */
int coroutine_fn aio_uring_co_submit(AioContext *ctx,
                                     void (*prep)(struct io_uring_sqe *sqe, void *opaque),
                                     void *opaque);

#endif /* QEMU_AIO_H */
