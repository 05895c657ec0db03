/*
 * blockjob_int.h: what block job types (mirror, backup, stream, ...)
 * use to implement themselves: the BlockJobDriver table, creation, the
 * rate limit helpers and the error policy decision.
 */
#ifndef BLOCK_BLOCKJOB_INT_H
#define BLOCK_BLOCKJOB_INT_H

#include "block/blockjob.h"

struct BlockJobDriver {
    JobDriver job_driver;           /* first */

    /*
     * While the job's node is drained: true as long as the job still has
     * requests in flight that the drain must wait for.  Default: "busy"
     * (the job has not reached a pause point yet).
     */
    bool (*drained_poll)(BlockJob *job);

    /* A drain of one of the job's nodes began (before the job pauses). */
    void (*drain)(BlockJob *job);

    /* block-job-change for this type (else "Job type does not support change"). */
    void (*change)(BlockJob *job, BlockJobChangeOptions *opts, Error **errp);

    /* Fill the type's members of BlockJobInfo (e.g. mirror's actively-synced). */
    void (*query)(BlockJob *job, BlockJobInfo *info);

    /* Speed was changed (after the limiter was updated). */
    void (*set_speed)(BlockJob *job, int64_t speed);
};

/*
 * Create a block job on bs: a Job (see job_create for job_id and flags)
 * with a BlockBackend on bs taking perm/shared_perm, bs added to the
 * job's nodes (child "main node").  speed < 0 fails.  Returns the
 * instance (driver->job_driver.instance_size bytes) or NULL.
 */
void *block_job_create(const char *job_id, const BlockJobDriver *driver,
                       JobTxn *txn, BlockDriverState *bs, uint64_t perm,
                       uint64_t shared_perm, int64_t speed, int flags,
                       JobCompletionFunc *cb, void *opaque, Error **errp);

/* Rate limit helpers (QEMU names; same as job_ratelimit_*). */
void block_job_ratelimit_processed_bytes(BlockJob *job, uint64_t n);
void coroutine_fn block_job_ratelimit_sleep(BlockJob *job);

/*
 * Decide what to do about an I/O error (error is a positive errno) under
 * policy on_err: emits BLOCK_JOB_ERROR {device, operation, action}; for
 * stop also sets the I/O status (failed / nospace) and pauses the job as
 * a user pause (job-resume continues it).  enospc and auto stop on
 * ENOSPC and report otherwise.  Returns the action taken.
 */
BlockErrorAction block_job_error_action(BlockJob *job, BlockdevOnError on_err,
                                        int is_read, int error);

/*
 * blockd's refinement of on-*-error=ignore (mirror, backup): the failed
 * range is retried after an exponential backoff (10 ms doubling up to 2 s,
 * reset by a success), and BLOCK_JOB_ERROR is sent at most once a second
 * per throttle (errors in between are counted and traced, not sent).  A job
 * keeps one BlockJobErrorThrottle per stream of errors it coalesces
 * (zero-initialized).
 */
typedef struct BlockJobErrorThrottle {
    int64_t last_event_ns;          /* last BLOCK_JOB_ERROR sent */
    int64_t backoff_ns;             /* next retry delay (0 = none) */
    uint64_t suppressed;            /* errors not sent since then */
} BlockJobErrorThrottle;

/*
 * block_job_error_action() with the throttle t applied when on_err is
 * ignore (then the delay to wait before retrying is t->backoff_ns).
 */
BlockErrorAction block_job_error_action_throttled(BlockJob *job,
                                                  BlockJobErrorThrottle *t,
                                                  BlockdevOnError on_err,
                                                  int is_read, int error);

/* An operation succeeded: the next error starts the backoff anew. */
void block_job_error_throttle_success(BlockJobErrorThrottle *t);

#endif /* BLOCK_BLOCKJOB_INT_H */
