/*
 * backup.c: the backup job (QEMU's semantics, see docs/devel/backup.rst).
 *
 * At creation a copy-before-write filter goes above the source; its
 * block-copy state holds the copy bitmap (what the point-in-time copy
 * still needs) and is shared by guest writes (through the filter) and the
 * job's background copy.  The job walks the copy bitmap with a cursor,
 * up to max-workers tasks in flight, the rate limit applied before each
 * dispatch.  Pausing waits for the tasks in flight and keeps the cursor.
 * sync=none copies nothing in the background and runs until cancelled.
 *
 * Bitmaps (sync=bitmap/incremental, or a bitmap with full/top): the user
 * bitmap gets a successor at creation (it records writes from now on) and
 * at the end, by bitmap-mode: on-success keeps the successor on success
 * and merges it back on failure; always keeps it and merges back what was
 * not copied; never merges back.
 */
#include "qemu/osdep.h"
#include "block/backup.h"
#include "block/blockjob_int.h"
#include "block/block-backend.h"
#include "block/dirty-bitmap.h"
#include "copy-before-write.h"
#include "trace/trace-block.h"

typedef struct BackupBlockJob {
    BlockJob common;
    BlockDriverState *cbw;
    BlockDriverState *source_bs;
    BlockDriverState *target_bs;
    BlockCopyState *bcs;
    BdrvDirtyBitmap *sync_bitmap;
    MirrorSyncMode sync_mode;
    BitmapSyncMode bitmap_mode;
    BlockdevOnError on_source_error;
    BlockdevOnError on_target_error;
    int64_t len;
    int64_t cluster_size;
    int max_workers;
    int64_t cursor;                 /* next offset of the background walk */
    int in_flight;
    int task_ret;                   /* first task error since the last check */
    bool task_error_is_read;
    BlockJobErrorThrottle err_throttle;     /* on-*-error=ignore */
    Coroutine *waiting;             /* run() waiting for a task to finish */
    bool exited;
    bool target_owned;              /* drive-backup opened it */
} BackupBlockJob;

static BackupBlockJob *to_backup(Job *job)
{
    return container_of(job, BackupBlockJob, common.job);
}

/*
 * A copied task (background or copy-before-write): done work, and the
 * remaining work sampled again at once, as QEMU's block-copy does.  A
 * copy-before-write task that ended after the job's last sample (its
 * set_remaining(0) at the end) used to leave offset above len in
 * BLOCK_JOB_COMPLETED (iotest 170, seen in about one run in three).
 */
static void backup_progress(void *opaque, int64_t bytes)
{
    BackupBlockJob *s = opaque;

    job_progress_update(&s->common.job, bytes);
    job_progress_set_remaining(&s->common.job, block_copy_remaining(s->bcs));
}

/* ---- the background copy ---- */

typedef struct BackupWorker {
    BackupBlockJob *s;
    BlockCopyTask *task;
} BackupWorker;

static void coroutine_fn backup_worker(void *opaque)
{
    BackupWorker *w = opaque;
    BackupBlockJob *s = w->s;
    int64_t offset = s->cursor;
    bool is_read = false;
    int ret;

    trace_backup_do_cow_enter(s, offset, offset, block_copy_task_bytes(w->task));
    ret = block_copy_task_run(w->task, &is_read);
    trace_backup_do_cow_return(s, offset, 0, ret);
    if (ret < 0 && s->task_ret == 0) {
        s->task_ret = ret;
        s->task_error_is_read = is_read;
    } else if (ret == 0) {
        block_job_error_throttle_success(&s->err_throttle);
    }
    g_free(w);
    s->in_flight--;
    if (s->waiting) {
        Coroutine *co = s->waiting;

        s->waiting = NULL;      /* wake once */
        aio_co_wake(co);
    }
}

static void coroutine_fn backup_wait_task(BackupBlockJob *s)
{
    if (s->in_flight == 0) {
        return;
    }
    s->waiting = qemu_coroutine_self();
    qemu_coroutine_yield();
}

static void coroutine_fn backup_wait_all(BackupBlockJob *s)
{
    while (s->in_flight > 0) {
        backup_wait_task(s);
    }
}

static void backup_update_remaining(BackupBlockJob *s)
{
    job_progress_set_remaining(&s->common.job, block_copy_remaining(s->bcs));
}

/*
 * QEMU's policies, with blockd's refinements under `ignore` (as mirror, see
 * block_job_error_action_throttled()): the failed clusters are retried
 * after a backoff instead of at once, and BLOCK_JOB_ERROR is coalesced.
 */
static BlockErrorAction backup_error_action(BackupBlockJob *s, bool is_read,
                                            int error)
{
    BlockdevOnError policy = is_read ? s->on_source_error : s->on_target_error;

    return block_job_error_action_throttled(&s->common, &s->err_throttle,
                                            policy, is_read, error);
}

/*
 * A task failed: decide by policy, once the tasks in flight are done (their
 * errors are the same failure, not new ones to stop on after a resume).
 * Returns 0 to go on (the clusters are dirty again and the walk restarts
 * at them; stop: after the pause) or the error.
 */
static int coroutine_fn backup_handle_error(BackupBlockJob *s)
{
    BlockErrorAction action;
    bool is_read;
    int ret;

    backup_wait_all(s);
    ret = s->task_ret;
    is_read = s->task_error_is_read;
    s->task_ret = 0;
    if (block_copy_snapshot_lost(s->bcs)) {
        return ret;
    }
    action = backup_error_action(s, is_read, -ret);
    trace_backup_error(s, is_read, -ret, BlockErrorAction_str(action));
    if (action == BLOCK_ERROR_ACTION_REPORT) {
        return ret;
    }
    s->cursor = 0;      /* re-dirtied clusters may be behind us */
    if (action == BLOCK_ERROR_ACTION_IGNORE) {
        job_sleep_ns(&s->common.job, s->err_throttle.backoff_ns);
    }
    return 0;
}

/* Pause point: first let the tasks in flight finish (the cursor stays). */
static void coroutine_fn backup_pause_point(BackupBlockJob *s)
{
    if (s->common.job.pause_count > 0 || job_is_cancelled(&s->common.job)) {
        backup_wait_all(s);
    }
    job_pause_point(&s->common.job);
}

static int coroutine_fn backup_loop(BackupBlockJob *s, Error **errp)
{
    Job *job = &s->common.job;
    BlockCopyTask *t;
    int ret;

    while (!job_is_cancelled(job)) {
        backup_pause_point(s);
        if (job_is_cancelled(job)) {
            break;
        }
        if (s->task_ret < 0) {
            ret = backup_handle_error(s);
            if (ret < 0) {
                return ret;
            }
            continue;
        }
        if (s->in_flight >= s->max_workers) {
            backup_wait_task(s);
            continue;
        }
        t = block_copy_task_claim_next(s->bcs, &s->cursor);
        if (!t) {
            if (s->in_flight > 0) {
                backup_wait_task(s);
                continue;
            }
            /*
             * Copies before guest writes (the filter's) still in flight:
             * the job is done only with them, as QEMU (one may fail and
             * dirty its clusters again, and its progress must be counted
             * before the end sets the remaining work to 0).
             */
            if (block_copy_in_flight_bytes(s->bcs) > 0) {
                block_copy_wait_one(s->bcs);
                continue;
            }
            if (bdrv_get_dirty_count(block_copy_dirty_bitmap(s->bcs)) == 0) {
                break;
            }
            s->cursor = 0;
            continue;
        }
        /* Rate limit before dispatch; waking up may find the job paused */
        if (job->speed) {
            int64_t bytes = block_copy_task_bytes(t);
            BackupWorker *w = g_new0(BackupWorker, 1);

            w->s = s;
            w->task = t;
            job_ratelimit_wait(job, bytes);
            job_ratelimit_processed_bytes(job, bytes);
            s->in_flight++;
            qemu_coroutine_enter(qemu_coroutine_create(backup_worker, w));
        } else {
            BackupWorker *w = g_new0(BackupWorker, 1);

            w->s = s;
            w->task = t;
            s->in_flight++;
            qemu_coroutine_enter(qemu_coroutine_create(backup_worker, w));
        }
        backup_update_remaining(s);
    }
    backup_wait_all(s);
    if (s->task_ret < 0 && !job_is_cancelled(job)) {
        return backup_handle_error(s) < 0 ? -EIO : 0;
    }
    if (block_copy_snapshot_lost(s->bcs)) {
        error_setg(errp, "The point-in-time copy was lost: a target write "
                   "failed after the guest overwrote the source");
        return -EIO;
    }
    return 0;
}

/* sync=top: only what the top image allocates */
static int coroutine_fn backup_init_top(BackupBlockJob *s)
{
    int64_t offset = 0, pnum;
    int ret;

    while (offset < s->len) {
        if (job_is_cancelled(&s->common.job)) {
            return 0;
        }
        ret = bdrv_co_is_allocated(s->source_bs, offset, s->len - offset,
                                   &pnum);
        if (ret < 0) {
            return ret;
        }
        if (ret == 0) {
            block_copy_reset(s->bcs, offset, pnum);
        }
        offset += pnum;
        job_pause_point(&s->common.job);
    }
    return 0;
}

static int coroutine_fn backup_run(Job *job, Error **errp)
{
    BackupBlockJob *s = to_backup(job);
    int ret;

    backup_update_remaining(s);
    if (s->sync_mode == MIRROR_SYNC_MODE_NONE) {
        /* Only copy-before-write; finishes when cancelled */
        while (!job_is_cancelled(job)) {
            job_yield(job);
        }
        return 0;
    }
    if (s->sync_mode == MIRROR_SYNC_MODE_TOP) {
        ret = backup_init_top(s);
        if (ret < 0) {
            return ret;
        }
        backup_update_remaining(s);
    }
    ret = backup_loop(s, errp);
    if (ret == 0 && !job_is_cancelled(job)) {
        job_progress_set_remaining(job, 0);
    }
    return ret;
}

/* ---- the end ---- */

static void backup_cleanup_sync_bitmap(BackupBlockJob *s, int ret)
{
    BdrvDirtyBitmap *bm;
    bool sync = ((ret == 0 || s->bitmap_mode == BITMAP_SYNC_MODE_ALWAYS) &&
                 s->bitmap_mode != BITMAP_SYNC_MODE_NEVER);

    if (!s->sync_bitmap) {
        return;
    }
    if (sync) {
        /* The successor (writes since the start) becomes the bitmap */
        bm = bdrv_dirty_bitmap_abdicate(s->sync_bitmap, NULL);
    } else {
        /* Nothing is lost: the writes since the start go back in */
        bm = bdrv_reclaim_dirty_bitmap(s->sync_bitmap, NULL);
    }
    assert(bm);
    if (ret < 0 && sync && s->sync_mode != MIRROR_SYNC_MODE_NONE) {
        /* always: what was not copied stays dirty */
        bdrv_dirty_bitmap_merge_internal(bm, block_copy_dirty_bitmap(s->bcs),
                                         NULL, true);
    }
    s->sync_bitmap = NULL;
}

static void backup_exit_common(Job *job)
{
    BackupBlockJob *s = to_backup(job);
    BlockDriverState *source = s->source_bs;

    if (s->exited) {
        return;
    }
    s->exited = true;
    backup_cleanup_sync_bitmap(s, job->ret);

    bdrv_ref(source);
    bdrv_drained_begin(source);
    block_job_remove_all_bdrv(&s->common);
    blk_remove_bs(s->common.blk);
    cbw_drop(s->cbw);
    s->cbw = NULL;
    s->bcs = NULL;
    bdrv_drained_end(source);
    bdrv_unref(source);
    if (s->target_owned) {
        bdrv_unref(s->target_bs);
        s->target_owned = false;
    }
}

static void backup_commit(Job *job)
{
    backup_exit_common(job);
}

static void backup_abort(Job *job)
{
    backup_exit_common(job);
}

static void backup_clean(Job *job)
{
    backup_exit_common(job);
}

static bool backup_drained_poll(BlockJob *job)
{
    BackupBlockJob *s = container_of(job, BackupBlockJob, common);

    return s->in_flight > 0;
}

static void backup_set_speed(BlockJob *job, int64_t speed)
{
    /* job_set_speed updated the limiter; a sleeping run() is kicked */
}

static const BlockJobDriver backup_job_driver = {
    .job_driver = {
        .instance_size = sizeof(BackupBlockJob),
        .job_type = JOB_TYPE_BACKUP,
        .run = backup_run,
        .commit = backup_commit,
        .abort = backup_abort,
        .clean = backup_clean,
    },
    .drained_poll = backup_drained_poll,
    .set_speed = backup_set_speed,
};

/* ---- creation ---- */

typedef struct BackupArgs {
    const char *job_id;
    BlockDriverState *bs;
    BlockDriverState *target;
    MirrorSyncMode sync;
    BdrvDirtyBitmap *bitmap;
    BitmapSyncMode bitmap_mode;
    bool compress;
    bool discard_source;
    int64_t speed;
    BlockdevOnError on_source_error;
    BlockdevOnError on_target_error;
    OnCbwError on_cbw_error;
    const char *filter_node_name;
    int flags;
    bool use_copy_range;
    int64_t max_workers;
    int64_t max_chunk;
    int64_t min_cluster_size;
    bool target_owned;
    BlockDriverState *target_backing;   /* drive-backup sync=none */
} BackupArgs;

static bool backup_check_bitmap(BackupArgs *a, BackupCommon *c, Error **errp)
{
    if (c->sync == MIRROR_SYNC_MODE_INCREMENTAL) {
        if (c->has_bitmap_mode && c->bitmap_mode != BITMAP_SYNC_MODE_ON_SUCCESS) {
            error_setg(errp, "Bitmap sync mode must be '%s' when using sync "
                       "mode '%s'",
                       BitmapSyncMode_str(BITMAP_SYNC_MODE_ON_SUCCESS),
                       MirrorSyncMode_str(c->sync));
            return false;
        }
        c->has_bitmap_mode = true;
        c->bitmap_mode = BITMAP_SYNC_MODE_ON_SUCCESS;
        a->sync = MIRROR_SYNC_MODE_BITMAP;
    }
    if (c->bitmap) {
        a->bitmap = bdrv_find_dirty_bitmap(a->bs, c->bitmap);
        if (!a->bitmap) {
            error_setg(errp, "Bitmap '%s' could not be found", c->bitmap);
            return false;
        }
        if (!c->has_bitmap_mode) {
            error_setg(errp, "Bitmap sync mode must be given when providing a "
                       "bitmap");
            return false;
        }
        if (bdrv_dirty_bitmap_check(a->bitmap, BDRV_BITMAP_ALLOW_RO, errp)) {
            return false;
        }
        if (c->sync == MIRROR_SYNC_MODE_NONE) {
            error_setg(errp, "sync mode '%s' does not produce meaningful "
                       "bitmap outputs", MirrorSyncMode_str(c->sync));
            return false;
        }
        if ((c->sync == MIRROR_SYNC_MODE_FULL ||
             c->sync == MIRROR_SYNC_MODE_TOP) &&
            c->bitmap_mode == BITMAP_SYNC_MODE_NEVER) {
            error_setg(errp, "Bitmap sync mode '%s' has no meaningful effect "
                       "when combined with sync mode '%s'",
                       BitmapSyncMode_str(c->bitmap_mode),
                       MirrorSyncMode_str(c->sync));
            return false;
        }
        a->bitmap_mode = c->bitmap_mode;
    } else if (c->sync == MIRROR_SYNC_MODE_BITMAP ||
               c->sync == MIRROR_SYNC_MODE_INCREMENTAL) {
        error_setg(errp, "must provide a valid bitmap name for '%s' sync mode",
                   MirrorSyncMode_str(c->sync));
        return false;
    } else if (c->has_bitmap_mode) {
        error_setg(errp, "Cannot specify bitmap sync mode without a bitmap");
        return false;
    }
    return true;
}

static bool backup_check_perf(BackupArgs *a, BackupCommon *c, Error **errp)
{
    BackupPerf *p = c->x_perf;

    a->max_workers = BLOCK_COPY_MAX_WORKERS_DEFAULT;
    if (!p) {
        return true;
    }
    a->use_copy_range = p->has_use_copy_range && p->use_copy_range;
    if (p->has_max_workers) {
        if (p->max_workers < 1 || p->max_workers > INT_MAX) {
            error_setg(errp, "max-workers must be between 1 and %d", INT_MAX);
            return false;
        }
        a->max_workers = p->max_workers;
    }
    if (p->has_max_chunk) {
        if (p->max_chunk < 0) {
            error_setg(errp, "max-chunk must be zero (which means no limit) "
                       "or positive");
            return false;
        }
        a->max_chunk = p->max_chunk;
    }
    if (p->has_min_cluster_size) {
        if (!is_power_of_2(p->min_cluster_size)) {
            error_setg(errp, "min-cluster-size needs to be a power of 2");
            return false;
        }
        if (p->min_cluster_size > INT32_MAX) {
            error_setg(errp, "min-cluster-size too large: %" PRIu64 " > %"
                       PRIi32, p->min_cluster_size, INT32_MAX);
            return false;
        }
        a->min_cluster_size = p->min_cluster_size;
    }
    return true;
}

static int backup_job_flags(BackupCommon *c)
{
    int flags = JOB_DEFAULT;

    if (c->has_auto_finalize && !c->auto_finalize) {
        flags |= JOB_MANUAL_FINALIZE;
    }
    if (c->has_auto_dismiss && !c->auto_dismiss) {
        flags |= JOB_MANUAL_DISMISS;
    }
    return flags;
}

/* Checks that need both nodes (QEMU's backup_job_create order) */
static bool backup_check_nodes(BackupArgs *a, int64_t *cluster, Error **errp)
{
    int64_t len, target_len;

    if (a->bs == a->target) {
        error_setg(errp, "Source and target cannot be the same");
        return false;
    }
    if (!bdrv_is_inserted(a->bs)) {
        error_setg(errp, "Device is not inserted: %s",
                   bdrv_get_node_name(a->bs));
        return false;
    }
    if (!bdrv_is_inserted(a->target)) {
        error_setg(errp, "Device is not inserted: %s",
                   bdrv_get_node_name(a->target));
        return false;
    }
    if (a->compress && !bdrv_skip_filters(a->target)->drv->bdrv_co_pwritev_compressed) {
        error_setg(errp, "Compression is not supported for this drive %s",
                   bdrv_get_node_name(a->target));
        return false;
    }
    if (!block_job_check_node_busy(a->bs, errp)) {
        return false;
    }
    if (!block_job_check_node_busy(a->target, errp)) {
        return false;
    }
    len = bdrv_getlength(a->bs);
    if (len < 0) {
        error_setg_errno(errp, -len, "Unable to get length for '%s'",
                         bdrv_get_node_name(a->bs));
        return false;
    }
    target_len = bdrv_getlength(a->target);
    if (target_len < 0) {
        error_setg_errno(errp, -target_len, "Unable to get length for '%s'",
                         bdrv_get_node_name(a->target));
        return false;
    }
    if (target_len != len) {
        error_setg(errp, "Source and target image have different sizes");
        return false;
    }
    *cluster = block_copy_calculate_cluster_size(a->target, a->min_cluster_size,
                                                 errp);
    if (*cluster < 0) {
        return false;
    }
    if (a->max_chunk && a->max_chunk < *cluster) {
        error_setg(errp, "Required max-chunk (%" PRIi64 ") is less than backup "
                   "cluster size (%" PRIi64 ")", a->max_chunk, *cluster);
        return false;
    }
    return true;
}

/* What the copy bitmap starts with */
static void backup_init_copy_bitmap(BackupBlockJob *s)
{
    BdrvDirtyBitmap *copy = block_copy_dirty_bitmap(s->bcs);

    if (s->sync_mode == MIRROR_SYNC_MODE_BITMAP) {
        bdrv_dirty_bitmap_merge_internal(copy, s->sync_bitmap, NULL, true);
    } else if (s->sync_mode == MIRROR_SYNC_MODE_NONE) {
        /* only what guests overwrite: everything may need saving */
        bdrv_dirty_bitmap_set_all(copy);
    } else {
        bdrv_dirty_bitmap_set_all(copy);
    }
}

/*
 * drive-backup sync=none: the source becomes the new target's backing node
 * (reads of what was not copied fall through to it).  After the filter's
 * insertion, which would otherwise move this link up to the filter too.
 */
static int backup_attach_target_backing(BackupArgs *a, Error **errp)
{
    if (!a->target_backing) {
        return 0;
    }
    if (!bdrv_set_backing_hd(a->target, a->target_backing, errp)) {
        return -EINVAL;
    }
    trace_backup_target_backing(a->target, a->target_backing);
    return 0;
}

static BlockJob *backup_job_create(BackupArgs *a, JobTxn *txn, Error **errp)
{
    BackupBlockJob *s;
    BlockDriverState *cbw;
    int64_t cluster;

    if (!backup_check_nodes(a, &cluster, errp)) {
        return NULL;
    }
    if (a->bitmap && bdrv_dirty_bitmap_create_successor(a->bitmap, errp) < 0) {
        return NULL;
    }
    cbw = cbw_insert(a->bs, a->filter_node_name, a->discard_source, errp);
    if (!cbw) {
        goto fail_bitmap;
    }
    s = block_job_create(a->job_id, &backup_job_driver, txn, cbw, 0,
                         BLK_PERM_ALL, a->speed, a->flags, NULL, NULL, errp);
    if (!s) {
        goto fail_cbw;
    }
    if (cbw_set_target(cbw, a->target, a->on_cbw_error, cluster, a->compress,
                       errp) < 0 ||
        block_job_add_bdrv(&s->common, "target", a->target, 0, BLK_PERM_ALL,
                           errp) < 0 ||
        backup_attach_target_backing(a, errp) < 0) {
        block_job_remove_all_bdrv(&s->common);
        blk_remove_bs(s->common.blk);
        job_early_fail(&s->common.job);
        goto fail_cbw;
    }
    s->cbw = cbw;
    s->bcs = cbw_get_block_copy_state(cbw);
    s->source_bs = a->bs;
    s->target_bs = a->target;
    s->sync_mode = a->sync;
    s->sync_bitmap = a->bitmap;
    s->bitmap_mode = a->bitmap_mode;
    s->on_source_error = a->on_source_error;
    s->on_target_error = a->on_target_error;
    s->len = bdrv_getlength(a->bs);
    s->cluster_size = cluster;
    s->max_workers = a->max_workers;
    s->target_owned = a->target_owned;

    block_copy_set_copy_range(s->bcs, a->use_copy_range);
    block_copy_set_max_chunk(s->bcs, a->max_chunk);
    block_copy_set_progress(s->bcs, backup_progress, s);
    backup_init_copy_bitmap(s);
    trace_backup_start(a->bs, a->target, s, MirrorSyncMode_str(a->sync));
    return &s->common;

fail_cbw:
    cbw_drop(cbw);
fail_bitmap:
    if (a->bitmap) {
        bdrv_reclaim_dirty_bitmap(a->bitmap, NULL);
    }
    return NULL;
}

static bool backup_args_from_common(BackupArgs *a, BackupCommon *c,
                                    Error **errp)
{
    a->job_id = c->job_id;
    a->sync = c->sync;
    a->compress = c->has_compress && c->compress;
    a->speed = c->has_speed ? c->speed : 0;
    a->on_source_error = c->has_on_source_error ? c->on_source_error :
                         BLOCKDEV_ON_ERROR_REPORT;
    a->on_target_error = c->has_on_target_error ? c->on_target_error :
                         BLOCKDEV_ON_ERROR_REPORT;
    a->on_cbw_error = c->has_on_cbw_error ? c->on_cbw_error :
                      ON_CBW_ERROR_BREAK_GUEST_WRITE;
    a->filter_node_name = c->filter_node_name;
    a->flags = backup_job_flags(c);
    if (a->speed < 0) {
        error_setg(errp, "Parameter 'speed' expects a non-negative value");
        return false;
    }
    a->discard_source = c->has_discard_source && c->discard_source;
    if (!backup_check_perf(a, c, errp)) {
        return false;
    }
    a->bs = bdrv_lookup_bs(c->device, c->device, errp);
    if (!a->bs) {
        return false;
    }
    return backup_check_bitmap(a, c, errp);
}

BlockJob *backup_job_create_from_qmp(BlockdevBackup *opts, JobTxn *txn,
                                     Error **errp)
{
    BackupArgs a = { 0 };

    if (!backup_args_from_common(&a, qapi_BlockdevBackup_base(opts), errp)) {
        return NULL;
    }
    a.target = bdrv_lookup_bs(opts->target, opts->target, errp);
    if (!a.target) {
        return NULL;
    }
    return backup_job_create(&a, txn, errp);
}

BlockJob *backup_job_create_with_target(DriveBackup *opts,
                                        BlockDriverState *target,
                                        BlockDriverState *target_backing,
                                        JobTxn *txn, Error **errp)
{
    BackupArgs a = { 0 };
    BlockJob *job;

    if (!backup_args_from_common(&a, qapi_DriveBackup_base(opts), errp)) {
        bdrv_unref(target);
        return NULL;
    }
    a.target = target;
    a.target_owned = true;
    a.target_backing = target_backing;
    job = backup_job_create(&a, txn, errp);
    if (!job) {
        bdrv_unref(target);
    }
    return job;
}
