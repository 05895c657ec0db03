/*
 * mirror-int.h: the mirror job's private state, shared by the job
 * (block/mirror.c), its mirror_top filter (block/mirror-top.c), the
 * in-flight operation table (block/mirror-ops.c) and the QMP commands
 * (block/mirror-qmp.c).  See docs/devel/mirror.rst.
 */
#ifndef BLOCK_MIRROR_INT_H
#define BLOCK_MIRROR_INT_H

#include "qemu/osdep.h"
#include "block/blockjob_int.h"
#include "block/block_int.h"
#include "block/block-backend.h"
#include "block/dirty-bitmap.h"

#define MIRROR_MAX_IN_FLIGHT    16              /* background operations */
#define MIRROR_MAX_IO_BYTES     (1 << 20)       /* 1 MiB per operation at least */
#define MIRROR_DEFAULT_BUF_SIZE (16 << 20)
#define MIRROR_DIRTY_SCAN_STEP  (64 << 20)      /* initial map: bytes per yield */
#define MIRROR_DEFAULT_BITMAP_BITS (1 << 23)    /* default granularity: 1 MiB of bitmap */

typedef struct MirrorBlockJob MirrorBlockJob;

/*
 * What becomes of the target's backing at a successful end (QEMU's
 * BlockMirrorBackingMode): drive-mirror mode=absolute-paths gives it the
 * source's chain (sync=top: the source's backing node, sync=none: the
 * source itself); mode=existing opens the target's own backing file then
 * (drive-mirror opens its target without); blockdev-mirror leaves it.
 */
typedef enum MirrorBackingMode {
    MIRROR_LEAVE_BACKING_CHAIN,     /* blockdev-mirror */
    MIRROR_SOURCE_BACKING_CHAIN,    /* drive-mirror mode=absolute-paths */
    MIRROR_OPEN_BACKING_CHAIN,      /* drive-mirror mode=existing */
} MirrorBackingMode;

/*
 * One range being worked on: a background copy/zero/discard, a guest
 * write in write-blocking mode (is_active), or a range reserved while the
 * loop looks at its block status (is_pseudo).  Operations wait for the
 * ones they overlap (chunk-aligned ranges) through `waiters`.
 */
typedef struct MirrorOp {
    MirrorBlockJob *s;
    int64_t offset;                 /* chunk aligned */
    int64_t bytes;                  /* chunk aligned, clipped at EOF */
    bool is_active;
    bool is_pseudo;
    bool is_zero;                   /* write zeroes instead of copying */
    bool is_discard;
    CoQueue waiters;
} MirrorOp;

struct MirrorBlockJob {
    BlockJob common;

    BlockBackend *target;
    BlockDriverState *mirror_top_bs;
    BlockDriverState *to_replace;   /* referenced while the job runs */
    Error *replace_blocker;         /* on to_replace from block-job-complete on */
    BlockDriverState *base;         /* sync=top: first backing node */
    char *replaces;
    bool is_none_mode;
    MirrorBackingMode backing_mode;

    MirrorSyncMode sync_mode;
    MirrorCopyMode copy_mode;
    BlockdevOnError on_source_error, on_target_error;
    bool unmap;
    bool target_is_zero;
    bool auto_converge;
    int converge_passes;

    BdrvDirtyBitmap *dirty_bitmap;
    int64_t granularity;
    int64_t buf_size;
    int64_t max_io_bytes;
    int64_t bdev_length;

    /* The copy loop */
    int64_t cursor;                 /* next offset to look at */
    GQueue ops;                     /* MirrorOp *: everything in flight */
    int in_flight;                  /* background ops (not pseudo/active) */
    int64_t bytes_in_flight;        /* of background ops */
    int active_in_flight;
    int64_t active_bytes_in_flight;
    CoQueue op_done;                /* woken when any operation ends */
    GSList *free_bufs;              /* max_io_bytes copy buffers to reuse */
    size_t buf_align;
    bool waiting_for_op;
    int ret;                        /* first fatal error (report) */
    bool initial_map_done;
    bool synced;                    /* READY was reached once */
    bool actively_synced;
    bool should_complete;
    bool prepared;
    bool stop;                      /* filter: stop forwarding to the target */
    bool in_drain;
    BlockDriverState *drained_source; /* drained by the final sync */

    /* Convergence */
    int64_t pass_start_dirty;       /* dirty count when the pass began */
    int64_t pass_best_dirty;        /* lowest count seen so far */
    int stalled_passes;

    /* on-*-error=ignore: backoff and coalesced events per operation type */
    BlockJobErrorThrottle err_throttle[2];  /* [is_read] */
    int64_t last_pause_ns;
};

/* The filter's state (mirror_top driver instance) */
typedef struct MirrorTopState {
    MirrorBlockJob *job;
    bool stop;                      /* job gone: pure pass-through */
} MirrorTopState;

extern BlockDriver bdrv_mirror_top;

/* block/mirror-ops.c */
MirrorOp *mirror_op_new(MirrorBlockJob *s, int64_t offset, int64_t bytes);
void mirror_op_free(MirrorOp *op);
/* First operation overlapping [offset, offset + bytes), or NULL */
MirrorOp *mirror_find_overlap(MirrorBlockJob *s, int64_t offset, int64_t bytes,
                              MirrorOp *self);
/* Wait until nothing (but self) overlaps [offset, offset + bytes) */
void coroutine_fn mirror_wait_for_overlaps(MirrorBlockJob *s, int64_t offset,
                                           int64_t bytes, MirrorOp *self);
/* Bytes from offset (at most max) not overlapping any operation */
int64_t mirror_clip_to_free(MirrorBlockJob *s, int64_t offset, int64_t max);
/* Wait for any operation to end (no head-of-line wait) */
void coroutine_fn mirror_wait_for_any_op(MirrorBlockJob *s);
void mirror_align_range(MirrorBlockJob *s, int64_t offset, int64_t bytes,
                        int64_t *aligned_offset, int64_t *aligned_bytes);

/* block/mirror-top.c */
BlockDriverState *mirror_top_create(BlockDriverState *bs,
                                    const char *filter_node_name,
                                    Error **errp);
void mirror_top_set_job(BlockDriverState *mirror_top_bs, MirrorBlockJob *s);
/* Take the filter out of the graph again (bs back in its parents) */
void mirror_top_remove(BlockDriverState *mirror_top_bs);

/* block/mirror.c */
/* An I/O error of an operation; returns the action taken */
BlockErrorAction mirror_error_action(MirrorBlockJob *s, bool read, int error);

typedef struct MirrorStartArgs {
    const char *job_id;
    BlockDriverState *bs;
    BlockDriverState *target;
    const char *replaces;
    int creation_flags;
    int64_t speed;
    uint32_t granularity;
    int64_t buf_size;
    MirrorSyncMode mode;
    BlockdevOnError on_source_error, on_target_error;
    bool unmap;
    const char *filter_node_name;
    MirrorCopyMode copy_mode;
    bool target_is_zero;
    bool auto_converge;
    int converge_passes;
    MirrorBackingMode backing_mode;
} MirrorStartArgs;

void mirror_start(const MirrorStartArgs *a, Error **errp);

/* The bitmap granularity when the user gives none (mirror.c) */
uint32_t mirror_default_granularity(BlockDriverState *target,
                                    BlockDriverState *source);

#endif
