/*
 * mirror-top.c: the mirror_top filter driver.  A mirror job inserts one
 * above its source (implicit and auto-named, or named by
 * filter-node-name); every guest write, write-zeroes and discard passes
 * through it to the source and then marks the job's dirty bitmap, or, in
 * write-blocking copy mode, is also written to the target before the
 * guest request completes.  Reads, flushes and block status pass through.
 */
#include "qemu/osdep.h"
#include "mirror-int.h"
#include "trace/trace-block.h"

typedef enum MirrorMethod {
    MIRROR_METHOD_WRITE,
    MIRROR_METHOD_ZERO,
    MIRROR_METHOD_DISCARD,
} MirrorMethod;

static MirrorBlockJob *mirror_top_job(BlockDriverState *bs)
{
    MirrorTopState *st = bs->opaque;

    return st->stop ? NULL : st->job;
}

static int coroutine_fn mirror_top_preadv(BlockDriverState *bs, int64_t offset,
                                          int64_t bytes, QEMUIOVector *qiov,
                                          BdrvRequestFlags flags)
{
    return bdrv_co_preadv(bs->file, offset, bytes, qiov, flags);
}

static int coroutine_fn mirror_top_source_op(BlockDriverState *bs,
                                             MirrorMethod method, int64_t offset,
                                             int64_t bytes, QEMUIOVector *qiov,
                                             BdrvRequestFlags flags)
{
    switch (method) {
    case MIRROR_METHOD_WRITE:
        return bdrv_co_pwritev(bs->file, offset, bytes, qiov, flags);
    case MIRROR_METHOD_ZERO:
        return bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);
    default:
        return bdrv_co_pdiscard(bs->file, offset, bytes);
    }
}

/*
 * Background mode, or a write the target cannot take synchronously: the
 * data is on the source, the job copies it later.  Marked after the
 * source write so that a copy started before it cannot clear it.
 */
static void mirror_top_mark_dirty(MirrorBlockJob *s, int64_t offset,
                                  int64_t bytes)
{
    bdrv_set_dirty_bitmap(s->dirty_bitmap, offset, bytes);
    s->actively_synced = false;
    /* A job idling in READY picks the range up now, not at its next tick */
    if (!s->common.job.paused) {
        job_enter(&s->common.job);
    }
}

/*
 * Write-blocking: the guest's own buffer goes to the target (no bounce
 * copy).  Chunks the write covers entirely are clean afterwards; a
 * partially covered chunk keeps its state: if it was clean, the target
 * got the same bytes as the source and it stays clean; if it was dirty
 * the background loop copies it.
 */
static void coroutine_fn mirror_top_sync_target(MirrorBlockJob *s,
                                                MirrorMethod method,
                                                int64_t offset, int64_t bytes,
                                                QEMUIOVector *qiov,
                                                BdrvRequestFlags flags)
{
    int64_t start = QEMU_ALIGN_UP(offset, s->granularity);
    int64_t end = QEMU_ALIGN_DOWN(offset + bytes, s->granularity);
    int ret;

    if (offset + bytes == s->bdev_length) {
        end = offset + bytes;       /* the last chunk may be short */
    }
    if (method == MIRROR_METHOD_WRITE) {
        ret = blk_co_pwritev(s->target, offset, bytes, qiov,
                             flags & BDRV_REQ_FUA);
    } else {
        flags &= s->unmap ? BDRV_REQ_MAY_UNMAP : 0;
        ret = blk_co_pwrite_zeroes(s->target, offset, bytes, flags);
    }
    if (ret < 0) {
        bdrv_set_dirty_bitmap(s->dirty_bitmap, offset, bytes);
        s->actively_synced = false;
        /* The guest write succeeded; the job fails under `report` (QEMU's) */
        if (mirror_error_action(s, false, -ret) == BLOCK_ERROR_ACTION_REPORT &&
            s->ret == 0) {
            s->ret = ret;
        }
        if (!s->common.job.paused) {
            job_enter(&s->common.job);
        }
        return;
    }
    if (end > start) {
        bdrv_reset_dirty_bitmap(s->dirty_bitmap, start, end - start);
    }
    /* Done work, as QEMU counts it (the remaining part was added at start) */
    job_progress_update(&s->common.job, bytes);
}

static int coroutine_fn mirror_top_do_write(BlockDriverState *bs,
                                            MirrorMethod method, int64_t offset,
                                            int64_t bytes, QEMUIOVector *qiov,
                                            BdrvRequestFlags flags)
{
    MirrorBlockJob *s = mirror_top_job(bs);
    MirrorOp *op = NULL;
    bool copy_to_target;
    int ret;

    if (!s) {
        return mirror_top_source_op(bs, method, offset, bytes, qiov, flags);
    }
    /* Discards are left to the background loop: the source decides */
    copy_to_target = s->copy_mode == MIRROR_COPY_MODE_WRITE_BLOCKING &&
                     method != MIRROR_METHOD_DISCARD && s->target;
    if (copy_to_target) {
        int64_t aoff, abytes;

        mirror_align_range(s, offset, bytes, &aoff, &abytes);
        abytes = MIN(abytes, s->bdev_length - aoff);
        /* No background copy of the old data may land after ours */
        mirror_wait_for_overlaps(s, aoff, abytes, NULL);
        op = mirror_op_new(s, aoff, abytes);
        op->is_active = true;
        s->active_in_flight++;
        s->active_bytes_in_flight += bytes;
        /*
         * As QEMU: a write-blocking write is job work, len and offset both
         * grow by it.  Without this a progress sample taken while it was in
         * flight (remaining includes active bytes) left len above offset
         * for good, even in BLOCK_JOB_COMPLETED of a successful job.
         */
        job_progress_increase_remaining(&s->common.job, bytes);
    }

    ret = mirror_top_source_op(bs, method, offset, bytes, qiov, flags);
    if (ret >= 0) {
        /* The job may have gone meanwhile (its exit drains us first) */
        s = mirror_top_job(bs);
        if (s && copy_to_target && s->target) {
            mirror_top_sync_target(s, method, offset, bytes, qiov, flags);
        } else if (s) {
            mirror_top_mark_dirty(s, offset, bytes);
        }
    }
    if (op) {
        MirrorBlockJob *js = op->s;

        js->active_in_flight--;
        js->active_bytes_in_flight -= bytes;
        mirror_op_free(op);
    }
    return ret;
}

static int coroutine_fn mirror_top_pwritev(BlockDriverState *bs, int64_t offset,
                                           int64_t bytes, QEMUIOVector *qiov,
                                           BdrvRequestFlags flags)
{
    return mirror_top_do_write(bs, MIRROR_METHOD_WRITE, offset, bytes, qiov,
                               flags);
}

static int coroutine_fn mirror_top_pwrite_zeroes(BlockDriverState *bs,
                                                 int64_t offset, int64_t bytes,
                                                 BdrvRequestFlags flags)
{
    return mirror_top_do_write(bs, MIRROR_METHOD_ZERO, offset, bytes, NULL,
                               flags);
}

static int coroutine_fn mirror_top_pdiscard(BlockDriverState *bs,
                                            int64_t offset, int64_t bytes)
{
    return mirror_top_do_write(bs, MIRROR_METHOD_DISCARD, offset, bytes, NULL,
                               0);
}

static int coroutine_fn mirror_top_flush(BlockDriverState *bs)
{
    if (!bs->file) {
        return 0;
    }
    return bdrv_co_flush(bs->file->bs);
}

static int coroutine_fn mirror_top_block_status(BlockDriverState *bs,
                                                bool want_zero, int64_t offset,
                                                int64_t bytes, int64_t *pnum,
                                                int64_t *map,
                                                BlockDriverState **file)
{
    *pnum = bytes;
    *map = offset;
    *file = bs->file->bs;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

/*
 * Pass the parents' permissions through; the job reads the source
 * (consistent read) and the source may not be resized under it.  Once
 * the job is gone the filter takes nothing (it is about to be dropped).
 */
static void mirror_top_child_perm(BlockDriverState *bs, BdrvChild *c,
                                  BdrvChildRole role, uint64_t perm,
                                  uint64_t shared, uint64_t *nperm,
                                  uint64_t *nshared)
{
    MirrorTopState *st = bs->opaque;

    if (st->stop) {
        *nperm = 0;
        *nshared = BLK_PERM_ALL;
        return;
    }
    *nperm = (perm & DEFAULT_PERM_PASSTHROUGH & ~BLK_PERM_RESIZE) |
             BLK_PERM_CONSISTENT_READ;
    *nshared = (shared & DEFAULT_PERM_PASSTHROUGH & ~BLK_PERM_RESIZE) |
               DEFAULT_PERM_UNCHANGED;
}

static void mirror_top_refresh_limits(BlockDriverState *bs, Error **errp)
{
    if (bs->file) {
        bs->bl.request_alignment = bs->file->bs->bl.request_alignment;
    }
}

static int mirror_top_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    return bs->file ? bdrv_get_info(bs->file->bs, bdi) : -ENOMEDIUM;
}

BlockDriver bdrv_mirror_top = {
    .format_name = "mirror_top",
    .instance_size = sizeof(MirrorTopState),
    .is_filter = true,
    .bdrv_co_preadv = mirror_top_preadv,
    .bdrv_co_pwritev = mirror_top_pwritev,
    .bdrv_co_pwrite_zeroes = mirror_top_pwrite_zeroes,
    .bdrv_co_pdiscard = mirror_top_pdiscard,
    .bdrv_co_flush = mirror_top_flush,
    .bdrv_co_block_status = mirror_top_block_status,
    .bdrv_child_perm = mirror_top_child_perm,
    .bdrv_refresh_limits = mirror_top_refresh_limits,
    .bdrv_get_info = mirror_top_get_info,
};

/* ---- insertion and removal ---- */

BlockDriverState *mirror_top_create(BlockDriverState *bs,
                                    const char *filter_node_name,
                                    Error **errp)
{
    BlockDriverState *top;
    BdrvChild *c;
    bool ok;

    if (!bdrv_find_format(bdrv_mirror_top.format_name)) {
        bdrv_register(&bdrv_mirror_top);
    }
    top = bdrv_new_open_driver(&bdrv_mirror_top, filter_node_name, BDRV_O_RDWR,
                               errp);
    if (!top) {
        return NULL;
    }
    top->implicit = !filter_node_name;

    bdrv_drained_begin(bs);
    c = bdrv_attach_child(top, bs, "backing", &child_of_bds,
                          BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY, errp);
    if (!c) {
        bdrv_drained_end(bs);
        bdrv_unref(top);
        return NULL;
    }
    g_strlcpy(top->filename, bs->filename, sizeof(top->filename));
    top->supported_write_flags = BDRV_REQ_WRITE_UNCHANGED |
        (BDRV_REQ_FUA & bs->supported_write_flags);
    top->supported_zero_flags = BDRV_REQ_WRITE_UNCHANGED |
        ((BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK) &
         bs->supported_zero_flags);
    bdrv_refresh_limits(top, NULL);

    ok = bdrv_replace_node(bs, top, errp);
    bdrv_drained_end(bs);
    if (!ok) {
        bdrv_unref_child(top, top->file);
        bdrv_unref(top);
        return NULL;
    }
    return top;
}

void mirror_top_set_job(BlockDriverState *mirror_top_bs, MirrorBlockJob *s)
{
    MirrorTopState *st = mirror_top_bs->opaque;

    st->job = s;
}

/*
 * Parents of the filter go back to the node below it (the source, or the
 * target after a pivot), and the filter is dropped.  The caller holds
 * the nodes drained and a reference to the filter.
 */
void mirror_top_remove(BlockDriverState *mirror_top_bs)
{
    MirrorTopState *st = mirror_top_bs->opaque;
    BlockDriverState *below = bdrv_filter_bs(mirror_top_bs);

    st->stop = true;
    st->job = NULL;
    if (below) {
        bdrv_replace_node(mirror_top_bs, below, &error_abort);
        bdrv_unref_child(mirror_top_bs, mirror_top_bs->file);
    }
}
