/*
 * qcow2-check.c: qcow2 image check and repair (qemu-img check's qcow2 part).
 *
 * The refcounts every cluster should have are rebuilt in memory from the
 * metadata that references clusters: the header, the active L1 table and
 * every snapshot's, the L2 tables and data clusters they reach, the
 * snapshot table, the refcount table and its blocks, and the bitmaps
 * (directory, tables, data).  They are compared with the refcounts in the
 * image: a stored refcount above the computed one is a leak, below it a
 * corruption.  QCOW_OFLAG_COPIED of the active tables must be set exactly
 * where the refcount is 1.  With BDRV_FIX_LEAKS / BDRV_FIX_ERRORS the
 * refcounts (and COPIED flags) are corrected; a refcount structure that
 * cannot describe the image (bad refcount table entries or blocks) is
 * rebuilt from scratch at the end of the file.  Messages go to stderr in
 * qemu-img's words.  Also: the repair of a dirty (lazy refcounts) image
 * opened read/write.
 */
#include "qemu/osdep.h"
#include "block/qcow2.h"
#include "trace/trace-block.h"

typedef struct Qcow2CheckState {
    BlockDriverState *bs;
    BdrvCheckResult *res;
    uint64_t *refcounts;            /* computed refcount per cluster index */
    int64_t nb_clusters;            /* entries of refcounts */
    int64_t file_len;
    uint64_t next_contiguous;       /* fragmentation accounting */
    bool rebuild;                   /* the refcount structure itself is broken */
} Qcow2CheckState;

enum {
    CHECK_FRAG_INFO = 1,
};

/* 64-bit words per L2 entry: 1, or 2 with extended L2 entries */
static inline int l2_words(BDRVQcow2State *s)
{
    return s->cluster_size / (s->l2_size * (int)sizeof(uint64_t));
}

/* ---- computing the refcounts ---- */

static void inc_refcounts(Qcow2CheckState *cs, uint64_t offset, uint64_t size)
{
    BDRVQcow2State *s = cs->bs->opaque;
    uint64_t start, last, c;

    if (!size) {
        return;
    }
    /* The last cluster may be partly in the file, nothing further */
    if (offset > INT64_MAX - size ||
        (int64_t)(offset + size) - cs->file_len >= s->cluster_size) {
        fprintf(stderr, "ERROR: counting reference for region exceeding the "
                "end of the file by one cluster or more: offset 0x%" PRIx64
                " size 0x%" PRIx64 "\n", offset, size);
        cs->res->corruptions++;
        return;
    }
    start = offset >> s->cluster_bits;
    last = (offset + size - 1) >> s->cluster_bits;
    for (c = start; c <= last; c++) {
        assert(c < (uint64_t)cs->nb_clusters);
        if (cs->refcounts[c] >= s->refcount_max) {
            fprintf(stderr, "ERROR: overflow cluster offset=0x%" PRIx64 "\n",
                    c << s->cluster_bits);
            fprintf(stderr, "Use qemu-img amend to increase the refcount entry "
                    "width or qemu-img convert to create a clean copy if the "
                    "image cannot be opened for writing\n");
            cs->res->corruptions++;
            continue;
        }
        cs->refcounts[c]++;
    }
}

static void inc_refcounts_cb(void *opaque, uint64_t offset, uint64_t size)
{
    inc_refcounts(opaque, offset, size);
}

static void check_l2_entry(Qcow2CheckState *cs, uint64_t e, int flags)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = bs->opaque;
    BdrvCheckResult *res = cs->res;
    QCow2ClusterType type = qcow2_get_cluster_type(bs, e);

    if (type != QCOW2_CLUSTER_COMPRESSED && (e & L2E_STD_RESERVED_MASK)) {
        fprintf(stderr, "ERROR found L2 entry with reserved bits set: %"
                PRIx64 "\n", e);
        res->corruptions++;
    }
    switch (type) {
    case QCOW2_CLUSTER_COMPRESSED: {
        uint64_t coffset;
        int csize;

        if (e & QCOW_OFLAG_COPIED) {
            fprintf(stderr, "ERROR: coffset=0x%" PRIx64 ": copied flag must "
                    "never be set for compressed clusters\n",
                    e & s->cluster_offset_mask);
            res->corruptions++;
        }
        qcow2_parse_compressed_l2_entry(bs, e, &coffset, &csize);
        inc_refcounts(cs, coffset, csize);
        if (flags & CHECK_FRAG_INFO) {
            res->bfi.allocated_clusters++;
            res->bfi.compressed_clusters++;
            res->bfi.fragmented_clusters++;
        }
        break;
    }
    case QCOW2_CLUSTER_ZERO_ALLOC:
    case QCOW2_CLUSTER_NORMAL: {
        uint64_t offset = e & L2E_OFFSET_MASK;

        if (flags & CHECK_FRAG_INFO) {
            res->bfi.allocated_clusters++;
            if (cs->next_contiguous && offset != cs->next_contiguous) {
                res->bfi.fragmented_clusters++;
            }
            cs->next_contiguous = offset + s->cluster_size;
        }
        if (offset_into_cluster(s, offset)) {
            fprintf(stderr, "ERROR offset=%" PRIx64 ": Cluster is not properly "
                    "aligned; L2 entry corrupted.\n", offset);
            res->corruptions++;
            break;
        }
        inc_refcounts(cs, offset, s->cluster_size);
        break;
    }
    default:
        break;
    }
}

static int coroutine_fn check_refcounts_l2(Qcow2CheckState *cs, uint64_t l2_offset,
                                           int flags)
{
    BDRVQcow2State *s = cs->bs->opaque;
    uint64_t *l2;
    int i, ret;

    l2 = g_try_malloc(s->cluster_size);
    if (!l2) {
        return -ENOMEM;
    }
    ret = bdrv_co_pread(cs->bs->file, l2_offset, s->cluster_size, l2, 0);
    if (ret < 0) {
        fprintf(stderr, "ERROR: I/O error in check_refcounts_l2\n");
        cs->res->check_errors++;
        g_free(l2);
        return ret;
    }
    for (i = 0; i < s->l2_size; i++) {
        check_l2_entry(cs, GUINT64_FROM_BE(l2[i * l2_words(s)]), flags);
    }
    g_free(l2);
    return 0;
}

static int coroutine_fn check_refcounts_l1(Qcow2CheckState *cs, uint64_t l1_offset,
                                           uint32_t l1_size, int flags)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = bs->opaque;
    uint64_t *l1;
    uint32_t i;
    int ret;

    inc_refcounts(cs, l1_offset, (uint64_t)l1_size * 8);
    if (!l1_size) {
        return 0;
    }
    if (l1_offset + (uint64_t)l1_size * 8 > (uint64_t)cs->file_len) {
        /* Already reported by inc_refcounts (or within the last cluster) */
        return 0;
    }
    l1 = g_try_new(uint64_t, l1_size);
    if (!l1) {
        cs->res->check_errors++;
        return -ENOMEM;
    }
    ret = bdrv_co_pread(bs->file, l1_offset, (int64_t)l1_size * 8, l1, 0);
    if (ret < 0) {
        fprintf(stderr, "ERROR: I/O error in check_refcounts_l1\n");
        cs->res->check_errors++;
        g_free(l1);
        return ret;
    }
    for (i = 0; i < l1_size; i++) {
        uint64_t e = GUINT64_FROM_BE(l1[i]);
        uint64_t l2_offset = e & L1E_OFFSET_MASK;

        if (e & L1E_RESERVED_MASK) {
            fprintf(stderr, "ERROR found L1 entry with reserved bits set: %"
                    PRIx64 "\n", e);
            cs->res->corruptions++;
        }
        if (!l2_offset) {
            continue;
        }
        inc_refcounts(cs, l2_offset, s->cluster_size);
        if (offset_into_cluster(s, l2_offset)) {
            fprintf(stderr, "ERROR l2_offset=%" PRIx64 ": Table is not "
                    "cluster aligned; L1 entry corrupted\n", l2_offset);
            cs->res->corruptions++;
            continue;
        }
        if (l2_offset + s->cluster_size > (uint64_t)cs->file_len) {
            continue;
        }
        ret = check_refcounts_l2(cs, l2_offset, flags);
        if (ret < 0) {
            g_free(l1);
            return ret;
        }
    }
    g_free(l1);
    return 0;
}

static void check_refblocks(Qcow2CheckState *cs)
{
    BDRVQcow2State *s = cs->bs->opaque;
    uint32_t i;

    for (i = 0; i < s->refcount_table_size; i++) {
        uint64_t offset = s->refcount_table[i] & REFT_OFFSET_MASK;
        uint64_t cluster = offset >> s->cluster_bits;

        if (s->refcount_table[i] & REFT_RESERVED_MASK) {
            fprintf(stderr, "ERROR refcount table entry %" PRIu32 " has "
                    "reserved bits set\n", i);
            cs->res->corruptions++;
            cs->rebuild = true;
            continue;
        }
        if (offset_into_cluster(s, offset)) {
            fprintf(stderr, "ERROR refcount block %" PRIu32 " is not "
                    "cluster aligned; refcount table entry corrupted\n", i);
            cs->res->corruptions++;
            cs->rebuild = true;
            continue;
        }
        if (!offset) {
            continue;
        }
        if (cluster >= (uint64_t)cs->nb_clusters) {
            fprintf(stderr, "ERROR refcount block %" PRIu32 " is outside "
                    "image\n", i);
            cs->res->corruptions++;
            cs->rebuild = true;
            continue;
        }
        inc_refcounts(cs, offset, s->cluster_size);
        if (cs->refcounts[cluster] != 1) {
            fprintf(stderr, "ERROR refcount block %" PRIu32 " refcount=%"
                    PRIu64 "\n", i, cs->refcounts[cluster]);
            cs->res->corruptions++;
            cs->rebuild = true;
        }
    }
}

static int coroutine_fn calculate_refcounts(Qcow2CheckState *cs)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = bs->opaque;
    unsigned i;
    int ret;

    memset(cs->refcounts, 0, cs->nb_clusters * sizeof(uint64_t));
    cs->rebuild = false;
    cs->next_contiguous = 0;

    inc_refcounts(cs, 0, s->cluster_size);
    ret = check_refcounts_l1(cs, s->l1_table_offset, s->l1_size, CHECK_FRAG_INFO);
    if (ret < 0) {
        return ret;
    }
    for (i = 0; s->snapshots && i < s->nb_snapshots; i++) {
        QCowSnapshot *sn = &s->snapshots[i];

        if (offset_into_cluster(s, sn->l1_table_offset)) {
            fprintf(stderr, "ERROR snapshot %s (%s) l1_offset=%#" PRIx64 ": "
                    "L1 table is not cluster aligned; snapshot table entry "
                    "corrupted\n", sn->id_str, sn->name, sn->l1_table_offset);
            cs->res->corruptions++;
            continue;
        }
        if (sn->l1_size > QCOW2_MAX_L1_SIZE / sizeof(uint64_t)) {
            fprintf(stderr, "ERROR snapshot %s (%s) l1_size=%#" PRIx32 ": "
                    "L1 table is too large; snapshot table entry corrupted\n",
                    sn->id_str, sn->name, sn->l1_size);
            cs->res->corruptions++;
            continue;
        }
        ret = check_refcounts_l1(cs, sn->l1_table_offset, sn->l1_size, 0);
        if (ret < 0) {
            return ret;
        }
    }
    inc_refcounts(cs, s->snapshots_offset, s->snapshots_size);
    inc_refcounts(cs, s->refcount_table_offset,
                  (uint64_t)s->refcount_table_size * 8);
    ret = qcow2_check_bitmaps_refcounts(bs, inc_refcounts_cb, cs);
    if (ret < 0) {
        cs->res->check_errors++;
        return ret;
    }
    check_refblocks(cs);
    return 0;
}

/* ---- comparing and repairing ---- */

static void compare_refcounts(Qcow2CheckState *cs, BdrvCheckMode fix,
                              int64_t *highest_cluster)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = bs->opaque;
    BdrvCheckResult *res = cs->res;
    int64_t i;

    *highest_cluster = -1;
    for (i = 0; i < cs->nb_clusters; i++) {
        uint64_t refcount1, refcount2 = cs->refcounts[i];
        int *num_fixed = NULL;
        int ret;

        ret = qcow2_get_refcount(bs, i, &refcount1);
        if (ret < 0) {
            fprintf(stderr, "Can't get refcount for cluster %" PRId64 ": %s\n",
                    i, strerror(-ret));
            res->check_errors++;
            continue;
        }
        if (refcount1 || refcount2) {
            *highest_cluster = i;
        }
        if (refcount1 == refcount2) {
            continue;
        }
        if (refcount1 == 0) {
            /* No refcount block for it, or the block lies: rebuild */
            cs->rebuild = true;
        } else if (refcount1 > refcount2 && (fix & BDRV_FIX_LEAKS)) {
            num_fixed = &res->leaks_fixed;
        } else if (refcount1 < refcount2 && (fix & BDRV_FIX_ERRORS)) {
            num_fixed = &res->corruptions_fixed;
        }
        fprintf(stderr, "%s cluster %" PRId64 " refcount=%" PRIu64
                " reference=%" PRIu64 "\n",
                num_fixed ? "Repairing" :
                refcount1 < refcount2 ? "ERROR" : "Leaked",
                i, refcount1, refcount2);
        if (num_fixed) {
            ret = qcow2_update_refcount(bs, i << s->cluster_bits, 1,
                                        (int64_t)(refcount2 - refcount1),
                                        QCOW2_DISCARD_ALWAYS);
            if (ret >= 0) {
                (*num_fixed)++;
                continue;
            }
        }
        if (refcount1 < refcount2) {
            res->corruptions++;
        } else {
            res->leaks++;
        }
    }
}

/* Write a refcount value into a block of the image's refcount width */
static void refblock_put(BDRVQcow2State *s, uint8_t *block, uint64_t i,
                         uint64_t value)
{
    int bits = s->refcount_bits;

    value = MIN(value, s->refcount_max);
    if (bits < 8) {
        int shift = (i * bits) % 8;

        block[(i * bits) / 8] &= ~(((1 << bits) - 1) << shift);
        block[(i * bits) / 8] |= value << shift;
    } else {
        int n = bits / 8, k;

        for (k = n - 1; k >= 0; k--) {
            block[i * n + k] = value & 0xff;
            value >>= 8;
        }
    }
}

/*
 * First fit of count clusters in the computed refcounts, starting at
 * *first_free (which is moved to the first gap seen); the array grows when
 * the run must go past its end.  The clusters get refcount 1.  Returns
 * the first cluster index, or -ENOMEM.
 */
static int64_t alloc_computed(Qcow2CheckState *cs, int64_t count,
                              int64_t *first_free)
{
    int64_t c = *first_free, run = 0, i;
    bool first_gap = true;

    for (; c < cs->nb_clusters && run < count; c++) {
        if (!cs->refcounts[c]) {
            run++;
            if (first_gap) {
                *first_free = c;
                first_gap = false;
            }
        } else {
            run = 0;
        }
    }
    if (run < count) {
        int64_t n = c + count - run;
        uint64_t *grown = g_try_renew(uint64_t, cs->refcounts, n);

        if (!grown) {
            return -ENOMEM;
        }
        memset(grown + cs->nb_clusters, 0, (n - cs->nb_clusters) * sizeof(uint64_t));
        cs->refcounts = grown;
        cs->nb_clusters = n;
        c = n;
        run = count;
    }
    c -= run;
    for (i = 0; i < count; i++) {
        cs->refcounts[c + i] = 1;
    }
    return c;
}

/*
 * Write the refcount blocks covering the clusters in use in [first, end)
 * from the computed refcounts, allocating (first fit, inside or after the
 * range a block describes) those *table does not have yet.  *table grows
 * in whole clusters as needed.  Returns 1 if it grew, 0 if not, -errno.
 */
static int coroutine_fn write_computed_refblocks(Qcow2CheckState *cs,
                                                 int64_t first, int64_t end,
                                                 uint64_t **table,
                                                 uint64_t *entries)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = bs->opaque;
    uint8_t *block = qemu_try_memalign(4096, s->cluster_size);
    int64_t c, first_free = 0;
    bool grown = false;
    int ret = 0;

    if (!block) {
        return -ENOMEM;
    }
    for (c = first; c < end && c < cs->nb_clusters; c++) {
        uint64_t rb = c >> s->refcount_block_bits;
        int64_t rb_start = rb << s->refcount_block_bits, off, i;

        if (!cs->refcounts[c]) {
            continue;
        }
        if (rb < *entries && (*table)[rb]) {
            off = (*table)[rb];
        } else {
            int64_t idx;

            first_free = MAX(first_free, rb_start);
            idx = alloc_computed(cs, 1, &first_free);
            if (idx < 0) {
                ret = idx;
                goto out;
            }
            end = MAX(end, idx + 1);
            if (rb >= *entries) {
                uint64_t n = ROUND_UP((rb + 1) * 8, s->cluster_size) / 8;
                uint64_t *t2;

                if (n * 8 > QCOW2_MAX_REFTABLE_SIZE) {
                    ret = -EFBIG;
                    goto out;
                }
                t2 = g_try_renew(uint64_t, *table, n);
                if (!t2) {
                    ret = -ENOMEM;
                    goto out;
                }
                memset(t2 + *entries, 0, (n - *entries) * 8);
                *table = t2;
                *entries = n;
                grown = true;
            }
            off = idx << s->cluster_bits;
            (*table)[rb] = off;
        }
        memset(block, 0, s->cluster_size);
        for (i = 0; i < s->refcount_block_size &&
                    rb_start + i < cs->nb_clusters; i++) {
            refblock_put(s, block, i, cs->refcounts[rb_start + i]);
        }
        ret = bdrv_co_pwrite(bs->file, off, s->cluster_size, block, 0);
        if (ret < 0) {
            goto out;
        }
        /* This block is written: go on after the range it describes */
        c = rb_start + s->refcount_block_size - 1;
    }
    ret = grown;
out:
    qemu_vfree(block);
    return ret;
}

/*
 * A new refcount table and new blocks describing cs->refcounts (and
 * themselves), placed first fit as QEMU does; then the header is switched
 * to them.  The old structure becomes leaked clusters.
 */
static int coroutine_fn rebuild_refcount_structure(Qcow2CheckState *cs)
{
    BlockDriverState *bs = cs->bs;
    BDRVQcow2State *s = bs->opaque;
    uint64_t *table = NULL, entries = 0, i;
    int64_t table_start = -1, table_clusters = 0;
    uint8_t hdr[12];
    int ret;

    qcow2_cache_empty(s->refcount_block_cache);
    ret = write_computed_refblocks(cs, 0, cs->nb_clusters, &table, &entries);
    if (ret < 0) {
        goto out;
    }
    do {
        int64_t first_free = 0;

        table_clusters = size_to_clusters(s, entries * 8);
        table_start = alloc_computed(cs, table_clusters, &first_free);
        if (table_start < 0) {
            ret = table_start;
            goto out;
        }
        /* The blocks describing the table's clusters change */
        ret = write_computed_refblocks(cs, table_start, table_start + table_clusters,
                                       &table, &entries);
        if (ret < 0) {
            goto out;
        }
    } while (ret > 0);

    for (i = 0; i < entries; i++) {
        table[i] = GUINT64_TO_BE(table[i]);
    }
    ret = bdrv_co_pwrite(bs->file, table_start << s->cluster_bits, entries * 8,
                         table, 0);
    if (ret == 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        goto out;
    }
    *(uint64_t *)hdr = GUINT64_TO_BE((uint64_t)table_start << s->cluster_bits);
    *(uint32_t *)(hdr + 8) = GUINT32_TO_BE(table_clusters);
    ret = bdrv_co_pwrite(bs->file, offsetof(QCowHeader, refcount_table_offset),
                         sizeof(hdr), hdr, 0);
    if (ret == 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        goto out;
    }
    /* Switch the in-memory state (the cache was emptied above) */
    s->max_refcount_table_index = 0;
    for (i = 0; i < entries; i++) {
        table[i] = GUINT64_FROM_BE(table[i]);
        if (table[i]) {
            s->max_refcount_table_index = i;
        }
    }
    g_free(s->refcount_table);
    s->refcount_table = table;
    table = NULL;
    s->refcount_table_offset = (uint64_t)table_start << s->cluster_bits;
    s->refcount_table_size = entries;
    s->free_cluster_index = 0;
    for (i = cs->nb_clusters; i > 0 && !cs->refcounts[i - 1]; i--) {
        /* find the end of the last cluster in use */
    }
    if ((int64_t)(i << s->cluster_bits) > s->file_end_hint) {
        s->file_end_hint = i << s->cluster_bits;
    }
    ret = 0;
out:
    g_free(table);
    return ret;
}

static int coroutine_fn check_refcounts(BlockDriverState *bs, BdrvCheckResult *res,
                                        BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2CheckState cs = { .bs = bs, .res = res };
    BdrvCheckResult pre_compare_res;
    int64_t highest_cluster;
    int ret;

    cs.file_len = bdrv_getlength(bs->file->bs);
    if (cs.file_len < 0) {
        res->check_errors++;
        return cs.file_len;
    }
    /* One more: the last cluster may be partly in the file */
    cs.nb_clusters = size_to_clusters(s, cs.file_len) + 1;
    cs.refcounts = g_try_new0(uint64_t, cs.nb_clusters);
    if (!cs.refcounts) {
        res->check_errors++;
        return -ENOMEM;
    }
    res->bfi.total_clusters = size_to_clusters(s, s->size);

    ret = calculate_refcounts(&cs);
    if (ret < 0) {
        goto out;
    }
    /* A dry run first: decides whether the structure must be rebuilt */
    pre_compare_res = *res;
    compare_refcounts(&cs, 0, &highest_cluster);

    if (cs.rebuild && (fix & BDRV_FIX_ERRORS)) {
        BdrvCheckResult before = *res;

        fprintf(stderr, "Rebuilding refcount structure\n");
        ret = rebuild_refcount_structure(&cs);
        if (ret < 0) {
            fprintf(stderr, "ERROR rebuilding refcount structure: %s\n",
                    strerror(-ret));
            res->check_errors++;
            goto out;
        }
        /* Count again over the new structure; the old one is leaked now */
        g_free(cs.refcounts);
        cs.file_len = MAX(cs.file_len, s->file_end_hint);
        cs.nb_clusters = size_to_clusters(s, cs.file_len) + 1;
        cs.refcounts = g_try_new0(uint64_t, cs.nb_clusters);
        if (!cs.refcounts) {
            res->check_errors++;
            ret = -ENOMEM;
            goto out;
        }
        /* The old structure's clusters are leaked now: only those are repaired */
        *res = (BdrvCheckResult) { 0 };
        ret = calculate_refcounts(&cs);
        if (ret < 0) {
            goto out;
        }
        compare_refcounts(&cs, fix & BDRV_FIX_LEAKS, &highest_cluster);
        if (cs.rebuild) {
            fprintf(stderr, "ERROR rebuilt refcount structure is still broken\n");
        }
        /* What was found before counts as repaired by the rebuild */
        before.corruptions_fixed += before.corruptions;
        before.leaks_fixed += before.leaks;
        before.corruptions = res->corruptions;
        before.leaks = res->leaks;
        before.check_errors += res->check_errors;
        *res = before;
    } else if (fix) {
        if (cs.rebuild) {
            fprintf(stderr, "ERROR need to rebuild refcount structures\n");
            res->check_errors++;
            ret = -EIO;
            goto out;
        }
        if (res->leaks || res->corruptions) {
            *res = pre_compare_res;
            compare_refcounts(&cs, fix, &highest_cluster);
        }
    }
    res->image_end_offset = (highest_cluster + 1) * s->cluster_size;
    ret = 0;
out:
    g_free(cs.refcounts);
    return ret;
}

/* ---- QCOW_OFLAG_COPIED of the active tables ---- */

static int coroutine_fn check_oflag_copied(BlockDriverState *bs, BdrvCheckResult *res,
                                           BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t file_len = bdrv_getlength(bs->file->bs);
    uint64_t *l2 = g_malloc(s->cluster_size);
    int i, j, ret = 0;

    for (i = 0; i < s->l1_size; i++) {
        uint64_t l1e = s->l1_table[i], l2_offset = l1e & L1E_OFFSET_MASK;
        uint64_t refcount;
        bool l2_dirty = false;

        if (!l2_offset || offset_into_cluster(s, l2_offset) ||
            (int64_t)(l2_offset + s->cluster_size) > file_len) {
            continue;
        }
        ret = qcow2_get_refcount(bs, l2_offset >> s->cluster_bits, &refcount);
        if (ret < 0) {
            continue;
        }
        if ((refcount == 1) != !!(l1e & QCOW_OFLAG_COPIED)) {
            bool fixing = fix & BDRV_FIX_ERRORS;

            fprintf(stderr, "%s OFLAG_COPIED L2 cluster: l1_index=%d "
                    "l1_entry=%" PRIx64 " refcount=%" PRIu64 "\n",
                    fixing ? "Repairing" : "ERROR", i, l1e, refcount);
            if (fixing) {
                s->l1_table[i] = refcount == 1 ? l1e | QCOW_OFLAG_COPIED
                                               : l1e & ~QCOW_OFLAG_COPIED;
                ret = qcow2_write_l1_entry(bs, i);
                if (ret < 0) {
                    res->check_errors++;
                    goto out;
                }
                res->corruptions_fixed++;
            } else {
                res->corruptions++;
            }
        }
        ret = bdrv_co_pread(bs->file, l2_offset, s->cluster_size, l2, 0);
        if (ret < 0) {
            fprintf(stderr, "ERROR: Could not read L2 table: %s\n", strerror(-ret));
            res->check_errors++;
            goto out;
        }
        for (j = 0; j < s->l2_size; j++) {
            uint64_t e = GUINT64_FROM_BE(l2[j * l2_words(s)]);
            QCow2ClusterType type = qcow2_get_cluster_type(bs, e);

            if (type != QCOW2_CLUSTER_NORMAL && type != QCOW2_CLUSTER_ZERO_ALLOC) {
                continue;
            }
            ret = qcow2_get_refcount(bs, (e & L2E_OFFSET_MASK) >> s->cluster_bits,
                                     &refcount);
            if (ret < 0) {
                continue;
            }
            if ((refcount == 1) != !!(e & QCOW_OFLAG_COPIED)) {
                bool fixing = fix & BDRV_FIX_ERRORS;

                fprintf(stderr, "%s OFLAG_COPIED data cluster: l2_entry=%"
                        PRIx64 " refcount=%" PRIu64 "\n",
                        fixing ? "Repairing" : "ERROR", e, refcount);
                if (fixing) {
                    e = refcount == 1 ? e | QCOW_OFLAG_COPIED : e & ~QCOW_OFLAG_COPIED;
                    l2[j * l2_words(s)] = GUINT64_TO_BE(e);
                    l2_dirty = true;
                    res->corruptions_fixed++;
                } else {
                    res->corruptions++;
                }
            }
        }
        if (l2_dirty) {
            unsigned slice = qcow2_cache_table_size(s->l2_table_cache);
            uint64_t off;

            ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L2, l2_offset,
                                                s->cluster_size);
            if (ret == 0) {
                ret = bdrv_co_pwrite(bs->file, l2_offset, s->cluster_size, l2, 0);
            }
            if (ret < 0) {
                fprintf(stderr, "ERROR: Could not write L2 table: %s\n",
                        strerror(-ret));
                res->check_errors++;
                goto out;
            }
            for (off = l2_offset; off < l2_offset + s->cluster_size; off += slice) {
                qcow2_cache_discard(s->l2_table_cache, off);
            }
        }
    }
    ret = 0;
out:
    g_free(l2);
    return ret;
}

/* ---- entry points ---- */

static int coroutine_fn check_locked(BlockDriverState *bs, BdrvCheckResult *result,
                                     BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    /* Everything in the caches must be on disk: tables are read from the file */
    ret = qcow2_flush_caches(bs);
    if (ret < 0 && fix) {
        result->check_errors++;
        return ret;
    }
    ret = check_refcounts(bs, result, fix);
    if (ret < 0) {
        return ret;
    }
    ret = check_oflag_copied(bs, result, fix);
    if (ret < 0) {
        return ret;
    }
    if (fix) {
        ret = qcow2_flush_caches(bs);
        if (ret < 0) {
            result->check_errors++;
            return ret;
        }
        if (!result->check_errors && !result->corruptions) {
            ret = qcow2_mark_clean(bs);
            if (ret < 0) {
                return ret;
            }
            if (s->incompatible_features & QCOW2_INCOMPAT_CORRUPT) {
                s->incompatible_features &= ~QCOW2_INCOMPAT_CORRUPT;
                ret = qcow2_update_header(bs);
                if (ret == 0) {
                    ret = bdrv_co_flush(bs->file->bs);
                }
            }
        }
    }
    trace_qcow2_check(bs, fix, result->corruptions, result->leaks,
                      result->check_errors);
    return ret;
}

int coroutine_fn qcow2_co_check(BlockDriverState *bs, BdrvCheckResult *result,
                                BdrvCheckMode fix)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qemu_co_mutex_lock(&s->lock);
    ret = check_locked(bs, result, fix);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

int coroutine_fn qcow2_repair_dirty(BlockDriverState *bs, Error **errp)
{
    BdrvCheckResult result = { 0 };
    int ret;

    ret = check_locked(bs, &result, BDRV_FIX_ERRORS | BDRV_FIX_LEAKS);
    if (ret < 0 || result.check_errors) {
        error_setg_errno(errp, ret < 0 ? -ret : EIO, "Could not repair dirty image");
        return ret < 0 ? ret : -EIO;
    }
    return 0;
}
