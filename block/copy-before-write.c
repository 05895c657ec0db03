/*
 * copy-before-write.c: the copy-before-write filter driver.
 *
 * Before a guest write, write-zeroes or discard reaches the source (the
 * "file" child), the clusters it touches that are still to be copied are
 * copied to the "target" child through block-copy.  A failed copy fails
 * the guest request (on-cbw-error=break-guest-write) or breaks the
 * snapshot (break-snapshot: the guest goes on, snapshot reads fail).
 * cbw-timeout bounds the wait of a guest request for its copy (the copy
 * goes on in the background, counted as in flight on the filter).
 *
 * The snapshot API gives the point-in-time view used by snapshot-access:
 * clusters already copied are read from the target, the others from the
 * source while a reader record holds back guest writes to them.
 */
#include "qemu/osdep.h"
#include "copy-before-write.h"
#include "trace/trace-block.h"

typedef struct CbwReader {
    int64_t offset;
    int64_t bytes;
    CoQueue done;
} CbwReader;

typedef struct BDRVCopyBeforeWriteState {
    BlockCopyState *bcs;
    BdrvChild *target;
    OnCbwError on_cbw_error;
    int64_t cbw_timeout_ns;         /* 0: none */
    bool discard_source;            /* block-copy discards what it copied */
    int snapshot_error;             /* the snapshot is broken: -errno */
    BdrvDirtyBitmap *access_bitmap; /* what snapshot readers may read */
    GList *readers;                 /* CbwReader * */
} BDRVCopyBeforeWriteState;

bool bdrv_is_cbw(BlockDriverState *bs)
{
    return bs && bs->drv == &bdrv_cbw_filter;
}

BlockCopyState *cbw_get_block_copy_state(BlockDriverState *cbw)
{
    BDRVCopyBeforeWriteState *s = cbw->opaque;

    return s->bcs;
}

/* ---- copy before write ---- */

typedef struct CbwCopy {
    BlockDriverState *bs;
    int64_t offset;
    int64_t bytes;
    int ret;
    bool is_read;
    bool done;
    bool abandoned;                 /* the guest request timed out */
    QemuCoSleep sleep;
} CbwCopy;

static void coroutine_fn cbw_copy_entry(void *opaque)
{
    CbwCopy *c = opaque;
    BDRVCopyBeforeWriteState *s = c->bs->opaque;

    c->ret = block_copy(s->bcs, c->offset, c->bytes, &c->is_read);
    c->done = true;
    if (c->abandoned) {
        if (c->ret < 0 && !s->snapshot_error &&
            s->on_cbw_error == ON_CBW_ERROR_BREAK_SNAPSHOT) {
            /* The guest write went on: the snapshot is gone */
            s->snapshot_error = c->ret;
            trace_cbw_snapshot_broken(c->bs, c->ret);
        }
        bdrv_dec_in_flight(c->bs);
        g_free(c);
        return;
    }
    qemu_co_sleep_wake(&c->sleep);
}

/* block_copy() bounded by cbw-timeout: 0, -errno, or -ETIMEDOUT */
static int coroutine_fn cbw_copy_timed(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, bool *is_read)
{
    BDRVCopyBeforeWriteState *s = bs->opaque;
    CbwCopy *c;
    int ret;

    if (!s->cbw_timeout_ns) {
        return block_copy(s->bcs, offset, bytes, is_read);
    }
    c = g_new0(CbwCopy, 1);
    c->bs = bs;
    c->offset = offset;
    c->bytes = bytes;
    qemu_coroutine_enter(qemu_coroutine_create(cbw_copy_entry, c));
    if (!c->done) {
        qemu_co_sleep_ns_wakeable(&c->sleep, s->cbw_timeout_ns);
    }
    if (!c->done) {
        c->abandoned = true;
        bdrv_inc_in_flight(bs);     /* drains wait for the copy */
        *is_read = false;
        return -ETIMEDOUT;
    }
    ret = c->ret;
    *is_read = c->is_read;
    g_free(c);
    return ret;
}

static void coroutine_fn cbw_wait_readers(BDRVCopyBeforeWriteState *s,
                                          int64_t offset, int64_t bytes)
{
    GList *l;

restart:
    for (l = s->readers; l; l = l->next) {
        CbwReader *r = l->data;

        if (r->offset < offset + bytes && offset < r->offset + r->bytes) {
            qemu_co_queue_wait(&r->done, NULL);
            goto restart;
        }
    }
}

/* 0: the guest request may go on; -errno: fail it */
static int coroutine_fn cbw_do_copy_before_write(BlockDriverState *bs,
                                                 int64_t offset, int64_t bytes,
                                                 BdrvRequestFlags flags)
{
    BDRVCopyBeforeWriteState *s = bs->opaque;
    bool is_read = false;
    int ret;

    if (!s->bcs || (flags & BDRV_REQ_WRITE_UNCHANGED) || s->snapshot_error) {
        return 0;
    }
    trace_cbw_do_copy(bs, offset, bytes);
    ret = cbw_copy_timed(bs, offset, bytes, &is_read);
    if (ret < 0) {
        trace_cbw_copy_fail(bs, offset, bytes, ret, is_read);
        if (s->on_cbw_error == ON_CBW_ERROR_BREAK_GUEST_WRITE) {
            return ret;
        }
        s->snapshot_error = ret;
        trace_cbw_snapshot_broken(bs, ret);
        return 0;
    }
    cbw_wait_readers(s, offset, bytes);
    return 0;
}

static int coroutine_fn cbw_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      BdrvRequestFlags flags)
{
    return bdrv_co_preadv(bs->file, offset, bytes, qiov, flags);
}

static int coroutine_fn cbw_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    int ret = cbw_do_copy_before_write(bs, offset, bytes, flags);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_pwritev(bs->file, offset, bytes, qiov, flags);
}

static int coroutine_fn cbw_co_pwrite_zeroes(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BdrvRequestFlags flags)
{
    int ret = cbw_do_copy_before_write(bs, offset, bytes, flags);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_pwrite_zeroes(bs->file, offset, bytes, flags);
}

static int coroutine_fn cbw_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes)
{
    int ret = cbw_do_copy_before_write(bs, offset, bytes, 0);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_pdiscard(bs->file, offset, bytes);
}

static int coroutine_fn cbw_co_flush(BlockDriverState *bs)
{
    BDRVCopyBeforeWriteState *s = bs->opaque;
    int ret;

    if (!bs->file) {
        return 0;
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret >= 0 && s->target) {
        ret = bdrv_co_flush(s->target->bs);
    }
    return ret;
}

static int coroutine_fn cbw_co_block_status(BlockDriverState *bs,
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

/* ---- the snapshot API ---- */

static int cbw_snapshot_check(BDRVCopyBeforeWriteState *s, int64_t offset,
                              int64_t bytes)
{
    if (s->snapshot_error || !s->bcs) {
        return -EACCES;
    }
    if (s->access_bitmap &&
        bdrv_dirty_bitmap_next_zero(s->access_bitmap, offset, bytes) >= 0) {
        return -EACCES;
    }
    return 0;
}

typedef struct CbwReadCall {
    int ret;
    int pending;
    Coroutine *waiter;
} CbwReadCall;

typedef struct CbwExtentRead {
    CbwReadCall *call;
    BdrvChild *child;
    int64_t offset;
    int64_t bytes;
    QEMUIOVector qiov;
} CbwExtentRead;

static void coroutine_fn cbw_extent_read_entry(void *opaque)
{
    CbwExtentRead *e = opaque;
    CbwReadCall *call = e->call;
    int ret = bdrv_co_preadv(e->child, e->offset, e->bytes, &e->qiov, 0);

    if (ret < 0 && call->ret == 0) {
        call->ret = ret;
    }
    qemu_iovec_destroy(&e->qiov);
    g_free(e);
    if (--call->pending == 0 && call->waiter) {
        aio_co_wake(call->waiter);
    }
}

/*
 * Point-in-time read: the extents of the request (copied: target, not yet
 * copied: source) are read in parallel, not one after the other.
 */
int coroutine_fn cbw_snapshot_preadv(BlockDriverState *cbw, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov)
{
    BDRVCopyBeforeWriteState *s = cbw->opaque;
    BdrvDirtyBitmap *done;
    CbwReader reader = { .offset = offset, .bytes = bytes };
    CbwReadCall call = { 0 };
    int64_t pos = 0;
    int ret = cbw_snapshot_check(s, offset, bytes);

    if (ret < 0) {
        return ret;
    }
    done = block_copy_done_bitmap(s->bcs);
    qemu_co_queue_init(&reader.done);
    /* Registered before the first yield: guest writes wait for us */
    s->readers = g_list_prepend(s->readers, &reader);

    while (pos < bytes) {
        CbwExtentRead *e = g_new0(CbwExtentRead, 1);
        int64_t count = bytes - pos;
        bool copied = bdrv_dirty_bitmap_status(done, offset + pos, count,
                                               &count);

        count = MAX(MIN(count, bytes - pos), 1);
        e->call = &call;
        e->child = copied ? s->target : cbw->file;
        e->offset = offset + pos;
        e->bytes = count;
        qemu_iovec_init(&e->qiov, qiov->niov);
        qemu_iovec_concat(&e->qiov, qiov, pos, count);
        call.pending++;
        pos += count;
        qemu_coroutine_enter(qemu_coroutine_create(cbw_extent_read_entry, e));
    }
    call.waiter = qemu_coroutine_self();
    while (call.pending) {
        qemu_coroutine_yield();
    }
    s->readers = g_list_remove(s->readers, &reader);
    qemu_co_queue_restart_all(&reader.done);
    if (call.ret >= 0 && s->snapshot_error) {
        return -EACCES;     /* broke while we read: the data may be new */
    }
    return call.ret < 0 ? call.ret : 0;
}

int coroutine_fn cbw_snapshot_block_status(BlockDriverState *cbw,
                                           int64_t offset, int64_t bytes,
                                           int64_t *pnum, int64_t *map,
                                           BlockDriverState **file)
{
    BDRVCopyBeforeWriteState *s = cbw->opaque;
    int64_t count = bytes;
    bool copied;
    int ret = cbw_snapshot_check(s, offset, bytes);

    if (ret < 0) {
        return ret;
    }
    copied = bdrv_dirty_bitmap_status(block_copy_done_bitmap(s->bcs), offset,
                                      bytes, &count);
    *pnum = MAX(MIN(count, bytes), 1);
    *map = offset;
    *file = copied ? s->target->bs : cbw->file->bs;
    return BDRV_BLOCK_RAW | BDRV_BLOCK_OFFSET_VALID;
}

/* The reader is done with [offset, offset + bytes): forget whole clusters */
int coroutine_fn cbw_snapshot_discard(BlockDriverState *cbw, int64_t offset,
                                      int64_t bytes)
{
    BDRVCopyBeforeWriteState *s = cbw->opaque;
    int64_t cluster = block_copy_cluster_size(s->bcs);
    int64_t len = block_copy_len(s->bcs);
    int64_t start = QEMU_ALIGN_UP(offset, cluster);
    int64_t end = offset + bytes >= len ? len :
                  QEMU_ALIGN_DOWN(offset + bytes, cluster);

    if (end <= start) {
        return 0;
    }
    block_copy_reset(s->bcs, start, end - start);
    if (s->access_bitmap) {
        bdrv_reset_dirty_bitmap(s->access_bitmap, start, end - start);
    }
    return bdrv_co_pdiscard(s->target, start, end - start);
}

/* ---- graph ---- */

/*
 * file: the parents' permissions plus consistent read (and write with
 * discard-source: copied clusters are discarded on it, as QEMU); no other
 * writer or resizer may bypass the filter.  target: write (and read for
 * snapshot reads); anything but resize is shared.
 */
static void cbw_child_perm(BlockDriverState *bs, BdrvChild *c,
                           BdrvChildRole role, uint64_t perm, uint64_t shared,
                           uint64_t *nperm, uint64_t *nshared)
{
    BDRVCopyBeforeWriteState *s = bs->opaque;

    if (!(role & BDRV_CHILD_FILTERED)) {
        *nperm = BLK_PERM_WRITE | BLK_PERM_CONSISTENT_READ;
        *nshared = BLK_PERM_ALL & ~BLK_PERM_RESIZE;
        return;
    }
    *nperm = (perm & DEFAULT_PERM_PASSTHROUGH) | BLK_PERM_CONSISTENT_READ;
    if (s->discard_source) {
        *nperm |= BLK_PERM_WRITE;
    }
    *nshared = (shared & BLK_PERM_CONSISTENT_READ) | BLK_PERM_WRITE_UNCHANGED |
               BLK_PERM_GRAPH_MOD;
    if (!bs->parents) {
        /* not inserted yet / being removed: let the graph change around us */
        *nshared = BLK_PERM_ALL;
    }
}

static void cbw_refresh_limits(BlockDriverState *bs, Error **errp)
{
    if (bs->file) {
        bs->bl.request_alignment = bs->file->bs->bl.request_alignment;
    }
}

static int cbw_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    return bs->file ? bdrv_get_info(bs->file->bs, bdi) : -ENOMEDIUM;
}

static void cbw_set_flags(BlockDriverState *bs)
{
    BlockDriverState *file = bs->file->bs;

    bs->supported_write_flags = BDRV_REQ_WRITE_UNCHANGED |
        (BDRV_REQ_FUA & file->supported_write_flags);
    bs->supported_zero_flags = BDRV_REQ_WRITE_UNCHANGED |
        ((BDRV_REQ_FUA | BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK) &
         file->supported_zero_flags);
}

static int cbw_init_state(BlockDriverState *bs, OnCbwError on_cbw_error,
                          int64_t cluster_size, bool compress, Error **errp)
{
    BDRVCopyBeforeWriteState *s = bs->opaque;
    Error *local_err = NULL;

    s->on_cbw_error = on_cbw_error;
    s->bcs = block_copy_state_new(bs->file, s->target, cluster_size, compress,
                                  &local_err);
    if (!s->bcs) {
        error_setg(errp, "Cannot create block-copy-state: %s",
                   error_get_pretty(local_err));
        error_free(local_err);
        return -EINVAL;
    }
    block_copy_set_discard_source(s->bcs, s->discard_source);
    cbw_set_flags(bs);
    g_strlcpy(bs->filename, bs->file->bs->filename, sizeof(bs->filename));
    return 0;
}

/* blockdev-add: the options; bdrv_new_open_driver (backup): options NULL */
static int cbw_open(BlockDriverState *bs, BlockdevOptions *options, int flags,
                    Error **errp)
{
    BDRVCopyBeforeWriteState *s = bs->opaque;
    BlockdevOptionsCbw *o;
    int64_t cluster, min_cluster = 0;
    BdrvDirtyBitmap *bm = NULL;

    if (!options) {
        return 0;
    }
    o = &options->u.copy_before_write;
    if (o->has_min_cluster_size) {
        if (!is_power_of_2(o->min_cluster_size)) {
            error_setg(errp, "min-cluster-size needs to be a power of 2");
            return -EINVAL;
        }
        if (o->min_cluster_size > INT32_MAX) {
            error_setg(errp, "min-cluster-size too large: %" PRIu64 " > %"
                       PRIi32, o->min_cluster_size, INT32_MAX);
            return -EINVAL;
        }
        min_cluster = o->min_cluster_size;
    }
    if (!bdrv_open_child(o->file, bs, "file", &child_of_bds,
                         BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY, errp)) {
        return -EINVAL;
    }
    s->target = bdrv_open_child(o->target, bs, "target", &child_of_bds,
                                BDRV_CHILD_DATA, errp);
    if (!s->target) {
        return -EINVAL;
    }
    if (o->bitmap) {
        bm = block_dirty_bitmap_lookup(o->bitmap->node, o->bitmap->name, NULL,
                                       errp);
        if (!bm) {
            return -EINVAL;
        }
        if (bdrv_dirty_bitmap_size(bm) != bdrv_getlength(bs->file->bs)) {
            error_setg(errp, "Bitmap '%s' size does not match the file child",
                       o->bitmap->name);
            return -EINVAL;
        }
    }
    if (o->has_cbw_timeout) {
        s->cbw_timeout_ns = (int64_t)o->cbw_timeout * 1000000000LL;
    }
    cluster = block_copy_calculate_cluster_size(s->target->bs, min_cluster,
                                                errp);
    if (cluster < 0) {
        return -EINVAL;
    }
    if (cbw_init_state(bs, o->has_on_cbw_error ? o->on_cbw_error :
                       ON_CBW_ERROR_BREAK_GUEST_WRITE, cluster, false,
                       errp) < 0) {
        return -EINVAL;
    }
    /* What the snapshot holds: all, or what the bitmap says (read once) */
    if (bm) {
        bdrv_dirty_bitmap_merge_internal(block_copy_dirty_bitmap(s->bcs), bm,
                                         NULL, true);
        s->access_bitmap = bdrv_create_dirty_bitmap(bs->file->bs, cluster,
                                                    NULL, errp);
        if (!s->access_bitmap) {
            return -EINVAL;
        }
        bdrv_disable_dirty_bitmap(s->access_bitmap);
        bdrv_dirty_bitmap_merge_internal(s->access_bitmap,
                                         block_copy_dirty_bitmap(s->bcs),
                                         NULL, true);
    } else {
        bdrv_dirty_bitmap_set_all(block_copy_dirty_bitmap(s->bcs));
    }
    bdrv_refresh_limits(bs, NULL);
    return 0;
}

static void cbw_close(BlockDriverState *bs)
{
    BDRVCopyBeforeWriteState *s = bs->opaque;

    if (s->access_bitmap) {
        bdrv_release_dirty_bitmap(s->access_bitmap);
        s->access_bitmap = NULL;
    }
    block_copy_state_free(s->bcs);
    s->bcs = NULL;
}

BlockDriver bdrv_cbw_filter = {
    .format_name = "copy-before-write",
    .instance_size = sizeof(BDRVCopyBeforeWriteState),
    .is_filter = true,
    .bdrv_open = cbw_open,
    .bdrv_close = cbw_close,
    .bdrv_co_preadv = cbw_co_preadv,
    .bdrv_co_pwritev = cbw_co_pwritev,
    .bdrv_co_pwrite_zeroes = cbw_co_pwrite_zeroes,
    .bdrv_co_pdiscard = cbw_co_pdiscard,
    .bdrv_co_flush = cbw_co_flush,
    .bdrv_co_block_status = cbw_co_block_status,
    .bdrv_child_perm = cbw_child_perm,
    .bdrv_refresh_limits = cbw_refresh_limits,
    .bdrv_get_info = cbw_get_info,
};

/* ---- insertion by the backup job ---- */

/*
 * Two steps, so that whoever attaches to the filter in between (the job)
 * sees it drained at most once: a parent linked to a node drained N times
 * is quiesced N times but released once (block/graph.c), and inside a
 * transaction both the source and the target are drained already.
 */
BlockDriverState *cbw_insert(BlockDriverState *source,
                             const char *filter_node_name, bool discard_source,
                             Error **errp)
{
    BlockDriverState *top;
    bool drain = source->quiesce_counter == 0;
    bool ok;

    top = bdrv_new_open_driver(&bdrv_cbw_filter, filter_node_name,
                               BDRV_O_RDWR, errp);
    if (!top) {
        error_prepend(errp, "Could not create node: ");
        return NULL;
    }
    top->implicit = !filter_node_name;
    /* Before the file child is attached: its permissions include write */
    ((BDRVCopyBeforeWriteState *)top->opaque)->discard_source = discard_source;

    if (drain) {
        bdrv_drained_begin(source);
    }
    ok = bdrv_attach_child(top, source, "file", &child_of_bds,
                           BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY, errp);
    if (ok) {
        cbw_set_flags(top);
        g_strlcpy(top->filename, source->filename, sizeof(top->filename));
        bdrv_refresh_limits(top, NULL);
        ok = bdrv_replace_node(source, top, errp);
        if (!ok) {
            bdrv_unref_child(top, top->file);
        }
    }
    if (drain) {
        bdrv_drained_end(source);
    }
    if (!ok) {
        bdrv_unref(top);
        return NULL;
    }
    return top;
}

int cbw_set_target(BlockDriverState *cbw, BlockDriverState *target,
                   OnCbwError on_cbw_error, int64_t cluster_size,
                   bool compress, Error **errp)
{
    BDRVCopyBeforeWriteState *s = cbw->opaque;

    s->target = bdrv_attach_child(cbw, target, "target", &child_of_bds,
                                  BDRV_CHILD_DATA, errp);
    if (!s->target) {
        return -EINVAL;
    }
    if (cbw_init_state(cbw, on_cbw_error, cluster_size, compress, errp) < 0) {
        bdrv_unref_child(cbw, s->target);
        s->target = NULL;
        return -EINVAL;
    }
    return 0;
}

/* The caller holds the source drained.  Drops the creator's reference. */
void cbw_drop(BlockDriverState *cbw)
{
    BDRVCopyBeforeWriteState *s = cbw->opaque;
    BlockDriverState *source = bdrv_filter_bs(cbw);

    bdrv_ref(cbw);
    if (source) {
        bdrv_replace_node(cbw, source, &error_abort);
    }
    cbw_close(cbw);
    if (s->target) {
        bdrv_unref_child(cbw, s->target);
        s->target = NULL;
    }
    if (cbw->file) {
        bdrv_unref_child(cbw, cbw->file);
    }
    bdrv_unref(cbw);
    bdrv_unref(cbw);
}
