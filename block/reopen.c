/*
 * reopen.c: changing a live node in place: switching it between
 * read-only and read-write (QEMU's bdrv_reopen_set_read_only, used by the
 * mirror pivot), giving it another backing node (bdrv_set_backing_hd,
 * used when drive-mirror's target takes over the source's chain), and
 * failing its requests on a remote that stopped answering
 * (bdrv_cancel_in_flight, used by a job's force cancel).
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "trace/trace-block.h"

/* ---- read-only switch ---- */

typedef struct ReopenNode {
    BlockDriverState *bs;
    int open_flags;
    bool read_only;
} ReopenNode;

/* bs and the nodes it opened from inline definitions (not its backing) */
static void bdrv_reopen_collect(BlockDriverState *bs, GArray *nodes)
{
    ReopenNode n = { bs, bs->open_flags, bs->read_only };
    GList *l;

    g_array_append_val(nodes, n);
    for (l = bs->children; l; l = l->next) {
        BdrvChild *c = l->data;

        if (c != bs->backing && c->bs->inherits_from == bs) {
            bdrv_reopen_collect(c->bs, nodes);
        }
    }
}

typedef struct ReopenPrepareCo {
    BlockDriverState *bs;
    Error *err;
    int ret;
    bool done;
} ReopenPrepareCo;

/* Write back what a writable node would write at close, then flush */
static void coroutine_fn bdrv_reopen_prepare_ro_entry(void *opaque)
{
    ReopenPrepareCo *p = opaque;
    BlockDriverState *bs = p->bs;

    p->ret = 0;
    if (bs->drv->bdrv_co_prepare_read_only) {
        p->ret = bs->drv->bdrv_co_prepare_read_only(bs, &p->err);
    }
    if (p->ret == 0) {
        p->ret = bdrv_co_flush(bs);
        if (p->ret < 0) {
            error_setg_errno(&p->err, -p->ret, "Could not flush '%s'",
                             bdrv_get_node_name(bs));
        }
    }
    p->done = true;
    aio_notify(qemu_get_aio_context());
}

static int bdrv_reopen_prepare_ro(BlockDriverState *bs, Error **errp)
{
    ReopenPrepareCo p = { .bs = bs };

    if (qemu_in_coroutine()) {
        bdrv_reopen_prepare_ro_entry(&p);
    } else {
        qemu_coroutine_enter(qemu_coroutine_create(bdrv_reopen_prepare_ro_entry,
                                                   &p));
        AIO_POLL_WHILE(qemu_get_aio_context(), !p.done);
    }
    if (p.ret < 0) {
        error_propagate(errp, p.err);
    }
    return p.ret;
}

static void bdrv_reopen_apply(GArray *nodes, bool read_only)
{
    guint i;

    for (i = 0; i < nodes->len; i++) {
        BlockDriverState *bs = g_array_index(nodes, ReopenNode, i).bs;

        bs->read_only = read_only;
        if (read_only) {
            bs->open_flags &= ~BDRV_O_RDWR;
        } else {
            bs->open_flags |= BDRV_O_RDWR;
        }
    }
}

static void bdrv_reopen_restore(GArray *nodes)
{
    guint i;

    for (i = 0; i < nodes->len; i++) {
        ReopenNode *n = &g_array_index(nodes, ReopenNode, i);

        n->bs->read_only = n->read_only;
        n->bs->open_flags = n->open_flags;
    }
}

int bdrv_reopen_set_read_only(BlockDriverState *bs, bool read_only,
                              Error **errp)
{
    g_autoptr(GArray) nodes = NULL;
    uint64_t perm, shared;
    int ret;

    if (!bs->drv) {
        error_setg(errp, "Node '%s' is not open", bdrv_get_node_name(bs));
        return -ENOMEDIUM;
    }
    if (bdrv_is_read_only(bs) == read_only) {
        return 0;
    }
    trace_bdrv_reopen_set_read_only(bs, read_only);
    bdrv_get_cumulative_perm(bs, &perm, &shared);
    if (read_only && (perm & BLK_PERM_WRITE)) {
        error_setg(errp, "Cannot make node '%s' read-only: it is being written",
                   bdrv_get_node_name(bs));
        return -EPERM;
    }
    nodes = g_array_new(false, false, sizeof(ReopenNode));
    bdrv_reopen_collect(bs, nodes);

    if (qemu_in_coroutine()) {
        bdrv_co_drained_begin(bs);
    } else {
        bdrv_drained_begin(bs);
    }
    if (read_only) {
        ret = bdrv_reopen_prepare_ro(bs, errp);
        if (ret < 0) {
            goto out;
        }
    }
    bdrv_reopen_apply(nodes, read_only);
    /* The format drops or takes WRITE on its file; file-posix reopens */
    ret = bdrv_refresh_perms(bs, errp);
    if (ret < 0) {
        bdrv_reopen_restore(nodes);
        bdrv_refresh_perms(bs, NULL);
    }
out:
    if (qemu_in_coroutine()) {
        bdrv_co_drained_end(bs);
    } else {
        bdrv_drained_end(bs);
    }
    return ret;
}

/* ---- backing change ---- */

bool bdrv_set_backing_hd(BlockDriverState *bs, BlockDriverState *backing_hd,
                         Error **errp)
{
    BdrvChild *old = bs->backing;
    BlockDriverState *p;

    if (!bs->drv || !bs->drv->supports_backing) {
        error_setg(errp, "Driver '%s' of node '%s' does not support backing "
                   "files", bs->drv ? bs->drv->format_name : "",
                   bdrv_get_node_name(bs));
        return false;
    }
    if (old && old->bs == backing_hd) {
        return true;
    }
    if (old && old->frozen) {
        error_setg(errp, "Cannot change frozen 'backing' link from '%s' to "
                   "'%s'", bdrv_get_node_name(bs),
                   bdrv_get_node_name(old->bs));
        return false;
    }
    for (p = backing_hd; p; p = bdrv_filter_or_cow_bs(p)) {
        if (p == bs) {
            error_setg(errp, "Making '%s' a backing child of '%s' would create "
                       "a loop", bdrv_get_node_name(backing_hd),
                       bdrv_get_node_name(bs));
            return false;
        }
    }
    trace_bdrv_set_backing_hd(bs, backing_hd);
    if (backing_hd) {
        /* Attaching makes it bs->backing; the old child is dropped below */
        if (!bdrv_attach_child(bs, backing_hd, "backing", &child_of_bds,
                               BDRV_CHILD_COW, errp)) {
            return false;
        }
    }
    if (old) {
        if (bs->backing == old) {
            bs->backing = NULL;
        }
        bdrv_unref_child(bs, old);
    }
    return true;
}

/* ---- force cancel ---- */

void bdrv_cancel_in_flight(BlockDriverState *bs)
{
    GList *l;

    if (!bs || !bs->drv) {
        return;
    }
    if (bs->drv->bdrv_cancel_in_flight) {
        bs->drv->bdrv_cancel_in_flight(bs);
    }
    /* Down to where the data is stored (not into backing files) */
    for (l = bs->children; l; l = l->next) {
        BdrvChild *c = l->data;

        if (c != bs->backing) {
            bdrv_cancel_in_flight(c->bs);
        }
    }
}
