/*
 * mirror-qmp.c: the QMP commands blockdev-mirror and drive-mirror: node
 * lookups, QEMU's argument checks and error texts, drive-mirror's target
 * creation and opening; the job itself is block/mirror.c.
 */
#include "qemu/osdep.h"
#include "mirror-int.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"
#include "block/qmp-blockdev.h"

/* QEMU's check_to_replace_node(): bs itself or a filter chain below it */
static BlockDriverState *mirror_check_to_replace(BlockDriverState *bs,
                                                 const char *node_name,
                                                 Error **errp)
{
    BlockDriverState *to_replace = bdrv_find_node(node_name);
    BlockDriverState *p;

    if (!to_replace) {
        error_setg(errp, "Failed to find node with node-name='%s'", node_name);
        return NULL;
    }
    for (p = bs; p; p = bdrv_filter_bs(p)) {
        if (p == to_replace) {
            return to_replace;
        }
    }
    error_setg(errp, "Cannot replace '%s' by a node mirrored from '%s', because "
               "it cannot be guaranteed that doing so would not lead to an "
               "abrupt change of visible data", node_name,
               bdrv_get_node_name(bs));
    return NULL;
}

static bool mirror_check_granularity(bool has, uint32_t granularity,
                                     Error **errp)
{
    if (!has || granularity == 0) {
        return true;
    }
    if (granularity < 512 || granularity > 64 * MiB) {
        error_setg(errp, QERR_INVALID_PARAMETER_VALUE, "granularity",
                   "a value in range [512B, 64MB]");
        return false;
    }
    if (!is_power_of_2(granularity)) {
        error_setg(errp, QERR_INVALID_PARAMETER_VALUE, "granularity",
                   "a power of 2");
        return false;
    }
    return true;
}

/* target is a filter over a node of bs's backing chain */
static bool mirror_target_in_source_chain(BlockDriverState *bs,
                                          BlockDriverState *target)
{
    BlockDriverState *below = bdrv_skip_filters(target);
    BlockDriverState *p;

    if (below == target) {
        return false;
    }
    for (p = bs; p; p = bdrv_filter_or_cow_bs(p)) {
        if (p == below) {
            return true;
        }
    }
    return false;
}

/*
 * A target that names a backing file it has not opened (drive-mirror's,
 * until the end) would fill the rest of a cluster with zeroes on a partial
 * write instead of the backing file's data: copy whole target clusters
 * then (QEMU widens its copies to clusters for this; blockd raises the
 * granularity, to the same effect).
 */
static void mirror_cow_granularity(MirrorStartArgs *a)
{
    BlockDriverState *target = bdrv_skip_filters(a->target);
    BlockDriverInfo bdi;
    uint32_t granularity = a->granularity ? a->granularity :
                           mirror_default_granularity(a->target, a->bs);

    if (!target->backing_file || !target->backing_file[0] ||
        bdrv_cow_bs(target) || bdrv_get_info(target, &bdi) < 0 ||
        bdi.cluster_size <= 0 || granularity >= (uint32_t)bdi.cluster_size) {
        return;
    }
    a->granularity = bdi.cluster_size;
}

/* Arguments shared by both commands, after their own preparation */
static void mirror_common(MirrorStartArgs *a, bool has_granularity,
                          Error **errp)
{
    int64_t bs_size;

    if (!mirror_check_granularity(has_granularity, a->granularity, errp)) {
        return;
    }
    if (!block_job_check_node_busy(a->bs, errp) ||
        !block_job_check_node_busy(a->target, errp)) {
        return;
    }
    mirror_cow_granularity(a);
    if (a->mode == MIRROR_SYNC_MODE_TOP && !bdrv_backing_chain_next(a->bs)) {
        a->mode = MIRROR_SYNC_MODE_FULL;
    }
    if (a->replaces) {
        BlockDriverState *to_replace = mirror_check_to_replace(a->bs, a->replaces,
                                                               errp);
        if (!to_replace) {
            return;
        }
        bs_size = bdrv_getlength(a->bs);
        if (bs_size != bdrv_getlength(to_replace)) {
            error_setg(errp, "cannot replace image with a mirror image of "
                       "different size");
            return;
        }
    }
    if (a->mode == MIRROR_SYNC_MODE_INCREMENTAL ||
        a->mode == MIRROR_SYNC_MODE_BITMAP) {
        error_setg(errp, "Sync mode '%s' not supported",
                   MirrorSyncMode_str(a->mode));
        return;
    }
    if (a->buf_size < 0) {
        error_setg(errp, QERR_INVALID_PARAMETER, "buf-size");
        return;
    }
    if (a->bs == a->target) {
        error_setg(errp, "Can't mirror node into itself");
        return;
    }
    if (mirror_target_in_source_chain(a->bs, a->target)) {
        error_setg(errp, "Cannot mirror to a filter on top of a node in the "
                   "source's backing chain");
        return;
    }
    mirror_start(a, errp);
}

static int mirror_job_flags(bool has_auto_finalize, bool auto_finalize,
                            bool has_auto_dismiss, bool auto_dismiss)
{
    int flags = JOB_DEFAULT;

    if (has_auto_finalize && !auto_finalize) {
        flags |= JOB_MANUAL_FINALIZE;
    }
    if (has_auto_dismiss && !auto_dismiss) {
        flags |= JOB_MANUAL_DISMISS;
    }
    return flags;
}

void qmp_blockdev_mirror(const char *job_id, const char *device,
                         const char *target, const char *replaces,
                         MirrorSyncMode sync, bool has_speed, int64_t speed,
                         bool has_granularity, uint32_t granularity,
                         bool has_buf_size, int64_t buf_size,
                         bool has_on_source_error,
                         BlockdevOnError on_source_error,
                         bool has_on_target_error,
                         BlockdevOnError on_target_error,
                         const char *filter_node_name,
                         bool has_copy_mode, MirrorCopyMode copy_mode,
                         bool has_auto_finalize, bool auto_finalize,
                         bool has_auto_dismiss, bool auto_dismiss,
                         bool has_target_is_zero, bool target_is_zero,
                         bool has_x_auto_converge, bool x_auto_converge,
                         bool has_x_converge_passes, int64_t x_converge_passes,
                         Error **errp)
{
    MirrorStartArgs a = {
        .job_id = job_id,
        .replaces = replaces,
        .mode = sync,
        .speed = has_speed ? speed : 0,
        .granularity = has_granularity ? granularity : 0,
        .buf_size = has_buf_size ? buf_size : 0,
        .on_source_error = has_on_source_error ? on_source_error :
                                                 BLOCKDEV_ON_ERROR_REPORT,
        .on_target_error = has_on_target_error ? on_target_error :
                                                 BLOCKDEV_ON_ERROR_REPORT,
        .unmap = true,
        .filter_node_name = filter_node_name,
        .copy_mode = has_copy_mode ? copy_mode : MIRROR_COPY_MODE_BACKGROUND,
        .target_is_zero = has_target_is_zero && target_is_zero,
        .auto_converge = has_x_auto_converge && x_auto_converge,
        .converge_passes = has_x_converge_passes ? x_converge_passes : 3,
        .creation_flags = mirror_job_flags(has_auto_finalize, auto_finalize,
                                           has_auto_dismiss, auto_dismiss),
    };

    if (has_x_converge_passes && (x_converge_passes < 1 ||
                                  x_converge_passes > INT_MAX)) {
        error_setg(errp, QERR_INVALID_PARAMETER_VALUE, "x-converge-passes",
                   "a positive value");
        return;
    }
    a.bs = qmp_get_root_bs(device, errp);
    if (!a.bs) {
        return;
    }
    a.target = bdrv_lookup_bs(target, target, errp);
    if (!a.target) {
        return;
    }
    mirror_common(&a, has_granularity, errp);
}

/* ---- drive-mirror ---- */

/*
 * The new image (mode absolute-paths): with a backing file when the
 * target continues the source's chain (sync=top: the source's backing,
 * sync=none: the source itself), named as QEMU names it (the node's
 * filename and driver, implicit filters skipped); else without.
 */
static int mirror_create_target(DriveMirror *arg, const char *fmt,
                                 int64_t size,
                                 BlockDriverState *target_backing,
                                 MirrorSyncMode sync, Error **errp)
{
    BlockDriverState *explicit_backing = target_backing;

    if (sync == MIRROR_SYNC_MODE_FULL || !target_backing) {
        return bdrv_create_image_file(arg->target, fmt, size, errp);
    }
    while (explicit_backing->implicit && bdrv_filter_bs(explicit_backing)) {
        explicit_backing = bdrv_filter_bs(explicit_backing);
    }
    return bdrv_create_image_file_backed(arg->target, fmt, size,
                                         bdrv_get_filename(explicit_backing),
                                         bdrv_get_format_name(explicit_backing),
                                         errp);
}

/*
 * Open the target like QEMU (BDRV_O_NO_BACKING): without its backing
 * file, which the job attaches at a successful end (mirror.c).
 */
static BlockDriverState *mirror_open_target(DriveMirror *arg, const char *fmt,
                                            Error **errp)
{
    BlockDriver *drv = bdrv_find_format(fmt);
    json_object *json;
    BlockDriverState *bs;

    if (drv && !drv->is_format) {
        /* A protocol driver (the source's own, e.g. "file"), as QEMU */
        json = bdrv_file_json(arg->target);
        json_object_object_add(json, "driver", json_object_new_string(fmt));
    } else {
        json = json_object_new_object();
        json_object_object_add(json, "driver", json_object_new_string(fmt));
        json_object_object_add(json, "file", bdrv_file_json(arg->target));
    }
    if (arg->node_name) {
        json_object_object_add(json, "node-name",
                               json_object_new_string(arg->node_name));
    }
    if (drv && drv->supports_backing) {
        json_object_object_add(json, "backing", NULL);
    }
    bs = bdrv_open_json(json, errp);
    json_object_put(json);
    return bs;
}

void qmp_drive_mirror(DriveMirror *arg, Error **errp)
{
    NewImageMode mode = arg->has_mode ? arg->mode :
                                        NEW_IMAGE_MODE_ABSOLUTE_PATHS;
    MirrorStartArgs a = {
        .job_id = arg->job_id,
        .replaces = arg->replaces,
        .mode = arg->sync,
        .speed = arg->has_speed ? arg->speed : 0,
        .granularity = arg->has_granularity ? arg->granularity : 0,
        .buf_size = arg->has_buf_size ? arg->buf_size : 0,
        .on_source_error = arg->has_on_source_error ? arg->on_source_error :
                                                      BLOCKDEV_ON_ERROR_REPORT,
        .on_target_error = arg->has_on_target_error ? arg->on_target_error :
                                                      BLOCKDEV_ON_ERROR_REPORT,
        .unmap = arg->has_unmap ? arg->unmap : true,
        .copy_mode = arg->has_copy_mode ? arg->copy_mode :
                                          MIRROR_COPY_MODE_BACKGROUND,
        .auto_converge = arg->has_x_auto_converge && arg->x_auto_converge,
        .converge_passes = arg->has_x_converge_passes ? arg->x_converge_passes : 3,
        .creation_flags = mirror_job_flags(arg->has_auto_finalize,
                                           arg->auto_finalize,
                                           arg->has_auto_dismiss,
                                           arg->auto_dismiss),
        /* absolute-paths: the target takes over the source's chain */
        .backing_mode = mode == NEW_IMAGE_MODE_EXISTING ?
                        MIRROR_OPEN_BACKING_CHAIN : MIRROR_SOURCE_BACKING_CHAIN,
    };
    BlockDriverState *target_backing;
    const char *fmt = arg->format;
    int64_t size;

    a.bs = qmp_get_root_bs(arg->device, errp);
    if (!a.bs) {
        return;
    }
    if (!block_job_check_node_busy(a.bs, errp)) {
        return;
    }
    if (!fmt && mode != NEW_IMAGE_MODE_EXISTING) {
        fmt = bdrv_get_format_name(a.bs);
    }
    target_backing = bdrv_cow_bs(bdrv_skip_filters(a.bs));
    if (!target_backing && a.mode == MIRROR_SYNC_MODE_TOP) {
        a.mode = MIRROR_SYNC_MODE_FULL;
    }
    if (a.mode == MIRROR_SYNC_MODE_NONE) {
        target_backing = a.bs;
    }
    size = bdrv_getlength(a.bs);
    if (size < 0) {
        error_setg_errno(errp, -size, "bdrv_getlength failed");
        return;
    }
    if (arg->replaces && !arg->node_name) {
        error_setg(errp, "a node-name must be provided when replacing a named "
                   "node of the graph");
        return;
    }
    if (mode != NEW_IMAGE_MODE_EXISTING) {
        if (mirror_create_target(arg, fmt, size, target_backing, a.mode,
                                 errp) < 0) {
            return;
        }
        /* A new image reads as zeroes: only allocated data is copied */
        a.target_is_zero = a.mode == MIRROR_SYNC_MODE_FULL;
    } else if (!fmt) {
        /* QEMU probes an existing image opened without a format */
        fmt = bdrv_probe_image_format(arg->target, errp);
        if (!fmt) {
            return;
        }
    }
    a.target = mirror_open_target(arg, fmt, errp);
    if (!a.target) {
        return;
    }
    mirror_common(&a, arg->has_granularity, errp);
    /* The job holds the target now (or nothing does: it closes) */
    bdrv_unref(a.target);
}
