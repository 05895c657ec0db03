/*
 * qcow2.c: the qcow2 format driver (QEMU's docs/interop/qcow2.txt).
 *
 * Opening (header, extensions, feature checks, options, caches, backing
 * file), closing, the header writer, and the request functions: reads
 * fall through to the backing file, writes allocate clusters with COW
 * (qcow2-cluster.c) and link them after the data is written, write-zeroes
 * and discard change L2 entries, compressed clusters are read and written
 * whole, block status reports each cluster run.  Metadata is guarded by
 * s->lock; data I/O runs without it, so requests to different clusters
 * proceed in parallel.
 */
#include "qemu/osdep.h"
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>
#include "block/qcow2.h"
#include "block/dirty-bitmap.h"
#include "qemu/thread-pool.h"
#include "qapi/qapi-visit.h"
#include "trace/trace-block.h"

/* ---- hooks implemented by qcow2-snapshot.c, qcow2-bitmap.c, qcow2-check.c ---- */

__attribute__((weak)) int coroutine_fn qcow2_read_snapshots(BlockDriverState *bs,
                                                            Error **errp)
{
    return 0;
}

__attribute__((weak)) void qcow2_free_snapshots(BlockDriverState *bs)
{
}

__attribute__((weak)) int coroutine_fn qcow2_load_dirty_bitmaps(BlockDriverState *bs,
                                                                Error **errp)
{
    return 0;
}

__attribute__((weak)) int coroutine_fn qcow2_store_dirty_bitmaps(BlockDriverState *bs,
                                                                 Error **errp)
{
    return 0;
}

__attribute__((weak)) Qcow2BitmapInfoList *qcow2_get_bitmap_info_list(BlockDriverState *bs,
                                                                    Error **errp)
{
    return NULL;
}

__attribute__((weak)) int coroutine_fn qcow2_repair_dirty(BlockDriverState *bs,
                                                          Error **errp)
{
    error_setg(errp, "qcow2: Image is dirty (lazy refcounts); repair it with "
               "'qemu-img check -r all' before opening it read/write");
    return -ENOTSUP;
}

/* ---- feature names ---- */

static const Qcow2Feature qcow2_known_features[] = {
    { QCOW2_FEAT_TYPE_INCOMPATIBLE, QCOW2_INCOMPAT_DIRTY_BITNR, "dirty bit" },
    { QCOW2_FEAT_TYPE_INCOMPATIBLE, QCOW2_INCOMPAT_CORRUPT_BITNR, "corrupt bit" },
    { QCOW2_FEAT_TYPE_INCOMPATIBLE, QCOW2_INCOMPAT_DATA_FILE_BITNR,
      "external data file" },
    { QCOW2_FEAT_TYPE_INCOMPATIBLE, QCOW2_INCOMPAT_COMPRESSION_BITNR,
      "compression type" },
    { QCOW2_FEAT_TYPE_INCOMPATIBLE, QCOW2_INCOMPAT_EXTL2_BITNR,
      "extended L2 entries" },
    { QCOW2_FEAT_TYPE_COMPATIBLE, QCOW2_COMPAT_LAZY_REFCOUNTS_BITNR,
      "lazy refcounts" },
    { QCOW2_FEAT_TYPE_AUTOCLEAR, QCOW2_AUTOCLEAR_BITMAPS_BITNR, "bitmaps" },
    { QCOW2_FEAT_TYPE_AUTOCLEAR, QCOW2_AUTOCLEAR_DATA_FILE_RAW_BITNR,
      "raw external data" },
};

/*
 * QEMU's "Unsupported qcow2 feature(s): a, b, Unknown incompatible
 * feature: <hex>" with the names from the image's table (then ours).
 */
static void report_unsupported_feature(Error **errp, GArray *table, uint64_t mask)
{
    GString *names = g_string_new("");
    guint i;

    for (i = 0; table && i < table->len; i++) {
        Qcow2Feature *f = &g_array_index(table, Qcow2Feature, i);

        if (f->type == QCOW2_FEAT_TYPE_INCOMPATIBLE && f->bit < 64 &&
            (mask & (UINT64_C(1) << f->bit))) {
            g_string_append_printf(names, "%s%.46s", names->len ? ", " : "",
                                   f->name);
            mask &= ~(UINT64_C(1) << f->bit);
        }
    }
    for (i = 0; i < ARRAY_SIZE(qcow2_known_features); i++) {
        const Qcow2Feature *f = &qcow2_known_features[i];

        if (f->type == QCOW2_FEAT_TYPE_INCOMPATIBLE &&
            (mask & (UINT64_C(1) << f->bit))) {
            g_string_append_printf(names, "%s%.46s", names->len ? ", " : "",
                                   f->name);
            mask &= ~(UINT64_C(1) << f->bit);
        }
    }
    if (mask) {
        g_string_append_printf(names, "%sUnknown incompatible feature: %" PRIx64,
                               names->len ? ", " : "", mask);
    }
    error_setg(errp, "Unsupported qcow2 feature(s): %s", names->str);
    g_string_free(names, true);
}

/* ---- header ---- */

static void header_from_be(QCowHeader *h)
{
    h->magic = GUINT32_FROM_BE(h->magic);
    h->version = GUINT32_FROM_BE(h->version);
    h->backing_file_offset = GUINT64_FROM_BE(h->backing_file_offset);
    h->backing_file_size = GUINT32_FROM_BE(h->backing_file_size);
    h->cluster_bits = GUINT32_FROM_BE(h->cluster_bits);
    h->size = GUINT64_FROM_BE(h->size);
    h->crypt_method = GUINT32_FROM_BE(h->crypt_method);
    h->l1_size = GUINT32_FROM_BE(h->l1_size);
    h->l1_table_offset = GUINT64_FROM_BE(h->l1_table_offset);
    h->refcount_table_offset = GUINT64_FROM_BE(h->refcount_table_offset);
    h->refcount_table_clusters = GUINT32_FROM_BE(h->refcount_table_clusters);
    h->nb_snapshots = GUINT32_FROM_BE(h->nb_snapshots);
    h->snapshots_offset = GUINT64_FROM_BE(h->snapshots_offset);
    h->incompatible_features = GUINT64_FROM_BE(h->incompatible_features);
    h->compatible_features = GUINT64_FROM_BE(h->compatible_features);
    h->autoclear_features = GUINT64_FROM_BE(h->autoclear_features);
    h->refcount_order = GUINT32_FROM_BE(h->refcount_order);
    h->header_length = GUINT32_FROM_BE(h->header_length);
}

/* A table of entries * entry_len bytes at offset fits in an int64 and is aligned */
static bool table_offset_valid(BDRVQcow2State *s, uint64_t offset,
                               uint64_t entries, size_t entry_len)
{
    uint64_t size;

    if (entries > INT64_MAX / entry_len) {
        return false;
    }
    size = entries * entry_len;
    if (offset > INT64_MAX || INT64_MAX - size < offset) {
        return false;
    }
    return !offset_into_cluster(s, offset);
}

static void put_ext(GByteArray *buf, uint32_t magic, const void *data, uint32_t len)
{
    uint32_t be[2] = { GUINT32_TO_BE(magic), GUINT32_TO_BE(len) };
    static const uint8_t zero[8];

    g_byte_array_append(buf, (const guint8 *)be, sizeof(be));
    g_byte_array_append(buf, data, len);
    g_byte_array_append(buf, zero, ROUND_UP(len, 8) - len);
}

int coroutine_fn qcow2_update_header(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    GByteArray *buf = g_byte_array_new();
    QCowHeader h = { 0 };
    size_t header_len = s->qcow_version >= 3 ? sizeof(QCowHeader) :
                                               QCOW2_V2_HEADER_LENGTH;
    const char *backing = s->image_backing_file;
    uint8_t *cluster = NULL;
    guint i;
    int ret;

    h.magic = GUINT32_TO_BE(QCOW_MAGIC);
    h.version = GUINT32_TO_BE(s->qcow_version);
    h.cluster_bits = GUINT32_TO_BE(s->cluster_bits);
    h.size = GUINT64_TO_BE(s->size);
    h.crypt_method = GUINT32_TO_BE(s->crypt_method_header);
    h.l1_size = GUINT32_TO_BE(s->l1_size);
    h.l1_table_offset = GUINT64_TO_BE(s->l1_table_offset);
    h.refcount_table_offset = GUINT64_TO_BE(s->refcount_table_offset);
    h.refcount_table_clusters =
        GUINT32_TO_BE(size_to_clusters(s, (uint64_t)s->refcount_table_size * 8));
    h.nb_snapshots = GUINT32_TO_BE(s->nb_snapshots);
    h.snapshots_offset = GUINT64_TO_BE(s->snapshots_offset);
    if (s->qcow_version >= 3) {
        h.incompatible_features = GUINT64_TO_BE(s->incompatible_features);
        h.compatible_features = GUINT64_TO_BE(s->compatible_features);
        h.autoclear_features = GUINT64_TO_BE(s->autoclear_features);
        h.refcount_order = GUINT32_TO_BE(s->refcount_order);
        h.header_length = GUINT32_TO_BE(header_len);
        h.compression_type = s->compression_type;
    }
    g_byte_array_append(buf, (const guint8 *)&h, header_len);

    if (s->image_backing_format) {
        put_ext(buf, QCOW2_EXT_MAGIC_BACKING_FORMAT, s->image_backing_format,
                strlen(s->image_backing_format));
    }
    if (s->qcow_version >= 3) {
        put_ext(buf, QCOW2_EXT_MAGIC_FEATURE_TABLE, qcow2_known_features,
                sizeof(qcow2_known_features));
    }
    if (s->has_bitmaps_ext) {
        Qcow2BitmapHeaderExt e = {
            .nb_bitmaps = GUINT32_TO_BE(s->bitmaps_ext.nb_bitmaps),
            .reserved32 = GUINT32_TO_BE(s->bitmaps_ext.reserved32),
            .bitmap_directory_size =
                GUINT64_TO_BE(s->bitmaps_ext.bitmap_directory_size),
            .bitmap_directory_offset =
                GUINT64_TO_BE(s->bitmaps_ext.bitmap_directory_offset),
        };

        put_ext(buf, QCOW2_EXT_MAGIC_BITMAPS, &e, sizeof(e));
    }
    for (i = 0; s->unknown_header_ext && i < s->unknown_header_ext->len; i++) {
        Qcow2UnknownHeaderExt *e = &g_array_index(s->unknown_header_ext,
                                                  Qcow2UnknownHeaderExt, i);

        put_ext(buf, e->magic, e->data, e->len);
    }
    put_ext(buf, QCOW2_EXT_MAGIC_END, NULL, 0);
    if (backing) {
        QCowHeader *hp = (QCowHeader *)buf->data;

        hp->backing_file_offset = GUINT64_TO_BE(buf->len);
        hp->backing_file_size = GUINT32_TO_BE(strlen(backing));
        g_byte_array_append(buf, (const guint8 *)backing, strlen(backing));
    }
    if (buf->len > (guint)s->cluster_size) {
        ret = -ENOSPC;
        goto out;
    }
    cluster = qemu_try_memalign(4096, s->cluster_size);
    if (!cluster) {
        ret = -ENOMEM;
        goto out;
    }
    memset(cluster, 0, s->cluster_size);
    memcpy(cluster, buf->data, buf->len);
    ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_MAIN_HEADER, 0, s->cluster_size);
    if (ret < 0) {
        goto out;
    }
    ret = bdrv_co_pwrite(bs->file, 0, s->cluster_size, cluster, 0);
out:
    qemu_vfree(cluster);
    g_byte_array_free(buf, true);
    return ret;
}

static int coroutine_fn write_incompatible_features(BlockDriverState *bs,
                                                    uint64_t features)
{
    uint64_t val = GUINT64_TO_BE(features);
    int ret;

    ret = bdrv_co_pwrite(bs->file, offsetof(QCowHeader, incompatible_features),
                         sizeof(val), &val, 0);
    if (ret < 0) {
        return ret;
    }
    return bdrv_co_flush(bs->file->bs);
}

int coroutine_fn qcow2_mark_dirty(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    assert(s->qcow_version >= 3);
    if (s->incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        return 0;
    }
    ret = write_incompatible_features(bs, s->incompatible_features |
                                          QCOW2_INCOMPAT_DIRTY);
    if (ret < 0) {
        return ret;
    }
    s->incompatible_features |= QCOW2_INCOMPAT_DIRTY;
    return 0;
}

int coroutine_fn qcow2_mark_clean(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!(s->incompatible_features & QCOW2_INCOMPAT_DIRTY)) {
        return 0;
    }
    ret = qcow2_flush_caches(bs);
    if (ret < 0) {
        return ret;
    }
    ret = write_incompatible_features(bs, s->incompatible_features &
                                          ~QCOW2_INCOMPAT_DIRTY);
    if (ret < 0) {
        return ret;
    }
    s->incompatible_features &= ~QCOW2_INCOMPAT_DIRTY;
    return 0;
}

int coroutine_fn qcow2_mark_corrupt(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    s->incompatible_features |= QCOW2_INCOMPAT_CORRUPT;
    if (s->qcow_version < 3) {
        return 0;
    }
    return write_incompatible_features(bs, s->incompatible_features);
}

/* ---- compression ---- */

typedef struct Qcow2CompressJob {
    void *dest;
    size_t dest_size;
    const void *src;
    size_t src_size;
    int type;
    ssize_t ret;
} Qcow2CompressJob;

static int qcow2_zlib_compress(void *opaque)
{
    Qcow2CompressJob *j = opaque;
    z_stream strm = { 0 };
    int zret;

    if (deflateInit2(&strm, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        j->ret = -EIO;
        return 0;
    }
    strm.next_in = (Bytef *)j->src;
    strm.avail_in = j->src_size;
    strm.next_out = j->dest;
    strm.avail_out = j->dest_size;
    zret = deflate(&strm, Z_FINISH);
    if (zret == Z_STREAM_END) {
        j->ret = j->dest_size - strm.avail_out;
    } else {
        j->ret = (zret == Z_OK || zret == Z_BUF_ERROR) ? -ENOMEM : -EIO;
    }
    deflateEnd(&strm);
    return 0;
}

static int qcow2_zlib_decompress(void *opaque)
{
    Qcow2CompressJob *j = opaque;
    z_stream strm = { 0 };
    int zret;

    if (inflateInit2(&strm, -12) != Z_OK) {
        j->ret = -EIO;
        return 0;
    }
    strm.next_in = (Bytef *)j->src;
    strm.avail_in = j->src_size;
    strm.next_out = j->dest;
    strm.avail_out = j->dest_size;
    zret = inflate(&strm, Z_FINISH);
    /* Garbage may follow the stream: stop once the cluster is complete */
    j->ret = ((zret == Z_STREAM_END || zret == Z_BUF_ERROR) &&
              strm.avail_out == 0) ? 0 : -EIO;
    inflateEnd(&strm);
    return 0;
}

static int qcow2_zstd_compress(void *opaque)
{
    Qcow2CompressJob *j = opaque;
    size_t r = ZSTD_compress(j->dest, j->dest_size, j->src, j->src_size,
                             ZSTD_CLEVEL_DEFAULT);

    if (ZSTD_isError(r)) {
        j->ret = ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall ? -ENOMEM
                                                                       : -EIO;
    } else {
        j->ret = r;
    }
    return 0;
}

static int qcow2_zstd_decompress(void *opaque)
{
    Qcow2CompressJob *j = opaque;
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    ZSTD_outBuffer out = { j->dest, j->dest_size, 0 };
    ZSTD_inBuffer in = { j->src, j->src_size, 0 };

    j->ret = 0;
    if (!dctx) {
        j->ret = -EIO;
        return 0;
    }
    while (out.pos < out.size) {
        size_t last_in = in.pos, last_out = out.pos;
        size_t r = ZSTD_decompressStream(dctx, &out, &in);

        if (ZSTD_isError(r) || (in.pos == last_in && out.pos == last_out)) {
            j->ret = -EIO;
            break;
        }
    }
    ZSTD_freeDCtx(dctx);
    return 0;
}

/*
 * Run a job on src in a worker thread: zstd_fn or zlib_fn, by the image's
 * compression type.  Returns the job's result.
 */
static ssize_t coroutine_fn qcow2_co_run_compress_job(BlockDriverState *bs,
                                                      void *dest,
                                                      size_t dest_size,
                                                      const void *src,
                                                      size_t src_size,
                                                      ThreadPoolFunc *zlib_fn,
                                                      ThreadPoolFunc *zstd_fn)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2CompressJob j = { dest, dest_size, src, src_size, s->compression_type, 0 };

    thread_pool_submit_co(s->compression_type == QCOW2_COMPRESSION_TYPE_ZSTD ?
                          zstd_fn : zlib_fn, &j);
    return j.ret;
}

int coroutine_fn qcow2_co_decompress(BlockDriverState *bs, void *dest,
                                     size_t dest_size, const void *src,
                                     size_t src_size)
{
    return qcow2_co_run_compress_job(bs, dest, dest_size, src, src_size,
                                     qcow2_zlib_decompress,
                                     qcow2_zstd_decompress);
}

ssize_t coroutine_fn qcow2_co_compress(BlockDriverState *bs, void *dest,
                                       size_t dest_size, const void *src,
                                       size_t src_size)
{
    return qcow2_co_run_compress_job(bs, dest, dest_size, src, src_size,
                                     qcow2_zlib_compress, qcow2_zstd_compress);
}

/* ---- options ---- */

#define QCOW2_DEFAULT_L2_CACHE_MAX_SIZE     (32 * MiB)
#define QCOW2_MIN_L2_CACHE_ENTRIES          2
#define QCOW2_MIN_REFCOUNT_CACHE_ENTRIES    4
#define QCOW2_DEFAULT_CACHE_CLEAN_INTERVAL  600

static int read_cache_sizes(BlockDriverState *bs, BlockdevOptionsQcow2 *o,
                            uint64_t *l2_cache_size, uint64_t *l2_cache_entry_size,
                            uint64_t *refcount_cache_size, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t min_refcount_cache = (uint64_t)QCOW2_MIN_REFCOUNT_CACHE_ENTRIES *
                                  s->cluster_size;
    uint64_t max_l2_entries = DIV_ROUND_UP(s->size, s->cluster_size);
    uint64_t max_l2_cache = ROUND_UP(max_l2_entries * l2_entry_size(s),
                                     s->cluster_size);
    uint64_t l2_max_setting = o->has_l2_cache_size ? o->l2_cache_size :
                              QCOW2_DEFAULT_L2_CACHE_MAX_SIZE;

    if ((o->has_cache_size && o->cache_size < 0) ||
        (o->has_l2_cache_size && o->l2_cache_size < 0) ||
        (o->has_refcount_cache_size && o->refcount_cache_size < 0)) {
        error_setg(errp, "Cache sizes must not be negative");
        return -EINVAL;
    }
    *l2_cache_size = o->has_l2_cache_size ? o->l2_cache_size : 0;
    *refcount_cache_size = o->has_refcount_cache_size ? o->refcount_cache_size : 0;
    *l2_cache_entry_size = o->has_l2_cache_entry_size ? o->l2_cache_entry_size :
                           (uint64_t)s->cluster_size;
    if (o->has_cache_size) {
        uint64_t combined = o->cache_size;

        if (o->has_l2_cache_size && o->has_refcount_cache_size) {
            error_setg(errp, "l2-cache-size, refcount-cache-size, and "
                       "cache-size may not be set at the same time");
            return -EINVAL;
        } else if (o->has_l2_cache_size && *l2_cache_size > combined) {
            error_setg(errp, "l2-cache-size may not exceed cache-size");
            return -EINVAL;
        } else if (o->has_refcount_cache_size && *refcount_cache_size > combined) {
            error_setg(errp, "refcount-cache-size may not exceed cache-size");
            return -EINVAL;
        }
        if (o->has_l2_cache_size) {
            *refcount_cache_size = combined - *l2_cache_size;
        } else if (o->has_refcount_cache_size) {
            *l2_cache_size = combined - *refcount_cache_size;
        } else if (combined >= max_l2_cache + min_refcount_cache) {
            *l2_cache_size = max_l2_cache;
            *refcount_cache_size = combined - *l2_cache_size;
        } else {
            *refcount_cache_size = MIN(combined, min_refcount_cache);
            *l2_cache_size = combined - *refcount_cache_size;
        }
    } else {
        if (!o->has_l2_cache_size) {
            *l2_cache_size = MIN(max_l2_cache, l2_max_setting);
        }
        if (!o->has_refcount_cache_size) {
            *refcount_cache_size = min_refcount_cache;
        }
    }
    if (*l2_cache_entry_size < (1 << QCOW2_MIN_CLUSTER_BITS) ||
        *l2_cache_entry_size > (uint64_t)s->cluster_size ||
        !is_power_of_2(*l2_cache_entry_size)) {
        error_setg(errp, "L2 cache entry size must be a power of two "
                   "between %d and the cluster size (%d)",
                   1 << QCOW2_MIN_CLUSTER_BITS, s->cluster_size);
        return -EINVAL;
    }
    return 0;
}

static int overlap_check_flags(BlockdevOptionsQcow2 *o, Error **errp)
{
    static const int mode_bits[] = {
        [QCOW2_OVERLAP_CHECK_MODE_NONE] = QCOW2_OL_NONE,
        [QCOW2_OVERLAP_CHECK_MODE_CONSTANT] = QCOW2_OL_CONSTANT,
        [QCOW2_OVERLAP_CHECK_MODE_CACHED] = QCOW2_OL_CACHED,
        [QCOW2_OVERLAP_CHECK_MODE_ALL] = QCOW2_OL_ALL,
    };
    Qcow2OverlapCheckFlags *f;
    int bits;

    if (!o->overlap_check) {
        return QCOW2_OL_DEFAULT;
    }
    if (o->overlap_check->type != QTYPE_QDICT) {
        return mode_bits[o->overlap_check->u.mode];
    }
    f = o->overlap_check->u.flags;
    bits = f->has_template ? mode_bits[f->template] : QCOW2_OL_DEFAULT;
#define OL_FLAG(member, bit) \
    if (f->has_##member) { \
        bits = f->member ? (bits | (bit)) : (bits & ~(bit)); \
    }
    OL_FLAG(main_header, QCOW2_OL_MAIN_HEADER);
    OL_FLAG(active_l1, QCOW2_OL_ACTIVE_L1);
    OL_FLAG(active_l2, QCOW2_OL_ACTIVE_L2);
    OL_FLAG(refcount_table, QCOW2_OL_REFCOUNT_TABLE);
    OL_FLAG(refcount_block, QCOW2_OL_REFCOUNT_BLOCK);
    OL_FLAG(snapshot_table, QCOW2_OL_SNAPSHOT_TABLE);
    OL_FLAG(inactive_l1, QCOW2_OL_INACTIVE_L1);
    OL_FLAG(inactive_l2, QCOW2_OL_INACTIVE_L2);
    OL_FLAG(bitmap_directory, QCOW2_OL_BITMAP_DIRECTORY);
#undef OL_FLAG
    return bits;
}

static void cache_clean_timer_cb(void *opaque)
{
    BlockDriverState *bs = opaque;
    BDRVQcow2State *s = bs->opaque;

    qcow2_cache_clean_unused(s->l2_table_cache);
    qcow2_cache_clean_unused(s->refcount_block_cache);
    timer_mod(s->cache_clean_timer, qemu_clock_get_ns() +
              (int64_t)s->cache_clean_interval * NANOSECONDS_PER_SECOND);
}

static int qcow2_apply_options(BlockDriverState *bs, BlockdevOptionsQcow2 *o,
                               int flags, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l2_cache_size, l2_cache_entry_size, refcount_cache_size;
    uint64_t l2_entries, rc_entries;
    int64_t interval;
    int ret;

    if (o->encrypt) {
        error_setg(errp, "qcow2 encryption is not supported by blockd");
        return -ENOTSUP;
    }
    if (o->data_file) {
        error_setg(errp, "qcow2 external data files are not supported by blockd");
        return -ENOTSUP;
    }
    ret = read_cache_sizes(bs, o, &l2_cache_size, &l2_cache_entry_size,
                           &refcount_cache_size, errp);
    if (ret < 0) {
        return ret;
    }
    l2_entries = MAX(l2_cache_size / l2_cache_entry_size, QCOW2_MIN_L2_CACHE_ENTRIES);
    rc_entries = MAX(refcount_cache_size / s->cluster_size,
                     QCOW2_MIN_REFCOUNT_CACHE_ENTRIES);
    if (l2_entries > INT_MAX) {
        error_setg(errp, "L2 cache size too big");
        return -EINVAL;
    }
    if (rc_entries > INT_MAX) {
        error_setg(errp, "Refcount cache size too big");
        return -EINVAL;
    }
    interval = o->has_cache_clean_interval ? o->cache_clean_interval :
               QCOW2_DEFAULT_CACHE_CLEAN_INTERVAL;
    if (interval < 0 || interval > UINT_MAX) {
        error_setg(errp, "Cache clean interval too big");
        return -EINVAL;
    }
    s->cache_clean_interval = interval;

    s->use_lazy_refcounts = o->has_lazy_refcounts ? o->lazy_refcounts :
        !!(s->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS);
    if (s->use_lazy_refcounts && s->qcow_version < 3) {
        error_setg(errp, "Lazy refcounts require a qcow2 image with at least "
                   "qemu 1.1 compatibility level");
        return -EINVAL;
    }
    s->discard_passthrough[QCOW2_DISCARD_NEVER] = false;
    s->discard_passthrough[QCOW2_DISCARD_ALWAYS] = true;
    s->discard_passthrough[QCOW2_DISCARD_REQUEST] =
        o->has_pass_discard_request ? o->pass_discard_request :
                                      !!(flags & BDRV_O_UNMAP);
    s->discard_passthrough[QCOW2_DISCARD_SNAPSHOT] =
        o->has_pass_discard_snapshot ? o->pass_discard_snapshot : true;
    s->discard_passthrough[QCOW2_DISCARD_OTHER] =
        o->has_pass_discard_other ? o->pass_discard_other : false;
    s->overlap_check = overlap_check_flags(o, errp);

    s->l2_slice_size = l2_cache_entry_size / l2_entry_size(s);
    s->l2_table_cache = qcow2_cache_create(bs, l2_entries, l2_cache_entry_size);
    s->refcount_block_cache = qcow2_cache_create(bs, rc_entries, s->cluster_size);
    if (!s->l2_table_cache || !s->refcount_block_cache) {
        error_setg(errp, "Could not allocate metadata caches");
        return -ENOMEM;
    }
    if (s->cache_clean_interval) {
        s->cache_clean_timer = aio_timer_new(qemu_get_current_aio_context(),
                                             cache_clean_timer_cb, bs);
        timer_mod(s->cache_clean_timer, qemu_clock_get_ns() +
                  (int64_t)s->cache_clean_interval * NANOSECONDS_PER_SECOND);
    }
    trace_qcow2_cache_sizes(bs, l2_entries, l2_cache_entry_size, rc_entries);
    return 0;
}

/* ---- opening ---- */

static int coroutine_fn qcow2_read_extensions(BlockDriverState *bs,
                                              uint64_t start, uint64_t end,
                                              GArray **feature_table,
                                              Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t offset = start;
    uint8_t *area;
    int ret;

    if (end <= start) {
        return 0;
    }
    area = g_malloc0(end - start);
    ret = bdrv_co_pread(bs->file, start, end - start, area, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "qcow2_read_extension: ERROR: "
                         "pread fail from offset %" PRIu64, start);
        goto out;
    }
    while (offset + 8 <= end) {
        uint32_t magic = GUINT32_FROM_BE(*(uint32_t *)(area + offset - start));
        uint32_t len = GUINT32_FROM_BE(*(uint32_t *)(area + offset - start + 4));
        uint8_t *data = area + offset - start + 8;

        offset += 8;
        if (magic == QCOW2_EXT_MAGIC_END) {
            break;
        }
        if (len > end - offset) {
            error_setg(errp, "Header extension too large");
            ret = -EINVAL;
            goto out;
        }
        switch (magic) {
        case QCOW2_EXT_MAGIC_BACKING_FORMAT:
            if (len >= 16) {
                error_setg(errp, "ERROR: ext_backing_format: len=%" PRIu32
                           " too large (>=%d)", len, 16);
                ret = -EINVAL;
                goto out;
            }
            g_free(s->image_backing_format);
            s->image_backing_format = g_strndup((char *)data, len);
            break;
        case QCOW2_EXT_MAGIC_FEATURE_TABLE:
            if (!*feature_table) {
                *feature_table = g_array_new(false, true, sizeof(Qcow2Feature));
            }
            g_array_append_vals(*feature_table, data, len / sizeof(Qcow2Feature));
            break;
        case QCOW2_EXT_MAGIC_BITMAPS: {
            Qcow2BitmapHeaderExt e;

            if (len != sizeof(e)) {
                error_setg(errp, "bitmaps_ext: Invalid extension length");
                ret = -EINVAL;
                goto out;
            }
            memcpy(&e, data, sizeof(e));
            s->bitmaps_ext.nb_bitmaps = GUINT32_FROM_BE(e.nb_bitmaps);
            s->bitmaps_ext.reserved32 = GUINT32_FROM_BE(e.reserved32);
            s->bitmaps_ext.bitmap_directory_size =
                GUINT64_FROM_BE(e.bitmap_directory_size);
            s->bitmaps_ext.bitmap_directory_offset =
                GUINT64_FROM_BE(e.bitmap_directory_offset);
            s->has_bitmaps_ext = true;
            break;
        }
        case QCOW2_EXT_MAGIC_CRYPTO_HEADER:
            if (s->crypt_method_header != 2) {
                error_setg(errp, "CRYPTO header extension only expected with "
                           "LUKS encryption method");
                ret = -EINVAL;
                goto out;
            }
            /* Kept as is (encrypted images are refused anyway) */
            __attribute__((fallthrough));
        default: {
            Qcow2UnknownHeaderExt e = {
                .magic = magic, .len = len, .data = g_memdup2(data, len),
            };

            if (!s->unknown_header_ext) {
                s->unknown_header_ext = g_array_new(false, true,
                                                    sizeof(Qcow2UnknownHeaderExt));
            }
            g_array_append_val(s->unknown_header_ext, e);
            break;
        }
        }
        offset += ROUND_UP(len, 8);
    }
    ret = 0;
out:
    g_free(area);
    return ret;
}

static int check_header(BlockDriverState *bs, QCowHeader *h, int flags,
                        Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (h->magic != QCOW_MAGIC) {
        error_setg(errp, "Image is not in qcow2 format");
        return -EINVAL;
    }
    if (h->version < 2 || h->version > 3) {
        error_setg(errp, "Unsupported qcow2 version %" PRIu32, h->version);
        return -ENOTSUP;
    }
    if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
        h->cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
        error_setg(errp, "Unsupported cluster size: 2^%" PRIu32, h->cluster_bits);
        return -EINVAL;
    }
    if (h->version == 2) {
        h->incompatible_features = 0;
        h->compatible_features = 0;
        h->autoclear_features = 0;
        h->refcount_order = 4;
        h->header_length = QCOW2_V2_HEADER_LENGTH;
        h->compression_type = 0;
    } else {
        if (h->header_length < QCOW2_V3_MIN_HEADER_LENGTH) {
            error_setg(errp, "qcow2 header too short");
            return -EINVAL;
        }
        if (h->header_length > (1u << h->cluster_bits)) {
            error_setg(errp, "qcow2 header exceeds cluster size");
            return -EINVAL;
        }
        if (h->header_length <= offsetof(QCowHeader, compression_type)) {
            h->compression_type = 0;
        }
    }
    if (h->backing_file_offset > (UINT64_C(1) << h->cluster_bits)) {
        error_setg(errp, "Invalid backing file offset");
        return -EINVAL;
    }
    if (h->backing_file_offset &&
        (h->backing_file_size > QCOW2_MAX_BACKING_NAME ||
         h->backing_file_size > (1u << h->cluster_bits) - h->backing_file_offset)) {
        error_setg(errp, "Backing file name too long");
        return -EINVAL;
    }
    if (h->refcount_order > 6) {
        error_setg(errp, "Reference count entry width too large; may not "
                   "exceed 64 bits");
        return -EINVAL;
    }
    if (h->crypt_method > 2) {
        error_setg(errp, "Unsupported encryption method %" PRIu32,
                   h->crypt_method);
        return -EINVAL;
    }
    if (h->crypt_method) {
        error_setg(errp, "Encrypted qcow2 images are not supported by blockd");
        return -ENOTSUP;
    }
    if ((h->incompatible_features & QCOW2_INCOMPAT_EXTL2) &&
        h->cluster_bits < QCOW2_EXTL2_MIN_CLUSTER_BITS) {
        error_setg(errp, "Extended L2 entries are only supported with "
                   "cluster sizes of at least %d bytes",
                   1 << QCOW2_EXTL2_MIN_CLUSTER_BITS);
        return -EINVAL;
    }
    if (h->compression_type > QCOW2_COMPRESSION_TYPE_ZSTD) {
        error_setg(errp, "qcow2: unknown compression type: %u",
                   h->compression_type);
        return -ENOTSUP;
    }
    if (h->compression_type != QCOW2_COMPRESSION_TYPE_ZLIB &&
        !(h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION)) {
        error_setg(errp, "qcow2: Compression type incompatible feature bit "
                   "must be set for non-zlib compression types");
        return -EINVAL;
    }
    if (h->compression_type == QCOW2_COMPRESSION_TYPE_ZLIB &&
        (h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION)) {
        error_setg(errp, "qcow2: Compression type incompatible feature bit "
                   "must not be set");
        return -EINVAL;
    }
    (void)s;
    (void)flags;
    return 0;
}

/* First L1 index past the virtual disk (number of L1 entries it needs) */
static uint64_t size_to_l1(BDRVQcow2State *s, uint64_t size)
{
    int shift = s->cluster_bits + s->l2_bits;
    uint64_t n = size >> shift;

    return n + !!(size & ((UINT64_C(1) << shift) - 1));
}

static int coroutine_fn qcow2_co_do_open(BlockDriverState *bs,
                                         BlockdevOptionsQcow2 *o, int flags,
                                         Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    GArray *feature_table = NULL;
    QCowHeader h = { 0 };
    int64_t file_len;
    uint64_t ext_end, l1_needed;
    int ret;

    qemu_co_mutex_init(&s->lock);
    file_len = bdrv_getlength(bs->file->bs);
    if (file_len < 0) {
        error_setg_errno(errp, -file_len, "Could not get the size of the image file");
        return file_len;
    }
    ret = bdrv_co_pread(bs->file, 0, MIN((int64_t)sizeof(h), file_len), &h, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read qcow2 header");
        return ret;
    }
    header_from_be(&h);
    ret = check_header(bs, &h, flags, errp);
    if (ret < 0) {
        return ret;
    }

    s->qcow_version = h.version;
    s->cluster_bits = h.cluster_bits;
    s->cluster_size = 1 << s->cluster_bits;
    s->extended_l2 = !!(h.incompatible_features & QCOW2_INCOMPAT_EXTL2);
    s->l2_entry_words = s->extended_l2 ? 2 : 1;
    s->subclusters_per_cluster = s->extended_l2 ? QCOW_EXTL2_SUBCLUSTERS : 1;
    s->subcluster_bits = s->cluster_bits - (s->extended_l2 ? 5 : 0);
    s->subcluster_size = 1 << s->subcluster_bits;
    s->l2_bits = s->cluster_bits - 3 - (s->extended_l2 ? 1 : 0);
    s->l2_size = 1 << s->l2_bits;
    s->refcount_order = h.refcount_order;
    s->refcount_bits = 1 << s->refcount_order;
    s->refcount_max = s->refcount_bits == 64 ? UINT64_MAX :
                      (UINT64_C(1) << s->refcount_bits) - 1;
    s->refcount_block_bits = s->cluster_bits - (s->refcount_order - 3);
    s->refcount_block_size = 1 << s->refcount_block_bits;
    s->csize_shift = 62 - (s->cluster_bits - 8);
    s->csize_mask = (1 << (s->cluster_bits - 8)) - 1;
    s->cluster_offset_mask = (UINT64_C(1) << s->csize_shift) - 1;
    s->size = h.size;
    s->crypt_method_header = h.crypt_method;
    s->incompatible_features = h.incompatible_features;
    s->compatible_features = h.compatible_features;
    s->autoclear_features = h.autoclear_features;
    s->compression_type = h.compression_type;
    s->header_length = h.header_length;
    s->file_end_hint = file_len;

    /* Header extensions: up to the backing file name or the cluster end */
    ext_end = h.backing_file_offset ? h.backing_file_offset : (uint64_t)s->cluster_size;
    ret = qcow2_read_extensions(bs, h.header_length, MIN(ext_end, (uint64_t)s->cluster_size),
                                &feature_table, errp);
    if (ret < 0) {
        goto out;
    }
    if (s->incompatible_features & ~QCOW2_INCOMPAT_MASK) {
        report_unsupported_feature(errp, feature_table,
                                   s->incompatible_features & ~QCOW2_INCOMPAT_MASK);
        ret = -ENOTSUP;
        goto out;
    }
    if ((s->incompatible_features & QCOW2_INCOMPAT_CORRUPT) &&
        (flags & BDRV_O_RDWR)) {
        error_setg(errp, "qcow2: Image is corrupt; cannot be opened read/write");
        ret = -EACCES;
        goto out;
    }
    if (s->has_bitmaps_ext) {
        Qcow2BitmapHeaderExt *e = &s->bitmaps_ext;

        if (e->reserved32) {
            error_setg(errp, "bitmaps_ext: Reserved field is not zero");
            ret = -EINVAL;
            goto out;
        }
        if (e->nb_bitmaps == 0) {
            error_setg(errp, "found bitmaps extension with zero bitmaps");
            ret = -EINVAL;
            goto out;
        }
        if (offset_into_cluster(s, e->bitmap_directory_offset)) {
            error_setg(errp, "bitmaps_ext: invalid bitmap directory offset");
            ret = -EINVAL;
            goto out;
        }
        if (e->bitmap_directory_size > 64 * MiB) {
            error_setg(errp, "bitmaps_ext: bitmap directory size (%" PRIu64
                       ") exceeds the maximum supported size (%d)",
                       e->bitmap_directory_size, (int)(64 * MiB));
            ret = -EINVAL;
            goto out;
        }
    }

    /* Refcount table */
    if (h.refcount_table_clusters == 0) {
        error_setg(errp, "Image does not contain a reference count table");
        ret = -EINVAL;
        goto out;
    }
    if (h.refcount_table_clusters > QCOW2_MAX_REFTABLE_SIZE / s->cluster_size) {
        error_setg(errp, "Reference count table too large");
        ret = -EINVAL;
        goto out;
    }
    if (!table_offset_valid(s, h.refcount_table_offset,
                            h.refcount_table_clusters, s->cluster_size)) {
        error_setg(errp, "Reference count table offset invalid");
        ret = -EINVAL;
        goto out;
    }
    s->refcount_table_offset = h.refcount_table_offset;
    s->refcount_table_size = ((uint64_t)h.refcount_table_clusters << s->cluster_bits) / 8;

    /* Snapshot table */
    if (h.nb_snapshots > QCOW2_MAX_SNAPSHOTS) {
        error_setg(errp, "Snapshot table too large");
        ret = -EINVAL;
        goto out;
    }
    if (!table_offset_valid(s, h.snapshots_offset, h.nb_snapshots, 40)) {
        error_setg(errp, "Snapshot table offset invalid");
        ret = -EINVAL;
        goto out;
    }
    s->nb_snapshots = h.nb_snapshots;
    s->snapshots_offset = h.snapshots_offset;

    /* Active L1 table */
    if (h.l1_size > QCOW2_MAX_L1_SIZE / sizeof(uint64_t)) {
        error_setg(errp, "Active L1 table too large");
        ret = -EFBIG;
        goto out;
    }
    if (h.size > INT64_MAX - (int64_t)s->cluster_size) {
        error_setg(errp, "Image is too big");
        ret = -EFBIG;
        goto out;
    }
    l1_needed = size_to_l1(s, h.size);
    if (l1_needed > INT_MAX / sizeof(uint64_t)) {
        error_setg(errp, "Image is too big");
        ret = -EFBIG;
        goto out;
    }
    s->l1_vm_state_index = l1_needed;
    if (h.l1_size < l1_needed) {
        error_setg(errp, "L1 table is too small");
        ret = -EINVAL;
        goto out;
    }
    if (!table_offset_valid(s, h.l1_table_offset, h.l1_size, sizeof(uint64_t))) {
        error_setg(errp, "Active L1 table offset invalid");
        ret = -EINVAL;
        goto out;
    }
    s->l1_size = h.l1_size;
    s->l1_table_offset = h.l1_table_offset;
    s->l1_table = g_try_malloc0(MAX((size_t)s->l1_size * sizeof(uint64_t), 8));
    if (!s->l1_table) {
        error_setg(errp, "Could not allocate L1 table");
        ret = -ENOMEM;
        goto out;
    }
    if (s->l1_size) {
        int i;

        ret = bdrv_co_pread(bs->file, s->l1_table_offset,
                            (int64_t)s->l1_size * sizeof(uint64_t), s->l1_table, 0);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Could not read L1 table");
            goto out;
        }
        for (i = 0; i < s->l1_size; i++) {
            s->l1_table[i] = GUINT64_FROM_BE(s->l1_table[i]);
        }
    }

    /* Options, caches, refcounts */
    ret = qcow2_apply_options(bs, o, flags, errp);
    if (ret < 0) {
        goto out;
    }
    ret = qcow2_refcount_init(bs, errp);
    if (ret < 0) {
        goto out;
    }

    /* Backing file name */
    if (h.backing_file_offset) {
        char *name = g_malloc0(h.backing_file_size + 1);

        ret = bdrv_co_pread(bs->file, h.backing_file_offset, h.backing_file_size,
                            name, 0);
        if (ret < 0) {
            g_free(name);
            error_setg_errno(errp, -ret, "Could not read backing file name");
            goto out;
        }
        s->image_backing_file = name;
        g_free(bs->backing_file);
        bs->backing_file = g_strdup(name);
        g_free(bs->backing_format);
        bs->backing_format = g_strdup(s->image_backing_format);
    }

    ret = qcow2_read_snapshots(bs, errp);
    if (ret < 0) {
        goto out;
    }

    if ((flags & BDRV_O_RDWR) && !(flags & BDRV_O_INACTIVE)) {
        if (s->incompatible_features & QCOW2_INCOMPAT_DIRTY) {
            ret = qcow2_repair_dirty(bs, errp);
            if (ret < 0) {
                goto out;
            }
        }
        /* Autoclear bits we do not maintain must go before we write */
        if (s->autoclear_features & ~QCOW2_AUTOCLEAR_MASK) {
            s->autoclear_features &= QCOW2_AUTOCLEAR_MASK;
            ret = qcow2_update_header(bs);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Could not update qcow2 header");
                goto out;
            }
        }
    }
    /* An inactive node leaves the bitmaps to whoever holds the image */
    if (!(flags & BDRV_O_INACTIVE)) {
        ret = qcow2_load_dirty_bitmaps(bs, errp);
        if (ret < 0) {
            goto out;
        }
    }
    ret = 0;
out:
    if (feature_table) {
        g_array_free(feature_table, true);
    }
    return ret;
}

typedef struct Qcow2OpenCo {
    BlockDriverState *bs;
    BlockdevOptionsQcow2 *o;
    int flags;
    Error *err;
    int ret;
    bool done;
} Qcow2OpenCo;

static void coroutine_fn qcow2_open_entry(void *opaque)
{
    Qcow2OpenCo *oc = opaque;

    oc->ret = qcow2_co_do_open(oc->bs, oc->o, oc->flags, &oc->err);
    oc->done = true;
    aio_notify(qemu_get_aio_context());
}

/* Images being opened (real paths): a backing chain must not loop */
static GPtrArray *qcow2_open_stack;
#define QCOW2_MAX_BACKING_DEPTH 256

static char *backing_full_path(BlockDriverState *bs, const char *name)
{
    const char *image = bs->file->bs->filename;
    char *dir, *path;

    if (g_path_is_absolute(name) || !image[0] || g_str_has_prefix(image, "json:")) {
        return g_strdup(name);
    }
    dir = g_path_get_dirname(image);
    path = g_build_filename(dir, name, NULL);
    g_free(dir);
    return path;
}

static const char *probe_format(const char *path)
{
    uint8_t magic[4] = { 0 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        if (pread(fd, magic, sizeof(magic), 0) != sizeof(magic)) {
            memset(magic, 0, sizeof(magic));
        }
        close(fd);
    }
    return GUINT32_FROM_BE(*(uint32_t *)magic) == QCOW_MAGIC ? "qcow2" : "raw";
}

static int qcow2_open_backing(BlockDriverState *bs, BlockdevOptionsQcow2 *o,
                              Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    BlockdevOptions *bo, *fo;
    BlockdevRef ref;
    const char *fmt;
    char *path, *real;
    Error *local_err = NULL;
    int drv;
    guint i;

    if (o->backing) {
        if (o->backing->type == QTYPE_QNULL) {
            return 0;
        }
        if (o->backing->type == QTYPE_QSTRING) {
            ref.type = QTYPE_QSTRING;
            ref.u.reference = o->backing->u.reference;
        } else {
            ref.type = QTYPE_QDICT;
            ref.u.definition = o->backing->u.definition;
        }
        return bdrv_open_child(&ref, bs, "backing", &child_of_bds, BDRV_CHILD_COW,
                               errp) ? 0 : -EINVAL;
    }
    if (!s->image_backing_file) {
        return 0;
    }
    path = backing_full_path(bs, s->image_backing_file);
    real = realpath(path, NULL);
    for (i = 0; real && qcow2_open_stack && i < qcow2_open_stack->len; i++) {
        if (!strcmp(real, g_ptr_array_index(qcow2_open_stack, i))) {
            error_setg(errp, "Could not open backing file: backing file chain "
                       "of '%s' loops back to '%s'", bs->file->bs->filename, path);
            free(real);
            g_free(path);
            return -ELOOP;
        }
    }
    free(real);
    if (qcow2_open_stack && qcow2_open_stack->len >= QCOW2_MAX_BACKING_DEPTH) {
        error_setg(errp, "Could not open backing file: backing chain too deep "
                   "(more than %d images)", QCOW2_MAX_BACKING_DEPTH);
        g_free(path);
        return -ELOOP;
    }
    fmt = s->image_backing_format ? s->image_backing_format : probe_format(path);
    drv = qapi_enum_parse(&BlockdevDriver_lookup, fmt, -1, NULL);
    if (drv < 0 || drv == BLOCKDEV_DRIVER_FILE || drv == BLOCKDEV_DRIVER_NBD ||
        drv == BLOCKDEV_DRIVER_HOST_DEVICE) {
        error_setg(errp, "Could not open backing file: Unknown driver '%s'", fmt);
        g_free(path);
        return -EINVAL;
    }

    fo = g_new0(BlockdevOptions, 1);
    fo->driver = BLOCKDEV_DRIVER_FILE;
    fo->u.file.filename = path;
    fo->has_read_only = true;
    fo->read_only = true;
    if (bs->options->cache) {
        fo->cache = g_memdup2(bs->options->cache, sizeof(*fo->cache));
    }
    bo = g_new0(BlockdevOptions, 1);
    bo->driver = drv;
    bo->has_read_only = true;
    bo->read_only = true;
    bo->u.raw.file = g_new0(BlockdevRef, 1);   /* every format's first member */
    bo->u.raw.file->type = QTYPE_QDICT;
    bo->u.raw.file->u.definition = fo;
    ref.type = QTYPE_QDICT;
    ref.u.definition = bo;
    if (!bdrv_open_child(&ref, bs, "backing", &child_of_bds, BDRV_CHILD_COW,
                         &local_err)) {
        error_prepend(&local_err, "Could not open backing file: ");
        error_propagate(errp, local_err);
        qapi_free_BlockdevOptions(bo);
        return -EINVAL;
    }
    qapi_free_BlockdevOptions(bo);
    return 0;
}

static void qcow2_free_state(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    guint i;

    if (s->cache_clean_timer) {
        timer_del(s->cache_clean_timer);
        timer_free(s->cache_clean_timer);
        s->cache_clean_timer = NULL;
    }
    qcow2_cache_destroy(s->l2_table_cache);
    qcow2_cache_destroy(s->refcount_block_cache);
    s->l2_table_cache = s->refcount_block_cache = NULL;
    qcow2_refcount_close(bs);
    qcow2_link_free(bs);
    qcow2_free_snapshots(bs);
    g_free(s->l1_table);
    s->l1_table = NULL;
    g_free(s->image_backing_file);
    g_free(s->image_backing_format);
    s->image_backing_file = s->image_backing_format = NULL;
    for (i = 0; s->unknown_header_ext && i < s->unknown_header_ext->len; i++) {
        g_free(g_array_index(s->unknown_header_ext, Qcow2UnknownHeaderExt, i).data);
    }
    if (s->unknown_header_ext) {
        g_array_free(s->unknown_header_ext, true);
        s->unknown_header_ext = NULL;
    }
}

static int qcow2_open(BlockDriverState *bs, BlockdevOptions *options, int flags,
                      Error **errp)
{
    BlockdevOptionsQcow2 *o = &options->u.qcow2;
    Qcow2OpenCo oc = { .bs = bs, .o = o, .flags = flags };
    char *real;

    if (!bdrv_open_child(o->file, bs, "file", &child_of_bds,
                         BDRV_CHILD_IMAGE | BDRV_CHILD_PRIMARY, errp)) {
        return -EINVAL;
    }
    if (qemu_in_coroutine()) {
        qcow2_open_entry(&oc);
    } else {
        qemu_coroutine_enter(qemu_coroutine_create(qcow2_open_entry, &oc));
        AIO_POLL_WHILE(qemu_get_aio_context(), !oc.done);
    }
    if (oc.ret < 0) {
        error_propagate(errp, oc.err);
        qcow2_free_state(bs);
        return oc.ret;
    }

    if (!qcow2_open_stack) {
        qcow2_open_stack = g_ptr_array_new();
    }
    real = realpath(bs->file->bs->filename, NULL);
    if (!real) {
        real = strdup("");  /* freed with free() below, like realpath()'s */
    }
    g_ptr_array_add(qcow2_open_stack, real);
    oc.ret = qcow2_open_backing(bs, o, errp);
    g_ptr_array_remove_index(qcow2_open_stack, qcow2_open_stack->len - 1);
    free(real);
    if (oc.ret < 0) {
        qcow2_free_state(bs);
        return oc.ret;
    }
    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK;
    return 0;
}

typedef struct Qcow2CloseCo {
    BlockDriverState *bs;
    bool done;
} Qcow2CloseCo;

static void coroutine_fn qcow2_close_entry(void *opaque)
{
    Qcow2CloseCo *cc = opaque;
    BlockDriverState *bs = cc->bs;
    BDRVQcow2State *s = bs->opaque;
    Error *local_err = NULL;

    qemu_co_mutex_lock(&s->lock);
    if (bdrv_is_writable(bs) &&
        !(s->incompatible_features & QCOW2_INCOMPAT_CORRUPT)) {
        if (qcow2_store_dirty_bitmaps(bs, &local_err) < 0) {
            error_report_err(local_err);
        }
        qcow2_flush_caches(bs);
        if (s->use_lazy_refcounts) {
            qcow2_mark_clean(bs);
        }
    }
    qemu_co_mutex_unlock(&s->lock);
    cc->done = true;
    aio_notify(qemu_get_aio_context());
}

/* Becoming read-only (reopen): what close writes for a writable image */
static int coroutine_fn qcow2_co_prepare_read_only(BlockDriverState *bs,
                                                   Error **errp)
{
    Qcow2CloseCo cc = { .bs = bs };

    qcow2_close_entry(&cc);
    return 0;
}

static void qcow2_close(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2CloseCo cc = { .bs = bs };

    if (s->cache_clean_timer) {
        timer_del(s->cache_clean_timer);
    }

    if (qemu_in_coroutine()) {
        qcow2_close_entry(&cc);
    } else {
        qemu_coroutine_enter(qemu_coroutine_create(qcow2_close_entry, &cc));
        AIO_POLL_WHILE(qemu_get_aio_context(), !cc.done);
    }
    qcow2_free_state(bs);
}

/* ---- activation (blockdev-set-active) ---- */

/* Forget the bitmaps that live in the image (stored, or to be re-read) */
static void qcow2_release_persistent_bitmaps(BlockDriverState *bs)
{
    g_autoptr(GPtrArray) list = g_ptr_array_new();
    BdrvDirtyBitmap *bitmap;
    guint i;

    FOR_EACH_DIRTY_BITMAP(bs, bitmap) {
        if (bdrv_dirty_bitmap_get_persistence(bitmap)) {
            g_ptr_array_add(list, bitmap);
        }
    }
    for (i = 0; i < list->len; i++) {
        bdrv_release_dirty_bitmap(g_ptr_array_index(list, i));
    }
}

typedef struct Qcow2InactivateCo {
    BlockDriverState *bs;
    Error *err;
    int ret;
    bool done;
} Qcow2InactivateCo;

static void coroutine_fn qcow2_inactivate_entry(void *opaque)
{
    Qcow2InactivateCo *ic = opaque;
    BlockDriverState *bs = ic->bs;
    BDRVQcow2State *s = bs->opaque;
    int ret = 0;

    qemu_co_mutex_lock(&s->lock);
    if (bdrv_is_writable(bs) &&
        !(s->incompatible_features & QCOW2_INCOMPAT_CORRUPT)) {
        /* Bitmaps (IN_USE cleared), then caches, then the dirty bit */
        ret = qcow2_store_dirty_bitmaps(bs, &ic->err);
        if (ret == 0) {
            ret = qcow2_flush_caches(bs);
            if (ret < 0) {
                error_setg_errno(&ic->err, -ret, "Could not write back the "
                                 "qcow2 metadata caches");
            }
        }
        if (ret == 0) {
            ret = qcow2_mark_clean(bs);
            if (ret < 0) {
                error_setg_errno(&ic->err, -ret, "Could not clear the qcow2 "
                                 "dirty bit");
            }
        }
    }
    qemu_co_mutex_unlock(&s->lock);
    trace_qcow2_inactivate(bs, ret);
    ic->ret = ret;
    ic->done = true;
    aio_notify(qemu_get_aio_context());
}

static int qcow2_inactivate(BlockDriverState *bs, Error **errp)
{
    Qcow2InactivateCo ic = { .bs = bs };

    if (qemu_in_coroutine()) {
        qcow2_inactivate_entry(&ic);
    } else {
        qemu_coroutine_enter(qemu_coroutine_create(qcow2_inactivate_entry, &ic));
        AIO_POLL_WHILE(qemu_get_aio_context(), !ic.done);
    }
    if (ic.ret < 0) {
        error_propagate(errp, ic.err);
        return ic.ret;
    }
    /* What is in memory now is in the image; activation reads it back */
    qcow2_release_persistent_bitmaps(bs);
    return 0;
}

/*
 * Active again: the image may have changed hands in between, so all the
 * driver state is read anew (header, tables, snapshots; bitmaps loaded and
 * marked IN_USE as at open).  The children stay.
 */
static int coroutine_fn qcow2_co_invalidate_cache(BlockDriverState *bs,
                                                  Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (s->cache_clean_timer) {
        timer_del(s->cache_clean_timer);
    }
    qcow2_release_persistent_bitmaps(bs);
    qcow2_free_state(bs);
    memset(s, 0, sizeof(*s));
    ret = qcow2_co_do_open(bs, &bs->options->u.qcow2, bs->open_flags, errp);
    trace_qcow2_invalidate_cache(bs, ret);
    if (ret < 0) {
        /* Nothing left to work with: the node fails every request (QEMU's) */
        error_prepend(errp, "Could not reopen qcow2 layer: ");
        qcow2_free_state(bs);
        bs->drv = NULL;
        return ret;
    }
    return 0;
}

/* ---- reads ---- */

static int coroutine_fn qcow2_read_compressed(BlockDriverState *bs,
                                              uint64_t l2_entry,
                                              uint64_t offset, uint64_t bytes,
                                              QEMUIOVector *qiov,
                                              size_t qiov_offset)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t coffset;
    int csize, ret;
    int64_t file_len;
    uint8_t *in, *out;

    qcow2_parse_compressed_l2_entry(bs, l2_entry, &coffset, &csize);
    file_len = bdrv_getlength(bs->file->bs);
    if (file_len >= 0 && (int64_t)coffset + csize > file_len) {
        /* The last compressed cluster may end inside its last sector */
        if ((int64_t)coffset >= file_len) {
            qcow2_signal_corruption(bs, false, coffset, csize, "Compressed "
                                    "cluster at %#" PRIx64 " beyond the end "
                                    "of the image file", coffset);
            return -EIO;
        }
        csize = file_len - coffset;
    }
    in = g_try_malloc(csize);
    out = g_try_malloc(s->cluster_size);
    if (!in || !out) {
        ret = -ENOMEM;
        goto out;
    }
    ret = bdrv_co_pread(bs->file, coffset, csize, in, 0);
    if (ret < 0) {
        goto out;
    }
    ret = qcow2_co_decompress(bs, out, s->cluster_size, in, csize);
    if (ret < 0) {
        ret = -EIO;
        goto out;
    }
    qemu_iovec_from_buf(qiov, qiov_offset, out + offset_into_cluster(s, offset),
                        bytes);
out:
    g_free(in);
    g_free(out);
    return ret;
}

/* qcow2_get_host_offset() under s->lock */
static int coroutine_fn qcow2_co_lookup(BlockDriverState *bs, uint64_t offset,
                                        uint64_t *bytes, uint64_t *host_offset)
{
    BDRVQcow2State *s = bs->opaque;
    int type;

    qemu_co_mutex_lock(&s->lock);
    type = qcow2_get_host_offset(bs, offset, bytes, host_offset);
    qemu_co_mutex_unlock(&s->lock);
    return type;
}

static int coroutine_fn qcow2_read_backing(BlockDriverState *bs, uint64_t offset,
                                           uint64_t bytes, QEMUIOVector *qiov,
                                           size_t qiov_offset)
{
    int64_t backing_len = bdrv_getlength(bs->backing->bs);
    uint64_t n = 0;
    int ret = 0;

    if (backing_len < 0) {
        return backing_len;
    }
    if (offset < (uint64_t)backing_len) {
        n = MIN(bytes, (uint64_t)backing_len - offset);
        ret = bdrv_co_preadv_part(bs->backing, offset, n, qiov, qiov_offset, 0);
    }
    if (ret >= 0 && n < bytes) {
        qemu_iovec_memset(qiov, qiov_offset + n, 0, bytes - n);
    }
    return ret;
}

/* Read guest bytes through the current mapping (also used for COW) */
static int coroutine_fn qcow2_do_preadv(BlockDriverState *bs, uint64_t offset,
                                        uint64_t bytes, QEMUIOVector *qiov,
                                        size_t qiov_offset)
{
    int ret = 0;

    while (bytes) {
        uint64_t cur = bytes, host;
        int type;

        type = qcow2_co_lookup(bs, offset, &cur, &host);
        if (type < 0) {
            return type;
        }
        switch (type) {
        case QCOW2_CLUSTER_UNALLOCATED:
            if (bs->backing) {
                ret = qcow2_read_backing(bs, offset, cur, qiov, qiov_offset);
            } else {
                qemu_iovec_memset(qiov, qiov_offset, 0, cur);
            }
            break;
        case QCOW2_CLUSTER_ZERO_PLAIN:
        case QCOW2_CLUSTER_ZERO_ALLOC:
            qemu_iovec_memset(qiov, qiov_offset, 0, cur);
            break;
        case QCOW2_CLUSTER_COMPRESSED:
            ret = qcow2_read_compressed(bs, host, offset, cur, qiov, qiov_offset);
            break;
        case QCOW2_CLUSTER_NORMAL:
            ret = bdrv_co_preadv_part(bs->file, host, cur, qiov, qiov_offset, 0);
            break;
        default:
            g_assert_not_reached();
        }
        if (ret < 0) {
            return ret;
        }
        offset += cur;
        qiov_offset += cur;
        bytes -= cur;
    }
    return 0;
}

static int coroutine_fn qcow2_co_preadv(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes, QEMUIOVector *qiov,
                                        BdrvRequestFlags flags)
{
    if (flags & BDRV_REQ_PREFETCH) {
        return 0;
    }
    return qcow2_do_preadv(bs, offset, bytes, qiov, 0);
}

/* ---- writes ---- */

/*
 * Write the data of a new allocation together with its COW regions: one
 * vectored write of head COW + guest data + tail COW, or (when the COW
 * regions read as zeroes) a write-zeroes of the clusters and the data.
 */

/*
 * Read the old content of one COW region (the part of a newly allocated
 * cluster the guest write does not cover) into a fresh buffer, *buf, and
 * append it to v.  Nothing to do for an empty region.
 */
static int coroutine_fn qcow2_read_cow_region(BlockDriverState *bs, QCowL2Meta *m,
                                              Qcow2COWRegion *r, QEMUIOVector *v,
                                              uint8_t **buf)
{
    QEMUIOVector cv;
    int ret;

    if (!r->nb_bytes) {
        return 0;
    }
    *buf = qemu_try_memalign(4096, r->nb_bytes);
    if (!*buf) {
        return -ENOMEM;
    }
    qemu_iovec_init_buf(&cv, *buf, r->nb_bytes);
    ret = qcow2_do_preadv(bs, m->offset + r->offset, r->nb_bytes, &cv, 0);
    if (ret < 0) {
        return ret;
    }
    qemu_iovec_add(v, *buf, r->nb_bytes);
    return 0;
}

static int coroutine_fn qcow2_write_with_cow(BlockDriverState *bs, QCowL2Meta *m,
                                             QEMUIOVector *qiov, size_t qiov_offset,
                                             uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t total = (uint64_t)m->nb_clusters << s->cluster_bits;
    uint8_t *start_buf = NULL, *end_buf = NULL;
    QEMUIOVector v;
    int ret;

    if (!m->cow_start.nb_bytes && !m->cow_end.nb_bytes) {
        return bdrv_co_pwritev_part(bs->file, m->alloc_offset, bytes, qiov,
                                    qiov_offset, 0);
    }
    if (m->cow_is_zero && total > 4096 &&
        (bs->file->bs->supported_zero_flags & BDRV_REQ_NO_FALLBACK)) {
        ret = bdrv_co_pwrite_zeroes(bs->file, m->alloc_offset, total,
                                    BDRV_REQ_NO_FALLBACK);
        if (ret == 0) {
            return bdrv_co_pwritev_part(bs->file,
                                        m->alloc_offset + m->cow_start.nb_bytes,
                                        bytes, qiov, qiov_offset, 0);
        }
    }
    qemu_iovec_init(&v, qiov->niov + 2);
    ret = qcow2_read_cow_region(bs, m, &m->cow_start, &v, &start_buf);
    if (ret < 0) {
        goto out;
    }
    qemu_iovec_concat(&v, qiov, qiov_offset, bytes);
    ret = qcow2_read_cow_region(bs, m, &m->cow_end, &v, &end_buf);
    if (ret < 0) {
        goto out;
    }
    assert(v.size == total);
    ret = bdrv_co_pwritev(bs->file, m->alloc_offset, total, &v, 0);
out:
    qemu_iovec_destroy(&v);
    qemu_vfree(start_buf);
    qemu_vfree(end_buf);
    return ret;
}

static int coroutine_fn qcow2_co_pwritev(BlockDriverState *bs, int64_t offset,
                                         int64_t bytes, QEMUIOVector *qiov,
                                         BdrvRequestFlags flags)
{
    BDRVQcow2State *s = bs->opaque;
    size_t qiov_offset = 0;
    int ret = 0;

    trace_qcow2_writev_start_req(qemu_coroutine_self(), offset, bytes);
    while (bytes) {
        uint64_t cur = bytes, host;
        QCowL2Meta *m = NULL;

        qemu_co_mutex_lock(&s->lock);
        ret = qcow2_alloc_host_offset(bs, offset, &cur, &host, &m);
        if (ret < 0) {
            qemu_co_mutex_unlock(&s->lock);
            break;
        }
        ret = m ? qcow2_pre_write_overlap_check(bs, 0, m->alloc_offset,
                                                (int64_t)m->nb_clusters << s->cluster_bits)
                : qcow2_pre_write_overlap_check(bs, 0, host, cur);
        qemu_co_mutex_unlock(&s->lock);
        if (ret < 0) {
            goto fail_m;
        }
        trace_qcow2_writev_data(qemu_coroutine_self(), host);
        if (m) {
            ret = qcow2_write_with_cow(bs, m, qiov, qiov_offset, cur);
        } else {
            ret = bdrv_co_pwritev_part(bs->file, host, cur, qiov, qiov_offset, 0);
        }
        s->data_written_gen++;
fail_m:
        if (m) {
            qemu_co_mutex_lock(&s->lock);
            ret = qcow2_alloc_cluster_finish(bs, m, ret,
                                             qcow2_alloc_cluster_link_l2);
            qemu_co_mutex_unlock(&s->lock);
        }
        if (ret < 0) {
            break;
        }
        offset += cur;
        qiov_offset += cur;
        bytes -= cur;
    }
    trace_qcow2_writev_done_req(qemu_coroutine_self(), ret);
    return ret < 0 ? ret : 0;
}

static int coroutine_fn qcow2_write_compressed_cluster(BlockDriverState *bs,
                                                       uint64_t offset,
                                                       uint64_t bytes,
                                                       QEMUIOVector *qiov,
                                                       size_t qiov_offset)
{
    BDRVQcow2State *s = bs->opaque;
    QCowL2Meta *m = NULL;
    uint8_t *buf, *out;
    ssize_t out_len;
    int ret;

    buf = g_malloc0(s->cluster_size);
    out = qemu_try_memalign(4096, s->cluster_size);
    if (!out) {
        g_free(buf);
        return -ENOMEM;
    }
    qemu_iovec_to_buf(qiov, qiov_offset, buf, bytes);
    out_len = qcow2_co_compress(bs, out, s->cluster_size - 1, buf, s->cluster_size);
    if (out_len == -ENOMEM) {
        /* Does not compress: an ordinary cluster */
        QEMUIOVector v;

        qemu_iovec_init_buf(&v, buf, bytes);
        ret = qcow2_co_pwritev(bs, offset, bytes, &v, 0);
        goto out;
    } else if (out_len < 0) {
        ret = -EIO;
        goto out;
    }
    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_alloc_compressed_cluster_offset(bs, offset, out_len, &m);
    if (ret == 0) {
        ret = qcow2_pre_write_overlap_check(bs, 0, m->alloc_offset, out_len);
    }
    qemu_co_mutex_unlock(&s->lock);
    if (ret == 0) {
        ret = bdrv_co_pwrite(bs->file, m->alloc_offset, out_len, out, 0);
    }
    if (m) {
        qemu_co_mutex_lock(&s->lock);
        ret = qcow2_alloc_cluster_finish(bs, m, ret,
                                         qcow2_link_compressed_cluster);
        qemu_co_mutex_unlock(&s->lock);
    }
out:
    g_free(buf);
    qemu_vfree(out);
    return ret < 0 ? ret : 0;
}

static int coroutine_fn qcow2_co_pwritev_compressed(BlockDriverState *bs,
                                                    int64_t offset, int64_t bytes,
                                                    QEMUIOVector *qiov)
{
    BDRVQcow2State *s = bs->opaque;
    size_t qiov_offset = 0;
    int ret;

    if (offset_into_cluster(s, offset)) {
        return -EINVAL;
    }
    while (bytes > 0) {
        uint64_t cur = MIN(bytes, (int64_t)s->cluster_size);

        if (cur < (uint64_t)s->cluster_size &&
            offset + cur != (uint64_t)bdrv_getlength(bs)) {
            return -EINVAL;
        }
        ret = qcow2_write_compressed_cluster(bs, offset, cur, qiov, qiov_offset);
        if (ret < 0) {
            return ret;
        }
        offset += cur;
        qiov_offset += cur;
        bytes -= cur;
    }
    return 0;
}

/* ---- zeroes and discard ---- */

static int coroutine_fn qcow2_co_pwrite_zeroes(BlockDriverState *bs,
                                               int64_t offset, int64_t bytes,
                                               BdrvRequestFlags flags)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t disk = bdrv_getlength(bs);
    uint64_t end = offset + bytes;
    int ret;

    if (s->qcow_version < 3) {
        return -ENOTSUP;
    }
    trace_qcow2_pwrite_zeroes(qemu_coroutine_self(), offset, bytes, flags);
    if (offset_into_cluster(s, offset) ||
        (offset_into_cluster(s, end) && (int64_t)end != disk)) {
        /* A part of one cluster: nothing to do if it reads as zero already */
        uint64_t cur = bytes, host;
        int type;

        if (offset_into_cluster(s, offset) + bytes > (uint64_t)s->cluster_size) {
            return -ENOTSUP;
        }
        type = qcow2_co_lookup(bs, offset, &cur, &host);
        if (type < 0) {
            return type;
        }
        if (cur == (uint64_t)bytes &&
            (type == QCOW2_CLUSTER_ZERO_PLAIN || type == QCOW2_CLUSTER_ZERO_ALLOC ||
             (type == QCOW2_CLUSTER_UNALLOCATED && !qcow2_has_backing(bs)))) {
            return 0;
        }
        return -ENOTSUP;
    }
    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_cluster_zeroize(bs, offset, ROUND_UP(end, s->cluster_size) - offset,
                                flags);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static int coroutine_fn qcow2_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                          int64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (!QEMU_IS_ALIGNED(offset | bytes, s->cluster_size)) {
        if (offset_into_cluster(s, offset) || offset + bytes != bdrv_getlength(bs)) {
            return -ENOTSUP;
        }
        bytes = ROUND_UP(bytes, s->cluster_size);
    }
    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_cluster_discard(bs, offset, bytes, QCOW2_DISCARD_REQUEST, false);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/* ---- flush, status, info ---- */

static int coroutine_fn qcow2_co_flush_to_os(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qemu_co_mutex_lock(&s->lock);
    ret = qcow2_write_caches(bs);
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

static int coroutine_fn qcow2_co_block_status(BlockDriverState *bs,
                                              bool want_zero, int64_t offset,
                                              int64_t bytes, int64_t *pnum,
                                              int64_t *map,
                                              BlockDriverState **file)
{
    uint64_t cur = bytes, host;
    int type;

    type = qcow2_co_lookup(bs, offset, &cur, &host);
    if (type < 0) {
        return type;
    }
    *pnum = cur;
    switch (type) {
    case QCOW2_CLUSTER_ZERO_PLAIN:
        return BDRV_BLOCK_ZERO;
    case QCOW2_CLUSTER_ZERO_ALLOC:
        *map = host;
        *file = bs->file->bs;
        return BDRV_BLOCK_ZERO | BDRV_BLOCK_OFFSET_VALID;
    case QCOW2_CLUSTER_NORMAL:
        *map = host;
        *file = bs->file->bs;
        return BDRV_BLOCK_DATA | BDRV_BLOCK_OFFSET_VALID;
    case QCOW2_CLUSTER_COMPRESSED:
        return BDRV_BLOCK_DATA | BDRV_BLOCK_COMPRESSED;
    default:
        return 0;
    }
}

static int64_t qcow2_getlength(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return QEMU_ALIGN_DOWN(s->size, BDRV_SECTOR_SIZE);
}

static int64_t qcow2_get_allocated_file_size(BlockDriverState *bs)
{
    return bdrv_get_allocated_file_size(bs->file->bs);
}

static int qcow2_get_info(BlockDriverState *bs, BlockDriverInfo *bdi)
{
    BDRVQcow2State *s = bs->opaque;

    bdi->cluster_size = s->cluster_size;
    bdi->subcluster_size = s->subcluster_size;
    bdi->is_dirty = !!(s->incompatible_features & QCOW2_INCOMPAT_DIRTY);
    bdi->vm_state_offset = (int64_t)s->l1_vm_state_index <<
                           (s->cluster_bits + s->l2_bits);
    return 0;
}

static void qcow2_refresh_limits(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;

    bs->bl.request_alignment = 1;
    bs->bl.max_transfer = 0;
    bs->bl.pdiscard_alignment = s->cluster_size;
    bs->bl.pwrite_zeroes_alignment = s->cluster_size;
    bs->bl.opt_transfer = s->cluster_size;
}

static int qcow2_probe(const uint8_t *buf, int buf_size, const char *filename)
{
    if (buf_size >= 8 && GUINT32_FROM_BE(*(const uint32_t *)buf) == QCOW_MAGIC &&
        GUINT32_FROM_BE(*(const uint32_t *)(buf + 4)) >= 2) {
        return 100;
    }
    return 0;
}

/* qemu-img info's "format-specific" */
static ImageInfoSpecific *qcow2_get_specific_info(BlockDriverState *bs,
                                                  Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    ImageInfoSpecific *spec = g_new0(ImageInfoSpecific, 1);
    ImageInfoSpecificQCow2 *q = g_new0(ImageInfoSpecificQCow2, 1);
    Error *local_err = NULL;

    spec->type = IMAGE_INFO_SPECIFIC_KIND_QCOW2;
    spec->u.qcow2.data = q;
    q->refcount_bits = s->refcount_bits;
    q->compression_type = g_strdup(s->compression_type == QCOW2_COMPRESSION_TYPE_ZSTD ?
                                   "zstd" : "zlib");
    if (s->qcow_version == 2) {
        q->compat = g_strdup("0.10");
        return spec;
    }
    q->compat = g_strdup("1.1");
    q->has_lazy_refcounts = true;
    q->lazy_refcounts = !!(s->compatible_features & QCOW2_COMPAT_LAZY_REFCOUNTS);
    q->has_corrupt = true;
    q->corrupt = !!(s->incompatible_features & QCOW2_INCOMPAT_CORRUPT);
    q->has_extended_l2 = true;
    q->extended_l2 = s->extended_l2;
    q->bitmaps = qcow2_get_bitmap_info_list(bs, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        qapi_free_ImageInfoSpecific(spec);
        return NULL;
    }
    return spec;
}

BlockDriver bdrv_qcow2 = {
    .format_name = "qcow2",
    .instance_size = sizeof(BDRVQcow2State),
    .is_format = true,
    .supports_backing = true,
    .bdrv_open = qcow2_open,
    .bdrv_close = qcow2_close,
    .bdrv_co_prepare_read_only = qcow2_co_prepare_read_only,
    .bdrv_inactivate = qcow2_inactivate,
    .bdrv_co_invalidate_cache = qcow2_co_invalidate_cache,
    .bdrv_refresh_limits = qcow2_refresh_limits,
    .bdrv_child_perm = bdrv_default_perms,
    .bdrv_co_preadv = qcow2_co_preadv,
    .bdrv_co_pwritev = qcow2_co_pwritev,
    .bdrv_co_pwritev_compressed = qcow2_co_pwritev_compressed,
    .bdrv_co_pwrite_zeroes = qcow2_co_pwrite_zeroes,
    .bdrv_co_pdiscard = qcow2_co_pdiscard,
    .bdrv_co_flush_to_os = qcow2_co_flush_to_os,
    .bdrv_co_block_status = qcow2_co_block_status,
    .bdrv_getlength = qcow2_getlength,
    .bdrv_get_allocated_file_size = qcow2_get_allocated_file_size,
    .bdrv_get_info = qcow2_get_info,
    .bdrv_probe = qcow2_probe,
    .bdrv_get_specific_info = qcow2_get_specific_info,
    .supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK,
    /* Q2: qcow2-snapshot.c, qcow2-bitmap.c, qcow2-check.c, qcow2-create.c */
    .bdrv_snapshot_create = qcow2_snapshot_create,
    .bdrv_snapshot_goto = qcow2_snapshot_goto,
    .bdrv_snapshot_delete = qcow2_snapshot_delete,
    .bdrv_snapshot_list = qcow2_snapshot_list,
    .bdrv_co_can_store_new_dirty_bitmap = qcow2_co_can_store_new_dirty_bitmap,
    .bdrv_co_remove_persistent_dirty_bitmap = qcow2_co_remove_persistent_dirty_bitmap,
    .bdrv_co_check = qcow2_co_check,
    .bdrv_co_create = qcow2_co_create,
    .bdrv_co_truncate = qcow2_co_truncate,
};
