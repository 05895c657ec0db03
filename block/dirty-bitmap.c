/*
 * dirty-bitmap.c: dirty bitmaps of block nodes (include/block/dirty-bitmap.h).
 *
 * A BdrvDirtyBitmap is an HBitmap over the node's bytes plus the state
 * QMP, jobs, exports and the format driver care about (name, enabled,
 * busy, readonly, persistent, inconsistent, successor).  The node keeps
 * its bitmaps in bs->dirty_bitmaps, newest first; the request path calls
 * bdrv_set_dirty() to mark the enabled ones.  The QMP-facing helpers
 * (lookup, merge, remove) live at the end so commands, transactions and
 * jobs share them.
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"
#include "qemu/coroutine.h"
#include "qemu/aio.h"

struct BdrvDirtyBitmap {
    BlockDriverState *bs;
    HBitmap *bitmap;
    int64_t size;                   /* bytes covered */
    char *name;                     /* NULL: anonymous */
    BdrvDirtyBitmap *successor;     /* records writes while frozen (backup) */
    bool disabled;                  /* not recording writes */
    bool busy;                      /* in use by a job, export, migration */
    bool readonly;                  /* persistent bitmap of a read-only image */
    bool inconsistent;              /* stored while in use: unusable */
    bool persistent;                /* stored by the format driver */
    bool skip_store;                /* do not store (pending removal...) */
    int active_iterators;
};

struct BdrvDirtyBitmapIter {
    HBitmapIter hbi;
    BdrvDirtyBitmap *bitmap;
};

/* ---- life cycle ---- */

BdrvDirtyBitmap *bdrv_find_dirty_bitmap(BlockDriverState *bs, const char *name)
{
    assert(name);
    for (GList *l = bs->dirty_bitmaps; l; l = l->next) {
        BdrvDirtyBitmap *bm = l->data;

        if (bm->name && !strcmp(bm->name, name)) {
            return bm;
        }
    }
    return NULL;
}

BdrvDirtyBitmap *bdrv_create_dirty_bitmap(BlockDriverState *bs,
                                          uint32_t granularity,
                                          const char *name, Error **errp)
{
    BdrvDirtyBitmap *bitmap;
    int64_t size;

    assert(granularity >= 512 && is_power_of_2(granularity));
    if (name) {
        if (bdrv_find_dirty_bitmap(bs, name)) {
            error_setg(errp, "Bitmap already exists: %s", name);
            return NULL;
        }
        if (strlen(name) > BDRV_BITMAP_MAX_NAME_SIZE) {
            error_setg(errp, "Bitmap name too long: %s", name);
            return NULL;
        }
    }
    size = bdrv_getlength(bs);
    if (size < 0) {
        error_setg_errno(errp, -size, "could not get length of device");
        errno = -size;
        return NULL;
    }
    bitmap = g_new0(BdrvDirtyBitmap, 1);
    bitmap->bs = bs;
    bitmap->bitmap = hbitmap_alloc(size, __builtin_ctz(granularity));
    bitmap->size = size;
    bitmap->name = g_strdup(name);
    bs->dirty_bitmaps = g_list_prepend(bs->dirty_bitmaps, bitmap);
    return bitmap;
}

static void bdrv_free_dirty_bitmap(BdrvDirtyBitmap *bitmap)
{
    assert(!bitmap->active_iterators);
    bitmap->bs->dirty_bitmaps = g_list_remove(bitmap->bs->dirty_bitmaps, bitmap);
    hbitmap_free(bitmap->bitmap);
    g_free(bitmap->name);
    g_free(bitmap);
}

void bdrv_release_dirty_bitmap(BdrvDirtyBitmap *bitmap)
{
    assert(!bitmap->busy);
    assert(!bitmap->successor);
    bdrv_free_dirty_bitmap(bitmap);
}

void bdrv_release_named_dirty_bitmaps(BlockDriverState *bs)
{
    GList *l, *next;

    for (l = bs->dirty_bitmaps; l; l = next) {
        BdrvDirtyBitmap *bm = l->data;

        next = l->next;
        if (bm->name && !bm->busy && !bm->successor) {
            bdrv_free_dirty_bitmap(bm);
        }
    }
}

void bdrv_release_all_dirty_bitmaps(BlockDriverState *bs)
{
    while (bs->dirty_bitmaps) {
        BdrvDirtyBitmap *bm = bs->dirty_bitmaps->data;

        /* The node goes away: whoever held these is gone too */
        bm->busy = false;
        bm->successor = NULL;
        bm->active_iterators = 0;
        bdrv_free_dirty_bitmap(bm);
    }
}

BdrvDirtyBitmap *bdrv_dirty_bitmap_first(BlockDriverState *bs)
{
    return bs->dirty_bitmaps ? bs->dirty_bitmaps->data : NULL;
}

BdrvDirtyBitmap *bdrv_dirty_bitmap_next(BdrvDirtyBitmap *bitmap)
{
    GList *l = g_list_find(bitmap->bs->dirty_bitmaps, bitmap);

    return l && l->next ? l->next->data : NULL;
}

bool bdrv_has_named_bitmaps(BlockDriverState *bs)
{
    for (GList *l = bs->dirty_bitmaps; l; l = l->next) {
        if (((BdrvDirtyBitmap *)l->data)->name) {
            return true;
        }
    }
    return false;
}

bool bdrv_has_readonly_bitmaps(BlockDriverState *bs)
{
    for (GList *l = bs->dirty_bitmaps; l; l = l->next) {
        if (((BdrvDirtyBitmap *)l->data)->readonly) {
            return true;
        }
    }
    return false;
}

int bdrv_dirty_bitmap_check(const BdrvDirtyBitmap *bitmap, uint32_t flags,
                            Error **errp)
{
    if ((flags & BDRV_BITMAP_BUSY) && bitmap->busy) {
        error_setg(errp, "Bitmap '%s' is currently in use by another"
                   " operation and cannot be used", bitmap->name);
        return -1;
    }
    if ((flags & BDRV_BITMAP_RO) && bitmap->readonly) {
        error_setg(errp, "Bitmap '%s' is readonly and cannot be modified",
                   bitmap->name);
        return -1;
    }
    if ((flags & BDRV_BITMAP_INCONSISTENT) && bitmap->inconsistent) {
        error_setg(errp, "Bitmap '%s' is inconsistent and cannot be used",
                   bitmap->name);
        error_append_hint(errp, "Try block-dirty-bitmap-remove to delete"
                          " this bitmap from disk\n");
        return -1;
    }
    return 0;
}

uint32_t bdrv_get_default_bitmap_granularity(BlockDriverState *bs)
{
    BlockDriverInfo bdi = { 0 };

    if (bdrv_get_info(bs, &bdi) >= 0 && bdi.cluster_size > 0) {
        return MIN(65536, MAX(4096, bdi.cluster_size));
    }
    return 65536;
}

/* ---- properties ---- */

const char *bdrv_dirty_bitmap_name(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->name;
}

BlockDriverState *bdrv_dirty_bitmap_bs(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->bs;
}

uint32_t bdrv_dirty_bitmap_granularity(const BdrvDirtyBitmap *bitmap)
{
    return UINT32_C(1) << hbitmap_granularity(bitmap->bitmap);
}

int64_t bdrv_dirty_bitmap_size(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->size;
}

int64_t bdrv_get_dirty_count(BdrvDirtyBitmap *bitmap)
{
    return hbitmap_count(bitmap->bitmap);
}

bool bdrv_dirty_bitmap_enabled(BdrvDirtyBitmap *bitmap)
{
    return !bitmap->disabled;
}

/* Recording: enabled itself, or through its successor (QEMU's "recording") */
static bool bdrv_dirty_bitmap_recording(BdrvDirtyBitmap *bitmap)
{
    return !bitmap->disabled ||
           (bitmap->successor && !bitmap->successor->disabled);
}

void bdrv_enable_dirty_bitmap_locked(BdrvDirtyBitmap *bitmap)
{
    bitmap->disabled = false;
}

void bdrv_enable_dirty_bitmap(BdrvDirtyBitmap *bitmap)
{
    bdrv_enable_dirty_bitmap_locked(bitmap);
}

void bdrv_disable_dirty_bitmap(BdrvDirtyBitmap *bitmap)
{
    bitmap->disabled = true;
}

bool bdrv_dirty_bitmap_get_persistence(BdrvDirtyBitmap *bitmap)
{
    return bitmap->persistent && !bitmap->skip_store;
}

void bdrv_dirty_bitmap_set_persistence(BdrvDirtyBitmap *bitmap, bool persistent)
{
    bitmap->persistent = persistent;
}

bool bdrv_dirty_bitmap_inconsistent(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->inconsistent;
}

void bdrv_dirty_bitmap_set_inconsistent(BdrvDirtyBitmap *bitmap)
{
    /* As QEMU: only persistent bitmaps can be inconsistent; never recording */
    assert(bitmap->persistent);
    bitmap->inconsistent = true;
    bitmap->disabled = true;
}

bool bdrv_dirty_bitmap_busy(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->busy;
}

void bdrv_dirty_bitmap_set_busy(BdrvDirtyBitmap *bitmap, bool busy)
{
    bitmap->busy = busy;
}

bool bdrv_dirty_bitmap_readonly(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->readonly;
}

void bdrv_dirty_bitmap_set_readonly(BdrvDirtyBitmap *bitmap, bool value)
{
    bitmap->readonly = value;
}

void bdrv_dirty_bitmap_skip_store(BdrvDirtyBitmap *bitmap, bool skip)
{
    bitmap->skip_store = skip;
}

bool bdrv_dirty_bitmap_get_skip_store(const BdrvDirtyBitmap *bitmap)
{
    return bitmap->skip_store;
}

bool bdrv_dirty_bitmap_should_store(BdrvDirtyBitmap *bitmap)
{
    return bitmap->name && bitmap->persistent && !bitmap->skip_store &&
           !bitmap->inconsistent;
}

bool bdrv_dirty_bitmap_has_successor(BdrvDirtyBitmap *bitmap)
{
    return bitmap->successor != NULL;
}

void bdrv_dirty_bitmap_lock(BdrvDirtyBitmap *bitmap)
{
}

void bdrv_dirty_bitmap_unlock(BdrvDirtyBitmap *bitmap)
{
}

/* ---- contents ---- */

bool bdrv_dirty_bitmap_get(BdrvDirtyBitmap *bitmap, int64_t offset)
{
    return hbitmap_get(bitmap->bitmap, offset);
}

void bdrv_set_dirty_bitmap(BdrvDirtyBitmap *bitmap, int64_t offset, int64_t bytes)
{
    assert(!bitmap->readonly);
    hbitmap_set(bitmap->bitmap, offset, bytes);
}

void bdrv_reset_dirty_bitmap(BdrvDirtyBitmap *bitmap, int64_t offset, int64_t bytes)
{
    assert(!bitmap->readonly);
    hbitmap_reset(bitmap->bitmap, offset, bytes);
}

void bdrv_dirty_bitmap_set_all(BdrvDirtyBitmap *bitmap)
{
    bdrv_set_dirty_bitmap(bitmap, 0, bitmap->size);
}

void bdrv_clear_dirty_bitmap(BdrvDirtyBitmap *bitmap, HBitmap **out)
{
    assert(!bitmap->readonly);
    if (!out) {
        hbitmap_reset_all(bitmap->bitmap);
        return;
    }
    assert(!bitmap->active_iterators);
    *out = bitmap->bitmap;
    bitmap->bitmap = hbitmap_alloc(bitmap->size, hbitmap_granularity(*out));
}

void bdrv_restore_dirty_bitmap(BdrvDirtyBitmap *bitmap, HBitmap *backup)
{
    HBitmap *old = bitmap->bitmap;

    assert(!bitmap->readonly);
    assert(!bitmap->active_iterators);
    bitmap->bitmap = backup;
    hbitmap_free(old);
}

bool bdrv_dirty_bitmap_merge_internal(BdrvDirtyBitmap *dest,
                                      const BdrvDirtyBitmap *src,
                                      HBitmap **backup, bool lock)
{
    bool ret;

    assert(!dest->readonly);
    assert(!dest->inconsistent);
    assert(!src->inconsistent);
    if (backup) {
        assert(!dest->active_iterators);
        *backup = dest->bitmap;
        dest->bitmap = hbitmap_alloc(dest->size, hbitmap_granularity(*backup));
        ret = hbitmap_merge(*backup, src->bitmap, dest->bitmap);
    } else {
        ret = hbitmap_merge(dest->bitmap, src->bitmap, dest->bitmap);
    }
    return ret;
}

bool bdrv_merge_dirty_bitmap(BdrvDirtyBitmap *dest, const BdrvDirtyBitmap *src,
                             HBitmap **backup, Error **errp)
{
    if (bdrv_dirty_bitmap_check(dest, BDRV_BITMAP_DEFAULT, errp)) {
        return false;
    }
    if (bdrv_dirty_bitmap_check(src, BDRV_BITMAP_ALLOW_RO, errp)) {
        return false;
    }
    if (src->size != dest->size) {
        error_setg(errp, "Bitmaps are of different sizes (destination size is %"
                   PRId64 ", source size is %" PRId64 ") and can't be merged",
                   dest->size, src->size);
        return false;
    }
    return bdrv_dirty_bitmap_merge_internal(dest, src, backup, false);
}

int64_t bdrv_dirty_bitmap_next_dirty(BdrvDirtyBitmap *bitmap, int64_t offset,
                                     int64_t bytes)
{
    return hbitmap_next_dirty(bitmap->bitmap, offset, bytes);
}

int64_t bdrv_dirty_bitmap_next_zero(BdrvDirtyBitmap *bitmap, int64_t offset,
                                    int64_t bytes)
{
    return hbitmap_next_zero(bitmap->bitmap, offset, bytes);
}

bool bdrv_dirty_bitmap_next_dirty_area(BdrvDirtyBitmap *bitmap, int64_t start,
                                       int64_t end, int64_t max_dirty_count,
                                       int64_t *dirty_start, int64_t *dirty_count)
{
    return hbitmap_next_dirty_area(bitmap->bitmap, start, end, max_dirty_count,
                                   dirty_start, dirty_count);
}

bool bdrv_dirty_bitmap_status(BdrvDirtyBitmap *bitmap, int64_t offset,
                              int64_t bytes, int64_t *count)
{
    return hbitmap_status(bitmap->bitmap, offset, bytes, count);
}

BdrvDirtyBitmapIter *bdrv_dirty_iter_new(BdrvDirtyBitmap *bitmap)
{
    BdrvDirtyBitmapIter *iter = g_new0(BdrvDirtyBitmapIter, 1);

    hbitmap_iter_init(&iter->hbi, bitmap->bitmap, 0);
    iter->bitmap = bitmap;
    bitmap->active_iterators++;
    return iter;
}

int64_t bdrv_dirty_iter_next(BdrvDirtyBitmapIter *iter)
{
    return hbitmap_iter_next(&iter->hbi);
}

void bdrv_set_dirty_iter(BdrvDirtyBitmapIter *iter, int64_t offset)
{
    hbitmap_iter_init(&iter->hbi, iter->bitmap->bitmap, offset);
}

void bdrv_dirty_iter_free(BdrvDirtyBitmapIter *iter)
{
    if (!iter) {
        return;
    }
    assert(iter->bitmap->active_iterators > 0);
    iter->bitmap->active_iterators--;
    g_free(iter);
}

char *bdrv_dirty_bitmap_sha256(const BdrvDirtyBitmap *bitmap, Error **errp)
{
    return hbitmap_sha256(bitmap->bitmap, errp);
}

/* ---- serialisation ---- */

uint64_t bdrv_dirty_bitmap_serialization_size(const BdrvDirtyBitmap *bitmap,
                                              uint64_t offset, uint64_t bytes)
{
    return hbitmap_serialization_size(bitmap->bitmap, offset, bytes);
}

uint64_t bdrv_dirty_bitmap_serialization_align(const BdrvDirtyBitmap *bitmap)
{
    return hbitmap_serialization_align(bitmap->bitmap);
}

uint64_t bdrv_dirty_bitmap_serialization_coverage(int serialized_chunk_size,
                                                  const BdrvDirtyBitmap *bitmap)
{
    uint64_t granularity = bdrv_dirty_bitmap_granularity(bitmap);
    uint64_t limit = granularity * ((uint64_t)serialized_chunk_size << 3);

    assert(QEMU_IS_ALIGNED(limit, bdrv_dirty_bitmap_serialization_align(bitmap)));
    return limit;
}

void bdrv_dirty_bitmap_serialize_part(const BdrvDirtyBitmap *bitmap,
                                      uint8_t *buf, uint64_t offset,
                                      uint64_t bytes)
{
    hbitmap_serialize_part(bitmap->bitmap, buf, offset, bytes);
}

void bdrv_dirty_bitmap_deserialize_part(BdrvDirtyBitmap *bitmap,
                                        uint8_t *buf, uint64_t offset,
                                        uint64_t bytes, bool finish)
{
    hbitmap_deserialize_part(bitmap->bitmap, buf, offset, bytes, finish);
}

void bdrv_dirty_bitmap_deserialize_zeroes(BdrvDirtyBitmap *bitmap,
                                          uint64_t offset, uint64_t bytes,
                                          bool finish)
{
    hbitmap_deserialize_zeroes(bitmap->bitmap, offset, bytes, finish);
}

void bdrv_dirty_bitmap_deserialize_ones(BdrvDirtyBitmap *bitmap,
                                        uint64_t offset, uint64_t bytes,
                                        bool finish)
{
    hbitmap_deserialize_ones(bitmap->bitmap, offset, bytes, finish);
}

void bdrv_dirty_bitmap_deserialize_finish(BdrvDirtyBitmap *bitmap)
{
    hbitmap_deserialize_finish(bitmap->bitmap);
}

/* ---- successors ---- */

int bdrv_dirty_bitmap_create_successor(BdrvDirtyBitmap *bitmap, Error **errp)
{
    BdrvDirtyBitmap *child;

    if (bitmap->busy) {
        error_setg(errp, "Cannot create a successor for a bitmap that is "
                   "in-use by an operation");
        return -1;
    }
    if (bitmap->successor) {
        error_setg(errp, "Cannot create a successor for a bitmap that "
                   "already has one");
        return -1;
    }
    child = bdrv_create_dirty_bitmap(bitmap->bs,
                                     bdrv_dirty_bitmap_granularity(bitmap),
                                     NULL, errp);
    if (!child) {
        return -1;
    }
    /* The successor records as the parent did; the parent is frozen */
    child->disabled = bitmap->disabled;
    bitmap->disabled = true;
    bitmap->successor = child;
    bitmap->busy = true;
    return 0;
}

void bdrv_dirty_bitmap_enable_successor(BdrvDirtyBitmap *bitmap)
{
    assert(bitmap->successor);
    bitmap->successor->disabled = false;
}

BdrvDirtyBitmap *bdrv_dirty_bitmap_abdicate(BdrvDirtyBitmap *bitmap, Error **errp)
{
    BdrvDirtyBitmap *successor = bitmap->successor;

    if (!successor) {
        error_setg(errp, "Cannot relinquish control if there's no successor present");
        return NULL;
    }
    successor->name = bitmap->name;
    bitmap->name = NULL;
    successor->persistent = bitmap->persistent;
    bitmap->persistent = false;
    bitmap->successor = NULL;
    bitmap->busy = false;
    bdrv_release_dirty_bitmap(bitmap);
    return successor;
}

BdrvDirtyBitmap *bdrv_reclaim_dirty_bitmap(BdrvDirtyBitmap *bitmap, Error **errp)
{
    BdrvDirtyBitmap *successor = bitmap->successor;

    if (!successor) {
        error_setg(errp, "Cannot reclaim a successor when none is present");
        return NULL;
    }
    hbitmap_merge(bitmap->bitmap, successor->bitmap, bitmap->bitmap);
    bitmap->disabled = successor->disabled;
    bitmap->busy = false;
    bitmap->successor = NULL;
    bdrv_release_dirty_bitmap(successor);
    return bitmap;
}

/* ---- hooks for the block core ---- */

void bdrv_set_dirty(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    for (GList *l = bs->dirty_bitmaps; l; l = l->next) {
        BdrvDirtyBitmap *bm = l->data;

        if (bm->disabled) {
            continue;
        }
        assert(!bm->readonly);
        hbitmap_set(bm->bitmap, offset, bytes);
    }
}

void bdrv_dirty_bitmap_truncate(BlockDriverState *bs, int64_t bytes)
{
    for (GList *l = bs->dirty_bitmaps; l; l = l->next) {
        BdrvDirtyBitmap *bm = l->data;

        hbitmap_truncate(bm->bitmap, bytes);
        bm->size = bytes;
    }
}

BlockDirtyInfoList *bdrv_query_dirty_bitmaps(BlockDriverState *bs)
{
    BlockDirtyInfoList *list = NULL, **tail = &list;

    for (GList *l = bs->dirty_bitmaps; l; l = l->next) {
        BdrvDirtyBitmap *bm = l->data;
        BlockDirtyInfo *info = g_new0(BlockDirtyInfo, 1);
        BlockDirtyInfoList *e = g_new0(BlockDirtyInfoList, 1);

        info->name = g_strdup(bm->name);
        info->count = bdrv_get_dirty_count(bm);
        info->granularity = bdrv_dirty_bitmap_granularity(bm);
        info->recording = bdrv_dirty_bitmap_recording(bm);
        info->busy = bm->busy;
        info->persistent = bm->persistent;
        info->has_inconsistent = bm->inconsistent;
        info->inconsistent = bm->inconsistent;
        e->value = info;
        *tail = e;
        tail = &e->next;
    }
    return list;
}

/* ---- persistence: the driver's coroutine hooks, from anywhere ---- */

typedef struct BitmapStoreCo {
    BlockDriverState *bs;
    const char *name;
    uint32_t granularity;
    Error **errp;
    bool can_store;                 /* can_store: the answer */
    int ret;                        /* remove: the result */
    bool remove;
    bool done;
} BitmapStoreCo;

static void coroutine_fn bitmap_store_co_entry(void *opaque)
{
    BitmapStoreCo *s = opaque;
    const BlockDriver *drv = s->bs->drv;

    if (s->remove) {
        s->ret = drv->bdrv_co_remove_persistent_dirty_bitmap(s->bs, s->name,
                                                             s->errp);
    } else {
        s->can_store = drv->bdrv_co_can_store_new_dirty_bitmap(s->bs, s->name,
                                                               s->granularity,
                                                               s->errp);
    }
    s->done = true;
    aio_notify(qemu_get_aio_context());
}

static void bitmap_store_run(BitmapStoreCo *s)
{
    if (qemu_in_coroutine()) {
        bitmap_store_co_entry(s);
        return;
    }
    qemu_coroutine_enter(qemu_coroutine_create(bitmap_store_co_entry, s));
    AIO_POLL_WHILE(qemu_get_aio_context(), !s->done);
}

static const char *bdrv_device_or_node_name(BlockDriverState *bs)
{
    return bs->node_name[0] ? bs->node_name : "";
}

bool bdrv_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                     uint32_t granularity, Error **errp)
{
    BitmapStoreCo s = {
        .bs = bs, .name = name, .granularity = granularity, .errp = errp,
    };

    if (!bs->drv) {
        error_setg_errno(errp, ENOMEDIUM, "Can't store persistent bitmaps to %s",
                         bdrv_device_or_node_name(bs));
        return false;
    }
    if (!bs->drv->bdrv_co_can_store_new_dirty_bitmap) {
        error_setg_errno(errp, ENOTSUP, "Can't store persistent bitmaps to %s",
                         bdrv_device_or_node_name(bs));
        return false;
    }
    bitmap_store_run(&s);
    return s.can_store;
}

int bdrv_remove_persistent_dirty_bitmap(BlockDriverState *bs, const char *name,
                                        Error **errp)
{
    BitmapStoreCo s = { .bs = bs, .name = name, .errp = errp, .remove = true };

    if (!bs->drv || !bs->drv->bdrv_co_remove_persistent_dirty_bitmap) {
        /* Nothing stored (QEMU: a driver without the hook has nothing to remove) */
        return 0;
    }
    bitmap_store_run(&s);
    return s.ret;
}

/* ---- QMP helpers ---- */

BdrvDirtyBitmap *block_dirty_bitmap_lookup(const char *node, const char *name,
                                           BlockDriverState **pbs, Error **errp)
{
    BlockDriverState *bs;
    BdrvDirtyBitmap *bitmap;

    if (!node) {
        error_setg(errp, "Node cannot be NULL");
        return NULL;
    }
    if (!name) {
        error_setg(errp, "Bitmap name cannot be NULL");
        return NULL;
    }
    bs = bdrv_lookup_bs(node, node, NULL);
    if (!bs) {
        error_setg(errp, "Node '%s' not found", node);
        return NULL;
    }
    bitmap = bdrv_find_dirty_bitmap(bs, name);
    if (!bitmap) {
        error_setg(errp, "Dirty bitmap '%s' not found", name);
        return NULL;
    }
    if (pbs) {
        *pbs = bs;
    }
    return bitmap;
}

BdrvDirtyBitmap *block_dirty_bitmap_merge(const char *node, const char *target,
                                          BlockDirtyBitmapOrStrList *bms,
                                          HBitmap **backup, Error **errp)
{
    BlockDriverState *bs;
    BdrvDirtyBitmap *dst, *src, *anon, *ret = NULL;

    dst = block_dirty_bitmap_lookup(node, target, &bs, errp);
    if (!dst || bdrv_dirty_bitmap_check(dst, BDRV_BITMAP_DEFAULT, errp)) {
        return NULL;
    }
    /* Sources are gathered in a scratch bitmap so dst changes all or nothing */
    anon = bdrv_create_dirty_bitmap(bs, bdrv_dirty_bitmap_granularity(dst),
                                    NULL, errp);
    if (!anon) {
        return NULL;
    }
    /* Not recording: it must only hold the sources */
    bdrv_disable_dirty_bitmap(anon);
    for (BlockDirtyBitmapOrStrList *l = bms; l; l = l->next) {
        BlockDirtyBitmapOrStr *b = l->value;

        if (b->type == QTYPE_QSTRING) {
            src = bdrv_find_dirty_bitmap(bs, b->u.local);
            if (!src) {
                error_setg(errp, "Dirty bitmap '%s' not found", b->u.local);
                goto out;
            }
        } else {
            src = block_dirty_bitmap_lookup(b->u.external->node,
                                            b->u.external->name, NULL, errp);
            if (!src) {
                goto out;
            }
        }
        if (!bdrv_merge_dirty_bitmap(anon, src, NULL, errp)) {
            goto out;
        }
    }
    if (!bdrv_merge_dirty_bitmap(dst, anon, backup, errp)) {
        goto out;
    }
    ret = dst;
out:
    bdrv_release_dirty_bitmap(anon);
    return ret;
}

BdrvDirtyBitmap *block_dirty_bitmap_remove(const char *node, const char *name,
                                           bool release,
                                           BlockDriverState **bitmap_bs,
                                           Error **errp)
{
    BlockDriverState *bs;
    BdrvDirtyBitmap *bitmap;

    bitmap = block_dirty_bitmap_lookup(node, name, &bs, errp);
    if (!bitmap) {
        return NULL;
    }
    if (bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_BUSY | BDRV_BITMAP_RO, errp)) {
        return NULL;
    }
    if (bitmap->persistent &&
        bdrv_remove_persistent_dirty_bitmap(bs, name, errp) < 0) {
        return NULL;
    }
    if (bitmap_bs) {
        *bitmap_bs = bs;
    }
    if (release) {
        bdrv_release_dirty_bitmap(bitmap);
        return NULL;
    }
    /* Transaction prepare: hidden from users until commit or abort */
    bitmap->busy = true;
    bitmap->skip_store = true;
    return bitmap;
}
