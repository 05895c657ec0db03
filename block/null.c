/*
 * null.c: the `null-co` and `null-aio` protocol drivers.
 *
 * A node of a given size (default 1 GiB) that discards writes; reads
 * return zeroes with read-zeroes=on and leave the buffer untouched
 * otherwise.  latency-ns delays every request.  null-co completes in the
 * request's coroutine, null-aio from a bottom half (or timer) of the event
 * loop, like an asynchronous device would.  Used for benchmarks and tests.
 */
#include "qemu/osdep.h"
#include "block/block_int.h"

#define NULL_DEFAULT_SIZE   (1 * GiB)

typedef struct BDRVNullState {
    int64_t length;
    int64_t latency_ns;
    bool read_zeroes;
    bool aio;
} BDRVNullState;

static int null_open_common(BlockDriverState *bs, BlockdevOptionsNull *o,
                            bool aio, const char *proto, Error **errp)
{
    BDRVNullState *s = bs->opaque;

    if (o->has_size && o->size < 0) {
        error_setg(errp, "size must not be negative");
        return -EINVAL;
    }
    if (o->has_latency_ns && o->latency_ns > INT64_MAX) {
        error_setg(errp, "latency-ns is invalid");
        return -EINVAL;
    }
    s->length = o->has_size ? o->size : NULL_DEFAULT_SIZE;
    s->latency_ns = o->has_latency_ns ? (int64_t)o->latency_ns : 0;
    s->read_zeroes = o->has_read_zeroes && o->read_zeroes;
    s->aio = aio;
    snprintf(bs->filename, sizeof(bs->filename), "%s://", proto);
    return 0;
}

static int null_co_open(BlockDriverState *bs, BlockdevOptions *options,
                        int flags, Error **errp)
{
    return null_open_common(bs, &options->u.null_co, false, "null-co", errp);
}

static int null_aio_open(BlockDriverState *bs, BlockdevOptions *options,
                         int flags, Error **errp)
{
    return null_open_common(bs, &options->u.null_aio, true, "null-aio", errp);
}

static void null_aio_wake(void *opaque)
{
    aio_co_wake(opaque);
}

/* Complete the request: after the latency, from the event loop for null-aio. */
static int coroutine_fn null_complete(BlockDriverState *bs)
{
    BDRVNullState *s = bs->opaque;

    if (s->latency_ns) {
        qemu_co_sleep_ns(s->latency_ns);
    } else if (s->aio) {
        aio_bh_schedule_oneshot(qemu_get_current_aio_context(), null_aio_wake,
                                qemu_coroutine_self());
        qemu_coroutine_yield();
    }
    return 0;
}

static int coroutine_fn null_co_preadv(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    BDRVNullState *s = bs->opaque;

    if (s->read_zeroes) {
        qemu_iovec_memset(qiov, 0, 0, bytes);
    }
    return null_complete(bs);
}

static int coroutine_fn null_co_pwritev(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes, QEMUIOVector *qiov,
                                        BdrvRequestFlags flags)
{
    return null_complete(bs);
}

static int coroutine_fn null_co_pwrite_zeroes(BlockDriverState *bs,
                                              int64_t offset, int64_t bytes,
                                              BdrvRequestFlags flags)
{
    return null_complete(bs);
}

static int coroutine_fn null_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                         int64_t bytes)
{
    return null_complete(bs);
}

static int coroutine_fn null_co_flush(BlockDriverState *bs)
{
    return null_complete(bs);
}

static int coroutine_fn null_co_block_status(BlockDriverState *bs,
                                             bool want_zero, int64_t offset,
                                             int64_t bytes, int64_t *pnum,
                                             int64_t *map,
                                             BlockDriverState **file)
{
    BDRVNullState *s = bs->opaque;
    int ret = BDRV_BLOCK_OFFSET_VALID;

    *pnum = bytes;
    *map = offset;
    *file = bs;
    if (s->read_zeroes) {
        ret |= BDRV_BLOCK_ZERO;
    }
    return ret;
}

static int coroutine_fn null_co_truncate(BlockDriverState *bs, int64_t offset,
                                         bool exact, PreallocMode prealloc,
                                         BdrvRequestFlags flags, Error **errp)
{
    BDRVNullState *s = bs->opaque;

    s->length = offset;
    return 0;
}

static int64_t null_getlength(BlockDriverState *bs)
{
    BDRVNullState *s = bs->opaque;

    return s->length;
}

static int64_t null_get_allocated_file_size(BlockDriverState *bs)
{
    return 0;
}

static const char *const null_strong_runtime_opts[] = {
    "size",
    "read-zeroes",
    "latency-ns",
    NULL
};

#define NULL_DRIVER_COMMON                                          \
    .instance_size = sizeof(BDRVNullState),                         \
    .bdrv_co_preadv = null_co_preadv,                               \
    .bdrv_co_pwritev = null_co_pwritev,                             \
    .bdrv_co_pwrite_zeroes = null_co_pwrite_zeroes,                 \
    .bdrv_co_pdiscard = null_co_pdiscard,                           \
    .bdrv_co_flush = null_co_flush,                                 \
    .bdrv_co_block_status = null_co_block_status,                   \
    .bdrv_co_truncate = null_co_truncate,                           \
    .bdrv_getlength = null_getlength,                               \
    .bdrv_get_allocated_file_size = null_get_allocated_file_size,   \
    .strong_runtime_opts = null_strong_runtime_opts,                \
    .supported_write_flags = BDRV_REQ_FUA,                          \
    .supported_zero_flags = BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP |     \
                            BDRV_REQ_NO_FALLBACK

BlockDriver bdrv_null_co = {
    .format_name = "null-co",
    .bdrv_open = null_co_open,
    NULL_DRIVER_COMMON,
};

BlockDriver bdrv_null_aio = {
    .format_name = "null-aio",
    .bdrv_open = null_aio_open,
    NULL_DRIVER_COMMON,
};
