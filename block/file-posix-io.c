/*
 * file-posix-io.c: the blocking system calls of the `file` driver, run on
 * the thread pool: preadv2/pwritev2 (aio=threads), fdatasync, fallocate,
 * block device ioctls, ftruncate and copy_file_range.
 *
 * Each helper packs its arguments, runs one worker function through
 * thread_pool_submit_co() and returns its result (>= 0 or -errno).
 */
#include "qemu/osdep.h"
#include "qemu/thread-pool.h"
#include "block/file-posix-int.h"
#include "trace/trace-block.h"

#include <sys/ioctl.h>
#include <linux/fs.h>

const char *file_aio_engine_name(FileAioEngine engine)
{
    switch (engine) {
    case FILE_AIO_ENGINE_THREADS:
        return "threads";
    case FILE_AIO_ENGINE_NATIVE:
        return "native";
    case FILE_AIO_ENGINE_IO_URING:
        return "io_uring";
    }
    return "?";
}

typedef struct FilePoolRw {
    int fd;
    uint64_t offset;
    QEMUIOVector *qiov;
    FileAioType type;
    int rw_flags;
} FilePoolRw;

/* One preadv2/pwritev2; the caller resubmits short transfers. */
static int file_pool_rw_fn(void *opaque)
{
    FilePoolRw *r = opaque;
    ssize_t len;

    if (r->type == FILE_AIO_READ) {
        len = RETRY_ON_EINTR(preadv2(r->fd, r->qiov->iov, r->qiov->niov,
                                     r->offset, r->rw_flags));
    } else {
        len = RETRY_ON_EINTR(pwritev2(r->fd, r->qiov->iov, r->qiov->niov,
                                      r->offset, r->rw_flags));
    }
    if (len < 0) {
        return -errno;
    }
    return len > INT_MAX ? INT_MAX : (int)len;
}

int coroutine_fn file_pool_co_rw(int fd, uint64_t offset, QEMUIOVector *qiov,
                                 FileAioType type, int rw_flags,
                                 const void *serial_key)
{
    FilePoolRw r = {
        .fd = fd,
        .offset = offset,
        .qiov = qiov,
        .type = type,
        .rw_flags = rw_flags,
    };

    trace_file_paio_submit(&r, qemu_coroutine_self(), offset,
                           (int)MIN(qiov->size, INT_MAX), type);
    return thread_pool_submit_co_serial(serial_key, file_pool_rw_fn, &r);
}

static int file_pool_fdatasync_fn(void *opaque)
{
    int fd = *(int *)opaque;

    if (RETRY_ON_EINTR(fdatasync(fd)) < 0) {
        return -errno;
    }
    return 0;
}

int coroutine_fn file_pool_co_fdatasync(int fd)
{
    return thread_pool_submit_co(file_pool_fdatasync_fn, &fd);
}

typedef struct FilePoolRange {
    int fd;
    int mode;
    unsigned long req;
    int64_t offset;
    int64_t len;
} FilePoolRange;

static int file_pool_fallocate_fn(void *opaque)
{
    FilePoolRange *r = opaque;

    if (RETRY_ON_EINTR(fallocate(r->fd, r->mode, r->offset, r->len)) < 0) {
        int err = errno;

        /* Some file systems say EOPNOTSUPP, some EINVAL for "not here". */
        return err == EOPNOTSUPP ? -ENOTSUP : -err;
    }
    return 0;
}

int coroutine_fn file_pool_co_fallocate(int fd, int mode, int64_t offset,
                                        int64_t len)
{
    FilePoolRange r = { .fd = fd, .mode = mode, .offset = offset, .len = len };

    return thread_pool_submit_co(file_pool_fallocate_fn, &r);
}

static int file_pool_blk_range_fn(void *opaque)
{
    FilePoolRange *r = opaque;
    uint64_t range[2] = { r->offset, r->len };

    if (RETRY_ON_EINTR(ioctl(r->fd, r->req, range)) < 0) {
        int err = errno;

        return (err == EOPNOTSUPP || err == ENOTTY) ? -ENOTSUP : -err;
    }
    return 0;
}

int coroutine_fn file_pool_co_blk_range(int fd, unsigned long req,
                                        uint64_t offset, uint64_t len)
{
    FilePoolRange r = { .fd = fd, .req = req, .offset = offset, .len = len };

    return thread_pool_submit_co(file_pool_blk_range_fn, &r);
}

static int file_pool_ftruncate_fn(void *opaque)
{
    FilePoolRange *r = opaque;

    if (RETRY_ON_EINTR(ftruncate(r->fd, r->len)) < 0) {
        return -errno;
    }
    return 0;
}

int coroutine_fn file_pool_co_ftruncate(int fd, int64_t length)
{
    FilePoolRange r = { .fd = fd, .len = length };

    return thread_pool_submit_co(file_pool_ftruncate_fn, &r);
}

typedef struct FilePoolCopy {
    int src_fd;
    int64_t src_offset;
    int dst_fd;
    int64_t dst_offset;
    int64_t bytes;
} FilePoolCopy;

static int file_pool_copy_range_fn(void *opaque)
{
    FilePoolCopy *c = opaque;
    loff_t in_off = c->src_offset;
    loff_t out_off = c->dst_offset;
    int64_t left = c->bytes;

    while (left > 0) {
        ssize_t n = copy_file_range(c->src_fd, &in_off, c->dst_fd, &out_off,
                                    left, 0);

        if (n < 0) {
            int err = errno;

            if (err == EINTR) {
                continue;
            }
            trace_file_copy_file_range(c->src_fd, c->src_offset, c->dst_fd,
                                       c->dst_offset, c->bytes, -err);
            /* "not possible between these files": let the core copy */
            if (err == ENOSYS || err == EXDEV || err == EOPNOTSUPP ||
                err == EINVAL || err == EBADF) {
                return -ENOTSUP;
            }
            return -err;
        }
        if (n == 0) {
            /* Source ended early: the rest of the range reads as zeroes. */
            return -ENOSPC;
        }
        left -= n;
    }
    trace_file_copy_file_range(c->src_fd, c->src_offset, c->dst_fd,
                               c->dst_offset, c->bytes, 0);
    return 0;
}

int coroutine_fn file_pool_co_copy_range(int src_fd, int64_t src_offset,
                                         int dst_fd, int64_t dst_offset,
                                         int64_t bytes)
{
    FilePoolCopy c = {
        .src_fd = src_fd,
        .src_offset = src_offset,
        .dst_fd = dst_fd,
        .dst_offset = dst_offset,
        .bytes = bytes,
    };

    return thread_pool_submit_co(file_pool_copy_range_fn, &c);
}
