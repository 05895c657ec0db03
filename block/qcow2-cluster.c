/*
 * qcow2-cluster.c: qcow2 guest -> host cluster mapping.
 *
 * The active L1 table (in memory) points at L2 tables, read in slices
 * through the L2 cache.  Here: lookups for reads and block status, L2
 * table allocation (with COW of shared tables), L1 growth, allocation of
 * data clusters for writes (in-flight allocations tracked so that writes
 * to the same clusters serialise), linking new clusters into L2 after the
 * data and COW are written, compressed clusters, discard and zero
 * clusters.  All with s->lock held.
 */
#include "qemu/osdep.h"
#include "block/qcow2.h"
#include "trace/trace-block.h"

/* ---- entry types ---- */

QCow2ClusterType qcow2_get_cluster_type(BlockDriverState *bs, uint64_t l2_entry)
{
    BDRVQcow2State *s = bs->opaque;

    if (l2_entry & QCOW_OFLAG_COMPRESSED) {
        return QCOW2_CLUSTER_COMPRESSED;
    } else if (s->extended_l2) {
        return (l2_entry & L2E_OFFSET_MASK) ? QCOW2_CLUSTER_NORMAL :
                                               QCOW2_CLUSTER_UNALLOCATED;
    } else if (l2_entry & QCOW_OFLAG_ZERO) {
        return (l2_entry & L2E_OFFSET_MASK) ? QCOW2_CLUSTER_ZERO_ALLOC :
                                               QCOW2_CLUSTER_ZERO_PLAIN;
    } else if (!(l2_entry & L2E_OFFSET_MASK)) {
        return QCOW2_CLUSTER_UNALLOCATED;
    }
    return QCOW2_CLUSTER_NORMAL;
}

void qcow2_parse_compressed_l2_entry(BlockDriverState *bs, uint64_t l2_entry,
                                     uint64_t *coffset, int *csize)
{
    BDRVQcow2State *s = bs->opaque;
    int nb_csectors;

    assert(qcow2_get_cluster_type(bs, l2_entry) == QCOW2_CLUSTER_COMPRESSED);
    *coffset = l2_entry & s->cluster_offset_mask;
    nb_csectors = ((l2_entry >> s->csize_shift) & s->csize_mask) + 1;
    *csize = nb_csectors * 512 - (*coffset & 511);
}

/* ---- L1 table ---- */

int coroutine_fn qcow2_write_l1_block(BlockDriverState *bs, int l1_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t buf[QCOW2_L1_ENTRIES_PER_BLOCK];
    int start = QEMU_ALIGN_DOWN(l1_index, (int)ARRAY_SIZE(buf));
    int n = MIN((int)ARRAY_SIZE(buf), s->l1_size - start);
    int i, ret;

    for (i = 0; i < n; i++) {
        buf[i] = GUINT64_TO_BE(s->l1_table[start + i]);
    }
    ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_ACTIVE_L1,
                                        s->l1_table_offset + 8 * start, 8 * n);
    if (ret < 0) {
        return ret;
    }
    return bdrv_co_pwrite(bs->file, s->l1_table_offset + 8 * start, 8 * n, buf, 0);
}

/*
 * Write one L1 entry (with the rest of its block).  Deferred entries of
 * fresh L2 tables are linked first: the block may hold one of them, and
 * its table must be on disk before the entry is.
 */
int coroutine_fn qcow2_write_l1_entry(BlockDriverState *bs, int l1_index)
{
    int ret = qcow2_link_tables(bs);

    if (ret < 0) {
        return ret;
    }
    return qcow2_write_l1_block(bs, l1_index);
}

int coroutine_fn qcow2_grow_l1_table(BlockDriverState *bs, uint64_t min_size,
                                     bool exact_size)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t max = QCOW2_MAX_L1_SIZE / sizeof(uint64_t);
    uint64_t new_size, i;
    int64_t new_offset, old_offset = s->l1_table_offset;
    int old_size = s->l1_size;
    uint64_t *new_table, *be_table;
    size_t bytes;
    uint8_t hdr[12];
    int ret;

    if (min_size <= (uint64_t)s->l1_size) {
        return 0;
    }
    if (min_size > max) {
        return -EFBIG;
    }
    /* The new table is a copy of the in-memory one: no deferred entries */
    ret = qcow2_link_tables(bs);
    if (ret < 0) {
        return ret;
    }
    if (exact_size) {
        new_size = min_size;
    } else {
        new_size = MAX(s->l1_size, 1);
        while (min_size > new_size) {
            new_size = (new_size * 3 + 1) / 2;
        }
        new_size = MIN(new_size, max);
    }
    trace_qcow2_grow_l1_table(bs, s->l1_size, new_size);
    bytes = ROUND_UP(new_size * sizeof(uint64_t), 512);
    new_table = g_try_malloc0(bytes);
    be_table = qemu_try_memalign(4096, bytes);
    if (!new_table || !be_table) {
        g_free(new_table);
        qemu_vfree(be_table);
        return -ENOMEM;
    }
    memcpy(new_table, s->l1_table, (size_t)s->l1_size * sizeof(uint64_t));

    new_offset = qcow2_alloc_clusters(bs, new_size * sizeof(uint64_t));
    if (new_offset < 0) {
        ret = new_offset;
        goto fail;
    }
    /* The new table's refcounts first */
    ret = qcow2_cache_flush(bs, s->refcount_block_cache);
    if (ret < 0) {
        goto fail_free;
    }
    ret = qcow2_pre_write_overlap_check(bs, 0, new_offset, bytes);
    if (ret < 0) {
        goto fail_free;
    }
    for (i = 0; i < bytes / sizeof(uint64_t); i++) {
        be_table[i] = GUINT64_TO_BE(new_table[i]);
    }
    ret = bdrv_co_pwrite(bs->file, new_offset, bytes, be_table, 0);
    if (ret < 0) {
        goto fail_free;
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        goto fail_free;
    }
    *(uint32_t *)hdr = GUINT32_TO_BE(new_size);
    *(uint64_t *)(hdr + 4) = GUINT64_TO_BE(new_offset);
    ret = bdrv_co_pwrite(bs->file, offsetof(QCowHeader, l1_size), sizeof(hdr),
                         hdr, 0);
    if (ret < 0) {
        goto fail_free;
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        goto fail_free;
    }
    g_free(s->l1_table);
    s->l1_table = new_table;
    s->l1_table_offset = new_offset;
    s->l1_size = new_size;
    qemu_vfree(be_table);
    qcow2_free_clusters(bs, old_offset, (uint64_t)old_size * sizeof(uint64_t),
                        QCOW2_DISCARD_OTHER);
    return 0;

fail_free:
    qcow2_free_clusters(bs, new_offset, new_size * sizeof(uint64_t),
                        QCOW2_DISCARD_OTHER);
fail:
    g_free(new_table);
    qemu_vfree(be_table);
    return ret;
}

/* ---- L2 tables ---- */

/* Check an L2 table offset from the L1 table: -EIO (corruption) if bad */
static int check_l2_offset(BlockDriverState *bs, uint64_t l2_offset, int l1_index)
{
    BDRVQcow2State *s = bs->opaque;

    if (offset_into_cluster(s, l2_offset)) {
        qcow2_signal_corruption(bs, true, -1, -1, "L2 table offset %#" PRIx64
                                " unaligned (L1 index: %#x)", l2_offset,
                                l1_index);
        return -EIO;
    }
    if (l2_offset + s->cluster_size > (uint64_t)s->file_end_hint) {
        qcow2_signal_corruption(bs, true, l2_offset, s->cluster_size,
                                "L2 table offset %#" PRIx64 " beyond the end "
                                "of the image file (L1 index: %#x)",
                                l2_offset, l1_index);
        return -EIO;
    }
    return 0;
}

/*
 * Give L1 entry l1_index a new L2 table of its own: a copy of the old
 * (shared) one, or zeroes.  A copy is written and flushed (after its
 * refcount) before the L1 entry points at it, and the old table is freed.
 * A table of zeroes is only made in the cache and linked in memory; its
 * L1 entry reaches the disk at the next flush (qcow2-link.c).
 */
static int coroutine_fn l2_allocate(BlockDriverState *bs, int l1_index)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old_l2_offset = s->l1_table[l1_index] & L1E_OFFSET_MASK;
    unsigned slice_bytes = s->l2_slice_size * l2_entry_size(s);
    int n_slices = s->cluster_size / slice_bytes;
    int64_t l2_offset;
    int i, ret;

    trace_qcow2_l2_allocate(bs, l1_index);
    l2_offset = qcow2_alloc_clusters(bs, s->cluster_size);
    if (l2_offset < 0) {
        return l2_offset;
    }
    if (l2_offset == 0) {
        qcow2_signal_corruption(bs, true, l2_offset, s->cluster_size,
                                "Preventing invalid allocation of L2 table at "
                                "offset 0");
        return -EIO;
    }
    if (old_l2_offset && !s->use_lazy_refcounts) {
        ret = qcow2_cache_flush(bs, s->refcount_block_cache);
        if (ret < 0) {
            goto fail;
        }
    }
    for (i = 0; i < n_slices; i++) {
        void *new_slice, *old_slice;

        ret = qcow2_cache_get_empty(bs, s->l2_table_cache,
                                    l2_offset + (uint64_t)i * slice_bytes,
                                    &new_slice);
        if (ret < 0) {
            goto fail;
        }
        if (old_l2_offset) {
            ret = qcow2_cache_get(bs, s->l2_table_cache,
                                  old_l2_offset + (uint64_t)i * slice_bytes,
                                  &old_slice);
            if (ret < 0) {
                qcow2_cache_put(s->l2_table_cache, &new_slice);
                goto fail;
            }
            memcpy(new_slice, old_slice, slice_bytes);
            qcow2_cache_put(s->l2_table_cache, &old_slice);
        } else {
            memset(new_slice, 0, slice_bytes);
        }
        qcow2_cache_entry_mark_dirty(s->l2_table_cache, new_slice);
        qcow2_cache_put(s->l2_table_cache, &new_slice);
    }
    if (!old_l2_offset) {
        s->l1_table[l1_index] = l2_offset | QCOW_OFLAG_COPIED;
        qcow2_link_defer_l2(bs, l1_index);
        trace_qcow2_l2_allocate_done(bs, l1_index, 0);
        return 0;
    }
    trace_qcow2_l2_allocate_write_l2(bs, l1_index);
    ret = qcow2_cache_flush(bs, s->l2_table_cache);
    if (ret < 0) {
        goto fail;
    }
    trace_qcow2_l2_allocate_write_l1(bs, l1_index);
    s->l1_table[l1_index] = l2_offset | QCOW_OFLAG_COPIED;
    ret = qcow2_write_l1_entry(bs, l1_index);
    if (ret < 0) {
        s->l1_table[l1_index] = old_l2_offset;
        goto fail;
    }
    if (old_l2_offset) {
        qcow2_free_clusters(bs, old_l2_offset, s->cluster_size,
                            QCOW2_DISCARD_OTHER);
    }
    trace_qcow2_l2_allocate_done(bs, l1_index, 0);
    return 0;

fail:
    for (i = 0; i < n_slices; i++) {
        qcow2_cache_discard(s->l2_table_cache, l2_offset + (uint64_t)i * slice_bytes);
    }
    qcow2_free_clusters(bs, l2_offset, s->cluster_size, QCOW2_DISCARD_ALWAYS);
    trace_qcow2_l2_allocate_done(bs, l1_index, ret);
    return ret;
}

int coroutine_fn qcow2_get_l2_slice(BlockDriverState *bs, uint64_t offset,
                                    bool alloc, uint64_t **l2_slice,
                                    int *l2_index)
{
    BDRVQcow2State *s = bs->opaque;
    int l1_index = offset_to_l1_index(s, offset);
    uint64_t l2_offset;
    int idx, ret;

    *l2_slice = NULL;
    if (l1_index >= s->l1_size) {
        if (!alloc) {
            return 0;
        }
        ret = qcow2_grow_l1_table(bs, l1_index + 1, false);
        if (ret < 0) {
            return ret;
        }
    }
    l2_offset = s->l1_table[l1_index] & L1E_OFFSET_MASK;
    if (l2_offset) {
        ret = check_l2_offset(bs, l2_offset, l1_index);
        if (ret < 0) {
            return ret;
        }
    }
    if (alloc && (!l2_offset || !(s->l1_table[l1_index] & QCOW_OFLAG_COPIED))) {
        ret = l2_allocate(bs, l1_index);
        if (ret < 0) {
            return ret;
        }
        l2_offset = s->l1_table[l1_index] & L1E_OFFSET_MASK;
    }
    if (!l2_offset) {
        return 0;
    }
    idx = offset_to_l2_index(s, offset);
    ret = qcow2_cache_get(bs, s->l2_table_cache,
                          l2_offset + (uint64_t)(idx & ~(s->l2_slice_size - 1)) *
                                      l2_entry_size(s),
                          (void **)l2_slice);
    if (ret < 0) {
        return ret;
    }
    *l2_index = idx & (s->l2_slice_size - 1);
    return 0;
}

/* ---- lookups ---- */

/* Check the host cluster of a NORMAL/ZERO_ALLOC entry; -EIO on corruption */
static int check_data_cluster(BlockDriverState *bs, uint64_t l2_entry,
                              uint64_t guest_offset)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t host = l2_entry & L2E_OFFSET_MASK;

    if (offset_into_cluster(s, host)) {
        qcow2_signal_corruption(bs, true, -1, -1, "Cluster allocation offset %#"
                                PRIx64 " unaligned (guest offset: %#" PRIx64 ")",
                                host, guest_offset);
        return -EIO;
    }
    if (qcow2_get_cluster_type(bs, l2_entry) == QCOW2_CLUSTER_NORMAL &&
        host >= (uint64_t)s->file_end_hint) {
        qcow2_signal_corruption(bs, true, host, s->cluster_size,
                                "Data cluster offset %#" PRIx64 " beyond the "
                                "end of the image file (guest offset: %#"
                                PRIx64 ")", host, guest_offset);
        return -EIO;
    }
    return 0;
}

/*
 * What subcluster sc of a cluster reads as (QCOW2_CLUSTER_*, UNALLOCATED
 * also for unallocated subclusters of an allocated cluster), and how many
 * subclusters from sc on read the same way; -EIO for an invalid bitmap.
 * Without extended L2 entries a cluster is one subcluster.
 */
static int subcluster_run(BlockDriverState *bs, uint64_t entry, uint64_t bitmap,
                          int sc, int *type)
{
    BDRVQcow2State *s = bs->opaque;
    bool has_offset = entry & L2E_OFFSET_MASK;
    int i, t = -1;

    if (!s->extended_l2) {
        *type = qcow2_get_cluster_type(bs, entry);
        return 1;
    }
    if (entry & QCOW_OFLAG_COMPRESSED) {
        *type = QCOW2_CLUSTER_COMPRESSED;
        return QCOW_EXTL2_SUBCLUSTERS - sc;
    }
    for (i = sc; i < QCOW_EXTL2_SUBCLUSTERS; i++) {
        bool alloc = bitmap & (UINT64_C(1) << i);
        bool zero = bitmap & (UINT64_C(1) << (32 + i));
        int ti;

        if ((alloc && zero) || (alloc && !has_offset)) {
            return -EIO;
        } else if (alloc) {
            ti = QCOW2_CLUSTER_NORMAL;
        } else if (zero) {
            ti = has_offset ? QCOW2_CLUSTER_ZERO_ALLOC : QCOW2_CLUSTER_ZERO_PLAIN;
        } else {
            ti = QCOW2_CLUSTER_UNALLOCATED;
        }
        if (t < 0) {
            t = ti;
        } else if (ti != t) {
            break;
        }
    }
    *type = t;
    return i - sc;
}

int coroutine_fn qcow2_get_host_offset(BlockDriverState *bs, uint64_t offset,
                                       uint64_t *bytes, uint64_t *host_offset)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t offset_in_cluster = offset_into_cluster(s, offset);
    uint64_t bytes_needed = *bytes + offset_in_cluster;
    uint64_t bytes_available, entry, bitmap, first_host, covered;
    int spc = s->subclusters_per_cluster;
    int sc = offset_in_cluster >> s->subcluster_bits;
    uint64_t *slice;
    int l2_index, ret, type, n, i;

    *host_offset = 0;
    bytes_available = (uint64_t)(s->l2_slice_size - offset_to_l2_slice_index(s, offset))
                      << s->cluster_bits;
    bytes_needed = MIN(bytes_needed, bytes_available);

    ret = qcow2_get_l2_slice(bs, offset, false, &slice, &l2_index);
    if (ret < 0) {
        return ret;
    }
    if (!slice) {
        /* No L2 table: unallocated up to the end of the slice */
        *bytes = bytes_needed - offset_in_cluster;
        return QCOW2_CLUSTER_UNALLOCATED;
    }
    entry = qcow2_l2_entry(s, slice, l2_index);
    bitmap = qcow2_l2_bitmap(s, slice, l2_index);
    n = subcluster_run(bs, entry, bitmap, sc, &type);
    if (n < 0) {
        ret = n;
        goto bad_bitmap;
    }
    first_host = entry & L2E_OFFSET_MASK;
    if (type == QCOW2_CLUSTER_COMPRESSED) {
        *host_offset = entry;
        covered = s->cluster_size;
        goto done;
    }
    if (type == QCOW2_CLUSTER_NORMAL || type == QCOW2_CLUSTER_ZERO_ALLOC) {
        ret = check_data_cluster(bs, entry, offset);
        if (ret < 0) {
            goto out;
        }
        *host_offset = first_host + offset_in_cluster;
    }
    covered = (uint64_t)(sc + n) << s->subcluster_bits;
    /* The run may go on in the following clusters */
    for (i = 1; sc + n == spc && covered < bytes_needed; i++) {
        uint64_t e = qcow2_l2_entry(s, slice, l2_index + i);
        uint64_t b = qcow2_l2_bitmap(s, slice, l2_index + i);
        int t;

        n = subcluster_run(bs, e, b, 0, &t);
        sc = 0;
        if (n < 0 || t != type || t == QCOW2_CLUSTER_COMPRESSED) {
            break;
        }
        if ((t == QCOW2_CLUSTER_NORMAL || t == QCOW2_CLUSTER_ZERO_ALLOC) &&
            (e & L2E_OFFSET_MASK) != first_host + ((uint64_t)i << s->cluster_bits)) {
            break;
        }
        covered += (uint64_t)n << s->subcluster_bits;
    }
done:
    bytes_needed = MIN(bytes_needed, covered);
    *bytes = bytes_needed - offset_in_cluster;
    ret = type;
out:
    qcow2_cache_put(s->l2_table_cache, (void **)&slice);
    return ret;

bad_bitmap:
    qcow2_signal_corruption(bs, true, -1, -1, "Invalid cluster entry found "
                            "(L2 entry: %#" PRIx64 ", bitmap: %#" PRIx64
                            ", guest offset: %#" PRIx64 ")", entry, bitmap,
                            offset);
    ret = -EIO;
    goto out;
}

/* ---- allocations in flight ---- */

/*
 * Writes to clusters that an allocation in flight covers wait for it; a
 * request starting before such an allocation is shortened to end there.
 * Returns -EAGAIN after waiting (the caller looks again), 0 otherwise.
 */
static int coroutine_fn handle_dependencies(BlockDriverState *bs,
                                            uint64_t offset, uint64_t *bytes)
{
    BDRVQcow2State *s = bs->opaque;
    GList *l;

    for (l = s->cluster_allocs; l; l = l->next) {
        QCowL2Meta *m = l->data;
        uint64_t start = m->offset;
        uint64_t end = start + ((uint64_t)m->nb_clusters << s->cluster_bits);

        if (end <= offset || start >= offset + *bytes) {
            continue;
        }
        if (offset < start) {
            *bytes = start - offset;
            continue;
        }
        trace_qcow2_handle_dependencies_wait(qemu_coroutine_self(), offset, start);
        qemu_co_queue_wait(&m->dependent_requests, &s->lock);
        return -EAGAIN;
    }
    return 0;
}

static QCowL2Meta *l2meta_new(BlockDriverState *bs, uint64_t guest_offset,
                              uint64_t host_offset, int nb_clusters)
{
    BDRVQcow2State *s = bs->opaque;
    QCowL2Meta *m = g_new0(QCowL2Meta, 1);

    m->offset = guest_offset;
    m->alloc_offset = host_offset;
    m->nb_clusters = nb_clusters;
    qemu_co_queue_init(&m->dependent_requests);
    m->link.data = m;
    s->cluster_allocs = g_list_concat(&m->link, s->cluster_allocs);
    return m;
}

void qcow2_alloc_meta_done(BlockDriverState *bs, QCowL2Meta *m)
{
    BDRVQcow2State *s = bs->opaque;

    s->cluster_allocs = g_list_remove_link(s->cluster_allocs, &m->link);
    qemu_co_queue_restart_all(&m->dependent_requests);
    g_free(m);
}

/* A cluster of ours (refcount 1) whose every subcluster holds data */
static bool entry_is_copied_normal(BlockDriverState *bs, uint64_t e,
                                   uint64_t bitmap)
{
    BDRVQcow2State *s = bs->opaque;

    return qcow2_get_cluster_type(bs, e) == QCOW2_CLUSTER_NORMAL &&
           (e & QCOW_OFLAG_COPIED) &&
           (!s->extended_l2 ||
            (bitmap & QCOW_L2_BITMAP_ALL_ALLOC) == QCOW_L2_BITMAP_ALL_ALLOC);
}

/* The old content of a cluster with this entry reads as zeroes */
static bool cluster_reads_zero(BlockDriverState *bs, uint64_t e, uint64_t bitmap)
{
    BDRVQcow2State *s = bs->opaque;
    QCow2ClusterType type = qcow2_get_cluster_type(bs, e);

    if (s->extended_l2) {
        if (type == QCOW2_CLUSTER_COMPRESSED || (bitmap & QCOW_L2_BITMAP_ALL_ALLOC)) {
            return false;
        }
        return (bitmap & QCOW_L2_BITMAP_ALL_ZEROES) == QCOW_L2_BITMAP_ALL_ZEROES ||
               !bs->backing;
    }
    return type == QCOW2_CLUSTER_ZERO_PLAIN || type == QCOW2_CLUSTER_ZERO_ALLOC ||
           (type == QCOW2_CLUSTER_UNALLOCATED && !bs->backing);
}

int coroutine_fn qcow2_alloc_host_offset(BlockDriverState *bs, uint64_t offset,
                                         uint64_t *bytes, uint64_t *host_offset,
                                         QCowL2Meta **m)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t offset_in_cluster = offset_into_cluster(s, offset);
    uint64_t cur_bytes, l2_entry, nb, i, written;
    uint64_t *slice;
    int64_t host;
    int l2_index, ret;
    bool cow_zero;

    *m = NULL;
again:
    cur_bytes = *bytes;
    ret = handle_dependencies(bs, offset, &cur_bytes);
    if (ret == -EAGAIN) {
        goto again;
    }
    ret = qcow2_get_l2_slice(bs, offset, true, &slice, &l2_index);
    if (ret < 0) {
        return ret;
    }
    nb = MIN(size_to_clusters(s, offset_in_cluster + cur_bytes),
             (uint64_t)(s->l2_slice_size - l2_index));
    l2_entry = qcow2_l2_entry(s, slice, l2_index);

    if (entry_is_copied_normal(bs, l2_entry, qcow2_l2_bitmap(s, slice, l2_index))) {
        /* Already ours: write in place */
        ret = check_data_cluster(bs, l2_entry, offset);
        if (ret < 0) {
            qcow2_cache_put(s->l2_table_cache, (void **)&slice);
            return ret;
        }
        for (i = 1; i < nb; i++) {
            uint64_t e = qcow2_l2_entry(s, slice, l2_index + i);

            if (!entry_is_copied_normal(bs, e, qcow2_l2_bitmap(s, slice, l2_index + i)) ||
                (e & L2E_OFFSET_MASK) != (l2_entry & L2E_OFFSET_MASK) +
                                         (i << s->cluster_bits)) {
                break;
            }
        }
        qcow2_cache_put(s->l2_table_cache, (void **)&slice);
        *host_offset = (l2_entry & L2E_OFFSET_MASK) + offset_in_cluster;
        *bytes = MIN(cur_bytes, (i << s->cluster_bits) - offset_in_cluster);
        trace_qcow2_handle_copied(qemu_coroutine_self(), offset, *host_offset,
                                  *bytes);
        return 0;
    }

    /* New clusters for every entry up to the next one that is already ours */
    for (i = 1; i < nb; i++) {
        if (entry_is_copied_normal(bs, qcow2_l2_entry(s, slice, l2_index + i),
                                   qcow2_l2_bitmap(s, slice, l2_index + i))) {
            break;
        }
    }
    nb = i;
    cow_zero = cluster_reads_zero(bs, l2_entry, qcow2_l2_bitmap(s, slice, l2_index)) &&
               cluster_reads_zero(bs, qcow2_l2_entry(s, slice, l2_index + nb - 1),
                                  qcow2_l2_bitmap(s, slice, l2_index + nb - 1));
    qcow2_cache_put(s->l2_table_cache, (void **)&slice);

    host = qcow2_alloc_clusters(bs, nb << s->cluster_bits);
    if (host < 0) {
        return host;
    }
    if (host == 0) {
        qcow2_signal_corruption(bs, true, 0, nb << s->cluster_bits,
                                "Preventing invalid allocation of data "
                                "cluster at offset 0");
        return -EIO;
    }
    trace_qcow2_cluster_alloc_phys(qemu_coroutine_self(), host, nb);
    written = MIN(cur_bytes, (nb << s->cluster_bits) - offset_in_cluster);
    *m = l2meta_new(bs, start_of_cluster(s, offset), host, nb);
    (*m)->cow_is_zero = cow_zero;
    (*m)->cow_start.offset = 0;
    (*m)->cow_start.nb_bytes = offset_in_cluster;
    (*m)->cow_end.offset = offset_in_cluster + written;
    (*m)->cow_end.nb_bytes = (nb << s->cluster_bits) - (offset_in_cluster + written);
    *host_offset = host + offset_in_cluster;
    *bytes = written;
    trace_qcow2_handle_alloc(qemu_coroutine_self(), offset, host, nb);
    return 0;
}

/*
 * Before the L2 entries of m point at its new clusters: the L2 table must
 * not reach the disk before the refcounts of the clusters do (or, with
 * lazy refcounts, the image is marked dirty); then the slice holding m's
 * first entry (allocated if needed), at *l2_index.
 */
static int coroutine_fn qcow2_link_get_l2_slice(BlockDriverState *bs,
                                                QCowL2Meta *m,
                                                uint64_t **slice,
                                                int *l2_index)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (s->use_lazy_refcounts) {
        ret = qcow2_mark_dirty(bs);
    } else {
        ret = qcow2_cache_set_dependency(bs, s->l2_table_cache,
                                         s->refcount_block_cache);
    }
    if (ret < 0) {
        return ret;
    }
    return qcow2_get_l2_slice(bs, m->offset, true, slice, l2_index);
}

int coroutine_fn qcow2_alloc_cluster_link_l2(BlockDriverState *bs, QCowL2Meta *m)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *old = NULL, *slice;
    int l2_index, i, ret;

    trace_qcow2_cluster_link_l2(qemu_coroutine_self(), m->nb_clusters);
    ret = qcow2_link_get_l2_slice(bs, m, &slice, &l2_index);
    if (ret < 0) {
        return ret;
    }
    assert(l2_index + m->nb_clusters <= s->l2_slice_size);
    old = g_new(uint64_t, m->nb_clusters);
    for (i = 0; i < m->nb_clusters; i++) {
        old[i] = qcow2_l2_entry(s, slice, l2_index + i);
        qcow2_set_l2_entry(s, slice, l2_index + i,
                           (m->alloc_offset + ((uint64_t)i << s->cluster_bits)) |
                           QCOW_OFLAG_COPIED);
        qcow2_set_l2_bitmap(s, slice, l2_index + i, QCOW_L2_BITMAP_ALL_ALLOC);
    }
    qcow2_cache_entry_mark_dirty(s->l2_table_cache, slice);
    qcow2_cache_put(s->l2_table_cache, (void **)&slice);
    /* The old clusters (COW from a snapshot, zero/compressed ones) go */
    for (i = 0; i < m->nb_clusters; i++) {
        if (qcow2_cluster_is_allocated(qcow2_get_cluster_type(bs, old[i]))) {
            qcow2_free_any_cluster(bs, old[i], QCOW2_DISCARD_NEVER);
        }
    }
    g_free(old);
    return 0;
}

void coroutine_fn qcow2_alloc_cluster_abort(BlockDriverState *bs, QCowL2Meta *m)
{
    BDRVQcow2State *s = bs->opaque;

    if (m->compressed_size) {
        qcow2_free_clusters(bs, m->alloc_offset, m->compressed_size,
                            QCOW2_DISCARD_NEVER);
    } else {
        qcow2_free_clusters(bs, m->alloc_offset,
                            (uint64_t)m->nb_clusters << s->cluster_bits,
                            QCOW2_DISCARD_NEVER);
    }
}

int coroutine_fn qcow2_alloc_cluster_finish(BlockDriverState *bs,
                                            QCowL2Meta *m, int ret,
                                            Qcow2LinkFunc *link)
{
    if (ret >= 0) {
        ret = link(bs, m);
    }
    if (ret < 0) {
        qcow2_alloc_cluster_abort(bs, m);
    }
    qcow2_alloc_meta_done(bs, m);
    return ret;
}

/* ---- compressed clusters ---- */

int coroutine_fn qcow2_alloc_compressed_cluster_offset(BlockDriverState *bs,
                                                       uint64_t offset,
                                                       int compressed_size,
                                                       QCowL2Meta **m)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t bytes;
    int64_t host;
    int ret;

    assert(!offset_into_cluster(s, offset));
    *m = NULL;
    do {
        bytes = s->cluster_size;
        ret = handle_dependencies(bs, offset, &bytes);
    } while (ret == -EAGAIN);

    host = qcow2_alloc_bytes(bs, compressed_size);
    if (host < 0) {
        return host;
    }
    if ((uint64_t)host + compressed_size > (UINT64_C(1) << s->csize_shift)) {
        qcow2_free_clusters(bs, host, compressed_size, QCOW2_DISCARD_NEVER);
        return -EFBIG;
    }
    *m = l2meta_new(bs, offset, host, 1);
    (*m)->compressed_size = compressed_size;
    return 0;
}

int coroutine_fn qcow2_link_compressed_cluster(BlockDriverState *bs,
                                               QCowL2Meta *m)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t host = m->alloc_offset;
    uint64_t nb_csectors, old, entry, *slice;
    int l2_index, ret;

    ret = qcow2_link_get_l2_slice(bs, m, &slice, &l2_index);
    if (ret < 0) {
        return ret;
    }
    nb_csectors = ((host + m->compressed_size - 1) >> 9) - (host >> 9);
    entry = QCOW_OFLAG_COMPRESSED | host | (nb_csectors << s->csize_shift);
    old = qcow2_l2_entry(s, slice, l2_index);
    qcow2_set_l2_entry(s, slice, l2_index, entry);
    qcow2_set_l2_bitmap(s, slice, l2_index, 0);
    qcow2_cache_entry_mark_dirty(s->l2_table_cache, slice);
    qcow2_cache_put(s->l2_table_cache, (void **)&slice);
    if (qcow2_cluster_is_allocated(qcow2_get_cluster_type(bs, old))) {
        qcow2_free_any_cluster(bs, old, QCOW2_DISCARD_NEVER);
    }
    return 0;
}

/* ---- discard and zero clusters ---- */

/*
 * Apply fn's new entry to each cluster of [offset, offset + bytes) (whole
 * clusters), one L2 slice at a time; clusters whose entry changes from an
 * allocated one are freed with the given discard type.
 */
typedef void EntryUpdateFunc(BlockDriverState *bs, uint64_t old, uint64_t old_bitmap,
                             uint64_t *new, uint64_t *new_bitmap, void *opaque);

static int coroutine_fn update_entries(BlockDriverState *bs, uint64_t offset,
                                       uint64_t bytes, bool alloc_l2,
                                       bool skip_missing_l2,
                                       EntryUpdateFunc *fn, void *opaque,
                                       Qcow2DiscardType type)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t end = offset + bytes;
    int ret;

    while (offset < end) {
        uint64_t cur = end - offset, nb, i, *slice;
        int l2_index;

        ret = handle_dependencies(bs, offset, &cur);
        if (ret == -EAGAIN) {
            continue;
        }
        ret = qcow2_get_l2_slice(bs, offset, false, &slice, &l2_index);
        if (ret < 0) {
            return ret;
        }
        if (!slice && !skip_missing_l2 && alloc_l2) {
            ret = qcow2_get_l2_slice(bs, offset, true, &slice, &l2_index);
            if (ret < 0) {
                return ret;
            }
        }
        nb = MIN(size_to_clusters(s, cur),
                 (uint64_t)(s->l2_slice_size - offset_to_l2_slice_index(s, offset)));
        if (!slice) {
            offset += nb << s->cluster_bits;
            continue;
        }
        if (!(s->l1_table[offset_to_l1_index(s, offset)] & QCOW_OFLAG_COPIED)) {
            /* A shared L2 table: make it ours first */
            qcow2_cache_put(s->l2_table_cache, (void **)&slice);
            ret = qcow2_get_l2_slice(bs, offset, true, &slice, &l2_index);
            if (ret < 0) {
                return ret;
            }
        }
        for (i = 0; i < nb; i++) {
            uint64_t old = qcow2_l2_entry(s, slice, l2_index + i);
            uint64_t old_bitmap = qcow2_l2_bitmap(s, slice, l2_index + i);
            uint64_t new = old, new_bitmap = old_bitmap;

            fn(bs, old, old_bitmap, &new, &new_bitmap, opaque);
            if (new == old && new_bitmap == old_bitmap) {
                continue;
            }
            qcow2_set_l2_entry(s, slice, l2_index + i, new);
            qcow2_set_l2_bitmap(s, slice, l2_index + i, new_bitmap);
            qcow2_cache_entry_mark_dirty(s->l2_table_cache, slice);
            if (qcow2_cluster_is_allocated(qcow2_get_cluster_type(bs, old)) &&
                (old & L2E_OFFSET_MASK) != (new & L2E_OFFSET_MASK)) {
                qcow2_free_any_cluster(bs, old, type);
            } else if (qcow2_get_cluster_type(bs, old) == QCOW2_CLUSTER_COMPRESSED) {
                qcow2_free_any_cluster(bs, old, type);
            }
        }
        qcow2_cache_put(s->l2_table_cache, (void **)&slice);
        offset += nb << s->cluster_bits;
    }
    return 0;
}

typedef struct DiscardOpaque {
    bool full_discard;
} DiscardOpaque;

static void discard_entry(BlockDriverState *bs, uint64_t old, uint64_t old_bitmap,
                          uint64_t *new, uint64_t *new_bitmap, void *opaque)
{
    BDRVQcow2State *s = bs->opaque;
    DiscardOpaque *d = opaque;
    QCow2ClusterType type = qcow2_get_cluster_type(bs, old);

    if (d->full_discard) {
        *new = *new_bitmap = 0;
    } else if (bs->backing || qcow2_cluster_is_allocated(type) ||
               (s->extended_l2 && (old_bitmap & QCOW_L2_BITMAP_ALL_ALLOC))) {
        /* Reads must not fall through to the backing file afterwards */
        if (s->extended_l2) {
            *new = 0;
            *new_bitmap = QCOW_L2_BITMAP_ALL_ZEROES;
        } else {
            *new = s->qcow_version >= 3 ? QCOW_OFLAG_ZERO : 0;
        }
    }
}

int coroutine_fn qcow2_cluster_discard(BlockDriverState *bs, uint64_t offset,
                                       uint64_t bytes, Qcow2DiscardType type,
                                       bool full_discard)
{
    BDRVQcow2State *s = bs->opaque;
    DiscardOpaque d = { .full_discard = full_discard };

    trace_qcow2_cluster_discard(bs, offset, bytes, full_discard);
    /* v2 with a backing file cannot hide the backing data: just deallocate */
    return update_entries(bs, offset, bytes,
                          !full_discard && bs->backing && s->qcow_version >= 3,
                          false, discard_entry, &d, type);
}

/*
 * Could an unallocated cluster read anything but zeroes, now or when the
 * image is opened with its backing file?  An image opened with
 * "backing": null still names its backing file in the header, so a zero
 * write must not leave clusters unallocated there (an incremental backup
 * chain would show old data through them).
 */
bool qcow2_has_backing(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return bs->backing || (s->image_backing_file && *s->image_backing_file);
}

static void zero_entry(BlockDriverState *bs, uint64_t old, uint64_t old_bitmap,
                       uint64_t *new, uint64_t *new_bitmap, void *opaque)
{
    BDRVQcow2State *s = bs->opaque;
    int flags = *(int *)opaque;
    QCow2ClusterType type = qcow2_get_cluster_type(bs, old);
    bool allocated = qcow2_cluster_is_allocated(type);

    if (s->extended_l2) {
        *new_bitmap = QCOW_L2_BITMAP_ALL_ZEROES;
        if (type == QCOW2_CLUSTER_COMPRESSED ||
            (allocated && ((flags & BDRV_REQ_MAY_UNMAP) || !(old & QCOW_OFLAG_COPIED)))) {
            *new = 0;
        } else if (!allocated && !old_bitmap && !qcow2_has_backing(bs)) {
            *new_bitmap = 0;    /* reads zero already */
        }
        return;
    }
    if (type == QCOW2_CLUSTER_COMPRESSED ||
        (allocated && ((flags & BDRV_REQ_MAY_UNMAP) || !(old & QCOW_OFLAG_COPIED)))) {
        *new = QCOW_OFLAG_ZERO;
    } else if (allocated) {
        *new = old | QCOW_OFLAG_ZERO;
    } else if (type == QCOW2_CLUSTER_UNALLOCATED && !qcow2_has_backing(bs)) {
        /* reads zero already */
    } else {
        *new = QCOW_OFLAG_ZERO;
    }
}

int coroutine_fn qcow2_cluster_zeroize(BlockDriverState *bs, uint64_t offset,
                                       uint64_t bytes, int flags)
{
    BDRVQcow2State *s = bs->opaque;

    assert(s->qcow_version >= 3);
    trace_qcow2_cluster_zeroize(bs, offset, bytes, flags);
    return update_entries(bs, offset, bytes, qcow2_has_backing(bs),
                          !qcow2_has_backing(bs), zero_entry, &flags,
                          QCOW2_DISCARD_REQUEST);
}
