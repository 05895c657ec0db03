/*
 * qmp-backup.c: the QMP commands blockdev-backup and drive-backup.  Each
 * behaves as QEMU's one-action transaction: the job is created
 * (block/backup.c) and started with a pause request held across the start,
 * so the event sequence is QEMU's (created, running, paused, running).  drive-backup
 * first creates (unless mode=existing) and opens the target image, with
 * QEMU's backing file: sync=top the source's backing file, sync=none the
 * source itself (attached by the job), otherwise none.
 */
#include "qemu/osdep.h"
#include "block/backup.h"
#include "block/block_int.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"

/*
 * QEMU runs the command as a one-action transaction: the job starts inside
 * the drained section, so it pauses at its first pause point and resumes
 * when the section ends (created, running, paused, running) even if it
 * could finish at once.  The same here with one pause request held across
 * the start (a drained section would do it too, but block/graph.c
 * quiesces a parent linked to a node drained N times N times and releases
 * it once, so the job is created outside any drain).
 */
static void qmp_backup_start(BlockJob *job)
{
    job_pause(&job->job);
    job_start(&job->job);
    job_resume(&job->job);
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

/*
 * Opened like QEMU's drive-backup target: discard=unmap, detect-zeroes=unmap;
 * no_backing: without the backing file its header names (sync=none: the
 * job attaches the source instead).
 */
static BlockDriverState *backup_open_target(const char *filename,
                                            const char *fmt, bool no_backing,
                                            Error **errp)
{
    json_object *json = json_object_new_object();
    BlockDriver *drv = bdrv_find_format(fmt);
    BlockDriverState *bs;

    json_object_object_add(json, "driver", json_object_new_string(fmt));
    json_object_object_add(json, "discard", json_object_new_string("unmap"));
    json_object_object_add(json, "detect-zeroes",
                           json_object_new_string("unmap"));
    json_object_object_add(json, "file", bdrv_file_json(filename));
    if (no_backing && drv && drv->supports_backing) {
        json_object_object_add(json, "backing", NULL);
    }
    bs = bdrv_open_json(json, errp);
    json_object_put(json);
    return bs;
}

/* Implicit filters (a job's) do not appear in a backing file name */
static BlockDriverState *backup_skip_implicit_filters(BlockDriverState *bs)
{
    while (bs && bs->implicit && bdrv_filter_bs(bs)) {
        bs = bdrv_filter_bs(bs);
    }
    return bs;
}

/*
 * The backing node of a new target (QEMU's drive-backup): sync=top the
 * source's backing node (none: the backup becomes sync=full), sync=none
 * the source itself, otherwise none.
 */
static BlockDriverState *backup_target_backing(BlockDriverState *bs,
                                               DriveBackup *opts)
{
    BlockDriverState *backing;

    if (opts->sync == MIRROR_SYNC_MODE_TOP) {
        backing = bdrv_cow_bs(bdrv_skip_filters(bs));
        if (!backing) {
            opts->sync = MIRROR_SYNC_MODE_FULL;
        }
        return backing;
    }
    return opts->sync == MIRROR_SYNC_MODE_NONE ? bs : NULL;
}

static int backup_create_target(const char *filename, const char *fmt,
                                int64_t size, BlockDriverState *backing,
                                Error **errp)
{
    BlockDriverState *named = backup_skip_implicit_filters(backing);

    if (!named) {
        return bdrv_create_image_file(filename, fmt, size, errp);
    }
    return bdrv_create_image_file_backed(filename, fmt, size,
                                         bdrv_get_filename(named),
                                         bdrv_get_format_name(named), errp);
}

BlockJob *drive_backup_job_create_from_qmp(DriveBackup *opts, JobTxn *txn,
                                           Error **errp)
{
    BlockDriverState *bs, *target, *backing;
    bool existing = opts->has_mode && opts->mode == NEW_IMAGE_MODE_EXISTING;
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
    /* mode=existing without a format: probed, as QEMU */
    fmt = opts->format ? opts->format : existing ? NULL :
          bdrv_get_format_name(bdrv_skip_filters(bs));
    if (fmt && !bdrv_find_format(fmt)) {
        error_setg(errp, "Unknown driver '%s'", fmt);
        return NULL;
    }
    backing = backup_target_backing(bs, opts);
    size = bdrv_getlength(bs);
    if (size < 0) {
        error_setg_errno(errp, -size, "bdrv_getlength failed");
        return NULL;
    }
    if (!existing &&
        backup_create_target(opts->target, fmt, size, backing, errp) < 0) {
        return NULL;
    }
    if (!fmt) {
        fmt = bdrv_probe_image_format(opts->target, errp);
        if (!fmt) {
            return NULL;
        }
    }
    target = backup_open_target(opts->target, fmt,
                                opts->sync == MIRROR_SYNC_MODE_NONE, errp);
    if (!target) {
        return NULL;
    }
    /*
     * sync=none: refuse a target without backing files before the job
     * exists, as QEMU's bdrv_set_backing_hd(target, source) does.  The
     * target was opened without a backing node, so setting none changes
     * nothing but checks the driver; the job attaches the source once its
     * filter is in place (block/backup.c).
     */
    if (opts->sync == MIRROR_SYNC_MODE_NONE &&
        !bdrv_set_backing_hd(target, NULL, errp)) {
        bdrv_unref(target);
        return NULL;
    }
    return backup_job_create_with_target(opts, target,
                                         opts->sync == MIRROR_SYNC_MODE_NONE ?
                                         bs : NULL, txn, errp);
}
