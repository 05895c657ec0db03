/*
 * qcow2-create.c: making and resizing qcow2 images.
 *
 * blockdev-create's qcow2 branch (BlockdevCreateOptionsQcow2, QEMU's
 * option names and errors): a minimal image (header, one refcount table
 * cluster, one refcount block) is written on the file node, then opened
 * with the qcow2 driver, which records the backing file and grows the
 * image to its size with the requested preallocation, as QEMU does.
 *
 * Resize (bdrv_co_truncate): growing enlarges the L1 table and may
 * preallocate (metadata: L2 tables and data clusters linked; falloc/full:
 * the file's new tail allocated too); shrinking discards the cropped
 * clusters, drops the L2 tables past the end and trims the file.  The
 * size field of the header changes last.
 */
#include "qemu/osdep.h"
#include "block/qcow2.h"
#include "block/block-backend.h"
#include "trace/trace-block.h"

#define QCOW2_DEFAULT_CLUSTER_SIZE  65536

/* ---- resize ---- */

static uint64_t l1_entries_for(BDRVQcow2State *s, uint64_t size)
{
    int shift = s->cluster_bits + s->l2_bits;

    return (size + (UINT64_C(1) << shift) - 1) >> shift;
}

/* Index of the last cluster with a nonzero refcount below file_clusters (-1: none) */
static int64_t coroutine_fn last_used_cluster(BlockDriverState *bs,
                                              int64_t file_clusters)
{
    int64_t i;

    for (i = file_clusters - 1; i >= 0; i--) {
        uint64_t refcount;
        int ret = qcow2_get_refcount(bs, i, &refcount);

        if (ret < 0) {
            return ret;
        }
        if (refcount) {
            return i;
        }
    }
    return -1;
}

/*
 * Link data clusters for the guest range [start, end) (cluster aligned)
 * without writing guest data: their contents read as zeroes because they
 * are past the old end of the file (or are zeroed here when reused).
 * *host_end gets the end of the last host cluster used.
 */
static int coroutine_fn preallocate_range(BlockDriverState *bs, uint64_t start,
                                          uint64_t end, int64_t old_file_end,
                                          int64_t *host_end)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t offset = start;
    int ret;

    while (offset < end) {
        uint64_t cur = end - offset, host;
        QCowL2Meta *m = NULL;

        ret = qcow2_alloc_host_offset(bs, offset, &cur, &host, &m);
        if (ret < 0) {
            return ret;
        }
        if (m) {
            uint64_t bytes = (uint64_t)m->nb_clusters << s->cluster_bits;

            if ((int64_t)m->alloc_offset < old_file_end) {
                /* A reused cluster may hold old data */
                ret = bdrv_co_pwrite_zeroes(bs->file, m->alloc_offset,
                                            MIN(bytes, old_file_end - m->alloc_offset),
                                            0);
            }
            *host_end = MAX(*host_end, (int64_t)(m->alloc_offset + bytes));
            ret = qcow2_alloc_cluster_finish(bs, m, ret,
                                             qcow2_alloc_cluster_link_l2);
            if (ret < 0) {
                return ret;
            }
        } else {
            *host_end = MAX(*host_end, (int64_t)ROUND_UP(host + cur, s->cluster_size));
        }
        offset += cur;
    }
    return 0;
}

/* The last step of a resize: the header's size field, then ours */
static int coroutine_fn qcow2_set_size(BlockDriverState *bs, uint64_t size,
                                       Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t be = GUINT64_TO_BE(size);
    int ret;

    ret = bdrv_co_pwrite(bs->file, offsetof(QCowHeader, size), sizeof(be), &be, 0);
    if (ret >= 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update the image size");
        return ret;
    }
    s->size = size;
    s->l1_vm_state_index = l1_entries_for(s, size);
    return 0;
}

static int coroutine_fn qcow2_shrink(BlockDriverState *bs, int64_t offset,
                                     Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t first = ROUND_UP(offset, s->cluster_size);
    uint64_t old_end = ROUND_UP(s->size, s->cluster_size);
    uint64_t new_l1 = l1_entries_for(s, offset);
    int64_t file_len, last;
    int i, ret;

    if (old_end > first) {
        ret = qcow2_cluster_discard(bs, first, old_end - first,
                                    QCOW2_DISCARD_ALWAYS, true);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to discard cropped clusters");
            return ret;
        }
    }
    /* L2 tables wholly past the end: the L1 entries go first, then the tables */
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to flush the L2 table cache");
        return ret;
    }
    for (i = new_l1; i < s->l1_size && (uint64_t)i < (uint64_t)s->l1_vm_state_index; i++) {
        uint64_t l2_offset = s->l1_table[i] & L1E_OFFSET_MASK;

        if (!l2_offset) {
            continue;
        }
        s->l1_table[i] = 0;
        ret = qcow2_write_l1_entry(bs, i);
        if (ret < 0) {
            s->l1_table[i] = l2_offset;
            error_setg_errno(errp, -ret, "Failed to reduce the number of L2 tables");
            return ret;
        }
        ret = bdrv_co_flush(bs->file->bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to reduce the number of L2 tables");
            return ret;
        }
        qcow2_free_clusters(bs, l2_offset, s->cluster_size, QCOW2_DISCARD_ALWAYS);
    }
    ret = qcow2_set_size(bs, offset, errp);
    if (ret < 0) {
        return ret;
    }

    /* Trim the file after the last cluster still in use (best effort) */
    ret = qcow2_flush_caches(bs);
    file_len = bdrv_getlength(bs->file->bs);
    if (ret == 0 && file_len > 0) {
        last = last_used_cluster(bs, size_to_clusters(s, file_len));
        if (last >= 0 && (last + 1) * s->cluster_size < file_len) {
            Error *local_err = NULL;

            if (bdrv_co_truncate(bs->file, (last + 1) * s->cluster_size, false,
                                 PREALLOC_MODE_OFF, 0, &local_err) < 0) {
                warn_report_err(local_err);
            } else {
                s->file_end_hint = (last + 1) * s->cluster_size;
            }
        }
    }
    return 0;
}

static int coroutine_fn qcow2_grow(BlockDriverState *bs, int64_t offset,
                                   PreallocMode prealloc, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old_size = s->size;
    int64_t old_file_end, host_end = 0;
    int ret;

    ret = qcow2_grow_l1_table(bs, l1_entries_for(s, offset), true);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to grow the L1 table");
        return ret;
    }
    if (prealloc != PREALLOC_MODE_OFF) {
        old_file_end = bdrv_getlength(bs->file->bs);
        if (old_file_end < 0) {
            error_setg_errno(errp, -old_file_end, "Could not get the image file size");
            return old_file_end;
        }
        ret = preallocate_range(bs, ROUND_UP(old_size, s->cluster_size),
                                ROUND_UP(offset, s->cluster_size), old_file_end,
                                &host_end);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Preallocation failed");
            return ret;
        }
        ret = qcow2_flush_caches(bs);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Preallocation failed");
            return ret;
        }
        /* The data clusters must exist in the file (sparse for metadata) */
        old_file_end = bdrv_getlength(bs->file->bs);
        if (old_file_end >= 0 && host_end > old_file_end) {
            ret = bdrv_co_truncate(bs->file, host_end, false,
                                   prealloc == PREALLOC_MODE_METADATA ?
                                   PREALLOC_MODE_OFF : prealloc, 0, errp);
            if (ret < 0) {
                return ret;
            }
        }
    }
    return qcow2_set_size(bs, offset, errp);
}

int coroutine_fn qcow2_truncate_locked(BlockDriverState *bs, int64_t offset,
                                       PreallocMode prealloc, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (offset & (BDRV_SECTOR_SIZE - 1)) {
        error_setg(errp, "The new size must be a multiple of 512");
        return -EINVAL;
    }
    if (prealloc != PREALLOC_MODE_OFF && prealloc != PREALLOC_MODE_METADATA &&
        prealloc != PREALLOC_MODE_FALLOC && prealloc != PREALLOC_MODE_FULL) {
        error_setg(errp, "Unsupported preallocation mode '%s'",
                   PreallocMode_str(prealloc));
        return -ENOTSUP;
    }
    if (s->nb_snapshots && s->qcow_version < 3) {
        error_setg(errp, "Can't resize a v2 image which has internal snapshots");
        return -ENOTSUP;
    }
    trace_qcow2_truncate(bs, s->size, offset, prealloc);
    if ((uint64_t)offset == s->size) {
        return 0;
    }
    if ((uint64_t)offset < s->size) {
        if (prealloc != PREALLOC_MODE_OFF) {
            error_setg(errp, "Preallocation can't be used for shrinking an image");
            return -EINVAL;
        }
        return qcow2_shrink(bs, offset, errp);
    }
    return qcow2_grow(bs, offset, prealloc, errp);
}

int coroutine_fn qcow2_co_truncate(BlockDriverState *bs, int64_t offset,
                                   bool exact, PreallocMode prealloc,
                                   BdrvRequestFlags flags, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_truncate_locked(bs, offset, prealloc, errp);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/* ---- blockdev-create ---- */

/* Set refcount entry i of a zeroed refcount block to 1 */
static void refblock_set_one(uint8_t *block, int refcount_order, int i)
{
    int bits = 1 << refcount_order;

    if (bits < 8) {
        block[(i * bits) / 8] |= 1 << ((i * bits) % 8);
    } else {
        block[(i + 1) * (bits / 8) - 1] = 1;
    }
}

static int qcow2_create_check_options(BlockdevCreateOptionsQcow2 *o,
                                      int *version, uint64_t *cluster_size,
                                      int *refcount_order, PreallocMode *prealloc,
                                      Error **errp)
{
    uint64_t refcount_bits = o->has_refcount_bits ? o->refcount_bits : 16;

    *version = (!o->has_version || o->version == BLOCKDEV_QCOW2_VERSION_V3) ? 3 : 2;
    *cluster_size = o->has_cluster_size ? o->cluster_size : QCOW2_DEFAULT_CLUSTER_SIZE;
    *prealloc = o->has_preallocation ? o->preallocation : PREALLOC_MODE_OFF;

    if (o->encrypt) {
        error_setg(errp, "Encryption is not supported by blockd's qcow2 driver");
        return -ENOTSUP;
    }
    if (o->data_file || (o->has_data_file_raw && o->data_file_raw)) {
        error_setg(errp, "External data files are not supported by blockd's "
                   "qcow2 driver");
        return -ENOTSUP;
    }
    if (o->has_extended_l2 && o->extended_l2) {
        error_setg(errp, "Extended L2 entries are not supported by blockd's "
                   "qcow2 driver");
        return -ENOTSUP;
    }
    if (!QEMU_IS_ALIGNED(o->size, BDRV_SECTOR_SIZE)) {
        error_setg(errp, "Image size must be a multiple of %u bytes",
                   (unsigned)BDRV_SECTOR_SIZE);
        return -EINVAL;
    }
    if (o->size > (uint64_t)BDRV_MAX_LENGTH) {
        error_setg(errp, "Image size too large");
        return -EFBIG;
    }
    if (*cluster_size < (1 << QCOW2_MIN_CLUSTER_BITS) ||
        *cluster_size > (1 << QCOW2_MAX_CLUSTER_BITS) ||
        (*cluster_size & (*cluster_size - 1))) {
        error_setg(errp, "Cluster size must be a power of two between %d and "
                   "%dk", 1 << QCOW2_MIN_CLUSTER_BITS,
                   1 << (QCOW2_MAX_CLUSTER_BITS - 10));
        return -EINVAL;
    }
    if (*version < 3 && o->has_lazy_refcounts && o->lazy_refcounts) {
        error_setg(errp, "Lazy refcounts only supported with compatibility "
                   "level 1.1 and above (use version=v3 or greater)");
        return -EINVAL;
    }
    if (refcount_bits > 64 || !refcount_bits || (refcount_bits & (refcount_bits - 1))) {
        error_setg(errp, "Refcount width must be a power of two and may not "
                   "exceed 64 bits");
        return -EINVAL;
    }
    if (*version < 3 && refcount_bits != 16) {
        error_setg(errp, "Different refcount widths than 16 bits require "
                   "compatibility level 1.1 or above (use version=v3 or "
                   "greater)");
        return -EINVAL;
    }
    *refcount_order = __builtin_ctz(refcount_bits);
    if (o->has_compression_type && o->compression_type != QCOW2_COMPRESSION_TYPE_ZLIB &&
        *version < 3) {
        error_setg(errp, "Non-zlib compression type is only supported with "
                   "compatibility level 1.1 and above (use version=v3 or "
                   "greater)");
        return -EINVAL;
    }
    if (o->has_backing_fmt && !o->backing_file) {
        error_setg(errp, "Backing format cannot be used without backing file");
        return -EINVAL;
    }
    if (o->backing_file && *prealloc != PREALLOC_MODE_OFF) {
        error_setg(errp, "Backing file and preallocation can only be used at "
                   "the same time if extended_l2 is on");
        return -EINVAL;
    }
    if (o->backing_file && strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME) {
        error_setg(errp, "Backing file name too long");
        return -EINVAL;
    }
    if (*prealloc != PREALLOC_MODE_OFF && *prealloc != PREALLOC_MODE_METADATA &&
        *prealloc != PREALLOC_MODE_FALLOC && *prealloc != PREALLOC_MODE_FULL) {
        error_setg(errp, "Unsupported preallocation mode '%s'",
                   PreallocMode_str(*prealloc));
        return -EINVAL;
    }
    return 0;
}

/* Header, refcount table (cluster 1) and refcount block (cluster 2) of an empty image */
static int coroutine_fn write_skeleton(BlockBackend *blk, int version,
                                       uint64_t cluster_size, int refcount_order,
                                       bool lazy_refcounts, int compression_type,
                                       Error **errp)
{
    uint8_t *buf = g_malloc0(3 * cluster_size);
    QCowHeader *h = (QCowHeader *)buf;
    uint64_t *reftable = (uint64_t *)(buf + cluster_size);
    int i, ret;

    h->magic = GUINT32_TO_BE(QCOW_MAGIC);
    h->version = GUINT32_TO_BE(version);
    h->cluster_bits = GUINT32_TO_BE(__builtin_ctz(cluster_size));
    h->refcount_table_offset = GUINT64_TO_BE(cluster_size);
    h->refcount_table_clusters = GUINT32_TO_BE(1);
    if (version >= 3) {
        h->incompatible_features = GUINT64_TO_BE(compression_type ?
                                                 QCOW2_INCOMPAT_COMPRESSION : 0);
        h->compatible_features = GUINT64_TO_BE(lazy_refcounts ?
                                               QCOW2_COMPAT_LAZY_REFCOUNTS : 0);
        h->refcount_order = GUINT32_TO_BE(refcount_order);
        h->header_length = GUINT32_TO_BE(QCOW2_V3_HEADER_LENGTH);
        h->compression_type = compression_type;
    }
    reftable[0] = GUINT64_TO_BE(2 * cluster_size);
    for (i = 0; i < 3; i++) {
        refblock_set_one(buf + 2 * cluster_size, refcount_order, i);
    }
    ret = blk_co_pwrite(blk, 0, 3 * cluster_size, buf, 0);
    g_free(buf);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write qcow2 header");
        return ret;
    }
    ret = blk_co_flush(blk);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not flush the new image");
    }
    return ret;
}

/* The new image opened with the qcow2 driver, without its backing file */
static BlockDriverState *open_new_image(BlockDriverState *file_bs, Error **errp)
{
    BlockdevOptions *bo = g_new0(BlockdevOptions, 1);
    BlockDriverState *bs;

    bo->driver = BLOCKDEV_DRIVER_QCOW2;
    bo->has_read_only = true;
    bo->read_only = false;
    bo->u.qcow2.file = g_new0(BlockdevRef, 1);
    bo->u.qcow2.file->type = QTYPE_QSTRING;
    bo->u.qcow2.file->u.reference = g_strdup(bdrv_get_node_name(file_bs));
    bo->u.qcow2.backing = g_new0(BlockdevRefOrNull, 1);
    bo->u.qcow2.backing->type = QTYPE_QNULL;
    bs = bdrv_open_blockdev(bo, errp);
    qapi_free_BlockdevOptions(bo);
    return bs;
}

static int coroutine_fn finish_image(BlockDriverState *bs,
                                     BlockdevCreateOptionsQcow2 *o,
                                     PreallocMode prealloc, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = 0;

    qemu_co_mutex_lock(&s->lock);
    if (o->backing_file) {
        g_free(s->image_backing_file);
        s->image_backing_file = g_strdup(o->backing_file);
        g_free(s->image_backing_format);
        s->image_backing_format = o->has_backing_fmt ?
                                  g_strdup(BlockdevDriver_str(o->backing_fmt)) : NULL;
    }
    /* The full header: feature name table, backing file and format */
    ret = qcow2_update_header(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not update qcow2 header");
        goto out;
    }
    ret = qcow2_truncate_locked(bs, o->size, prealloc, errp);
    if (ret < 0) {
        goto out;
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not flush the new image");
    }
out:
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/*
 * Drop the node references outside the coroutine: closing a node drains
 * and flushes it, which must not run from inside a request coroutine.
 */
typedef struct CreateUnref {
    BlockDriverState *bs;
    BlockDriverState *file_bs;
    Coroutine *co;
} CreateUnref;

static void create_unref_bh(void *opaque)
{
    CreateUnref *u = opaque;

    bdrv_unref(u->bs);
    bdrv_unref(u->file_bs);
    aio_co_wake(u->co);
}

static void coroutine_fn create_unref(BlockDriverState *bs, BlockDriverState *file_bs)
{
    CreateUnref u = { .bs = bs, .file_bs = file_bs, .co = qemu_coroutine_self() };

    aio_bh_schedule_oneshot(qemu_get_aio_context(), create_unref_bh, &u);
    qemu_coroutine_yield();
}

int coroutine_fn qcow2_co_create(BlockdevCreateOptions *opts, Error **errp)
{
    BlockdevCreateOptionsQcow2 *o = &opts->u.qcow2;
    BlockDriverState *file_bs, *bs = NULL;
    BlockBackend *blk = NULL;
    uint64_t cluster_size;
    PreallocMode prealloc;
    int version, refcount_order, ret;

    assert(opts->driver == BLOCKDEV_DRIVER_QCOW2);
    ret = qcow2_create_check_options(o, &version, &cluster_size, &refcount_order,
                                     &prealloc, errp);
    if (ret < 0) {
        return ret;
    }

    if (o->file->type == QTYPE_QSTRING) {
        file_bs = bdrv_lookup_bs(o->file->u.reference, o->file->u.reference, errp);
        if (!file_bs) {
            return -EINVAL;
        }
        bdrv_ref(file_bs);
    } else {
        file_bs = bdrv_open_blockdev(o->file->u.definition, errp);
        if (!file_bs) {
            return -EIO;
        }
    }

    blk = blk_new(BLK_PERM_WRITE | BLK_PERM_RESIZE, BLK_PERM_ALL);
    ret = blk_insert_bs(blk, file_bs, errp);
    if (ret < 0) {
        goto out;
    }
    blk_set_allow_write_beyond_eof(blk, true);
    /* Whatever was in the file before is not part of the new image */
    ret = blk_co_truncate(blk, 0, false, PREALLOC_MODE_OFF, 0, NULL);
    ret = write_skeleton(blk, version, cluster_size, refcount_order,
                         o->has_lazy_refcounts && o->lazy_refcounts,
                         o->has_compression_type ? o->compression_type : 0, errp);
    blk_unref(blk);
    blk = NULL;
    if (ret < 0) {
        goto out;
    }

    bs = open_new_image(file_bs, errp);
    if (!bs) {
        ret = -EIO;
        goto out;
    }
    ret = finish_image(bs, o, prealloc, errp);
    trace_qcow2_co_create(file_bs, o->size, cluster_size, version, ret);

out:
    if (blk) {
        blk_unref(blk);
    }
    create_unref(bs, file_bs);
    return ret;
}
