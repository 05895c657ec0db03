/*
 * create.c: blockdev-create, a job of type "create" that runs the
 * driver's bdrv_co_create() on a copy of the options.  Like QEMU's, the
 * job is not a block job (no BLOCK_JOB_* events) and is not dismissed
 * automatically: the client sends job-dismiss once it is concluded.
 */
#include "qemu/osdep.h"
#include "qemu/job.h"
#include "block/block_int.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"
#include "trace/trace-block.h"

typedef struct BlockdevCreateJob {
    Job common;
    BlockDriver *drv;
    BlockdevCreateOptions *opts;
} BlockdevCreateJob;

static int coroutine_fn blockdev_create_run(Job *job, Error **errp)
{
    BlockdevCreateJob *s = container_of(job, BlockdevCreateJob, common);
    int ret;

    job_progress_set_remaining(&s->common, 1);
    ret = s->drv->bdrv_co_create(s->opts, errp);
    job_progress_update(&s->common, 1);
    qapi_free_BlockdevCreateOptions(s->opts);
    s->opts = NULL;
    return ret;
}

static void blockdev_create_free(Job *job)
{
    BlockdevCreateJob *s = container_of(job, BlockdevCreateJob, common);

    qapi_free_BlockdevCreateOptions(s->opts);
    s->opts = NULL;
}

static const JobDriver blockdev_create_job_driver = {
    .instance_size = sizeof(BlockdevCreateJob),
    .job_type = JOB_TYPE_CREATE,
    .run = blockdev_create_run,
    .free = blockdev_create_free,
};

/* A deep copy through the generated visitors (QEMU's QAPI_CLONE). */
static BlockdevCreateOptions *blockdev_create_options_clone(const BlockdevCreateOptions *opts)
{
    json_object *obj = visit_out_BlockdevCreateOptions(opts);
    BlockdevCreateOptions *copy = NULL;

    visit_type_BlockdevCreateOptions(obj, NULL, &copy, &error_abort);
    json_object_put(obj);
    return copy;
}

void qmp_blockdev_create(const char *job_id, BlockdevCreateOptions *options,
                         Error **errp)
{
    const char *fmt = BlockdevDriver_str(options->driver);
    BlockDriver *drv = bdrv_find_format(fmt);
    BlockdevCreateJob *s;

    if (!drv) {
        error_setg(errp, "Block driver '%s' not found or not supported", fmt);
        return;
    }
    if (!drv->bdrv_co_create) {
        error_setg(errp, "Driver does not support blockdev-create");
        return;
    }
    s = job_create(job_id, &blockdev_create_job_driver, NULL,
                   qemu_get_aio_context(), JOB_DEFAULT | JOB_MANUAL_DISMISS,
                   NULL, NULL, errp);
    if (!s) {
        return;
    }
    s->drv = drv;
    s->opts = blockdev_create_options_clone(options);
    trace_blockdev_create_job(s, fmt);
    job_start(&s->common);
}
