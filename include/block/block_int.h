/*
 * block_int.h: the inside of the block layer: node and child structures
 * and the BlockDriver interface drivers and filters implement.
 *
 * A driver is a static BlockDriver registered in bdrv_init()
 * (block/drivers.c).  The core (block/io.c) hands a driver only requests
 * that are within the node, aligned to bl.request_alignment and no larger
 * than bl.max_transfer; it does read-modify-write and splitting itself.
 */
#ifndef BLOCK_BLOCK_INT_H
#define BLOCK_BLOCK_INT_H

#include "block/block.h"
#include "qemu/aio.h"
#include <json-c/json.h>

typedef struct BlockLimits {
    uint32_t request_alignment;     /* bytes; every request is a multiple (default 1) */
    int64_t max_transfer;           /* bytes, 0 = no limit (multiple of request_alignment) */
    int64_t opt_transfer;
    uint32_t pdiscard_alignment;
    int64_t max_pdiscard;
    uint32_t pwrite_zeroes_alignment;
    int64_t max_pwrite_zeroes;
    size_t min_mem_alignment;       /* buffers must be aligned so (O_DIRECT) */
    size_t opt_mem_alignment;
    int max_iov;
} BlockLimits;

/* One request in flight on a node (block/io.c) */
typedef enum BdrvTrackedRequestType {
    BDRV_TRACKED_READ,
    BDRV_TRACKED_WRITE,
    BDRV_TRACKED_DISCARD,
    BDRV_TRACKED_TRUNCATE,
} BdrvTrackedRequestType;

typedef struct BdrvTrackedRequest {
    BlockDriverState *bs;
    int64_t offset;
    int64_t bytes;
    BdrvTrackedRequestType type;
    bool serialising;
    int64_t overlap_offset;         /* range widened to the serialising alignment */
    int64_t overlap_bytes;
    Coroutine *co;
    CoQueue wait_queue;             /* requests waiting for this one */
    struct BdrvTrackedRequest *waiting_for;
    GList link;                     /* in bs->tracked_requests */
} BdrvTrackedRequest;

/*
 * Image check and repair (blockd-img check; QEMU's BdrvCheckResult).
 * The driver counts what it found in result (zeroed by the caller); with
 * fix it repairs and counts what it fixed (a repaired item is counted in
 * *_fixed and no longer in corruptions/leaks).
 */
typedef enum BdrvCheckMode {
    BDRV_FIX_LEAKS  = 1,
    BDRV_FIX_ERRORS = 2,
} BdrvCheckMode;

typedef struct BlockFragInfo {
    uint64_t allocated_clusters;
    uint64_t total_clusters;
    uint64_t fragmented_clusters;
    uint64_t compressed_clusters;
} BlockFragInfo;

typedef struct BdrvCheckResult {
    int corruptions;
    int leaks;
    int check_errors;               /* the check itself failed (I/O errors ...) */
    int corruptions_fixed;
    int leaks_fixed;
    int64_t image_end_offset;       /* end of the last used host cluster, 0 unknown */
    BlockFragInfo bfi;
} BdrvCheckResult;

/* An internal snapshot (QEMU's QEMUSnapshotInfo) */
typedef struct QEMUSnapshotInfo {
    char id_str[128];               /* unique snapshot id */
    char name[256];                 /* user chosen name */
    uint64_t vm_state_size;         /* VM state info size */
    uint32_t date_sec;              /* UTC date of the snapshot */
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;         /* VM clock relative to boot */
    uint64_t icount;                /* record/replay step, -1ULL when absent */
} QEMUSnapshotInfo;

/* One extent a protocol node reported as data (block/block-status-cache.c) */
typedef struct BdrvBlockStatusCache {
    bool valid;
    int64_t data_start;
    int64_t data_end;
} BdrvBlockStatusCache;

bool bdrv_bsc_is_data(BlockDriverState *bs, int64_t offset, int64_t *pnum);
void bdrv_bsc_fill(BlockDriverState *bs, int64_t offset, int64_t bytes);
void bdrv_bsc_invalidate_range(BlockDriverState *bs, int64_t offset,
                               int64_t bytes);

struct BlockDriver {
    const char *format_name;
    int instance_size;
    bool is_filter;                 /* all I/O goes to the filtered child unchanged */
    bool is_format;                 /* false for protocol drivers (file, nbd, null) */
    bool supports_backing;
    /*
     * bdrv_co_block_status may answer DATA beyond the requested range and
     * the answer may be cached (block-status-cache.c): protocol drivers
     * whose data only becomes a hole through discard, write-zeroes or
     * truncate of this node.
     */
    bool has_block_status_cache;

    /* Open with the node's typed options; set bs->total bytes source via getlength. */
    int (*bdrv_open)(BlockDriverState *bs, BlockdevOptions *options, int flags,
                     Error **errp);
    void (*bdrv_close)(BlockDriverState *bs);
    void (*bdrv_refresh_limits)(BlockDriverState *bs, Error **errp);

    int coroutine_fn (*bdrv_co_preadv)(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags);
    int coroutine_fn (*bdrv_co_pwritev)(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes, QEMUIOVector *qiov,
                                        BdrvRequestFlags flags);
    int coroutine_fn (*bdrv_co_pwritev_compressed)(BlockDriverState *bs, int64_t offset,
                                                   int64_t bytes, QEMUIOVector *qiov);
    /* -ENOTSUP lets the core fall back to writing a zeroed buffer (unless NO_FALLBACK) */
    int coroutine_fn (*bdrv_co_pwrite_zeroes)(BlockDriverState *bs, int64_t offset,
                                              int64_t bytes, BdrvRequestFlags flags);
    int coroutine_fn (*bdrv_co_pdiscard)(BlockDriverState *bs, int64_t offset,
                                         int64_t bytes);
    int coroutine_fn (*bdrv_co_flush_to_disk)(BlockDriverState *bs);
    int coroutine_fn (*bdrv_co_flush_to_os)(BlockDriverState *bs);
    int coroutine_fn (*bdrv_co_flush)(BlockDriverState *bs);  /* replaces both */
    int coroutine_fn (*bdrv_co_block_status)(BlockDriverState *bs, bool want_zero,
                                             int64_t offset, int64_t bytes,
                                             int64_t *pnum, int64_t *map,
                                             BlockDriverState **file);
    int coroutine_fn (*bdrv_co_copy_range_from)(BlockDriverState *bs, BdrvChild *src,
                                                int64_t src_offset, BdrvChild *dst,
                                                int64_t dst_offset, int64_t bytes,
                                                BdrvRequestFlags read_flags,
                                                BdrvRequestFlags write_flags);
    int coroutine_fn (*bdrv_co_copy_range_to)(BlockDriverState *bs, BdrvChild *src,
                                              int64_t src_offset, BdrvChild *dst,
                                              int64_t dst_offset, int64_t bytes,
                                              BdrvRequestFlags read_flags,
                                              BdrvRequestFlags write_flags);
    int coroutine_fn (*bdrv_co_truncate)(BlockDriverState *bs, int64_t offset,
                                         bool exact, PreallocMode prealloc,
                                         BdrvRequestFlags flags, Error **errp);
    int64_t (*bdrv_getlength)(BlockDriverState *bs);
    int64_t (*bdrv_get_allocated_file_size)(BlockDriverState *bs);
    int (*bdrv_get_info)(BlockDriverState *bs, BlockDriverInfo *bdi);

    /* Permissions this node needs on / shares of child c given its parents' cumulative ones */
    void (*bdrv_child_perm)(BlockDriverState *bs, BdrvChild *c, BdrvChildRole role,
                            uint64_t parent_perm, uint64_t parent_shared,
                            uint64_t *nperm, uint64_t *nshared);
    /* Locking hooks: check may fail; then set or abort follows */
    int (*bdrv_check_perm)(BlockDriverState *bs, uint64_t perm, uint64_t shared,
                           Error **errp);
    void (*bdrv_set_perm)(BlockDriverState *bs, uint64_t perm, uint64_t shared);
    void (*bdrv_abort_perm_update)(BlockDriverState *bs);

    void (*bdrv_drain_begin)(BlockDriverState *bs);
    void (*bdrv_drain_end)(BlockDriverState *bs);

    /* blockdev-create: create the image described by opts (job type create) */
    int coroutine_fn (*bdrv_co_create)(BlockdevCreateOptions *opts, Error **errp);
    /*
     * Activation (bdrv_inactivate/bdrv_activate in graph.c).  inactivate:
     * write back everything kept in memory (the node is still active and
     * writable while it runs; called drained, outside coroutines).
     * invalidate_cache: the node is active again (flag already cleared,
     * permissions re-taken): drop cached metadata and re-read the image.
     */
    int (*bdrv_inactivate)(BlockDriverState *bs, Error **errp);
    int coroutine_fn (*bdrv_co_invalidate_cache)(BlockDriverState *bs, Error **errp);

    /*
     * Persistent dirty bitmaps (called by block/dirty-bitmap.c; formats
     * that store bitmaps, i.e. qcow2, implement them).  A driver loads its
     * stored bitmaps in bdrv_open with bdrv_create_dirty_bitmap() +
     * bdrv_dirty_bitmap_deserialize_*() + set_persistence(), and stores
     * those with bdrv_dirty_bitmap_should_store() in bdrv_close and
     * bdrv_inactivate.  can_store: whether a new persistent bitmap
     * `name` could be stored (false + errp when not); remove: delete a
     * stored bitmap from the image now (0 or -errno + errp).
     */
    bool coroutine_fn (*bdrv_co_can_store_new_dirty_bitmap)(BlockDriverState *bs,
                                                            const char *name,
                                                            uint32_t granularity,
                                                            Error **errp);
    int coroutine_fn (*bdrv_co_remove_persistent_dirty_bitmap)(BlockDriverState *bs,
                                                               const char *name,
                                                               Error **errp);

    /*
     * The node is about to become read-only (bdrv_reopen_set_read_only):
     * write back what would otherwise be written at close (metadata
     * caches, persistent bitmaps, the clean flag).  Called from a
     * coroutine, with the node drained.
     */
    int coroutine_fn (*bdrv_co_prepare_read_only)(BlockDriverState *bs,
                                                  Error **errp);
    /*
     * Fail the requests in flight (on a remote that may never answer them)
     * and do not wait for the current connection again (job force cancel).
     */
    void (*bdrv_cancel_in_flight)(BlockDriverState *bs);

    /*
     * Format probing (blockd-img without -f): a score for the first
     * buf_size bytes of the file (0: not this format; raw: 1; formats
     * with a magic: 100).
     */
    int (*bdrv_probe)(const uint8_t *buf, int buf_size, const char *filename);

    /*
     * blockd-img check [-r leaks|all]: check the image's metadata and, with
     * fix, repair it.  Returns 0 when the check ran (its findings are in
     * result) or -errno when it could not run at all.
     */
    int coroutine_fn (*bdrv_co_check)(BlockDriverState *bs, BdrvCheckResult *result,
                                      BdrvCheckMode fix);

    /*
     * Internal snapshots (QEMU's names and meanings).  Called from a
     * coroutine (they may yield for metadata I/O) with the node drained of
     * other users.  create: sn_info->id_str empty means "pick the next
     * free id" (and the driver fills it in); goto: revert the active
     * state to the snapshot with that id or name; delete: by id and/or
     * name (either may be NULL); list: *psn_info is a g_new array of the
     * snapshots (the caller g_free()s it), returns their count or -errno.
     */
    int coroutine_fn (*bdrv_snapshot_create)(BlockDriverState *bs,
                                             QEMUSnapshotInfo *sn_info);
    int coroutine_fn (*bdrv_snapshot_goto)(BlockDriverState *bs,
                                           const char *snapshot_id, Error **errp);
    int coroutine_fn (*bdrv_snapshot_delete)(BlockDriverState *bs,
                                             const char *snapshot_id,
                                             const char *name, Error **errp);
    int coroutine_fn (*bdrv_snapshot_list)(BlockDriverState *bs,
                                           QEMUSnapshotInfo **psn_info);

    /*
     * blockd-img info's "format-specific" (qapi/block-img.json), or NULL
     * when the format has nothing to report (errp set only on failure).
     */
    ImageInfoSpecific *(*bdrv_get_specific_info)(BlockDriverState *bs, Error **errp);

    /* Zero/write flags the driver handles itself (else the core emulates) */
    BdrvRequestFlags supported_write_flags;
    BdrvRequestFlags supported_zero_flags;
    BdrvRequestFlags supported_truncate_flags;

    /*
     * Driver options that change what the node presents (QEMU's "strong"
     * options, NULL-terminated).  When any is set, or a child's filename
     * is a json: one, the node's filename becomes json:{...} of these
     * options and its children's, as QEMU reports it.  Drivers that leave
     * this NULL keep the filename they set in bdrv_open.
     */
    const char *const *strong_runtime_opts;
};

struct BdrvChildClass {
    bool parent_is_bds;
    /* bdrv_replace_node() never moves such a link (a job's node links) */
    bool stay_at_node;
    /* "node 'x'", "block device 'y'", "NBD export 'z'": used in permission errors */
    char *(*get_parent_desc)(BdrvChild *child);
    /* The child node is being drained / drain ended (BlockBackends queue requests) */
    void (*drained_begin)(BdrvChild *child);
    void (*drained_end)(BdrvChild *child);
    /* true while the parent still has requests in flight on the child */
    bool (*drained_poll)(BdrvChild *child);
    void (*resize)(BdrvChild *child);
};

extern const BdrvChildClass child_of_bds;

struct BdrvChild {
    BlockDriverState *bs;           /* the child node */
    char *name;                     /* "file", "backing", "target", "root", ... */
    const BdrvChildClass *klass;
    BdrvChildRole role;
    void *opaque;                   /* the parent: BlockDriverState * or BlockBackend * ... */
    uint64_t perm;
    uint64_t shared_perm;
    bool frozen;                    /* may not be detached (jobs freeze chains) */
    /*
     * The parent is a block job (its nodes, its own BlockBackend): it marks
     * the node busy through op blockers rather than as a user, so that
     * blockdev-del says "Node '%s' is busy: ..." and not "Node %s is in
     * use", as QEMU does.
     */
    bool parent_is_job;
    int quiesced_parent;
};

struct BlockDriverState {
    const BlockDriver *drv;
    void *opaque;                   /* drv->instance_size bytes of driver state */
    char node_name[32];             /* "" for anonymous nodes */
    char filename[4096];
    bool implicit;                  /* a job's auto-named filter */
    bool monitor_owned;             /* created by blockdev-add: blockdev-del may remove it */
    BlockDriverState *inherits_from;    /* the parent that opened it from an inline definition */
    int open_flags;
    bool read_only;
    bool auto_read_only;
    bool force_share;
    BlockdevDetectZeroesOptions detect_zeroes;
    BlockdevOptions *options;       /* as given at open, for queries */
    int refcnt;

    BlockLimits bl;
    BdrvRequestFlags supported_write_flags;
    BdrvRequestFlags supported_zero_flags;
    BdrvRequestFlags supported_truncate_flags;

    BdrvChild *file;                /* the primary child (formats, filters), or NULL */
    BdrvChild *backing;             /* the COW child, or NULL */
    GList *children;                /* BdrvChild * owned by this node */
    GList *parents;                 /* BdrvChild * pointing at this node */

    /* I/O state (block/io.c) */
    unsigned int in_flight;
    int quiesce_counter;
    GList *tracked_requests;        /* BdrvTrackedRequest * */
    unsigned int serialising_in_flight;
    uint64_t write_gen;
    uint64_t flushed_gen;
    CoMutex flush_lock;
    CoQueue flush_queue;
    bool active_flush_req;
    int64_t total_bytes_hint;       /* cached length, -1 unknown */
    BdrvBlockStatusCache block_status_cache;    /* block-status-cache.c */

    GSList *op_blockers[BLOCK_OP_TYPE_MAX];    /* Error *: reasons, newest first */

    GList *dirty_bitmaps;           /* BdrvDirtyBitmap *, newest first (block/dirty-bitmap.c) */
    char *backing_file;             /* from the image header (formats) */
    char *backing_format;
};

/*
 * Image creation outside a job (drive-mirror, drive-backup): create
 * filename as a `fmt` image of size bytes (the file, then the format on
 * top of it), synchronously.  Not from a coroutine.
 */
int bdrv_create_image_file(const char *filename, const char *fmt, int64_t size,
                           Error **errp);
/*
 * The same with backing_file (and backing_fmt, may be NULL) in the new
 * image's header (backing_file NULL: none), QEMU's bdrv_img_create() with
 * a base image: "Backing file not supported for file format '%s'" for a
 * format without backing files, before anything is created.
 */
int bdrv_create_image_file_backed(const char *filename, const char *fmt,
                                  int64_t size, const char *backing_file,
                                  const char *backing_fmt, Error **errp);
/*
 * The format of an existing image file, as the drivers' bdrv_probe
 * callbacks recognise it (raw when none does); NULL + errp when the file
 * cannot be read.
 */
const char *bdrv_probe_image_format(const char *filename, Error **errp);
/*
 * Open the backing file bs's header names (relative to bs's file, format
 * from the header or probed), read-only, as bs's backing node (QEMU's
 * bdrv_open_backing_file, for a node opened without it).  0 if bs has a
 * backing node already or names none.
 */
int bdrv_open_backing_file(BlockDriverState *bs, Error **errp);
/* Open a node from a json-c BlockdevOptions tree. */
BlockDriverState *bdrv_open_json(json_object *json, Error **errp);
/* {"driver": "file", "filename": filename} */
json_object *bdrv_file_json(const char *filename);

/* Core helpers for drivers */
int bdrv_register(BlockDriver *drv);
/* Attach bs as a child of parent (perm computed through parent->drv->bdrv_child_perm). */
BdrvChild *bdrv_attach_child(BlockDriverState *parent, BlockDriverState *child_bs,
                             const char *child_name, const BdrvChildClass *klass,
                             BdrvChildRole role, Error **errp);
void bdrv_unref_child(BlockDriverState *parent, BdrvChild *child);
/* A root child for a non-node parent (BlockBackend, export, job). */
BdrvChild *bdrv_root_attach_child(BlockDriverState *child_bs, const char *child_name,
                                  const BdrvChildClass *klass, BdrvChildRole role,
                                  uint64_t perm, uint64_t shared, void *opaque,
                                  Error **errp);
void bdrv_root_unref_child(BdrvChild *child);
/* Recompute the permissions of bs and everything below it (after a change). */
int bdrv_refresh_perms(BlockDriverState *bs, Error **errp);
int bdrv_child_try_set_perm(BdrvChild *c, uint64_t perm, uint64_t shared, Error **errp);
/*
 * Create a node of drv (a driver without a BlockdevOptions branch, e.g. a
 * job's filter) with no children; node_name NULL generates one.
 */
BlockDriverState *bdrv_new_open_driver(BlockDriver *drv, const char *node_name,
                                       int flags, Error **errp);
/* Replace `from` by `to` in all of from's parents (mirror pivot, filter insertion). */
bool bdrv_replace_node(BlockDriverState *from, BlockDriverState *to, Error **errp);
/* Default child_perm implementations */
void bdrv_default_perms(BlockDriverState *bs, BdrvChild *c, BdrvChildRole role,
                        uint64_t perm, uint64_t shared, uint64_t *nperm, uint64_t *nshared);
void bdrv_filter_default_perms(BlockDriverState *bs, BdrvChild *c, BdrvChildRole role,
                               uint64_t perm, uint64_t shared, uint64_t *nperm,
                               uint64_t *nshared);
void bdrv_get_cumulative_perm(BlockDriverState *bs, uint64_t *perm, uint64_t *shared);
void bdrv_refresh_limits(BlockDriverState *bs, Error **errp);

/* In-flight accounting for requests that do not go through bdrv_co_* (e.g. NBD client reconnect) */
void bdrv_inc_in_flight(BlockDriverState *bs);
void bdrv_dec_in_flight(BlockDriverState *bs);
/* Wake drain waiters after in-flight state changed. */
void bdrv_wakeup(BlockDriverState *bs);

/*
 * Drain internals (block/io.c): quiesce bs and its parents without waiting
 * (used when a parent node is drained through its child), and the
 * condition drains wait on (requests in flight on bs or in its parents).
 */
void bdrv_do_drained_begin_quiesce(BlockDriverState *bs);
void bdrv_do_drained_end_quiesce(BlockDriverState *bs);
bool bdrv_drain_poll(BlockDriverState *bs);

/* copy_range delegation: drivers pass the request on to their child */
int coroutine_fn bdrv_co_copy_range_from(BdrvChild *src, int64_t src_offset,
                                         BdrvChild *dst, int64_t dst_offset,
                                         int64_t bytes, BdrvRequestFlags read_flags,
                                         BdrvRequestFlags write_flags);
int coroutine_fn bdrv_co_copy_range_to(BdrvChild *src, int64_t src_offset,
                                       BdrvChild *dst, int64_t dst_offset,
                                       int64_t bytes, BdrvRequestFlags read_flags,
                                       BdrvRequestFlags write_flags);

/* Mark a request serialising with the given alignment (copy-before-write, mirror). */
bool bdrv_make_request_serialising(BdrvTrackedRequest *req, uint64_t align);

#endif
