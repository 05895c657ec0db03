/*
 * snapshot-access.c: the snapshot-access filter driver: a read-only
 * point-in-time view of a copy-before-write node (its "file" child),
 * served through the copy-before-write snapshot API.  Reads and block
 * status come from the snapshot; discard tells the snapshot that the
 * reader is done with an area (space reclaim on the fleecing target);
 * writes fail with ENOTSUP.  It takes no permissions on its child.
 */
#include "qemu/osdep.h"
#include "copy-before-write.h"

static int snapshot_access_open(BlockDriverState *bs, BlockdevOptions *options,
                                int flags, Error **errp)
{
    BlockdevOptionsSnapshotAccess *o;

    if (!options) {
        error_setg(errp, "snapshot-access needs a file child");
        return -EINVAL;
    }
    o = &options->u.snapshot_access;
    if (!bdrv_open_child(o->file, bs, "file", &child_of_bds,
                         BDRV_CHILD_DATA | BDRV_CHILD_PRIMARY, errp)) {
        return -EINVAL;
    }
    if (!bdrv_is_cbw(bs->file->bs)) {
        error_setg(errp, "snapshot-access: node '%s' is not a "
                   "copy-before-write filter",
                   bdrv_get_node_name(bs->file->bs));
        return -EINVAL;
    }
    g_strlcpy(bs->filename, bs->file->bs->filename, sizeof(bs->filename));
    bs->bl.request_alignment = bs->file->bs->bl.request_alignment;
    return 0;
}

static int coroutine_fn snapshot_access_co_preadv(BlockDriverState *bs,
                                                  int64_t offset,
                                                  int64_t bytes,
                                                  QEMUIOVector *qiov,
                                                  BdrvRequestFlags flags)
{
    if (flags) {
        return -ENOTSUP;
    }
    return cbw_snapshot_preadv(bs->file->bs, offset, bytes, qiov);
}

static int coroutine_fn snapshot_access_co_block_status(BlockDriverState *bs,
                                                        bool want_zero,
                                                        int64_t offset,
                                                        int64_t bytes,
                                                        int64_t *pnum,
                                                        int64_t *map,
                                                        BlockDriverState **file)
{
    return cbw_snapshot_block_status(bs->file->bs, offset, bytes, pnum, map,
                                     file);
}

static int coroutine_fn snapshot_access_co_pdiscard(BlockDriverState *bs,
                                                    int64_t offset,
                                                    int64_t bytes)
{
    return cbw_snapshot_discard(bs->file->bs, offset, bytes);
}

static int coroutine_fn snapshot_access_co_pwritev(BlockDriverState *bs,
                                                   int64_t offset,
                                                   int64_t bytes,
                                                   QEMUIOVector *qiov,
                                                   BdrvRequestFlags flags)
{
    return -ENOTSUP;
}

static int coroutine_fn snapshot_access_co_pwrite_zeroes(BlockDriverState *bs,
                                                         int64_t offset,
                                                         int64_t bytes,
                                                         BdrvRequestFlags flags)
{
    return -ENOTSUP;
}

static int coroutine_fn snapshot_access_co_flush(BlockDriverState *bs)
{
    return 0;
}

static int64_t snapshot_access_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs->file->bs);
}

static void snapshot_access_child_perm(BlockDriverState *bs, BdrvChild *c,
                                       BdrvChildRole role, uint64_t perm,
                                       uint64_t shared, uint64_t *nperm,
                                       uint64_t *nshared)
{
    *nperm = 0;
    *nshared = BLK_PERM_ALL;
}

BlockDriver bdrv_snapshot_access = {
    .format_name = "snapshot-access",
    .bdrv_open = snapshot_access_open,
    .bdrv_co_preadv = snapshot_access_co_preadv,
    .bdrv_co_pwritev = snapshot_access_co_pwritev,
    .bdrv_co_pwrite_zeroes = snapshot_access_co_pwrite_zeroes,
    .bdrv_co_pdiscard = snapshot_access_co_pdiscard,
    .bdrv_co_flush = snapshot_access_co_flush,
    .bdrv_co_block_status = snapshot_access_co_block_status,
    .bdrv_getlength = snapshot_access_getlength,
    .bdrv_child_perm = snapshot_access_child_perm,
};
