/*
 * block-backend.c: BlockBackend, the user-side handle on a node.
 *
 * A BlockBackend holds a root BdrvChild with the permissions its user
 * (an export, a job, a tool) needs, checks request ranges against the
 * node's length, counts its own requests in flight, and holds new
 * requests back while its node is drained.  The blk_p* functions run a
 * request in a coroutine and poll until it is done.
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/block-backend.h"
#include "trace/trace-block.h"

struct BlockBackend {
    BdrvChild *root;
    int refcnt;
    uint64_t perm;
    uint64_t shared_perm;
    char *user_desc;
    bool allow_write_beyond_eof;
    bool allow_aio_context_change;
    bool job_owned;             /* a block job's own backend, not a user */

    unsigned int in_flight;
    int quiesce_counter;
    CoQueue queued_requests;    /* requests held back while drained */
};

/* ---- the root child's callbacks ---- */

static char *blk_root_get_parent_desc(BdrvChild *child)
{
    BlockBackend *blk = child->opaque;

    return g_strdup(blk->user_desc ? blk->user_desc : "a block device");
}

static void blk_root_drained_begin(BdrvChild *child)
{
    BlockBackend *blk = child->opaque;

    blk->quiesce_counter++;
}

static void blk_root_drained_end(BdrvChild *child)
{
    BlockBackend *blk = child->opaque;

    assert(blk->quiesce_counter > 0);
    if (--blk->quiesce_counter == 0) {
        qemu_co_queue_restart_all(&blk->queued_requests);
    }
}

static bool blk_root_drained_poll(BdrvChild *child)
{
    BlockBackend *blk = child->opaque;

    return blk->in_flight > 0;
}

static const BdrvChildClass child_root = {
    .parent_is_bds = false,
    .get_parent_desc = blk_root_get_parent_desc,
    .drained_begin = blk_root_drained_begin,
    .drained_end = blk_root_drained_end,
    .drained_poll = blk_root_drained_poll,
};

/* ---- life cycle ---- */

BlockBackend *blk_new(uint64_t perm, uint64_t shared_perm)
{
    BlockBackend *blk = g_new0(BlockBackend, 1);

    blk->refcnt = 1;
    blk->perm = perm;
    blk->shared_perm = shared_perm;
    qemu_co_queue_init(&blk->queued_requests);
    return blk;
}

int blk_insert_bs(BlockBackend *blk, BlockDriverState *bs, Error **errp)
{
    assert(!blk->root);
    blk->root = bdrv_root_attach_child(bs, "root", &child_root,
                                       BDRV_CHILD_FILTERED | BDRV_CHILD_PRIMARY,
                                       blk->perm, blk->shared_perm, blk, errp);
    if (blk->root) {
        blk->root->parent_is_job = blk->job_owned;
    }
    return blk->root ? 0 : -EPERM;
}

void blk_set_job_owned(BlockBackend *blk)
{
    blk->job_owned = true;
    if (blk->root) {
        blk->root->parent_is_job = true;
    }
}

void blk_remove_bs(BlockBackend *blk)
{
    BdrvChild *root = blk->root;

    if (!root) {
        return;
    }
    blk_drain(blk);
    /* Unlinking ends a drain for us: held-back requests find no medium */
    blk->root = NULL;
    bdrv_root_unref_child(root);
}

void blk_ref(BlockBackend *blk)
{
    blk->refcnt++;
}

void blk_unref(BlockBackend *blk)
{
    if (!blk) {
        return;
    }
    assert(blk->refcnt > 0);
    if (--blk->refcnt == 0) {
        blk_remove_bs(blk);
        g_free(blk->user_desc);
        g_free(blk);
    }
}

BlockDriverState *blk_bs(BlockBackend *blk)
{
    return blk->root ? blk->root->bs : NULL;
}

int blk_set_perm(BlockBackend *blk, uint64_t perm, uint64_t shared,
                 Error **errp)
{
    if (blk->root) {
        int ret = bdrv_child_try_set_perm(blk->root, perm, shared, errp);

        if (ret < 0) {
            return ret;
        }
    }
    blk->perm = perm;
    blk->shared_perm = shared;
    return 0;
}

void blk_get_perm(BlockBackend *blk, uint64_t *perm, uint64_t *shared)
{
    *perm = blk->perm;
    *shared = blk->shared_perm;
}

void blk_set_user_desc(BlockBackend *blk, const char *desc)
{
    g_free(blk->user_desc);
    blk->user_desc = g_strdup(desc);
}

void blk_set_allow_write_beyond_eof(BlockBackend *blk, bool allow)
{
    blk->allow_write_beyond_eof = allow;
}

void blk_set_allow_aio_context_change(BlockBackend *blk, bool allow)
{
    blk->allow_aio_context_change = allow;
}

int64_t blk_getlength(BlockBackend *blk)
{
    return blk->root ? bdrv_getlength(blk->root->bs) : -ENOMEDIUM;
}

bool blk_is_read_only(BlockBackend *blk)
{
    return blk->root ? bdrv_is_read_only(blk->root->bs) : true;
}

bool blk_is_writable(BlockBackend *blk)
{
    return blk->root && (blk->perm & BLK_PERM_WRITE) &&
           bdrv_is_writable(blk->root->bs);
}

uint32_t blk_get_request_alignment(BlockBackend *blk)
{
    return blk->root ? blk->root->bs->bl.request_alignment : 1;
}

int64_t blk_get_max_transfer(BlockBackend *blk)
{
    int64_t max = blk->root ? blk->root->bs->bl.max_transfer : 0;

    return MIN_NON_ZERO(max, BDRV_REQUEST_MAX_BYTES);
}

/* ---- requests ---- */

static void blk_inc_in_flight(BlockBackend *blk)
{
    blk->in_flight++;
}

static void blk_dec_in_flight(BlockBackend *blk)
{
    assert(blk->in_flight > 0);
    blk->in_flight--;
    if (blk->root) {
        bdrv_wakeup(blk->root->bs);
    }
}

/* Hold the request back while the node is drained (not counted meanwhile). */
static void coroutine_fn blk_wait_while_drained(BlockBackend *blk)
{
    while (blk->quiesce_counter) {
        blk_dec_in_flight(blk);
        qemu_co_queue_wait(&blk->queued_requests, NULL);
        blk_inc_in_flight(blk);
    }
}

static int blk_check_byte_request(BlockBackend *blk, int64_t offset,
                                  int64_t bytes)
{
    int64_t len;

    if (bytes < 0 || offset < 0) {
        return -EIO;
    }
    if (!blk->root || !blk->root->bs->drv) {
        return -ENOMEDIUM;
    }
    if (!blk->allow_write_beyond_eof) {
        len = bdrv_getlength(blk->root->bs);
        if (len < 0) {
            return len;
        }
        if (offset > len || len - offset < bytes) {
            return -EIO;
        }
    }
    return 0;
}

/* Common entry: count, wait for the end of a drain, check the range. */
static int coroutine_fn blk_co_request_begin(BlockBackend *blk, int64_t offset,
                                             int64_t bytes)
{
    blk_inc_in_flight(blk);
    blk_wait_while_drained(blk);
    return blk_check_byte_request(blk, offset, bytes);
}

int coroutine_fn blk_co_preadv(BlockBackend *blk, int64_t offset, int64_t bytes,
                               QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    int ret;

    trace_blk_co_preadv(blk, blk_bs(blk), offset, bytes, flags);
    ret = blk_co_request_begin(blk, offset, bytes);
    if (ret == 0) {
        ret = bdrv_co_preadv(blk->root, offset, bytes, qiov, flags);
    }
    blk_dec_in_flight(blk);
    return ret;
}

int coroutine_fn blk_co_pwritev(BlockBackend *blk, int64_t offset,
                                int64_t bytes, QEMUIOVector *qiov,
                                BdrvRequestFlags flags)
{
    int ret;

    trace_blk_co_pwritev(blk, blk_bs(blk), offset, bytes, flags);
    ret = blk_co_request_begin(blk, offset, bytes);
    if (ret == 0) {
        if (!(blk->perm & (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED))) {
            ret = -EPERM;
        } else {
            ret = bdrv_co_pwritev(blk->root, offset, bytes, qiov, flags);
        }
    }
    blk_dec_in_flight(blk);
    return ret;
}

int coroutine_fn blk_co_pread(BlockBackend *blk, int64_t offset, int64_t bytes,
                              void *buf, BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, buf, bytes);
    return blk_co_preadv(blk, offset, bytes, &qiov, flags);
}

int coroutine_fn blk_co_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes,
                               const void *buf, BdrvRequestFlags flags)
{
    QEMUIOVector qiov;

    qemu_iovec_init_buf(&qiov, (void *)buf, bytes);
    return blk_co_pwritev(blk, offset, bytes, &qiov, flags);
}

int coroutine_fn blk_co_pwrite_zeroes(BlockBackend *blk, int64_t offset,
                                      int64_t bytes, BdrvRequestFlags flags)
{
    int ret;

    ret = blk_co_request_begin(blk, offset, bytes);
    if (ret == 0) {
        if (!(blk->perm & (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED))) {
            ret = -EPERM;
        } else {
            ret = bdrv_co_pwrite_zeroes(blk->root, offset, bytes, flags);
        }
    }
    blk_dec_in_flight(blk);
    return ret;
}

int coroutine_fn blk_co_pdiscard(BlockBackend *blk, int64_t offset,
                                 int64_t bytes)
{
    int ret;

    ret = blk_co_request_begin(blk, offset, bytes);
    if (ret == 0) {
        if (!(blk->perm & BLK_PERM_WRITE)) {
            ret = -EPERM;
        } else {
            ret = bdrv_co_pdiscard(blk->root, offset, bytes);
        }
    }
    blk_dec_in_flight(blk);
    return ret;
}

/* The entry of a request without a range: count, wait, check the medium. */
static int coroutine_fn blk_co_begin(BlockBackend *blk)
{
    blk_inc_in_flight(blk);
    blk_wait_while_drained(blk);
    if (!blk->root || !blk->root->bs->drv) {
        return -ENOMEDIUM;
    }
    return 0;
}

int coroutine_fn blk_co_flush(BlockBackend *blk)
{
    int ret;

    ret = blk_co_begin(blk);
    if (ret == 0) {
        ret = bdrv_co_flush(blk->root->bs);
    }
    blk_dec_in_flight(blk);
    return ret;
}

int coroutine_fn blk_co_truncate(BlockBackend *blk, int64_t offset, bool exact,
                                 PreallocMode prealloc, BdrvRequestFlags flags,
                                 Error **errp)
{
    int ret;

    if (!blk->root || !blk->root->bs->drv) {
        error_setg(errp, "No medium inserted");
        return -ENOMEDIUM;
    }
    if (!(blk->perm & BLK_PERM_RESIZE)) {
        error_setg(errp, "Cannot resize: the user did not take the resize "
                   "permission");
        return -EPERM;
    }
    blk_inc_in_flight(blk);
    blk_wait_while_drained(blk);
    ret = bdrv_co_truncate(blk->root, offset, exact, prealloc, flags, errp);
    blk_dec_in_flight(blk);
    return ret;
}

int coroutine_fn blk_co_block_status_above(BlockBackend *blk,
                                           BlockDriverState *base,
                                           int64_t offset, int64_t bytes,
                                           int64_t *pnum, int64_t *map,
                                           BlockDriverState **file)
{
    int ret;

    ret = blk_co_begin(blk);
    if (ret == 0) {
        ret = bdrv_co_block_status_above(blk->root->bs, base, true, offset,
                                         bytes, pnum, map, file, NULL);
    }
    blk_dec_in_flight(blk);
    return ret;
}

/* ---- synchronous wrappers ---- */

typedef enum BlkSyncOp {
    BLK_SYNC_READ,
    BLK_SYNC_WRITE,
    BLK_SYNC_WRITE_ZEROES,
    BLK_SYNC_DISCARD,
    BLK_SYNC_FLUSH,
    BLK_SYNC_TRUNCATE,
} BlkSyncOp;

typedef struct BlkSyncCo {
    BlockBackend *blk;
    BlkSyncOp op;
    int64_t offset;
    int64_t bytes;
    void *buf;
    BdrvRequestFlags flags;
    bool exact;
    PreallocMode prealloc;
    Error **errp;
    int ret;
    bool done;
} BlkSyncCo;

static int coroutine_fn blk_sync_run(BlkSyncCo *s)
{
    switch (s->op) {
    case BLK_SYNC_READ:
        return blk_co_pread(s->blk, s->offset, s->bytes, s->buf, s->flags);
    case BLK_SYNC_WRITE:
        return blk_co_pwrite(s->blk, s->offset, s->bytes, s->buf, s->flags);
    case BLK_SYNC_WRITE_ZEROES:
        return blk_co_pwrite_zeroes(s->blk, s->offset, s->bytes, s->flags);
    case BLK_SYNC_DISCARD:
        return blk_co_pdiscard(s->blk, s->offset, s->bytes);
    case BLK_SYNC_FLUSH:
        return blk_co_flush(s->blk);
    case BLK_SYNC_TRUNCATE:
        return blk_co_truncate(s->blk, s->offset, s->exact, s->prealloc,
                               s->flags, s->errp);
    }
    return -EINVAL;
}

static void coroutine_fn blk_sync_entry(void *opaque)
{
    BlkSyncCo *s = opaque;

    s->ret = blk_sync_run(s);
    s->done = true;
    aio_notify(qemu_get_aio_context());
}

static int blk_sync(BlkSyncCo *s)
{
    if (qemu_in_coroutine()) {
        return blk_sync_run(s);
    }
    s->done = false;
    qemu_coroutine_enter(qemu_coroutine_create(blk_sync_entry, s));
    AIO_POLL_WHILE(qemu_get_aio_context(), !s->done);
    return s->ret;
}

int blk_pread(BlockBackend *blk, int64_t offset, int64_t bytes, void *buf,
              BdrvRequestFlags flags)
{
    BlkSyncCo s = { .blk = blk, .op = BLK_SYNC_READ, .offset = offset,
                    .bytes = bytes, .buf = buf, .flags = flags };

    return blk_sync(&s);
}

int blk_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes,
               const void *buf, BdrvRequestFlags flags)
{
    BlkSyncCo s = { .blk = blk, .op = BLK_SYNC_WRITE, .offset = offset,
                    .bytes = bytes, .buf = (void *)buf, .flags = flags };

    return blk_sync(&s);
}

int blk_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes,
                      BdrvRequestFlags flags)
{
    BlkSyncCo s = { .blk = blk, .op = BLK_SYNC_WRITE_ZEROES, .offset = offset,
                    .bytes = bytes, .flags = flags };

    return blk_sync(&s);
}

int blk_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes)
{
    BlkSyncCo s = { .blk = blk, .op = BLK_SYNC_DISCARD, .offset = offset,
                    .bytes = bytes };

    return blk_sync(&s);
}

int blk_flush(BlockBackend *blk)
{
    BlkSyncCo s = { .blk = blk, .op = BLK_SYNC_FLUSH };

    return blk_sync(&s);
}

int blk_truncate(BlockBackend *blk, int64_t offset, bool exact,
                 PreallocMode prealloc, BdrvRequestFlags flags, Error **errp)
{
    BlkSyncCo s = { .blk = blk, .op = BLK_SYNC_TRUNCATE, .offset = offset,
                    .exact = exact, .prealloc = prealloc, .flags = flags,
                    .errp = errp };

    return blk_sync(&s);
}

void blk_drain(BlockBackend *blk)
{
    BlockDriverState *bs = blk_bs(blk);

    if (bs) {
        /* Waits for this backend's requests too (drained_poll) */
        bdrv_ref(bs);
        bdrv_co_drained_begin(bs);
        bdrv_co_drained_end(bs);
        bdrv_unref(bs);
    } else if (!qemu_in_coroutine()) {
        AIO_POLL_WHILE(qemu_get_aio_context(), blk->in_flight > 0);
    }
}
