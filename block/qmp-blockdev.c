/*
 * qmp-blockdev.c: QMP handlers of the block graph: blockdev-add,
 * blockdev-del, blockdev-set-active and query-named-block-nodes
 * (BlockDeviceInfo in QEMU's shape, every node including jobs' implicit
 * filters).  --blockdev on the command line goes through
 * qmp_blockdev_add().  qmp_get_root_bs() is the root node lookup of the
 * commands that work on a device (mirror, internal snapshots).
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/blockjob.h"
#include "block/dirty-bitmap.h"
#include "block/qmp-blockdev.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"
#include "qemu/keyval.h"
#include "trace/trace-block.h"

void qmp_blockdev_add(BlockdevOptions *options, Error **errp)
{
    BlockDriverState *bs;

    if (!options->node_name) {
        error_setg(errp, "'node-name' must be specified for the root node");
        return;
    }
    bs = bdrv_open_blockdev(options, errp);
    if (!bs) {
        return;
    }
    bs->monitor_owned = true;
    trace_qmp_blockdev_add(bs, options->node_name);
}

void qmp_blockdev_del(const char *node_name, Error **errp)
{
    BlockDriverState *bs = bdrv_find_node(node_name);

    if (!bs) {
        error_setg(errp, "Failed to find node with node-name='%s'", node_name);
        return;
    }
    trace_qmp_blockdev_del(bs, node_name);
    bdrv_del_monitor_owned(bs, errp);
}

void qmp_blockdev_set_active(const char *node_name, bool active, Error **errp)
{
    BlockDriverState *bs;

    trace_qmp_blockdev_set_active(node_name ? node_name : "", active);
    if (!node_name) {
        if (active) {
            bdrv_activate_all(errp);
        } else {
            bdrv_inactivate_all(errp);
        }
        return;
    }
    bs = bdrv_find_node(node_name);
    if (!bs) {
        error_setg(errp, "Failed to find node with node-name='%s'", node_name);
        return;
    }
    if (active) {
        bdrv_activate(bs, errp);
    } else {
        bdrv_inactivate(bs, errp);
    }
}

/*
 * QEMU's full-backing-filename: the backing file name of bs's header made
 * absolute next to the image (the directory of the file under bs), not the
 * name of the node bs uses as backing now.  NULL where QEMU has no base
 * directory (json: and remote protocol nodes).
 */
static char *bdrv_full_backing_filename(BlockDriverState *bs)
{
    const char *name = bs->backing_file;
    BlockDriverState *leaf = bs;
    const char *slash;

    if (!name || !name[0]) {
        return NULL;
    }
    /* absolute, or with a protocol prefix ("nbd:...") */
    if (name[0] == '/' || name[strcspn(name, ":/")] == ':') {
        return g_strdup(name);
    }
    while (leaf->file) {
        leaf = leaf->file->bs;
    }
    if (!leaf->drv || (strcmp(leaf->drv->format_name, "file") &&
                       strcmp(leaf->drv->format_name, "host_device")) ||
        g_str_has_prefix(leaf->filename, "json:")) {
        return NULL;
    }
    slash = strrchr(leaf->filename, '/');
    if (!slash) {
        return g_strdup(name);
    }
    return g_strdup_printf("%.*s%s", (int)(slash - leaf->filename + 1),
                           leaf->filename, name);
}

/* ImageInfo of bs alone; its backing-image is filled in by the caller */
static ImageInfo *bdrv_query_image_info(BlockDriverState *bs)
{
    ImageInfo *info = g_new0(ImageInfo, 1);
    BlockDriverInfo bdi;
    int64_t size;

    info->filename = g_strdup(bs->filename);
    info->format = g_strdup(bdrv_get_format_name(bs));
    size = bdrv_getlength(bs);
    info->virtual_size = size >= 0 ? size : 0;
    size = bdrv_get_allocated_file_size(bs);
    if (size >= 0) {
        info->has_actual_size = true;
        info->actual_size = size;
    }
    if (bdrv_get_info(bs, &bdi) == 0) {
        info->has_dirty_flag = true;
        info->dirty_flag = bdi.is_dirty;
        if (bdi.cluster_size) {
            info->has_cluster_size = true;
            info->cluster_size = bdi.cluster_size;
        }
    }
    if (bs->drv && bs->drv->bdrv_get_specific_info) {
        Error *local_err = NULL;

        /* A query never fails for it: what cannot be read is left out */
        info->format_specific = bs->drv->bdrv_get_specific_info(bs, &local_err);
        error_free(local_err);
    }
    if (bs->backing_file && bs->backing_file[0]) {
        info->backing_filename = g_strdup(bs->backing_file);
        info->full_backing_filename = bdrv_full_backing_filename(bs);
        if (bs->backing_format) {
            info->backing_filename_format = g_strdup(bs->backing_format);
        }
    }
    return info;
}

/*
 * info->image and, unless flat, the chain below it as QEMU builds it: each
 * backing-image is the next node's ImageInfo, following the filtered child
 * of a filter (a job's mirror_top or copy-before-write) as well as a
 * backing child, and backing_file_depth counts those steps (0 when flat).
 */
static void bdrv_query_image_chain(BlockDeviceInfo *info, BlockDriverState *bs,
                                   bool flat)
{
    ImageInfo **p_image = &info->image;

    info->backing_file_depth = 0;
    for (;;) {
        *p_image = bdrv_query_image_info(bs);
        if (flat || !bs->drv || !bdrv_filter_or_cow_bs(bs)) {
            break;
        }
        info->backing_file_depth++;
        bs = bdrv_filter_or_cow_bs(bs);
        p_image = &(*p_image)->backing_image;
    }
}

static BlockDeviceInfo *bdrv_block_device_info(BlockDriverState *bs, bool flat)
{
    BlockDeviceInfo *info = g_new0(BlockDeviceInfo, 1);
    BlockDriverState *backing = bdrv_cow_bs(bs);

    info->file = g_strdup(bs->filename);
    info->node_name = g_strdup(bs->node_name);
    info->ro = bdrv_is_read_only(bs);
    info->drv = g_strdup(bdrv_get_format_name(bs));
    if (backing) {
        info->backing_file = g_strdup(backing->filename);
    }
    info->encrypted = false;
    info->detect_zeroes = bs->detect_zeroes;
    bdrv_query_image_chain(info, bs, flat);
    info->cache = g_new0(BlockdevCacheInfo, 1);
    info->cache->writeback = true;
    info->cache->direct = !!(bs->open_flags & BDRV_O_NOCACHE);
    info->cache->no_flush = !!(bs->open_flags & BDRV_O_NO_FLUSH);
    info->write_threshold = 0;
    info->dirty_bitmaps = bdrv_query_dirty_bitmaps(bs);
    return info;
}

/*
 * Every node, a job's implicit filters (auto-named #blockNNN) included:
 * QEMU lists every node that has a node-name, and each node has one.
 */
BlockDeviceInfoList *qmp_query_named_block_nodes(bool has_flat, bool flat,
                                                 Error **errp)
{
    BlockDeviceInfoList *list = NULL;
    BlockDriverState *bs = NULL;

    /* Newest first, as QEMU lists them */
    while ((bs = bdrv_next_node(bs))) {
        BlockDeviceInfoList *e = g_new0(BlockDeviceInfoList, 1);

        e->value = bdrv_block_device_info(bs, has_flat && flat);
        e->next = list;
        list = e;
    }
    return list;
}

BlockDriverState *qmp_get_root_bs(const char *name, Error **errp)
{
    BlockDriverState *bs = bdrv_lookup_bs(name, name, errp);
    GList *l;

    if (!bs) {
        return NULL;
    }
    for (l = bs->parents; l; l = l->next) {
        BdrvChild *c = l->data;

        if (c->klass->parent_is_bds) {
            error_setg(errp, "Need a root block node");
            return NULL;
        }
    }
    /* A job's nodes are not roots either (QEMU: only BlockBackends are) */
    if (block_job_find_by_node(bs)) {
        error_setg(errp, "Need a root block node");
        return NULL;
    }
    if (!bdrv_is_inserted(bs)) {
        error_setg(errp, "Device has no medium");
        return NULL;
    }
    return bs;
}

bool blockdev_add_cmdline(const char *arg, Error **errp)
{
    g_autoptr(BlockdevOptions) options = NULL;
    Error *local_err = NULL;
    json_object *tree;
    bool keyval = arg[0] != '{';
    bool ok;

    if (keyval) {
        tree = keyval_parse(arg, "driver", errp);
        if (!tree) {
            return false;
        }
    } else {
        enum json_tokener_error jerr;

        tree = json_tokener_parse_verbose(arg, &jerr);
        if (!tree) {
            error_setg(errp, "JSON parse error, %s",
                       json_tokener_error_desc(jerr));
            return false;
        }
    }
    qapi_visit_keyval_mode(keyval);
    ok = visit_type_BlockdevOptions(tree, NULL, &options, &local_err);
    qapi_visit_keyval_mode(false);
    json_object_put(tree);
    if (!ok) {
        error_propagate(errp, local_err);
        return false;
    }
    qmp_blockdev_add(options, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        return false;
    }
    return true;
}
