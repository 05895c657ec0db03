/*
 * io_uring.c: the per-AioContext io_uring ring.
 *
 * Requests are queued as SQEs and pushed to the kernel in one
 * io_uring_submit() per loop iteration (or earlier when the queue is full).
 * The ring signals completions on an eventfd watched by the context's
 * epoll; aio_poll() reaps every ready CQE and calls the AioUringRequest
 * stored in its user data.  If the ring cannot be created (old kernel,
 * seccomp, BLOCKD_NO_IO_URING=1 in the environment) aio_uring_available()
 * is false and callers use another path.
 */
#include "qemu/osdep.h"
#include "aio-internal.h"
#include "coroutine-int.h"
#include "util-trace.h"

#include <sys/eventfd.h>

#define LURING_QUEUE_DEPTH 256
#define LURING_CQ_DEPTH (4 * LURING_QUEUE_DEPTH)

void luring_init(AioContext *ctx)
{
    LuringState *s = &ctx->uring;
    struct io_uring_params params = {
        .flags = IORING_SETUP_CQSIZE,
        .cq_entries = LURING_CQ_DEPTH,
    };
    const char *off = getenv("BLOCKD_NO_IO_URING");
    int ret;

    s->ok = false;
    s->efd = -1;
    s->pending = 0;
    if (off && *off && strcmp(off, "0") != 0) {
        return;
    }

    ret = io_uring_queue_init_params(LURING_QUEUE_DEPTH, &s->ring, &params);
    if (ret == -EINVAL) {
        /* Kernels before 5.5 do not know IORING_SETUP_CQSIZE. */
        ret = io_uring_queue_init(LURING_QUEUE_DEPTH, &s->ring, 0);
    }
    if (ret < 0) {
        return;
    }
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->efd < 0) {
        io_uring_queue_exit(&s->ring);
        return;
    }
    ret = io_uring_register_eventfd(&s->ring, s->efd);
    if (ret < 0) {
        close(s->efd);
        s->efd = -1;
        io_uring_queue_exit(&s->ring);
        return;
    }
    aio_epoll_add_internal(ctx, s->efd, &s->efd);
    s->ok = true;
    trace_luring_init_state(s, sizeof(*s));
}

void luring_cleanup(AioContext *ctx)
{
    LuringState *s = &ctx->uring;

    if (!s->ok) {
        return;
    }
    aio_epoll_del_internal(ctx, s->efd);
    io_uring_unregister_eventfd(&s->ring);
    close(s->efd);
    s->efd = -1;
    io_uring_queue_exit(&s->ring);
    s->ok = false;
    trace_luring_cleanup_state(s);
}

bool aio_uring_available(AioContext *ctx)
{
    return ctx && ctx->uring.ok;
}

void luring_flush(AioContext *ctx)
{
    LuringState *s = &ctx->uring;
    int ret;

    if (!s->ok || s->pending == 0) {
        return;
    }
    do {
        ret = io_uring_submit(&s->ring);
    } while (ret == -EINTR);
    trace_luring_io_uring_submit(s, ret);
    if (ret > 0) {
        s->pending -= MIN((unsigned)ret, s->pending);
    }
    /* -EAGAIN/-EBUSY: the SQEs stay queued and go out on the next round. */
}

void aio_uring_flush(AioContext *ctx)
{
    luring_flush(ctx);
}

struct io_uring_sqe *aio_uring_get_sqe(AioContext *ctx)
{
    LuringState *s = &ctx->uring;
    struct io_uring_sqe *sqe;

    if (!s->ok) {
        return NULL;
    }
    sqe = io_uring_get_sqe(&s->ring);
    if (!sqe) {
        /* Submission queue full: make room by submitting now. */
        luring_flush(ctx);
        sqe = io_uring_get_sqe(&s->ring);
    }
    return sqe;
}

void aio_uring_submit_sqe(AioContext *ctx, struct io_uring_sqe *sqe,
                          AioUringRequest *req)
{
    LuringState *s = &ctx->uring;

    io_uring_sqe_set_data(sqe, req);
    s->pending++;
    trace_luring_submit_sqe(s, req, s->pending);
}

void luring_drain_eventfd(AioContext *ctx)
{
    uint64_t val;
    ssize_t r = RETRY_ON_EINTR(read(ctx->uring.efd, &val, sizeof(val)));

    (void)r;
}

/*
 * Completions that did not fit in the completion ring wait in the kernel,
 * which sets IORING_SQ_CQ_OVERFLOW; they signal no new event, so the loop
 * must not block while this flag is up.
 */
static bool luring_cq_overflowed(LuringState *s)
{
    return __atomic_load_n(s->ring.sq.kflags, __ATOMIC_ACQUIRE) &
           IORING_SQ_CQ_OVERFLOW;
}

bool luring_completions_ready(AioContext *ctx)
{
    LuringState *s = &ctx->uring;

    return s->ok &&
           (io_uring_cq_ready(&s->ring) > 0 || luring_cq_overflowed(s));
}

/*
 * Each CQE is marked seen before its callback runs, so a callback may
 * submit new requests or call aio_poll() (which reaps the rest).  Once the
 * ring is empty, io_uring_peek_cqe() moves completions the kernel kept
 * aside on overflow into the ring (one system call, only when the kernel
 * flagged an overflow).
 */
bool luring_process_completions(AioContext *ctx)
{
    LuringState *s = &ctx->uring;
    struct io_uring_cqe *cqe;
    bool progress = false;

    if (!s->ok) {
        return false;
    }
    while ((io_uring_cq_ready(&s->ring) > 0 || luring_cq_overflowed(s)) &&
           io_uring_peek_cqe(&s->ring, &cqe) == 0 && cqe) {
        AioUringRequest *req = io_uring_cqe_get_data(cqe);
        int res = cqe->res;

        io_uring_cqe_seen(&s->ring, cqe);
        trace_luring_process_completion(s, req, res);
        req->cb(req->opaque, res);
        progress = true;
    }
    return progress;
}

/* ---- coroutine helper ---- */

typedef struct LuringCoRequest {
    AioUringRequest req;
    Coroutine *co;
    int ret;
    bool done;
} LuringCoRequest;

static void luring_co_complete(void *opaque, int res)
{
    LuringCoRequest *r = opaque;

    r->ret = res;
    r->done = true;
    aio_co_wake(r->co);
}

int coroutine_fn aio_uring_co_submit(AioContext *ctx,
                                     void (*prep)(struct io_uring_sqe *sqe, void *opaque),
                                     void *opaque)
{
    LuringCoRequest r = {
        .req = { .cb = luring_co_complete, .opaque = &r },
        .co = qemu_coroutine_self(),
    };
    struct io_uring_sqe *sqe;

    assert(r.co);
    if (!aio_uring_available(ctx)) {
        return -ENOSYS;
    }
    /* The ring is full of requests still in the kernel: let some finish. */
    while (!(sqe = aio_uring_get_sqe(ctx))) {
        qemu_co_yield_to_loop();
    }
    prep(sqe, opaque);
    aio_uring_submit_sqe(ctx, sqe, &r.req);
    while (!r.done) {
        qemu_coroutine_yield();
    }
    return r.ret;
}
