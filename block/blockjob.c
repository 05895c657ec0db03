/*
 * blockjob.c: block jobs: a Job with a BlockBackend on its main node, a
 * root child on every node it uses (drains of those nodes pause the job,
 * and the nodes count as busy), the BLOCK_JOB_* events, the I/O status
 * and error policies, block-job-set-speed/-change and query-block-jobs.
 */
#include "qemu/osdep.h"
#include "block/blockjob_int.h"
#include "block/block_int.h"
#include "block/block-backend.h"
#include "qapi/qapi-events.h"
#include "trace/trace-block.h"

/* Retry delay bounds under on-*-error=ignore */
#define BLOCK_JOB_BACKOFF_MIN_NS    (10 * SCALE_MS)
#define BLOCK_JOB_BACKOFF_MAX_NS    (2 * NANOSECONDS_PER_SECOND)
/* At most one BLOCK_JOB_ERROR per this interval and throttle (ignore) */
#define BLOCK_JOB_ERROR_EVENT_NS    NANOSECONDS_PER_SECOND

/* QEMU's is_block_job(): the job types that work on block nodes */
static bool is_block_job(Job *job)
{
    switch (job_type(job)) {
    case JOB_TYPE_BACKUP:
    case JOB_TYPE_COMMIT:
    case JOB_TYPE_MIRROR:
    case JOB_TYPE_STREAM:
        return true;
    default:
        return false;
    }
}

BlockJob *block_job_from_job(Job *job)
{
    return job && is_block_job(job) ? container_of(job, BlockJob, job) : NULL;
}

BlockJob *block_job_next(BlockJob *bjob)
{
    Job *job = bjob ? &bjob->job : NULL;

    do {
        job = job_next(job);
    } while (job && !is_block_job(job));
    return job ? container_of(job, BlockJob, job) : NULL;
}

BlockJob *block_job_get(const char *id)
{
    return block_job_from_job(job_get(id));
}

bool block_job_is_internal(BlockJob *job)
{
    return job_is_internal(&job->job);
}

const BlockJobDriver *block_job_driver(BlockJob *job)
{
    return container_of(job->job.driver, BlockJobDriver, job_driver);
}

/* ---- the job's children: drains pause the job ---- */

static char *child_job_get_parent_desc(BdrvChild *c)
{
    BlockJob *job = c->opaque;

    return g_strdup_printf("%s job '%s'", job_type_str(&job->job),
                           job->job.id ? job->job.id : "");
}

static void child_job_drained_begin(BdrvChild *c)
{
    BlockJob *job = c->opaque;
    const BlockJobDriver *drv = block_job_driver(job);

    job->drain_count++;
    if (drv->drain) {
        drv->drain(job);
    }
    job_pause(&job->job);
}

static void child_job_drained_end(BdrvChild *c)
{
    BlockJob *job = c->opaque;

    assert(job->drain_count > 0);
    job->drain_count--;
    job_resume(&job->job);
}

static bool child_job_drained_poll(BdrvChild *c)
{
    BlockJob *bjob = c->opaque;
    Job *job = &bjob->job;
    const BlockJobDriver *drv = block_job_driver(bjob);

    /*
     * An idle or finished job runs no more driver code before its next
     * pause point: nothing to wait for.
     */
    if (!job->busy || job_is_completed(job)) {
        return false;
    }
    return drv->drained_poll ? drv->drained_poll(bjob) : true;
}

static const BdrvChildClass child_job = {
    .parent_is_bds = false,
    .stay_at_node = true,
    .get_parent_desc = child_job_get_parent_desc,
    .drained_begin = child_job_drained_begin,
    .drained_end = child_job_drained_end,
    .drained_poll = child_job_drained_poll,
};

int block_job_add_bdrv(BlockJob *job, const char *name, BlockDriverState *bs,
                       uint64_t perm, uint64_t shared_perm, Error **errp)
{
    BdrvChild *c;

    c = bdrv_root_attach_child(bs, name, &child_job, 0, perm, shared_perm,
                               job, errp);
    if (!c) {
        return -EPERM;
    }
    c->parent_is_job = true;
    job->nodes = g_slist_prepend(job->nodes, c);
    bdrv_op_block_all(bs, job->blocker);
    return 0;
}

void block_job_block_node(BlockJob *job, BlockDriverState *bs)
{
    bdrv_ref(bs);
    bdrv_op_block_all(bs, job->blocker);
    job->blocked_nodes = g_slist_prepend(job->blocked_nodes, bs);
}

void block_job_remove_all_bdrv(BlockJob *job)
{
    /* Detach one by one: a detach may drain and look at the list */
    while (job->nodes) {
        GSList *l = job->nodes;
        BdrvChild *c = l->data;

        job->nodes = g_slist_delete_link(job->nodes, l);
        bdrv_op_unblock_all(c->bs, job->blocker);
        bdrv_root_unref_child(c);
    }
    while (job->blocked_nodes) {
        BlockDriverState *bs = job->blocked_nodes->data;

        job->blocked_nodes = g_slist_delete_link(job->blocked_nodes,
                                                 job->blocked_nodes);
        bdrv_op_unblock_all(bs, job->blocker);
        bdrv_unref(bs);
    }
}

bool block_job_has_bdrv(BlockJob *job, BlockDriverState *bs)
{
    GSList *l;

    for (l = job->nodes; l; l = l->next) {
        BdrvChild *c = l->data;
        if (c->bs == bs) {
            return true;
        }
    }
    return false;
}

BlockJob *block_job_find_by_node(BlockDriverState *bs)
{
    BlockJob *job;

    for (job = block_job_next(NULL); job; job = block_job_next(job)) {
        if (job->job.status != JOB_STATUS_NULL && block_job_has_bdrv(job, bs)) {
            return job;
        }
    }
    return NULL;
}

bool block_job_check_node_busy(BlockDriverState *bs, Error **errp)
{
    int op;

    /* Jobs block every operation on the nodes they use: any type tells */
    for (op = 0; op < BLOCK_OP_TYPE_MAX; op++) {
        if (bdrv_op_is_blocked(bs, op, errp)) {
            return false;
        }
    }
    return true;
}

/* ---- events and life cycle hooks ---- */

void block_job_iostatus_reset(BlockJob *job)
{
    if (job->iostatus == BLOCK_DEVICE_IO_STATUS_OK) {
        return;
    }
    assert(job->job.user_paused && job->job.pause_count > 0);
    job->iostatus = BLOCK_DEVICE_IO_STATUS_OK;
}

static void block_job_iostatus_set_err(BlockJob *job, int error)
{
    if (job->iostatus == BLOCK_DEVICE_IO_STATUS_OK) {
        job->iostatus = error == ENOSPC ? BLOCK_DEVICE_IO_STATUS_NOSPACE :
                                          BLOCK_DEVICE_IO_STATUS_FAILED;
    }
}

static void block_job_free(BlockJob *bjob)
{
    block_job_remove_all_bdrv(bjob);
    if (bjob->blk) {
        blk_unref(bjob->blk);
        bjob->blk = NULL;
    }
    error_free(bjob->blocker);
    bjob->blocker = NULL;
}

static void block_job_on_event(Job *job, JobEvent event, void *opaque)
{
    BlockJob *bjob = opaque;
    const char *msg = NULL;

    switch (event) {
    case JOB_EVENT_FREE:
        block_job_free(bjob);
        return;
    case JOB_EVENT_USER_RESUME:
        block_job_iostatus_reset(bjob);
        return;
    case JOB_EVENT_IDLE:
        return;
    default:
        break;
    }
    if (job_is_internal(job)) {
        return;
    }
    switch (event) {
    case JOB_EVENT_FINALIZE_CANCELLED:
        qapi_event_send_block_job_cancelled(job_type(job), job->id,
                                            job->progress_total,
                                            job->progress_current, job->speed);
        break;
    case JOB_EVENT_FINALIZE_COMPLETED:
        if (job->ret) {
            msg = error_get_pretty(job->err);
        }
        qapi_event_send_block_job_completed(job_type(job), job->id,
                                            job->progress_total,
                                            job->progress_current, job->speed,
                                            msg);
        break;
    case JOB_EVENT_PENDING:
        qapi_event_send_block_job_pending(job_type(job), job->id);
        break;
    case JOB_EVENT_READY:
        qapi_event_send_block_job_ready(job_type(job), job->id,
                                        job->progress_total,
                                        job->progress_current, job->speed);
        break;
    default:
        break;
    }
}

/* ---- creation ---- */

void *block_job_create(const char *job_id, const BlockJobDriver *driver,
                       JobTxn *txn, BlockDriverState *bs, uint64_t perm,
                       uint64_t shared_perm, int64_t speed, int flags,
                       JobCompletionFunc *cb, void *opaque, Error **errp)
{
    BlockBackend *blk;
    BlockJob *job;
    char *desc;

    blk = blk_new(perm, shared_perm);
    if (blk_insert_bs(blk, bs, errp) < 0) {
        blk_unref(blk);
        return NULL;
    }

    /* Nodes have no BlockBackend names here: no default job ID */
    if (job_id == NULL && !(flags & JOB_INTERNAL)) {
        job_id = "";
    }
    job = job_create(job_id, &driver->job_driver, txn, qemu_get_aio_context(),
                     flags, cb, opaque, errp);
    if (!job) {
        blk_unref(blk);
        return NULL;
    }
    assert(is_block_job(&job->job));
    job->blk = blk;
    blk_set_job_owned(blk);
    job->iostatus = BLOCK_DEVICE_IO_STATUS_OK;
    error_setg(&job->blocker, "block device is in use by block job: %s",
               job_type_str(&job->job));
    desc = g_strdup_printf("%s job '%s'", job_type_str(&job->job),
                           job->job.id ? job->job.id : "");
    blk_set_user_desc(blk, desc);
    g_free(desc);
    job_add_listener(&job->job, block_job_on_event, job);

    if (block_job_add_bdrv(job, "main node", bs, 0, BLK_PERM_ALL, errp) < 0) {
        goto fail;
    }
    if (!job_set_speed(&job->job, speed, errp)) {
        goto fail;
    }
    return job;

fail:
    job_early_fail(&job->job);
    return NULL;
}

/* ---- control ---- */

bool block_job_set_speed(BlockJob *job, int64_t speed, Error **errp)
{
    const BlockJobDriver *drv = block_job_driver(job);

    if (job_apply_verb(&job->job, JOB_VERB_SET_SPEED, errp) < 0) {
        return false;
    }
    if (!job_set_speed(&job->job, speed, errp)) {
        return false;
    }
    if (drv->set_speed) {
        drv->set_speed(job, speed);
    }
    return true;
}

void block_job_change(BlockJob *job, BlockJobChangeOptions *opts, Error **errp)
{
    const BlockJobDriver *drv = block_job_driver(job);

    if (job_apply_verb(&job->job, JOB_VERB_CHANGE, errp)) {
        return;
    }
    if (!drv->change) {
        error_setg(errp, "Job type does not support change");
        return;
    }
    drv->change(job, opts, errp);
}

BlockJobInfo *block_job_query(BlockJob *job, Error **errp)
{
    const BlockJobDriver *drv = block_job_driver(job);
    BlockJobInfo *info;

    if (block_job_is_internal(job)) {
        error_setg(errp, "Cannot query QEMU internal jobs");
        return NULL;
    }
    info = g_new0(BlockJobInfo, 1);
    info->type = job_type(&job->job);
    info->device = g_strdup(job->job.id);
    info->busy = job->job.busy;
    info->paused = job->job.pause_count > 0;
    info->offset = job->job.progress_current;
    info->len = job->job.progress_total;
    info->speed = job->job.speed;
    info->io_status = job->iostatus;
    info->ready = job_is_ready(&job->job);
    info->status = job->job.status;
    info->auto_finalize = job->job.auto_finalize;
    info->auto_dismiss = job->job.auto_dismiss;
    if (job->job.ret) {
        info->error = job->job.err ? g_strdup(error_get_pretty(job->job.err)) :
                                     g_strdup(g_strerror(-job->job.ret));
    }
    if (drv->query) {
        drv->query(job, info);
    }
    return info;
}

/* ---- rate limit and errors ---- */

void block_job_ratelimit_processed_bytes(BlockJob *job, uint64_t n)
{
    job_ratelimit_processed_bytes(&job->job, n);
}

void coroutine_fn block_job_ratelimit_sleep(BlockJob *job)
{
    job_ratelimit_sleep(&job->job);
}

BlockErrorAction block_job_error_action(BlockJob *job, BlockdevOnError on_err,
                                        int is_read, int error)
{
    BlockErrorAction action;

    switch (on_err) {
    case BLOCKDEV_ON_ERROR_ENOSPC:
    case BLOCKDEV_ON_ERROR_AUTO:
        action = error == ENOSPC ? BLOCK_ERROR_ACTION_STOP :
                                   BLOCK_ERROR_ACTION_REPORT;
        break;
    case BLOCKDEV_ON_ERROR_STOP:
        action = BLOCK_ERROR_ACTION_STOP;
        break;
    case BLOCKDEV_ON_ERROR_IGNORE:
        action = BLOCK_ERROR_ACTION_IGNORE;
        break;
    case BLOCKDEV_ON_ERROR_REPORT:
    default:
        action = BLOCK_ERROR_ACTION_REPORT;
        break;
    }
    if (!block_job_is_internal(job)) {
        qapi_event_send_block_job_error(job->job.id,
                                        is_read ? IO_OPERATION_TYPE_READ :
                                                  IO_OPERATION_TYPE_WRITE,
                                        action);
    }
    if (action == BLOCK_ERROR_ACTION_STOP) {
        if (!job->job.user_paused) {
            job_pause(&job->job);
            /* A user-visible pause: job-resume continues the job */
            job->job.user_paused = true;
        }
        block_job_iostatus_set_err(job, error);
    }
    return action;
}

BlockErrorAction block_job_error_action_throttled(BlockJob *job,
                                                  BlockJobErrorThrottle *t,
                                                  BlockdevOnError on_err,
                                                  int is_read, int error)
{
    int64_t now;

    if (on_err != BLOCKDEV_ON_ERROR_IGNORE) {
        return block_job_error_action(job, on_err, is_read, error);
    }
    t->backoff_ns = t->backoff_ns ?
                    MIN(t->backoff_ns * 2, BLOCK_JOB_BACKOFF_MAX_NS) :
                    BLOCK_JOB_BACKOFF_MIN_NS;
    now = qemu_clock_get_ns();
    if (t->last_event_ns && now - t->last_event_ns < BLOCK_JOB_ERROR_EVENT_NS) {
        t->suppressed++;
        trace_block_job_error_coalesced(job, is_read, error, t->suppressed);
        return BLOCK_ERROR_ACTION_IGNORE;
    }
    t->last_event_ns = now;
    t->suppressed = 0;
    return block_job_error_action(job, on_err, is_read, error);
}

void block_job_error_throttle_success(BlockJobErrorThrottle *t)
{
    t->backoff_ns = 0;
}
