/*
 * io_uring.c: the io_uring engine of the `file` driver (aio=io_uring, the
 * default in blockd).
 *
 * Requests go to the ring of the calling coroutine's AioContext
 * (util/io_uring.c owns the ring, batches submissions once per loop
 * iteration and wakes us on completion).  One call is one SQE: the
 * caller (file-posix.c) resubmits the remainder of short reads and writes.
 */
#include "qemu/osdep.h"
#include "block/file-posix-int.h"
#include "trace/trace-block.h"

#include <liburing.h>

typedef struct LuringPrep {
    int fd;
    uint64_t offset;
    QEMUIOVector *qiov;
    FileAioType type;
    int rw_flags;
} LuringPrep;

static void luring_prep_sqe(struct io_uring_sqe *sqe, void *opaque)
{
    LuringPrep *p = opaque;
    QEMUIOVector *qiov = p->qiov;

    switch (p->type) {
    case FILE_AIO_READ:
        if (qiov->niov == 1) {
            io_uring_prep_read(sqe, p->fd, qiov->iov[0].iov_base,
                               qiov->iov[0].iov_len, p->offset);
        } else {
            io_uring_prep_readv(sqe, p->fd, qiov->iov, qiov->niov, p->offset);
        }
        sqe->rw_flags = p->rw_flags;
        break;
    case FILE_AIO_WRITE:
        if (qiov->niov == 1) {
            io_uring_prep_write(sqe, p->fd, qiov->iov[0].iov_base,
                                qiov->iov[0].iov_len, p->offset);
        } else {
            io_uring_prep_writev(sqe, p->fd, qiov->iov, qiov->niov,
                                 p->offset);
        }
        sqe->rw_flags = p->rw_flags;
        break;
    case FILE_AIO_FLUSH:
        io_uring_prep_fsync(sqe, p->fd, IORING_FSYNC_DATASYNC);
        break;
    default:
        g_assert_not_reached();
    }
}

int coroutine_fn luring_co_submit(AioContext *ctx, int fd, uint64_t offset,
                                  QEMUIOVector *qiov, FileAioType type,
                                  int rw_flags)
{
    LuringPrep p = {
        .fd = fd,
        .offset = offset,
        .qiov = qiov,
        .type = type,
        .rw_flags = rw_flags,
    };
    int ret;

    trace_luring_co_submit(ctx, &p, fd, offset, qiov ? qiov->size : 0, type);
    ret = aio_uring_co_submit(ctx, luring_prep_sqe, &p);
    trace_luring_co_complete(ctx, &p, ret);
    return ret;
}
