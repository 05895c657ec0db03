/*
 * qmp-backup.c: the QMP commands blockdev-backup and drive-backup.  Each
 * runs as a one-action transaction, like QEMU's: the job is created
 * (block/backup.c) and started inside a drained section, so the event
 * sequence is QEMU's (created, running, paused, running).
 */
#include "qemu/osdep.h"
#include "block/backup.h"
#include "block/block_int.h"
#include "qapi/qapi-commands.h"

static void qmp_backup_start(BlockJob *job)
{
    job_start(&job->job);
}

void qmp_blockdev_backup(BlockdevBackup *arg, Error **errp)
{
    BlockJob *job;

    bdrv_drain_all_begin();
    job = backup_job_create_from_qmp(arg, NULL, errp);
    if (job) {
        qmp_backup_start(job);
    }
    bdrv_drain_all_end();
}

void qmp_drive_backup(DriveBackup *arg, Error **errp)
{
    BlockJob *job;

    bdrv_drain_all_begin();
    job = drive_backup_job_create_from_qmp(arg, NULL, errp);
    if (job) {
        qmp_backup_start(job);
    }
    bdrv_drain_all_end();
}
