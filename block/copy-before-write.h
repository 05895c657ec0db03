/*
 * copy-before-write.h: the copy-before-write filter's interface for the
 * backup job (insertion/removal, its block-copy state) and for the
 * snapshot-access filter (the snapshot API: point-in-time reads, block
 * status and discard).
 */
#ifndef BLOCK_COPY_BEFORE_WRITE_H
#define BLOCK_COPY_BEFORE_WRITE_H

#include "block/block_int.h"
#include "block/block-copy.h"

extern BlockDriver bdrv_cbw_filter;

/*
 * Insert a copy-before-write filter above source (a node named
 * filter_node_name, or an implicit one); it copies nothing until
 * cbw_set_target() gave it a target and a block-copy state (whose copy
 * bitmap starts clean: the caller, backup, decides what to copy).
 * discard_source: what block-copy copied is discarded on the source (the
 * filter takes the write permission on it).
 */
BlockDriverState *cbw_insert(BlockDriverState *source,
                             const char *filter_node_name, bool discard_source,
                             Error **errp);
int cbw_set_target(BlockDriverState *cbw, BlockDriverState *target,
                   OnCbwError on_cbw_error, int64_t cluster_size,
                   bool compress, Error **errp);
/* Take the filter out (parents go back to the source) and drop it. */
void cbw_drop(BlockDriverState *cbw);
BlockCopyState *cbw_get_block_copy_state(BlockDriverState *cbw);
bool bdrv_is_cbw(BlockDriverState *bs);

/* The snapshot API (0 or -errno; -EACCES outside the snapshot's area) */
int coroutine_fn cbw_snapshot_preadv(BlockDriverState *cbw, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov);
int coroutine_fn cbw_snapshot_block_status(BlockDriverState *cbw,
                                           int64_t offset, int64_t bytes,
                                           int64_t *pnum, int64_t *map,
                                           BlockDriverState **file);
int coroutine_fn cbw_snapshot_discard(BlockDriverState *cbw, int64_t offset,
                                      int64_t bytes);

#endif /* BLOCK_COPY_BEFORE_WRITE_H */
