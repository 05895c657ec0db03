/*
 * qmp-bitmaps.c: QMP handlers of the dirty bitmap commands
 * (block-dirty-bitmap-add/-remove/-clear/-enable/-disable/-merge,
 * x-debug-block-dirty-bitmap-sha256), with QEMU's checks and errors.
 * The bitmaps themselves: block/dirty-bitmap.c.
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"
#include "qapi/qapi-commands.h"

void qmp_block_dirty_bitmap_add(const char *node, const char *name,
                                bool has_granularity, uint32_t granularity,
                                bool has_persistent, bool persistent,
                                bool has_disabled, bool disabled,
                                Error **errp)
{
    BlockDriverState *bs;
    BdrvDirtyBitmap *bitmap;

    if (!name || name[0] == '\0') {
        error_setg(errp, "Bitmap name cannot be empty");
        return;
    }
    bs = bdrv_lookup_bs(node, node, errp);
    if (!bs) {
        return;
    }
    if (has_granularity) {
        if (granularity < 512 || !is_power_of_2(granularity)) {
            error_setg(errp, "Granularity must be power of 2 and at least 512");
            return;
        }
    } else {
        granularity = bdrv_get_default_bitmap_granularity(bs);
    }
    if (!has_persistent) {
        persistent = false;
    }
    if (!has_disabled) {
        disabled = false;
    }
    if (persistent &&
        !bdrv_can_store_new_dirty_bitmap(bs, name, granularity, errp)) {
        return;
    }
    bitmap = bdrv_create_dirty_bitmap(bs, granularity, name, errp);
    if (!bitmap) {
        return;
    }
    if (disabled) {
        bdrv_disable_dirty_bitmap(bitmap);
    }
    bdrv_dirty_bitmap_set_persistence(bitmap, persistent);
}

void qmp_block_dirty_bitmap_remove(const char *node, const char *name,
                                   Error **errp)
{
    block_dirty_bitmap_remove(node, name, true, NULL, errp);
}

void qmp_block_dirty_bitmap_clear(const char *node, const char *name,
                                  Error **errp)
{
    BdrvDirtyBitmap *bitmap = block_dirty_bitmap_lookup(node, name, NULL, errp);

    if (!bitmap || bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_DEFAULT, errp)) {
        return;
    }
    bdrv_clear_dirty_bitmap(bitmap, NULL);
}

void qmp_block_dirty_bitmap_enable(const char *node, const char *name,
                                   Error **errp)
{
    BdrvDirtyBitmap *bitmap = block_dirty_bitmap_lookup(node, name, NULL, errp);

    if (!bitmap || bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_ALLOW_RO, errp)) {
        return;
    }
    bdrv_enable_dirty_bitmap(bitmap);
}

void qmp_block_dirty_bitmap_disable(const char *node, const char *name,
                                    Error **errp)
{
    BdrvDirtyBitmap *bitmap = block_dirty_bitmap_lookup(node, name, NULL, errp);

    if (!bitmap || bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_ALLOW_RO, errp)) {
        return;
    }
    bdrv_disable_dirty_bitmap(bitmap);
}

void qmp_block_dirty_bitmap_merge(const char *node, const char *target,
                                  BlockDirtyBitmapOrStrList *bitmaps,
                                  Error **errp)
{
    block_dirty_bitmap_merge(node, target, bitmaps, NULL, errp);
}

BlockDirtyBitmapSha256 *qmp_x_debug_block_dirty_bitmap_sha256(const char *node,
                                                              const char *name,
                                                              Error **errp)
{
    BdrvDirtyBitmap *bitmap = block_dirty_bitmap_lookup(node, name, NULL, errp);
    BlockDirtyBitmapSha256 *ret;
    char *sha256;

    if (!bitmap) {
        return NULL;
    }
    sha256 = bdrv_dirty_bitmap_sha256(bitmap, errp);
    if (!sha256) {
        return NULL;
    }
    ret = g_new0(BlockDirtyBitmapSha256, 1);
    ret->sha256 = sha256;
    return ret;
}
