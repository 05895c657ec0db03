/*
 * job.c: the generic job layer: QEMU's job state machine (states,
 * transitions, verbs), the job coroutine and its pause points, sleeping
 * and waking, cancellation, transactions and finalization, progress and
 * the rate limit.  Block-specific parts live in blockjob.c.
 *
 * Everything runs in the main AioContext; see include/qemu/job.h and
 * docs/devel/jobs.rst.
 */
#include "qemu/osdep.h"
#include "qemu/job.h"
#include "qapi/qapi-events.h"
#include "trace/trace-block.h"

struct JobTxn {
    GList *jobs;                    /* Job * */
    bool aborting;
    int refcnt;
};

typedef struct JobListener {
    JobListenerFunc *fn;
    void *opaque;
} JobListener;

/* All jobs, newest first (as QEMU lists them). */
static GList *jobs;

/* Allowed transitions: JobSTT[from][to] */
static const bool JobSTT[JOB_STATUS__MAX][JOB_STATUS__MAX] = {
    /*                          U  C  R  P  Y  S  W  D  X  E  N */
    [JOB_STATUS_UNDEFINED] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
    [JOB_STATUS_CREATED]   = { 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1 },
    [JOB_STATUS_RUNNING]   = { 0, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0 },
    [JOB_STATUS_PAUSED]    = { 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 },
    [JOB_STATUS_READY]     = { 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0 },
    [JOB_STATUS_STANDBY]   = { 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 },
    [JOB_STATUS_WAITING]   = { 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0 },
    [JOB_STATUS_PENDING]   = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0 },
    [JOB_STATUS_ABORTING]  = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0 },
    [JOB_STATUS_CONCLUDED] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
    [JOB_STATUS_NULL]      = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
};

/* Verbs accepted per state: JobVerbTable[verb][state] */
static const bool JobVerbTable[JOB_VERB__MAX][JOB_STATUS__MAX] = {
    /*                          U  C  R  P  Y  S  W  D  X  E  N */
    [JOB_VERB_CANCEL]      = { 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 },
    [JOB_VERB_PAUSE]       = { 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0 },
    [JOB_VERB_RESUME]      = { 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0 },
    [JOB_VERB_SET_SPEED]   = { 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0 },
    [JOB_VERB_COMPLETE]    = { 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0 },
    [JOB_VERB_FINALIZE]    = { 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 },
    [JOB_VERB_DISMISS]     = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 },
    [JOB_VERB_CHANGE]      = { 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0 },
};

/* ---- transactions ---- */

JobTxn *job_txn_new(void)
{
    JobTxn *txn = g_new0(JobTxn, 1);

    txn->refcnt = 1;
    return txn;
}

static void job_txn_ref(JobTxn *txn)
{
    txn->refcnt++;
}

void job_txn_unref(JobTxn *txn)
{
    if (txn && --txn->refcnt == 0) {
        assert(!txn->jobs);
        g_free(txn);
    }
}

void job_txn_add_job(JobTxn *txn, Job *job)
{
    if (!txn) {
        return;
    }
    assert(!job->txn);
    job->txn = txn;
    txn->jobs = g_list_append(txn->jobs, job);
    job_txn_ref(txn);
}

static void job_txn_del_job(Job *job)
{
    if (job->txn) {
        job->txn->jobs = g_list_remove(job->txn->jobs, job);
        job_txn_unref(job->txn);
        job->txn = NULL;
    }
}

/*
 * Call fn on every job of job's transaction until one returns non-zero;
 * returns that value.  The list may change under fn (jobs leave it when
 * they conclude), so iterate over a copy holding references.
 */
static int job_txn_apply(Job *job, int (*fn)(Job *))
{
    JobTxn *txn = job->txn;
    GList *copy, *l;
    int rc = 0;

    job_txn_ref(txn);
    copy = g_list_copy(txn->jobs);
    for (l = copy; l; l = l->next) {
        job_ref(l->data);
    }
    for (l = copy; l; l = l->next) {
        rc = fn(l->data);
        if (rc) {
            break;
        }
    }
    for (l = copy; l; l = l->next) {
        job_unref(l->data);
    }
    g_list_free(copy);
    job_txn_unref(txn);
    return rc;
}

/* ---- listeners ---- */

void job_add_listener(Job *job, JobListenerFunc *fn, void *opaque)
{
    JobListener *l = g_new0(JobListener, 1);

    l->fn = fn;
    l->opaque = opaque;
    job->listeners = g_slist_append(job->listeners, l);
}

void job_remove_listener(Job *job, JobListenerFunc *fn, void *opaque)
{
    GSList *s;

    for (s = job->listeners; s; s = s->next) {
        JobListener *l = s->data;
        if (l->fn == fn && l->opaque == opaque) {
            job->listeners = g_slist_delete_link(job->listeners, s);
            g_free(l);
            return;
        }
    }
}

static void job_notify(Job *job, JobEvent event)
{
    GSList *s, *next;

    for (s = job->listeners; s; s = next) {
        JobListener *l = s->data;
        next = s->next;
        l->fn(job, event, l->opaque);
    }
}

/* ---- state machine ---- */

static void job_state_transition(Job *job, JobStatus s1)
{
    JobStatus s0 = job->status;

    assert(s1 >= 0 && s1 < JOB_STATUS__MAX);
    trace_job_state_transition(job, job->ret,
                               JobSTT[s0][s1] ? "allowed" : "disallowed",
                               JobStatus_str(s0), JobStatus_str(s1));
    assert(JobSTT[s0][s1]);
    job->status = s1;
    if (s1 != s0) {
        if (!job_is_internal(job)) {
            qapi_event_send_job_status_change(job->id, job->status);
        }
        job_notify(job, JOB_EVENT_STATUS_CHANGE);
    }
}

int job_apply_verb(Job *job, JobVerb verb, Error **errp)
{
    JobStatus s0 = job->status;

    assert(verb >= 0 && verb < JOB_VERB__MAX);
    trace_job_apply_verb(job, JobStatus_str(s0), JobVerb_str(verb),
                         JobVerbTable[verb][s0] ? "allowed" : "prohibited");
    if (JobVerbTable[verb][s0]) {
        return 0;
    }
    error_setg(errp, "Job '%s' in state '%s' cannot accept command verb '%s'",
               job->id, JobStatus_str(s0), JobVerb_str(verb));
    return -EPERM;
}

/* ---- simple queries ---- */

JobType job_type(const Job *job)
{
    return job->driver->job_type;
}

const char *job_type_str(const Job *job)
{
    return JobType_str(job_type(job));
}

bool job_is_internal(const Job *job)
{
    return job->id == NULL;
}

bool job_is_cancelled(const Job *job)
{
    return job->cancelled && job->force_cancel;
}

bool job_cancel_requested(const Job *job)
{
    return job->cancelled;
}

bool job_is_ready(const Job *job)
{
    return job->status == JOB_STATUS_READY || job->status == JOB_STATUS_STANDBY;
}

bool job_is_completed(const Job *job)
{
    switch (job->status) {
    case JOB_STATUS_WAITING:
    case JOB_STATUS_PENDING:
    case JOB_STATUS_ABORTING:
    case JOB_STATUS_CONCLUDED:
    case JOB_STATUS_NULL:
        return true;
    default:
        return false;
    }
}

static bool job_started(const Job *job)
{
    return job->co != NULL;
}

static bool job_should_pause(const Job *job)
{
    return job->pause_count > 0;
}

bool job_user_paused(const Job *job)
{
    return job->user_paused;
}

Job *job_next(Job *job)
{
    GList *l;

    if (!job) {
        return jobs ? jobs->data : NULL;
    }
    l = g_list_find(jobs, job);
    return l && l->next ? l->next->data : NULL;
}

Job *job_get(const char *id)
{
    GList *l;

    for (l = jobs; l; l = l->next) {
        Job *job = l->data;
        if (job->id && !strcmp(job->id, id)) {
            return job;
        }
    }
    return NULL;
}

/* QEMU's id_wellformed(): a letter, then letters, digits, '-', '.', '_' */
static bool job_id_wellformed(const char *id)
{
    const char *p;

    if (!g_ascii_isalpha(id[0])) {
        return false;
    }
    for (p = id + 1; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '_') {
            return false;
        }
    }
    return true;
}

/* ---- progress ---- */

void job_progress_update(Job *job, uint64_t done)
{
    job->progress_current += done;
}

void job_progress_set_remaining(Job *job, uint64_t remaining)
{
    job->progress_total = job->progress_current + remaining;
}

void job_progress_increase_remaining(Job *job, uint64_t delta)
{
    job->progress_total += delta;
}

/* ---- creation and references ---- */

static void job_sleep_timer_cb(void *opaque)
{
    job_enter(opaque);
}

void *job_create(const char *job_id, const JobDriver *driver, JobTxn *txn,
                 AioContext *ctx, int flags, JobCompletionFunc *cb,
                 void *opaque, Error **errp)
{
    Job *job;

    if (job_id) {
        if (flags & JOB_INTERNAL) {
            error_setg(errp, "Cannot specify job ID for internal job");
            return NULL;
        }
        if (!job_id_wellformed(job_id)) {
            error_setg(errp, "Invalid job ID '%s'", job_id);
            return NULL;
        }
        if (job_get(job_id)) {
            error_setg(errp, "Job ID '%s' already in use", job_id);
            return NULL;
        }
    } else if (!(flags & JOB_INTERNAL)) {
        error_setg(errp, "An explicit job ID is required");
        return NULL;
    }
    assert(driver->instance_size >= sizeof(Job));

    job = g_malloc0(driver->instance_size);
    job->driver = driver;
    job->id = g_strdup(job_id);
    job->refcnt = 1;
    job->aio_context = ctx ? ctx : qemu_get_aio_context();
    job->busy = false;
    job->paused = true;
    job->pause_count = 1;
    job->auto_finalize = !(flags & JOB_MANUAL_FINALIZE);
    job->auto_dismiss = !(flags & JOB_MANUAL_DISMISS);
    job->cb = cb;
    job->opaque = opaque;
    ratelimit_init(&job->limit);
    job->sleep_timer = aio_timer_new(job->aio_context, job_sleep_timer_cb, job);

    jobs = g_list_prepend(jobs, job);

    job_state_transition(job, JOB_STATUS_CREATED);

    /* A job always has a transaction, possibly of its own. */
    if (txn) {
        job_txn_add_job(txn, job);
    } else {
        txn = job_txn_new();
        job_txn_add_job(txn, job);
        job_txn_unref(txn);
    }
    return job;
}

void job_ref(Job *job)
{
    job->refcnt++;
}

void job_unref(Job *job)
{
    GSList *s;

    assert(job->refcnt > 0);
    if (--job->refcnt) {
        return;
    }
    assert(job->status == JOB_STATUS_NULL);
    assert(!job->txn);
    if (job->driver->free) {
        job->driver->free(job);
    }
    job_notify(job, JOB_EVENT_FREE);
    jobs = g_list_remove(jobs, job);
    timer_del(job->sleep_timer);
    timer_free(job->sleep_timer);
    for (s = job->listeners; s; s = s->next) {
        g_free(s->data);
    }
    g_slist_free(job->listeners);
    error_free(job->err);
    g_free(job->id);
    g_free(job);
}

/* ---- entering and yielding ---- */

static void job_enter_cond(Job *job, bool (*fn)(Job *job))
{
    if (!job_started(job) || job->deferred_to_main_loop || job->busy) {
        return;
    }
    if (fn && !fn(job)) {
        return;
    }
    timer_del(job->sleep_timer);
    job->busy = true;
    aio_co_wake(job->co);
}

void job_enter(Job *job)
{
    job_enter_cond(job, NULL);
}

static bool job_timer_pending(Job *job)
{
    return timer_pending(job->sleep_timer);
}

static bool job_timer_not_pending(Job *job)
{
    return !timer_pending(job->sleep_timer);
}

/* Yield until job_enter(); with ns != -1 the sleep timer fires at ns (absolute). */
static void coroutine_fn job_do_yield(Job *job, int64_t ns)
{
    if (ns != -1) {
        timer_mod(job->sleep_timer, ns);
    }
    job->busy = false;
    job_notify(job, JOB_EVENT_IDLE);
    qemu_coroutine_yield();
    /* job_enter_cond() sets busy before re-entering us */
    assert(job->busy);
}

void coroutine_fn job_pause_point(Job *job)
{
    assert(job && job_started(job));

    if (!job_should_pause(job) || job_is_cancelled(job)) {
        return;
    }
    if (job->driver->pause) {
        job->driver->pause(job);
    }
    if (job_should_pause(job) && !job_is_cancelled(job)) {
        JobStatus status = job->status;

        job_state_transition(job, status == JOB_STATUS_READY ?
                                  JOB_STATUS_STANDBY : JOB_STATUS_PAUSED);
        job->paused = true;
        job_do_yield(job, -1);
        job->paused = false;
        job_state_transition(job, status);
    }
    if (job->driver->resume) {
        job->driver->resume(job);
    }
}

void coroutine_fn job_yield(Job *job)
{
    assert(job->busy);
    /* A cancel must not be missed: check before going idle */
    if (job_is_cancelled(job)) {
        return;
    }
    if (!job_should_pause(job)) {
        job_do_yield(job, -1);
    }
    job_pause_point(job);
}

void coroutine_fn job_sleep_ns(Job *job, int64_t ns)
{
    assert(job->busy);
    if (job_is_cancelled(job)) {
        return;
    }
    if (!job_should_pause(job)) {
        job_do_yield(job, qemu_clock_get_ns() + ns);
    }
    job_pause_point(job);
}

/* ---- pause and resume ---- */

void job_pause(Job *job)
{
    job->pause_count++;
    if (!job->paused) {
        job_enter(job);
    }
}

void job_resume(Job *job)
{
    assert(job->pause_count > 0);
    job->pause_count--;
    if (job->pause_count) {
        return;
    }
    /* Kick only if no timer is pending: a sleeping job wakes by itself. */
    job_enter_cond(job, job_timer_not_pending);
}

void job_user_pause(Job *job, Error **errp)
{
    if (job_apply_verb(job, JOB_VERB_PAUSE, errp)) {
        return;
    }
    if (job->user_paused) {
        error_setg(errp, "Job is already paused");
        return;
    }
    job->user_paused = true;
    job_pause(job);
}

void job_user_resume(Job *job, Error **errp)
{
    if (!job->user_paused || job->pause_count <= 0) {
        error_setg(errp, "Can't resume a job that was not paused");
        return;
    }
    if (job_apply_verb(job, JOB_VERB_RESUME, errp)) {
        return;
    }
    if (job->driver->user_resume) {
        job->driver->user_resume(job);
    }
    job_notify(job, JOB_EVENT_USER_RESUME);
    job->user_paused = false;
    job_resume(job);
}

/* ---- rate limit ---- */

bool job_set_speed(Job *job, int64_t speed, Error **errp)
{
    int64_t old_speed = job->speed;

    if (speed < 0) {
        error_setg(errp, QERR_INVALID_PARAMETER_VALUE, "speed",
                   "a non-negative value");
        return false;
    }
    ratelimit_set_speed(&job->limit, speed, JOB_SLICE_TIME_NS);
    job->speed = speed;
    if (job->driver->set_speed) {
        job->driver->set_speed(job, speed);
    }
    if (speed && speed <= old_speed) {
        return true;
    }
    /* Faster or unlimited: wake a job waiting on its timer */
    job_enter_cond(job, job_timer_pending);
    return true;
}

void job_ratelimit_processed_bytes(Job *job, uint64_t n)
{
    ratelimit_account(&job->limit, qemu_clock_get_ns(), n);
}

void coroutine_fn job_ratelimit_wait(Job *job, uint64_t bytes)
{
    int64_t delay_ns;

    do {
        delay_ns = ratelimit_calculate_delay(&job->limit, qemu_clock_get_ns(),
                                             bytes);
        job_sleep_ns(job, delay_ns);
    } while (delay_ns && !job_is_cancelled(job));
}

void coroutine_fn job_ratelimit_sleep(Job *job)
{
    job_ratelimit_wait(job, 0);
}

/* ---- the coroutine and completion ---- */

static void job_exit(void *opaque);

static void coroutine_fn job_co_entry(void *opaque)
{
    Job *job = opaque;

    assert(job->driver->run);
    job_pause_point(job);
    job->ret = job->driver->run(job, &job->err);
    job->deferred_to_main_loop = true;
    job->busy = true;
    aio_bh_schedule_oneshot(qemu_get_aio_context(), job_exit, job);
}

void job_start(Job *job)
{
    assert(!job_started(job) && job->paused && job->driver->run);
    job->co = qemu_coroutine_create(job_co_entry, job);
    job->pause_count--;
    job->busy = true;
    job->paused = false;
    job_state_transition(job, JOB_STATUS_RUNNING);
    aio_co_wake(job->co);
}

/* A failed or force-cancelled job goes to ABORTING with an error text. */
static void job_update_rc(Job *job)
{
    if (!job->ret && job_is_cancelled(job)) {
        job->ret = -ECANCELED;
    }
    if (job->ret) {
        if (!job->err) {
            error_setg(&job->err, "%s", g_strerror(-job->ret));
        }
        job_state_transition(job, JOB_STATUS_ABORTING);
    }
}

static void job_commit(Job *job)
{
    assert(!job->ret);
    if (job->driver->commit) {
        job->driver->commit(job);
    }
}

static void job_abort(Job *job)
{
    assert(job->ret);
    if (job->driver->abort) {
        job->driver->abort(job);
    }
}

static void job_clean(Job *job)
{
    if (job->driver->clean) {
        job->driver->clean(job);
    }
}

static void job_do_dismiss(Job *job)
{
    job->busy = false;
    job->paused = false;
    job->deferred_to_main_loop = true;
    job_txn_del_job(job);
    job_state_transition(job, JOB_STATUS_NULL);
    job_unref(job);
}

static void job_conclude(Job *job)
{
    job_state_transition(job, JOB_STATUS_CONCLUDED);
    if (job->auto_dismiss || !job_started(job)) {
        job_do_dismiss(job);
    }
}

static int job_finalize_single(Job *job)
{
    assert(job_is_completed(job));

    /* prepare() of another member may have failed after we succeeded */
    job_update_rc(job);
    if (!job->ret) {
        job_commit(job);
    } else {
        job_abort(job);
    }
    job_clean(job);

    if (job->cb) {
        job->cb(job->opaque, job->ret);
    }
    /* Only jobs that ran report completion */
    if (job_started(job)) {
        job_notify(job, job_is_cancelled(job) ? JOB_EVENT_FINALIZE_CANCELLED
                                              : JOB_EVENT_FINALIZE_COMPLETED);
    }
    job_txn_del_job(job);
    job_conclude(job);
    return 0;
}

static void job_cancel_async(Job *job, bool force)
{
    if (job->driver->cancel) {
        force = job->driver->cancel(job, force);
    } else {
        /* Without a cancel hook every cancel is a force cancel */
        force = true;
    }

    if (job->user_paused) {
        /* The caller enters the job */
        if (job->driver->user_resume) {
            job->driver->user_resume(job);
        }
        job_notify(job, JOB_EVENT_USER_RESUME);
        job->user_paused = false;
        assert(job->pause_count > 0);
        job->pause_count--;
    }

    /* A soft cancel after the work is done changes nothing */
    if (force || !job->deferred_to_main_loop) {
        job->cancelled = true;
        /* never turn a force cancel back into a soft one */
        job->force_cancel |= force;
    }
}

static void job_completed_txn_abort(Job *job)
{
    JobTxn *txn = job->txn;
    GList *l;

    if (txn->aborting) {
        /* Another member is aborting the transaction and handles us */
        return;
    }
    txn->aborting = true;
    job_txn_ref(txn);
    job_ref(job);

    /* One failure makes every other result moot: force-cancel the rest */
    for (l = txn->jobs; l; l = l->next) {
        Job *other = l->data;
        if (other != job) {
            job_cancel_async(other, true);
        }
    }
    while (txn->jobs) {
        Job *other = txn->jobs->data;

        if (!job_is_completed(other)) {
            assert(job_cancel_requested(other));
            job_finish_sync(other, NULL, NULL);
        }
        job_finalize_single(other);
    }

    job_unref(job);
    job_txn_unref(txn);
}

static int job_prepare(Job *job)
{
    if (job->ret == 0 && job->driver->prepare) {
        job->ret = job->driver->prepare(job);
        job_update_rc(job);
    }
    return job->ret;
}

static int job_needs_finalize(Job *job)
{
    return !job->auto_finalize;
}

static void job_do_finalize(Job *job)
{
    int rc;

    assert(job->txn);
    rc = job_txn_apply(job, job_prepare);
    if (rc) {
        job_completed_txn_abort(job);
    } else {
        job_txn_apply(job, job_finalize_single);
    }
}

static int job_transition_to_pending(Job *job)
{
    job_state_transition(job, JOB_STATUS_PENDING);
    if (!job->auto_finalize) {
        job_notify(job, JOB_EVENT_PENDING);
    }
    return 0;
}

void job_transition_to_ready(Job *job)
{
    job_state_transition(job, JOB_STATUS_READY);
    job_notify(job, JOB_EVENT_READY);
}

static void job_completed_txn_success(Job *job)
{
    GList *l;

    job_state_transition(job, JOB_STATUS_WAITING);

    /* Wait until every member of the transaction has finished */
    for (l = job->txn->jobs; l; l = l->next) {
        Job *other = l->data;
        if (!job_is_completed(other)) {
            return;
        }
        assert(other->ret == 0);
    }

    job_txn_apply(job, job_transition_to_pending);
    if (job_txn_apply(job, job_needs_finalize) == 0) {
        job_do_finalize(job);
    }
}

static void job_completed(Job *job)
{
    assert(job->txn && !job_is_completed(job));

    job_update_rc(job);
    trace_job_completed(job, job->ret);
    if (job->ret) {
        job_completed_txn_abort(job);
    } else {
        job_completed_txn_success(job);
    }
}

/* Bottom half after run() returned */
static void job_exit(void *opaque)
{
    Job *job = opaque;

    job_ref(job);
    /*
     * Not really idle, but completion drains nodes, and a drain must not
     * wait for us (drained_poll looks at busy).
     */
    job->busy = false;
    job_notify(job, JOB_EVENT_IDLE);
    job_completed(job);
    job_unref(job);
}

void job_early_fail(Job *job)
{
    assert(job->status == JOB_STATUS_CREATED);
    job_do_dismiss(job);
}

/* ---- verbs ---- */

void job_complete(Job *job, Error **errp)
{
    assert(job->id);
    if (job_apply_verb(job, JOB_VERB_COMPLETE, errp)) {
        return;
    }
    if (job_cancel_requested(job) || !job->driver->complete) {
        error_setg(errp, "The active block job '%s' cannot be completed",
                   job->id);
        return;
    }
    job->driver->complete(job, errp);
}

void job_cancel(Job *job, bool force)
{
    if (job->status == JOB_STATUS_CONCLUDED) {
        job_do_dismiss(job);
        return;
    }
    job_cancel_async(job, force);
    if (!job_started(job)) {
        job_completed(job);
    } else if (job->deferred_to_main_loop) {
        /*
         * run() already returned: a soft cancel was ignored above, a
         * force cancel aborts the transaction now.
         */
        if (job_is_cancelled(job)) {
            job_completed_txn_abort(job);
        }
    } else {
        job_enter(job);
    }
}

void job_user_cancel(Job *job, bool force, Error **errp)
{
    if (job_apply_verb(job, JOB_VERB_CANCEL, errp)) {
        return;
    }
    job_cancel(job, force);
}

void job_finalize(Job *job, Error **errp)
{
    assert(job->id);
    if (job_apply_verb(job, JOB_VERB_FINALIZE, errp)) {
        return;
    }
    job_do_finalize(job);
}

void job_dismiss(Job **jobp, Error **errp)
{
    Job *job = *jobp;

    assert(job->id);
    if (job_apply_verb(job, JOB_VERB_DISMISS, errp)) {
        return;
    }
    job_do_dismiss(job);
    *jobp = NULL;
}

/* ---- synchronous helpers ---- */

int job_finish_sync(Job *job, void (*finish)(Job *, Error **), Error **errp)
{
    Error *local_err = NULL;
    int ret;

    job_ref(job);
    if (finish) {
        finish(job, &local_err);
    }
    if (local_err) {
        error_propagate(errp, local_err);
        job_unref(job);
        return -EBUSY;
    }
    AIO_POLL_WHILE(job->aio_context, (job_enter(job), !job_is_completed(job)));
    ret = (job_is_cancelled(job) && job->ret == 0) ? -ECANCELED : job->ret;
    job_unref(job);
    return ret;
}

static void job_cancel_err(Job *job, Error **errp)
{
    job_cancel(job, false);
}

static void job_force_cancel_err(Job *job, Error **errp)
{
    job_cancel(job, true);
}

int job_cancel_sync(Job *job, bool force)
{
    return job_finish_sync(job, force ? job_force_cancel_err : job_cancel_err,
                           NULL);
}

void job_cancel_sync_all(void)
{
    Job *job;

    /* Jobs still referenced after reaching NULL stay listed: skip them */
    for (;;) {
        for (job = job_next(NULL); job; job = job_next(job)) {
            if (job->status != JOB_STATUS_NULL) {
                break;
            }
        }
        if (!job) {
            break;
        }
        job_cancel_sync(job, true);
    }
}

int job_complete_sync(Job *job, Error **errp)
{
    return job_finish_sync(job, job_complete, errp);
}

/* ---- query ---- */

JobInfo *job_query_single(Job *job, Error **errp)
{
    JobInfo *info;

    assert(!job_is_internal(job));
    info = g_new0(JobInfo, 1);
    info->id = g_strdup(job->id);
    info->type = job_type(job);
    info->status = job->status;
    info->current_progress = job->progress_current;
    info->total_progress = job->progress_total;
    info->error = job->err ? g_strdup(error_get_pretty(job->err)) : NULL;
    return info;
}
