/*
 * backup.h: creating backup jobs (block/backup.c, block/qmp-backup.c).
 *
 * blockdev-backup and drive-backup are one-action transactions: the
 * transaction code (and the two QMP handlers) call the functions below in
 * the action's prepare step, with the transaction's JobTxn (NULL: a
 * transaction of its own), and start the returned job with job_start()
 * at commit (or drop it with job_early_fail() / job_cancel_sync() on
 * abort).  A created job is in state CREATED, its copy-before-write
 * filter already inserted above the source and its bitmap (if any)
 * frozen with a successor.
 */
#ifndef BLOCK_BACKUP_H
#define BLOCK_BACKUP_H

#include "block/blockjob.h"

/*
 * Check the arguments of blockdev-backup (QEMU's error texts), look up
 * the nodes and create the job (not started).  NULL + errp on failure,
 * with nothing left behind (no filter, bitmap not frozen).
 */
BlockJob *backup_job_create_from_qmp(BlockdevBackup *opts, JobTxn *txn,
                                     Error **errp);

/*
 * The same for drive-backup: create (unless mode=existing) and open the
 * target image, then as above.  The opened target node is owned by the
 * job (dropped when the job ends).
 */
BlockJob *drive_backup_job_create_from_qmp(DriveBackup *opts, JobTxn *txn,
                                           Error **errp);

/*
 * drive-backup after the target was created and opened (block/backup.c):
 * takes the reference to target (dropped on failure or when the job ends).
 * target_backing (sync=none: the source) becomes the target's backing
 * node once the copy-before-write filter is in place (QEMU's
 * bdrv_set_backing_hd(target, source)), so the filter is not inserted
 * into that link; NULL: the target keeps what it opened.
 */
BlockJob *backup_job_create_with_target(DriveBackup *opts,
                                        BlockDriverState *target,
                                        BlockDriverState *target_backing,
                                        JobTxn *txn, Error **errp);

#endif /* BLOCK_BACKUP_H */
