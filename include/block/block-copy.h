/*
 * block-copy.h: the copy engine shared by the backup job and the
 * copy-before-write filter (block/block-copy.c).
 *
 * A BlockCopyState copies clusters of a source child to the same offsets
 * of a target child.  Its copy bitmap (cluster granularity) holds what is
 * still to be copied.  Work is cut into tasks; a task claims its clusters
 * (clears their bits) before reading, so no cluster is copied twice, and
 * a failed task gives them back.  A caller that needs some clusters copied
 * now (a guest write) waits only for tasks touching those clusters, and
 * only until they have *read* the old data.
 */
#ifndef BLOCK_BLOCK_COPY_H
#define BLOCK_BLOCK_COPY_H

#include "block/block_int.h"
#include "block/dirty-bitmap.h"

typedef struct BlockCopyState BlockCopyState;
typedef struct BlockCopyTask BlockCopyTask;

#define BLOCK_COPY_CLUSTER_SIZE_DEFAULT (64 * KiB)
#define BLOCK_COPY_MAX_WORKERS_DEFAULT  64
#define BLOCK_COPY_MAX_MEM              (128 * MiB)

/* Called with the byte count of each successfully copied task. */
typedef void BlockCopyProgressFunc(void *opaque, int64_t bytes);

/*
 * Cluster size for copying from source to target: max(64 KiB, target
 * cluster size, min_cluster_size); QEMU's checks and texts.
 */
int64_t block_copy_calculate_cluster_size(BlockDriverState *target,
                                          int64_t min_cluster_size,
                                          Error **errp);

/*
 * New state over source and target (children of the caller's node),
 * copy bitmap all clean.  compress: target writes compressed, one cluster
 * per task.
 */
BlockCopyState *block_copy_state_new(BdrvChild *source, BdrvChild *target,
                                     int64_t cluster_size, bool compress,
                                     Error **errp);
void block_copy_state_free(BlockCopyState *s);

BdrvDirtyBitmap *block_copy_dirty_bitmap(BlockCopyState *s);
int64_t block_copy_cluster_size(BlockCopyState *s);
int64_t block_copy_len(BlockCopyState *s);
/* Clusters still to be copied plus those in flight, in bytes */
int64_t block_copy_remaining(BlockCopyState *s);
/* Bytes claimed by tasks that have not finished */
int64_t block_copy_in_flight_bytes(BlockCopyState *s);

/* x-perf: copy offload on/off, largest task (0 = default 1 MiB) */
void block_copy_set_copy_range(BlockCopyState *s, bool use_copy_range);
void block_copy_set_max_chunk(BlockCopyState *s, int64_t max_chunk);
void block_copy_set_progress(BlockCopyState *s, BlockCopyProgressFunc *fn,
                             void *opaque);
/* Target is known to read zeroes: zero areas of the source are skipped. */
void block_copy_set_target_is_zero(BlockCopyState *s, bool is_zero);
/*
 * discard-source: discard every successfully copied task's clusters on the
 * source child (which then needs the write permission).
 */
void block_copy_set_discard_source(BlockCopyState *s, bool discard_source);
/* Clusters copied so far (successfully) */
BdrvDirtyBitmap *block_copy_done_bitmap(BlockCopyState *s);

/* Mark [offset, offset + bytes) to be copied (rounded out to clusters). */
void block_copy_set_dirty(BlockCopyState *s, int64_t offset, int64_t bytes);
/* Forget [offset, offset + bytes) (whole clusters inside only). */
void block_copy_reset(BlockCopyState *s, int64_t offset, int64_t bytes);

/*
 * Copy every dirty cluster of [offset, offset + bytes) now (rounded out to
 * clusters), several tasks in parallel, waiting for other callers' tasks
 * on the range until they read their data.  No rate limit.  Returns 0 or
 * the first -errno (failed clusters are dirty again).  *error_is_read
 * (may be NULL) tells which side failed.
 */
int coroutine_fn block_copy(BlockCopyState *s, int64_t offset, int64_t bytes,
                            bool *error_is_read);

/*
 * Background copy, one task at a time: claim the first claimable dirty
 * run at or after *cursor (at most the chunk size), advancing *cursor past
 * it.  NULL when nothing is claimable at or after *cursor (dirty clusters
 * may still be in flight; see block_copy_in_flight_bytes()).
 */
BlockCopyTask *block_copy_task_claim_next(BlockCopyState *s, int64_t *cursor);
int64_t block_copy_task_bytes(BlockCopyTask *t);
/*
 * Run and free a claimed task: 0 or -errno (*error_is_read set).  The
 * clusters are dirty again on failure.
 */
int coroutine_fn block_copy_task_run(BlockCopyTask *t, bool *error_is_read);
/* Wait until some task of s finishes (or return at once if none runs). */
void coroutine_fn block_copy_wait_one(BlockCopyState *s);

/*
 * A task whose clusters a guest write overwrote after the task read them
 * failed to write the target: the old data is gone, the copy cannot be
 * point-in-time any more.  Sticky.
 */
bool block_copy_snapshot_lost(BlockCopyState *s);

#endif /* BLOCK_BLOCK_COPY_H */
