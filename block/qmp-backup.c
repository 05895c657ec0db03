/*
 * qmp-backup.c: the QMP commands blockdev-backup and drive-backup.  Each
 * behaves as QEMU's one-action transaction: the job is created
 * (block/backup.c) and started, then a drained section pauses it once, so
 * the event sequence is QEMU's (created, running, paused, running).  drive-backup
 * first creates (unless mode=existing) and opens the target image.
 */
#include "qemu/osdep.h"
#include "block/backup.h"
#include "block/block_int.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"

/*
 * The job is created outside the drained section: block/graph.c quiesces
 * a parent linked to a node drained N times N times but releases it once,
 * and under a drain-all a format node (drained itself and through its
 * file child) counts 2.  The drained section after the start gives the
 * one pause QEMU's transaction shows.
 */
static void qmp_backup_start(BlockJob *job)
{
    job_start(&job->job);
    bdrv_drain_all_begin();
    bdrv_drain_all_end();
}

void qmp_blockdev_backup(BlockdevBackup *arg, Error **errp)
{
    BlockJob *job = backup_job_create_from_qmp(arg, NULL, errp);

    if (job) {
        qmp_backup_start(job);
    }
}

void qmp_drive_backup(DriveBackup *arg, Error **errp)
{
    BlockJob *job = drive_backup_job_create_from_qmp(arg, NULL, errp);

    if (job) {
        qmp_backup_start(job);
    }
}

/* ---- drive-backup's target ---- */

/* Opened like QEMU's drive-backup target: discard=unmap, detect-zeroes=unmap */
static BlockDriverState *backup_open_target(const char *filename,
                                            const char *fmt, Error **errp)
{
    json_object *json = json_object_new_object();
    BlockDriverState *bs;

    json_object_object_add(json, "driver", json_object_new_string(fmt));
    json_object_object_add(json, "discard", json_object_new_string("unmap"));
    json_object_object_add(json, "detect-zeroes",
                           json_object_new_string("unmap"));
    json_object_object_add(json, "file", bdrv_file_json(filename));
    bs = bdrv_open_json(json, errp);
    json_object_put(json);
    return bs;
}

BlockJob *drive_backup_job_create_from_qmp(DriveBackup *opts, JobTxn *txn,
                                           Error **errp)
{
    BlockDriverState *bs, *target;
    const char *fmt;
    int64_t size;

    bs = bdrv_lookup_bs(opts->device, opts->device, errp);
    if (!bs) {
        return NULL;
    }
    if (!bdrv_is_inserted(bs)) {
        error_setg(errp, "Device has no medium");
        return NULL;
    }
    fmt = opts->format ? opts->format :
          bdrv_get_format_name(bdrv_skip_filters(bs));
    if (!bdrv_find_format(fmt)) {
        error_setg(errp, "Unknown driver '%s'", fmt);
        return NULL;
    }
    size = bdrv_getlength(bs);
    if (size < 0) {
        error_setg_errno(errp, -size, "bdrv_getlength failed");
        return NULL;
    }
    if (!opts->has_mode || opts->mode != NEW_IMAGE_MODE_EXISTING) {
        if (bdrv_create_image_file(opts->target, fmt, size, errp) < 0) {
            return NULL;
        }
    }
    target = backup_open_target(opts->target, fmt, errp);
    if (!target) {
        return NULL;
    }
    return backup_job_create_with_target(opts, target, txn, errp);
}
