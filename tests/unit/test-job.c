/*
 * test-job.c: the generic job layer (block/job.c) driven by a test job
 * driver: the verb table, job IDs, every life cycle (auto and manual
 * finalize/dismiss, failure, prepare failure), the pause counter (user,
 * internal, READY -> STANDBY), cancel in each state (created, running,
 * paused, ready soft/force, pending, concluded), transactions (wait for
 * all, one failure cancels the rest, grouped finalize, prepare failure),
 * wake-ups of sleeping jobs, speed and the rate limit, cancel_sync_all.
 *
 * Status sequences are recorded through JOB_EVENT_STATUS_CHANGE.
 */
#include "qemu/osdep.h"
#include "qemu/job.h"
#include "test-util-block.h"

static AioContext *ctx;

/* What a test job reports (lives on after the job is freed) */
typedef struct TestState {
    GString *log;               /* " created running ..." */
    int ret;                    /* what run() returns */
    int prepare_ret;
    bool finish;                /* run() ends */
    bool go_ready;              /* transition to READY */
    bool should_complete;
    int64_t sleep_ns;           /* per iteration */
    uint64_t chunk;             /* bytes per iteration through the rate limit */
    uint64_t bytes;
    int iterations;
    int n_prepare, n_commit, n_abort, n_clean, n_complete, n_free;
    int n_pause, n_resume;
    int cb_ret;
    bool cb_called;
    bool ran_to_end;
    bool soft_ok;               /* driver treats soft cancels as soft */
} TestState;

typedef struct TestJob {
    Job common;
    TestState *st;
} TestJob;

static TestState *ts(Job *job)
{
    return container_of(job, TestJob, common)->st;
}

static int coroutine_fn test_job_run(Job *job, Error **errp)
{
    TestState *st = ts(job);

    while (!st->finish && !job_is_cancelled(job)) {
        if (st->go_ready && !job_is_ready(job)) {
            job_transition_to_ready(job);
        }
        if (st->should_complete) {
            break;
        }
        if (job_cancel_requested(job) && job_is_ready(job)) {
            break;      /* soft cancel after READY: finish cleanly */
        }
        if (st->chunk) {
            job_ratelimit_wait(job, st->chunk);
            job_ratelimit_processed_bytes(job, st->chunk);
            st->bytes += st->chunk;
        }
        job_sleep_ns(job, st->sleep_ns);
        st->iterations++;
        job_progress_update(job, 1);
        job_progress_set_remaining(job, 1);
    }
    st->ran_to_end = true;
    if (st->ret) {
        error_setg(errp, "%s", g_strerror(-st->ret));
    }
    return st->ret;
}

static void coroutine_fn test_job_pause(Job *job)
{
    ts(job)->n_pause++;
}

static void coroutine_fn test_job_resume(Job *job)
{
    ts(job)->n_resume++;
}

static void test_job_complete(Job *job, Error **errp)
{
    ts(job)->n_complete++;
    ts(job)->should_complete = true;
    job_enter(job);
}

static int test_job_prepare(Job *job)
{
    ts(job)->n_prepare++;
    return ts(job)->prepare_ret;
}

static void test_job_commit(Job *job)
{
    ts(job)->n_commit++;
}

static void test_job_abort(Job *job)
{
    ts(job)->n_abort++;
}

static void test_job_clean(Job *job)
{
    ts(job)->n_clean++;
}

static bool test_job_cancel(Job *job, bool force)
{
    /* mirror-like: a soft cancel in READY is a clean finish */
    return force || !(job_is_ready(job) || ts(job)->soft_ok);
}

static void test_job_free(Job *job)
{
    ts(job)->n_free++;
}

static const JobDriver test_driver = {
    .instance_size = sizeof(TestJob),
    .job_type = JOB_TYPE_MIRROR,
    .run = test_job_run,
    .pause = test_job_pause,
    .resume = test_job_resume,
    .complete = test_job_complete,
    .prepare = test_job_prepare,
    .commit = test_job_commit,
    .abort = test_job_abort,
    .clean = test_job_clean,
    .cancel = test_job_cancel,
    .free = test_job_free,
};

/* Same without complete and cancel hooks (like backup, create) */
static const JobDriver plain_driver = {
    .instance_size = sizeof(TestJob),
    .job_type = JOB_TYPE_BACKUP,
    .run = test_job_run,
    .prepare = test_job_prepare,
    .commit = test_job_commit,
    .abort = test_job_abort,
    .clean = test_job_clean,
    .free = test_job_free,
};

static void log_status(Job *job, JobEvent ev, void *opaque)
{
    TestState *st = opaque;

    if (ev == JOB_EVENT_STATUS_CHANGE) {
        g_string_append_printf(st->log, " %s", JobStatus_str(job->status));
    }
}

static void test_cb(void *opaque, int ret)
{
    TestState *st = opaque;

    st->cb_called = true;
    st->cb_ret = ret;
}

static TestState *state_new(void)
{
    TestState *st = g_new0(TestState, 1);

    st->log = g_string_new("");
    st->sleep_ns = 1000000;     /* 1 ms */
    return st;
}

static void state_free(TestState *st)
{
    g_string_free(st->log, TRUE);
    g_free(st);
}

static Job *make_job(const char *id, const JobDriver *drv, JobTxn *txn,
                     int flags, TestState *st)
{
    TestJob *tj = job_create(id, drv, txn, ctx, flags, test_cb, st,
                             &error_abort);

    tj->st = st;
    g_string_append_printf(st->log, " %s", JobStatus_str(tj->common.status));
    job_add_listener(&tj->common, log_status, st);
    return &tj->common;
}

static void assert_no_jobs(void)
{
    g_assert_null(job_next(NULL));
}

static void assert_error(Error **errp, const char *text)
{
    g_assert_nonnull(*errp);
    g_assert_cmpstr(error_get_pretty(*errp), ==, text);
    error_free(*errp);
    *errp = NULL;
}

/* ---- tests ---- */

/* Which states accept each verb (QEMU's table), independent of job.c */
static void test_verb_table(void)
{
    static const char *const allowed[JOB_VERB__MAX] = {
        [JOB_VERB_CANCEL] = "created running paused ready standby waiting pending",
        [JOB_VERB_PAUSE] = "created running paused ready standby",
        [JOB_VERB_RESUME] = "created running paused ready standby",
        [JOB_VERB_SET_SPEED] = "created running paused ready standby",
        [JOB_VERB_COMPLETE] = "ready standby",
        [JOB_VERB_FINALIZE] = "pending",
        [JOB_VERB_DISMISS] = "concluded",
        [JOB_VERB_CHANGE] = "created running paused ready standby",
    };
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, 0, st);
    Error *err = NULL;

    for (int v = 0; v < JOB_VERB__MAX; v++) {
        g_auto(GStrv) states = g_strsplit(allowed[v], " ", -1);

        for (int s = 0; s < JOB_STATUS__MAX; s++) {
            bool expect = g_strv_contains((const char *const *)states,
                                          JobStatus_str(s));
            int ret;

            job->status = s;
            ret = job_apply_verb(job, v, &err);
            if (expect) {
                g_assert_cmpint(ret, ==, 0);
                g_assert_null(err);
            } else {
                g_autofree char *text = g_strdup_printf(
                    "Job 'j' in state '%s' cannot accept command verb '%s'",
                    JobStatus_str(s), JobVerb_str(v));
                g_assert_cmpint(ret, ==, -EPERM);
                assert_error(&err, text);
            }
        }
    }
    job->status = JOB_STATUS_CREATED;
    job_early_fail(job);
    g_assert_cmpstr(st->log->str, ==, " created null");
    g_assert_cmpint(st->n_free, ==, 1);
    assert_no_jobs();
    state_free(st);
}

static void test_job_ids(void)
{
    TestState *st = state_new();
    Error *err = NULL;
    Job *job;

    g_assert_null(job_create("0bad", &test_driver, NULL, ctx, 0, NULL, NULL, &err));
    assert_error(&err, "Invalid job ID '0bad'");
    g_assert_null(job_create("a b", &test_driver, NULL, ctx, 0, NULL, NULL, &err));
    assert_error(&err, "Invalid job ID 'a b'");
    g_assert_null(job_create("", &test_driver, NULL, ctx, 0, NULL, NULL, &err));
    assert_error(&err, "Invalid job ID ''");
    g_assert_null(job_create(NULL, &test_driver, NULL, ctx, 0, NULL, NULL, &err));
    assert_error(&err, "An explicit job ID is required");
    g_assert_null(job_create("x", &test_driver, NULL, ctx, JOB_INTERNAL, NULL,
                             NULL, &err));
    assert_error(&err, "Cannot specify job ID for internal job");

    job = make_job("a.b-c_D9", &test_driver, NULL, 0, st);
    g_assert_true(job_get("a.b-c_D9") == job);
    g_assert_null(job_create("a.b-c_D9", &test_driver, NULL, ctx, 0, NULL, NULL,
                             &err));
    assert_error(&err, "Job ID 'a.b-c_D9' already in use");
    job_early_fail(job);
    g_assert_null(job_get("a.b-c_D9"));

    /* Internal jobs have no id and are not found by job_get() */
    job = make_job(NULL, &test_driver, NULL, JOB_INTERNAL, st);
    g_assert_true(job_is_internal(job));
    job_early_fail(job);
    assert_no_jobs();
    state_free(st);
}

static void test_lifecycle_auto(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, 0, st);

    g_assert_true(job->auto_finalize && job->auto_dismiss);
    job_start(job);
    g_assert_cmpint(job->status, ==, JOB_STATUS_RUNNING);
    WAIT_FOR(st->iterations >= 3);
    g_assert_cmpint(job->progress_current, >=, 3);
    st->finish = true;
    WAIT_FOR(st->n_free == 1);
    g_assert_cmpstr(st->log->str, ==,
                    " created running waiting pending concluded null");
    g_assert_cmpint(st->n_prepare, ==, 1);
    g_assert_cmpint(st->n_commit, ==, 1);
    g_assert_cmpint(st->n_abort, ==, 0);
    g_assert_cmpint(st->n_clean, ==, 1);
    g_assert_true(st->cb_called);
    g_assert_cmpint(st->cb_ret, ==, 0);
    assert_no_jobs();
    state_free(st);
}

static void test_lifecycle_manual(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL,
                        JOB_MANUAL_FINALIZE | JOB_MANUAL_DISMISS, st);
    Error *err = NULL;
    JobInfo *info;

    g_assert_false(job->auto_finalize || job->auto_dismiss);
    st->finish = true;
    job_start(job);
    WAIT_FOR(job->status == JOB_STATUS_PENDING);
    g_assert_cmpint(st->n_prepare, ==, 0);
    /* dismiss too early */
    job_dismiss(&job, &err);
    assert_error(&err, "Job 'j' in state 'pending' cannot accept command verb 'dismiss'");
    g_assert_nonnull(job);
    job_finalize(job, &error_abort);
    g_assert_cmpint(job->status, ==, JOB_STATUS_CONCLUDED);
    g_assert_cmpint(st->n_commit, ==, 1);
    job_finalize(job, &err);
    assert_error(&err, "Job 'j' in state 'concluded' cannot accept command verb 'finalize'");

    info = job_query_single(job, &error_abort);
    g_assert_cmpstr(info->id, ==, "j");
    g_assert_cmpint(info->type, ==, JOB_TYPE_MIRROR);
    g_assert_cmpint(info->status, ==, JOB_STATUS_CONCLUDED);
    g_assert_null(info->error);
    qapi_free_JobInfo(info);

    job_dismiss(&job, &error_abort);
    g_assert_null(job);
    g_assert_cmpstr(st->log->str, ==,
                    " created running waiting pending concluded null");
    g_assert_cmpint(st->n_free, ==, 1);
    assert_no_jobs();
    state_free(st);
}

static void test_fail(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, JOB_MANUAL_DISMISS, st);
    JobInfo *info;

    st->finish = true;
    st->ret = -EIO;
    job_start(job);
    WAIT_FOR(job->status == JOB_STATUS_CONCLUDED);
    g_assert_cmpstr(st->log->str, ==, " created running aborting concluded");
    g_assert_cmpint(st->n_prepare, ==, 0);
    g_assert_cmpint(st->n_commit, ==, 0);
    g_assert_cmpint(st->n_abort, ==, 1);
    g_assert_cmpint(st->n_clean, ==, 1);
    g_assert_cmpint(st->cb_ret, ==, -EIO);
    info = job_query_single(job, &error_abort);
    g_assert_cmpstr(info->error, ==, "Input/output error");
    qapi_free_JobInfo(info);
    job_dismiss(&job, &error_abort);
    assert_no_jobs();
    state_free(st);
}

static void test_prepare_fail(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, 0, st);

    st->finish = true;
    st->prepare_ret = -EPERM;
    job_start(job);
    WAIT_FOR(st->n_free == 1);
    g_assert_cmpstr(st->log->str, ==,
                    " created running waiting pending aborting concluded null");
    g_assert_cmpint(st->n_prepare, ==, 1);
    g_assert_cmpint(st->n_commit, ==, 0);
    g_assert_cmpint(st->n_abort, ==, 1);
    g_assert_cmpint(st->cb_ret, ==, -EPERM);
    state_free(st);
}

static void test_pause_counter(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, 0, st);
    Error *err = NULL;

    job_start(job);
    job_user_resume(job, &err);
    assert_error(&err, "Can't resume a job that was not paused");

    job_user_pause(job, &error_abort);
    WAIT_FOR(job->status == JOB_STATUS_PAUSED);
    g_assert_true(job->paused && job_user_paused(job));
    g_assert_cmpint(st->n_pause, ==, 1);
    job_user_pause(job, &err);
    assert_error(&err, "Job is already paused");

    /* An internal pause (drain) on top of the user's */
    job_pause(job);
    g_assert_cmpint(job->pause_count, ==, 2);
    job_user_resume(job, &error_abort);
    g_assert_false(job_user_paused(job));
    g_assert_cmpint(job->pause_count, ==, 1);
    aio_poll(ctx, false);
    g_assert_cmpint(job->status, ==, JOB_STATUS_PAUSED);
    job_user_resume(job, &err);
    assert_error(&err, "Can't resume a job that was not paused");
    job_resume(job);
    WAIT_FOR(job->status == JOB_STATUS_RUNNING && st->n_resume >= 1);

    st->finish = true;
    WAIT_FOR(st->n_free == 1);
    g_assert_cmpstr(st->log->str, ==,
                    " created running paused running waiting pending concluded null");
    state_free(st);
}

/* A job created inside a drain runs its first pause point paused. */
static void test_pause_before_start(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, 0, st);

    job_pause(job);
    job_start(job);
    WAIT_FOR(job->status == JOB_STATUS_PAUSED);
    g_assert_cmpint(st->iterations, ==, 0);
    job_resume(job);
    st->finish = true;
    WAIT_FOR(st->n_free == 1);
    g_assert_cmpstr(st->log->str, ==,
                    " created running paused running waiting pending concluded null");
    state_free(st);
}

static void test_ready_standby_complete(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, 0, st);
    Error *err = NULL;

    job_start(job);
    job_complete(job, &err);
    assert_error(&err, "Job 'j' in state 'running' cannot accept command verb 'complete'");
    st->go_ready = true;
    WAIT_FOR(job->status == JOB_STATUS_READY);
    job_user_pause(job, &error_abort);
    WAIT_FOR(job->status == JOB_STATUS_STANDBY);
    g_assert_true(job_is_ready(job));
    job_user_resume(job, &error_abort);
    WAIT_FOR(job->status == JOB_STATUS_READY);
    job_complete(job, &error_abort);
    g_assert_cmpint(st->n_complete, ==, 1);
    WAIT_FOR(st->n_free == 1);
    g_assert_cmpstr(st->log->str, ==,
                    " created running ready standby ready waiting pending concluded null");
    g_assert_cmpint(st->n_commit, ==, 1);
    state_free(st);
}

static void test_complete_unsupported(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &plain_driver, NULL, 0, st);
    Error *err = NULL;

    st->go_ready = true;
    job_start(job);
    WAIT_FOR(job->status == JOB_STATUS_READY);
    job_complete(job, &err);
    assert_error(&err, "The active block job 'j' cannot be completed");
    /* without a cancel hook every cancel is a force cancel */
    job_user_cancel(job, false, &error_abort);
    g_assert_true(job_is_cancelled(job));
    WAIT_FOR(st->n_free == 1);
    g_assert_cmpstr(st->log->str, ==,
                    " created running ready aborting concluded null");
    g_assert_cmpint(st->cb_ret, ==, -ECANCELED);
    state_free(st);
}

static void test_cancel_created(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, JOB_MANUAL_DISMISS, st);

    job_user_cancel(job, true, &error_abort);
    /* never started: dismissed even with auto-dismiss off */
    g_assert_cmpstr(st->log->str, ==, " created aborting concluded null");
    g_assert_cmpint(st->n_abort, ==, 1);
    g_assert_cmpint(st->n_free, ==, 1);
    assert_no_jobs();
    state_free(st);
}

static void test_cancel_running(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, 0, st);

    st->sleep_ns = 60 * NANOSECONDS_PER_SECOND;  /* the cancel must wake it */
    job_start(job);
    job_ref(job);
    job_user_cancel(job, true, &error_abort);
    WAIT_FOR(job->status == JOB_STATUS_NULL);
    g_assert_true(st->ran_to_end);
    g_assert_cmpint(job->ret, ==, -ECANCELED);
    g_assert_cmpstr(error_get_pretty(job->err), ==, "Operation canceled");
    job_unref(job);
    g_assert_cmpstr(st->log->str, ==, " created running aborting concluded null");
    g_assert_cmpint(st->n_abort, ==, 1);
    g_assert_cmpint(st->n_commit, ==, 0);
    state_free(st);
}

static void test_cancel_paused(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, 0, st);

    job_start(job);
    job_user_pause(job, &error_abort);
    WAIT_FOR(job->status == JOB_STATUS_PAUSED);
    job_user_cancel(job, true, &error_abort);
    g_assert_false(job_user_paused(job));
    WAIT_FOR(st->n_free == 1);
    g_assert_cmpstr(st->log->str, ==,
                    " created running paused running aborting concluded null");
    state_free(st);
}

static void test_cancel_ready_soft(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, 0, st);

    st->go_ready = true;
    job_start(job);
    WAIT_FOR(job->status == JOB_STATUS_READY);
    job_user_cancel(job, false, &error_abort);
    g_assert_true(job_cancel_requested(job));
    g_assert_false(job_is_cancelled(job));
    WAIT_FOR(st->n_free == 1);
    /* a soft cancel after READY completes cleanly */
    g_assert_cmpstr(st->log->str, ==,
                    " created running ready waiting pending concluded null");
    g_assert_cmpint(st->n_commit, ==, 1);
    g_assert_cmpint(st->cb_ret, ==, 0);
    state_free(st);
}

static void test_cancel_ready_force(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, 0, st);
    Error *err = NULL;

    st->go_ready = true;
    job_start(job);
    WAIT_FOR(job->status == JOB_STATUS_READY);
    job_user_cancel(job, true, &error_abort);
    /* a cancel requested: complete refused */
    job_complete(job, &err);
    if (err) {
        error_free(err);
    }
    WAIT_FOR(st->n_free == 1);
    g_assert_cmpstr(st->log->str, ==,
                    " created running ready aborting concluded null");
    g_assert_cmpint(st->n_abort, ==, 1);
    state_free(st);
}

static void test_cancel_pending(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, JOB_MANUAL_FINALIZE, st);

    st->finish = true;
    job_start(job);
    WAIT_FOR(job->status == JOB_STATUS_PENDING);
    job_user_cancel(job, true, &error_abort);
    g_assert_cmpstr(st->log->str, ==,
                    " created running waiting pending aborting concluded null");
    g_assert_cmpint(st->n_prepare, ==, 0);
    g_assert_cmpint(st->n_abort, ==, 1);
    g_assert_cmpint(st->cb_ret, ==, -ECANCELED);
    state_free(st);
}

static void test_cancel_concluded(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, JOB_MANUAL_DISMISS, st);
    Error *err = NULL;

    st->finish = true;
    job_start(job);
    WAIT_FOR(job->status == JOB_STATUS_CONCLUDED);
    job_user_cancel(job, true, &err);
    assert_error(&err, "Job 'j' in state 'concluded' cannot accept command verb 'cancel'");
    /* an internal cancel (shutdown) of a concluded job dismisses it */
    g_assert_cmpint(job_cancel_sync(job, true), ==, 0);
    g_assert_cmpstr(st->log->str, ==,
                    " created running waiting pending concluded null");
    assert_no_jobs();
    state_free(st);
}

static void test_soft_cancel_after_done(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, JOB_MANUAL_FINALIZE, st);

    st->finish = true;
    st->soft_ok = true;
    job_start(job);
    WAIT_FOR(job->status == JOB_STATUS_PENDING);
    /* run() already returned: a soft cancel is ignored */
    job_user_cancel(job, false, &error_abort);
    g_assert_false(job_cancel_requested(job));
    g_assert_cmpint(job->status, ==, JOB_STATUS_PENDING);
    job_finalize(job, &error_abort);
    g_assert_cmpint(st->cb_ret, ==, 0);
    g_assert_cmpint(st->n_commit, ==, 1);
    g_assert_cmpint(st->n_free, ==, 1);
    g_assert_cmpstr(st->log->str, ==,
                    " created running waiting pending concluded null");
    state_free(st);
}

static void test_txn_success(void)
{
    TestState *a = state_new(), *b = state_new();
    JobTxn *txn = job_txn_new();
    Job *ja = make_job("a", &test_driver, txn, 0, a);
    Job *jb = make_job("b", &test_driver, txn, 0, b);

    job_txn_unref(txn);
    a->finish = true;
    job_start(ja);
    job_start(jb);
    WAIT_FOR(ja->status == JOB_STATUS_WAITING);
    WAIT_FOR(b->iterations >= 3);
    g_assert_cmpint(ja->status, ==, JOB_STATUS_WAITING);
    g_assert_cmpint(a->n_prepare, ==, 0);
    b->finish = true;
    WAIT_FOR(a->n_free == 1 && b->n_free == 1);
    g_assert_cmpstr(a->log->str, ==,
                    " created running waiting pending concluded null");
    g_assert_cmpstr(b->log->str, ==,
                    " created running waiting pending concluded null");
    g_assert_cmpint(a->n_commit + b->n_commit, ==, 2);
    state_free(a);
    state_free(b);
}

static void test_txn_abort(void)
{
    TestState *a = state_new(), *b = state_new(), *c = state_new();
    JobTxn *txn = job_txn_new();
    Job *ja = make_job("a", &test_driver, txn, 0, a);
    Job *jb = make_job("b", &test_driver, txn, 0, b);
    Job *jc = make_job("c", &test_driver, txn, 0, c);

    job_txn_unref(txn);
    b->sleep_ns = 60 * NANOSECONDS_PER_SECOND;
    c->finish = true;
    job_start(ja);
    job_start(jb);
    job_start(jc);
    WAIT_FOR(jc->status == JOB_STATUS_WAITING);
    a->ret = -EIO;
    a->finish = true;
    WAIT_FOR(a->n_free == 1 && b->n_free == 1 && c->n_free == 1);
    g_assert_cmpstr(a->log->str, ==, " created running aborting concluded null");
    g_assert_cmpstr(b->log->str, ==, " created running aborting concluded null");
    g_assert_cmpstr(c->log->str, ==,
                    " created running waiting aborting concluded null");
    g_assert_cmpint(a->cb_ret, ==, -EIO);
    g_assert_cmpint(b->cb_ret, ==, -ECANCELED);
    g_assert_cmpint(c->cb_ret, ==, -ECANCELED);
    g_assert_cmpint(a->n_abort + b->n_abort + c->n_abort, ==, 3);
    g_assert_cmpint(a->n_commit + b->n_commit + c->n_commit, ==, 0);
    state_free(a);
    state_free(b);
    state_free(c);
}

static void test_txn_finalize_group(void)
{
    TestState *a = state_new(), *b = state_new();
    JobTxn *txn = job_txn_new();
    Job *ja = make_job("a", &test_driver, txn, JOB_MANUAL_FINALIZE, a);
    Job *jb = make_job("b", &test_driver, txn, JOB_MANUAL_FINALIZE, b);

    job_txn_unref(txn);
    a->finish = b->finish = true;
    job_start(ja);
    job_start(jb);
    WAIT_FOR(ja->status == JOB_STATUS_PENDING && jb->status == JOB_STATUS_PENDING);
    job_finalize(jb, &error_abort);
    g_assert_cmpint(a->n_free + b->n_free, ==, 2);
    g_assert_cmpint(a->n_commit + b->n_commit, ==, 2);
    g_assert_cmpstr(a->log->str, ==,
                    " created running waiting pending concluded null");
    state_free(a);
    state_free(b);
}

static void test_txn_prepare_fail(void)
{
    TestState *a = state_new(), *b = state_new();
    JobTxn *txn = job_txn_new();
    Job *ja = make_job("a", &test_driver, txn, 0, a);
    Job *jb = make_job("b", &test_driver, txn, 0, b);

    job_txn_unref(txn);
    a->finish = b->finish = true;
    b->prepare_ret = -ENOSPC;
    job_start(ja);
    job_start(jb);
    WAIT_FOR(a->n_free == 1 && b->n_free == 1);
    g_assert_cmpint(a->n_commit + b->n_commit, ==, 0);
    g_assert_cmpint(a->n_abort + b->n_abort, ==, 2);
    g_assert_cmpint(a->cb_ret, ==, -ECANCELED);
    g_assert_cmpint(b->cb_ret, ==, -ENOSPC);
    g_assert_cmpstr(a->log->str, ==,
                    " created running waiting pending aborting concluded null");
    g_assert_cmpstr(b->log->str, ==,
                    " created running waiting pending aborting concluded null");
    state_free(a);
    state_free(b);
}

static void test_speed(void)
{
    TestState *st = state_new();
    Job *job = make_job("j", &test_driver, NULL, 0, st);
    Error *err = NULL;
    int64_t start;

    g_assert_false(job_set_speed(job, -1, &err));
    assert_error(&err, "Parameter 'speed' expects a non-negative value");

    /* 640 KiB/s in 64 KiB pieces, no sleep of its own: ~0.5 s per 320 KiB */
    g_assert_true(job_set_speed(job, 640 * 1024, &error_abort));
    st->chunk = 64 * 1024;
    st->sleep_ns = 0;
    start = qemu_clock_get_ns();
    job_start(job);
    WAIT_FOR(qemu_clock_get_ns() - start > 500000000);
    /* unlimited would be hundreds of MiB; allow generous slack */
    g_assert_cmpuint(st->bytes, <, 4 * 1024 * 1024);
    g_assert_cmpuint(st->bytes, >, 0);

    /* unlimited: the job speeds up at once (sleeping job woken) */
    job_set_speed(job, 0, &error_abort);
    st->bytes = 0;
    start = qemu_clock_get_ns();
    WAIT_FOR(st->bytes > 8 * 1024 * 1024);
    st->finish = true;
    WAIT_FOR(st->n_free == 1);
    state_free(st);
}

static void test_cancel_sync_all(void)
{
    TestState *a = state_new(), *b = state_new(), *c = state_new();
    Job *ja = make_job("a", &test_driver, NULL, 0, a);
    Job *jc = make_job("c", &test_driver, NULL, JOB_MANUAL_DISMISS, c);

    make_job("b", &test_driver, NULL, JOB_MANUAL_FINALIZE, b);
    a->sleep_ns = 60 * NANOSECONDS_PER_SECOND;
    c->finish = true;
    job_start(ja);
    job_start(jc);
    WAIT_FOR(jc->status == JOB_STATUS_CONCLUDED);
    job_cancel_sync_all();
    assert_no_jobs();
    g_assert_cmpint(a->n_free + b->n_free + c->n_free, ==, 3);
    g_assert_cmpstr(b->log->str, ==, " created aborting concluded null");
    state_free(a);
    state_free(b);
    state_free(c);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    ctx = qemu_get_aio_context();
    test_start_ticker();

    g_test_add_func("/job/verb-table", test_verb_table);
    g_test_add_func("/job/ids", test_job_ids);
    g_test_add_func("/job/lifecycle/auto", test_lifecycle_auto);
    g_test_add_func("/job/lifecycle/manual", test_lifecycle_manual);
    g_test_add_func("/job/lifecycle/fail", test_fail);
    g_test_add_func("/job/lifecycle/prepare-fail", test_prepare_fail);
    g_test_add_func("/job/pause/counter", test_pause_counter);
    g_test_add_func("/job/pause/before-start", test_pause_before_start);
    g_test_add_func("/job/ready/standby-complete", test_ready_standby_complete);
    g_test_add_func("/job/ready/complete-unsupported", test_complete_unsupported);
    g_test_add_func("/job/cancel/created", test_cancel_created);
    g_test_add_func("/job/cancel/running", test_cancel_running);
    g_test_add_func("/job/cancel/paused", test_cancel_paused);
    g_test_add_func("/job/cancel/ready-soft", test_cancel_ready_soft);
    g_test_add_func("/job/cancel/ready-force", test_cancel_ready_force);
    g_test_add_func("/job/cancel/pending", test_cancel_pending);
    g_test_add_func("/job/cancel/concluded", test_cancel_concluded);
    g_test_add_func("/job/cancel/soft-after-done", test_soft_cancel_after_done);
    g_test_add_func("/job/txn/success", test_txn_success);
    g_test_add_func("/job/txn/abort", test_txn_abort);
    g_test_add_func("/job/txn/finalize-group", test_txn_finalize_group);
    g_test_add_func("/job/txn/prepare-fail", test_txn_prepare_fail);
    g_test_add_func("/job/speed", test_speed);
    g_test_add_func("/job/cancel-sync-all", test_cancel_sync_all);
    return g_test_run();
}
