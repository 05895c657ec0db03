/*
 * backup.c: the backup job (QEMU's block/backup.c semantics).
 */
#include "qemu/osdep.h"
#include "block/backup.h"

BlockJob *backup_job_create_from_qmp(BlockdevBackup *opts, JobTxn *txn,
                                     Error **errp)
{
    error_setg(errp, "blockdev-backup is not implemented yet");
    return NULL;
}

BlockJob *drive_backup_job_create_from_qmp(DriveBackup *opts, JobTxn *txn,
                                           Error **errp)
{
    error_setg(errp, "drive-backup is not implemented yet");
    return NULL;
}
