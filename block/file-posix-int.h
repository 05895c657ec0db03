/*
 * file-posix-int.h: private interface between the pieces of the `file`
 * protocol driver: the I/O engines (io_uring.c, linux-aio.c and the thread
 * pool path in file-posix-io.c) and the image locks (file-posix-lock.c).
 *
 * Nothing here knows about BlockDriverState: every helper works on a file
 * descriptor, so the engines and the locks can be unit-tested on their own.
 */
#ifndef BLOCK_FILE_POSIX_INT_H
#define BLOCK_FILE_POSIX_INT_H

#include "qemu/osdep.h"
#include "qemu/aio.h"
#include "qemu/error.h"
#include "qemu/iov.h"

/* Request types the engines understand (QEMU_AIO_* in QEMU). */
typedef enum FileAioType {
    FILE_AIO_READ  = 0x1,
    FILE_AIO_WRITE = 0x2,
    FILE_AIO_FLUSH = 0x4,
} FileAioType;

/* Which engine serves reads and writes of a node (BlockdevAioOptions). */
typedef enum FileAioEngine {
    FILE_AIO_ENGINE_THREADS,
    FILE_AIO_ENGINE_NATIVE,
    FILE_AIO_ENGINE_IO_URING,
} FileAioEngine;

const char *file_aio_engine_name(FileAioEngine engine);

/*
 * One submission to an engine: the whole vector at offset.  The result
 * is the number of bytes transferred (possibly short) or -errno; flush
 * returns 0 or -errno.  rw_flags are RWF_* flags (RWF_DSYNC for FUA).
 */

/* ---- io_uring.c: the AioContext's ring ---- */
int coroutine_fn luring_co_submit(AioContext *ctx, int fd, uint64_t offset,
                                  QEMUIOVector *qiov, FileAioType type,
                                  int rw_flags);

/* ---- linux-aio.c: libaio, one io context per AioContext ---- */
typedef struct LinuxAioState LinuxAioState;

/* A reference on ctx's libaio state, created on first use. */
LinuxAioState *laio_get(AioContext *ctx, Error **errp);
void laio_put(LinuxAioState *s);
/* dev_max_batch: most requests per io_submit() (0 = default). */
int coroutine_fn laio_co_submit(LinuxAioState *s, int fd, uint64_t offset,
                                QEMUIOVector *qiov, FileAioType type,
                                int rw_flags, uint64_t dev_max_batch);

/* ---- file-posix-io.c: blocking calls on the thread pool ---- */
/* Requests with the same non-NULL serial_key run one at a time, in order. */
int coroutine_fn file_pool_co_rw(int fd, uint64_t offset, QEMUIOVector *qiov,
                                 FileAioType type, int rw_flags,
                                 const void *serial_key);
int coroutine_fn file_pool_co_fdatasync(int fd);
/* fallocate(fd, mode, offset, len) on a worker: 0 or -errno */
int coroutine_fn file_pool_co_fallocate(int fd, int mode, int64_t offset,
                                        int64_t len);
/* ioctl(fd, req, range[2]) on a worker (BLKDISCARD, BLKZEROOUT) */
int coroutine_fn file_pool_co_blk_range(int fd, unsigned long req,
                                        uint64_t offset, uint64_t len);
int coroutine_fn file_pool_co_ftruncate(int fd, int64_t length);
/* copy_file_range() until done: 0 or -errno (-ENOTSUP when unsupported) */
int coroutine_fn file_pool_co_copy_range(int src_fd, int64_t src_offset,
                                         int dst_fd, int64_t dst_offset,
                                         int64_t bytes);

/* ---- file-posix-lock.c: QEMU-compatible image locking ---- */

/* Byte offsets QEMU locks (one byte per permission bit). */
#define RAW_LOCK_PERM_BASE      100     /* held while we take permission i */
#define RAW_LOCK_SHARED_BASE    200     /* held while we do not share i */

/* What this file description currently holds (bit i = byte BASE + i). */
typedef struct RawLockState {
    uint64_t locked_perm;
    uint64_t locked_unshared;
} RawLockState;

/* true if the kernel supports open file description locks */
bool raw_ofd_lock_supported(void);
/*
 * Lock byte 100+i for every i in perm_bits and byte 200+i for every i in
 * unshared_bits; with unlock, release the bytes of bits not asked for.
 */
int raw_lock_apply_bytes(RawLockState *st, int fd, uint64_t perm_bits,
                         uint64_t unshared_bits, bool unlock, Error **errp);
/*
 * Can we take perm and share only shared?  Fails with -EAGAIN and
 * 'Failed to get "write" lock' when another file description holds a
 * conflicting byte.
 */
int raw_lock_check_bytes(int fd, uint64_t perm, uint64_t shared,
                         Error **errp);
/* Which other description holds what: a bit mask per base (for tests). */
int raw_lock_query(int fd, uint64_t *perm_held, uint64_t *unshared_held);

#endif /* BLOCK_FILE_POSIX_INT_H */
