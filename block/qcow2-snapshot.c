/*
 * qcow2-snapshot.c: qcow2 internal snapshots.
 *
 * The snapshot table (QEMU's docs/interop/qcow2.txt, "Snapshots"): one
 * variable-sized, 8-byte aligned entry per snapshot with the offset and
 * size of the snapshot's own copy of the L1 table, id and name strings,
 * date, VM clock, VM state size and extra data (64-bit VM state size,
 * virtual disk size, icount).  Here: loading and writing the table, the
 * refcount walk that shares (or unshares) every L2 table and data cluster
 * of an L1 table and keeps QCOW_OFLAG_COPIED exact, and the driver's
 * create / goto (revert) / delete / list callbacks.
 *
 * Every change is ordered so that a crash leaves at worst leaked
 * clusters: refcounts go up (and reach the disk) before a new table
 * points at clusters, and the table stops pointing at them before they
 * go down.
 */
#include "qemu/osdep.h"
#include "block/qcow2.h"
#include "trace/trace-block.h"

#define QCOW2_MAX_SNAPSHOT_EXTRA_DATA   1024
#define QCOW2_MAX_SNAPSHOTS_SIZE        (1024 * QCOW2_MAX_SNAPSHOTS)

/* On-disk entry header (big-endian), followed by extra data, id and name */
typedef struct QCowSnapshotHeader {
    uint64_t l1_table_offset;
    uint32_t l1_size;
    uint16_t id_str_size;
    uint16_t name_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint32_t vm_state_size;
    uint32_t extra_data_size;
} __attribute__((packed)) QCowSnapshotHeader;

/* The extra data fields blockd knows (each present if extra_data_size covers it) */
typedef struct QCowSnapshotExtraData {
    uint64_t vm_state_size_large;
    uint64_t disk_size;
    uint64_t icount;
} __attribute__((packed)) QCowSnapshotExtraData;

/* ---- in-memory list ---- */

static void snapshot_clear(QCowSnapshot *sn)
{
    g_free(sn->id_str);
    g_free(sn->name);
    g_free(sn->unknown_extra_data);
    memset(sn, 0, sizeof(*sn));
}

void qcow2_free_snapshots(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    unsigned i;

    for (i = 0; s->snapshots && i < s->nb_snapshots; i++) {
        snapshot_clear(&s->snapshots[i]);
    }
    g_free(s->snapshots);
    s->snapshots = NULL;
    s->nb_snapshots = 0;
}

/* ---- reading the table ---- */

static int coroutine_fn read_snapshot_entry(BlockDriverState *bs, uint64_t *offset,
                                            int64_t file_len, unsigned index,
                                            QCowSnapshot *sn, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    QCowSnapshotHeader h;
    QCowSnapshotExtraData extra = { 0 };
    uint64_t off = *offset;
    uint32_t known;
    int ret;

    if (off + sizeof(h) > (uint64_t)file_len) {
        error_setg(errp, "Snapshot table entry %u is beyond the end of the "
                   "image file", index);
        return -EINVAL;
    }
    ret = bdrv_co_pread(bs->file, off, sizeof(h), &h, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to read snapshot table");
        return ret;
    }
    off += sizeof(h);
    sn->l1_table_offset = GUINT64_FROM_BE(h.l1_table_offset);
    sn->l1_size = GUINT32_FROM_BE(h.l1_size);
    sn->vm_state_size = GUINT32_FROM_BE(h.vm_state_size);
    sn->date_sec = GUINT32_FROM_BE(h.date_sec);
    sn->date_nsec = GUINT32_FROM_BE(h.date_nsec);
    sn->vm_clock_nsec = GUINT64_FROM_BE(h.vm_clock_nsec);
    sn->extra_data_size = GUINT32_FROM_BE(h.extra_data_size);

    if (sn->extra_data_size > QCOW2_MAX_SNAPSHOT_EXTRA_DATA) {
        error_setg(errp, "Too much extra metadata in snapshot table entry %u",
                   index);
        return -EFBIG;
    }
    if (off + sn->extra_data_size + GUINT16_FROM_BE(h.id_str_size) +
        GUINT16_FROM_BE(h.name_size) > (uint64_t)file_len) {
        error_setg(errp, "Snapshot table entry %u is beyond the end of the "
                   "image file", index);
        return -EINVAL;
    }
    known = MIN(sn->extra_data_size, sizeof(extra));
    if (known) {
        ret = bdrv_co_pread(bs->file, off, known, &extra, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to read snapshot table");
            return ret;
        }
    }
    if (sn->extra_data_size > sizeof(extra)) {
        uint32_t unknown = sn->extra_data_size - sizeof(extra);

        sn->unknown_extra_data = g_malloc(unknown);
        ret = bdrv_co_pread(bs->file, off + sizeof(extra), unknown,
                            sn->unknown_extra_data, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to read snapshot table");
            return ret;
        }
    }
    off += sn->extra_data_size;
    if (known >= 8) {
        sn->vm_state_size = GUINT64_FROM_BE(extra.vm_state_size_large);
    }
    sn->disk_size = known >= 16 ? GUINT64_FROM_BE(extra.disk_size) : s->size;
    sn->icount = known >= 24 ? (int64_t)GUINT64_FROM_BE(extra.icount) : -1;

    sn->id_str = g_malloc0(GUINT16_FROM_BE(h.id_str_size) + 1);
    ret = bdrv_co_pread(bs->file, off, GUINT16_FROM_BE(h.id_str_size),
                        sn->id_str, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to read snapshot table");
        return ret;
    }
    off += GUINT16_FROM_BE(h.id_str_size);
    sn->name = g_malloc0(GUINT16_FROM_BE(h.name_size) + 1);
    ret = bdrv_co_pread(bs->file, off, GUINT16_FROM_BE(h.name_size),
                        sn->name, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to read snapshot table");
        return ret;
    }
    off += GUINT16_FROM_BE(h.name_size);
    *offset = ROUND_UP(off, 8);
    return 0;
}

int coroutine_fn qcow2_read_snapshots(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    unsigned n = s->nb_snapshots, i;
    uint64_t offset = s->snapshots_offset;
    int64_t file_len;
    int ret;

    s->snapshots = NULL;
    s->snapshots_size = 0;
    if (!n) {
        return 0;
    }
    file_len = bdrv_getlength(bs->file->bs);
    if (file_len < 0) {
        error_setg_errno(errp, -file_len, "Could not get the size of the image file");
        return file_len;
    }
    if (offset_into_cluster(s, offset)) {
        error_setg(errp, "Snapshot table offset invalid");
        return -EINVAL;
    }
    s->snapshots = g_new0(QCowSnapshot, n);
    for (i = 0; i < n; i++) {
        ret = read_snapshot_entry(bs, &offset, file_len, i, &s->snapshots[i], errp);
        if (ret < 0) {
            goto fail;
        }
        if (offset - s->snapshots_offset > QCOW2_MAX_SNAPSHOTS_SIZE) {
            error_setg(errp, "Snapshot table is too big");
            ret = -EFBIG;
            goto fail;
        }
    }
    s->snapshots_size = offset - s->snapshots_offset;
    return 0;

fail:
    /* Entries read so far are freed; nb_snapshots stays as in the header */
    for (i = 0; i < n; i++) {
        snapshot_clear(&s->snapshots[i]);
    }
    g_free(s->snapshots);
    s->snapshots = NULL;
    return ret;
}

/* ---- writing the table ---- */

static void serialize_snapshot(GByteArray *buf, const QCowSnapshot *sn)
{
    QCowSnapshotHeader h = { 0 };
    QCowSnapshotExtraData extra;
    uint32_t extra_size = MAX(sn->extra_data_size, (uint32_t)sizeof(extra));
    size_t id_len = strlen(sn->id_str), name_len = strlen(sn->name);
    static const uint8_t zero[8];
    size_t start = buf->len;

    h.l1_table_offset = GUINT64_TO_BE(sn->l1_table_offset);
    h.l1_size = GUINT32_TO_BE(sn->l1_size);
    h.id_str_size = GUINT16_TO_BE(id_len);
    h.name_size = GUINT16_TO_BE(name_len);
    h.date_sec = GUINT32_TO_BE(sn->date_sec);
    h.date_nsec = GUINT32_TO_BE(sn->date_nsec);
    h.vm_clock_nsec = GUINT64_TO_BE(sn->vm_clock_nsec);
    /* The 32-bit field holds the size only if it fits (else 0) */
    h.vm_state_size = GUINT32_TO_BE(sn->vm_state_size > UINT32_MAX ? 0 :
                                    (uint32_t)sn->vm_state_size);
    h.extra_data_size = GUINT32_TO_BE(extra_size);
    g_byte_array_append(buf, (const guint8 *)&h, sizeof(h));

    extra.vm_state_size_large = GUINT64_TO_BE(sn->vm_state_size);
    extra.disk_size = GUINT64_TO_BE(sn->disk_size);
    extra.icount = GUINT64_TO_BE((uint64_t)sn->icount);
    g_byte_array_append(buf, (const guint8 *)&extra, sizeof(extra));
    if (extra_size > sizeof(extra)) {
        g_byte_array_append(buf, sn->unknown_extra_data, extra_size - sizeof(extra));
    }
    g_byte_array_append(buf, (const guint8 *)sn->id_str, id_len);
    g_byte_array_append(buf, (const guint8 *)sn->name, name_len);
    g_byte_array_append(buf, zero, ROUND_UP(buf->len - start, 8) - (buf->len - start));
}

/*
 * Write s->snapshots (nb_snapshots entries) as a new table: new clusters
 * are allocated and written and flushed, then the header is switched to
 * them (nb_snapshots and snapshots_offset are adjacent fields), then the
 * old table is freed.
 */
int coroutine_fn qcow2_write_snapshots(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old_offset = s->snapshots_offset, old_size = s->snapshots_size;
    GByteArray *buf = g_byte_array_new();
    int64_t new_offset = 0;
    struct {
        uint32_t nb_snapshots;
        uint64_t snapshots_offset;
    } __attribute__((packed)) hdr;
    unsigned i;
    int ret;

    for (i = 0; i < s->nb_snapshots; i++) {
        serialize_snapshot(buf, &s->snapshots[i]);
    }
    if (buf->len > QCOW2_MAX_SNAPSHOTS_SIZE) {
        ret = -EFBIG;
        goto out;
    }
    if (buf->len) {
        new_offset = qcow2_alloc_clusters(bs, buf->len);
        if (new_offset < 0) {
            ret = new_offset;
            goto out;
        }
        ret = qcow2_cache_flush(bs, s->refcount_block_cache);
        if (ret < 0) {
            goto fail;
        }
        ret = qcow2_pre_write_overlap_check(bs, 0, new_offset, buf->len);
        if (ret < 0) {
            goto fail;
        }
        ret = bdrv_co_pwrite(bs->file, new_offset, buf->len, buf->data, 0);
        if (ret < 0) {
            goto fail;
        }
        ret = bdrv_co_flush(bs->file->bs);
        if (ret < 0) {
            goto fail;
        }
    }
    hdr.nb_snapshots = GUINT32_TO_BE(s->nb_snapshots);
    hdr.snapshots_offset = GUINT64_TO_BE((uint64_t)new_offset);
    ret = bdrv_co_pwrite(bs->file, offsetof(QCowHeader, nb_snapshots),
                         sizeof(hdr), &hdr, 0);
    if (ret < 0) {
        goto fail;
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        goto fail;
    }
    s->snapshots_offset = new_offset;
    s->snapshots_size = buf->len;
    if (old_size) {
        qcow2_free_clusters(bs, old_offset, old_size, QCOW2_DISCARD_SNAPSHOT);
    }
    trace_qcow2_write_snapshots(bs, s->nb_snapshots, new_offset, buf->len);
    ret = 0;
    goto out;

fail:
    if (new_offset > 0) {
        qcow2_free_clusters(bs, new_offset, buf->len, QCOW2_DISCARD_ALWAYS);
    }
out:
    g_byte_array_free(buf, true);
    return ret;
}

/* ---- sharing clusters between L1 tables ---- */

/* 64-bit words per L2 entry: 1, or 2 with extended L2 entries */
static inline int l2_words(BDRVQcow2State *s)
{
    return s->cluster_size / (s->l2_size * (int)sizeof(uint64_t));
}

/* Check a snapshot's L1 table location: 0 or -errno with errp */
int qcow2_validate_snapshot_l1(BlockDriverState *bs, const QCowSnapshot *sn,
                               Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (sn->l1_size > QCOW2_MAX_L1_SIZE / sizeof(uint64_t)) {
        error_setg(errp, "Snapshot L1 table too large");
        return -EFBIG;
    }
    if (offset_into_cluster(s, sn->l1_table_offset) ||
        sn->l1_table_offset > INT64_MAX - (uint64_t)sn->l1_size * 8 ||
        (sn->l1_size && sn->l1_table_offset + (uint64_t)sn->l1_size * 8 >
                        (uint64_t)s->file_end_hint)) {
        error_setg(errp, "Snapshot L1 table offset invalid");
        return -EINVAL;
    }
    return 0;
}

/* Read an L1 table of l1_size entries (host order) */
static int coroutine_fn read_l1(BlockDriverState *bs, uint64_t offset,
                                uint32_t l1_size, uint64_t **l1)
{
    uint32_t i;
    int ret;

    *l1 = g_try_new0(uint64_t, MAX(l1_size, 1));
    if (!*l1) {
        return -ENOMEM;
    }
    if (!l1_size) {
        return 0;
    }
    ret = bdrv_co_pread(bs->file, offset, (int64_t)l1_size * 8, *l1, 0);
    if (ret < 0) {
        g_free(*l1);
        *l1 = NULL;
        return ret;
    }
    for (i = 0; i < l1_size; i++) {
        (*l1)[i] = GUINT64_FROM_BE((*l1)[i]);
    }
    return 0;
}

/* Write an L1 table of l1_size entries (host order) at offset */
static int coroutine_fn write_l1(BlockDriverState *bs, uint64_t offset,
                                 uint32_t l1_size, const uint64_t *l1, int ign)
{
    uint64_t *be;
    uint32_t i;
    int ret;

    if (!l1_size) {
        return 0;
    }
    ret = qcow2_pre_write_overlap_check(bs, ign, offset, (int64_t)l1_size * 8);
    if (ret < 0) {
        return ret;
    }
    be = g_try_new(uint64_t, l1_size);
    if (!be) {
        return -ENOMEM;
    }
    for (i = 0; i < l1_size; i++) {
        be[i] = GUINT64_TO_BE(l1[i]);
    }
    ret = bdrv_co_pwrite(bs->file, offset, (int64_t)l1_size * 8, be, 0);
    g_free(be);
    return ret;
}

/* New refcount of a cluster after adding addend (0: just read it) */
static int64_t coroutine_fn cluster_refcount_add(BlockDriverState *bs,
                                                 uint64_t offset, int addend)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t refcount;
    int ret;

    if (addend) {
        return qcow2_update_cluster_refcount(bs, offset >> s->cluster_bits,
                                             addend, QCOW2_DISCARD_SNAPSHOT);
    }
    ret = qcow2_get_refcount(bs, offset >> s->cluster_bits, &refcount);
    return ret < 0 ? ret : (int64_t)refcount;
}

/* The L2 entries of one slice: refcounts += addend, COPIED made exact */
static int coroutine_fn update_l2_slice_refcounts(BlockDriverState *bs,
                                                  uint64_t slice_offset,
                                                  int addend)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *l2;
    int j, ret;

    ret = qcow2_cache_get(bs, s->l2_table_cache, slice_offset, (void **)&l2);
    if (ret < 0) {
        return ret;
    }
    for (j = 0; j < s->l2_slice_size; j++) {
        uint64_t e = GUINT64_FROM_BE(l2[j * l2_words(s)]), ne = e;
        int64_t rc;

        switch (qcow2_get_cluster_type(bs, e)) {
        case QCOW2_CLUSTER_COMPRESSED:
            if (addend) {
                uint64_t coffset;
                int csize;

                qcow2_parse_compressed_l2_entry(bs, e, &coffset, &csize);
                ret = qcow2_update_refcount(bs, coffset, csize, addend,
                                            QCOW2_DISCARD_SNAPSHOT);
                if (ret < 0) {
                    goto out;
                }
            }
            break;
        case QCOW2_CLUSTER_NORMAL:
        case QCOW2_CLUSTER_ZERO_ALLOC:
            if (offset_into_cluster(s, e & L2E_OFFSET_MASK)) {
                qcow2_signal_corruption(bs, true, -1, -1, "Cluster allocation "
                                        "offset %#" PRIx64 " unaligned (L2 "
                                        "offset: %#" PRIx64 ", L2 index: %#x)",
                                        e & L2E_OFFSET_MASK, slice_offset, j);
                ret = -EIO;
                goto out;
            }
            rc = cluster_refcount_add(bs, e & L2E_OFFSET_MASK, addend);
            if (rc < 0) {
                ret = rc;
                goto out;
            }
            ne = rc == 1 ? (e | QCOW_OFLAG_COPIED) : (e & ~QCOW_OFLAG_COPIED);
            break;
        default:
            break;
        }
        if (ne != e) {
            l2[j * l2_words(s)] = GUINT64_TO_BE(ne);
            qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
        }
    }
    ret = 0;
out:
    qcow2_cache_put(s->l2_table_cache, (void **)&l2);
    return ret;
}

/*
 * Add addend (-1, 0 or 1) to the refcount of every L2 table and data
 * cluster reachable from the L1 table l1 (l1_size entries, host order, in
 * memory) and set QCOW_OFLAG_COPIED in the L2 entries (in the cache) and
 * in l1 exactly where the refcount is (then) 1; *l1_modified (may be
 * NULL) tells whether l1 changed.
 */
static int coroutine_fn walk_l1_refcounts(BlockDriverState *bs, uint64_t *l1,
                                          uint32_t l1_size, int addend,
                                          bool *l1_modified)
{
    BDRVQcow2State *s = bs->opaque;
    unsigned slice_bytes = s->l2_slice_size * sizeof(uint64_t) * l2_words(s);
    int n_slices = s->cluster_size / slice_bytes;
    uint32_t i;
    int k, ret;

    if (addend > 0) {
        /*
         * Increments reach the disk before the tables that lose COPIED: a
         * crash in between leaves refcounts too high (leaks, which
         * `qemu-img check -r leaks` repairs, and then COPIED agrees),
         * never a shared cluster that still claims to be exclusive.
         */
        ret = qcow2_cache_set_dependency(bs, s->l2_table_cache,
                                         s->refcount_block_cache);
        if (ret < 0) {
            return ret;
        }
    }
    for (i = 0; i < l1_size; i++) {
        uint64_t l2_offset = l1[i] & L1E_OFFSET_MASK, ne;
        int64_t rc;

        if (!l2_offset) {
            continue;
        }
        if (offset_into_cluster(s, l2_offset) ||
            l2_offset + s->cluster_size > (uint64_t)s->file_end_hint) {
            qcow2_signal_corruption(bs, true, -1, -1, "L2 table offset %#"
                                    PRIx64 " invalid (L1 index: %#" PRIx32 ")",
                                    l2_offset, i);
            return -EIO;
        }
        for (k = 0; k < n_slices; k++) {
            ret = update_l2_slice_refcounts(bs, l2_offset + (uint64_t)k * slice_bytes,
                                            addend);
            if (ret < 0) {
                return ret;
            }
        }
        rc = cluster_refcount_add(bs, l2_offset, addend);
        if (rc < 0) {
            return rc;
        }
        ne = rc == 1 ? (l2_offset | QCOW_OFLAG_COPIED) : l2_offset;
        if (ne != l1[i]) {
            l1[i] = ne;
            if (l1_modified) {
                *l1_modified = true;
            }
        }
    }
    return 0;
}

/*
 * walk_l1_refcounts() for the L1 table at l1_offset: the active one is
 * taken from memory, another one is read from the image; the table is
 * written back when it changed, unless addend is -1 (the table is going
 * away, or has just been replaced on disk by a revert).
 */
int coroutine_fn qcow2_update_snapshot_refcount(BlockDriverState *bs,
                                                uint64_t l1_offset,
                                                uint32_t l1_size, int addend)
{
    BDRVQcow2State *s = bs->opaque;
    bool active = l1_offset == s->l1_table_offset;
    bool l1_modified = false;
    uint64_t *l1 = NULL;
    int ret;

    trace_qcow2_update_snapshot_refcount(bs, l1_offset, l1_size, addend);
    if (active) {
        /* The active table is written back whole: no deferred entries */
        ret = qcow2_link_tables(bs);
        if (ret < 0) {
            return ret;
        }
        l1 = s->l1_table;
        l1_size = s->l1_size;
    } else {
        ret = read_l1(bs, l1_offset, l1_size, &l1);
        if (ret < 0) {
            return ret;
        }
    }
    ret = walk_l1_refcounts(bs, l1, l1_size, addend, &l1_modified);
    if (l1_modified && addend >= 0) {
        int r;

        /* L2 tables first: the L1 entries may now claim them exclusively */
        r = qcow2_cache_flush(bs, s->l2_table_cache);
        if (r == 0) {
            r = write_l1(bs, l1_offset, l1_size, l1,
                         active ? QCOW2_OL_ACTIVE_L1 : QCOW2_OL_INACTIVE_L1);
        }
        if (r < 0 && ret == 0) {
            ret = r;
        }
    }
    if (!active) {
        g_free(l1);
    }
    return ret;
}

/*
 * Whether an L1 entry's L2 table can be walked (the walks below skip a
 * broken one: the refcount pass reports it).
 */
static bool l2_table_usable(BDRVQcow2State *s, uint64_t l2_offset)
{
    return l2_offset && !offset_into_cluster(s, l2_offset) &&
           l2_offset + s->cluster_size <= (uint64_t)s->file_end_hint;
}

/* An L2 entry e (big endian, in the cached slice l2) of a data cluster */
typedef int coroutine_fn L2DataEntryFunc(BlockDriverState *bs, uint64_t *l2,
                                         uint64_t *e, void *opaque);

/*
 * fn on each entry of the L2 table at l2_offset that points to a normal or
 * zero-allocated cluster (at an aligned host offset), slice by slice
 * through the L2 cache; fn may change the entry and mark the slice dirty.
 * Stops at the first error.
 */
static int coroutine_fn for_each_l2_data_entry(BlockDriverState *bs,
                                               uint64_t l2_offset,
                                               L2DataEntryFunc *fn,
                                               void *opaque)
{
    BDRVQcow2State *s = bs->opaque;
    unsigned slice_bytes = s->l2_slice_size * sizeof(uint64_t) * l2_words(s);
    int n_slices = s->cluster_size / slice_bytes;
    int j, k, ret;

    for (k = 0; k < n_slices; k++) {
        uint64_t *l2;

        ret = qcow2_cache_get(bs, s->l2_table_cache,
                              l2_offset + (uint64_t)k * slice_bytes, (void **)&l2);
        if (ret < 0) {
            return ret;
        }
        for (j = 0; j < s->l2_slice_size; j++) {
            uint64_t *pe = &l2[j * l2_words(s)];
            uint64_t e = GUINT64_FROM_BE(*pe);
            QCow2ClusterType type = qcow2_get_cluster_type(bs, e);

            if ((type != QCOW2_CLUSTER_NORMAL && type != QCOW2_CLUSTER_ZERO_ALLOC) ||
                offset_into_cluster(s, e & L2E_OFFSET_MASK)) {
                continue;
            }
            ret = fn(bs, l2, pe, opaque);
            if (ret < 0) {
                qcow2_cache_put(s->l2_table_cache, (void **)&l2);
                return ret;
            }
        }
        qcow2_cache_put(s->l2_table_cache, (void **)&l2);
    }
    return 0;
}

/* One more reference to the cluster at host offset in refs */
static void refs_add(BDRVQcow2State *s, GHashTable *refs, uint64_t offset)
{
    gpointer key = GSIZE_TO_POINTER(offset >> s->cluster_bits);

    g_hash_table_insert(refs, key, GSIZE_TO_POINTER(
        GPOINTER_TO_SIZE(g_hash_table_lookup(refs, key)) + 1));
}

static int coroutine_fn count_data_reference(BlockDriverState *bs,
                                             uint64_t *l2, uint64_t *e,
                                             void *opaque)
{
    refs_add(bs->opaque, opaque, GUINT64_FROM_BE(*e) & L2E_OFFSET_MASK);
    return 0;
}

/*
 * References an L1 table (l1, l1_size entries, host order) holds: L2
 * tables and normal/zero-allocated data clusters, by cluster index ->
 * count, added to refs.  Compressed clusters never carry COPIED and are
 * not counted.  Entries that are broken are skipped (the decrement pass
 * reports them).
 */
static int coroutine_fn count_l1_references(BlockDriverState *bs, const uint64_t *l1,
                                            uint32_t l1_size, GHashTable *refs)
{
    BDRVQcow2State *s = bs->opaque;
    uint32_t i;
    int ret;

    for (i = 0; i < l1_size; i++) {
        uint64_t l2_offset = l1[i] & L1E_OFFSET_MASK;

        if (!l2_table_usable(s, l2_offset)) {
            continue;
        }
        refs_add(s, refs, l2_offset);
        ret = for_each_l2_data_entry(bs, l2_offset, count_data_reference, refs);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* Whether a cluster will be exclusive once the references in going are dropped */
static int coroutine_fn will_be_exclusive(BlockDriverState *bs, uint64_t offset,
                                          GHashTable *going, bool *exclusive)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t ci = offset >> s->cluster_bits, refcount;
    int ret = qcow2_get_refcount(bs, ci, &refcount);

    if (ret < 0) {
        return ret;
    }
    refcount -= MIN(refcount, GPOINTER_TO_SIZE(g_hash_table_lookup(going,
                                                  GSIZE_TO_POINTER(ci))));
    *exclusive = refcount == 1;
    return 0;
}

static int coroutine_fn set_copied_if_exclusive(BlockDriverState *bs,
                                                uint64_t *l2, uint64_t *pe,
                                                void *opaque)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t e = GUINT64_FROM_BE(*pe);
    bool excl;
    int ret;

    if (e & QCOW_OFLAG_COPIED) {
        return 0;
    }
    ret = will_be_exclusive(bs, e & L2E_OFFSET_MASK, opaque, &excl);
    if (ret < 0) {
        return ret;
    }
    if (excl) {
        *pe = GUINT64_TO_BE(e | QCOW_OFLAG_COPIED);
        qcow2_cache_entry_mark_dirty(s->l2_table_cache, l2);
    }
    return 0;
}

/*
 * Before the references in going are dropped: set QCOW_OFLAG_COPIED in
 * the active tables wherever a cluster will then be exclusive, and write
 * the L2 tables and the L1 table.  A crash after this and before the
 * refcounts drop leaves COPIED on clusters whose refcount is too high,
 * i.e. leaks (which `check -r leaks` repairs, COPIED then agreeing);
 * never COPIED missing where the refcount already says 1.
 */
static int coroutine_fn set_copied_before_drop(BlockDriverState *bs, GHashTable *going)
{
    BDRVQcow2State *s = bs->opaque;
    bool l1_modified = false, excl;
    int i, ret;

    for (i = 0; i < s->l1_size; i++) {
        uint64_t l2_offset = s->l1_table[i] & L1E_OFFSET_MASK, ne;

        if (!l2_table_usable(s, l2_offset)) {
            continue;
        }
        ret = for_each_l2_data_entry(bs, l2_offset, set_copied_if_exclusive,
                                     going);
        if (ret < 0) {
            return ret;
        }
        ret = will_be_exclusive(bs, l2_offset, going, &excl);
        if (ret < 0) {
            return ret;
        }
        ne = excl ? (l2_offset | QCOW_OFLAG_COPIED) : s->l1_table[i];
        if (ne != s->l1_table[i]) {
            s->l1_table[i] = ne;
            l1_modified = true;
        }
    }
    ret = qcow2_cache_flush(bs, s->l2_table_cache);
    if (ret == 0 && l1_modified) {
        ret = write_l1(bs, s->l1_table_offset, s->l1_size, s->l1_table,
                       QCOW2_OL_ACTIVE_L1);
    }
    if (ret == 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    return ret;
}

/* ---- lookup ---- */

int qcow2_find_snapshot_by_id_and_name(BlockDriverState *bs, const char *id,
                                       const char *name)
{
    BDRVQcow2State *s = bs->opaque;
    unsigned i;

    if (!id && !name) {
        return -1;
    }
    for (i = 0; i < s->nb_snapshots; i++) {
        if ((!id || !strcmp(s->snapshots[i].id_str, id)) &&
            (!name || !strcmp(s->snapshots[i].name, name))) {
            return i;
        }
    }
    return -1;
}

/* By id first, then by name (qemu-img snapshot -a/-d, loadvm) */
static int find_snapshot_by_id_or_name(BlockDriverState *bs, const char *id_or_name)
{
    int i = qcow2_find_snapshot_by_id_and_name(bs, id_or_name, NULL);

    return i >= 0 ? i : qcow2_find_snapshot_by_id_and_name(bs, NULL, id_or_name);
}

static void find_new_snapshot_id(BlockDriverState *bs, char *id_str, size_t size)
{
    BDRVQcow2State *s = bs->opaque;
    unsigned long id_max = 0;
    unsigned i;

    for (i = 0; i < s->nb_snapshots; i++) {
        unsigned long id = strtoul(s->snapshots[i].id_str, NULL, 10);

        id_max = MAX(id_max, id);
    }
    snprintf(id_str, size, "%lu", id_max + 1);
}

/* ---- driver callbacks ---- */

static int coroutine_fn snapshot_create_locked(BlockDriverState *bs,
                                               QEMUSnapshotInfo *sn_info)
{
    BDRVQcow2State *s = bs->opaque;
    QCowSnapshot sn = { 0 }, *new_list;
    int64_t l1_offset;
    int ret;

    if (!sn_info->id_str[0]) {
        find_new_snapshot_id(bs, sn_info->id_str, sizeof(sn_info->id_str));
    }
    if (qcow2_find_snapshot_by_id_and_name(bs, sn_info->id_str, NULL) >= 0) {
        return -EEXIST;
    }
    if (s->nb_snapshots >= QCOW2_MAX_SNAPSHOTS - 1) {
        return -EFBIG;
    }
    if (strlen(sn_info->id_str) > UINT16_MAX || strlen(sn_info->name) > UINT16_MAX) {
        return -EINVAL;
    }

    /* Make sure everything written so far is described by the tables */
    ret = qcow2_write_caches(bs);
    if (ret < 0) {
        return ret;
    }
    l1_offset = qcow2_alloc_clusters(bs, MAX((uint64_t)s->l1_size * 8, 1));
    if (l1_offset < 0) {
        return l1_offset;
    }
    /* Share every cluster; COPIED is cleared in the active tables */
    ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size, 1);
    if (ret < 0) {
        goto fail;
    }
    ret = write_l1(bs, l1_offset, s->l1_size, s->l1_table, 0);
    if (ret < 0) {
        goto fail_undo;
    }
    /* Refcounts, L2 tables and the copy are stable before the table names them */
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        goto fail_undo;
    }

    sn.l1_table_offset = l1_offset;
    sn.l1_size = s->l1_size;
    sn.id_str = g_strdup(sn_info->id_str);
    sn.name = g_strdup(sn_info->name);
    sn.disk_size = s->size;
    sn.vm_state_size = sn_info->vm_state_size;
    sn.date_sec = sn_info->date_sec;
    sn.date_nsec = sn_info->date_nsec;
    sn.vm_clock_nsec = sn_info->vm_clock_nsec;
    sn.icount = (int64_t)sn_info->icount;
    sn.extra_data_size = sizeof(QCowSnapshotExtraData);

    new_list = g_new0(QCowSnapshot, s->nb_snapshots + 1);
    if (s->nb_snapshots) {
        memcpy(new_list, s->snapshots, s->nb_snapshots * sizeof(QCowSnapshot));
    }
    new_list[s->nb_snapshots] = sn;
    g_free(s->snapshots);
    s->snapshots = new_list;
    s->nb_snapshots++;
    ret = qcow2_write_snapshots(bs);
    if (ret < 0) {
        s->nb_snapshots--;
        snapshot_clear(&s->snapshots[s->nb_snapshots]);
        goto fail_undo;
    }
    trace_qcow2_snapshot_create(bs, sn_info->id_str, sn_info->name, l1_offset);
    return 0;

fail_undo:
    /* Best effort: anything not undone is a leak, never a corruption */
    qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size, -1);
fail:
    qcow2_free_clusters(bs, l1_offset, MAX((uint64_t)s->l1_size * 8, 1),
                        QCOW2_DISCARD_ALWAYS);
    return ret;
}

int coroutine_fn qcow2_snapshot_create(BlockDriverState *bs,
                                       QEMUSnapshotInfo *sn_info)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qemu_co_mutex_lock(&s->lock);
    ret = snapshot_create_locked(bs, sn_info);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static int coroutine_fn snapshot_goto_locked(BlockDriverState *bs,
                                             const char *snapshot_id,
                                             Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    QCowSnapshot *sn;
    uint64_t *sn_l1 = NULL, *old_l1;
    GHashTable *going;
    uint32_t cur_l1_size, i;
    int idx, ret;

    idx = find_snapshot_by_id_or_name(bs, snapshot_id);
    if (idx < 0) {
        error_setg(errp, "Can't find snapshot");
        return -ENOENT;
    }
    sn = &s->snapshots[idx];
    ret = qcow2_validate_snapshot_l1(bs, sn, errp);
    if (ret < 0) {
        return ret;
    }
    if (sn->disk_size != s->size) {
        if (s->qcow_version < 3) {
            error_setg(errp, "Can't revert a v2 image to a snapshot of a "
                       "different size");
            return -ENOTSUP;
        }
        ret = qcow2_truncate_locked(bs, sn->disk_size, PREALLOC_MODE_OFF, errp);
        if (ret < 0) {
            error_prepend(errp, "Failed to resize the image to the snapshot's "
                          "size: ");
            return ret;
        }
        bs->total_bytes_hint = -1;
        sn = &s->snapshots[idx];
    }
    /* The active table must be able to hold the snapshot's */
    ret = qcow2_grow_l1_table(bs, sn->l1_size, true);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to grow the L1 table");
        return ret;
    }
    cur_l1_size = s->l1_size;
    ret = read_l1(bs, sn->l1_table_offset, sn->l1_size, &sn_l1);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to read the snapshot's L1 table");
        return ret;
    }
    if (sn->l1_size < cur_l1_size) {
        uint64_t *full = g_try_new0(uint64_t, cur_l1_size);

        if (!full) {
            g_free(sn_l1);
            error_setg(errp, "Failed to allocate the L1 table");
            return -ENOMEM;
        }
        memcpy(full, sn_l1, (size_t)sn->l1_size * 8);
        g_free(sn_l1);
        sn_l1 = full;
    }
    ret = qcow2_write_caches(bs);
    if (ret < 0) {
        goto fail;
    }
    /* 1. the snapshot's clusters gain the active table's reference */
    ret = qcow2_update_snapshot_refcount(bs, sn->l1_table_offset, sn->l1_size, 1);
    if (ret < 0) {
        goto fail;
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        goto fail;
    }
    /*
     * 2. the active table now points at them; every L2 table it names is
     * shared with the snapshot now, so none is COPIED (whatever the
     * snapshot's own table said)
     */
    for (i = 0; i < sn->l1_size; i++) {
        sn_l1[i] &= ~QCOW_OFLAG_COPIED;
    }
    ret = write_l1(bs, s->l1_table_offset, cur_l1_size, sn_l1, QCOW2_OL_ACTIVE_L1);
    if (ret < 0) {
        goto fail;
    }
    ret = bdrv_co_flush(bs->file->bs);
    if (ret < 0) {
        goto fail;
    }
    /*
     * 3. COPIED of the new active tables as it will be, then the old
     * active clusters lose their reference (the old entries are kept
     * aside: s->l1_table becomes the new table first)
     */
    old_l1 = g_memdup2(s->l1_table, (size_t)cur_l1_size * 8);
    going = g_hash_table_new(NULL, NULL);
    ret = count_l1_references(bs, old_l1, cur_l1_size, going);
    for (i = 0; i < cur_l1_size; i++) {
        s->l1_table[i] = sn_l1[i];
    }
    if (ret == 0) {
        ret = set_copied_before_drop(bs, going);
    }
    if (ret == 0) {
        ret = walk_l1_refcounts(bs, old_l1, cur_l1_size, -1, NULL);
    }
    g_hash_table_destroy(going);
    g_free(old_l1);
    if (ret < 0) {
        goto fail;
    }
    /* 4. COPIED flags of the new active tables */
    ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset, cur_l1_size, 0);
    if (ret < 0) {
        goto fail;
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        goto fail;
    }
    g_free(sn_l1);
    trace_qcow2_snapshot_goto(bs, s->snapshots[idx].id_str);
    return 0;

fail:
    g_free(sn_l1);
    error_setg_errno(errp, -ret, "Failed to revert to the snapshot");
    return ret;
}

int coroutine_fn qcow2_snapshot_goto(BlockDriverState *bs, const char *snapshot_id,
                                     Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qemu_co_mutex_lock(&s->lock);
    ret = snapshot_goto_locked(bs, snapshot_id, errp);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static int coroutine_fn snapshot_delete_locked(BlockDriverState *bs,
                                               const char *snapshot_id,
                                               const char *name, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    QCowSnapshot sn;
    GHashTable *going;
    uint64_t *sn_l1 = NULL;
    int idx, ret;

    idx = qcow2_find_snapshot_by_id_and_name(bs, snapshot_id, name);
    if (idx < 0) {
        error_setg(errp, "Can't find the snapshot");
        return -ENOENT;
    }
    sn = s->snapshots[idx];
    ret = qcow2_validate_snapshot_l1(bs, &sn, errp);
    if (ret < 0) {
        error_prepend(errp, "Snapshot L1 table: ");
        return ret;
    }
    /* 1. the table forgets the snapshot */
    memmove(&s->snapshots[idx], &s->snapshots[idx + 1],
            (s->nb_snapshots - idx - 1) * sizeof(QCowSnapshot));
    s->nb_snapshots--;
    ret = qcow2_write_snapshots(bs);
    if (ret < 0) {
        /* Put it back */
        memmove(&s->snapshots[idx + 1], &s->snapshots[idx],
                (s->nb_snapshots - idx) * sizeof(QCowSnapshot));
        s->snapshots[idx] = sn;
        s->nb_snapshots++;
        error_setg_errno(errp, -ret, "Failed to remove snapshot from snapshot list");
        return ret;
    }
    /*
     * 2. COPIED in the active tables where a cluster will be exclusive,
     * then the snapshot's clusters lose its reference, its L1 table goes
     */
    going = g_hash_table_new(NULL, NULL);
    ret = read_l1(bs, sn.l1_table_offset, sn.l1_size, &sn_l1);
    if (ret == 0) {
        ret = count_l1_references(bs, sn_l1, sn.l1_size, going);
    }
    if (ret == 0) {
        ret = set_copied_before_drop(bs, going);
    }
    g_hash_table_destroy(going);
    g_free(sn_l1);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update snapshot status in disk");
        goto out;
    }
    ret = qcow2_update_snapshot_refcount(bs, sn.l1_table_offset, sn.l1_size, -1);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to free the cluster and L1 table");
        goto out;
    }
    qcow2_free_clusters(bs, sn.l1_table_offset, MAX((uint64_t)sn.l1_size * 8, 1),
                        QCOW2_DISCARD_SNAPSHOT);
    /* 3. clusters now used only by the active tables get COPIED back */
    ret = qcow2_update_snapshot_refcount(bs, s->l1_table_offset, s->l1_size, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update snapshot status in disk");
        goto out;
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to flush the image");
    }
    trace_qcow2_snapshot_delete(bs, sn.id_str, sn.name);
out:
    snapshot_clear(&sn);
    return ret;
}

int coroutine_fn qcow2_snapshot_delete(BlockDriverState *bs, const char *snapshot_id,
                                       const char *name, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qemu_co_mutex_lock(&s->lock);
    ret = snapshot_delete_locked(bs, snapshot_id, name, errp);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

int coroutine_fn qcow2_snapshot_list(BlockDriverState *bs,
                                     QEMUSnapshotInfo **psn_info)
{
    BDRVQcow2State *s = bs->opaque;
    QEMUSnapshotInfo *list;
    unsigned i;

    list = g_new0(QEMUSnapshotInfo, MAX(s->nb_snapshots, 1));
    for (i = 0; i < s->nb_snapshots; i++) {
        QCowSnapshot *sn = &s->snapshots[i];

        g_strlcpy(list[i].id_str, sn->id_str, sizeof(list[i].id_str));
        g_strlcpy(list[i].name, sn->name, sizeof(list[i].name));
        list[i].vm_state_size = sn->vm_state_size;
        list[i].date_sec = sn->date_sec;
        list[i].date_nsec = sn->date_nsec;
        list[i].vm_clock_nsec = sn->vm_clock_nsec;
        list[i].icount = (uint64_t)sn->icount;
    }
    *psn_info = list;
    return s->nb_snapshots;
}
