/*
 * linux-aio.c: the libaio engine of the `file` driver (aio=native).
 *
 * One kernel AIO context per AioContext, set up lazily by the first node
 * that asks for it and torn down when the last reference goes.  Requests
 * queue up while the current loop iteration runs and go to the kernel in
 * one io_submit() from a bottom half (or as soon as a batch is full);
 * completions are signalled on an eventfd watched by the AioContext and
 * wake the submitting coroutines.  When the kernel queue is full
 * (EAGAIN), the rest stays queued until some requests complete.
 */
#include "qemu/osdep.h"
#include "block/file-posix-int.h"
#include "trace/trace-block.h"

#include <libaio.h>
#include <sys/eventfd.h>

#define LAIO_MAX_EVENTS         1024    /* kernel queue depth */
#define LAIO_DEFAULT_MAX_BATCH  32      /* requests per io_submit() */

struct LinuxAioState {
    AioContext *ctx;
    io_context_t io_ctx;
    int efd;
    int refcnt;
    unsigned in_flight;         /* submitted, not completed */
    GQueue pending;             /* LaioCB queued for io_submit() */
    uint64_t batch;             /* size of the next io_submit() */
    QEMUBH *submit_bh;
};

typedef struct LaioCB {
    struct iocb iocb;
    LinuxAioState *s;
    Coroutine *co;
    int64_t ret;
    bool done;
    GList link;
} LaioCB;

/* AioContext * -> LinuxAioState *; contexts live in different threads */
static GHashTable *laio_states;
G_LOCK_DEFINE_STATIC(laio_states);

static void laio_complete(LaioCB *cb, int64_t ret)
{
    trace_laio_process_completion(cb->s, cb, ret);
    cb->ret = ret;
    cb->done = true;
    /* A failed io_submit() from the submitter itself: it sees done. */
    if (cb->co != qemu_coroutine_self()) {
        aio_co_wake(cb->co);
    }
}

/* Push queued requests to the kernel, a batch at a time. */
static void laio_do_submit(LinuxAioState *s)
{
    struct iocb *iocbs[LAIO_MAX_EVENTS];

    while (!g_queue_is_empty(&s->pending) && s->in_flight < LAIO_MAX_EVENTS) {
        unsigned max = MIN(s->batch, LAIO_MAX_EVENTS - s->in_flight);
        unsigned n = 0;
        int ret;

        for (GList *l = s->pending.head; l && n < max; l = l->next) {
            iocbs[n++] = &((LaioCB *)l->data)->iocb;
        }
        ret = io_submit(s->io_ctx, n, iocbs);
        trace_laio_io_submit(s, n, ret);
        if (ret == -EAGAIN) {
            /* Kernel queue full: retry when something completes. */
            if (s->in_flight == 0) {
                qemu_bh_schedule(s->submit_bh);
            }
            break;
        }
        if (ret < 0) {
            /* The first request is bad: fail it, go on with the others. */
            GList *link = g_queue_pop_head_link(&s->pending);

            laio_complete(link->data, ret);
            continue;
        }
        for (int i = 0; i < ret; i++) {
            g_queue_pop_head_link(&s->pending);
        }
        s->in_flight += ret;
    }
    if (g_queue_is_empty(&s->pending)) {
        s->batch = LAIO_DEFAULT_MAX_BATCH;
    }
}

static void laio_submit_bh(void *opaque)
{
    laio_do_submit(opaque);
}

static void laio_process_completions(LinuxAioState *s)
{
    struct io_event events[64];
    struct timespec zero = { 0, 0 };
    int n;

    do {
        n = io_getevents(s->io_ctx, 0, ARRAY_SIZE(events), events, &zero);
        for (int i = 0; i < n; i++) {
            LaioCB *cb = container_of(events[i].obj, LaioCB, iocb);

            s->in_flight--;
            /* res is the byte count or a negated errno, as a long */
            laio_complete(cb, (int64_t)(long)events[i].res);
        }
    } while (n == (int)ARRAY_SIZE(events));
}

static void laio_completion_cb(void *opaque)
{
    LinuxAioState *s = opaque;
    uint64_t val;
    ssize_t r = RETRY_ON_EINTR(read(s->efd, &val, sizeof(val)));

    (void)r;
    /* A woken coroutine may drop the last reference: keep s alive. */
    s->refcnt++;
    laio_process_completions(s);
    if (!g_queue_is_empty(&s->pending)) {
        laio_do_submit(s);
    }
    laio_put(s);
}

LinuxAioState *laio_get(AioContext *ctx, Error **errp)
{
    LinuxAioState *s;
    int ret;

    G_LOCK(laio_states);
    if (!laio_states) {
        laio_states = g_hash_table_new(NULL, NULL);
    }
    s = g_hash_table_lookup(laio_states, ctx);
    if (s) {
        s->refcnt++;
        G_UNLOCK(laio_states);
        return s;
    }

    s = g_new0(LinuxAioState, 1);
    s->ctx = ctx;
    s->refcnt = 1;
    s->batch = LAIO_DEFAULT_MAX_BATCH;
    g_queue_init(&s->pending);
    ret = io_setup(LAIO_MAX_EVENTS, &s->io_ctx);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to create linux AIO context");
        goto fail;
    }
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->efd < 0) {
        error_setg_errno(errp, errno, "Failed to create eventfd for linux AIO");
        io_destroy(s->io_ctx);
        goto fail;
    }
    s->submit_bh = aio_bh_new(ctx, laio_submit_bh, s);
    aio_set_fd_handler(ctx, s->efd, laio_completion_cb, NULL, s);
    g_hash_table_insert(laio_states, ctx, s);
    G_UNLOCK(laio_states);
    trace_laio_init(s, ctx);
    return s;

fail:
    G_UNLOCK(laio_states);
    g_free(s);
    return NULL;
}

void laio_put(LinuxAioState *s)
{
    G_LOCK(laio_states);
    if (--s->refcnt > 0) {
        G_UNLOCK(laio_states);
        return;
    }
    g_hash_table_remove(laio_states, s->ctx);
    G_UNLOCK(laio_states);

    assert(s->in_flight == 0 && g_queue_is_empty(&s->pending));
    trace_laio_cleanup(s);
    aio_set_fd_handler(s->ctx, s->efd, NULL, NULL, NULL);
    qemu_bh_delete(s->submit_bh);
    close(s->efd);
    io_destroy(s->io_ctx);
    g_free(s);
}

int coroutine_fn laio_co_submit(LinuxAioState *s, int fd, uint64_t offset,
                                QEMUIOVector *qiov, FileAioType type,
                                int rw_flags, uint64_t dev_max_batch)
{
    LaioCB cb = {
        .s = s,
        .co = qemu_coroutine_self(),
    };
    uint64_t batch = dev_max_batch ? MIN(dev_max_batch, LAIO_MAX_EVENTS)
                                   : LAIO_DEFAULT_MAX_BATCH;

    switch (type) {
    case FILE_AIO_READ:
        io_prep_preadv2(&cb.iocb, fd, qiov->iov, qiov->niov, offset, rw_flags);
        break;
    case FILE_AIO_WRITE:
        io_prep_pwritev2(&cb.iocb, fd, qiov->iov, qiov->niov, offset,
                         rw_flags);
        break;
    case FILE_AIO_FLUSH:
        io_prep_fdsync(&cb.iocb, fd);
        break;
    default:
        g_assert_not_reached();
    }
    io_set_eventfd(&cb.iocb, s->efd);
    cb.link.data = &cb;

    trace_laio_co_submit(s, cb.co, fd, offset, qiov ? qiov->size : 0, type);
    g_queue_push_tail_link(&s->pending, &cb.link);
    s->batch = MIN(s->batch, batch);
    if (s->pending.length >= s->batch) {
        laio_do_submit(s);
    } else {
        qemu_bh_schedule(s->submit_bh);
    }
    while (!cb.done) {
        qemu_coroutine_yield();
    }
    return cb.ret;
}
