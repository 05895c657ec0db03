/*
 * job.h: the generic job layer (block/job.c): a long-running operation
 * run as a coroutine, with QEMU's state machine, verbs, pause counter,
 * cancellation, rate limit, progress and transactions.
 *
 * A job type is a JobDriver table; the job's struct embeds Job as its
 * first member (block jobs embed BlockJob, whose first member is Job).
 *
 * Threading: all of it runs in the main AioContext (one thread), so there
 * is no job mutex; QMP handlers, drains, timers and the job coroutine
 * interleave only at yields.
 *
 * Life cycle (see docs/devel/jobs.rst):
 *   job_create()          CREATED (JOB_STATUS_CHANGE created)
 *   job_start()           RUNNING; driver->run() runs in job->co
 *   ... run() yields at job_pause_point()/job_sleep_ns()/job_yield() ...
 *   run() returns ret     ret == 0: WAITING (txn) -> PENDING -> finalize:
 *                         prepare, commit, clean -> CONCLUDED -> NULL
 *                         ret < 0 or force cancel: ABORTING -> abort,
 *                         clean -> CONCLUDED -> NULL
 * With JOB_MANUAL_FINALIZE the job stops in PENDING until job_finalize();
 * with JOB_MANUAL_DISMISS it stops in CONCLUDED until job_dismiss().
 */
#ifndef QEMU_JOB_H
#define QEMU_JOB_H

#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/coroutine.h"
#include "qemu/aio.h"
#include "qemu/ratelimit.h"
#include "qapi/qapi-types.h"

typedef struct JobDriver JobDriver;
typedef struct JobTxn JobTxn;
typedef struct Job Job;

/* Called with the job's return value when it is done (0 or -errno). */
typedef void JobCompletionFunc(void *opaque, int ret);

/* Rate limiter slice for jobs (QEMU's BLOCK_JOB_SLICE_TIME) */
#define JOB_SLICE_TIME_NS   100000000LL   /* 100 ms */

/* Points in a job's life listeners can watch (job_add_listener()). */
typedef enum JobEvent {
    JOB_EVENT_FINALIZE_CANCELLED,   /* finalized after a force cancel */
    JOB_EVENT_FINALIZE_COMPLETED,   /* finalized (success or error) */
    JOB_EVENT_PENDING,              /* entered PENDING */
    JOB_EVENT_READY,                /* entered READY (job_transition_to_ready) */
    JOB_EVENT_IDLE,                 /* the coroutine yielded (busy -> false) */
    JOB_EVENT_USER_RESUME,          /* user resume (or cancel of a user-paused job) */
    JOB_EVENT_FREE,                 /* last reference dropped, before freeing */
    JOB_EVENT_STATUS_CHANGE,        /* job->status changed (also internal jobs) */
} JobEvent;

typedef void JobListenerFunc(Job *job, JobEvent event, void *opaque);

struct Job {
    char *id;                       /* NULL for internal jobs */
    const JobDriver *driver;
    int refcnt;
    JobStatus status;
    AioContext *aio_context;

    Coroutine *co;                  /* runs driver->run() */
    QEMUTimer *sleep_timer;         /* wakes job_sleep_ns() */

    /*
     * Pause counter: job_pause() increments (user pause, each drain, error
     * stop), job_resume() decrements.  The job actually stops at its next
     * job_pause_point() while pause_count > 0.
     */
    int pause_count;
    bool paused;                    /* stopped at a pause point */
    bool user_paused;               /* one of the pauses is the user's */
    bool busy;                      /* false while yielded in sleep/yield/pause */

    bool cancelled;                 /* cancel requested */
    bool force_cancel;              /* ... and it is a force cancel */
    bool deferred_to_main_loop;     /* run() returned; completion scheduled */

    bool auto_finalize;
    bool auto_dismiss;

    int64_t progress_current;       /* monotonic */
    int64_t progress_total;

    int64_t speed;                  /* bytes/s, 0 = unlimited */
    RateLimit limit;

    int ret;                        /* run()'s result, -ECANCELED on force cancel */
    Error *err;                     /* error set by run() (or made from ret) */

    JobCompletionFunc *cb;
    void *opaque;

    GSList *listeners;              /* JobListener *, see job_add_listener() */

    JobTxn *txn;                    /* never NULL after job_create() */
    bool txn_completing;            /* job_txn_apply() guard (internal) */
};

struct JobDriver {
    size_t instance_size;           /* of the struct embedding Job */
    JobType job_type;

    /* The work.  Returns 0 or -errno (and may set errp). */
    int coroutine_fn (*run)(Job *job, Error **errp);

    /* Called (in the coroutine) when the job stops / restarts at a pause point. */
    void coroutine_fn (*pause)(Job *job);
    void coroutine_fn (*resume)(Job *job);
    /* Called from job_user_resume() before the pause count drops (clears error state). */
    void (*user_resume)(Job *job);

    /* job-complete: required for jobs that reach READY. */
    void (*complete)(Job *job, Error **errp);

    /*
     * Finalization, in this order for each member of the transaction:
     * prepare() (may fail: aborts the whole transaction), then commit() on
     * success or abort() on failure, then clean() always.
     */
    int (*prepare)(Job *job);
    void (*commit)(Job *job);
    void (*abort)(Job *job);
    void (*clean)(Job *job);

    /*
     * A cancel was requested.  Returns whether the job must be treated as
     * force-cancelled (mirror: a soft cancel after READY returns false and
     * the job completes without pivot).  Default: force.
     */
    bool (*cancel)(Job *job, bool force);

    /* block-job-set-speed: after job->speed / the limiter were updated. */
    void (*set_speed)(Job *job, int64_t speed);

    /* Last call before the job's memory is freed. */
    void (*free)(Job *job);
};

/* Flags of job_create() */
typedef enum JobCreateFlags {
    JOB_DEFAULT         = 0x00,
    JOB_INTERNAL        = 0x01,     /* no id, no events, hidden from queries */
    JOB_MANUAL_FINALIZE = 0x02,     /* auto-finalize = false */
    JOB_MANUAL_DISMISS  = 0x04,     /* auto-dismiss = false */
} JobCreateFlags;

/* ---- transactions ---- */

/* A group of jobs that finalize together and fail together. */
JobTxn *job_txn_new(void);
void job_txn_unref(JobTxn *txn);
/* Move job (not started yet) into txn (takes a txn reference). */
void job_txn_add_job(JobTxn *txn, Job *job);

/* ---- creation and references ---- */

/*
 * Create a job (status CREATED, JOB_STATUS_CHANGE created).  job_id is
 * checked: required unless JOB_INTERNAL ("Invalid job ID '%s'" when not
 * [A-Za-z][A-Za-z0-9._-]*, "Job ID '%s' already in use").  txn may be
 * NULL (the job gets a transaction of its own).  Returns the driver's
 * instance (instance_size bytes, zeroed; Job first) or NULL.
 */
void *job_create(const char *job_id, const JobDriver *driver, JobTxn *txn,
                 AioContext *ctx, int flags, JobCompletionFunc *cb,
                 void *opaque, Error **errp);
void job_ref(Job *job);
void job_unref(Job *job);

/* Start the coroutine (CREATED -> RUNNING). */
void job_start(Job *job);

/* A job that never started: CREATED -> NULL, then dropped. */
void job_early_fail(Job *job);

/* ---- inside the job coroutine ---- */

/* Stop here while paused; returns at once otherwise. */
void coroutine_fn job_pause_point(Job *job);
/* Yield until job_enter() (resume, cancel, complete, set-speed kick). */
void coroutine_fn job_yield(Job *job);
/* Sleep ns (relative) unless woken early by job_enter(); includes a pause point. */
void coroutine_fn job_sleep_ns(Job *job, int64_t ns);
/* Re-enter a job that is yielded/sleeping (not a paused one). */
void job_enter(Job *job);

/* Progress (current never decreases) */
void job_progress_update(Job *job, uint64_t done);
void job_progress_set_remaining(Job *job, uint64_t remaining);
void job_progress_increase_remaining(Job *job, uint64_t delta);

/* RUNNING -> READY, JOB_STATUS_CHANGE ready, JOB_EVENT_READY (BLOCK_JOB_READY). */
void job_transition_to_ready(Job *job);

/* Rate limit: set the speed (< 0 -> "Parameter 'speed' expects a non-negative value"). */
bool job_set_speed(Job *job, int64_t speed, Error **errp);
/* Charge bytes already sent. */
void job_ratelimit_processed_bytes(Job *job, uint64_t n);
/* Sleep as long as the limiter asks (wakeable by speed changes and cancel). */
void coroutine_fn job_ratelimit_sleep(Job *job);
/* Before dispatch: sleep until `bytes` more fit into the limit (then account them yourself). */
void coroutine_fn job_ratelimit_wait(Job *job, uint64_t bytes);

/* ---- queries ---- */

const char *job_type_str(const Job *job);
JobType job_type(const Job *job);
bool job_is_internal(const Job *job);
/* Cancelled and the cancel is (or became) a force cancel. */
bool job_is_cancelled(const Job *job);
/* Any cancel requested (soft or force). */
bool job_cancel_requested(const Job *job);
/* In PENDING, ABORTING, CONCLUDED or NULL, or run() returned. */
bool job_is_completed(const Job *job);
/* In READY or STANDBY. */
bool job_is_ready(const Job *job);
bool job_user_paused(const Job *job);

/* Iterate over all jobs (NULL starts). */
Job *job_next(Job *job);
/* Find a non-internal job by id. */
Job *job_get(const char *id);

/* ---- verbs (the QMP commands) ---- */

/* 0 or -EPERM with "Job '%s' in state '%s' cannot accept command verb '%s'". */
int job_apply_verb(Job *job, JobVerb verb, Error **errp);

/* Internal pause/resume (drains, error stops). */
void job_pause(Job *job);
void job_resume(Job *job);
/* "Job is already paused" / "Can't resume a job that was not paused". */
void job_user_pause(Job *job, Error **errp);
void job_user_resume(Job *job, Error **errp);

/* job-complete: verb check, "The active block job '%s' cannot be completed". */
void job_complete(Job *job, Error **errp);

/* Request a cancel (force: abandon now; else driver->cancel decides). */
void job_cancel(Job *job, bool force);
/* job-cancel / block-job-cancel: verb check, then job_cancel(). */
void job_user_cancel(Job *job, bool force, Error **errp);

/* job-finalize: applies to the whole transaction (from PENDING). */
void job_finalize(Job *job, Error **errp);
/* job-dismiss: CONCLUDED -> NULL; *jobp is cleared. */
void job_dismiss(Job **jobp, Error **errp);

/*
 * Run finish(job, errp) (may be NULL) and poll until the job completed.
 * Returns the job's result (-ECANCELED when it was cancelled).  Not from
 * a coroutine.
 */
int job_finish_sync(Job *job, void (*finish)(Job *, Error **), Error **errp);
/* Cancel and wait; a CONCLUDED job is just dismissed. */
int job_cancel_sync(Job *job, bool force);
/* Shutdown: force-cancel every job and wait for all of them. */
void job_cancel_sync_all(void);
/* job_complete() and wait. */
int job_complete_sync(Job *job, Error **errp);

/* ---- listeners (used by blockjob.c for the BLOCK_JOB_* events) ---- */
void job_add_listener(Job *job, JobListenerFunc *fn, void *opaque);
void job_remove_listener(Job *job, JobListenerFunc *fn, void *opaque);

/* query-jobs entry for job (never internal). */
JobInfo *job_query_single(Job *job, Error **errp);

#endif /* QEMU_JOB_H */
