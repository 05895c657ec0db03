/*
 * block.h: the block layer's public interface: opening nodes, the graph,
 * draining, and the coroutine request path used by jobs, exports and
 * drivers on their children.
 *
 * All functions run in the main AioContext.  Functions marked coroutine_fn
 * must be called from a coroutine; the *_sync / blk_p* wrappers in
 * block-backend.h run a coroutine and poll for callers outside one.
 */
#ifndef BLOCK_BLOCK_H
#define BLOCK_BLOCK_H

#include "block/block-common.h"
#include "qapi/qapi-types.h"

/* Register the built-in drivers (file, raw, null-co, null-aio, nbd, ...). */
void bdrv_init(void);
BlockDriver *bdrv_find_format(const char *format_name);

/* ---- opening and lookup ---- */

/* blockdev-add / --blockdev: open a node (and its children) from options. */
BlockDriverState *bdrv_open_blockdev(BlockdevOptions *options, Error **errp);
/* Open a child given as a BlockdevRef (node-name reference or nested definition). */
BdrvChild *bdrv_open_child(BlockdevRef *ref, BlockDriverState *parent,
                           const char *child_name, const BdrvChildClass *child_class,
                           BdrvChildRole role, Error **errp);
BlockDriverState *bdrv_find_node(const char *node_name);
/* "Cannot find device='%s' nor node-name='%s'" when neither is found */
BlockDriverState *bdrv_lookup_bs(const char *device, const char *node_name, Error **errp);
/* Iterate over all named nodes (NULL starts). */
BlockDriverState *bdrv_next_node(BlockDriverState *bs);
/* Iterate over all nodes, named or not (NULL starts). */
BlockDriverState *bdrv_next_all_states(BlockDriverState *bs);

void bdrv_ref(BlockDriverState *bs);
void bdrv_unref(BlockDriverState *bs);
/* blockdev-del: drop the monitor's reference; refused while the node has parents. */
bool bdrv_del_monitor_owned(BlockDriverState *bs, Error **errp);
/* At shutdown: drain, flush and close everything. */
void bdrv_close_all(void);

/*
 * Activation (QEMU's blockdev-set-active, the base of migration hand-over).
 * An inactive node has given up the image: its driver stored what it
 * keeps in memory (qcow2: persistent bitmaps, caches, dirty bit), it
 * refuses writes (-EPERM) and holds no write lock on its file, so another
 * process may open the image.  Activation re-reads the image.
 *
 * bdrv_inactivate: bs and then each child no active node still uses;
 *   refused while bs has an active parent node or a user outside the
 *   graph (export, job).  Inactive already: nothing to do.
 * bdrv_activate: the children first, then bs (re-taking locks, re-reading
 *   metadata).  Active already: nothing to do.
 * The _all variants apply to every node (roots first when inactivating).
 * All return 0 or -errno with errp set.
 */
bool bdrv_is_inactive(BlockDriverState *bs);
int bdrv_inactivate(BlockDriverState *bs, Error **errp);
int bdrv_activate(BlockDriverState *bs, Error **errp);
int bdrv_inactivate_all(Error **errp);
int bdrv_activate_all(Error **errp);

const char *bdrv_get_node_name(const BlockDriverState *bs);
const char *bdrv_get_format_name(BlockDriverState *bs);
const char *bdrv_get_filename(BlockDriverState *bs);
bool bdrv_is_read_only(BlockDriverState *bs);
bool bdrv_is_writable(BlockDriverState *bs);
bool bdrv_is_inserted(BlockDriverState *bs);
int64_t coroutine_mixed_fn bdrv_getlength(BlockDriverState *bs);
int64_t coroutine_mixed_fn bdrv_get_allocated_file_size(BlockDriverState *bs);
/* Sub-cluster/cluster size for jobs, 0 if the node has none */
typedef struct BlockDriverInfo {
    int cluster_size;
    int subcluster_size;
    bool is_dirty;
    int64_t vm_state_offset;
} BlockDriverInfo;
int bdrv_get_info(BlockDriverState *bs, BlockDriverInfo *bdi);

/* Filter/backing chain helpers */
BlockDriverState *bdrv_filter_bs(BlockDriverState *bs);       /* filtered child, NULL if not a filter */
BlockDriverState *bdrv_cow_bs(BlockDriverState *bs);          /* backing child node */
BlockDriverState *bdrv_filter_or_cow_bs(BlockDriverState *bs);
BlockDriverState *bdrv_skip_filters(BlockDriverState *bs);
BlockDriverState *bdrv_backing_chain_next(BlockDriverState *bs);

/*
 * Op blockers (QEMU's): a user of a node that must not go away or change
 * under it (a block job) blocks operations on it with a reason; the
 * operation then fails with "Node '<name>' is busy: <reason>".
 */
typedef enum BlockOpType {
    BLOCK_OP_TYPE_DRIVE_DEL,
    BLOCK_OP_TYPE_MIRROR_SOURCE,
    BLOCK_OP_TYPE_MIRROR_TARGET,
    BLOCK_OP_TYPE_BACKUP_SOURCE,
    BLOCK_OP_TYPE_BACKUP_TARGET,
    BLOCK_OP_TYPE_MAX,
} BlockOpType;

void bdrv_op_block(BlockDriverState *bs, BlockOpType op, Error *reason);
void bdrv_op_unblock(BlockDriverState *bs, BlockOpType op, Error *reason);
void bdrv_op_block_all(BlockDriverState *bs, Error *reason);
void bdrv_op_unblock_all(BlockDriverState *bs, Error *reason);
/* true (and errp set) when op is blocked on bs */
bool bdrv_op_is_blocked(BlockDriverState *bs, BlockOpType op, Error **errp);

/*
 * Switch bs between read-only and read-write (QEMU's
 * bdrv_reopen_set_read_only): children that bs opened itself follow it;
 * going read-only writes back what the driver caches first.  Fails, with
 * nothing changed, when a parent holds a write permission (or a child
 * cannot be made writable).
 */
int bdrv_reopen_set_read_only(BlockDriverState *bs, bool read_only,
                              Error **errp);

/*
 * Make backing_hd the backing node of bs (NULL: none), replacing the one
 * it has: QEMU's bdrv_set_backing_hd().  The image header is not changed.
 */
bool bdrv_set_backing_hd(BlockDriverState *bs, BlockDriverState *backing_hd,
                         Error **errp);

/*
 * Fail what bs (and the nodes it stores its data on) has in flight on a
 * remote that stopped answering, and do not wait for it again: QEMU's
 * bdrv_cancel_in_flight(), used by a force cancel of a job.
 */
void bdrv_cancel_in_flight(BlockDriverState *bs);

/* ---- draining ---- */

/*
 * Between drained_begin and drained_end no new request from outside
 * (BlockBackends, jobs) reaches bs or its children; drained_begin returns
 * once every in-flight request has completed.  Nests.  Not from coroutines
 * of requests on bs itself.
 */
void bdrv_drained_begin(BlockDriverState *bs);
void bdrv_drained_end(BlockDriverState *bs);
void coroutine_fn bdrv_co_drained_begin(BlockDriverState *bs);
void coroutine_fn bdrv_co_drained_end(BlockDriverState *bs);
void bdrv_drain_all_begin(void);
void bdrv_drain_all_end(void);
void bdrv_drain_all(void);

/* Flush bs (and its children) from outside a coroutine. */
int bdrv_flush(BlockDriverState *bs);

/* ---- the request path (byte granular) ---- */

int coroutine_fn bdrv_co_preadv(BdrvChild *child, int64_t offset, int64_t bytes,
                                QEMUIOVector *qiov, BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwritev(BdrvChild *child, int64_t offset, int64_t bytes,
                                 QEMUIOVector *qiov, BdrvRequestFlags flags);
/* The same on qiov[qiov_offset, +bytes) (a driver's sub-requests) */
int coroutine_fn bdrv_co_preadv_part(BdrvChild *child, int64_t offset,
                                     int64_t bytes, QEMUIOVector *qiov,
                                     size_t qiov_offset, BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwritev_part(BdrvChild *child, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      size_t qiov_offset, BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pread(BdrvChild *child, int64_t offset, int64_t bytes,
                               void *buf, BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwrite(BdrvChild *child, int64_t offset, int64_t bytes,
                                const void *buf, BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pwrite_zeroes(BdrvChild *child, int64_t offset, int64_t bytes,
                                       BdrvRequestFlags flags);
int coroutine_fn bdrv_co_pdiscard(BdrvChild *child, int64_t offset, int64_t bytes);
int coroutine_fn bdrv_co_flush(BlockDriverState *bs);
int coroutine_fn bdrv_co_copy_range(BdrvChild *src, int64_t src_offset,
                                    BdrvChild *dst, int64_t dst_offset,
                                    int64_t bytes, BdrvRequestFlags read_flags,
                                    BdrvRequestFlags write_flags);
int coroutine_fn bdrv_co_truncate(BdrvChild *child, int64_t offset, bool exact,
                                  PreallocMode prealloc, BdrvRequestFlags flags,
                                  Error **errp);

/*
 * Status of [offset, offset + bytes) of bs: returns BDRV_BLOCK_* flags or
 * -errno; *pnum is how many bytes from offset share that status (> 0
 * unless at EOF).  want_zero=false allows a cheaper, coarser answer.
 * map and file (may be NULL) locate the data when OFFSET_VALID is set.
 */
int coroutine_fn bdrv_co_block_status(BlockDriverState *bs, bool want_zero,
                                      int64_t offset, int64_t bytes, int64_t *pnum,
                                      int64_t *map, BlockDriverState **file);
/* Same, looking through the backing chain down to (excluding) base. */
int coroutine_fn bdrv_co_block_status_above(BlockDriverState *bs,
                                            BlockDriverState *base, bool want_zero,
                                            int64_t offset, int64_t bytes,
                                            int64_t *pnum, int64_t *map,
                                            BlockDriverState **file, int *depth);
/* 1 if allocated in bs itself, 0 if not, -errno; *pnum as above. */
int coroutine_fn bdrv_co_is_allocated(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, int64_t *pnum);
/* Allocated anywhere above base (exclusive); include_base counts base too. */
int coroutine_fn bdrv_co_is_allocated_above(BlockDriverState *bs,
                                            BlockDriverState *base, bool include_base,
                                            int64_t offset, int64_t bytes,
                                            int64_t *pnum);

#endif
