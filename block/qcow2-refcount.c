/*
 * qcow2-refcount.c: qcow2 host cluster management.
 *
 * The refcount table (in memory, host order) points at refcount blocks
 * (in the refcount block cache, on-disk order) of 2^refcount_order-bit
 * entries.  Here: reading and updating refcounts of any width, the free
 * cluster search, allocation of clusters and of compressed byte ranges,
 * new refcount blocks and refcount table growth (written so that a crash
 * at any point leaves at most leaked clusters), freeing with optional
 * discard of the host range, metadata overlap checks and the corruption
 * signal.
 */
#include "qemu/osdep.h"
#include "block/qcow2.h"
#include "qapi/qapi-events.h"
#include "trace/trace-block.h"

/* ---- entries of any width (bit 0 is the least significant bit) ---- */

static uint64_t rb_get(BDRVQcow2State *s, const void *block, uint64_t i)
{
    const uint8_t *b = block;

    switch (s->refcount_order) {
    case 0:
        return (b[i / 8] >> (i % 8)) & 0x1;
    case 1:
        return (b[i / 4] >> (2 * (i % 4))) & 0x3;
    case 2:
        return (b[i / 2] >> (4 * (i % 2))) & 0xf;
    case 3:
        return b[i];
    case 4:
        return GUINT16_FROM_BE(((const uint16_t *)block)[i]);
    case 5:
        return GUINT32_FROM_BE(((const uint32_t *)block)[i]);
    default:
        return GUINT64_FROM_BE(((const uint64_t *)block)[i]);
    }
}

static void rb_set(BDRVQcow2State *s, void *block, uint64_t i, uint64_t value)
{
    uint8_t *b = block;
    int shift, width;

    assert(value <= s->refcount_max);
    switch (s->refcount_order) {
    case 0:
    case 1:
    case 2:
        width = s->refcount_bits;
        shift = (i % (8 / width)) * width;
        b[i / (8 / width)] = (b[i / (8 / width)] & ~(((1 << width) - 1) << shift)) |
                             (value << shift);
        break;
    case 3:
        b[i] = value;
        break;
    case 4:
        ((uint16_t *)block)[i] = GUINT16_TO_BE(value);
        break;
    case 5:
        ((uint32_t *)block)[i] = GUINT32_TO_BE(value);
        break;
    default:
        ((uint64_t *)block)[i] = GUINT64_TO_BE(value);
        break;
    }
}

/* ---- corruption and overlap checks ---- */

void qcow2_signal_corruption(BlockDriverState *bs, bool fatal, int64_t offset,
                             int64_t size, const char *fmt, ...)
{
    BDRVQcow2State *s = bs->opaque;
    char *message;
    va_list ap;

    va_start(ap, fmt);
    message = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    trace_qcow2_signal_corruption(bs, fatal, offset, size, message);
    if (s->signaled_corruption &&
        (!fatal || (s->incompatible_features & QCOW2_INCOMPAT_CORRUPT))) {
        g_free(message);
        return;
    }
    if (fatal) {
        error_report("qcow2: Marking image as corrupt: %s; further corruption "
                     "events will be suppressed", message);
    } else {
        error_report("qcow2: Image is corrupt: %s; further non-fatal "
                     "corruption events will be suppressed", message);
    }
    qapi_event_send_block_image_corrupted("", bdrv_get_node_name(bs), message,
                                          offset >= 0, offset, size >= 0, size,
                                          fatal);
    g_free(message);
    if (fatal) {
        s->incompatible_features |= QCOW2_INCOMPAT_CORRUPT;
        if (qemu_in_coroutine() && bdrv_is_writable(bs)) {
            qcow2_mark_corrupt(bs);
        }
        /* No more writes: the image may only be read (or repaired offline) */
        bs->read_only = true;
    }
    s->signaled_corruption = true;
}

static bool ranges_overlap(int64_t a, int64_t alen, int64_t b, int64_t blen)
{
    return alen > 0 && blen > 0 && a < b + blen && b < a + alen;
}

int coroutine_fn qcow2_check_metadata_overlap(BlockDriverState *bs, int ign,
                                              int64_t offset, int64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    int chk = s->overlap_check & ~ign;
    uint32_t i;

    if (!chk || size <= 0) {
        return 0;
    }
    /* Whole clusters on both sides, as metadata always is */
    size = ROUND_UP(offset_into_cluster(s, offset) + size, s->cluster_size);
    offset = start_of_cluster(s, offset);

    if ((chk & QCOW2_OL_MAIN_HEADER) && offset < s->cluster_size) {
        return QCOW2_OL_MAIN_HEADER;
    }
    if ((chk & QCOW2_OL_ACTIVE_L1) && s->l1_size &&
        ranges_overlap(offset, size, s->l1_table_offset,
                       ROUND_UP((int64_t)s->l1_size * 8, s->cluster_size))) {
        return QCOW2_OL_ACTIVE_L1;
    }
    if ((chk & QCOW2_OL_REFCOUNT_TABLE) && s->refcount_table_size &&
        ranges_overlap(offset, size, s->refcount_table_offset,
                       ROUND_UP((int64_t)s->refcount_table_size * 8,
                                s->cluster_size))) {
        return QCOW2_OL_REFCOUNT_TABLE;
    }
    if ((chk & QCOW2_OL_SNAPSHOT_TABLE) && s->snapshots_size &&
        ranges_overlap(offset, size, s->snapshots_offset,
                       ROUND_UP(s->snapshots_size, s->cluster_size))) {
        return QCOW2_OL_SNAPSHOT_TABLE;
    }
    if ((chk & QCOW2_OL_INACTIVE_L1) && s->snapshots) {
        for (i = 0; i < s->nb_snapshots; i++) {
            if (s->snapshots[i].l1_size &&
                ranges_overlap(offset, size, s->snapshots[i].l1_table_offset,
                               ROUND_UP((int64_t)s->snapshots[i].l1_size * 8,
                                        s->cluster_size))) {
                return QCOW2_OL_INACTIVE_L1;
            }
        }
    }
    if ((chk & QCOW2_OL_BITMAP_DIRECTORY) && s->has_bitmaps_ext &&
        ranges_overlap(offset, size, s->bitmaps_ext.bitmap_directory_offset,
                       ROUND_UP(s->bitmaps_ext.bitmap_directory_size,
                                s->cluster_size))) {
        return QCOW2_OL_BITMAP_DIRECTORY;
    }
    if ((chk & QCOW2_OL_ACTIVE_L2) && s->l1_table) {
        for (i = 0; i < (uint32_t)s->l1_size; i++) {
            uint64_t l2 = s->l1_table[i] & L1E_OFFSET_MASK;

            if (l2 && ranges_overlap(offset, size, l2, s->cluster_size)) {
                return QCOW2_OL_ACTIVE_L2;
            }
        }
    }
    if ((chk & QCOW2_OL_REFCOUNT_BLOCK) && s->refcount_table) {
        for (i = 0; i <= s->max_refcount_table_index &&
                    i < s->refcount_table_size; i++) {
            uint64_t rb = s->refcount_table[i] & REFT_OFFSET_MASK;

            if (rb && ranges_overlap(offset, size, rb, s->cluster_size)) {
                return QCOW2_OL_REFCOUNT_BLOCK;
            }
        }
    }
    return 0;
}

static const char *const metadata_ol_names[] = {
    "qcow2_header", "active L1 table", "active L2 table", "refcount table",
    "refcount block", "snapshot table", "inactive L1 table",
    "inactive L2 table", "bitmap directory",
};

int coroutine_fn qcow2_pre_write_overlap_check(BlockDriverState *bs, int ign,
                                               int64_t offset, int64_t size)
{
    int ret = qcow2_check_metadata_overlap(bs, ign, offset, size);

    if (ret > 0) {
        int bit = __builtin_ctz(ret);

        assert(bit < QCOW2_OL_MAX_BITNR);
        qcow2_signal_corruption(bs, true, offset, size, "Preventing invalid "
                                "write on metadata (overlaps with %s)",
                                metadata_ol_names[bit]);
        return -EIO;
    }
    return 0;
}

/* ---- refcount blocks ---- */

/* Offset of the refcount block for rt_index, 0 if none, -EIO if corrupt */
static int64_t refblock_offset(BlockDriverState *bs, uint64_t rt_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t off;

    if (rt_index >= s->refcount_table_size) {
        return 0;
    }
    off = s->refcount_table[rt_index] & REFT_OFFSET_MASK;
    if (offset_into_cluster(s, off)) {
        qcow2_signal_corruption(bs, true, -1, -1, "Refblock offset %#" PRIx64
                                " unaligned (reftable index: %#" PRIx64 ")",
                                off, rt_index);
        return -EIO;
    }
    return off;
}

int coroutine_fn qcow2_get_refcount(BlockDriverState *bs, int64_t cluster_index,
                                    uint64_t *refcount)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t rb;
    void *block;
    int ret;

    rb = refblock_offset(bs, cluster_index >> s->refcount_block_bits);
    if (rb <= 0) {
        *refcount = 0;
        return rb;
    }
    ret = qcow2_cache_get(bs, s->refcount_block_cache, rb, &block);
    if (ret < 0) {
        return ret;
    }
    *refcount = rb_get(s, block, cluster_index & (s->refcount_block_size - 1));
    qcow2_cache_put(s->refcount_block_cache, &block);
    return 0;
}

/*
 * First index >= *index of a run of nb clusters with refcount 0; scans
 * whole refcount blocks at a time.
 */
static int coroutine_fn find_free_clusters(BlockDriverState *bs, uint64_t *index,
                                           uint64_t nb)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t max_index = UINT64_C(1) << (56 - s->cluster_bits);
    uint64_t start = *index, i = *index;
    void *block = NULL;
    int64_t cur_rb = -1;
    int ret = 0;

    while (i - start < nb) {
        uint64_t rt_index = i >> s->refcount_block_bits;
        uint64_t refcount;
        int64_t rb;

        if (i >= max_index) {
            ret = -EFBIG;
            break;
        }
        rb = refblock_offset(bs, rt_index);
        if (rb < 0) {
            ret = rb;
            break;
        }
        if (!rb) {
            /* No block: the whole range it covers is free */
            i = MIN((rt_index + 1) << s->refcount_block_bits, start + nb);
            continue;
        }
        if (rb != cur_rb) {
            if (block) {
                qcow2_cache_put(s->refcount_block_cache, &block);
            }
            ret = qcow2_cache_get(bs, s->refcount_block_cache, rb, &block);
            if (ret < 0) {
                break;
            }
            cur_rb = rb;
        }
        refcount = rb_get(s, block, i & (s->refcount_block_size - 1));
        i++;
        if (refcount) {
            start = i;
        }
    }
    if (block) {
        qcow2_cache_put(s->refcount_block_cache, &block);
    }
    if (ret == 0) {
        *index = start;
    }
    return ret;
}

/* Reserve nb free clusters (no refcount change yet): host offset or -errno */
static int64_t coroutine_fn alloc_clusters_noref(BlockDriverState *bs,
                                                 uint64_t nb)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t index = s->free_cluster_index;
    int ret;

    ret = find_free_clusters(bs, &index, nb);
    if (ret < 0) {
        return ret;
    }
    s->free_cluster_index = index + nb;
    return index << s->cluster_bits;
}

static void note_file_end(BDRVQcow2State *s, int64_t end)
{
    if (end > s->file_end_hint) {
        s->file_end_hint = end;
    }
}

/*
 * Grow the refcount table so that cluster_index gets a refcount block.
 * The new table and the refcount blocks it needs (covering themselves)
 * are written in a fresh area past everything in use, flushed, and only
 * then is the header switched to them; the old table is freed last.
 */
int coroutine_fn qcow2_grow_refcount_table(BlockDriverState *bs,
                                           int64_t cluster_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t first_rt = cluster_index >> s->refcount_block_bits;
    uint64_t old_size = s->refcount_table_size;
    uint64_t area_start, area_end, last_rt = 0, blocks = 0, table_clusters = 0;
    uint64_t entries, i, old_offset = s->refcount_table_offset;
    uint64_t old_clusters = size_to_clusters(s, old_size * 8);
    uint64_t *new_table = NULL, *be_table = NULL;
    uint8_t *block_buf = NULL;
    uint8_t hdr[12];
    int ret;

    assert(first_rt >= old_size);
    area_start = MAX((uint64_t)cluster_index + 1, s->free_cluster_index);
    area_start = MAX(area_start, size_to_clusters(s, s->file_end_hint));
    for (;;) {
        uint64_t nb, ntc;

        area_end = area_start + blocks + table_clusters;
        last_rt = (MAX(area_end, area_start + 1) - 1) >> s->refcount_block_bits;
        entries = MAX(last_rt + 1, old_size + old_size / 2);
        ntc = size_to_clusters(s, entries * 8);
        nb = last_rt - first_rt + 1;
        if (nb == blocks && ntc == table_clusters) {
            break;
        }
        blocks = nb;
        table_clusters = ntc;
    }
    entries = table_clusters * s->cluster_size / 8;
    if (entries * 8 > QCOW2_MAX_REFTABLE_SIZE || area_end >= (UINT64_C(1) << (56 - s->cluster_bits))) {
        return -EFBIG;
    }
    trace_qcow2_grow_refcount_table(bs, old_size, entries, area_start, blocks);

    block_buf = qemu_try_memalign(4096, s->cluster_size);
    new_table = g_try_new0(uint64_t, entries);
    be_table = qemu_try_memalign(4096, table_clusters * s->cluster_size);
    if (!block_buf || !new_table || !be_table) {
        ret = -ENOMEM;
        goto out;
    }
    memcpy(new_table, s->refcount_table, old_size * 8);
    for (i = 0; i < blocks; i++) {
        uint64_t rt_index = first_rt + i;
        uint64_t block_first = rt_index << s->refcount_block_bits;
        uint64_t c;

        memset(block_buf, 0, s->cluster_size);
        for (c = MAX(block_first, area_start);
             c < MIN(block_first + s->refcount_block_size, area_end); c++) {
            rb_set(s, block_buf, c - block_first, 1);
        }
        new_table[rt_index] = (area_start + i) << s->cluster_bits;
        ret = bdrv_co_pwrite(bs->file, new_table[rt_index], s->cluster_size,
                             block_buf, 0);
        if (ret < 0) {
            goto out;
        }
    }
    memset(be_table, 0, table_clusters * s->cluster_size);
    for (i = 0; i < entries; i++) {
        be_table[i] = GUINT64_TO_BE(new_table[i]);
    }
    ret = bdrv_co_pwrite(bs->file, (area_start + blocks) << s->cluster_bits,
                         table_clusters * s->cluster_size, be_table, 0);
    if (ret < 0) {
        goto out;
    }
    /* Everything the new table describes must be stable before the switch */
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        goto out;
    }
    *(uint64_t *)hdr = GUINT64_TO_BE((area_start + blocks) << s->cluster_bits);
    *(uint32_t *)(hdr + 8) = GUINT32_TO_BE(table_clusters);
    ret = bdrv_co_pwrite(bs->file, offsetof(QCowHeader, refcount_table_offset),
                         sizeof(hdr), hdr, 0);
    if (ret < 0) {
        goto out;
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        goto out;
    }
    g_free(s->refcount_table);
    s->refcount_table = new_table;
    new_table = NULL;
    s->refcount_table_size = entries;
    s->refcount_table_offset = (area_start + blocks) << s->cluster_bits;
    s->max_refcount_table_index = MAX(s->max_refcount_table_index, last_rt);
    note_file_end(s, area_end << s->cluster_bits);
    /* The old table is garbage now */
    qcow2_free_clusters(bs, old_offset, old_clusters << s->cluster_bits,
                        QCOW2_DISCARD_OTHER);
    ret = 0;
out:
    g_free(new_table);
    qemu_vfree(be_table);
    qemu_vfree(block_buf);
    return ret;
}

/*
 * A new refcount block for the (empty) table entry of cluster_index, made
 * in the cache with its own refcount set (in itself or in another block)
 * and linked in memory; the table entry on disk waits for the block to be
 * flushed (qcow2-link.c).
 */
static int coroutine_fn alloc_refcount_block(BlockDriverState *bs,
                                             int64_t cluster_index, void **block)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t rt_index = cluster_index >> s->refcount_block_bits;
    int64_t new_block, new_index;
    int ret;

    if (rt_index >= s->refcount_table_size) {
        ret = qcow2_grow_refcount_table(bs, cluster_index);
        if (ret < 0) {
            return ret;
        }
        return qcow2_cache_get(bs, s->refcount_block_cache,
                               s->refcount_table[rt_index] & REFT_OFFSET_MASK,
                               block);
    }
    new_block = alloc_clusters_noref(bs, 1);
    if (new_block < 0) {
        return new_block;
    }
    new_index = new_block >> s->cluster_bits;
    trace_qcow2_alloc_refcount_block(bs, rt_index, new_block);
    if ((uint64_t)(new_index >> s->refcount_block_bits) != rt_index) {
        /* Described by another block (maybe new itself) */
        ret = qcow2_update_refcount(bs, new_block, s->cluster_size, 1,
                                    QCOW2_DISCARD_NEVER);
        if (ret < 0) {
            return ret;
        }
        if (s->refcount_table[rt_index] & REFT_OFFSET_MASK) {
            /* The recursion covered our index meanwhile (table growth) */
            qcow2_free_clusters(bs, new_block, s->cluster_size,
                                QCOW2_DISCARD_NEVER);
            return qcow2_cache_get(bs, s->refcount_block_cache,
                                   s->refcount_table[rt_index] & REFT_OFFSET_MASK,
                                   block);
        }
    }
    ret = qcow2_cache_get_empty(bs, s->refcount_block_cache, new_block, block);
    if (ret < 0) {
        return ret;
    }
    memset(*block, 0, s->cluster_size);
    if ((uint64_t)(new_index >> s->refcount_block_bits) == rt_index) {
        rb_set(s, *block, new_index & (s->refcount_block_size - 1), 1);
    }
    qcow2_cache_entry_mark_dirty(s->refcount_block_cache, *block);
    note_file_end(s, new_block + s->cluster_size);
    s->refcount_table[rt_index] = new_block;
    s->max_refcount_table_index = MAX(s->max_refcount_table_index, rt_index);
    qcow2_link_defer_refblock(bs, rt_index);
    return 0;
}

/* ---- updating refcounts ---- */

typedef struct DiscardRange {
    int64_t offset;
    int64_t bytes;
} DiscardRange;

static void discard_range_add(GArray *a, int64_t offset, int64_t bytes)
{
    if (a->len) {
        DiscardRange *last = &g_array_index(a, DiscardRange, a->len - 1);

        if (last->offset + last->bytes == offset) {
            last->bytes += bytes;
            return;
        }
    }
    g_array_append_val(a, ((DiscardRange) { offset, bytes }));
}

static void cluster_freed(BlockDriverState *bs, int64_t cluster_offset)
{
    BDRVQcow2State *s = bs->opaque;
    unsigned l2_slice = qcow2_cache_table_size(s->l2_table_cache);
    int64_t off;

    if ((uint64_t)(cluster_offset >> s->cluster_bits) < s->free_cluster_index) {
        s->free_cluster_index = cluster_offset >> s->cluster_bits;
    }
    /* Compressed data must not be appended to a cluster that was freed */
    if (s->free_byte_offset &&
        start_of_cluster(s, s->free_byte_offset) == cluster_offset) {
        s->free_byte_offset = 0;
    }
    /* A freed metadata cluster must not be written back from a cache */
    for (off = cluster_offset; off < cluster_offset + s->cluster_size;
         off += l2_slice) {
        qcow2_cache_discard(s->l2_table_cache, off);
    }
    qcow2_cache_discard(s->refcount_block_cache, cluster_offset);
}

int coroutine_fn qcow2_update_refcount(BlockDriverState *bs, int64_t offset,
                                       int64_t length, int64_t addend,
                                       Qcow2DiscardType type)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t start, last, cluster_offset, done_end = -1;
    int64_t cur_rt = -1;
    void *block = NULL;
    GArray *discards = NULL;
    int ret = 0;

    if (length <= 0 || addend == 0) {
        return 0;
    }
    trace_qcow2_update_refcount(bs, offset, length, addend, type);
    if (addend < 0 && s->l2_table_cache) {
        ret = qcow2_cache_set_dependency(bs, s->refcount_block_cache,
                                         s->l2_table_cache);
        if (ret < 0) {
            return ret;
        }
    }
    if (addend < 0 && s->discard_passthrough[type]) {
        discards = g_array_new(false, false, sizeof(DiscardRange));
    }
    start = start_of_cluster(s, offset);
    last = start_of_cluster(s, offset + length - 1);
    for (cluster_offset = start; cluster_offset <= last;
         cluster_offset += s->cluster_size) {
        int64_t ci = cluster_offset >> s->cluster_bits;
        int64_t rt_index = ci >> s->refcount_block_bits;
        uint64_t refcount, idx;

        if (rt_index != cur_rt) {
            int64_t rb;

            if (block) {
                qcow2_cache_put(s->refcount_block_cache, &block);
            }
            cur_rt = -1;
            rb = refblock_offset(bs, rt_index);
            if (rb < 0) {
                ret = rb;
                goto fail;
            }
            if (rb) {
                ret = qcow2_cache_get(bs, s->refcount_block_cache, rb, &block);
            } else if (addend > 0) {
                ret = alloc_refcount_block(bs, ci, &block);
            } else {
                ret = -EINVAL;
            }
            if (ret < 0) {
                goto fail;
            }
            cur_rt = rt_index;
        }
        idx = ci & (s->refcount_block_size - 1);
        refcount = rb_get(s, block, idx);
        if (addend < 0 ? (uint64_t)-addend > refcount
                       : (uint64_t)addend > s->refcount_max - refcount) {
            ret = -EINVAL;
            goto fail;
        }
        refcount += addend;
        rb_set(s, block, idx, refcount);
        qcow2_cache_entry_mark_dirty(s->refcount_block_cache, block);
        done_end = cluster_offset + s->cluster_size;
        if (refcount == 0) {
            /* Drop our reference first: the block itself may be the freed cluster */
            qcow2_cache_put(s->refcount_block_cache, &block);
            cur_rt = -1;
            cluster_freed(bs, cluster_offset);
            if (discards) {
                discard_range_add(discards, cluster_offset, s->cluster_size);
            }
        } else if (addend > 0) {
            note_file_end(s, cluster_offset + s->cluster_size);
        }
    }
    ret = 0;

fail:
    if (block) {
        qcow2_cache_put(s->refcount_block_cache, &block);
    }
    if (ret < 0 && done_end > start) {
        /* Undo what was done (failure of an increase; a decrease cannot undo) */
        int r = qcow2_update_refcount(bs, start, done_end - start, -addend,
                                      QCOW2_DISCARD_NEVER);
        if (r < 0) {
            trace_qcow2_update_refcount_undo_failed(bs, r);
        }
    }
    if (ret == -EINVAL && addend < 0) {
        qcow2_signal_corruption(bs, true, start, last + s->cluster_size - start,
                                "Refcount of cluster(s) at %#" PRIx64
                                " would drop below zero", start);
        ret = -EIO;
    }
    if (discards) {
        guint i;

        for (i = 0; i < discards->len; i++) {
            DiscardRange *d = &g_array_index(discards, DiscardRange, i);

            bdrv_co_pdiscard(bs->file, d->offset, d->bytes);
        }
        g_array_free(discards, true);
    }
    return ret;
}

int64_t coroutine_fn qcow2_update_cluster_refcount(BlockDriverState *bs,
                                                   int64_t cluster_index,
                                                   int64_t addend,
                                                   Qcow2DiscardType type)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t refcount;
    int ret;

    ret = qcow2_update_refcount(bs, cluster_index << s->cluster_bits, 1,
                                addend, type);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_get_refcount(bs, cluster_index, &refcount);
    return ret < 0 ? ret : (int64_t)refcount;
}

/* ---- allocation ---- */

int64_t coroutine_fn qcow2_alloc_clusters(BlockDriverState *bs, uint64_t size)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t offset;
    int ret;

    offset = alloc_clusters_noref(bs, size_to_clusters(s, size));
    if (offset < 0) {
        return offset;
    }
    ret = qcow2_update_refcount(bs, offset, size, 1, QCOW2_DISCARD_NEVER);
    if (ret < 0) {
        return ret;
    }
    trace_qcow2_alloc_clusters_offset(qemu_coroutine_self(), offset, size);
    return offset;
}

int64_t coroutine_fn qcow2_alloc_clusters_at(BlockDriverState *bs,
                                             uint64_t offset,
                                             int64_t *nb_clusters)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t ci = offset >> s->cluster_bits;
    int64_t i;
    int ret;

    assert(!offset_into_cluster(s, offset));
    for (i = 0; i < *nb_clusters; i++) {
        uint64_t refcount;

        ret = qcow2_get_refcount(bs, ci + i, &refcount);
        if (ret < 0) {
            return ret;
        }
        if (refcount) {
            break;
        }
    }
    *nb_clusters = i;
    if (!i) {
        return 0;
    }
    /* New refcount blocks must not land in this range */
    if (s->free_cluster_index < ci + i && s->free_cluster_index >= ci) {
        s->free_cluster_index = ci + i;
    }
    ret = qcow2_update_refcount(bs, offset, i << s->cluster_bits, 1,
                                QCOW2_DISCARD_NEVER);
    return ret < 0 ? ret : (int64_t)offset;
}

int64_t coroutine_fn qcow2_alloc_bytes(BlockDriverState *bs, int size)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t offset;
    int64_t free_in_cluster;
    int ret;

    assert(size > 0 && size <= s->cluster_size);
    offset = s->free_byte_offset;
    if (offset) {
        uint64_t refcount;

        ret = qcow2_get_refcount(bs, offset >> s->cluster_bits, &refcount);
        if (ret < 0) {
            return ret;
        }
        if (refcount == s->refcount_max) {
            offset = 0;
        }
    }
    free_in_cluster = offset ? s->cluster_size - offset_into_cluster(s, offset) : 0;
    if (!offset || free_in_cluster < size) {
        int64_t new_cluster = alloc_clusters_noref(bs, 1);

        if (new_cluster < 0) {
            return new_cluster;
        }
        if (new_cluster == 0) {
            qcow2_signal_corruption(bs, true, new_cluster, s->cluster_size,
                                    "Preventing invalid allocation of "
                                    "compressed cluster at offset 0");
            return -EIO;
        }
        if (!offset || ROUND_UP(offset, s->cluster_size) != new_cluster) {
            offset = new_cluster;
        }
    }
    ret = qcow2_update_refcount(bs, offset, size, 1, QCOW2_DISCARD_NEVER);
    if (ret < 0) {
        return ret;
    }
    s->free_byte_offset = offset + size;
    if (!offset_into_cluster(s, s->free_byte_offset)) {
        s->free_byte_offset = 0;
    }
    return offset;
}

void coroutine_fn qcow2_free_clusters(BlockDriverState *bs, int64_t offset,
                                      int64_t size, Qcow2DiscardType type)
{
    int ret = qcow2_update_refcount(bs, offset, size, -1, type);

    if (ret < 0) {
        trace_qcow2_free_clusters_failed(bs, offset, size, ret);
    }
}

void coroutine_fn qcow2_free_any_cluster(BlockDriverState *bs, uint64_t l2_entry,
                                         Qcow2DiscardType type)
{
    BDRVQcow2State *s = bs->opaque;
    QCow2ClusterType ctype = qcow2_get_cluster_type(bs, l2_entry);

    switch (ctype) {
    case QCOW2_CLUSTER_COMPRESSED: {
        uint64_t coffset;
        int csize;

        qcow2_parse_compressed_l2_entry(bs, l2_entry, &coffset, &csize);
        qcow2_free_clusters(bs, coffset, csize, type);
        break;
    }
    case QCOW2_CLUSTER_NORMAL:
    case QCOW2_CLUSTER_ZERO_ALLOC:
        if (offset_into_cluster(s, l2_entry & L2E_OFFSET_MASK)) {
            qcow2_signal_corruption(bs, false, -1, -1, "Cannot free unaligned "
                                    "cluster %#" PRIx64,
                                    l2_entry & L2E_OFFSET_MASK);
        } else {
            qcow2_free_clusters(bs, l2_entry & L2E_OFFSET_MASK,
                                s->cluster_size, type);
        }
        break;
    default:
        break;
    }
}

/* ---- caches ---- */

int coroutine_fn qcow2_write_caches(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    ret = qcow2_link_tables(bs);
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_cache_write(bs, s->l2_table_cache);
    if (ret < 0) {
        return ret;
    }
    return qcow2_cache_write(bs, s->refcount_block_cache);
}

int coroutine_fn qcow2_flush_caches(BlockDriverState *bs)
{
    int ret = qcow2_write_caches(bs);

    if (ret < 0) {
        return ret;
    }
    return bdrv_co_flush(bs->file->bs);
}

/* ---- open / close ---- */

int coroutine_fn qcow2_refcount_init(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t bytes = (uint64_t)s->refcount_table_size * 8;
    uint32_t i;
    int ret;

    s->refcount_table = g_try_malloc0(MAX(bytes, 8));
    if (!s->refcount_table) {
        error_setg(errp, "Could not allocate the refcount table");
        return -ENOMEM;
    }
    if (bytes) {
        ret = bdrv_co_pread(bs->file, s->refcount_table_offset, bytes,
                            s->refcount_table, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not read the refcount table");
            return ret;
        }
    }
    s->max_refcount_table_index = 0;
    for (i = 0; i < s->refcount_table_size; i++) {
        s->refcount_table[i] = GUINT64_FROM_BE(s->refcount_table[i]);
        if (s->refcount_table[i]) {
            s->max_refcount_table_index = i;
        }
    }
    return 0;
}

void qcow2_refcount_close(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    g_free(s->refcount_table);
    s->refcount_table = NULL;
}
