/*
 * blockjob.h: block jobs (block/blockjob.c): a Job that works on block
 * nodes through BlockBackends, reports BLOCK_JOB_* events, has an I/O
 * status and error policies, and marks the nodes it uses busy.
 *
 * A block job type embeds BlockJob as the first member of its state and
 * describes itself with a BlockJobDriver (blockjob_int.h), whose first
 * member is the JobDriver.
 */
#ifndef BLOCK_BLOCKJOB_H
#define BLOCK_BLOCKJOB_H

#include "qemu/job.h"
#include "block/block.h"

typedef struct BlockJobDriver BlockJobDriver;

typedef struct BlockJob {
    Job job;                        /* first: a BlockJob is a Job */

    /* The backend on the job's main node (source/device). */
    BlockBackend *blk;

    /* Error status set by a stop policy, cleared on user resume. */
    BlockDeviceIoStatus iostatus;

    /* BdrvChild * of every node the job uses (block_job_add_bdrv()). */
    GSList *nodes;

    /* Number of the job's nodes currently drained (internal). */
    int drain_count;

    /* "block device is in use by block job: <type>": blocks ops on its nodes */
    Error *blocker;

    /* Nodes blocked without being the job's children (referenced) */
    GSList *blocked_nodes;
} BlockJob;

/* ---- lookup and iteration ---- */

/* Iterate over block jobs (NULL starts); internal ones included. */
BlockJob *block_job_next(BlockJob *job);
/* Find a block job by id (NULL if none, or not a block job). */
BlockJob *block_job_get(const char *id);
/* The BlockJob of job, or NULL if job is not a block job. */
BlockJob *block_job_from_job(Job *job);
bool block_job_is_internal(BlockJob *job);
const BlockJobDriver *block_job_driver(BlockJob *job);

/* ---- nodes ---- */

/*
 * Attach the job to bs with a root child taking perm/shared_perm (child
 * named name, e.g. "target").  The node is then busy (see
 * block_job_check_node_busy) and drains of it pause the job.
 */
int block_job_add_bdrv(BlockJob *job, const char *name, BlockDriverState *bs,
                       uint64_t perm, uint64_t shared_perm, Error **errp);
/*
 * Block every operation on bs with the job's reason, like a node added
 * with block_job_add_bdrv but without a child (e.g. the source below a
 * job's filter), until block_job_remove_all_bdrv.
 */
void block_job_block_node(BlockJob *job, BlockDriverState *bs);
/* Detach every node added with block_job_add_bdrv and unblock them all (the blk stays). */
void block_job_remove_all_bdrv(BlockJob *job);
/* Is bs one of the job's nodes? */
bool block_job_has_bdrv(BlockJob *job, BlockDriverState *bs);

/*
 * Op blockers: false with "Node '%s' is busy: block device is in use by
 * block job: %s" (the newest reason) when a job uses bs (its nodes, a
 * mirror's source, the node a completing mirror replaces); true otherwise.
 */
bool block_job_check_node_busy(BlockDriverState *bs, Error **errp);
/* The job using bs, if any. */
BlockJob *block_job_find_by_node(BlockDriverState *bs);

/* ---- control ---- */

/* block-job-set-speed: verb check, job_set_speed, driver hook, kick. */
bool block_job_set_speed(BlockJob *job, int64_t speed, Error **errp);

/* block-job-change: verb check, then the driver's change hook. */
void block_job_change(BlockJob *job, BlockJobChangeOptions *opts, Error **errp);

/* query-block-jobs entry. */
BlockJobInfo *block_job_query(BlockJob *job, Error **errp);

/* User resume clears the error status. */
void block_job_iostatus_reset(BlockJob *job);

#endif /* BLOCK_BLOCKJOB_H */
