/*
 * io.c: the block layer's request path.
 *
 * Byte-granular coroutine requests on a child: range checks, in-flight
 * accounting, tracked requests and serialisation (unaligned writes are
 * read-modify-write and wait for overlapping requests), padding to the
 * driver's request_alignment, splitting at max_transfer, FUA emulation,
 * write-zeroes with its bounce-buffer fallback, detect-zeroes, discard,
 * flush (skipped when nothing was written since the last one), block
 * status through raw/filter layers and backing chains, copy_range,
 * truncate, and draining.
 *
 * The aligned fast path allocates nothing: the tracked request lives on
 * the coroutine's stack and the caller's vector is passed down as is.
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"
#include "trace/trace-block.h"

/* Fallback write-zeroes bounce buffer limit */
#define MAX_ZERO_BOUNCE_BYTES   (16 * MiB)

/* Number of drain loops currently polling (so completions notify them) */
static int drain_pollers;

/* ---- in-flight accounting ---- */

void bdrv_inc_in_flight(BlockDriverState *bs)
{
    bs->in_flight++;
}

void bdrv_wakeup(BlockDriverState *bs)
{
    if (drain_pollers) {
        aio_notify(qemu_get_aio_context());
    }
}

void bdrv_dec_in_flight(BlockDriverState *bs)
{
    assert(bs->in_flight > 0);
    bs->in_flight--;
    bdrv_wakeup(bs);
}

/* ---- length ---- */

int64_t coroutine_mixed_fn bdrv_getlength(BlockDriverState *bs)
{
    int64_t len;

    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (bs->total_bytes_hint >= 0) {
        return bs->total_bytes_hint;
    }
    if (bs->drv->bdrv_getlength) {
        len = bs->drv->bdrv_getlength(bs);
        if (len >= 0) {
            /* As in QEMU, a node's length is a whole number of sectors */
            len = QEMU_ALIGN_UP(len, BDRV_SECTOR_SIZE);
            bs->total_bytes_hint = len;
        }
        return len;
    }
    if (bs->file) {
        /* Filters follow their child (not cached: it may change) */
        return bdrv_getlength(bs->file->bs);
    }
    return -ENOTSUP;
}

/* ---- request checks ---- */

static int bdrv_check_request(int64_t offset, int64_t bytes)
{
    if (offset < 0 || bytes < 0) {
        return -EIO;
    }
    if (bytes > BDRV_MAX_LENGTH || offset > BDRV_MAX_LENGTH - bytes) {
        return -EIO;
    }
    return 0;
}

static int bdrv_check_request32(int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov)
{
    int ret = bdrv_check_request(offset, bytes);

    if (ret < 0) {
        return ret;
    }
    if (bytes > BDRV_REQUEST_MAX_BYTES) {
        return -EIO;
    }
    if (qiov && qiov->size < (uint64_t)bytes) {
        return -EINVAL;
    }
    return 0;
}

/* ---- tracked requests and serialisation ---- */

static void tracked_request_begin(BdrvTrackedRequest *req, BlockDriverState *bs,
                                  int64_t offset, int64_t bytes,
                                  BdrvTrackedRequestType type)
{
    req->bs = bs;
    req->offset = offset;
    req->bytes = bytes;
    req->type = type;
    req->serialising = false;
    req->overlap_offset = offset;
    req->overlap_bytes = bytes;
    req->co = qemu_coroutine_self();
    req->waiting_for = NULL;
    qemu_co_queue_init(&req->wait_queue);

    req->link.data = req;
    req->link.prev = NULL;
    req->link.next = bs->tracked_requests;
    if (bs->tracked_requests) {
        bs->tracked_requests->prev = &req->link;
    }
    bs->tracked_requests = &req->link;
}

static void tracked_request_end(BdrvTrackedRequest *req)
{
    BlockDriverState *bs = req->bs;

    if (req->serialising) {
        bs->serialising_in_flight--;
    }
    bs->tracked_requests = g_list_remove_link(bs->tracked_requests, &req->link);
    qemu_co_queue_restart_all(&req->wait_queue);
}

static bool tracked_request_overlaps(BdrvTrackedRequest *req,
                                     int64_t offset, int64_t bytes)
{
    return offset < req->overlap_offset + req->overlap_bytes &&
           req->overlap_offset < offset + bytes;
}

/* An in-flight request that self must wait for, or NULL. */
static BdrvTrackedRequest *find_conflicting_request(BdrvTrackedRequest *self)
{
    GList *l;

    for (l = self->bs->tracked_requests; l; l = l->next) {
        BdrvTrackedRequest *req = l->data;

        if (req == self || (!req->serialising && !self->serialising)) {
            continue;
        }
        if (!tracked_request_overlaps(req, self->overlap_offset,
                                      self->overlap_bytes)) {
            continue;
        }
        /* A request that already waits for us must not be waited for */
        if (req->waiting_for == self) {
            continue;
        }
        return req;
    }
    return NULL;
}

/* Wait until no conflicting request is in flight; -EBUSY with NO_WAIT. */
static int coroutine_fn wait_serialising_requests(BdrvTrackedRequest *self,
                                                  BdrvRequestFlags flags)
{
    BdrvTrackedRequest *req;

    if (!self->bs->serialising_in_flight) {
        return 0;
    }
    while ((req = find_conflicting_request(self))) {
        if (flags & BDRV_REQ_NO_WAIT) {
            return -EBUSY;
        }
        trace_bdrv_wait_serialising(self->bs, self->offset, self->bytes,
                                    req->offset, req->bytes);
        self->waiting_for = req;
        qemu_co_queue_wait(&req->wait_queue, NULL);
        self->waiting_for = NULL;
    }
    return 0;
}

static void tracked_request_set_serialising(BdrvTrackedRequest *req,
                                            uint64_t align)
{
    int64_t start = QEMU_ALIGN_DOWN(req->offset, align);
    int64_t end = QEMU_ALIGN_UP(req->offset + req->bytes, align);
    int64_t old_end = req->overlap_offset + req->overlap_bytes;

    if (!req->serialising) {
        req->bs->serialising_in_flight++;
        req->serialising = true;
    }
    start = MIN(start, req->overlap_offset);
    end = MAX(end, old_end);
    req->overlap_offset = start;
    req->overlap_bytes = end - start;
}

bool bdrv_make_request_serialising(BdrvTrackedRequest *req, uint64_t align)
{
    BdrvTrackedRequest *conflict;
    bool waited = false;

    tracked_request_set_serialising(req, align);
    while ((conflict = find_conflicting_request(req))) {
        req->waiting_for = conflict;
        qemu_co_queue_wait(&conflict->wait_queue, NULL);
        req->waiting_for = NULL;
        waited = true;
    }
    return waited;
}

static int coroutine_fn bdrv_serialise(BdrvTrackedRequest *req, uint64_t align,
                                       BdrvRequestFlags flags)
{
    if (flags & BDRV_REQ_SERIALISING) {
        tracked_request_set_serialising(req, align);
    }
    return wait_serialising_requests(req, flags);
}

/* ---- driver calls (aligned, within max_transfer) ---- */

static int64_t bdrv_max_transfer(BlockDriverState *bs, uint64_t align)
{
    int64_t max = MIN_NON_ZERO(bs->bl.max_transfer, BDRV_REQUEST_MAX_BYTES);

    return MAX(QEMU_ALIGN_DOWN(max, align), (int64_t)align);
}

/* A driver's bdrv_co_preadv or bdrv_co_pwritev */
typedef int coroutine_fn BdrvDriverRwFunc(BlockDriverState *bs, int64_t offset,
                                          int64_t bytes, QEMUIOVector *qiov,
                                          BdrvRequestFlags flags);

/*
 * fn on qiov[qiov_offset, +bytes): the caller's vector as is when it is
 * exactly that, else a slice of it.  -ENOTSUP without fn.
 */
static int coroutine_fn bdrv_driver_rw(BlockDriverState *bs,
                                       BdrvDriverRwFunc *fn, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       size_t qiov_offset,
                                       BdrvRequestFlags flags)
{
    QEMUIOVector local;
    int ret;

    if (!fn) {
        return -ENOTSUP;
    }
    if (qiov_offset == 0 && qiov->size == (uint64_t)bytes) {
        return fn(bs, offset, bytes, qiov, flags);
    }
    qemu_iovec_init_slice(&local, qiov, qiov_offset, bytes);
    ret = fn(bs, offset, bytes, &local, flags);
    qemu_iovec_destroy(&local);
    return ret;
}

static int coroutine_fn bdrv_driver_preadv(BlockDriverState *bs, int64_t offset,
                                           int64_t bytes, QEMUIOVector *qiov,
                                           size_t qiov_offset,
                                           BdrvRequestFlags flags)
{
    return bdrv_driver_rw(bs, bs->drv->bdrv_co_preadv, offset, bytes, qiov,
                          qiov_offset, flags);
}

static int coroutine_fn bdrv_driver_pwritev(BlockDriverState *bs, int64_t offset,
                                            int64_t bytes, QEMUIOVector *qiov,
                                            size_t qiov_offset,
                                            BdrvRequestFlags flags)
{
    return bdrv_driver_rw(bs, bs->drv->bdrv_co_pwritev, offset, bytes, qiov,
                          qiov_offset, flags & bs->supported_write_flags);
}

/* ---- reads ---- */

/* [offset, offset + bytes) aligned; zeroes past the end of the node. */
static int coroutine_fn bdrv_aligned_preadv(BdrvChild *child,
                                            BdrvTrackedRequest *req,
                                            int64_t offset, int64_t bytes,
                                            uint64_t align, QEMUIOVector *qiov,
                                            size_t qiov_offset,
                                            BdrvRequestFlags flags)
{
    BlockDriverState *bs = child->bs;
    int64_t total, max_bytes, max_transfer, done = 0;
    BdrvRequestFlags drv_flags = flags & ~(BDRV_REQ_SERIALISING |
                                           BDRV_REQ_NO_WAIT |
                                           BDRV_REQ_COPY_ON_READ |
                                           BDRV_REQ_PREFETCH);
    int ret;

    ret = bdrv_serialise(req, align, flags);
    if (ret < 0) {
        return ret;
    }
    total = bdrv_getlength(bs);
    if (total < 0) {
        return total;
    }
    max_bytes = QEMU_ALIGN_UP(MAX(0, total - offset), align);
    max_transfer = bdrv_max_transfer(bs, align);
    while (done < bytes) {
        int64_t num = bytes - done;

        if (done >= max_bytes) {
            /* Past the end: reads return zeroes */
            qemu_iovec_memset(qiov, qiov_offset + done, 0, num);
            break;
        }
        num = MIN(MIN(num, max_bytes - done), max_transfer);
        ret = bdrv_driver_preadv(bs, offset + done, num, qiov,
                                 qiov_offset + done, drv_flags);
        if (ret < 0) {
            return ret;
        }
        done += num;
    }
    return 0;
}

/*
 * Padding of an unaligned request to whole blocks: buf holds the head
 * block at [0, align) and the tail block at [align, 2 * align); local is
 * head padding + the caller's bytes + tail padding.
 */
typedef struct BdrvPad {
    uint8_t *buf;
    int64_t head;           /* padding bytes before the request */
    int64_t tail;           /* padding bytes after it */
    int64_t offset;         /* the padded range */
    int64_t bytes;
    bool single_block;      /* head and tail are the same block */
    QEMUIOVector local;
} BdrvPad;

static bool bdrv_pad_init(BlockDriverState *bs, int64_t offset, int64_t bytes,
                          uint64_t align, BdrvPad *pad)
{
    size_t mem_align = MAX(bs->bl.min_mem_alignment, (size_t)getpagesize());

    pad->head = offset % align;
    pad->tail = (align - (offset + bytes) % align) % align;
    pad->offset = offset - pad->head;
    pad->bytes = pad->head + bytes + pad->tail;
    pad->single_block = pad->bytes == (int64_t)align;
    pad->buf = qemu_try_memalign(mem_align, 2 * align);
    return pad->buf != NULL;
}

/* local = head padding + qiov[qiov_offset, +bytes) + tail padding */
static void bdrv_pad_build(BdrvPad *pad, uint64_t align, QEMUIOVector *qiov,
                           size_t qiov_offset, int64_t bytes)
{
    qemu_iovec_init(&pad->local, qiov->niov + 2);
    if (pad->head) {
        qemu_iovec_add(&pad->local, pad->buf, pad->head);
    }
    qemu_iovec_concat(&pad->local, qiov, qiov_offset, bytes);
    if (pad->tail) {
        qemu_iovec_add(&pad->local, pad->buf + 2 * align - pad->tail,
                       pad->tail);
    }
}

static void bdrv_pad_destroy(BdrvPad *pad)
{
    if (pad->local.iov) {
        qemu_iovec_destroy(&pad->local);
    }
    qemu_vfree(pad->buf);
}

static int coroutine_fn bdrv_padded_preadv(BdrvChild *child,
                                           BdrvTrackedRequest *req,
                                           int64_t offset, int64_t bytes,
                                           uint64_t align, QEMUIOVector *qiov,
                                           BdrvRequestFlags flags)
{
    BdrvPad pad = { 0 };
    int ret;

    if (!bdrv_pad_init(child->bs, offset, bytes, align, &pad)) {
        return -ENOMEM;
    }
    if (pad.single_block) {
        QEMUIOVector blk;

        qemu_iovec_init_buf(&blk, pad.buf, align);
        ret = bdrv_aligned_preadv(child, req, pad.offset, align, align, &blk,
                                  0, flags);
        if (ret == 0) {
            qemu_iovec_from_buf(qiov, 0, pad.buf + pad.head, bytes);
        }
    } else {
        bdrv_pad_build(&pad, align, qiov, 0, bytes);
        ret = bdrv_aligned_preadv(child, req, pad.offset, pad.bytes, align,
                                  &pad.local, 0, flags);
    }
    bdrv_pad_destroy(&pad);
    return ret;
}

/* The path reads share with writes (see "requests" below) */
static int coroutine_fn bdrv_co_rw(BdrvChild *child, bool is_write,
                                   int64_t offset, int64_t bytes,
                                   QEMUIOVector *qiov, BdrvRequestFlags flags);

int coroutine_fn bdrv_co_preadv(BdrvChild *child, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    trace_bdrv_co_preadv_part(child->bs, offset, bytes, flags);
    return bdrv_co_rw(child, false, offset, bytes, qiov, flags);
}

int coroutine_fn bdrv_co_pread(BdrvChild *child, int64_t offset, int64_t bytes,
                               void *buf, BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, buf, bytes);
    return bdrv_co_preadv(child, offset, bytes, &qiov, flags);
}

/* ---- write zeroes ---- */

static int coroutine_fn bdrv_co_do_pwrite_zeroes(BlockDriverState *bs,
                                                 int64_t offset, int64_t bytes,
                                                 BdrvRequestFlags flags)
{
    const BlockDriver *drv = bs->drv;
    uint64_t align = MAX(bs->bl.pwrite_zeroes_alignment,
                         bs->bl.request_alignment);
    int64_t max_zeroes = MIN_NON_ZERO(bs->bl.max_pwrite_zeroes,
                                      BDRV_REQUEST_MAX_BYTES);
    int64_t max_transfer = bdrv_max_transfer(bs, bs->bl.request_alignment);
    int64_t head = offset % align;
    int64_t tail = (offset + bytes) % align;
    int64_t bounce_len = 0;
    uint8_t *bounce = NULL;
    bool need_flush = false;
    int ret = 0;

    max_zeroes = MAX(QEMU_ALIGN_DOWN(max_zeroes, align), (int64_t)align);
    /* The file system may turn zeroed data into a hole */
    bdrv_bsc_invalidate_range(bs, offset, bytes);
    if ((flags & BDRV_REQ_NO_FALLBACK) &&
        (!drv->bdrv_co_pwrite_zeroes ||
         !(bs->supported_zero_flags & BDRV_REQ_NO_FALLBACK))) {
        return -ENOTSUP;
    }
    while (bytes > 0 && ret == 0) {
        int64_t num = bytes;

        if (head) {
            /* Up to the next zero-alignment boundary first */
            num = MIN(bytes, (int64_t)align - head);
            head = 0;
        } else if (tail && num > (int64_t)align) {
            num -= tail;
        }
        num = MIN(num, max_zeroes);

        ret = -ENOTSUP;
        if (drv->bdrv_co_pwrite_zeroes) {
            ret = drv->bdrv_co_pwrite_zeroes(bs, offset, num,
                                             flags & bs->supported_zero_flags);
            if (ret != -ENOTSUP && (flags & BDRV_REQ_FUA) &&
                !(bs->supported_zero_flags & BDRV_REQ_FUA)) {
                need_flush = true;
            }
        }
        if (ret == -ENOTSUP && !(flags & BDRV_REQ_NO_FALLBACK)) {
            BdrvRequestFlags wflags = flags & BDRV_REQ_FUA;
            QEMUIOVector qiov;

            trace_bdrv_co_pwrite_zeroes_fallback(bs, offset, num);
            if ((wflags & BDRV_REQ_FUA) &&
                !(bs->supported_write_flags & BDRV_REQ_FUA)) {
                need_flush = true;
                wflags = 0;
            }
            num = MIN(num, MIN(max_transfer, MAX_ZERO_BOUNCE_BYTES));
            if (!bounce) {
                bounce_len = num;
                bounce = qemu_try_memalign(MAX(bs->bl.min_mem_alignment,
                                               (size_t)getpagesize()),
                                           bounce_len);
                if (!bounce) {
                    ret = -ENOMEM;
                    break;
                }
                memset(bounce, 0, bounce_len);
            }
            num = MIN(num, bounce_len);
            qemu_iovec_init_buf(&qiov, bounce, num);
            ret = bdrv_driver_pwritev(bs, offset, num, &qiov, 0, wflags);
        }
        offset += num;
        bytes -= num;
    }
    qemu_vfree(bounce);
    if (ret == 0 && need_flush) {
        bs->write_gen++;
        ret = bdrv_co_flush(bs);
    }
    return ret;
}

/* ---- writes ---- */

static void bdrv_write_done(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    bs->write_gen++;
    if (bs->total_bytes_hint >= 0 && offset + bytes > bs->total_bytes_hint) {
        bs->total_bytes_hint = -1;
    }
}

/* [offset, offset + bytes) aligned to align. */
static int coroutine_fn bdrv_aligned_pwritev(BdrvChild *child,
                                             BdrvTrackedRequest *req,
                                             int64_t offset, int64_t bytes,
                                             uint64_t align, QEMUIOVector *qiov,
                                             size_t qiov_offset,
                                             BdrvRequestFlags flags)
{
    BlockDriverState *bs = child->bs;
    const BlockDriver *drv = bs->drv;
    bool emulate_fua = false;
    int64_t max_transfer, done = 0;
    int ret;

    ret = bdrv_serialise(req, align, flags);
    if (ret < 0) {
        return ret;
    }
    flags &= ~(BDRV_REQ_SERIALISING | BDRV_REQ_NO_WAIT);

    if (!(flags & BDRV_REQ_ZERO_WRITE) &&
        bs->detect_zeroes != BLOCKDEV_DETECT_ZEROES_OPTIONS_OFF && qiov &&
        qemu_iovec_is_zero(qiov, qiov_offset, bytes)) {
        flags |= BDRV_REQ_ZERO_WRITE;
        if (bs->detect_zeroes == BLOCKDEV_DETECT_ZEROES_OPTIONS_UNMAP &&
            (bs->open_flags & BDRV_O_UNMAP)) {
            flags |= BDRV_REQ_MAY_UNMAP;
        }
    }

    if (flags & BDRV_REQ_ZERO_WRITE) {
        ret = bdrv_co_do_pwrite_zeroes(bs, offset, bytes, flags);
    } else if (flags & BDRV_REQ_WRITE_COMPRESSED) {
        if (!drv->bdrv_co_pwritev_compressed) {
            ret = -ENOTSUP;
        } else {
            QEMUIOVector local;

            qemu_iovec_init_slice(&local, qiov, qiov_offset, bytes);
            ret = drv->bdrv_co_pwritev_compressed(bs, offset, bytes, &local);
            qemu_iovec_destroy(&local);
        }
    } else {
        if ((flags & BDRV_REQ_FUA) &&
            !(bs->supported_write_flags & BDRV_REQ_FUA)) {
            emulate_fua = true;
            flags &= ~BDRV_REQ_FUA;
        }
        max_transfer = bdrv_max_transfer(bs, align);
        while (done < bytes && ret == 0) {
            int64_t num = MIN(bytes - done, max_transfer);

            ret = bdrv_driver_pwritev(bs, offset + done, num, qiov,
                                      qiov_offset + done, flags);
            done += num;
        }
    }
    if (ret == 0) {
        bdrv_write_done(bs, offset, bytes);
        if (emulate_fua) {
            ret = bdrv_co_flush(bs);
        }
    }
    return ret;
}

/* Read-modify-write of an unaligned write (req is serialising). */
static int coroutine_fn bdrv_rmw_pwritev(BdrvChild *child,
                                         BdrvTrackedRequest *req,
                                         int64_t offset, int64_t bytes,
                                         uint64_t align, QEMUIOVector *qiov,
                                         BdrvRequestFlags flags)
{
    BdrvPad pad = { 0 };
    QEMUIOVector blk;
    int ret;

    if (!bdrv_pad_init(child->bs, offset, bytes, align, &pad)) {
        return -ENOMEM;
    }
    trace_bdrv_co_pwritev_rmw(child->bs, offset, bytes, pad.offset, pad.bytes);
    if (pad.head || pad.single_block) {
        qemu_iovec_init_buf(&blk, pad.buf, align);
        ret = bdrv_aligned_preadv(child, req, pad.offset, align, align, &blk,
                                  0, 0);
        if (ret < 0) {
            goto out;
        }
    }
    if (pad.single_block) {
        if (qiov) {
            qemu_iovec_to_buf(qiov, 0, pad.buf + pad.head, bytes);
        } else {
            memset(pad.buf + pad.head, 0, bytes);
        }
        qemu_iovec_init_buf(&blk, pad.buf, align);
        ret = bdrv_aligned_pwritev(child, req, pad.offset, align, align, &blk,
                                   0, flags & ~BDRV_REQ_ZERO_WRITE);
        goto out;
    }
    if (pad.tail) {
        qemu_iovec_init_buf(&blk, pad.buf + align, align);
        ret = bdrv_aligned_preadv(child, req, pad.offset + pad.bytes - align,
                                  align, align, &blk, 0, 0);
        if (ret < 0) {
            goto out;
        }
    }
    if (qiov) {
        bdrv_pad_build(&pad, align, qiov, 0, bytes);
        ret = bdrv_aligned_pwritev(child, req, pad.offset, pad.bytes, align,
                                   &pad.local, 0, flags);
        goto out;
    }

    /* Zero write: the partial blocks by RMW, the middle as write-zeroes */
    if (pad.head) {
        memset(pad.buf + pad.head, 0, align - pad.head);
        qemu_iovec_init_buf(&blk, pad.buf, align);
        ret = bdrv_aligned_pwritev(child, req, pad.offset, align, align, &blk,
                                   0, flags & ~BDRV_REQ_ZERO_WRITE);
        if (ret < 0) {
            goto out;
        }
    }
    if (pad.tail) {
        memset(pad.buf + align, 0, align - pad.tail);
        qemu_iovec_init_buf(&blk, pad.buf + align, align);
        ret = bdrv_aligned_pwritev(child, req, pad.offset + pad.bytes - align,
                                   align, align, &blk, 0,
                                   flags & ~BDRV_REQ_ZERO_WRITE);
        if (ret < 0) {
            goto out;
        }
    }
    {
        int64_t mid_start = QEMU_ALIGN_UP(offset, align);
        int64_t mid_end = QEMU_ALIGN_DOWN(offset + bytes, align);

        ret = 0;
        if (mid_end > mid_start) {
            ret = bdrv_aligned_pwritev(child, req, mid_start,
                                       mid_end - mid_start, align, NULL, 0,
                                       flags);
        }
    }
out:
    bdrv_pad_destroy(&pad);
    return ret;
}

/* An unaligned write: read-modify-write, serialising the padding blocks. */
static int coroutine_fn bdrv_unaligned_pwritev(BdrvChild *child,
                                               BdrvTrackedRequest *req,
                                               int64_t offset, int64_t bytes,
                                               uint64_t align,
                                               QEMUIOVector *qiov,
                                               BdrvRequestFlags flags)
{
    int ret = 0;

    /* Nobody may change the padding blocks while we rewrite them */
    if (flags & BDRV_REQ_NO_WAIT) {
        tracked_request_set_serialising(req, align);
        ret = wait_serialising_requests(req, flags);
    } else {
        bdrv_make_request_serialising(req, align);
    }
    if (ret < 0) {
        return ret;
    }
    return bdrv_rmw_pwritev(child, req, offset, bytes, align, qiov,
                            flags & ~BDRV_REQ_SERIALISING);
}

/* ---- requests: reads and writes ---- */

/*
 * The checks that open bdrv_co_preadv() and bdrv_co_pwritev(), in QEMU's
 * order: a node without driver, a write to a read-only node, a bad range,
 * a missing buffer (allowed for a prefetch hint, NBD_CMD_CACHE, which then
 * does nothing, and for a zero write).  Returns -errno to fail the
 * request, 0 when it is complete already (nothing to transfer), 1 to go on.
 */
static int bdrv_check_rw_request(BlockDriverState *bs, bool is_write,
                                 int64_t offset, int64_t bytes,
                                 QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    int ret;

    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (is_write && !bdrv_is_writable(bs)) {   /* read-only or inactive */
        return -EPERM;
    }
    ret = bdrv_check_request32(offset, bytes, qiov);
    if (ret < 0) {
        return ret;
    }
    if (!qiov) {
        if (!(flags & (is_write ? BDRV_REQ_ZERO_WRITE : BDRV_REQ_PREFETCH))) {
            return -EINVAL;
        }
        if (!is_write) {
            return 0;
        }
    }
    return bytes > 0;
}

/*
 * The request path of reads and writes after bdrv_check_rw_request(): the
 * node counts the request in flight and tracks its range throughout; an
 * aligned range goes down as is, an unaligned one is padded (read) or
 * read-modify-written (write).  A write marks the dirty bitmaps once, at
 * its end, even on failure (part may be written), as QEMU.
 */
static int coroutine_fn bdrv_co_rw(BdrvChild *child, bool is_write,
                                   int64_t offset, int64_t bytes,
                                   QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    BlockDriverState *bs = child->bs;
    BdrvTrackedRequest req;
    uint64_t align;
    bool aligned;
    int ret;

    ret = bdrv_check_rw_request(bs, is_write, offset, bytes, qiov, flags);
    if (ret <= 0) {
        return ret;
    }
    align = bs->bl.request_alignment;
    bdrv_inc_in_flight(bs);
    tracked_request_begin(&req, bs, offset, bytes,
                          is_write ? BDRV_TRACKED_WRITE : BDRV_TRACKED_READ);
    aligned = QEMU_IS_ALIGNED(offset, align) && QEMU_IS_ALIGNED(bytes, align);
    if (is_write && aligned) {
        ret = bdrv_aligned_pwritev(child, &req, offset, bytes, align, qiov, 0,
                                   flags);
    } else if (is_write) {
        ret = bdrv_unaligned_pwritev(child, &req, offset, bytes, align, qiov,
                                     flags);
    } else if (aligned) {
        ret = bdrv_aligned_preadv(child, &req, offset, bytes, align, qiov, 0,
                                  flags);
    } else {
        ret = bdrv_padded_preadv(child, &req, offset, bytes, align, qiov,
                                 flags);
    }
    if (is_write) {
        bdrv_set_dirty(bs, offset, bytes);
    }
    tracked_request_end(&req);
    bdrv_dec_in_flight(bs);
    return ret;
}

int coroutine_fn bdrv_co_pwritev(BdrvChild *child, int64_t offset, int64_t bytes,
                                 QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    trace_bdrv_co_pwritev_part(child->bs, offset, bytes, flags);
    return bdrv_co_rw(child, true, offset, bytes, qiov, flags);
}

/* A read or write on a slice of qiov: [qiov_offset, +bytes) */
static int coroutine_fn bdrv_co_rw_part(BdrvChild *child, bool is_write,
                                        int64_t offset, int64_t bytes,
                                        QEMUIOVector *qiov, size_t qiov_offset,
                                        BdrvRequestFlags flags)
{
    QEMUIOVector slice;
    int ret;

    qemu_iovec_init_slice(&slice, qiov, qiov_offset, bytes);
    if (is_write) {
        ret = bdrv_co_pwritev(child, offset, bytes, &slice, flags);
    } else {
        ret = bdrv_co_preadv(child, offset, bytes, &slice, flags);
    }
    qemu_iovec_destroy(&slice);
    return ret;
}

int coroutine_fn bdrv_co_preadv_part(BdrvChild *child, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov,
                                     size_t qiov_offset, BdrvRequestFlags flags)
{
    return bdrv_co_rw_part(child, false, offset, bytes, qiov, qiov_offset,
                           flags);
}

int coroutine_fn bdrv_co_pwritev_part(BdrvChild *child, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      size_t qiov_offset, BdrvRequestFlags flags)
{
    return bdrv_co_rw_part(child, true, offset, bytes, qiov, qiov_offset,
                           flags);
}

int coroutine_fn bdrv_co_pwrite(BdrvChild *child, int64_t offset, int64_t bytes,
                                const void *buf, BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, (void *)buf, bytes);
    return bdrv_co_pwritev(child, offset, bytes, &qiov, flags);
}

int coroutine_fn bdrv_co_pwrite_zeroes(BdrvChild *child, int64_t offset,
                                       int64_t bytes, BdrvRequestFlags flags)
{
    trace_bdrv_co_pwrite_zeroes(child->bs, offset, bytes, flags);
    if (!(child->bs->open_flags & BDRV_O_UNMAP)) {
        flags &= ~BDRV_REQ_MAY_UNMAP;
    }
    return bdrv_co_pwritev(child, offset, bytes, NULL,
                           BDRV_REQ_ZERO_WRITE | flags);
}

/* ---- discard ---- */

int coroutine_fn bdrv_co_pdiscard(BdrvChild *child, int64_t offset,
                                  int64_t bytes)
{
    BlockDriverState *bs = child->bs;
    BdrvTrackedRequest req;
    int64_t align, max_pdiscard, end, total;
    int ret;

    trace_bdrv_co_pdiscard(bs, offset, bytes);
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    ret = bdrv_check_request(offset, bytes);
    if (ret < 0) {
        return ret;
    }
    if (!bdrv_is_writable(bs)) {
        return -EPERM;
    }
    /* discard=ignore, or a driver that cannot deallocate: nothing to do */
    if (!(bs->open_flags & BDRV_O_UNMAP) || !bs->drv->bdrv_co_pdiscard) {
        return 0;
    }
    total = bdrv_getlength(bs);
    if (total >= 0 && offset + bytes > total) {
        bytes = MAX(0, total - offset);
    }
    /* Dirty bitmaps see the whole request, head and tail included, as QEMU */
    bdrv_set_dirty(bs, offset, bytes);
    /* Discard is advisory: drop the unaligned head and tail */
    align = MAX(bs->bl.pdiscard_alignment, bs->bl.request_alignment);
    end = QEMU_ALIGN_DOWN(offset + bytes, align);
    offset = QEMU_ALIGN_UP(offset, align);
    if (end <= offset) {
        return 0;
    }
    bytes = end - offset;
    max_pdiscard = MIN_NON_ZERO(bs->bl.max_pdiscard, BDRV_REQUEST_MAX_BYTES);
    max_pdiscard = MAX(QEMU_ALIGN_DOWN(max_pdiscard, align), align);

    bdrv_inc_in_flight(bs);
    bdrv_bsc_invalidate_range(bs, offset, bytes);
    tracked_request_begin(&req, bs, offset, bytes, BDRV_TRACKED_DISCARD);
    ret = wait_serialising_requests(&req, 0);
    while (ret == 0 && bytes > 0) {
        int64_t num = MIN(bytes, max_pdiscard);

        ret = bs->drv->bdrv_co_pdiscard(bs, offset, num);
        if (ret == -ENOTSUP) {
            ret = 0;
        }
        offset += num;
        bytes -= num;
    }
    if (ret == 0) {
        bs->write_gen++;
    }
    tracked_request_end(&req);
    bdrv_dec_in_flight(bs);
    return ret;
}

/* ---- flush ---- */

int coroutine_fn bdrv_co_flush(BlockDriverState *bs)
{
    const BlockDriver *drv = bs->drv;
    uint64_t current_gen;
    GList *l;
    int ret = 0;

    if (!drv || !bdrv_is_writable(bs)) {
        return 0;
    }
    bdrv_inc_in_flight(bs);
    current_gen = bs->write_gen;
    /* One flush at a time: a later one covers what the earlier missed */
    while (bs->active_flush_req) {
        qemu_co_queue_wait(&bs->flush_queue, NULL);
    }
    bs->active_flush_req = true;
    if (bs->flushed_gen == current_gen) {
        goto out;
    }
    trace_bdrv_co_flush(bs, current_gen);
    if (drv->bdrv_co_flush) {
        ret = drv->bdrv_co_flush(bs);
        goto done;
    }
    if (drv->bdrv_co_flush_to_os) {
        ret = drv->bdrv_co_flush_to_os(bs);
        if (ret < 0) {
            goto done;
        }
    }
    if (!(bs->open_flags & BDRV_O_NO_FLUSH) && drv->bdrv_co_flush_to_disk) {
        ret = drv->bdrv_co_flush_to_disk(bs);
        if (ret < 0) {
            goto done;
        }
    }
    for (l = bs->children; l; l = l->next) {
        BdrvChild *c = l->data;

        if (c->perm & (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED)) {
            int r = bdrv_co_flush(c->bs);

            if (r < 0 && ret == 0) {
                ret = r;
            }
        }
    }
done:
    if (ret == 0) {
        bs->flushed_gen = current_gen;
    }
out:
    bs->active_flush_req = false;
    qemu_co_queue_next(&bs->flush_queue);
    bdrv_dec_in_flight(bs);
    return ret;
}

/* ---- block status ---- */

/*
 * The driver's answer for an aligned range, through the node's block-status
 * cache where the driver has one: a query inside the last data extent is
 * answered from it, and a data answer (which such a driver may extend past
 * the range asked for) is remembered.
 */
static int coroutine_fn
bdrv_co_driver_block_status(BlockDriverState *bs, bool want_zero,
                            int64_t offset, int64_t bytes, int64_t *pnum,
                            int64_t *map, BlockDriverState **file)
{
    const BlockDriver *drv = bs->drv;
    int ret;

    if (!drv->has_block_status_cache || !want_zero) {
        return drv->bdrv_co_block_status(bs, want_zero, offset, bytes, pnum,
                                         map, file);
    }
    if (bdrv_bsc_is_data(bs, offset, pnum)) {
        *map = offset;
        *file = bs;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    }
    ret = drv->bdrv_co_block_status(bs, want_zero, offset, bytes, pnum, map,
                                    file);
    if (ret >= 0 && (ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO)) ==
        BDRV_BLOCK_DATA && (ret & BDRV_BLOCK_OFFSET_VALID) &&
        *file == bs && *map == offset) {
        bdrv_bsc_fill(bs, offset, *pnum);
    }
    return ret;
}

int coroutine_fn bdrv_co_block_status(BlockDriverState *bs, bool want_zero,
                                      int64_t offset, int64_t bytes,
                                      int64_t *pnum, int64_t *map,
                                      BlockDriverState **file)
{
    const BlockDriver *drv = bs->drv;
    int64_t total, aligned_offset, aligned_bytes, local_map = 0;
    BlockDriverState *local_file = NULL;
    uint32_t align;
    int ret;

    *pnum = 0;
    if (!drv) {
        return -ENOMEDIUM;
    }
    ret = bdrv_check_request(offset, bytes);
    if (ret < 0) {
        return ret;
    }
    total = bdrv_getlength(bs);
    if (total < 0) {
        return total;
    }
    if (offset >= total) {
        return BDRV_BLOCK_EOF;
    }
    if (!bytes) {
        return 0;
    }
    bytes = MIN(bytes, total - offset);

    bdrv_inc_in_flight(bs);
    if (!drv->bdrv_co_block_status) {
        *pnum = bytes;
        if (drv->is_filter && bs->file) {
            ret = BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
            local_map = offset;
            local_file = bs->file->bs;
        } else {
            ret = BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED;
            if (!drv->is_format) {
                ret |= BDRV_BLOCK_OFFSET_VALID;
                local_map = offset;
                local_file = bs;
            }
        }
        goto early_out;
    }

    align = bs->bl.request_alignment;
    aligned_offset = QEMU_ALIGN_DOWN(offset, align);
    aligned_bytes = QEMU_ALIGN_UP(offset + bytes, align) - aligned_offset;
    ret = bdrv_co_driver_block_status(bs, want_zero, aligned_offset,
                                      aligned_bytes, pnum, &local_map,
                                      &local_file);
    if (ret < 0) {
        *pnum = 0;
        goto out;
    }
    /* Back to the caller's unaligned range */
    assert(*pnum && QEMU_IS_ALIGNED(*pnum, align) &&
           aligned_offset + *pnum > offset);
    *pnum -= offset - aligned_offset;
    if (*pnum > bytes) {
        *pnum = bytes;
    }
    if (ret & BDRV_BLOCK_OFFSET_VALID) {
        local_map += offset - aligned_offset;
    }

    if (ret & BDRV_BLOCK_RAW) {
        assert(ret & BDRV_BLOCK_OFFSET_VALID && local_file);
        ret = bdrv_co_block_status(local_file, want_zero, local_map, *pnum,
                                   pnum, &local_map, &local_file);
        goto out;
    }

    if (ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO)) {
        ret |= BDRV_BLOCK_ALLOCATED;
    } else if (drv->supports_backing) {
        BlockDriverState *cow = bdrv_cow_bs(bs);

        if (!cow) {
            ret |= BDRV_BLOCK_ZERO;
        } else if (want_zero) {
            int64_t size2 = bdrv_getlength(cow);

            if (size2 >= 0 && offset >= size2) {
                ret |= BDRV_BLOCK_ZERO;
            }
        }
    }

    if (want_zero && (ret & BDRV_BLOCK_RECURSE) && local_file &&
        local_file != bs && (ret & BDRV_BLOCK_DATA) &&
        !(ret & BDRV_BLOCK_ZERO) && (ret & BDRV_BLOCK_OFFSET_VALID)) {
        int64_t file_pnum;
        int ret2;

        ret2 = bdrv_co_block_status(local_file, want_zero, local_map, *pnum,
                                    &file_pnum, NULL, NULL);
        if (ret2 >= 0) {
            if ((ret2 & BDRV_BLOCK_EOF) &&
                (!file_pnum || (ret2 & BDRV_BLOCK_ZERO))) {
                /* Beyond the end of the file everything reads as zero */
                ret |= BDRV_BLOCK_ZERO;
            } else {
                *pnum = file_pnum;
                ret |= (ret2 & BDRV_BLOCK_ZERO);
            }
        }
    }

early_out:
    ret &= ~BDRV_BLOCK_RECURSE;
out:
    bdrv_dec_in_flight(bs);
    if (ret >= 0 && offset + *pnum == total) {
        ret |= BDRV_BLOCK_EOF;
    }
    if (ret >= 0 && (ret & BDRV_BLOCK_OFFSET_VALID)) {
        if (map) {
            *map = local_map;
        }
        if (file) {
            *file = local_file;
        }
    }
    trace_bdrv_co_block_status(bs, offset, bytes, ret, *pnum);
    return ret;
}

static int coroutine_fn
bdrv_co_common_block_status_above(BlockDriverState *bs, BlockDriverState *base,
                                  bool include_base, bool want_zero,
                                  int64_t offset, int64_t bytes, int64_t *pnum,
                                  int64_t *map, BlockDriverState **file,
                                  int *depth)
{
    BlockDriverState *p;
    int64_t eof = 0;
    int dummy, ret;

    if (!depth) {
        depth = &dummy;
    }
    *depth = 0;
    if (!include_base && bs == base) {
        *pnum = bytes;
        return 0;
    }
    ret = bdrv_co_block_status(bs, want_zero, offset, bytes, pnum, map, file);
    ++*depth;
    if (ret < 0 || *pnum == 0 || (ret & BDRV_BLOCK_ALLOCATED) || bs == base) {
        return ret;
    }
    if (ret & BDRV_BLOCK_EOF) {
        eof = offset + *pnum;
    }
    bytes = *pnum;
    for (p = bdrv_filter_or_cow_bs(bs); p && (include_base || p != base);
         p = bdrv_filter_or_cow_bs(p)) {
        ret = bdrv_co_block_status(p, want_zero, offset, bytes, pnum, map,
                                   file);
        ++*depth;
        if (ret < 0) {
            return ret;
        }
        if (*pnum == 0) {
            /* Shorter than the layer above: synthesised zeroes are ours */
            *pnum = bytes;
            if (file) {
                *file = p;
            }
            ret = BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED;
            break;
        }
        if (ret & BDRV_BLOCK_ALLOCATED) {
            ret &= ~BDRV_BLOCK_EOF;
            break;
        }
        if (p == base) {
            break;
        }
        bytes = MIN(bytes, *pnum);
    }
    if (offset + *pnum == eof) {
        ret |= BDRV_BLOCK_EOF;
    }
    return ret;
}

int coroutine_fn bdrv_co_block_status_above(BlockDriverState *bs,
                                            BlockDriverState *base,
                                            bool want_zero, int64_t offset,
                                            int64_t bytes, int64_t *pnum,
                                            int64_t *map,
                                            BlockDriverState **file,
                                            int *depth)
{
    return bdrv_co_common_block_status_above(bs, base, false, want_zero,
                                             offset, bytes, pnum, map, file,
                                             depth);
}

int coroutine_fn bdrv_co_is_allocated(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, int64_t *pnum)
{
    int64_t dummy;
    int ret;

    ret = bdrv_co_block_status(bs, false, offset, bytes, pnum ? pnum : &dummy,
                               NULL, NULL);
    if (ret < 0) {
        return ret;
    }
    return !!(ret & BDRV_BLOCK_ALLOCATED);
}

int coroutine_fn bdrv_co_is_allocated_above(BlockDriverState *bs,
                                            BlockDriverState *base,
                                            bool include_base, int64_t offset,
                                            int64_t bytes, int64_t *pnum)
{
    int depth, ret;
    int64_t dummy;

    ret = bdrv_co_common_block_status_above(bs, base, include_base, false,
                                            offset, bytes, pnum ? pnum : &dummy,
                                            NULL, NULL, &depth);
    if (ret < 0) {
        return ret;
    }
    return (ret & BDRV_BLOCK_ALLOCATED) ? depth : 0;
}

/* ---- copy_range ---- */

static int coroutine_fn bdrv_co_copy_range_internal(BdrvChild *src,
                                                    int64_t src_offset,
                                                    BdrvChild *dst,
                                                    int64_t dst_offset,
                                                    int64_t bytes,
                                                    BdrvRequestFlags read_flags,
                                                    BdrvRequestFlags write_flags,
                                                    bool recurse_src)
{
    BdrvTrackedRequest req;
    int ret;

    if (!dst || !dst->bs->drv) {
        return -ENOMEDIUM;
    }
    ret = bdrv_check_request32(dst_offset, bytes, NULL);
    if (ret < 0) {
        return ret;
    }
    if (write_flags & BDRV_REQ_ZERO_WRITE) {
        return bdrv_co_pwrite_zeroes(dst, dst_offset, bytes, write_flags);
    }
    if (!src || !src->bs->drv) {
        return -ENOMEDIUM;
    }
    ret = bdrv_check_request32(src_offset, bytes, NULL);
    if (ret < 0) {
        return ret;
    }
    if (!src->bs->drv->bdrv_co_copy_range_from ||
        !dst->bs->drv->bdrv_co_copy_range_to) {
        return -ENOTSUP;
    }
    if (recurse_src) {
        bdrv_inc_in_flight(src->bs);
        tracked_request_begin(&req, src->bs, src_offset, bytes,
                              BDRV_TRACKED_READ);
        ret = wait_serialising_requests(&req, read_flags);
        if (ret == 0) {
            ret = src->bs->drv->bdrv_co_copy_range_from(src->bs, src,
                                                        src_offset, dst,
                                                        dst_offset, bytes,
                                                        read_flags,
                                                        write_flags);
        }
        tracked_request_end(&req);
        bdrv_dec_in_flight(src->bs);
    } else {
        if (!bdrv_is_writable(dst->bs)) {
            return -EPERM;
        }
        bdrv_inc_in_flight(dst->bs);
        tracked_request_begin(&req, dst->bs, dst_offset, bytes,
                              BDRV_TRACKED_WRITE);
        ret = wait_serialising_requests(&req, write_flags);
        if (ret == 0) {
            ret = dst->bs->drv->bdrv_co_copy_range_to(dst->bs, src,
                                                      src_offset, dst,
                                                      dst_offset, bytes,
                                                      read_flags,
                                                      write_flags);
        }
        if (ret == 0) {
            bdrv_write_done(dst->bs, dst_offset, bytes);
        }
        bdrv_set_dirty(dst->bs, dst_offset, bytes);
        tracked_request_end(&req);
        bdrv_dec_in_flight(dst->bs);
    }
    return ret;
}

int coroutine_fn bdrv_co_copy_range_from(BdrvChild *src, int64_t src_offset,
                                         BdrvChild *dst, int64_t dst_offset,
                                         int64_t bytes,
                                         BdrvRequestFlags read_flags,
                                         BdrvRequestFlags write_flags)
{
    return bdrv_co_copy_range_internal(src, src_offset, dst, dst_offset, bytes,
                                       read_flags, write_flags, true);
}

int coroutine_fn bdrv_co_copy_range_to(BdrvChild *src, int64_t src_offset,
                                       BdrvChild *dst, int64_t dst_offset,
                                       int64_t bytes,
                                       BdrvRequestFlags read_flags,
                                       BdrvRequestFlags write_flags)
{
    return bdrv_co_copy_range_internal(src, src_offset, dst, dst_offset, bytes,
                                       read_flags, write_flags, false);
}

int coroutine_fn bdrv_co_copy_range(BdrvChild *src, int64_t src_offset,
                                    BdrvChild *dst, int64_t dst_offset,
                                    int64_t bytes, BdrvRequestFlags read_flags,
                                    BdrvRequestFlags write_flags)
{
    trace_bdrv_co_copy_range(src ? src->bs : NULL, src_offset,
                             dst ? dst->bs : NULL, dst_offset, bytes);
    return bdrv_co_copy_range_from(src, src_offset, dst, dst_offset, bytes,
                                   read_flags, write_flags);
}

/* ---- truncate ---- */

static void bdrv_parents_resize(BlockDriverState *bs)
{
    GList *l;

    for (l = bs->parents; l; l = l->next) {
        BdrvChild *c = l->data;

        if (c->klass->resize) {
            c->klass->resize(c);
        }
    }
}

int coroutine_fn bdrv_co_truncate(BdrvChild *child, int64_t offset, bool exact,
                                  PreallocMode prealloc, BdrvRequestFlags flags,
                                  Error **errp)
{
    BlockDriverState *bs = child->bs;
    const BlockDriver *drv = bs->drv;
    BdrvTrackedRequest req;
    int64_t old_size;
    int ret;

    if (!drv) {
        error_setg(errp, "No medium inserted");
        return -ENOMEDIUM;
    }
    if (offset < 0) {
        error_setg(errp, "Image size cannot be negative");
        return -EINVAL;
    }
    if (offset > BDRV_MAX_LENGTH) {
        error_setg(errp, "Image size too large");
        return -EFBIG;
    }
    if (bdrv_is_read_only(bs)) {
        error_setg(errp, "Image is read-only");
        return -EACCES;
    }
    if (bdrv_is_inactive(bs)) {
        error_setg(errp, "Node '%s' is inactive", bdrv_get_node_name(bs));
        return -EPERM;
    }
    old_size = bdrv_getlength(bs);
    if (old_size < 0) {
        error_setg_errno(errp, -old_size, "Failed to get old image size");
        return old_size;
    }

    bdrv_inc_in_flight(bs);
    /* Everything past the smaller size changes: serialise it */
    tracked_request_begin(&req, bs, MIN(old_size, offset),
                          BDRV_MAX_LENGTH - MIN(old_size, offset),
                          BDRV_TRACKED_TRUNCATE);
    bdrv_make_request_serialising(&req, 1);
    bdrv_bsc_invalidate_range(bs, 0, BDRV_MAX_LENGTH);

    if (drv->bdrv_co_truncate) {
        ret = drv->bdrv_co_truncate(bs, offset, exact, prealloc,
                                    flags & bs->supported_truncate_flags, errp);
    } else if (drv->is_filter && bs->file) {
        ret = bdrv_co_truncate(bs->file, offset, exact, prealloc, flags, errp);
    } else {
        error_setg(errp, "Image format driver does not support resize");
        ret = -ENOTSUP;
    }
    bs->total_bytes_hint = -1;
    if (ret == 0) {
        bs->write_gen++;
        bdrv_dirty_bitmap_truncate(bs, offset);
        bdrv_parents_resize(bs);
    }
    tracked_request_end(&req);
    bdrv_dec_in_flight(bs);
    return ret;
}

/* ---- draining ---- */

static void bdrv_parent_drained_begin(BlockDriverState *bs)
{
    GList *l;

    for (l = bs->parents; l; l = l->next) {
        BdrvChild *c = l->data;

        c->quiesced_parent++;
        if (c->klass->drained_begin) {
            c->klass->drained_begin(c);
        }
    }
}

static void bdrv_parent_drained_end(BlockDriverState *bs)
{
    GList *l, *next;

    for (l = bs->parents; l; l = next) {
        BdrvChild *c = l->data;

        next = l->next;
        if (c->quiesced_parent > 0) {
            c->quiesced_parent--;
            if (c->klass->drained_end) {
                c->klass->drained_end(c);
            }
        }
    }
}

bool bdrv_drain_poll(BlockDriverState *bs)
{
    GList *l;

    if (bs->in_flight) {
        return true;
    }
    for (l = bs->parents; l; l = l->next) {
        BdrvChild *c = l->data;

        if (c->klass->drained_poll && c->klass->drained_poll(c)) {
            return true;
        }
    }
    return false;
}

void bdrv_do_drained_begin_quiesce(BlockDriverState *bs)
{
    if (bs->quiesce_counter++ == 0) {
        bdrv_parent_drained_begin(bs);
        if (bs->drv && bs->drv->bdrv_drain_begin) {
            bs->drv->bdrv_drain_begin(bs);
        }
    }
}

void bdrv_do_drained_end_quiesce(BlockDriverState *bs)
{
    assert(bs->quiesce_counter > 0);
    if (--bs->quiesce_counter == 0) {
        if (bs->drv && bs->drv->bdrv_drain_end) {
            bs->drv->bdrv_drain_end(bs);
        }
        bdrv_parent_drained_end(bs);
    }
}

static void bdrv_poll_while_busy(BlockDriverState *bs)
{
    AioContext *ctx = qemu_get_aio_context();

    assert(!qemu_in_coroutine());
    drain_pollers++;
    AIO_POLL_WHILE(ctx, bdrv_drain_poll(bs));
    drain_pollers--;
}

void bdrv_drained_begin(BlockDriverState *bs)
{
    trace_bdrv_drained_begin(bs);
    bdrv_do_drained_begin_quiesce(bs);
    bdrv_poll_while_busy(bs);
}

void bdrv_drained_end(BlockDriverState *bs)
{
    trace_bdrv_drained_end(bs);
    bdrv_do_drained_end_quiesce(bs);
}

typedef struct BdrvCoDrainData {
    Coroutine *co;
    BlockDriverState *bs;
    bool begin;
} BdrvCoDrainData;

static void bdrv_co_drain_bh(void *opaque)
{
    BdrvCoDrainData *data = opaque;

    if (data->begin) {
        bdrv_drained_begin(data->bs);
    } else {
        bdrv_drained_end(data->bs);
    }
    aio_co_wake(data->co);
}

/* Drain from a coroutine: poll from a bottom half, outside of it. */
static void coroutine_fn bdrv_co_yield_to_drain(BlockDriverState *bs,
                                                bool begin)
{
    BdrvCoDrainData data = {
        .co = qemu_coroutine_self(),
        .bs = bs,
        .begin = begin,
    };

    /* The caller keeps bs alive (it may be closing it: no ref here) */
    aio_bh_schedule_oneshot(qemu_get_aio_context(), bdrv_co_drain_bh, &data);
    qemu_coroutine_yield();
}

void coroutine_fn bdrv_co_drained_begin(BlockDriverState *bs)
{
    if (!qemu_in_coroutine()) {
        bdrv_drained_begin(bs);
        return;
    }
    bdrv_co_yield_to_drain(bs, true);
}

void coroutine_fn bdrv_co_drained_end(BlockDriverState *bs)
{
    if (!qemu_in_coroutine()) {
        bdrv_drained_end(bs);
        return;
    }
    bdrv_co_yield_to_drain(bs, false);
}

static bool bdrv_drain_all_poll(void)
{
    BlockDriverState *bs = NULL;

    while ((bs = bdrv_next_all_states(bs))) {
        if (bdrv_drain_poll(bs)) {
            return true;
        }
    }
    return false;
}

void bdrv_drain_all_begin(void)
{
    BlockDriverState *bs = NULL;

    assert(!qemu_in_coroutine());
    while ((bs = bdrv_next_all_states(bs))) {
        bdrv_do_drained_begin_quiesce(bs);
    }
    drain_pollers++;
    AIO_POLL_WHILE(qemu_get_aio_context(), bdrv_drain_all_poll());
    drain_pollers--;
}

void bdrv_drain_all_end(void)
{
    BlockDriverState *bs = NULL;

    while ((bs = bdrv_next_all_states(bs))) {
        if (bs->quiesce_counter > 0) {
            bdrv_do_drained_end_quiesce(bs);
        }
    }
}

void bdrv_drain_all(void)
{
    bdrv_drain_all_begin();
    bdrv_drain_all_end();
}

/* ---- synchronous helpers ---- */

typedef struct BdrvFlushCo {
    BlockDriverState *bs;
    int ret;
    bool done;
} BdrvFlushCo;

static void coroutine_fn bdrv_flush_co_entry(void *opaque)
{
    BdrvFlushCo *f = opaque;

    f->ret = bdrv_co_flush(f->bs);
    f->done = true;
    aio_notify(qemu_get_aio_context());
}

int bdrv_flush(BlockDriverState *bs)
{
    BdrvFlushCo f = { .bs = bs, .done = false };

    if (qemu_in_coroutine()) {
        return bdrv_co_flush(bs);
    }
    qemu_coroutine_enter(qemu_coroutine_create(bdrv_flush_co_entry, &f));
    AIO_POLL_WHILE(qemu_get_aio_context(), !f.done);
    return f.ret;
}
