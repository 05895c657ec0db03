/*
 * dirty-bitmap.h: dirty bitmaps of block nodes (block/dirty-bitmap.c).
 *
 * A BdrvDirtyBitmap records which byte ranges of a node were written
 * since it was created or cleared, at a power-of-two granularity.  Every
 * enabled bitmap of a node is marked by the request path (block/io.c
 * calls bdrv_set_dirty() once per successful write, write-zeroes, discard
 * and truncate).  Bitmaps are named (user bitmaps, QMP) or anonymous
 * (jobs).  Offsets and lengths in this interface are bytes.
 *
 * Flags, as QEMU's:
 * - busy: in use by a job, an NBD export or migration; no user changes.
 * - readonly: a persistent bitmap of a read-only image; may not change
 *   (and writes to the image are refused while it exists).
 * - inconsistent: a persistent bitmap found in use (not stored cleanly);
 *   only removal is allowed.
 * - persistent: the format driver stores it at close/inactivation (qcow2).
 *
 * Successors (backup): create_successor freezes a bitmap (busy) and hangs
 * a fresh anonymous one behind it that records new writes; abdicate
 * makes the successor replace the parent (job succeeded), reclaim merges
 * the successor back into the parent (job failed).
 *
 * Everything runs in the main loop; the lock functions exist for QEMU
 * shaped callers and do nothing.
 */
#ifndef BLOCK_DIRTY_BITMAP_H
#define BLOCK_DIRTY_BITMAP_H

#include "block/block.h"
#include "qemu/hbitmap.h"
#include "qapi/qapi-types.h"

typedef struct BdrvDirtyBitmap BdrvDirtyBitmap;
typedef struct BdrvDirtyBitmapIter BdrvDirtyBitmapIter;

/* Flags for bdrv_dirty_bitmap_check(): which states refuse the operation */
typedef enum BitmapCheckFlags {
    BDRV_BITMAP_BUSY = 1,
    BDRV_BITMAP_RO = 2,
    BDRV_BITMAP_INCONSISTENT = 4,
} BitmapCheckFlags;

#define BDRV_BITMAP_DEFAULT (BDRV_BITMAP_BUSY | BDRV_BITMAP_RO | \
                             BDRV_BITMAP_INCONSISTENT)
#define BDRV_BITMAP_ALLOW_RO (BDRV_BITMAP_BUSY | BDRV_BITMAP_INCONSISTENT)

#define BDRV_BITMAP_MAX_NAME_SIZE 1023

/* ---- life cycle ---- */

/*
 * A new, enabled, clean bitmap covering the node's current length.
 * granularity: power of two >= 512 (asserted; QMP validates).  name may
 * be NULL (anonymous).  Errors: "Bitmap already exists: %s", "Bitmap name
 * too long: %s", and a failing bdrv_getlength().
 */
BdrvDirtyBitmap *bdrv_create_dirty_bitmap(BlockDriverState *bs,
                                          uint32_t granularity,
                                          const char *name, Error **errp);
/* Releases a bitmap (with its successor, if any) that is not busy. */
void bdrv_release_dirty_bitmap(BdrvDirtyBitmap *bitmap);
/* Releases every named bitmap of bs (at close, after the driver stored its persistent ones). */
void bdrv_release_named_dirty_bitmaps(BlockDriverState *bs);
/* Releases all bitmaps of bs (node deletion). */
void bdrv_release_all_dirty_bitmaps(BlockDriverState *bs);

BdrvDirtyBitmap *bdrv_find_dirty_bitmap(BlockDriverState *bs, const char *name);
/* Newest first, as QEMU lists them; anonymous ones included. */
BdrvDirtyBitmap *bdrv_dirty_bitmap_first(BlockDriverState *bs);
BdrvDirtyBitmap *bdrv_dirty_bitmap_next(BdrvDirtyBitmap *bitmap);
#define FOR_EACH_DIRTY_BITMAP(bs, bitmap) \
    for ((bitmap) = bdrv_dirty_bitmap_first(bs); (bitmap); \
         (bitmap) = bdrv_dirty_bitmap_next(bitmap))

bool bdrv_has_named_bitmaps(BlockDriverState *bs);
bool bdrv_has_readonly_bitmaps(BlockDriverState *bs);

/*
 * 0 if the bitmap may be used as flags allow, else -1 with QEMU's
 * errors: "Bitmap '%s' is currently in use by another operation and
 * cannot be used", "Bitmap '%s' is readonly and cannot be modified",
 * "Bitmap '%s' is inconsistent and cannot be used" (+ hint).
 */
int bdrv_dirty_bitmap_check(const BdrvDirtyBitmap *bitmap, uint32_t flags,
                            Error **errp);

/* Default for block-dirty-bitmap-add: cluster size clamped to [4 KiB, 64 KiB], else 64 KiB */
uint32_t bdrv_get_default_bitmap_granularity(BlockDriverState *bs);

/* ---- properties ---- */

const char *bdrv_dirty_bitmap_name(const BdrvDirtyBitmap *bitmap);
BlockDriverState *bdrv_dirty_bitmap_bs(const BdrvDirtyBitmap *bitmap);
uint32_t bdrv_dirty_bitmap_granularity(const BdrvDirtyBitmap *bitmap);
int64_t bdrv_dirty_bitmap_size(const BdrvDirtyBitmap *bitmap);
/* Dirty bytes (whole granules; the last one clipped to the size) */
int64_t bdrv_get_dirty_count(BdrvDirtyBitmap *bitmap);

bool bdrv_dirty_bitmap_enabled(BdrvDirtyBitmap *bitmap);
void bdrv_enable_dirty_bitmap(BdrvDirtyBitmap *bitmap);
void bdrv_disable_dirty_bitmap(BdrvDirtyBitmap *bitmap);
void bdrv_enable_dirty_bitmap_locked(BdrvDirtyBitmap *bitmap);

bool bdrv_dirty_bitmap_get_persistence(BdrvDirtyBitmap *bitmap);
void bdrv_dirty_bitmap_set_persistence(BdrvDirtyBitmap *bitmap, bool persistent);
bool bdrv_dirty_bitmap_inconsistent(const BdrvDirtyBitmap *bitmap);
void bdrv_dirty_bitmap_set_inconsistent(BdrvDirtyBitmap *bitmap);
bool bdrv_dirty_bitmap_busy(const BdrvDirtyBitmap *bitmap);
void bdrv_dirty_bitmap_set_busy(BdrvDirtyBitmap *bitmap, bool busy);
bool bdrv_dirty_bitmap_readonly(const BdrvDirtyBitmap *bitmap);
void bdrv_dirty_bitmap_set_readonly(BdrvDirtyBitmap *bitmap, bool value);
/* Do not store this persistent bitmap at close (pending removal, migration). */
void bdrv_dirty_bitmap_skip_store(BdrvDirtyBitmap *bitmap, bool skip);
bool bdrv_dirty_bitmap_get_skip_store(const BdrvDirtyBitmap *bitmap);
/* Persistent, named, not inconsistent and not skip_store: the driver stores it */
bool bdrv_dirty_bitmap_should_store(BdrvDirtyBitmap *bitmap);

bool bdrv_dirty_bitmap_has_successor(BdrvDirtyBitmap *bitmap);

/* No-ops (single-threaded); kept so QEMU-shaped code reads the same. */
void bdrv_dirty_bitmap_lock(BdrvDirtyBitmap *bitmap);
void bdrv_dirty_bitmap_unlock(BdrvDirtyBitmap *bitmap);

/* ---- contents ---- */

bool bdrv_dirty_bitmap_get(BdrvDirtyBitmap *bitmap, int64_t offset);
void bdrv_set_dirty_bitmap(BdrvDirtyBitmap *bitmap, int64_t offset, int64_t bytes);
void bdrv_reset_dirty_bitmap(BdrvDirtyBitmap *bitmap, int64_t offset, int64_t bytes);
/* Whole bitmap */
void bdrv_dirty_bitmap_set_all(BdrvDirtyBitmap *bitmap);
/*
 * Clears the bitmap; with out != NULL the old contents are handed back
 * for bdrv_restore_dirty_bitmap() (transaction undo) or hbitmap_free().
 */
void bdrv_clear_dirty_bitmap(BdrvDirtyBitmap *bitmap, HBitmap **out);
/* Puts backup back in place (frees the current contents and takes backup). */
void bdrv_restore_dirty_bitmap(BdrvDirtyBitmap *bitmap, HBitmap *backup);

/* Aliases with the task's names */
#define bdrv_dirty_bitmap_set_dirty bdrv_set_dirty_bitmap
#define bdrv_dirty_bitmap_reset_dirty bdrv_reset_dirty_bitmap

/*
 * dest |= src (sizes must match; granularities may differ).  With
 * backup != NULL, dest's previous contents are handed back for undo.
 * Checks dest (BDRV_BITMAP_DEFAULT) and src (BDRV_BITMAP_ALLOW_RO).
 * Error: "Bitmaps are of different sizes (destination size is %d, source
 * size is %d) and can't be merged".
 */
bool bdrv_merge_dirty_bitmap(BdrvDirtyBitmap *dest, const BdrvDirtyBitmap *src,
                             HBitmap **backup, Error **errp);
/* Same without checks and without touching src's flags (jobs' internal use). */
bool bdrv_dirty_bitmap_merge_internal(BdrvDirtyBitmap *dest,
                                      const BdrvDirtyBitmap *src,
                                      HBitmap **backup, bool lock);

/* First dirty / clean byte in [offset, offset + bytes) (bytes < 0: to the end), -1 if none */
int64_t bdrv_dirty_bitmap_next_dirty(BdrvDirtyBitmap *bitmap, int64_t offset,
                                     int64_t bytes);
int64_t bdrv_dirty_bitmap_next_zero(BdrvDirtyBitmap *bitmap, int64_t offset,
                                    int64_t bytes);
/* First dirty area starting in [start, end), at most max_dirty_count bytes */
bool bdrv_dirty_bitmap_next_dirty_area(BdrvDirtyBitmap *bitmap, int64_t start,
                                       int64_t end, int64_t max_dirty_count,
                                       int64_t *dirty_start, int64_t *dirty_count);
/* Whether offset is dirty and *count bytes from it with the same state */
bool bdrv_dirty_bitmap_status(BdrvDirtyBitmap *bitmap, int64_t offset,
                              int64_t bytes, int64_t *count);

/* Iterator over dirty granules: next returns the byte offset of each, -1 at the end */
BdrvDirtyBitmapIter *bdrv_dirty_iter_new(BdrvDirtyBitmap *bitmap);
int64_t bdrv_dirty_iter_next(BdrvDirtyBitmapIter *iter);
void bdrv_set_dirty_iter(BdrvDirtyBitmapIter *iter, int64_t offset);
void bdrv_dirty_iter_free(BdrvDirtyBitmapIter *iter);

/* SHA-256 of the bottom level (x-debug-block-dirty-bitmap-sha256) */
char *bdrv_dirty_bitmap_sha256(const BdrvDirtyBitmap *bitmap, Error **errp);

/* ---- serialisation (qcow2 storage, migration): little-endian words ---- */

uint64_t bdrv_dirty_bitmap_serialization_size(const BdrvDirtyBitmap *bitmap,
                                              uint64_t offset, uint64_t bytes);
/* Byte alignment that parts must respect (64 granules) */
uint64_t bdrv_dirty_bitmap_serialization_align(const BdrvDirtyBitmap *bitmap);
/* Bytes of the disk covered by serialized_chunk_size bytes of bitmap data */
uint64_t bdrv_dirty_bitmap_serialization_coverage(int serialized_chunk_size,
                                                  const BdrvDirtyBitmap *bitmap);
void bdrv_dirty_bitmap_serialize_part(const BdrvDirtyBitmap *bitmap,
                                      uint8_t *buf, uint64_t offset,
                                      uint64_t bytes);
void bdrv_dirty_bitmap_deserialize_part(BdrvDirtyBitmap *bitmap,
                                        uint8_t *buf, uint64_t offset,
                                        uint64_t bytes, bool finish);
void bdrv_dirty_bitmap_deserialize_zeroes(BdrvDirtyBitmap *bitmap,
                                          uint64_t offset, uint64_t bytes,
                                          bool finish);
void bdrv_dirty_bitmap_deserialize_ones(BdrvDirtyBitmap *bitmap,
                                        uint64_t offset, uint64_t bytes,
                                        bool finish);
void bdrv_dirty_bitmap_deserialize_finish(BdrvDirtyBitmap *bitmap);

/* ---- successors (backup) ---- */

/* -1 if the bitmap is busy or already has one ("Cannot create a successor for a bitmap that is in-use by an operation" / "Cannot create a successor for a bitmap that already has one") */
int bdrv_dirty_bitmap_create_successor(BdrvDirtyBitmap *bitmap, Error **errp);
/* The successor takes parent's name, flags and place; parent is freed.  Returns the successor. */
BdrvDirtyBitmap *bdrv_dirty_bitmap_abdicate(BdrvDirtyBitmap *bitmap, Error **errp);
/* The successor is merged back into parent and freed; parent usable again.  Returns parent. */
BdrvDirtyBitmap *bdrv_reclaim_dirty_bitmap(BdrvDirtyBitmap *bitmap, Error **errp);
void bdrv_dirty_bitmap_enable_successor(BdrvDirtyBitmap *bitmap);

/* ---- hooks for the block core ---- */

/* Mark every enabled bitmap of bs dirty (request path, after success). */
void bdrv_set_dirty(BlockDriverState *bs, int64_t offset, int64_t bytes);
/* Resize every bitmap of bs after a truncate. */
void bdrv_dirty_bitmap_truncate(BlockDriverState *bs, int64_t bytes);

/* query-named-block-nodes: dirty-bitmaps, newest first (NULL when none) */
BlockDirtyInfoList *bdrv_query_dirty_bitmaps(BlockDriverState *bs);

/* ---- persistence: the format driver's hooks (BlockDriver in block_int.h) ---- */

/*
 * Whether a new persistent bitmap may be stored in bs: asks the driver;
 * "Can't store persistent bitmaps to %s" (node name) with reason when it
 * cannot.  Runs the driver's coroutine hook (from or outside a coroutine).
 */
bool bdrv_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                     uint32_t granularity, Error **errp);
/* Removes a stored bitmap from the image (driver hook), 0 or -errno. */
int bdrv_remove_persistent_dirty_bitmap(BlockDriverState *bs, const char *name,
                                        Error **errp);

/* ---- QMP helpers (shared by the commands, transactions and jobs) ---- */

/*
 * Finds node (by node name or device name) and its bitmap: "Node '%s'
 * not found" / "Dirty bitmap '%s' not found".  *pbs (may be NULL) gets
 * the node.
 */
BdrvDirtyBitmap *block_dirty_bitmap_lookup(const char *node, const char *name,
                                           BlockDriverState **pbs, Error **errp);
/* block-dirty-bitmap-merge: target |= each of bms (all or nothing). */
BdrvDirtyBitmap *block_dirty_bitmap_merge(const char *node, const char *target,
                                          BlockDirtyBitmapOrStrList *bms,
                                          HBitmap **backup, Error **errp);
/*
 * block-dirty-bitmap-remove: checks, removes it from the image if
 * persistent; with release=false the bitmap is made busy + skip_store
 * instead of freed (transaction prepare) and returned.
 */
BdrvDirtyBitmap *block_dirty_bitmap_remove(const char *node, const char *name,
                                           bool release,
                                           BlockDriverState **bitmap_bs,
                                           Error **errp);

#endif
