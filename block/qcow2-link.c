/*
 * qcow2-link.c: deferred linking of fresh metadata tables.
 *
 * A fresh L2 table (for an L1 entry that had none) and a fresh refcount
 * block (for an empty refcount table entry) are made in the metadata
 * caches and pointed at from the in-memory L1 / refcount table at once,
 * but their entries in the on-disk L1 / refcount table are written later,
 * when the caches are flushed.  Until then the image on disk does not
 * reference the new tables, so a crash can only leak their clusters.
 *
 * QEMU writes both entries at allocation time, behind a flush of the
 * refcount cache, so a long sequential write into a fresh image stops for
 * an fdatasync of everything written so far every 512 MiB (64 KiB
 * clusters); here that work waits for the next flush the user asks for.
 *
 * Ordering kept on the way out:
 *  - a refcount block is written and flushed before its refcount table
 *    entry; refcounts are durable (the L2 cache's dependency) only once
 *    their blocks are linked, so qcow2_cache_flush() of the refcount cache
 *    ends with qcow2_link_refblocks();
 *  - an L2 table and its own refcount are written and flushed before its
 *    L1 entry (qcow2_link_tables(), from qcow2_write_caches() and from
 *    every writer of the active L1 table).
 * A link that fails (an I/O error) leaves its entries pending, so the
 * next flush tries again; the failed flush reports the error.
 * Every call is made with the driver's s->lock held.
 */
#include "qemu/osdep.h"
#include "block/qcow2.h"
#include "trace/trace-block.h"

/* An index is deferred once: only an empty entry gets a fresh table */
static void defer(GArray **list, uint64_t index)
{
    if (!*list) {
        *list = g_array_new(false, false, sizeof(uint64_t));
    }
    g_array_append_val(*list, index);
}

static gint cmp_index(gconstpointer a, gconstpointer b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

void qcow2_link_defer_l2(BlockDriverState *bs, int l1_index)
{
    BDRVQcow2State *s = bs->opaque;

    trace_qcow2_link_defer(bs, "l2-table", l1_index);
    defer(&s->unlinked_l2, l1_index);
}

void qcow2_link_defer_refblock(BlockDriverState *bs, uint64_t rt_index)
{
    BDRVQcow2State *s = bs->opaque;

    trace_qcow2_link_defer(bs, "refcount-block", rt_index);
    defer(&s->unlinked_refblocks, rt_index);
}

static unsigned pending(GArray *list)
{
    return list ? list->len : 0;
}

bool qcow2_link_pending(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return pending(s->unlinked_l2) || pending(s->unlinked_refblocks);
}

/*
 * Write the refcount table entries of the unlinked refcount blocks and
 * flush.  The caller has written and flushed the blocks themselves.
 */
int coroutine_fn qcow2_link_refblocks(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    GArray *list = s->unlinked_refblocks;
    guint i;
    int ret;

    if (!pending(list)) {
        return 0;
    }
    trace_qcow2_link_tables(bs, "refcount-block", list->len);
    for (i = 0; i < list->len; i++) {
        uint64_t rt_index = g_array_index(list, uint64_t, i);
        uint64_t be = GUINT64_TO_BE(s->refcount_table[rt_index]);
        int64_t at = s->refcount_table_offset + rt_index * sizeof(be);

        ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_REFCOUNT_TABLE, at,
                                            sizeof(be));
        if (ret < 0) {
            return ret;
        }
        ret = bdrv_co_pwrite(bs->file, at, sizeof(be), &be, 0);
        if (ret < 0) {
            return ret;
        }
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        return ret;
    }
    g_array_set_size(list, 0);
    return 0;
}

/*
 * Link everything deferred: refcounts (blocks, then their table entries),
 * then the L2 tables, then their L1 entries.  The L1 entries are written,
 * not flushed: the caller's flush (or its next write of the L1 table)
 * comes after.
 */
int coroutine_fn qcow2_link_tables(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    GArray *list = s->unlinked_l2;
    int last_block = -1;
    guint i;
    int ret;

    if (!qcow2_link_pending(bs)) {
        return 0;
    }
    /* Also links the refcount blocks */
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0 || !pending(list)) {
        return ret;
    }
    ret = qcow2_cache_flush(bs, s->l2_table_cache);
    if (ret < 0) {
        return ret;
    }
    trace_qcow2_link_tables(bs, "l2-table", list->len);
    g_array_sort(list, cmp_index);
    for (i = 0; i < list->len; i++) {
        int l1_index = g_array_index(list, uint64_t, i);

        /* One write per 512-byte block of the table is enough */
        if (l1_index / QCOW2_L1_ENTRIES_PER_BLOCK == last_block) {
            continue;
        }
        last_block = l1_index / QCOW2_L1_ENTRIES_PER_BLOCK;
        ret = qcow2_write_l1_block(bs, l1_index);
        if (ret < 0) {
            return ret;
        }
    }
    g_array_set_size(list, 0);
    return 0;
}

void qcow2_link_free(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    if (s->unlinked_l2) {
        g_array_free(s->unlinked_l2, true);
        s->unlinked_l2 = NULL;
    }
    if (s->unlinked_refblocks) {
        g_array_free(s->unlinked_refblocks, true);
        s->unlinked_refblocks = NULL;
    }
}
