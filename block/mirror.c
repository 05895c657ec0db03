/*
 * mirror.c: the mirror job: copies a source node to a target while the
 * guest keeps writing (through the mirror_top filter, mirror-top.c),
 * reports READY once the target has caught up, and at completion swaps
 * the target into the graph in place of the source (or `replaces`).
 *
 * The loop: an initial dirty map from block status (bounded, yielding
 * steps), then dirty areas are coalesced into operations of up to
 * max_io_bytes, split by block status into copy / write-zeroes / discard,
 * and run concurrently (up to 16 and buf-size bytes); the rate limit is
 * asked before dispatch; a full table waits for any operation to end.
 * See docs/devel/mirror.rst.
 */
#include "qemu/osdep.h"
#include "mirror-int.h"
#include "qapi/qapi-events.h"
#include "trace/trace-block.h"

static MirrorBlockJob *to_mirror(Job *job)
{
    return container_of(job, MirrorBlockJob, common.job);
}

/* ---- errors ---- */

/*
 * QEMU's policies, with blockd's refinements under `ignore` (see
 * block_job_error_action_throttled()): a backoff before the retry and
 * BLOCK_JOB_ERROR coalesced, per operation type.
 */
BlockErrorAction mirror_error_action(MirrorBlockJob *s, bool read, int error)
{
    BlockdevOnError policy = read ? s->on_source_error : s->on_target_error;

    /*
     * Failed because of a force cancel (bdrv_cancel_in_flight): no event,
     * no stop; the job ends as cancelled anyway
     */
    if (job_is_cancelled(&s->common.job)) {
        return BLOCK_ERROR_ACTION_IGNORE;
    }
    s->actively_synced = false;
    return block_job_error_action_throttled(&s->common, &s->err_throttle[read],
                                            policy, read, error);
}

static void mirror_error_success(MirrorBlockJob *s, bool read)
{
    block_job_error_throttle_success(&s->err_throttle[read]);
}

/* ---- one operation ---- */

static BdrvChild *mirror_source_child(MirrorBlockJob *s)
{
    return s->mirror_top_bs->file;
}

/*
 * Copy buffers of max_io_bytes are kept for reuse (at most one per
 * operation in flight): no allocation and no page faults per copy.
 */
static void *mirror_buf_get(MirrorBlockJob *s, int64_t bytes)
{
    void *buf;

    if (bytes > s->max_io_bytes) {
        return qemu_try_memalign(s->buf_align, bytes);
    }
    if (s->free_bufs) {
        buf = s->free_bufs->data;
        s->free_bufs = g_slist_delete_link(s->free_bufs, s->free_bufs);
        return buf;
    }
    return qemu_try_memalign(s->buf_align, s->max_io_bytes);
}

static void mirror_buf_put(MirrorBlockJob *s, void *buf, int64_t bytes)
{
    if (bytes > s->max_io_bytes ||
        g_slist_length(s->free_bufs) >= MIRROR_MAX_IN_FLIGHT) {
        qemu_vfree(buf);
        return;
    }
    s->free_bufs = g_slist_prepend(s->free_bufs, buf);
}

static int coroutine_fn mirror_op_copy(MirrorOp *op, bool *is_read)
{
    MirrorBlockJob *s = op->s;
    QEMUIOVector qiov;
    void *buf;
    int ret;

    buf = mirror_buf_get(s, op->bytes);
    if (!buf) {
        *is_read = true;
        return -ENOMEM;
    }
    qemu_iovec_init_buf(&qiov, buf, op->bytes);
    *is_read = true;
    ret = bdrv_co_preadv(mirror_source_child(s), op->offset, op->bytes, &qiov, 0);
    if (ret >= 0) {
        *is_read = false;
        ret = blk_co_pwritev(s->target, op->offset, op->bytes, &qiov, 0);
    }
    mirror_buf_put(s, buf, op->bytes);
    return ret;
}

static void coroutine_fn mirror_co_op(void *opaque)
{
    MirrorOp *op = opaque;
    MirrorBlockJob *s = op->s;
    bool is_read = false;
    int ret;

    if (op->is_zero) {
        ret = blk_co_pwrite_zeroes(s->target, op->offset, op->bytes,
                                   s->unmap ? BDRV_REQ_MAY_UNMAP : 0);
    } else if (op->is_discard) {
        ret = blk_co_pdiscard(s->target, op->offset, op->bytes);
    } else {
        ret = mirror_op_copy(op, &is_read);
    }
    trace_mirror_iteration_done(s, op->offset, op->bytes, ret);

    if (ret < 0) {
        bdrv_set_dirty_bitmap(s->dirty_bitmap, op->offset, op->bytes);
        if (mirror_error_action(s, is_read, -ret) == BLOCK_ERROR_ACTION_REPORT &&
            s->ret == 0) {
            s->ret = ret;
        }
    } else {
        mirror_error_success(s, is_read);
        job_progress_update(&s->common.job, op->bytes);
    }
    s->in_flight--;
    s->bytes_in_flight -= op->bytes;
    mirror_op_free(op);
}

static void mirror_dispatch(MirrorBlockJob *s, int64_t offset, int64_t bytes,
                            bool is_zero, bool is_discard)
{
    MirrorOp *op = mirror_op_new(s, offset, bytes);

    op->is_zero = is_zero;
    op->is_discard = is_discard;
    s->in_flight++;
    s->bytes_in_flight += bytes;
    trace_mirror_one_iteration(s, offset, bytes);
    aio_co_schedule(qemu_get_aio_context(),
                    qemu_coroutine_create(mirror_co_op, op));
}

/* ---- choosing the next range ---- */

/* Pass accounting at every wrap of the cursor; the convergence switch. */
static void mirror_pass_done(MirrorBlockJob *s, int64_t cnt)
{
    trace_mirror_restart_iter(s, cnt);
    if (s->pass_best_dirty < 0 || cnt < s->pass_best_dirty) {
        s->pass_best_dirty = cnt;
        s->stalled_passes = 0;
    } else {
        s->stalled_passes++;
    }
    if (s->auto_converge && s->copy_mode == MIRROR_COPY_MODE_BACKGROUND &&
        s->stalled_passes >= s->converge_passes) {
        trace_mirror_auto_converge(s, cnt, s->stalled_passes);
        s->copy_mode = MIRROR_COPY_MODE_WRITE_BLOCKING;
    }
}

/*
 * The next dirty area (chunk aligned, at most max bytes) that no
 * operation covers, searching from the cursor and wrapping once.
 * Returns false when every dirty chunk is in flight.
 */
static bool mirror_pick_area(MirrorBlockJob *s, int64_t max, int64_t *offset,
                             int64_t *bytes)
{
    int64_t pos = s->cursor;
    bool wrapped = false;

    for (;;) {
        int64_t start, count, free;
        MirrorOp *op;

        if (pos >= s->bdev_length ||
            !bdrv_dirty_bitmap_next_dirty_area(s->dirty_bitmap, pos,
                                               s->bdev_length, max, &start,
                                               &count)) {
            if (wrapped) {
                return false;
            }
            wrapped = true;
            mirror_pass_done(s, bdrv_get_dirty_count(s->dirty_bitmap));
            pos = 0;
            continue;
        }
        free = mirror_clip_to_free(s, start, count);
        if (free > 0) {
            *offset = start;
            *bytes = free;
            return true;
        }
        /* Its first chunk is in flight: look past that operation */
        op = mirror_find_overlap(s, start, s->granularity, NULL);
        pos = op ? op->offset + op->bytes : start + s->granularity;
        if (wrapped && pos >= s->cursor) {
            return false;
        }
    }
}

/*
 * Split [offset, offset + bytes) by the source's block status into copy,
 * write-zeroes and discard operations.  The range is reserved by a
 * pseudo operation meanwhile, and its dirty bits are cleared before the
 * status is read, so that guest writes from now on dirty it again.
 */
static void coroutine_fn mirror_split_and_dispatch(MirrorBlockJob *s,
                                                   int64_t offset,
                                                   int64_t bytes)
{
    BlockDriverState *source = mirror_source_child(s)->bs;
    MirrorOp *pseudo = mirror_op_new(s, offset, bytes);
    int64_t end = offset + bytes;

    pseudo->is_pseudo = true;
    bdrv_reset_dirty_bitmap(s->dirty_bitmap, offset, bytes);
    while (offset < end) {
        int64_t pnum = 0;
        int ret = bdrv_co_block_status_above(source, NULL, true, offset,
                                             end - offset, &pnum, NULL, NULL,
                                             NULL);
        bool is_zero = false, is_discard = false;

        if (ret < 0 || pnum <= 0) {
            ret = BDRV_BLOCK_DATA;
            pnum = end - offset;
        }
        /* Whole chunks only (the end of the image excepted) */
        if (offset + pnum < end) {
            int64_t aligned = QEMU_ALIGN_DOWN(pnum, s->granularity);

            if (aligned == 0) {
                ret = BDRV_BLOCK_DATA;
                aligned = MIN(s->granularity, end - offset);
            }
            pnum = aligned;
        }
        if (!(ret & BDRV_BLOCK_DATA)) {
            if (ret & BDRV_BLOCK_ZERO) {
                is_zero = true;
            } else if (s->unmap) {
                is_discard = true;
            }
        }
        if (!is_zero && !is_discard) {
            /* Charged to the rate limit only for data actually copied */
            job_ratelimit_processed_bytes(&s->common.job, pnum);
        }
        mirror_dispatch(s, offset, pnum, is_zero, is_discard);
        offset += pnum;
    }
    mirror_op_free(pseudo);
}

/*
 * One step of the loop when the bitmap is dirty: dispatch the next area,
 * or wait (the rate limit, or for any operation when the table or the
 * buffer budget is full or everything dirty is in flight).
 */
static void coroutine_fn mirror_iteration(MirrorBlockJob *s, int64_t cnt)
{
    Job *job = &s->common.job;
    int64_t budget = s->buf_size - s->bytes_in_flight;
    int64_t max = MIN(s->max_io_bytes, QEMU_ALIGN_DOWN(budget, s->granularity));
    int64_t offset, bytes, delay;
    BlockJobErrorThrottle *t;

    if (s->in_flight >= MIRROR_MAX_IN_FLIGHT || max <= 0) {
        trace_mirror_yield(s, cnt, (int)(budget / s->granularity), s->in_flight);
        mirror_wait_for_any_op(s);
        return;
    }
    /* Backing off after ignored errors */
    t = s->err_throttle[0].backoff_ns > s->err_throttle[1].backoff_ns ?
        &s->err_throttle[0] : &s->err_throttle[1];
    if (t->backoff_ns && s->in_flight == 0) {
        trace_mirror_before_sleep(s, cnt, s->synced, t->backoff_ns);
        job_sleep_ns(job, t->backoff_ns);
        return;
    }
    if (!mirror_pick_area(s, max, &offset, &bytes)) {
        trace_mirror_yield(s, cnt, (int)(budget / s->granularity), s->in_flight);
        if (g_queue_is_empty(&s->ops)) {
            job_sleep_ns(job, 0);
        } else {
            mirror_wait_for_any_op(s);
        }
        return;
    }
    /* Ask the limiter before anything goes out (no burst of a whole buffer) */
    delay = ratelimit_calculate_delay(&job->limit, qemu_clock_get_ns(), bytes);
    if (delay > 0) {
        trace_mirror_before_sleep(s, cnt, s->synced, delay);
        job_sleep_ns(job, delay);
        return;
    }
    mirror_split_and_dispatch(s, offset, bytes);
    s->cursor = offset + bytes;
}

/* ---- the initial dirty map ---- */

/* Yield now and then so that a huge, fragmented image never stalls the loop */
static bool coroutine_fn mirror_scan_yield(MirrorBlockJob *s, int64_t *last_ns)
{
    int64_t now = qemu_clock_get_ns();

    if (now - *last_ns < 20 * SCALE_MS) {
        return !job_is_cancelled(&s->common.job);
    }
    job_sleep_ns(&s->common.job, 0);
    *last_ns = qemu_clock_get_ns();
    return !job_is_cancelled(&s->common.job);
}

static int coroutine_fn mirror_dirty_init(MirrorBlockJob *s)
{
    BlockDriverState *source = mirror_source_child(s)->bs;
    int64_t offset = 0, last_ns = qemu_clock_get_ns();
    bool whole = s->sync_mode == MIRROR_SYNC_MODE_FULL && !s->target_is_zero;

    if (s->sync_mode == MIRROR_SYNC_MODE_NONE) {
        return 0;
    }
    if (whole) {
        bdrv_set_dirty_bitmap(s->dirty_bitmap, 0, s->bdev_length);
        return 0;
    }
    while (offset < s->bdev_length) {
        int64_t pnum = 0, bytes = MIN(s->bdev_length - offset,
                                      MIRROR_DIRTY_SCAN_STEP);
        bool dirty;
        int ret;

        if (s->sync_mode == MIRROR_SYNC_MODE_TOP) {
            ret = bdrv_co_is_allocated_above(source, s->base, false, offset,
                                             bytes, &pnum);
            dirty = ret > 0;
        } else {
            ret = bdrv_co_block_status_above(source, NULL, true, offset, bytes,
                                             &pnum, NULL, NULL, NULL);
            dirty = ret >= 0 && !(ret & BDRV_BLOCK_ZERO);
        }
        if (ret < 0) {
            return ret;
        }
        if (pnum <= 0) {
            pnum = bytes;
            dirty = true;
        }
        if (dirty) {
            bdrv_set_dirty_bitmap(s->dirty_bitmap, offset, pnum);
        }
        offset += pnum;
        if (!mirror_scan_yield(s, &last_ns)) {
            return 0;
        }
    }
    return 0;
}

/* ---- the job ---- */

static void coroutine_fn mirror_wait_for_all(MirrorBlockJob *s)
{
    while (s->in_flight > 0) {
        mirror_wait_for_any_op(s);
    }
}

/* Flush the target; false when the job must stop (error reported) */
static bool coroutine_fn mirror_flush(MirrorBlockJob *s, int *ret)
{
    trace_mirror_before_flush(s);
    *ret = blk_co_flush(s->target);
    if (*ret < 0) {
        if (mirror_error_action(s, false, -*ret) == BLOCK_ERROR_ACTION_REPORT) {
            return false;
        }
        *ret = 0;
        return true;
    }
    return true;
}

/* Clean and idle: READY the first time; with complete/cancel, finish. */
static bool coroutine_fn mirror_idle_step(MirrorBlockJob *s, int *ret)
{
    Job *job = &s->common.job;
    BlockDriverState *source = mirror_source_child(s)->bs;
    int64_t cnt;

    if (!s->synced) {
        /*
         * Everything dirty so far was copied: once that is on disk, READY
         * (as QEMU).  Guest writes that land during the flush are copied
         * after it; waiting for a flush with none would never end under a
         * steady guest load.
         */
        if (!mirror_flush(s, ret)) {
            return true;
        }
        s->synced = true;
        job_transition_to_ready(job);
    }
    /* Not if a guest write dirtied the bitmap during the flush */
    if (s->copy_mode == MIRROR_COPY_MODE_WRITE_BLOCKING &&
        !bdrv_get_dirty_count(s->dirty_bitmap)) {
        s->actively_synced = true;
    }
    if (!s->should_complete && !job_cancel_requested(job)) {
        trace_mirror_before_sleep(s, 0, s->synced, JOB_SLICE_TIME_NS);
        job_sleep_ns(job, JOB_SLICE_TIME_NS);
        return false;
    }
    /* Final sync: no guest write may slip in until the pivot */
    cnt = bdrv_get_dirty_count(s->dirty_bitmap);
    trace_mirror_before_drain(s, cnt);
    s->in_drain = true;
    bdrv_co_drained_begin(source);
    if (bdrv_get_dirty_count(s->dirty_bitmap) || s->in_flight ||
        s->active_in_flight) {
        bdrv_co_drained_end(source);
        s->in_drain = false;
        return false;
    }
    if (!mirror_flush(s, ret)) {
        bdrv_co_drained_end(source);
        s->in_drain = false;
        return true;
    }
    /* Drained until mirror_exit_common() */
    s->drained_source = source;
    return true;
}

static int coroutine_fn mirror_run(Job *job, Error **errp)
{
    MirrorBlockJob *s = to_mirror(job);
    int64_t target_length;
    int ret = 0;

    if (job_is_cancelled(job)) {
        return 0;
    }
    s->bdev_length = bdrv_getlength(s->mirror_top_bs);
    if (s->bdev_length < 0) {
        return s->bdev_length;
    }
    target_length = blk_getlength(s->target);
    if (target_length < 0) {
        return target_length;
    }
    if (target_length != s->bdev_length) {
        error_setg(errp, "Source and target image have different sizes");
        return -EINVAL;
    }
    job_progress_set_remaining(job, s->bdev_length);

    ret = mirror_dirty_init(s);
    if (ret < 0 || job_is_cancelled(job)) {
        goto immediate_exit;
    }
    s->initial_map_done = true;
    s->pass_best_dirty = -1;

    for (;;) {
        int64_t cnt;

        if (s->ret < 0) {
            ret = s->ret;
            break;
        }
        job_pause_point(job);
        if (job_is_cancelled(job)) {
            ret = 0;
            break;
        }
        cnt = bdrv_get_dirty_count(s->dirty_bitmap);
        job_progress_set_remaining(job, s->bytes_in_flight + cnt +
                                   s->active_bytes_in_flight);
        if (cnt > 0) {
            mirror_iteration(s, cnt);
            continue;
        }
        if (s->in_flight > 0) {
            trace_mirror_yield(s, cnt, 0, s->in_flight);
            mirror_wait_for_any_op(s);
            continue;
        }
        if (mirror_idle_step(s, &ret)) {
            break;
        }
    }

immediate_exit:
    mirror_wait_for_all(s);
    if (ret == 0 && s->ret < 0) {
        ret = s->ret;
    }
    return ret;
}

static void coroutine_fn mirror_pause(Job *job)
{
    mirror_wait_for_all(to_mirror(job));
}

static bool mirror_drained_poll(BlockJob *bjob)
{
    MirrorBlockJob *s = container_of(bjob, MirrorBlockJob, common);

    /* Our own drain must not wait for us */
    if (s->in_drain) {
        return false;
    }
    if (!bjob->job.paused && !job_is_cancelled(&bjob->job)) {
        return true;
    }
    return s->in_flight > 0;
}

static void mirror_complete(Job *job, Error **errp)
{
    MirrorBlockJob *s = to_mirror(job);

    if (!s->synced) {
        error_setg(errp, "The active block job '%s' cannot be completed",
                   job->id);
        return;
    }
    if (s->replaces && !bdrv_find_node(s->replaces)) {
        error_setg(errp, "Node name '%s' not found", s->replaces);
        return;
    }
    /* QEMU's: the node to replace is busy until the end */
    if (s->to_replace && !s->replace_blocker) {
        error_setg(&s->replace_blocker,
                   "block device is in use by block-job-complete");
        bdrv_op_block_all(s->to_replace, s->replace_blocker);
    }
    s->should_complete = true;
    if (!job->paused) {
        job_enter(job);
    }
}

/*
 * A soft cancel of a READY job completes without pivot (COMPLETED).  A
 * force cancel (any cancel before READY) abandons the target: what is in
 * flight on it is failed now (an NBD server that stopped answering must
 * not keep the job from ending).
 */
static bool mirror_cancel(Job *job, bool force)
{
    MirrorBlockJob *s = to_mirror(job);

    force = force || !s->synced;
    if (force && s->target && blk_bs(s->target)) {
        trace_mirror_cancel_in_flight(s, blk_bs(s->target));
        bdrv_cancel_in_flight(blk_bs(s->target));
    }
    return force;
}

static void mirror_change(BlockJob *bjob, BlockJobChangeOptions *opts,
                          Error **errp)
{
    MirrorBlockJob *s = container_of(bjob, MirrorBlockJob, common);
    MirrorCopyMode want = opts->u.mirror.copy_mode;

    if (s->copy_mode == want) {
        return;
    }
    if (want != MIRROR_COPY_MODE_WRITE_BLOCKING) {
        error_setg(errp, "Change to copy mode '%s' is not implemented",
                   MirrorCopyMode_str(want));
        return;
    }
    if (s->copy_mode != MIRROR_COPY_MODE_BACKGROUND) {
        error_setg(errp, "Expected current copy mode '%s', got '%s'",
                   MirrorCopyMode_str(MIRROR_COPY_MODE_BACKGROUND),
                   MirrorCopyMode_str(s->copy_mode));
        return;
    }
    s->copy_mode = want;
}

static void mirror_query(BlockJob *bjob, BlockJobInfo *info)
{
    MirrorBlockJob *s = container_of(bjob, MirrorBlockJob, common);

    info->u.mirror.actively_synced = s->actively_synced;
}

/* ---- the end: pivot (or not), filter out, nodes back ---- */

static bool mirror_pivot(MirrorBlockJob *s, BlockDriverState *source,
                         BlockDriverState *target_bs, Error **errp)
{
    BlockDriverState *to_replace = source;

    if (s->replaces) {
        to_replace = bdrv_find_node(s->replaces);
        if (!to_replace) {
            error_setg(errp, "Node name '%s' not found", s->replaces);
            return false;
        }
    }
    /*
     * The users of the replaced node see the same mode afterwards: a
     * read-only node is replaced by a read-only target (QEMU's reopen;
     * like QEMU, a failure here shows in the replacement below)
     */
    if (bdrv_is_read_only(to_replace) != bdrv_is_read_only(target_bs)) {
        bdrv_reopen_set_read_only(target_bs, bdrv_is_read_only(to_replace),
                                  NULL);
    }
    if (bdrv_getlength(to_replace) != bdrv_getlength(target_bs)) {
        error_setg(errp, "Can no longer replace '%s' by '%s', because: "
                   "cannot replace image with a mirror image of different size",
                   bdrv_get_node_name(to_replace),
                   bdrv_get_node_name(target_bs));
        return false;
    }
    if (!bdrv_replace_node(to_replace, target_bs, errp)) {
        error_prepend(errp, "Can no longer replace '%s' by '%s', because: ",
                      bdrv_get_node_name(to_replace),
                      bdrv_get_node_name(target_bs));
        return false;
    }
    return true;
}

/*
 * drive-mirror's target gets its backing at a successful end: with
 * mode=absolute-paths it continues the source's chain (its image header
 * already names that backing file), with mode=existing its own backing
 * file is opened.
 */
static bool mirror_attach_backing(MirrorBlockJob *s, BlockDriverState *source,
                                  BlockDriverState *target_bs, Error **errp)
{
    BlockDriverState *backing = s->is_none_mode ? source : s->base;
    BlockDriverState *unfiltered = bdrv_skip_filters(target_bs);

    if (s->backing_mode == MIRROR_OPEN_BACKING_CHAIN) {
        return bdrv_open_backing_file(unfiltered, errp) == 0;
    }
    if (s->backing_mode != MIRROR_SOURCE_BACKING_CHAIN ||
        bdrv_cow_bs(unfiltered) == backing) {
        return true;
    }
    trace_mirror_attach_backing(s, unfiltered, backing);
    return bdrv_set_backing_hd(unfiltered, backing, errp);
}

static int mirror_exit_common(Job *job)
{
    MirrorBlockJob *s = to_mirror(job);
    BlockDriverState *top = s->mirror_top_bs;
    BlockDriverState *source = bdrv_filter_bs(top);
    BlockDriverState *target_bs = s->target ? blk_bs(s->target) : NULL;
    Error *local_err = NULL;
    bool abort = job->ret < 0;
    int ret = 0;

    if (s->prepared) {
        return 0;
    }
    s->prepared = true;

    /* The creator's reference to top is dropped at the end */
    bdrv_ref(source);
    bdrv_ref(target_bs);
    /*
     * Drain each node once: parents linked to a node drained twice would
     * stay quiesced after both drains end (block/graph.c links a parent
     * once per drain level)
     */
    if (s->drained_source != source) {
        bdrv_drained_begin(source);
    }
    s->drained_source = NULL;
    bdrv_drained_begin(target_bs);

    /* The filter stops copying and marking from here on */
    mirror_top_set_job(top, NULL);
    if (s->dirty_bitmap) {
        bdrv_release_dirty_bitmap(s->dirty_bitmap);
        s->dirty_bitmap = NULL;
    }
    block_job_remove_all_bdrv(&s->common);
    blk_remove_bs(s->common.blk);
    blk_unref(s->target);
    s->target = NULL;

    if (!abort && !mirror_attach_backing(s, source, target_bs, &local_err)) {
        error_propagate(&job->err, local_err);
        local_err = NULL;
        ret = -EPERM;
    }
    if (s->should_complete && !abort && !job_cancel_requested(job) && !ret) {
        if (!mirror_pivot(s, source, target_bs, &local_err)) {
            error_propagate(&job->err, local_err);
            ret = -EPERM;
        }
    }
    mirror_top_remove(top);

    bdrv_drained_end(target_bs);
    bdrv_drained_end(source);
    s->in_drain = false;
    if (s->to_replace) {
        if (s->replace_blocker) {
            bdrv_op_unblock_all(s->to_replace, s->replace_blocker);
            error_free(s->replace_blocker);
            s->replace_blocker = NULL;
        }
        bdrv_unref(s->to_replace);
        s->to_replace = NULL;
    }
    bdrv_unref(top);
    bdrv_unref(target_bs);
    bdrv_unref(source);
    return ret;
}

static int mirror_prepare(Job *job)
{
    return mirror_exit_common(job);
}

static void mirror_abort(Job *job)
{
    mirror_exit_common(job);
}

static void mirror_free(Job *job)
{
    MirrorBlockJob *s = to_mirror(job);

    g_slist_free_full(s->free_bufs, qemu_vfree);
    s->free_bufs = NULL;

    g_free(s->replaces);
}

static const BlockJobDriver mirror_job_driver = {
    .job_driver = {
        .instance_size = sizeof(MirrorBlockJob),
        .job_type = JOB_TYPE_MIRROR,
        .run = mirror_run,
        .pause = mirror_pause,
        .complete = mirror_complete,
        .prepare = mirror_prepare,
        .abort = mirror_abort,
        .cancel = mirror_cancel,
        .free = mirror_free,
    },
    .drained_poll = mirror_drained_poll,
    .change = mirror_change,
    .query = mirror_query,
};

/* ---- start ---- */

static void mirror_init_state(MirrorBlockJob *s, const MirrorStartArgs *a,
                              uint32_t granularity)
{
    s->granularity = granularity;
    s->buf_size = ROUND_UP(a->buf_size ? a->buf_size : MIRROR_DEFAULT_BUF_SIZE,
                           granularity);
    s->max_io_bytes = MAX(s->buf_size / MIRROR_MAX_IN_FLIGHT,
                          MIRROR_MAX_IO_BYTES);
    s->max_io_bytes = MAX(QEMU_ALIGN_DOWN(s->max_io_bytes, granularity),
                          granularity);
    s->sync_mode = a->mode;
    s->copy_mode = a->copy_mode;
    s->on_source_error = a->on_source_error;
    s->on_target_error = a->on_target_error;
    s->unmap = a->unmap;
    s->target_is_zero = a->target_is_zero;
    s->auto_converge = a->auto_converge;
    s->converge_passes = a->converge_passes > 0 ? a->converge_passes : 3;
    s->replaces = g_strdup(a->replaces);
    s->is_none_mode = a->mode == MIRROR_SYNC_MODE_NONE;
    s->backing_mode = a->backing_mode;
    s->base = a->mode == MIRROR_SYNC_MODE_TOP ? bdrv_backing_chain_next(a->bs)
                                              : NULL;
    s->pass_best_dirty = -1;
    g_queue_init(&s->ops);
    qemu_co_queue_init(&s->op_done);
}

/* The job's target backend: writes; shares only unchanged writes (QEMU's) */
static BlockBackend *mirror_target_blk(MirrorBlockJob *s,
                                       BlockDriverState *target,
                                       Error **errp)
{
    BlockBackend *blk = blk_new(BLK_PERM_WRITE, BLK_PERM_WRITE_UNCHANGED);
    char *desc;

    if (blk_insert_bs(blk, target, errp) < 0) {
        blk_unref(blk);
        return NULL;
    }
    desc = g_strdup_printf("mirror job '%s'", s->common.job.id);
    blk_set_user_desc(blk, desc);
    g_free(desc);
    return blk;
}

/*
 * Without a granularity from the user: the target's cluster size (4 KiB to
 * 64 KiB), as QEMU.  For a target without clusters QEMU takes 64 KiB;
 * blockd takes the smallest power of two from 4 KiB up that keeps the
 * bitmap within MIRROR_DEFAULT_BITMAP_BITS (4 KiB up to 32 GiB, 64 KiB
 * from 512 GiB), so that a guest's 4 KiB random writes during the mirror
 * make it copy 4 KiB again, not 64 KiB (docs/mirror.md has the figures).
 */
uint32_t mirror_default_granularity(BlockDriverState *target,
                                    BlockDriverState *source)
{
    BlockDriverInfo bdi = { 0 };
    int64_t length = bdrv_getlength(source);
    uint32_t granularity = 4096;

    if (bdrv_get_info(target, &bdi) >= 0 && bdi.cluster_size > 0) {
        return bdrv_get_default_bitmap_granularity(target);
    }
    if (length < 0) {
        return 65536;
    }
    while (granularity < 65536 &&
           length / granularity > MIRROR_DEFAULT_BITMAP_BITS) {
        granularity <<= 1;
    }
    return granularity;
}

void mirror_start(const MirrorStartArgs *a, Error **errp)
{
    BlockDriverState *top;
    MirrorBlockJob *s;
    uint32_t granularity = a->granularity;

    if (!granularity) {
        granularity = mirror_default_granularity(a->target, a->bs);
    }
    assert(is_power_of_2(granularity));

    top = mirror_top_create(a->bs, a->filter_node_name, errp);
    if (!top) {
        return;
    }
    s = block_job_create(a->job_id, &mirror_job_driver, NULL, top, 0,
                         BLK_PERM_ALL, a->speed, a->creation_flags, NULL, NULL,
                         errp);
    if (!s) {
        goto fail_top;
    }
    s->mirror_top_bs = top;
    mirror_init_state(s, a, granularity);

    s->target = mirror_target_blk(s, a->target, errp);
    if (!s->target) {
        goto fail_job;
    }
    s->buf_align = MAX(MAX(a->target->bl.opt_mem_alignment,
                           a->bs->bl.opt_mem_alignment), 4096);
    if (block_job_add_bdrv(&s->common, "target", a->target, 0, BLK_PERM_ALL,
                           errp) < 0) {
        goto fail_job;
    }
    if (a->replaces) {
        s->to_replace = bdrv_find_node(a->replaces);
        bdrv_ref(s->to_replace);
    }
    /* blockdev-del of the source: "Node '...' is busy: ..." (QEMU's) */
    block_job_block_node(&s->common, a->bs);
    s->dirty_bitmap = bdrv_create_dirty_bitmap(top, granularity, NULL, errp);
    if (!s->dirty_bitmap) {
        goto fail_job;
    }
    /* Marked by the filter only (after the write reached the source) */
    bdrv_disable_dirty_bitmap(s->dirty_bitmap);
    s->bdev_length = bdrv_getlength(top);
    mirror_top_set_job(top, s);

    trace_mirror_start(a->bs, s, NULL);
    job_start(&s->common.job);
    return;

fail_job:
    /* Undo in the order of exit: filter off, nodes back */
    if (s->dirty_bitmap) {
        bdrv_release_dirty_bitmap(s->dirty_bitmap);
        s->dirty_bitmap = NULL;
    }
    if (s->to_replace) {
        bdrv_unref(s->to_replace);
        s->to_replace = NULL;
    }
    blk_unref(s->target);
    s->target = NULL;
    block_job_remove_all_bdrv(&s->common);
    blk_remove_bs(s->common.blk);
    job_early_fail(&s->common.job);
fail_top:
    bdrv_ref(top);
    bdrv_drained_begin(a->bs);
    mirror_top_remove(top);
    bdrv_drained_end(a->bs);
    bdrv_unref(top);
    bdrv_unref(top);
}
