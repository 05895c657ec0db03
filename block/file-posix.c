/*
 * file-posix.c: the `file` and `host_device` protocol drivers: an image in
 * a regular file or a block device, accessed with io_uring (the default
 * with cache.direct=on), libaio (aio=native) or the thread pool
 * (aio=threads, the default for buffered I/O).
 *
 * The core hands us requests aligned to bl.request_alignment (1 for
 * buffered I/O, the O_DIRECT alignment of the file otherwise) and no
 * larger than bl.max_transfer.  Here we pick the engine, bounce buffers
 * that O_DIRECT cannot take, resubmit short transfers, map write-zeroes
 * and discard to fallocate(), answer block status with SEEK_DATA and
 * SEEK_HOLE, and keep QEMU-compatible image locks in step with the node's
 * permissions (file-posix-lock.c).
 */
#include "qemu/osdep.h"
#include "qemu/thread-pool.h"
#include "block/block_int.h"
#include "block/file-posix-int.h"
#include "trace/trace-block.h"

#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>

/* Largest O_DIRECT alignment we probe for, and the first block we allocate */
#define RAW_MAX_ALIGN   4096

typedef struct BDRVRawState {
    int fd;
    int open_flags;             /* flags given to open(2) */
    bool is_device;             /* block or character device */
    bool is_blk;                /* block device */

    FileAioEngine aio;
    int64_t aio_max_batch;
    LinuxAioState *laio;
    AioContext *laio_ctx;

    bool use_lock;
    RawLockState lock;
    uint64_t perm;              /* last committed permissions */
    uint64_t shared_perm;
    int perm_change_fd;         /* reopened for a pending permission change */
    int perm_change_flags;

    bool needs_alignment;       /* O_DIRECT */
    uint32_t request_alignment;
    size_t buf_align;
    uint32_t discard_granularity;

    bool has_discard;
    bool has_write_zeroes;
    bool has_fallocate;
    bool page_cache_inconsistent;   /* a flush failed: fail all later ones */
    bool drop_cache;
    bool check_cache_dropped;
} BDRVRawState;

BlockDriver bdrv_file;
BlockDriver bdrv_host_device;

static bool raw_is_file_node(BlockDriverState *bs)
{
    return bs && (bs->drv == &bdrv_file || bs->drv == &bdrv_host_device);
}

/* ---- opening ---- */

static bool raw_is_io_aligned(int fd, void *buf, size_t len)
{
    ssize_t ret = pread(fd, buf, len, 0);

    /* Only EINVAL says the alignment is wrong; EOF or EIO tell nothing. */
    return ret >= 0 || errno != EINVAL;
}

/* Try reads of growing size/alignment as QEMU does (statx fallback). */
static void raw_probe_alignment_by_reads(BDRVRawState *s)
{
    size_t max_align = MAX(RAW_MAX_ALIGN, (size_t)getpagesize());
    g_autofree void *dummy = NULL;
    void *buf = qemu_try_memalign(max_align, 2 * max_align);

    if (!buf) {
        return;
    }
    if (!s->request_alignment) {
        for (size_t align = 512; align <= max_align; align <<= 1) {
            if (raw_is_io_aligned(s->fd, buf, align)) {
                s->request_alignment = align;
                break;
            }
        }
    }
    if (!s->buf_align) {
        for (size_t align = 512; align <= max_align; align <<= 1) {
            if (raw_is_io_aligned(s->fd, (char *)buf + align, max_align)) {
                s->buf_align = align;
                break;
            }
        }
    }
    qemu_vfree(buf);
}

static int raw_probe_alignment(BlockDriverState *bs, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    unsigned int sector_size;

    if (!s->needs_alignment) {
        s->request_alignment = 1;
        s->buf_align = 1;
        return 0;
    }
    s->request_alignment = 0;
    s->buf_align = 0;
    if (s->is_blk && ioctl(s->fd, BLKSSZGET, &sector_size) == 0 &&
        sector_size) {
        s->request_alignment = sector_size;
    }
#ifdef STATX_DIOALIGN
    {
        struct statx stx;

        if (statx(s->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
            (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
            if (!s->request_alignment) {
                s->request_alignment = stx.stx_dio_offset_align;
            }
            s->buf_align = stx.stx_dio_mem_align;
        }
    }
#endif
    raw_probe_alignment_by_reads(s);
    if (!s->request_alignment || !s->buf_align ||
        !is_power_of_2(s->request_alignment) || !is_power_of_2(s->buf_align)) {
        error_setg(errp, "Could not find working O_DIRECT alignment");
        error_append_hint(errp, "Try cache.direct=off\n");
        return -EINVAL;
    }
    return 0;
}

static FileAioEngine raw_aio_engine(BlockdevOptionsFile *o, int bdrv_flags)
{
    if (o->has_aio) {
        switch (o->aio) {
        case BLOCKDEV_AIO_OPTIONS_THREADS:
            return FILE_AIO_ENGINE_THREADS;
        case BLOCKDEV_AIO_OPTIONS_NATIVE:
            return FILE_AIO_ENGINE_NATIVE;
        case BLOCKDEV_AIO_OPTIONS_IO_URING:
            return FILE_AIO_ENGINE_IO_URING;
        default:
            break;
        }
    }
    if (bdrv_flags & BDRV_O_NATIVE_AIO) {
        return FILE_AIO_ENGINE_NATIVE;
    }
    /*
     * The default: io_uring with cache.direct=on, where the ring really
     * is asynchronous; the thread pool for buffered I/O, as QEMU does.
     * Buffered writes through io_uring mostly end up in the kernel's
     * io-wq workers, one at a time per file, and page-cache hits are
     * copied on the loop's own thread: measured slower than the pool
     * (docs/drivers/file.md).
     */
    if (bdrv_flags & BDRV_O_NOCACHE) {
        return FILE_AIO_ENGINE_IO_URING;
    }
    return FILE_AIO_ENGINE_THREADS;
}

/*
 * open(2) flags for the node: read-write only if the node is writable and,
 * with auto-read-only, only while someone holds a write permission
 * (QEMU's dynamic auto-read-only).
 */
static int raw_open_flags(BlockDriverState *bs, int bdrv_flags, uint64_t perm)
{
    int flags = O_CLOEXEC | O_NOCTTY;
    bool read_write;

    if (bdrv_flags & BDRV_O_AUTO_RDONLY) {
        read_write = !!(perm & (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED |
                                BLK_PERM_RESIZE));
    } else {
        read_write = !!(bdrv_flags & BDRV_O_RDWR);
    }
    flags |= read_write ? O_RDWR : O_RDONLY;
    if (bdrv_flags & BDRV_O_NOCACHE) {
        flags |= O_DIRECT;
    }
    return flags;
}

static int raw_open_fd(BlockDriverState *bs, const char *filename,
                       int bdrv_flags, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    int fd;

    s->open_flags = raw_open_flags(bs, bdrv_flags, 0);
    fd = RETRY_ON_EINTR(open(filename, s->open_flags));
    if (fd < 0) {
        int err = errno;

        error_setg_errno(errp, err, "Could not open '%s'", filename);
        return -err;
    }
    s->fd = fd;
    return 0;
}

static int raw_check_file_type(BlockDriverState *bs, bool device,
                               Error **errp)
{
    BDRVRawState *s = bs->opaque;
    struct stat st;

    if (fstat(s->fd, &st) < 0) {
        int err = errno;

        error_setg_errno(errp, err, "Could not stat file");
        return -err;
    }
    if (!device) {
        if (!S_ISREG(st.st_mode)) {
            error_setg(errp, "'%s' driver requires '%s' to be a regular file",
                       bs->drv->format_name, bs->filename);
            return -EINVAL;
        }
        s->has_fallocate = true;
        s->has_discard = true;
        s->has_write_zeroes = true;
        return 0;
    }
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
        error_setg(errp, "'%s' driver requires '%s' to be either "
                   "a character or block device",
                   bs->drv->format_name, bs->filename);
        return -EINVAL;
    }
    s->is_device = true;
    s->is_blk = S_ISBLK(st.st_mode);
    if (s->is_blk) {
        char *path = g_strdup_printf("/sys/dev/block/%u:%u/queue/"
                                     "discard_granularity",
                                     major(st.st_rdev), minor(st.st_rdev));
        char *text = NULL;

        s->has_discard = true;
        s->has_write_zeroes = true;
        if (g_file_get_contents(path, &text, NULL, NULL)) {
            s->discard_granularity = strtoul(text, NULL, 10);
        }
        g_free(text);
        g_free(path);
    }
    return 0;
}

static int raw_setup_aio(BlockDriverState *bs, int bdrv_flags, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    AioContext *ctx = qemu_get_current_aio_context();

    switch (s->aio) {
    case FILE_AIO_ENGINE_NATIVE:
        if (!(bdrv_flags & BDRV_O_NOCACHE)) {
            error_setg(errp, "aio=native was specified, but it requires "
                       "cache.direct=on, which was not specified.");
            return -EINVAL;
        }
        s->laio = laio_get(ctx, errp);
        if (!s->laio) {
            error_prepend(errp, "Unable to use native AIO: ");
            return -EINVAL;
        }
        s->laio_ctx = ctx;
        break;
    case FILE_AIO_ENGINE_IO_URING:
        if (!aio_uring_available(ctx)) {
            trace_file_aio_fallback(bs, "io_uring", "ring unavailable");
            s->aio = FILE_AIO_ENGINE_THREADS;
        }
        break;
    case FILE_AIO_ENGINE_THREADS:
        break;
    }
    return 0;
}

static void raw_set_supported_flags(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;

    bs->supported_write_flags = BDRV_REQ_FUA;
    bs->supported_zero_flags = 0;
    bs->supported_truncate_flags = 0;
    if (s->has_write_zeroes || s->has_discard) {
        bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
    }
    if (!s->is_device) {
        /* a grown regular file reads as zeroes */
        bs->supported_truncate_flags = BDRV_REQ_ZERO_WRITE;
    }
}

static int raw_open_common(BlockDriverState *bs, BlockdevOptionsFile *o,
                           int bdrv_flags, bool device, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    int ret;

    s->fd = -1;
    s->perm_change_fd = -1;
    g_strlcpy(bs->filename, o->filename, sizeof(bs->filename));
    s->aio = raw_aio_engine(o, bdrv_flags);
    s->aio_max_batch = (o->has_aio_max_batch && o->aio_max_batch > 0) ?
                       o->aio_max_batch : 0;
    s->drop_cache = o->has_drop_cache ? o->drop_cache : true;
    s->check_cache_dropped = o->has_x_check_cache_dropped &&
                             o->x_check_cache_dropped;
    switch (o->has_locking ? o->locking : ON_OFF_AUTO_AUTO) {
    case ON_OFF_AUTO_ON:
        if (!raw_ofd_lock_supported()) {
            error_setg(errp, "locking=on was specified, but open file "
                       "description locks are not supported");
            return -ENOTSUP;
        }
        s->use_lock = true;
        break;
    case ON_OFF_AUTO_OFF:
        s->use_lock = false;
        break;
    default:
        s->use_lock = raw_ofd_lock_supported();
        break;
    }
    s->perm = 0;
    s->shared_perm = BLK_PERM_ALL;

    ret = raw_open_fd(bs, o->filename, bdrv_flags, errp);
    if (ret < 0) {
        return ret;
    }
    ret = raw_check_file_type(bs, device, errp);
    if (ret < 0) {
        goto fail;
    }
    s->needs_alignment = !!(s->open_flags & O_DIRECT);
    ret = raw_probe_alignment(bs, errp);
    if (ret < 0) {
        goto fail;
    }
    ret = raw_setup_aio(bs, bdrv_flags, errp);
    if (ret < 0) {
        goto fail;
    }
    raw_set_supported_flags(bs);
    trace_file_open(bs, bs->filename, s->open_flags,
                    file_aio_engine_name(s->aio), s->request_alignment,
                    s->use_lock);
    return 0;

fail:
    close(s->fd);
    s->fd = -1;
    return ret;
}

static int raw_open(BlockDriverState *bs, BlockdevOptions *options, int flags,
                    Error **errp)
{
    return raw_open_common(bs, &options->u.file, flags, false, errp);
}

static int hdev_open(BlockDriverState *bs, BlockdevOptions *options, int flags,
                     Error **errp)
{
    return raw_open_common(bs, &options->u.host_device, flags, true, errp);
}

static void raw_close(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;

    if (s->perm_change_fd >= 0) {
        close(s->perm_change_fd);
        s->perm_change_fd = -1;
    }

    if (s->laio) {
        laio_put(s->laio);
        s->laio = NULL;
    }
    if (s->fd >= 0) {
        /* closing the description drops its locks */
        close(s->fd);
        s->fd = -1;
    }
}

static void raw_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    size_t page = getpagesize();
    long iov_max = sysconf(_SC_IOV_MAX);

    bs->bl.request_alignment = s->request_alignment;
    bs->bl.min_mem_alignment = s->buf_align;
    bs->bl.opt_mem_alignment = MAX(s->buf_align, page);
    bs->bl.max_iov = iov_max > 0 ? MIN(iov_max, INT_MAX) : IOV_MAX;
    /* the kernel transfers at most 2 GiB - 4 KiB per call */
    bs->bl.max_transfer = QEMU_ALIGN_DOWN(INT_MAX,
                                          MAX(s->request_alignment, page));
    if (s->is_blk && s->discard_granularity &&
        is_power_of_2(s->discard_granularity)) {
        bs->bl.pdiscard_alignment = s->discard_granularity;
    }
}

/* ---- reads and writes ---- */

/* O_DIRECT needs each buffer and length aligned; the kernel takes IOV_MAX. */
static bool raw_needs_bounce(BDRVRawState *s, QEMUIOVector *qiov)
{
    if (qiov->niov > IOV_MAX) {
        return true;
    }
    if (!s->needs_alignment) {
        return false;
    }
    for (int i = 0; i < qiov->niov; i++) {
        if (!QEMU_PTR_IS_ALIGNED(qiov->iov[i].iov_base, s->buf_align) ||
            !QEMU_IS_ALIGNED(qiov->iov[i].iov_len, s->buf_align)) {
            return true;
        }
    }
    return false;
}

/*
 * Buffered writes of at least this size to a regular file go to the thread
 * pool one at a time per node.  The kernel holds the inode lock across a
 * buffered write (ext4, xfs, tmpfs), so a second large writer to the same
 * file would only spin or sleep on it; the worker that finishes one takes
 * the next.  Small writes (a guest's 4 KiB) keep their own path, so that
 * they never queue behind a bulk copy's megabytes.
 */
#define FILE_SERIAL_WRITE_MIN (128 * 1024)

static const void *raw_serial_key(BDRVRawState *s, QEMUIOVector *qiov,
                                  FileAioType type)
{
    if (type != FILE_AIO_WRITE || s->needs_alignment ||
        qiov->size < FILE_SERIAL_WRITE_MIN || s->is_device) {
        return NULL;
    }
    return s;
}

/* One submission to the node's engine: bytes transferred or -errno. */
static int coroutine_fn raw_co_submit(BlockDriverState *bs, uint64_t offset,
                                      QEMUIOVector *qiov, FileAioType type,
                                      int rw_flags)
{
    BDRVRawState *s = bs->opaque;
    AioContext *ctx = qemu_coroutine_get_aio_context(qemu_coroutine_self());
    int ret;

    switch (s->aio) {
    case FILE_AIO_ENGINE_IO_URING:
        ret = luring_co_submit(ctx, s->fd, offset, qiov, type, rw_flags);
        if (ret != -ENOSYS) {
            return ret;
        }
        /* this context has no ring: use the thread pool from now on */
        trace_file_aio_fallback(bs, "io_uring", "ring unavailable");
        s->aio = FILE_AIO_ENGINE_THREADS;
        break;
    case FILE_AIO_ENGINE_NATIVE:
        if (ctx == s->laio_ctx) {
            return laio_co_submit(s->laio, s->fd, offset, qiov, type,
                                  rw_flags, s->aio_max_batch);
        }
        break;
    case FILE_AIO_ENGINE_THREADS:
        break;
    }
    return file_pool_co_rw(s->fd, offset, qiov, type, rw_flags,
                           raw_serial_key(s, qiov, type));
}

/*
 * Transfer all of qiov, resubmitting the rest after a short transfer.
 * A read that hits the end of the file fills the rest with zeroes; a
 * write that makes no progress fails with -ENOSPC.
 */
static int coroutine_fn raw_co_rw_full(BlockDriverState *bs, uint64_t offset,
                                       QEMUIOVector *qiov, FileAioType type,
                                       int rw_flags)
{
    BDRVRawState *s = bs->opaque;
    size_t done = 0;

    while (done < qiov->size) {
        QEMUIOVector rest;
        QEMUIOVector *cur = qiov;
        int ret;

        if (done) {
            qemu_iovec_init_slice(&rest, qiov, done, qiov->size - done);
            cur = &rest;
        }
        ret = raw_co_submit(bs, offset + done, cur, type, rw_flags);
        if (cur == &rest) {
            qemu_iovec_destroy(&rest);
        }
        if (ret < 0) {
            return ret;
        }
        if (ret == 0) {
            if (type == FILE_AIO_WRITE) {
                return -ENOSPC;
            }
            break;
        }
        done += ret;
        if (done < qiov->size) {
            if (s->aio == FILE_AIO_ENGINE_IO_URING && type == FILE_AIO_READ) {
                trace_luring_resubmit_short_read(bs, offset + done, ret);
            }
            trace_file_short_rw(bs, file_aio_engine_name(s->aio), type,
                                offset, done, qiov->size);
            if (type == FILE_AIO_READ && s->needs_alignment &&
                !QEMU_IS_ALIGNED(offset + done, s->request_alignment)) {
                /* O_DIRECT read ended inside the last block: EOF */
                break;
            }
        }
    }
    if (done < qiov->size) {
        qemu_iovec_memset(qiov, done, 0, qiov->size - done);
    }
    return 0;
}

static int coroutine_fn raw_co_prw(BlockDriverState *bs, int64_t offset,
                                   int64_t bytes, QEMUIOVector *qiov,
                                   FileAioType type, BdrvRequestFlags flags)
{
    BDRVRawState *s = bs->opaque;
    int rw_flags = 0;
    QEMUIOVector slice, local;
    void *bounce = NULL;
    int ret;

    if (!qiov || bytes == 0) {
        return 0;
    }
    if (s->fd < 0) {
        return -EIO;
    }
    if (qiov->size != (size_t)bytes) {
        qemu_iovec_init_slice(&slice, qiov, 0, bytes);
        ret = raw_co_prw(bs, offset, bytes, &slice, type, flags);
        qemu_iovec_destroy(&slice);
        return ret;
    }
    if (type == FILE_AIO_WRITE && (flags & BDRV_REQ_FUA)) {
        rw_flags |= RWF_DSYNC;
    }

    if (raw_needs_bounce(s, qiov)) {
        size_t align = MAX(s->buf_align, (size_t)getpagesize());

        bounce = qemu_try_memalign(align, bytes);
        if (!bounce) {
            return -ENOMEM;
        }
        trace_file_bounce(bs, offset, bytes, type);
        if (type == FILE_AIO_WRITE) {
            qemu_iovec_to_buf(qiov, 0, bounce, bytes);
        }
        qemu_iovec_init_buf(&local, bounce, bytes);
        ret = raw_co_rw_full(bs, offset, &local, type, rw_flags);
        if (ret == 0 && type == FILE_AIO_READ) {
            qemu_iovec_from_buf(qiov, 0, bounce, bytes);
        }
        qemu_vfree(bounce);
        return ret;
    }
    return raw_co_rw_full(bs, offset, qiov, type, rw_flags);
}

static int coroutine_fn raw_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      BdrvRequestFlags flags)
{
    return raw_co_prw(bs, offset, bytes, qiov, FILE_AIO_READ, flags);
}

static int coroutine_fn raw_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    return raw_co_prw(bs, offset, bytes, qiov, FILE_AIO_WRITE, flags);
}

/* ---- flush ---- */

static int coroutine_fn raw_co_flush_to_disk(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    int ret = -ENOSYS;

    if (s->fd < 0) {
        return -EIO;
    }
    /* After a failed fdatasync the page cache may have lost our data. */
    if (s->page_cache_inconsistent) {
        return -EIO;
    }
    if (s->aio == FILE_AIO_ENGINE_IO_URING) {
        AioContext *ctx = qemu_coroutine_get_aio_context(qemu_coroutine_self());

        ret = luring_co_submit(ctx, s->fd, 0, NULL, FILE_AIO_FLUSH, 0);
    }
    if (ret == -ENOSYS) {
        ret = file_pool_co_fdatasync(s->fd);
    }
    if (ret < 0) {
        trace_file_flush_fdatasync_failed(-ret);
        s->page_cache_inconsistent = true;
        return ret;
    }
    return 0;
}

/* ---- length ---- */

static int64_t raw_getlength(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    struct stat st;

    if (s->fd < 0) {
        return -EIO;
    }
    if (s->is_blk) {
        uint64_t size;

        if (ioctl(s->fd, BLKGETSIZE64, &size) == 0) {
            return size;
        }
    }
    if (s->is_device) {
        off_t end = lseek(s->fd, 0, SEEK_END);

        return end < 0 ? -errno : end;
    }
    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    return st.st_size;
}

static int64_t raw_get_allocated_file_size(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    struct stat st;

    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    return (int64_t)st.st_blocks * 512;
}

/* No clusters and never dirty: queries report a clean image (QEMU's) */
static int raw_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    return 0;
}

/* ---- write zeroes and discard ---- */

static bool raw_fallocate_unsupported(int ret)
{
    return ret == -ENOTSUP || ret == -EINVAL || ret == -EBUSY ||
           ret == -ENOSYS;
}

/* Punch [offset, offset + bytes); past EOF the file is grown with a hole. */
static int coroutine_fn raw_punch_zeroes(BlockDriverState *bs, int64_t offset,
                                         int64_t bytes)
{
    BDRVRawState *s = bs->opaque;
    int64_t len = s->is_device ? INT64_MAX : raw_getlength(bs);
    int ret;

    if (len < 0) {
        return len;
    }
    if (offset + bytes > len) {
        ret = file_pool_co_ftruncate(s->fd, offset + bytes);
        if (ret < 0 || offset >= len) {
            return ret;
        }
        bytes = len - offset;
    }
    return file_pool_co_fallocate(s->fd,
                                  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                  offset, bytes);
}

static int coroutine_fn raw_co_pwrite_zeroes(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BdrvRequestFlags flags)
{
    BDRVRawState *s = bs->opaque;
    int ret = -ENOTSUP;

    if (s->fd < 0) {
        return -EIO;
    }
    if ((flags & BDRV_REQ_MAY_UNMAP) && s->has_discard) {
        ret = raw_punch_zeroes(bs, offset, bytes);
        trace_file_co_pwrite_zeroes(bs, offset, bytes, flags, "punch", ret);
        if (!raw_fallocate_unsupported(ret)) {
            return ret;
        }
    }
    if (s->has_write_zeroes) {
        /* ZERO_RANGE without KEEP_SIZE also grows the file if needed */
        ret = file_pool_co_fallocate(s->fd, FALLOC_FL_ZERO_RANGE, offset,
                                     bytes);
        trace_file_co_pwrite_zeroes(bs, offset, bytes, flags, "zero-range",
                                    ret);
        if (!raw_fallocate_unsupported(ret)) {
            return ret;
        }
        s->has_write_zeroes = false;
    }
    if (s->has_fallocate && !s->is_device) {
        int64_t len = raw_getlength(bs);

        /* Newly allocated blocks past EOF read as zeroes */
        if (len >= 0 && offset >= len) {
            ret = file_pool_co_fallocate(s->fd, 0, offset, bytes);
            trace_file_co_pwrite_zeroes(bs, offset, bytes, flags, "allocate",
                                        ret);
            if (!raw_fallocate_unsupported(ret)) {
                return ret;
            }
        }
    }
    return -ENOTSUP;
}

static int coroutine_fn raw_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes)
{
    BDRVRawState *s = bs->opaque;
    int ret;

    if (s->fd < 0) {
        return -EIO;
    }
    if (!s->has_discard) {
        return -ENOTSUP;
    }
    if (s->is_blk) {
        ret = file_pool_co_blk_range(s->fd, BLKDISCARD, offset, bytes);
    } else {
        ret = file_pool_co_fallocate(s->fd,
                                     FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                     offset, bytes);
    }
    trace_file_co_pdiscard(bs, offset, bytes, ret);
    if (raw_fallocate_unsupported(ret)) {
        s->has_discard = false;
        return -ENOTSUP;
    }
    return ret;
}

/* ---- block status ---- */

/*
 * Where does the data/hole boundary lie around start?  On success *data
 * and *hole are set so that [start, *hole) is data when *data == start,
 * else [start, *data) is a hole.  -ENXIO: start is in a trailing hole.
 */
static int raw_find_allocation(BDRVRawState *s, int64_t start, int64_t *data,
                               int64_t *hole)
{
    off_t d, h;

    d = lseek(s->fd, start, SEEK_DATA);
    if (d < 0) {
        return -errno;      /* ENXIO: only a hole up to EOF */
    }
    if (d > start) {
        *data = d;
        *hole = start;
        return 0;
    }
    h = lseek(s->fd, start, SEEK_HOLE);
    if (h < 0) {
        return -errno;
    }
    if (h <= start) {
        /* the file changed under us between the two calls */
        return -EBUSY;
    }
    *data = start;
    *hole = h;
    return 0;
}

static int coroutine_fn raw_co_block_status(BlockDriverState *bs,
                                            bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum,
                                            int64_t *map,
                                            BlockDriverState **file)
{
    BDRVRawState *s = bs->opaque;
    int64_t data = 0, hole = 0;
    int ret;

    *map = offset;
    *file = bs;
    if (!want_zero || s->is_device) {
        *pnum = bytes;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }

    ret = raw_find_allocation(s, offset, &data, &hole);
    if (ret == -ENXIO) {
        /* trailing hole */
        *pnum = bytes;
        ret = BDRV_BLOCK_ZERO;
    } else if (ret < 0) {
        /* no idea: call it data */
        *pnum = bytes;
        ret = BDRV_BLOCK_DATA;
    } else if (data == offset) {
        /*
         * The whole data extent, even past the range asked for: the core
         * clamps it and keeps it in the block-status cache.  A hole
         * starting inside the last, partial block of the file: report
         * whole blocks.
         */
        *pnum = hole - offset;
        *pnum = QEMU_ALIGN_UP(*pnum, bs->bl.request_alignment);
        ret = BDRV_BLOCK_DATA;
    } else {
        *pnum = MIN(bytes, data - offset);
        /* data starts mid-block: the block holds data */
        if (*pnum < bs->bl.request_alignment) {
            *pnum = MIN(bytes, bs->bl.request_alignment);
            ret = BDRV_BLOCK_DATA;
        } else {
            *pnum = QEMU_ALIGN_DOWN(*pnum, bs->bl.request_alignment);
            ret = BDRV_BLOCK_ZERO;
        }
    }
    trace_file_co_block_status(bs, offset, bytes, ret, *pnum);
    return ret | BDRV_BLOCK_OFFSET_VALID;
}

/* ---- copy_range ---- */

static int coroutine_fn raw_co_copy_range_from(BlockDriverState *bs,
                                               BdrvChild *src,
                                               int64_t src_offset,
                                               BdrvChild *dst,
                                               int64_t dst_offset,
                                               int64_t bytes,
                                               BdrvRequestFlags read_flags,
                                               BdrvRequestFlags write_flags)
{
    return bdrv_co_copy_range_to(src, src_offset, dst, dst_offset, bytes,
                                 read_flags, write_flags);
}

static int coroutine_fn raw_co_copy_range_to(BlockDriverState *bs,
                                             BdrvChild *src,
                                             int64_t src_offset,
                                             BdrvChild *dst,
                                             int64_t dst_offset,
                                             int64_t bytes,
                                             BdrvRequestFlags read_flags,
                                             BdrvRequestFlags write_flags)
{
    BDRVRawState *s = bs->opaque;
    BDRVRawState *src_s;
    int ret;

    if (!raw_is_file_node(src->bs)) {
        return -ENOTSUP;
    }
    src_s = src->bs->opaque;
    if (s->fd < 0 || src_s->fd < 0) {
        return -EIO;
    }
    ret = file_pool_co_copy_range(src_s->fd, src_offset, s->fd, dst_offset,
                                  bytes);
    if (ret == 0 && (write_flags & BDRV_REQ_FUA)) {
        ret = raw_co_flush_to_disk(bs);
    }
    return ret;
}

/* ---- truncate ---- */

typedef struct RawTruncate {
    int fd;
    int64_t offset;
    PreallocMode prealloc;
    const char *errmsg;     /* set on failure (static text) */
    bool with_errno;
} RawTruncate;

/*
 * Write zeroes over the first block of a file that was empty, so that a
 * later open with O_DIRECT can probe its alignment (as QEMU does).
 */
static void raw_allocate_first_block(int fd, int64_t max_size)
{
    size_t size = MIN(MAX(RAW_MAX_ALIGN, (size_t)getpagesize()), max_size);
    void *buf = qemu_try_memalign(MAX(RAW_MAX_ALIGN, (size_t)getpagesize()),
                                  size);
    ssize_t n;

    if (!buf) {
        return;
    }
    memset(buf, 0, size);
    n = RETRY_ON_EINTR(pwrite(fd, buf, size, 0));
    (void)n;
    qemu_vfree(buf);
}

/* The error of a failed raw_truncate_fn() (ret: its -errno) in errp */
static void raw_truncate_set_error(RawTruncate *t, int ret, Error **errp)
{
    if (!t->errmsg) {
        error_setg(errp, "Unsupported preallocation mode: %s",
                   PreallocMode_str(t->prealloc));
    } else if (t->with_errno) {
        error_setg_errno(errp, -ret, "%s", t->errmsg);
    } else {
        error_setg(errp, "%s", t->errmsg);
    }
}

static int raw_truncate_fail(RawTruncate *t, int ret, const char *msg)
{
    t->errmsg = msg;
    t->with_errno = true;
    return ret;
}

static int raw_truncate_full(RawTruncate *t, int64_t cur)
{
    int64_t left = t->offset - cur;
    int64_t pos = cur;
    g_autofree char *buf = NULL;

    if (ftruncate(t->fd, t->offset) < 0) {
        return raw_truncate_fail(t, -errno, "Could not resize file");
    }
    buf = g_malloc0(64 * KiB);
    while (left > 0) {
        ssize_t n = RETRY_ON_EINTR(pwrite(t->fd, buf, MIN(left, 64 * KiB),
                                          pos));

        if (n < 0) {
            return raw_truncate_fail(t, -errno,
                                     "Could not write zeros for preallocation");
        }
        pos += n;
        left -= n;
    }
    if (RETRY_ON_EINTR(fsync(t->fd)) < 0) {
        return raw_truncate_fail(t, -errno, "Could not flush file to disk");
    }
    return 0;
}

/* Runs on a worker: resize a regular file with the preallocation mode. */
static int raw_truncate_fn(void *opaque)
{
    RawTruncate *t = opaque;
    struct stat st;
    int64_t cur;
    int ret;

    if (fstat(t->fd, &st) < 0) {
        return raw_truncate_fail(t, -errno, "Could not stat file");
    }
    cur = st.st_size;
    if (cur > t->offset && t->prealloc != PREALLOC_MODE_OFF) {
        t->errmsg = "Cannot use preallocation for shrinking files";
        return -ENOTSUP;
    }
    switch (t->prealloc) {
    case PREALLOC_MODE_OFF:
        if (ftruncate(t->fd, t->offset) < 0) {
            return raw_truncate_fail(t, -errno, "Could not resize file");
        }
        if (cur == 0 && t->offset > 0) {
            raw_allocate_first_block(t->fd, t->offset);
        }
        return 0;
    case PREALLOC_MODE_FALLOC:
        if (t->offset == cur) {
            return 0;
        }
        ret = posix_fallocate(t->fd, cur, t->offset - cur);
        if (ret != 0) {
            return raw_truncate_fail(t, -ret, "Could not preallocate new data");
        }
        if (cur == 0) {
            raw_allocate_first_block(t->fd, t->offset);
        }
        return 0;
    case PREALLOC_MODE_FULL:
        return raw_truncate_full(t, cur);
    default:
        t->errmsg = NULL;
        return -ENOTSUP;
    }
}

static int coroutine_fn raw_co_truncate(BlockDriverState *bs, int64_t offset,
                                        bool exact, PreallocMode prealloc,
                                        BdrvRequestFlags flags, Error **errp)
{
    BDRVRawState *s = bs->opaque;
    RawTruncate t = { .fd = s->fd, .offset = offset, .prealloc = prealloc };
    int64_t cur;
    int ret;

    if (s->fd < 0) {
        error_setg(errp, "File is closed");
        return -EIO;
    }
    if (!s->is_device) {
        ret = thread_pool_submit_co(raw_truncate_fn, &t);
        trace_file_co_truncate(bs, offset, prealloc, ret);
        if (ret < 0) {
            raw_truncate_set_error(&t, ret, errp);
        }
        return ret;
    }

    if (prealloc != PREALLOC_MODE_OFF) {
        error_setg(errp, "Preallocation mode '%s' unsupported for this "
                   "non-regular file", PreallocMode_str(prealloc));
        return -ENOTSUP;
    }
    cur = raw_getlength(bs);
    if (cur < 0) {
        error_setg_errno(errp, -cur, "Could not get the device size");
        return cur;
    }
    if (offset != cur && exact) {
        error_setg(errp, "Cannot resize device files");
        return -ENOTSUP;
    } else if (offset > cur) {
        error_setg(errp, "Cannot grow device files");
        return -EINVAL;
    }
    return 0;
}

/* ---- cache invalidation (incoming migration) ---- */

static int coroutine_fn raw_co_invalidate_cache(BlockDriverState *bs,
                                                Error **errp)
{
    BDRVRawState *s = bs->opaque;
    int ret;

    if (!s->drop_cache || s->needs_alignment || s->fd < 0) {
        return 0;
    }
    ret = file_pool_co_fdatasync(s->fd);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "flush failed");
        return ret;
    }
    ret = posix_fadvise(s->fd, 0, 0, POSIX_FADV_DONTNEED);
    if (ret != 0) {
        error_setg_errno(errp, ret, "posix_fadvise returned %d", ret);
        return -ret;
    }
    return 0;
}

/* ---- permissions and image locks ---- */

typedef enum RawPermLockOp {
    RAW_PL_PREPARE,
    RAW_PL_COMMIT,
    RAW_PL_ABORT,
} RawPermLockOp;

static int raw_handle_perm_lock(BlockDriverState *bs, RawPermLockOp op,
                                uint64_t new_perm, uint64_t new_shared,
                                Error **errp)
{
    BDRVRawState *s = bs->opaque;
    Error *local_err = NULL;
    int ret = 0;

    if (!s->use_lock || s->fd < 0 || (bs->open_flags & BDRV_O_INACTIVE)) {
        return 0;
    }
    switch (op) {
    case RAW_PL_PREPARE:
        if ((s->perm | new_perm) == s->perm &&
            (s->shared_perm & new_shared) == s->shared_perm) {
            /* only unlocking ahead: nothing can conflict */
            break;
        }
        /* Hold the union of old and new while checking the new set. */
        ret = raw_lock_apply_bytes(&s->lock, s->fd, s->perm | new_perm,
                                   ~s->shared_perm | ~new_shared, false, errp);
        if (ret == 0) {
            ret = raw_lock_check_bytes(s->fd, new_perm, new_shared, errp);
            if (ret == 0) {
                break;
            }
            error_append_hint(errp, "Is another process using the image [%s]?\n",
                              bs->filename);
        }
        /* back to what we held before */
        raw_lock_apply_bytes(&s->lock, s->fd, s->perm, ~s->shared_perm, true,
                             &local_err);
        break;
    case RAW_PL_ABORT:
        raw_lock_apply_bytes(&s->lock, s->fd, s->perm, ~s->shared_perm, true,
                             &local_err);
        break;
    case RAW_PL_COMMIT:
        raw_lock_apply_bytes(&s->lock, s->fd, new_perm, ~new_shared, true,
                             &local_err);
        break;
    }
    if (local_err) {
        /* only unlocking: this should not fail */
        warn_report_err(local_err);
    }
    trace_file_perm_lock(bs, op, new_perm, new_shared, ret);
    return ret;
}

/*
 * With auto-read-only the access mode follows the permissions: open the
 * file again in the mode perm needs.  0 if the current fd will do.
 */
static int raw_reopen_for_perm(BlockDriverState *bs, uint64_t perm,
                               Error **errp)
{
    BDRVRawState *s = bs->opaque;
    int flags = raw_open_flags(bs, bs->open_flags, perm);
    int fd;

    if (flags == s->open_flags) {
        return 0;
    }
    fd = RETRY_ON_EINTR(open(bs->filename, flags));
    if (fd < 0) {
        int err = errno;

        error_setg_errno(errp, err, "Could not open '%s'", bs->filename);
        return -err;
    }
    trace_file_reopen(bs, s->open_flags, flags);
    s->perm_change_fd = fd;
    s->perm_change_flags = flags;
    return 0;
}

static void raw_drop_perm_change_fd(BDRVRawState *s)
{
    if (s->perm_change_fd >= 0) {
        close(s->perm_change_fd);
        s->perm_change_fd = -1;
    }
}

static int raw_check_perm(BlockDriverState *bs, uint64_t perm, uint64_t shared,
                          Error **errp)
{
    BDRVRawState *s = bs->opaque;
    RawLockState new_lock = { 0, 0 };
    int ret;

    if (s->fd < 0) {
        return 0;
    }
    raw_drop_perm_change_fd(s);
    ret = raw_reopen_for_perm(bs, perm, errp);
    if (ret < 0) {
        return ret;
    }
    /* Check on the old description, so that old and new do not collide */
    ret = raw_handle_perm_lock(bs, RAW_PL_PREPARE, perm, shared, errp);
    if (ret < 0) {
        raw_drop_perm_change_fd(s);
        return ret;
    }
    /* The new description takes the locks it will need */
    if (s->perm_change_fd >= 0 && s->use_lock &&
        !(bs->open_flags & BDRV_O_INACTIVE)) {
        ret = raw_lock_apply_bytes(&new_lock, s->perm_change_fd, perm, ~shared,
                                   false, errp);
        if (ret < 0) {
            raw_drop_perm_change_fd(s);
            raw_handle_perm_lock(bs, RAW_PL_ABORT, 0, 0, NULL);
            return ret;
        }
    }
    return 0;
}

static void raw_set_perm(BlockDriverState *bs, uint64_t perm, uint64_t shared)
{
    BDRVRawState *s = bs->opaque;

    if (s->perm_change_fd >= 0) {
        /*
         * Put the new description under the old fd number: requests that
         * hold the number (queued SQEs, thread pool jobs) stay valid, and
         * closing the old description drops its locks.
         */
        if (dup3(s->perm_change_fd, s->fd, O_CLOEXEC) < 0) {
            warn_report("Could not switch '%s' to its new access mode: %s",
                        bs->filename, strerror(errno));
            raw_drop_perm_change_fd(s);
        } else {
            raw_drop_perm_change_fd(s);
            s->open_flags = s->perm_change_flags;
            /* it holds exactly what raw_check_perm() locked */
            s->lock.locked_perm = perm & BLK_PERM_ALL;
            s->lock.locked_unshared = ~shared & BLK_PERM_ALL;
            if (!s->use_lock || (bs->open_flags & BDRV_O_INACTIVE)) {
                s->lock.locked_perm = 0;
                s->lock.locked_unshared = 0;
            }
        }
    }
    raw_handle_perm_lock(bs, RAW_PL_COMMIT, perm, shared, NULL);
    s->perm = perm;
    s->shared_perm = shared;
}

static void raw_abort_perm_update(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;

    raw_drop_perm_change_fd(s);
    raw_handle_perm_lock(bs, RAW_PL_ABORT, s->perm, s->shared_perm, NULL);
}

/* ---- blockdev-create ---- */

/*
 * blockdev-create driver=file: create (or empty) the file under image
 * locks (write + resize, resize not shared), then grow it to size with
 * the preallocation mode, as QEMU does.
 */
static int coroutine_fn raw_co_create(BlockdevCreateOptions *options,
                                      Error **errp)
{
    BlockdevCreateOptionsFile *opts = &options->u.file;
    PreallocMode prealloc = opts->has_preallocation ? opts->preallocation :
                                                      PREALLOC_MODE_OFF;
    uint64_t perm = BLK_PERM_WRITE | BLK_PERM_RESIZE;
    uint64_t shared = BLK_PERM_ALL & ~BLK_PERM_RESIZE;
    RawLockState lock = { 0 };
    RawTruncate t = { .prealloc = PREALLOC_MODE_OFF };
    Error *local_err = NULL;
    int ret, fd;

    assert(options->driver == BLOCKDEV_DRIVER_FILE);
    if (opts->has_extent_size_hint && opts->extent_size_hint > UINT32_MAX) {
        error_setg(errp, "Extent size hint is too large");
        return -EINVAL;
    }
    fd = RETRY_ON_EINTR(open(opts->filename, O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (fd < 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Could not create '%s'", opts->filename);
        return ret;
    }
    ret = raw_lock_apply_bytes(&lock, fd, perm, BLK_PERM_ALL & ~shared, false, errp);
    if (ret < 0) {
        goto out_close;
    }
    ret = raw_lock_check_bytes(fd, perm, shared, errp);
    if (ret < 0) {
        error_append_hint(errp, "Is another process using the image [%s]?\n",
                          opts->filename);
        goto out_unlock;
    }
    if (opts->has_nocow && opts->nocow) {
        int attr;

        /* Best effort (btrfs): failure does not fail the creation */
        if (ioctl(fd, FS_IOC_GETFLAGS, &attr) == 0) {
            attr |= FS_NOCOW_FL;
            ioctl(fd, FS_IOC_SETFLAGS, &attr);
        }
    }
    /* Empty the file, then grow it with the requested preallocation */
    t.fd = fd;
    t.offset = 0;
    ret = thread_pool_submit_co(raw_truncate_fn, &t);
    if (ret >= 0) {
        t.offset = opts->size;
        t.prealloc = prealloc;
        ret = thread_pool_submit_co(raw_truncate_fn, &t);
    }
    if (ret < 0) {
        raw_truncate_set_error(&t, ret, errp);
    }

out_unlock:
    raw_lock_apply_bytes(&lock, fd, 0, 0, true, &local_err);
    if (local_err) {
        warn_report_err(local_err);
    }
out_close:
    if (close(fd) != 0 && ret == 0) {
        ret = -errno;
        error_setg_errno(errp, -ret, "Could not close the new file");
    }
    return ret;
}

/* ---- the drivers ---- */

/*
 * The file and host_device drivers share their implementation: every
 * callback but opening, creation and the truncate flags.
 */
#define FILE_POSIX_COMMON_CALLBACKS                                     \
    .instance_size = sizeof(BDRVRawState),                              \
    .is_format = false,                                                 \
    .bdrv_close = raw_close,                                            \
    .bdrv_refresh_limits = raw_refresh_limits,                          \
    .bdrv_co_preadv = raw_co_preadv,                                    \
    .bdrv_co_pwritev = raw_co_pwritev,                                  \
    .bdrv_co_pwrite_zeroes = raw_co_pwrite_zeroes,                      \
    .bdrv_co_pdiscard = raw_co_pdiscard,                                \
    .bdrv_co_flush_to_disk = raw_co_flush_to_disk,                      \
    .bdrv_co_block_status = raw_co_block_status,                        \
    .has_block_status_cache = true,                                     \
    .bdrv_co_copy_range_from = raw_co_copy_range_from,                  \
    .bdrv_co_copy_range_to = raw_co_copy_range_to,                      \
    .bdrv_co_truncate = raw_co_truncate,                                \
    .bdrv_getlength = raw_getlength,                                    \
    .bdrv_get_allocated_file_size = raw_get_allocated_file_size,        \
    .bdrv_get_info = raw_get_info,                                      \
    .bdrv_co_invalidate_cache = raw_co_invalidate_cache,                \
    .bdrv_check_perm = raw_check_perm,                                  \
    .bdrv_set_perm = raw_set_perm,                                      \
    .bdrv_abort_perm_update = raw_abort_perm_update,                    \
    .supported_write_flags = BDRV_REQ_FUA,                              \
    .supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK

BlockDriver bdrv_file = {
    .format_name = "file",
    .bdrv_open = raw_open,
    .bdrv_co_create = raw_co_create,
    .supported_truncate_flags = BDRV_REQ_ZERO_WRITE,
    FILE_POSIX_COMMON_CALLBACKS,
};

BlockDriver bdrv_host_device = {
    .format_name = "host_device",
    .bdrv_open = hdev_open,
    FILE_POSIX_COMMON_CALLBACKS,
};
