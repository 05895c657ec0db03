/*
 * block-backend.h: BlockBackend, the user-side handle on a node.
 *
 * Exports and jobs never touch nodes directly: they hold a BlockBackend
 * (a root BdrvChild with the permissions the user needs) and issue
 * requests through it.  While the node is drained, new requests wait in
 * the BlockBackend.  blk_p* functions are synchronous wrappers for code
 * outside coroutines (QMP handlers, tools).
 */
#ifndef BLOCK_BLOCK_BACKEND_H
#define BLOCK_BLOCK_BACKEND_H

#include "block/block.h"

BlockBackend *blk_new(uint64_t perm, uint64_t shared_perm);
/* Attach to bs, taking the permissions given to blk_new. */
int blk_insert_bs(BlockBackend *blk, BlockDriverState *bs, Error **errp);
/*
 * The backend is a block job's own: its node counts as busy (op blockers)
 * rather than in use by a user (blockdev-del's two errors, as QEMU).
 */
void blk_set_job_owned(BlockBackend *blk);
void blk_remove_bs(BlockBackend *blk);
void blk_ref(BlockBackend *blk);
void blk_unref(BlockBackend *blk);
BlockDriverState *blk_bs(BlockBackend *blk);
int blk_set_perm(BlockBackend *blk, uint64_t perm, uint64_t shared, Error **errp);
void blk_get_perm(BlockBackend *blk, uint64_t *perm, uint64_t *shared);
/* How the user is named in permission and busy errors, e.g. "NBD export 'e0'". */
void blk_set_user_desc(BlockBackend *blk, const char *desc);
/* Allow writes past EOF (for formats growing the image). */
void blk_set_allow_write_beyond_eof(BlockBackend *blk, bool allow);
void blk_set_allow_aio_context_change(BlockBackend *blk, bool allow);

int64_t blk_getlength(BlockBackend *blk);
bool blk_is_read_only(BlockBackend *blk);
bool blk_is_writable(BlockBackend *blk);
uint32_t blk_get_request_alignment(BlockBackend *blk);
int64_t blk_get_max_transfer(BlockBackend *blk);

int coroutine_fn blk_co_preadv(BlockBackend *blk, int64_t offset, int64_t bytes,
                               QEMUIOVector *qiov, BdrvRequestFlags flags);
int coroutine_fn blk_co_pwritev(BlockBackend *blk, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, BdrvRequestFlags flags);
int coroutine_fn blk_co_pread(BlockBackend *blk, int64_t offset, int64_t bytes,
                              void *buf, BdrvRequestFlags flags);
int coroutine_fn blk_co_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes,
                               const void *buf, BdrvRequestFlags flags);
int coroutine_fn blk_co_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes,
                                      BdrvRequestFlags flags);
int coroutine_fn blk_co_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes);
int coroutine_fn blk_co_flush(BlockBackend *blk);
int coroutine_fn blk_co_truncate(BlockBackend *blk, int64_t offset, bool exact,
                                 PreallocMode prealloc, BdrvRequestFlags flags,
                                 Error **errp);
int coroutine_fn blk_co_block_status_above(BlockBackend *blk, BlockDriverState *base,
                                           int64_t offset, int64_t bytes, int64_t *pnum,
                                           int64_t *map, BlockDriverState **file);

/* Synchronous wrappers: run the request in a coroutine and poll until done. */
int blk_pread(BlockBackend *blk, int64_t offset, int64_t bytes, void *buf,
              BdrvRequestFlags flags);
int blk_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes, const void *buf,
               BdrvRequestFlags flags);
int blk_pwrite_zeroes(BlockBackend *blk, int64_t offset, int64_t bytes,
                      BdrvRequestFlags flags);
int blk_pdiscard(BlockBackend *blk, int64_t offset, int64_t bytes);
int blk_flush(BlockBackend *blk);
int blk_truncate(BlockBackend *blk, int64_t offset, bool exact, PreallocMode prealloc,
                 BdrvRequestFlags flags, Error **errp);

/* Wait for this backend's in-flight requests. */
void blk_drain(BlockBackend *blk);

#endif
