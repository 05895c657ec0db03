/*
 * create.c: blockdev-create, a job of type "create" that runs the
 * driver's bdrv_co_create() on a copy of the options.  Like QEMU's, the
 * job is not a block job (no BLOCK_JOB_* events) and is not dismissed
 * automatically: the client sends job-dismiss once it is concluded.
 * Below it, the synchronous helpers of drive-mirror and drive-backup:
 * creating an image file (optionally naming a backing file), opening a
 * node from JSON, probing the format of an existing file, opening the
 * backing file a node's header names (drive-mirror mode=existing).
 */
#include "qemu/osdep.h"
#include "qemu/aio.h"
#include "qemu/job.h"
#include "block/block_int.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"
#include "trace/trace-block.h"

typedef struct BlockdevCreateJob {
    Job common;
    BlockDriver *drv;
    BlockdevCreateOptions *opts;
} BlockdevCreateJob;

static int coroutine_fn blockdev_create_run(Job *job, Error **errp)
{
    BlockdevCreateJob *s = container_of(job, BlockdevCreateJob, common);
    int ret;

    job_progress_set_remaining(&s->common, 1);
    ret = s->drv->bdrv_co_create(s->opts, errp);
    job_progress_update(&s->common, 1);
    qapi_free_BlockdevCreateOptions(s->opts);
    s->opts = NULL;
    return ret;
}

static void blockdev_create_free(Job *job)
{
    BlockdevCreateJob *s = container_of(job, BlockdevCreateJob, common);

    qapi_free_BlockdevCreateOptions(s->opts);
    s->opts = NULL;
}

static const JobDriver blockdev_create_job_driver = {
    .instance_size = sizeof(BlockdevCreateJob),
    .job_type = JOB_TYPE_CREATE,
    .run = blockdev_create_run,
    .free = blockdev_create_free,
};

/* A deep copy through the generated visitors (QEMU's QAPI_CLONE). */
static BlockdevCreateOptions *blockdev_create_options_clone(const BlockdevCreateOptions *opts)
{
    json_object *obj = visit_out_BlockdevCreateOptions(opts);
    BlockdevCreateOptions *copy = NULL;

    visit_type_BlockdevCreateOptions(obj, NULL, &copy, &error_abort);
    json_object_put(obj);
    return copy;
}

void qmp_blockdev_create(const char *job_id, BlockdevCreateOptions *options,
                         Error **errp)
{
    const char *fmt = BlockdevDriver_str(options->driver);
    BlockDriver *drv = bdrv_find_format(fmt);
    BlockdevCreateJob *s;

    if (!drv) {
        error_setg(errp, "Block driver '%s' not found or not supported", fmt);
        return;
    }
    if (!drv->bdrv_co_create) {
        error_setg(errp, "Driver does not support blockdev-create");
        return;
    }
    s = job_create(job_id, &blockdev_create_job_driver, NULL,
                   qemu_get_aio_context(), JOB_DEFAULT | JOB_MANUAL_DISMISS,
                   NULL, NULL, errp);
    if (!s) {
        return;
    }
    s->drv = drv;
    s->opts = blockdev_create_options_clone(options);
    trace_blockdev_create_job(s, fmt);
    job_start(&s->common);
}

/* ---- synchronous image creation for drive-mirror / drive-backup ---- */

typedef struct ImageCreateCo {
    BlockDriver *drv;
    BlockdevCreateOptions *opts;
    Error *err;
    int ret;
    bool done;
} ImageCreateCo;

static void coroutine_fn image_create_entry(void *opaque)
{
    ImageCreateCo *c = opaque;

    c->ret = c->drv->bdrv_co_create(c->opts, &c->err);
    c->done = true;
    aio_notify(qemu_get_aio_context());
}

/* blockdev-create from a JSON description, run to completion (not a job) */
static int bdrv_image_create_json(json_object *json, Error **errp)
{
    ImageCreateCo c = { 0 };
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
    qemu_coroutine_enter(qemu_coroutine_create(image_create_entry, &c));
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

BlockDriverState *bdrv_open_json(json_object *json, Error **errp)
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

json_object *bdrv_file_json(const char *filename)
{
    json_object *file = json_object_new_object();

    json_object_object_add(file, "driver", json_object_new_string("file"));
    json_object_object_add(file, "filename", json_object_new_string(filename));
    return file;
}

/*
 * The format node of a new image on filename (the file exists already); its
 * header names backing_file (and backing_fmt) when given.
 */
static int bdrv_create_format_on_file(const char *filename, const char *fmt,
                                      int64_t size, const char *backing_file,
                                      const char *backing_fmt, Error **errp)
{
    json_object *json = bdrv_file_json(filename);
    BlockDriverState *file_bs;
    int ret;

    file_bs = bdrv_open_json(json, errp);
    json_object_put(json);
    if (!file_bs) {
        return -EIO;
    }
    json = json_object_new_object();
    json_object_object_add(json, "driver", json_object_new_string(fmt));
    json_object_object_add(json, "file",
                           json_object_new_string(bdrv_get_node_name(file_bs)));
    json_object_object_add(json, "size", json_object_new_int64(size));
    if (backing_file) {
        json_object_object_add(json, "backing-file",
                               json_object_new_string(backing_file));
    }
    if (backing_fmt) {
        json_object_object_add(json, "backing-fmt",
                               json_object_new_string(backing_fmt));
    }
    ret = bdrv_image_create_json(json, errp);
    json_object_put(json);
    bdrv_unref(file_bs);
    return ret;
}

int bdrv_create_image_file(const char *filename, const char *fmt, int64_t size,
                           Error **errp)
{
    BlockDriver *drv = bdrv_find_format(fmt);
    /* raw and protocol drivers ("file"): the file alone, of the full size */
    bool raw = !strcmp(fmt, "raw") || (drv && !drv->is_format);
    json_object *json = bdrv_file_json(filename);
    int ret;

    json_object_object_add(json, "size", json_object_new_int64(raw ? size : 0));
    ret = bdrv_image_create_json(json, errp);
    json_object_put(json);
    if (ret < 0 || raw) {
        return ret;
    }
    return bdrv_create_format_on_file(filename, fmt, size, NULL, NULL, errp);
}

/* ---- drive-backup's target: a backing file in the header, probing ---- */

int bdrv_create_image_file_backed(const char *filename, const char *fmt,
                                  int64_t size, const char *backing_file,
                                  const char *backing_fmt, Error **errp)
{
    BlockDriver *drv = bdrv_find_format(fmt);
    json_object *json;
    int ret;

    if (!backing_file) {
        return bdrv_create_image_file(filename, fmt, size, errp);
    }
    /* Checked before anything is created, as QEMU's bdrv_img_create() */
    if (!drv || !drv->supports_backing) {
        error_setg(errp, "Backing file not supported for file format '%s'",
                   fmt);
        return -ENOTSUP;
    }
    json = bdrv_file_json(filename);
    json_object_object_add(json, "size", json_object_new_int64(0));
    ret = bdrv_image_create_json(json, errp);
    json_object_put(json);
    if (ret < 0) {
        return ret;
    }
    return bdrv_create_format_on_file(filename, fmt, size, backing_file,
                                      backing_fmt, errp);
}

/* Formats an existing file may be probed as (raw when none matches) */
static const char *const bdrv_probe_formats[] = { "qcow2" };

const char *bdrv_probe_image_format(const char *filename, Error **errp)
{
    uint8_t buf[2048] = { 0 };
    const char *best = "raw";
    int best_score = 0;
    ssize_t len;
    size_t i;
    int fd = open(filename, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", filename);
        return NULL;
    }
    len = pread(fd, buf, sizeof(buf), 0);
    close(fd);
    if (len < 0) {
        error_setg_errno(errp, errno, "Could not read image for determining "
                         "its format");
        return NULL;
    }
    for (i = 0; i < ARRAY_SIZE(bdrv_probe_formats); i++) {
        BlockDriver *drv = bdrv_find_format(bdrv_probe_formats[i]);
        int score;

        if (!drv || !drv->bdrv_probe) {
            continue;
        }
        score = drv->bdrv_probe(buf, len, filename);
        if (score > best_score) {
            best_score = score;
            best = bdrv_probe_formats[i];
        }
    }
    return best;
}

/* ---- drive-mirror's target: its own backing file, opened later ---- */

/* The backing file named in bs's header, as a path (relative to bs's file) */
static char *bdrv_backing_path(BlockDriverState *bs)
{
    g_autofree char *dir = NULL;

    if (g_path_is_absolute(bs->backing_file) || !bs->file) {
        return g_strdup(bs->backing_file);
    }
    dir = g_path_get_dirname(bdrv_get_filename(bs->file->bs));
    return g_build_filename(dir, bs->backing_file, NULL);
}

int bdrv_open_backing_file(BlockDriverState *bs, Error **errp)
{
    g_autofree char *path = NULL;
    BlockDriverState *backing;
    const char *fmt;
    json_object *json, *file;
    bool ok;

    if (bs->backing || !bs->backing_file || !bs->backing_file[0]) {
        return 0;
    }
    path = bdrv_backing_path(bs);
    fmt = bs->backing_format;
    if (!fmt) {
        fmt = bdrv_probe_image_format(path, errp);
        if (!fmt) {
            return -EINVAL;
        }
    }
    file = bdrv_file_json(path);
    json_object_object_add(file, "read-only", json_object_new_boolean(true));
    if (!strcmp(fmt, "file")) {
        json = file;
    } else {
        json = json_object_new_object();
        json_object_object_add(json, "driver", json_object_new_string(fmt));
        json_object_object_add(json, "read-only",
                               json_object_new_boolean(true));
        json_object_object_add(json, "file", file);
    }
    backing = bdrv_open_json(json, errp);
    json_object_put(json);
    if (!backing) {
        error_prepend(errp, "Could not open backing file: ");
        return -EINVAL;
    }
    backing->inherits_from = bs;
    ok = bdrv_set_backing_hd(bs, backing, errp);
    bdrv_unref(backing);
    return ok ? 0 : -EPERM;
}
