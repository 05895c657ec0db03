/*
 * test-blockjob.c: block jobs (block/blockjob.c) on null-co nodes with a
 * test block job driver: creation errors (job id, speed, permissions),
 * busy nodes, drains pausing and resuming the job, error policies
 * (report/ignore/stop/enospc/auto with the I/O status and user resume),
 * set-speed, change, query-block-jobs fields, the nodes released when
 * the job goes away, and job links that bdrv_replace_node() leaves alone.
 */
#include "qemu/osdep.h"
#include "block/blockjob_int.h"
#include "block/block_int.h"
#include "block/block-backend.h"
#include "test-util-block.h"

extern BlockDriver bdrv_null_co;

static AioContext *ctx;

typedef struct TestBJob {
    BlockJob common;
    bool finish;
    bool do_io;
    int writes;
    int iterations;
} TestBJob;

static int coroutine_fn test_bjob_run(Job *job, Error **errp)
{
    TestBJob *s = container_of(job, TestBJob, common.job);
    static uint8_t buf[512];

    job_progress_set_remaining(job, 100);
    while (!s->finish && !job_is_cancelled(job)) {
        if (s->do_io) {
            int ret = blk_co_pwrite(s->common.blk, 0, sizeof(buf), buf, 0);
            g_assert_cmpint(ret, ==, 0);
            s->writes++;
        }
        job_progress_update(job, 1);
        s->iterations++;
        job_sleep_ns(job, 1000000);
    }
    return 0;
}

static const BlockJobDriver test_bjob_driver = {
    .job_driver = {
        .instance_size = sizeof(TestBJob),
        .job_type = JOB_TYPE_STREAM,
        .run = test_bjob_run,
    },
};

static void assert_error(Error **errp, const char *text)
{
    g_assert_nonnull(*errp);
    g_assert_cmpstr(error_get_pretty(*errp), ==, text);
    error_free(*errp);
    *errp = NULL;
}

static BlockDriverState *open_null(const char *name, bool read_only)
{
    g_autofree char *json = g_strdup_printf(
        "{\"driver\": \"null-co\", \"node-name\": \"%s\", \"read-only\": %s}",
        name, read_only ? "true" : "false");

    return test_open_json(json, &error_abort);
}

static TestBJob *create(const char *id, BlockDriverState *bs, int64_t speed,
                        Error **errp)
{
    return block_job_create(id, &test_bjob_driver, NULL, bs,
                            BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE,
                            BLK_PERM_ALL, speed, JOB_DEFAULT, NULL, NULL, errp);
}

/* Cancel, wait until freed, check the nodes are free again */
static void finish(TestBJob *s, BlockDriverState *bs)
{
    Job *job = &s->common.job;

    job_ref(job);
    job_user_cancel(job, true, &error_abort);
    WAIT_FOR(job->status == JOB_STATUS_NULL);
    job_unref(job);
    g_assert_null(block_job_next(NULL));
    g_assert_null(block_job_find_by_node(bs));
    g_assert_true(block_job_check_node_busy(bs, &error_abort));
}

static void test_create_errors(void)
{
    BlockDriverState *bs = open_null("n0", false);
    BlockDriverState *ro = open_null("ro", true);
    Error *err = NULL;

    /* nodes have no device name: an omitted id is invalid */
    g_assert_null(create(NULL, bs, 0, &err));
    assert_error(&err, "Invalid job ID ''");
    g_assert_null(create("9", bs, 0, &err));
    assert_error(&err, "Invalid job ID '9'");
    g_assert_null(create("j", bs, -1, &err));
    assert_error(&err, "Parameter 'speed' expects a non-negative value");
    g_assert_null(job_next(NULL));
    /* write permission on a read-only node */
    g_assert_null(create("j", ro, 0, &err));
    g_assert_nonnull(err);
    error_free(err);
    err = NULL;
    g_assert_null(job_next(NULL));
    g_assert_true(block_job_check_node_busy(bs, &error_abort));

    bdrv_unref(bs);
    bdrv_unref(ro);
}

static void test_busy_and_query(void)
{
    BlockDriverState *bs = open_null("n0", false);
    BlockDriverState *target = open_null("t0", false);
    TestBJob *s = create("bj", bs, 1024 * 1024, &error_abort);
    BlockJob *bjob = &s->common;
    Error *err = NULL;
    BlockJobInfo *info;

    g_assert_true(block_job_get("bj") == bjob);
    g_assert_true(block_job_from_job(job_get("bj")) == bjob);
    g_assert_cmpint(bjob->job.status, ==, JOB_STATUS_CREATED);
    g_assert_false(block_job_check_node_busy(bs, &err));
    assert_error(&err, "Node 'n0' is busy: block device is in use by block job: stream");
    g_assert_true(block_job_check_node_busy(target, &error_abort));
    g_assert_cmpint(block_job_add_bdrv(bjob, "target", target, 0, BLK_PERM_ALL,
                                       &error_abort), ==, 0);
    g_assert_true(block_job_has_bdrv(bjob, target));
    g_assert_false(block_job_check_node_busy(target, &err));
    assert_error(&err, "Node 't0' is busy: block device is in use by block job: stream");

    job_start(&bjob->job);
    WAIT_FOR(s->iterations >= 2);
    info = block_job_query(bjob, &error_abort);
    g_assert_cmpint(info->type, ==, JOB_TYPE_STREAM);
    g_assert_cmpstr(info->device, ==, "bj");
    g_assert_cmpint(info->len, ==, 100);
    g_assert_cmpint(info->offset, >=, 2);
    g_assert_false(info->paused);
    g_assert_cmpint(info->speed, ==, 1024 * 1024);
    g_assert_cmpint(info->io_status, ==, BLOCK_DEVICE_IO_STATUS_OK);
    g_assert_false(info->ready);
    g_assert_cmpint(info->status, ==, JOB_STATUS_RUNNING);
    g_assert_true(info->auto_finalize && info->auto_dismiss);
    g_assert_null(info->error);
    qapi_free_BlockJobInfo(info);

    g_assert_false(block_job_set_speed(bjob, -5, &err));
    assert_error(&err, "Parameter 'speed' expects a non-negative value");
    g_assert_true(block_job_set_speed(bjob, 0, &error_abort));
    g_assert_cmpint(bjob->job.speed, ==, 0);

    block_job_change(bjob, &(BlockJobChangeOptions){ .id = (char *)"bj",
                                                     .type = JOB_TYPE_STREAM },
                     &err);
    assert_error(&err, "Job type does not support change");

    finish(s, bs);
    g_assert_true(block_job_check_node_busy(target, &error_abort));
    bdrv_unref(bs);
    bdrv_unref(target);
}

static void test_drain_pauses(void)
{
    BlockDriverState *bs = open_null("n0", false);
    TestBJob *s = create("bj", bs, 0, &error_abort);
    Job *job = &s->common.job;
    int writes;

    s->do_io = true;
    job_start(job);
    WAIT_FOR(s->writes >= 2);

    bdrv_drained_begin(bs);
    /* the drain waited until the job stopped at a pause point */
    g_assert_false(job->busy);
    WAIT_FOR(job->status == JOB_STATUS_PAUSED);
    g_assert_false(job_user_paused(job));
    g_assert_cmpint(job->pause_count, ==, 1);
    g_assert_cmpint(s->common.drain_count, ==, 1);
    writes = s->writes;
    for (int i = 0; i < 20; i++) {
        aio_poll(ctx, true);
    }
    g_assert_cmpint(s->writes, ==, writes);
    bdrv_drained_end(bs);
    WAIT_FOR(s->writes >= writes + 2);
    g_assert_cmpint(job->status, ==, JOB_STATUS_RUNNING);

    /* a user pause and a drain nest */
    job_user_pause(job, &error_abort);
    WAIT_FOR(job->status == JOB_STATUS_PAUSED);
    bdrv_drained_begin(bs);
    job_user_resume(job, &error_abort);
    aio_poll(ctx, false);
    g_assert_cmpint(job->status, ==, JOB_STATUS_PAUSED);
    bdrv_drained_end(bs);
    WAIT_FOR(job->status == JOB_STATUS_RUNNING);

    finish(s, bs);
    bdrv_unref(bs);
}

static void test_error_action(void)
{
    BlockDriverState *bs = open_null("n0", false);
    TestBJob *s = create("bj", bs, 0, &error_abort);
    BlockJob *bjob = &s->common;
    Job *job = &bjob->job;
    BlockJobInfo *info;
    Error *err = NULL;

    job_start(job);
    WAIT_FOR(s->iterations >= 1);

    g_assert_cmpint(block_job_error_action(bjob, BLOCKDEV_ON_ERROR_REPORT, 1, EIO),
                    ==, BLOCK_ERROR_ACTION_REPORT);
    g_assert_cmpint(block_job_error_action(bjob, BLOCKDEV_ON_ERROR_IGNORE, 0, EIO),
                    ==, BLOCK_ERROR_ACTION_IGNORE);
    g_assert_cmpint(block_job_error_action(bjob, BLOCKDEV_ON_ERROR_ENOSPC, 0, EIO),
                    ==, BLOCK_ERROR_ACTION_REPORT);
    g_assert_cmpint(block_job_error_action(bjob, BLOCKDEV_ON_ERROR_AUTO, 0, EIO),
                    ==, BLOCK_ERROR_ACTION_REPORT);
    g_assert_cmpint(job->pause_count, ==, 0);
    g_assert_cmpint(bjob->iostatus, ==, BLOCK_DEVICE_IO_STATUS_OK);

    /* stop: a user-visible pause with io-status failed */
    g_assert_cmpint(block_job_error_action(bjob, BLOCKDEV_ON_ERROR_STOP, 0, EIO),
                    ==, BLOCK_ERROR_ACTION_STOP);
    WAIT_FOR(job->status == JOB_STATUS_PAUSED);
    g_assert_true(job_user_paused(job));
    info = block_job_query(bjob, &error_abort);
    g_assert_true(info->paused);
    g_assert_cmpint(info->io_status, ==, BLOCK_DEVICE_IO_STATUS_FAILED);
    qapi_free_BlockJobInfo(info);
    /* a second error while stopped keeps the first status and pause count */
    block_job_error_action(bjob, BLOCKDEV_ON_ERROR_ENOSPC, 0, ENOSPC);
    g_assert_cmpint(job->pause_count, ==, 1);
    g_assert_cmpint(bjob->iostatus, ==, BLOCK_DEVICE_IO_STATUS_FAILED);
    job_user_pause(job, &err);
    assert_error(&err, "Job is already paused");
    job_user_resume(job, &error_abort);
    g_assert_cmpint(bjob->iostatus, ==, BLOCK_DEVICE_IO_STATUS_OK);
    WAIT_FOR(job->status == JOB_STATUS_RUNNING);

    /* enospc and auto stop on ENOSPC with io-status nospace */
    g_assert_cmpint(block_job_error_action(bjob, BLOCKDEV_ON_ERROR_AUTO, 1, ENOSPC),
                    ==, BLOCK_ERROR_ACTION_STOP);
    WAIT_FOR(job->status == JOB_STATUS_PAUSED);
    g_assert_cmpint(bjob->iostatus, ==, BLOCK_DEVICE_IO_STATUS_NOSPACE);
    /* cancelling a stopped job resumes it and clears the status */
    finish(s, bs);
    bdrv_unref(bs);
}

/*
 * bdrv_replace_node() leaves a job's links where they are (QEMU's
 * stay_at_node for job children): the job keeps working on the node it
 * was given, while other users move.
 */
static void test_links_stay_at_node(void)
{
    BlockDriverState *bs = open_null("n0", false);
    BlockDriverState *target = open_null("t0", false);
    BlockDriverState *other = open_null("t1", false);
    TestBJob *s = create("bj", bs, 0, &error_abort);
    BlockJob *bjob = &s->common;
    BlockBackend *user = blk_new(BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL);

    g_assert_cmpint(blk_insert_bs(user, target, &error_abort), ==, 0);
    g_assert_cmpint(block_job_add_bdrv(bjob, "target", target, 0, BLK_PERM_ALL,
                                       &error_abort), ==, 0);
    g_assert_true(bdrv_replace_node(target, other, &error_abort));
    g_assert_true(blk_bs(user) == other);
    g_assert_true(block_job_has_bdrv(bjob, target));
    g_assert_false(block_job_has_bdrv(bjob, other));
    g_assert_cmpint(g_list_length(target->parents), ==, 1);

    blk_unref(user);
    job_start(&bjob->job);
    finish(s, bs);
    g_assert_null(target->parents);
    bdrv_unref(bs);
    bdrv_unref(target);
    bdrv_unref(other);
}

static void test_blk_released(void)
{
    BlockDriverState *bs = open_null("n0", false);
    int refcnt = bs->refcnt;
    TestBJob *s = create("bj", bs, 0, &error_abort);

    g_assert_cmpint(bs->refcnt, >, refcnt);
    g_assert_nonnull(s->common.blk);
    g_assert_true(blk_bs(s->common.blk) == bs);
    s->finish = true;
    job_start(&s->common.job);
    WAIT_FOR(block_job_next(NULL) == NULL);
    g_assert_cmpint(bs->refcnt, ==, refcnt);
    bdrv_unref(bs);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    ctx = qemu_get_aio_context();
    test_start_ticker();
    bdrv_register(&bdrv_null_co);

    g_test_add_func("/blockjob/create-errors", test_create_errors);
    g_test_add_func("/blockjob/busy-and-query", test_busy_and_query);
    g_test_add_func("/blockjob/drain-pauses", test_drain_pauses);
    g_test_add_func("/blockjob/error-action", test_error_action);
    g_test_add_func("/blockjob/blk-released", test_blk_released);
    g_test_add_func("/blockjob/links-stay-at-node", test_links_stay_at_node);
    return g_test_run();
}
