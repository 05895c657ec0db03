/*
 * block-status-cache.c: remembers one extent that a protocol node reported
 * as data, so that repeated block-status queries inside it (a mirror or
 * backup walking a big file chunk by chunk, an NBD client mapping an
 * export) do not ask the driver again.
 *
 * Why: on tmpfs and some other file systems lseek(SEEK_HOLE) walks the
 * page cache from the offset to the next hole.  For a fully allocated
 * file that is the rest of the file, once per query: a 4 GiB mirror made
 * 4096 such walks and ran at a few dozen MB/s.  With the cache the file is
 * walked once per data extent.
 *
 * Only "data" is cached.  Writes can turn a hole into data but never data
 * into a hole, so only discard, write-zeroes and truncate invalidate the
 * extent.  A stale entry would say DATA for what is now a hole, which is
 * always a safe answer (the caller just reads zeroes); the cache never
 * claims ZERO.  QEMU keeps the same kind of cache (bdrv_bsc_*).
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "trace/trace-block.h"

bool bdrv_bsc_is_data(BlockDriverState *bs, int64_t offset, int64_t *pnum)
{
    BdrvBlockStatusCache *c = &bs->block_status_cache;

    if (!c->valid || offset < c->data_start || offset >= c->data_end) {
        return false;
    }
    *pnum = c->data_end - offset;
    return true;
}

void bdrv_bsc_fill(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    BdrvBlockStatusCache *c = &bs->block_status_cache;

    if (bytes <= 0) {
        return;
    }
    c->data_start = offset;
    c->data_end = offset + bytes;
    c->valid = true;
    trace_bdrv_bsc_fill(bs, offset, bytes);
}

void bdrv_bsc_invalidate_range(BlockDriverState *bs, int64_t offset,
                               int64_t bytes)
{
    BdrvBlockStatusCache *c = &bs->block_status_cache;

    if (c->valid && offset < c->data_end && offset + bytes > c->data_start) {
        c->valid = false;
        trace_bdrv_bsc_invalidate(bs, offset, bytes);
    }
}
