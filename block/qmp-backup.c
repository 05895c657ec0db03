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

typedef struct BackupCreateCo {
    BlockDriver *drv;
    BlockdevCreateOptions *opts;
    Error *err;
    int ret;
    bool done;
} BackupCreateCo;

static void coroutine_fn backup_create_entry(void *opaque)
{
    BackupCreateCo *c = opaque;

    c->ret = c->drv->bdrv_co_create(c->opts, &c->err);
    c->done = true;
    aio_notify(qemu_get_aio_context());
}

/* blockdev-create from a JSON description, synchronously */
static int backup_image_create(json_object *json, Error **errp)
{
    BackupCreateCo c = { 0 };
    const char *fmt;

    if (!visit_type_BlockdevCreateOptions(json, NULL, &c.opts, errp)) {
        return -EINVAL;
    }
    fmt = BlockdevDriver_str(c.opts->driver);
    c.drv = bdrv_find_format(fmt);
    if (!c.drv || !c.drv->bdrv_co_create) {
        error_setg(errp, "Format '%s' cannot be created", fmt);
        qapi_free_BlockdevCreateOptions(c.opts);
        return -ENOTSUP;
    }
    qemu_coroutine_enter(qemu_coroutine_create(backup_create_entry, &c));
    AIO_POLL_WHILE(qemu_get_aio_context(), !c.done);
    qapi_free_BlockdevCreateOptions(c.opts);
    if (c.ret < 0) {
        if (c.err) {
            error_propagate(errp, c.err);
        } else {
            error_setg_errno(errp, -c.ret, "Could not create image");
        }
    } else {
        error_free(c.err);
    }
    return c.ret;
}

static BlockDriverState *backup_open_json(json_object *json, Error **errp)
{
    BlockdevOptions *opts = NULL;
    BlockDriverState *bs;

    if (!visit_type_BlockdevOptions(json, NULL, &opts, errp)) {
        return NULL;
    }
    bs = bdrv_open_blockdev(opts, errp);
    qapi_free_BlockdevOptions(opts);
    return bs;
}

static json_object *backup_file_json(const char *filename)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "driver", json_object_new_string("file"));
    json_object_object_add(o, "filename", json_object_new_string(filename));
    return o;
}

static int backup_create_target(const char *filename, const char *fmt,
                                int64_t size, Error **errp)
{
    json_object *json = backup_file_json(filename);
    BlockDriverState *file_bs;
    bool raw = !strcmp(fmt, "raw");
    int ret;

    json_object_object_add(json, "size", json_object_new_int64(raw ? size : 0));
    ret = backup_image_create(json, errp);
    json_object_put(json);
    if (ret < 0 || raw) {
        return ret;
    }
    json = backup_file_json(filename);
    file_bs = backup_open_json(json, errp);
    json_object_put(json);
    if (!file_bs) {
        return -EIO;
    }
    json = json_object_new_object();
    json_object_object_add(json, "driver", json_object_new_string(fmt));
    json_object_object_add(json, "file",
                           json_object_new_string(bdrv_get_node_name(file_bs)));
    json_object_object_add(json, "size", json_object_new_int64(size));
    ret = backup_image_create(json, errp);
    json_object_put(json);
    bdrv_unref(file_bs);
    return ret;
}

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
    json_object_object_add(json, "file", backup_file_json(filename));
    bs = backup_open_json(json, errp);
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
        if (backup_create_target(opts->target, fmt, size, errp) < 0) {
            return NULL;
        }
    }
    target = backup_open_target(opts->target, fmt, errp);
    if (!target) {
        return NULL;
    }
    return backup_job_create_with_target(opts, target, txn, errp);
}
