/*
 * qcow2-bitmap.c: persistent dirty bitmaps stored in qcow2 images.
 *
 * Format (QEMU's docs/interop/qcow2.txt, "Bitmaps extension"): the
 * header extension points at the bitmap directory, one 8-byte aligned
 * entry per bitmap (table offset and size, flags IN_USE and AUTO, type,
 * granularity, name); each bitmap table entry points at a cluster of
 * bitmap data (bit i = granule i, little-endian words as
 * bdrv_dirty_bitmap_serialize_part() produces) or is 0 (all zeroes; bit 0
 * set: all ones).
 *
 * At open every stored bitmap becomes a persistent BdrvDirtyBitmap (one
 * stored IN_USE is inconsistent and not loaded; AUTO means enabled); an
 * image opened read/write gets IN_USE on all of them at once, because the
 * bitmaps in memory will go on changing.  At close (writable image) the
 * bitmaps that should be stored are written as new tables and data, a new
 * directory names them (IN_USE clear), the header switches to it, and the
 * old tables are freed.  Also: the persistence hooks of the dirty bitmap
 * core (can a new bitmap be stored, remove a stored one) and the refcount
 * walk for the image check.
 */
#include "qemu/osdep.h"
#include "block/qcow2.h"
#include "block/dirty-bitmap.h"
#include "trace/trace-block.h"

#define QCOW2_MAX_BITMAPS               65535
#define QCOW2_MAX_BITMAP_DIRECTORY_SIZE (1024 * QCOW2_MAX_BITMAPS)
#define BME_MAX_TABLE_SIZE              0x8000000
#define BME_MAX_PHYS_SIZE               0x20000000  /* 512 MiB of bitmap data */
#define BME_MIN_GRANULARITY_BITS        9
#define BME_MAX_GRANULARITY_BITS        31
#define BME_MAX_NAME_SIZE               1023

#define BME_FLAG_IN_USE                 (1U << 0)
#define BME_FLAG_AUTO                   (1U << 1)
#define BME_RESERVED_FLAGS              0xfffffffcU

#define BME_TABLE_ENTRY_RESERVED_MASK   UINT64_C(0xff000000000001fe)
#define BME_TABLE_ENTRY_OFFSET_MASK     UINT64_C(0x00fffffffffffe00)
#define BME_TABLE_ENTRY_FLAG_ALL_ONES   1

#define BT_DIRTY_TRACKING_BITMAP        1

/* On-disk directory entry header (big-endian), followed by extra data and name */
typedef struct Qcow2BitmapDirEntry {
    uint64_t bitmap_table_offset;
    uint32_t bitmap_table_size;
    uint32_t flags;
    uint8_t type;
    uint8_t granularity_bits;
    uint16_t name_size;
    uint32_t extra_data_size;
} __attribute__((packed)) Qcow2BitmapDirEntry;

typedef struct Qcow2Bitmap {
    uint64_t table_offset;
    uint32_t table_size;            /* entries */
    uint32_t flags;
    uint8_t type;
    uint8_t granularity_bits;
    char *name;
} Qcow2Bitmap;

static void bitmap_list_free(GArray *list)
{
    guint i;

    if (!list) {
        return;
    }
    for (i = 0; i < list->len; i++) {
        g_free(g_array_index(list, Qcow2Bitmap, i).name);
    }
    g_array_free(list, true);
}

static uint64_t dir_entry_size(size_t name_len)
{
    return ROUND_UP(sizeof(Qcow2BitmapDirEntry) + name_len, 8);
}

/* Bytes of bitmap data (and table entries) for a disk of disk_size bytes */
static uint64_t bitmap_data_bytes(uint64_t disk_size, int granularity_bits)
{
    uint64_t bits = DIV_ROUND_UP(disk_size, UINT64_C(1) << granularity_bits);

    return DIV_ROUND_UP(bits, 8);
}

static bool bitmaps_in_use(BDRVQcow2State *s)
{
    return s->has_bitmaps_ext && (s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS);
}

/* ---- the directory ---- */

static int check_dir_entry(BlockDriverState *bs, const Qcow2Bitmap *bm)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t phys = (uint64_t)bm->table_size * s->cluster_size;

    if (bm->table_size == 0 || bm->table_size > BME_MAX_TABLE_SIZE ||
        phys > BME_MAX_PHYS_SIZE || bm->table_offset == 0 ||
        offset_into_cluster(s, bm->table_offset) ||
        bm->type != BT_DIRTY_TRACKING_BITMAP ||
        bm->granularity_bits > BME_MAX_GRANULARITY_BITS ||
        bm->granularity_bits < BME_MIN_GRANULARITY_BITS ||
        (bm->flags & BME_RESERVED_FLAGS)) {
        return -EINVAL;
    }
    if (bm->table_offset + (uint64_t)bm->table_size * 8 > (uint64_t)s->file_end_hint) {
        return -EINVAL;
    }
    return 0;
}

/* Parse the directory of the image: a GArray of Qcow2Bitmap */
static int coroutine_fn bitmap_list_load(BlockDriverState *bs, GArray **plist,
                                         Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2BitmapHeaderExt *e = &s->bitmaps_ext;
    GArray *list = g_array_new(false, true, sizeof(Qcow2Bitmap));
    uint8_t *dir = NULL, *p, *end;
    uint32_t i;
    int ret;

    *plist = list;
    if (!bitmaps_in_use(s)) {
        return 0;
    }
    if (e->nb_bitmaps > QCOW2_MAX_BITMAPS ||
        e->bitmap_directory_size > QCOW2_MAX_BITMAP_DIRECTORY_SIZE ||
        e->bitmap_directory_size < e->nb_bitmaps * sizeof(Qcow2BitmapDirEntry) ||
        e->bitmap_directory_offset + e->bitmap_directory_size >
            (uint64_t)s->file_end_hint) {
        error_setg(errp, "Bitmap directory is invalid");
        ret = -EINVAL;
        goto fail;
    }
    dir = g_try_malloc(e->bitmap_directory_size);
    if (!dir) {
        error_setg(errp, "Could not allocate the bitmap directory");
        ret = -ENOMEM;
        goto fail;
    }
    ret = bdrv_co_pread(bs->file, e->bitmap_directory_offset,
                        e->bitmap_directory_size, dir, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to read bitmap directory");
        goto fail;
    }
    p = dir;
    end = dir + e->bitmap_directory_size;
    for (i = 0; i < e->nb_bitmaps; i++) {
        Qcow2BitmapDirEntry de;
        Qcow2Bitmap bm;
        uint32_t name_size, extra;

        if ((size_t)(end - p) < sizeof(de)) {
            goto broken;
        }
        memcpy(&de, p, sizeof(de));
        name_size = GUINT16_FROM_BE(de.name_size);
        extra = GUINT32_FROM_BE(de.extra_data_size);
        if (extra != 0) {
            error_setg(errp, "Bitmap extra data is not supported");
            ret = -ENOTSUP;
            goto fail;
        }
        if (name_size == 0 || name_size > BME_MAX_NAME_SIZE ||
            (uint64_t)(end - p) < dir_entry_size(name_size)) {
            goto broken;
        }
        bm.table_offset = GUINT64_FROM_BE(de.bitmap_table_offset);
        bm.table_size = GUINT32_FROM_BE(de.bitmap_table_size);
        bm.flags = GUINT32_FROM_BE(de.flags);
        bm.type = de.type;
        bm.granularity_bits = de.granularity_bits;
        if (check_dir_entry(bs, &bm) < 0) {
            goto broken;
        }
        bm.name = g_strndup((char *)p + sizeof(de), name_size);
        g_array_append_val(list, bm);
        p += dir_entry_size(name_size);
    }
    if (p != end) {
        goto broken;
    }
    g_free(dir);
    return 0;

broken:
    error_setg(errp, "Bitmap directory is broken");
    ret = -EINVAL;
fail:
    g_free(dir);
    bitmap_list_free(list);
    *plist = NULL;
    return ret;
}

static GByteArray *bitmap_list_serialize(GArray *list)
{
    GByteArray *buf = g_byte_array_new();
    static const uint8_t zero[8];
    guint i;

    for (i = 0; i < list->len; i++) {
        Qcow2Bitmap *bm = &g_array_index(list, Qcow2Bitmap, i);
        size_t name_len = strlen(bm->name);
        Qcow2BitmapDirEntry de = {
            .bitmap_table_offset = GUINT64_TO_BE(bm->table_offset),
            .bitmap_table_size = GUINT32_TO_BE(bm->table_size),
            .flags = GUINT32_TO_BE(bm->flags),
            .type = bm->type,
            .granularity_bits = bm->granularity_bits,
            .name_size = GUINT16_TO_BE(name_len),
            .extra_data_size = 0,
        };

        g_byte_array_append(buf, (const guint8 *)&de, sizeof(de));
        g_byte_array_append(buf, (const guint8 *)bm->name, name_len);
        g_byte_array_append(buf, zero, dir_entry_size(name_len) - sizeof(de) - name_len);
    }
    return buf;
}

/* Rewrite the directory where it is (same size: only flags changed) */
static int coroutine_fn bitmap_list_store_in_place(BlockDriverState *bs, GArray *list)
{
    BDRVQcow2State *s = bs->opaque;
    GByteArray *buf = bitmap_list_serialize(list);
    int ret;

    assert(buf->len == s->bitmaps_ext.bitmap_directory_size);
    ret = qcow2_pre_write_overlap_check(bs, QCOW2_OL_BITMAP_DIRECTORY,
                                        s->bitmaps_ext.bitmap_directory_offset,
                                        buf->len);
    if (ret == 0) {
        ret = bdrv_co_pwrite(bs->file, s->bitmaps_ext.bitmap_directory_offset,
                             buf->len, buf->data, 0);
    }
    if (ret == 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    g_byte_array_free(buf, true);
    return ret;
}

/*
 * Write list as a new directory and switch the header to it (or drop the
 * extension when list is empty); the old directory is freed afterwards.
 */
static int coroutine_fn bitmap_list_store(BlockDriverState *bs, GArray *list)
{
    BDRVQcow2State *s = bs->opaque;
    bool had_ext = s->has_bitmaps_ext;
    Qcow2BitmapHeaderExt old = s->bitmaps_ext;
    GByteArray *buf = bitmap_list_serialize(list);
    int64_t offset = 0;
    int ret;

    if (buf->len > QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
        ret = -EFBIG;
        goto out;
    }
    if (list->len) {
        offset = qcow2_alloc_clusters(bs, buf->len);
        if (offset < 0) {
            ret = offset;
            goto out;
        }
        ret = qcow2_flush_caches(bs);
        if (ret == 0) {
            ret = qcow2_pre_write_overlap_check(bs, 0, offset, buf->len);
        }
        if (ret == 0) {
            ret = bdrv_co_pwrite(bs->file, offset, buf->len, buf->data, 0);
        }
        if (ret == 0) {
            ret = bdrv_co_flush(bs->file->bs);
        }
        if (ret < 0) {
            qcow2_free_clusters(bs, offset, buf->len, QCOW2_DISCARD_ALWAYS);
            goto out;
        }
        s->has_bitmaps_ext = true;
        s->bitmaps_ext = (Qcow2BitmapHeaderExt) {
            .nb_bitmaps = list->len,
            .bitmap_directory_size = buf->len,
            .bitmap_directory_offset = offset,
        };
        s->autoclear_features |= QCOW2_AUTOCLEAR_BITMAPS;
    } else {
        s->has_bitmaps_ext = false;
        memset(&s->bitmaps_ext, 0, sizeof(s->bitmaps_ext));
        s->autoclear_features &= ~QCOW2_AUTOCLEAR_BITMAPS;
    }
    ret = qcow2_update_header(bs);
    if (ret == 0) {
        ret = bdrv_co_flush(bs->file->bs);
    }
    if (ret < 0) {
        s->has_bitmaps_ext = had_ext;
        s->bitmaps_ext = old;
        if (offset > 0) {
            qcow2_free_clusters(bs, offset, buf->len, QCOW2_DISCARD_ALWAYS);
        }
        goto out;
    }
    if (had_ext && old.bitmap_directory_size) {
        qcow2_free_clusters(bs, old.bitmap_directory_offset,
                            old.bitmap_directory_size, QCOW2_DISCARD_OTHER);
    }
out:
    g_byte_array_free(buf, true);
    return ret;
}

/* ---- bitmap tables ---- */

static int coroutine_fn bitmap_table_load(BlockDriverState *bs, const Qcow2Bitmap *bm,
                                          uint64_t **ptable)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *table;
    uint32_t i;
    int ret;

    table = g_try_new(uint64_t, bm->table_size);
    if (!table) {
        return -ENOMEM;
    }
    ret = bdrv_co_pread(bs->file, bm->table_offset, (int64_t)bm->table_size * 8,
                        table, 0);
    if (ret < 0) {
        g_free(table);
        return ret;
    }
    for (i = 0; i < bm->table_size; i++) {
        uint64_t e = GUINT64_FROM_BE(table[i]);
        uint64_t off = e & BME_TABLE_ENTRY_OFFSET_MASK;

        if ((e & BME_TABLE_ENTRY_RESERVED_MASK) ||
            (off && ((e & BME_TABLE_ENTRY_FLAG_ALL_ONES) ||
                     offset_into_cluster(s, off) ||
                     off + s->cluster_size > (uint64_t)s->file_end_hint))) {
            g_free(table);
            return -EINVAL;
        }
        table[i] = e;
    }
    *ptable = table;
    return 0;
}

/* Free a stored bitmap's data clusters and table */
static void coroutine_fn free_bitmap_clusters(BlockDriverState *bs, const Qcow2Bitmap *bm)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t *table;
    uint32_t i;

    if (bitmap_table_load(bs, bm, &table) < 0) {
        return;     /* leaked; check -r leaks recovers them */
    }
    for (i = 0; i < bm->table_size; i++) {
        uint64_t off = table[i] & BME_TABLE_ENTRY_OFFSET_MASK;

        if (off) {
            qcow2_free_clusters(bs, off, s->cluster_size, QCOW2_DISCARD_OTHER);
        }
    }
    qcow2_free_clusters(bs, bm->table_offset, (uint64_t)bm->table_size * 8,
                        QCOW2_DISCARD_OTHER);
    g_free(table);
}

/* ---- loading ---- */

static int coroutine_fn load_bitmap_data(BlockDriverState *bs, const Qcow2Bitmap *bm,
                                         BdrvDirtyBitmap *bitmap)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t size = bdrv_dirty_bitmap_size(bitmap);
    uint64_t coverage = bdrv_dirty_bitmap_serialization_coverage(s->cluster_size,
                                                                 bitmap);
    uint64_t *table = NULL, offset;
    uint8_t *buf;
    uint32_t i;
    int ret;

    if (DIV_ROUND_UP(bitmap_data_bytes(size, bm->granularity_bits),
                     s->cluster_size) > bm->table_size) {
        return -EINVAL;
    }
    ret = bitmap_table_load(bs, bm, &table);
    if (ret < 0) {
        return ret;
    }
    buf = g_malloc(s->cluster_size);
    for (i = 0, offset = 0; offset < size; i++, offset += coverage) {
        uint64_t count = MIN(size - offset, coverage);
        uint64_t off = table[i] & BME_TABLE_ENTRY_OFFSET_MASK;

        if (!off) {
            if (table[i] & BME_TABLE_ENTRY_FLAG_ALL_ONES) {
                bdrv_dirty_bitmap_deserialize_ones(bitmap, offset, count, false);
            } else {
                bdrv_dirty_bitmap_deserialize_zeroes(bitmap, offset, count, false);
            }
            continue;
        }
        ret = bdrv_co_pread(bs->file, off, s->cluster_size, buf, 0);
        if (ret < 0) {
            goto out;
        }
        bdrv_dirty_bitmap_deserialize_part(bitmap, buf, offset, count, false);
    }
    bdrv_dirty_bitmap_deserialize_finish(bitmap);
    ret = 0;
out:
    g_free(buf);
    g_free(table);
    return ret;
}

int coroutine_fn qcow2_load_dirty_bitmaps(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    bool rw = (bs->open_flags & BDRV_O_RDWR) && !(bs->open_flags & BDRV_O_INACTIVE);
    GArray *list;
    bool need_in_use = false;
    guint i;
    int ret;

    if (!s->has_bitmaps_ext) {
        return 0;
    }
    if (!(s->autoclear_features & QCOW2_AUTOCLEAR_BITMAPS)) {
        warn_report("a program lacking bitmap support modified this file, so "
                    "all bitmaps are now considered inconsistent");
        fprintf(stderr, "Some clusters may be leaked, run 'qemu-img check -r' "
                "on the image file to fix.\n");
        s->has_bitmaps_ext = false;
        memset(&s->bitmaps_ext, 0, sizeof(s->bitmaps_ext));
        return 0;
    }
    ret = bitmap_list_load(bs, &list, errp);
    if (ret < 0) {
        return ret;
    }
    for (i = 0; i < list->len; i++) {
        Qcow2Bitmap *bm = &g_array_index(list, Qcow2Bitmap, i);
        BdrvDirtyBitmap *bitmap;

        bitmap = bdrv_create_dirty_bitmap(bs, UINT32_C(1) << bm->granularity_bits,
                                          bm->name, errp);
        if (!bitmap) {
            ret = -EINVAL;
            goto fail;
        }
        bdrv_dirty_bitmap_set_persistence(bitmap, true);
        if (bm->flags & BME_FLAG_IN_USE) {
            bdrv_dirty_bitmap_set_inconsistent(bitmap);
        } else {
            ret = load_bitmap_data(bs, bm, bitmap);
            if (ret < 0) {
                error_setg_errno(errp, -ret, "Could not read bitmap '%s' from "
                                 "image", bm->name);
                bdrv_release_dirty_bitmap(bitmap);
                goto fail;
            }
            if (rw) {
                bm->flags |= BME_FLAG_IN_USE;
                need_in_use = true;
            }
        }
        if (!(bm->flags & BME_FLAG_AUTO)) {
            bdrv_disable_dirty_bitmap(bitmap);
        }
        if (!rw) {
            bdrv_dirty_bitmap_set_readonly(bitmap, true);
        }
        trace_qcow2_load_dirty_bitmap(bs, bm->name, bm->flags);
    }
    if (need_in_use) {
        /* From now on what is on disk is stale until stored at close */
        ret = bitmap_list_store_in_place(bs, list);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Can't update bitmap directory");
            goto fail;
        }
    }
    bitmap_list_free(list);
    return 0;

fail:
    for (i = 0; i < list->len; i++) {
        BdrvDirtyBitmap *bitmap =
            bdrv_find_dirty_bitmap(bs, g_array_index(list, Qcow2Bitmap, i).name);

        if (bitmap) {
            bdrv_release_dirty_bitmap(bitmap);
        }
    }
    bitmap_list_free(list);
    return ret;
}

/* ---- storing ---- */

/* Write bitmap's data and table: the new directory entry in *bm */
static int coroutine_fn store_bitmap(BlockDriverState *bs, BdrvDirtyBitmap *bitmap,
                                     Qcow2Bitmap *bm)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t size = bdrv_dirty_bitmap_size(bitmap);
    uint32_t granularity = bdrv_dirty_bitmap_granularity(bitmap);
    int gbits = __builtin_ctz(granularity);
    uint64_t coverage = bdrv_dirty_bitmap_serialization_coverage(s->cluster_size,
                                                                 bitmap);
    uint64_t nb = DIV_ROUND_UP(bitmap_data_bytes(size, gbits), s->cluster_size);
    uint64_t *table, offset;
    uint8_t *buf;
    int64_t table_offset;
    uint32_t i;
    int ret = 0;

    nb = MAX(nb, 1);
    if (nb > BME_MAX_TABLE_SIZE) {
        return -EFBIG;
    }
    table = g_new0(uint64_t, nb);
    buf = qemu_memalign(4096, s->cluster_size);
    for (i = 0, offset = 0; offset < size; i++, offset += coverage) {
        uint64_t count = MIN(size - offset, coverage);
        int64_t off;

        if (bdrv_dirty_bitmap_next_dirty(bitmap, offset, count) < 0) {
            continue;   /* all zeroes: entry 0 */
        }
        memset(buf, 0, s->cluster_size);
        bdrv_dirty_bitmap_serialize_part(bitmap, buf, offset, count);
        off = qcow2_alloc_clusters(bs, s->cluster_size);
        if (off < 0) {
            ret = off;
            goto fail;
        }
        table[i] = off;
        ret = qcow2_pre_write_overlap_check(bs, 0, off, s->cluster_size);
        if (ret == 0) {
            ret = bdrv_co_pwrite(bs->file, off, s->cluster_size, buf, 0);
        }
        if (ret < 0) {
            goto fail;
        }
    }
    table_offset = qcow2_alloc_clusters(bs, nb * 8);
    if (table_offset < 0) {
        ret = table_offset;
        goto fail;
    }
    for (i = 0; i < nb; i++) {
        table[i] = GUINT64_TO_BE(table[i]);
    }
    ret = qcow2_pre_write_overlap_check(bs, 0, table_offset, nb * 8);
    if (ret == 0) {
        ret = bdrv_co_pwrite(bs->file, table_offset, nb * 8, table, 0);
    }
    for (i = 0; i < nb; i++) {
        table[i] = GUINT64_FROM_BE(table[i]);
    }
    if (ret < 0) {
        qcow2_free_clusters(bs, table_offset, nb * 8, QCOW2_DISCARD_ALWAYS);
        goto fail;
    }
    bm->table_offset = table_offset;
    bm->table_size = nb;
    bm->flags = bdrv_dirty_bitmap_enabled(bitmap) ? BME_FLAG_AUTO : 0;
    bm->type = BT_DIRTY_TRACKING_BITMAP;
    bm->granularity_bits = gbits;
    bm->name = g_strdup(bdrv_dirty_bitmap_name(bitmap));
    g_free(table);
    qemu_vfree(buf);
    return 0;

fail:
    for (i = 0; i < nb; i++) {
        if (table[i]) {
            qcow2_free_clusters(bs, table[i], s->cluster_size, QCOW2_DISCARD_ALWAYS);
        }
    }
    g_free(table);
    qemu_vfree(buf);
    return ret;
}

int coroutine_fn qcow2_store_dirty_bitmaps(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    GArray *old_list, *new_list, *replaced;
    BdrvDirtyBitmap *bitmap;
    guint i;
    int ret;

    if (!bitmaps_in_use(s) && !bdrv_has_named_bitmaps(bs)) {
        return 0;
    }
    ret = bitmap_list_load(bs, &old_list, errp);
    if (ret < 0) {
        return ret;
    }
    new_list = g_array_new(false, true, sizeof(Qcow2Bitmap));
    replaced = g_array_new(false, true, sizeof(Qcow2Bitmap));

    /*
     * The directory keeps its order (QEMU's): a rewritten bitmap takes the
     * place of its old entry, new ones are appended.
     */
    for (i = 0; i < old_list->len; i++) {
        Qcow2Bitmap bm = g_array_index(old_list, Qcow2Bitmap, i);

        bitmap = bdrv_find_dirty_bitmap(bs, bm.name);
        bm.name = g_strdup(bm.name);
        if (bitmap && bdrv_dirty_bitmap_should_store(bitmap) &&
            !bdrv_dirty_bitmap_readonly(bitmap)) {
            g_array_append_val(replaced, bm);
            ret = store_bitmap(bs, bitmap, &bm);
            if (ret < 0) {
                goto store_fail;
            }
        }
        g_array_append_val(new_list, bm);
    }
    FOR_EACH_DIRTY_BITMAP(bs, bitmap) {
        Qcow2Bitmap bm;
        guint k;
        bool known = false;

        if (!bdrv_dirty_bitmap_should_store(bitmap) ||
            bdrv_dirty_bitmap_readonly(bitmap)) {
            continue;
        }
        for (k = 0; k < old_list->len && !known; k++) {
            known = !strcmp(g_array_index(old_list, Qcow2Bitmap, k).name,
                            bdrv_dirty_bitmap_name(bitmap));
        }
        if (known) {
            continue;
        }
        ret = store_bitmap(bs, bitmap, &bm);
        if (ret < 0) {
            goto store_fail;
        }
        g_array_append_val(new_list, bm);
        trace_qcow2_store_dirty_bitmap(bs, bm.name, bm.table_offset);
    }
    if (new_list->len > QCOW2_MAX_BITMAPS) {
        error_setg(errp, "Too many bitmaps to store");
        ret = -EFBIG;
        goto fail;
    }
    /* Data and tables reach the disk before the directory names them */
    ret = qcow2_flush_caches(bs);
    if (ret == 0) {
        ret = bitmap_list_store(bs, new_list);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to update bitmap directory");
        goto fail;
    }
    for (i = 0; i < replaced->len; i++) {
        free_bitmap_clusters(bs, &g_array_index(replaced, Qcow2Bitmap, i));
    }
    ret = 0;
    goto out;

store_fail:
    error_setg_errno(errp, -ret, "Failed to write bitmap '%s' to file",
                     bdrv_dirty_bitmap_name(bitmap));
fail:
    /* The new tables are left unreferenced: leaked, never referenced twice */
out:
    bitmap_list_free(old_list);
    bitmap_list_free(new_list);
    bitmap_list_free(replaced);
    return ret;
}

/* ---- persistence hooks ---- */

bool coroutine_fn qcow2_co_can_store_new_dirty_bitmap(BlockDriverState *bs,
                                                      const char *name,
                                                      uint32_t granularity,
                                                      Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int gbits = __builtin_ctz(granularity);
    int64_t len = bdrv_getlength(bs);

    if (s->qcow_version < 3) {
        error_setg(errp, "Cannot store dirty bitmaps in qcow2 v2 files");
        goto fail;
    }
    if (bs->open_flags & BDRV_O_INACTIVE) {
        /* the image belongs to someone else until activation re-reads it */
        error_setg(errp, "Cannot store dirty bitmaps in inactive node '%s'",
                   bdrv_get_node_name(bs));
        goto fail;
    }
    if (gbits > BME_MAX_GRANULARITY_BITS) {
        error_setg(errp, "Granularity exceeds maximum (%llu bytes)",
                   1ULL << BME_MAX_GRANULARITY_BITS);
        goto fail;
    }
    if (gbits < BME_MIN_GRANULARITY_BITS) {
        error_setg(errp, "Granularity is under minimum (%llu bytes)",
                   1ULL << BME_MIN_GRANULARITY_BITS);
        goto fail;
    }
    if (len >= 0 && ROUND_UP(bitmap_data_bytes(len, gbits), s->cluster_size) >
                    BME_MAX_PHYS_SIZE) {
        error_setg(errp, "Too much space will be occupied by the bitmap. "
                   "Use larger granularity");
        goto fail;
    }
    if (strlen(name) > BME_MAX_NAME_SIZE) {
        error_setg(errp, "Name length exceeds maximum (%u characters)",
                   BME_MAX_NAME_SIZE);
        goto fail;
    }
    if (!bitmaps_in_use(s)) {
        return true;
    }
    if (s->bitmaps_ext.nb_bitmaps >= QCOW2_MAX_BITMAPS) {
        error_setg(errp, "Maximum number of persistent bitmaps is already "
                   "reached");
        goto fail;
    }
    if (s->bitmaps_ext.bitmap_directory_size + dir_entry_size(strlen(name)) >
        QCOW2_MAX_BITMAP_DIRECTORY_SIZE) {
        error_setg(errp, "Not enough space in the bitmap directory");
        goto fail;
    }
    return true;

fail:
    error_prepend(errp, "Can't make bitmap '%s' persistent in '%s': ", name,
                  bdrv_get_node_name(bs));
    return false;
}

int coroutine_fn qcow2_co_remove_persistent_dirty_bitmap(BlockDriverState *bs,
                                                         const char *name,
                                                         Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    GArray *list;
    Qcow2Bitmap removed = { 0 };
    bool found = false;
    guint i;
    int ret;

    qemu_co_mutex_lock(&s->lock);
    if (!bitmaps_in_use(s)) {
        ret = 0;        /* never stored: nothing to remove */
        goto unlock;
    }
    ret = bitmap_list_load(bs, &list, errp);
    if (ret < 0) {
        goto unlock;
    }
    for (i = 0; i < list->len; i++) {
        Qcow2Bitmap *bm = &g_array_index(list, Qcow2Bitmap, i);

        if (!strcmp(bm->name, name)) {
            removed = *bm;
            g_array_remove_index(list, i);
            found = true;
            break;
        }
    }
    if (found) {
        ret = bitmap_list_store(bs, list);
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to update bitmap directory");
        } else {
            free_bitmap_clusters(bs, &removed);
        }
        g_free(removed.name);
    }
    bitmap_list_free(list);
unlock:
    qemu_co_mutex_unlock(&s->lock);
    return ret;
}

/* ---- image check ---- */

int coroutine_fn qcow2_check_bitmaps_refcounts(BlockDriverState *bs,
                                               Qcow2CheckRefFunc *fn,
                                               void *opaque)
{
    BDRVQcow2State *s = bs->opaque;
    Error *local_err = NULL;
    GArray *list;
    guint i;
    int ret;

    if (!bitmaps_in_use(s)) {
        return 0;
    }
    fn(opaque, s->bitmaps_ext.bitmap_directory_offset,
       s->bitmaps_ext.bitmap_directory_size);
    ret = bitmap_list_load(bs, &list, &local_err);
    if (ret < 0) {
        fprintf(stderr, "ERROR %s\n", error_get_pretty(local_err));
        error_free(local_err);
        return ret;
    }
    for (i = 0; i < list->len; i++) {
        Qcow2Bitmap *bm = &g_array_index(list, Qcow2Bitmap, i);
        uint64_t *table;
        uint32_t j;

        fn(opaque, bm->table_offset, (uint64_t)bm->table_size * 8);
        ret = bitmap_table_load(bs, bm, &table);
        if (ret < 0) {
            fprintf(stderr, "ERROR bitmap table of '%s' is invalid\n", bm->name);
            break;
        }
        for (j = 0; j < bm->table_size; j++) {
            uint64_t off = table[j] & BME_TABLE_ENTRY_OFFSET_MASK;

            if (off) {
                fn(opaque, off, s->cluster_size);
            }
        }
        g_free(table);
    }
    bitmap_list_free(list);
    return ret;
}

/* ---- qemu-img info's "bitmaps" ---- */

typedef struct BitmapInfoCo {
    BlockDriverState *bs;
    GArray *list;
    Error *err;
    int ret;
    bool done;
} BitmapInfoCo;

static void coroutine_fn bitmap_info_co_entry(void *opaque)
{
    BitmapInfoCo *c = opaque;

    c->ret = bitmap_list_load(c->bs, &c->list, &c->err);
    c->done = true;
    aio_notify(qemu_get_aio_context());
}

Qcow2BitmapInfoList *qcow2_get_bitmap_info_list(BlockDriverState *bs, Error **errp)
{
    BDRVQcow2State *s = bs->opaque;
    BitmapInfoCo c = { .bs = bs };
    Qcow2BitmapInfoList *head = NULL, **tail = &head;
    guint i;

    if (!bitmaps_in_use(s)) {
        return NULL;
    }
    if (qemu_in_coroutine()) {
        bitmap_info_co_entry(&c);
    } else {
        qemu_coroutine_enter(qemu_coroutine_create(bitmap_info_co_entry, &c));
        AIO_POLL_WHILE(qemu_get_aio_context(), !c.done);
    }
    if (c.ret < 0) {
        error_propagate(errp, c.err);
        return NULL;
    }
    /* In directory order, as QEMU lists them */
    for (i = 0; i < c.list->len; i++) {
        Qcow2Bitmap *bm = &g_array_index(c.list, Qcow2Bitmap, i);
        Qcow2BitmapInfo *info = g_new0(Qcow2BitmapInfo, 1);
        Qcow2BitmapInfoFlagsList **ftail = &info->flags;

        info->name = g_strdup(bm->name);
        info->granularity = UINT32_C(1) << bm->granularity_bits;
        if (bm->flags & BME_FLAG_IN_USE) {
            *ftail = g_new0(Qcow2BitmapInfoFlagsList, 1);
            (*ftail)->value = QCOW2_BITMAP_INFO_FLAGS_IN_USE;
            ftail = &(*ftail)->next;
        }
        if (bm->flags & BME_FLAG_AUTO) {
            *ftail = g_new0(Qcow2BitmapInfoFlagsList, 1);
            (*ftail)->value = QCOW2_BITMAP_INFO_FLAGS_AUTO;
        }
        *tail = g_new0(Qcow2BitmapInfoList, 1);
        (*tail)->value = info;
        tail = &(*tail)->next;
    }
    bitmap_list_free(c.list);
    return head;
}
