/*
 * qmp-jobs.c: QMP handlers of the job commands: query-jobs and job-*
 * (jobs looked up by id, "Job not found"), query-block-jobs and
 * block-job-* (block jobs only, DeviceNotActive "Block job '%s' not
 * found"), as QEMU's job-qmp.c and blockdev.c answer them.
 */
#include "qemu/osdep.h"
#include "qemu/job.h"
#include "block/blockjob.h"
#include "qapi/qapi-commands.h"
#include "trace/trace-block.h"

/* ---- job-* ---- */

static Job *find_job(const char *id, Error **errp)
{
    Job *job = job_get(id);

    if (!job) {
        error_setg(errp, "Job not found");
    }
    return job;
}

void qmp_job_cancel(const char *id, Error **errp)
{
    Job *job = find_job(id, errp);

    if (!job) {
        return;
    }
    trace_qmp_job_cancel(job);
    job_user_cancel(job, true, errp);
}

void qmp_job_pause(const char *id, Error **errp)
{
    Job *job = find_job(id, errp);

    if (!job) {
        return;
    }
    trace_qmp_job_pause(job);
    job_user_pause(job, errp);
}

void qmp_job_resume(const char *id, Error **errp)
{
    Job *job = find_job(id, errp);

    if (!job) {
        return;
    }
    trace_qmp_job_resume(job);
    job_user_resume(job, errp);
}

void qmp_job_complete(const char *id, Error **errp)
{
    Job *job = find_job(id, errp);

    if (!job) {
        return;
    }
    trace_qmp_job_complete(job);
    job_complete(job, errp);
}

void qmp_job_finalize(const char *id, Error **errp)
{
    Job *job = find_job(id, errp);

    if (!job) {
        return;
    }
    trace_qmp_job_finalize(job);
    job_ref(job);
    job_finalize(job, errp);
    job_unref(job);
}

void qmp_job_dismiss(const char *id, Error **errp)
{
    Job *job = find_job(id, errp);

    if (!job) {
        return;
    }
    trace_qmp_job_dismiss(job);
    job_dismiss(&job, errp);
}

JobInfoList *qmp_query_jobs(Error **errp)
{
    JobInfoList *head = NULL, **tail = &head;
    Job *job;

    for (job = job_next(NULL); job; job = job_next(job)) {
        JobInfoList *elem;

        if (job_is_internal(job) || job->status == JOB_STATUS_NULL) {
            continue;
        }
        elem = g_new0(JobInfoList, 1);
        elem->value = job_query_single(job, errp);
        *tail = elem;
        tail = &elem->next;
    }
    return head;
}

/* ---- block-job-* ---- */

static BlockJob *find_block_job(const char *id, Error **errp)
{
    BlockJob *job = block_job_get(id);

    if (!job) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_ACTIVE,
                  "Block job '%s' not found", id);
    }
    return job;
}

void qmp_block_job_set_speed(const char *device, int64_t speed, Error **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (!job) {
        return;
    }
    block_job_set_speed(job, speed, errp);
}

void qmp_block_job_cancel(const char *device, bool has_force, bool force,
                          Error **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (!job) {
        return;
    }
    if (!has_force) {
        force = false;
    }
    if (job_user_paused(&job->job) && !force) {
        error_setg(errp, "The block job for device '%s' is currently paused",
                   device);
        return;
    }
    trace_qmp_block_job_cancel(job);
    job_user_cancel(&job->job, force, errp);
}

void qmp_block_job_pause(const char *device, Error **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (!job) {
        return;
    }
    trace_qmp_block_job_pause(job);
    job_user_pause(&job->job, errp);
}

void qmp_block_job_resume(const char *device, Error **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (!job) {
        return;
    }
    trace_qmp_block_job_resume(job);
    job_user_resume(&job->job, errp);
}

void qmp_block_job_complete(const char *device, Error **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (!job) {
        return;
    }
    trace_qmp_block_job_complete(job);
    job_complete(&job->job, errp);
}

void qmp_block_job_finalize(const char *id, Error **errp)
{
    BlockJob *job = find_block_job(id, errp);

    if (!job) {
        return;
    }
    trace_qmp_block_job_finalize(job);
    job_ref(&job->job);
    job_finalize(&job->job, errp);
    job_unref(&job->job);
}

void qmp_block_job_dismiss(const char *id, Error **errp)
{
    BlockJob *bjob = find_block_job(id, errp);
    Job *job;

    if (!bjob) {
        return;
    }
    trace_qmp_block_job_dismiss(bjob);
    job = &bjob->job;
    job_dismiss(&job, errp);
}

void qmp_block_job_change(BlockJobChangeOptions *opts, Error **errp)
{
    BlockJob *job = find_block_job(opts->id, errp);

    if (!job) {
        return;
    }
    block_job_change(job, opts, errp);
}

BlockJobInfoList *qmp_query_block_jobs(Error **errp)
{
    BlockJobInfoList *head = NULL, **tail = &head;
    BlockJob *job;

    for (job = block_job_next(NULL); job; job = block_job_next(job)) {
        BlockJobInfoList *elem;
        BlockJobInfo *info;

        if (block_job_is_internal(job) || job->job.status == JOB_STATUS_NULL) {
            continue;
        }
        info = block_job_query(job, errp);
        if (!info) {
            qapi_free_BlockJobInfoList(head);
            return NULL;
        }
        elem = g_new0(BlockJobInfoList, 1);
        elem->value = info;
        *tail = elem;
        tail = &elem->next;
    }
    return head;
}
