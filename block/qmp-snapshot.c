/*
 * qmp-snapshot.c: QMP internal snapshot commands
 * (blockdev-snapshot-internal-sync, blockdev-snapshot-delete-internal-sync)
 * with QEMU's checks and error texts.  The node is drained while the
 * format driver (qcow2-snapshot.c) changes its tables in a coroutine.
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "qapi/qapi-commands.h"
#include "block/qmp-blockdev.h"
#include "trace/trace-block.h"

/* A driver call in a coroutine, polled to completion from the main loop */
typedef struct SnapshotCo {
    BlockDriverState *bs;
    enum { SNAP_CREATE, SNAP_DELETE, SNAP_LIST } op;
    QEMUSnapshotInfo *sn;
    QEMUSnapshotInfo *list;
    const char *id;
    const char *name;
    Error *err;
    int ret;
    bool done;
} SnapshotCo;

static void coroutine_fn snapshot_co_entry(void *opaque)
{
    SnapshotCo *c = opaque;
    const BlockDriver *drv = c->bs->drv;

    switch (c->op) {
    case SNAP_CREATE:
        c->ret = drv->bdrv_snapshot_create(c->bs, c->sn);
        break;
    case SNAP_DELETE:
        c->ret = drv->bdrv_snapshot_delete(c->bs, c->id, c->name, &c->err);
        break;
    case SNAP_LIST:
        c->ret = drv->bdrv_snapshot_list(c->bs, &c->list);
        break;
    }
    c->done = true;
    aio_notify(qemu_get_aio_context());
}

static void snapshot_run(SnapshotCo *c)
{
    if (qemu_in_coroutine()) {
        snapshot_co_entry(c);
        return;
    }
    qemu_coroutine_enter(qemu_coroutine_create(snapshot_co_entry, c));
    AIO_POLL_WHILE(qemu_get_aio_context(), !c->done);
}

/* Index of the snapshot matching id and/or name in list, -1 if none */
static int snapshot_find(QEMUSnapshotInfo *list, int n, const char *id,
                         const char *name)
{
    int i;

    for (i = 0; i < n; i++) {
        if ((!id || !strcmp(list[i].id_str, id)) &&
            (!name || !strcmp(list[i].name, name))) {
            return i;
        }
    }
    return -1;
}

static bool snapshot_supported(BlockDriverState *bs)
{
    const BlockDriver *drv = bs->drv;

    return drv && drv->bdrv_snapshot_create && drv->bdrv_snapshot_delete &&
           drv->bdrv_snapshot_list;
}

/* The snapshots of bs (g_free the array), count or -errno */
static int snapshot_list(BlockDriverState *bs, QEMUSnapshotInfo **list)
{
    SnapshotCo c = { .bs = bs, .op = SNAP_LIST };

    snapshot_run(&c);
    *list = c.list;
    return c.ret;
}

void qmp_blockdev_snapshot_internal_sync(const char *device, const char *name,
                                         Error **errp)
{
    BlockDriverState *bs;
    QEMUSnapshotInfo sn = { 0 }, *list = NULL;
    SnapshotCo c;
    gint64 now;
    int n;

    bs = qmp_get_root_bs(device, errp);
    if (!bs) {
        return;
    }
    if (bdrv_is_read_only(bs)) {
        error_setg(errp, "Device '%s' is read only", device);
        return;
    }
    if (!snapshot_supported(bs)) {
        error_setg(errp, "Block format '%s' used by device '%s' does not "
                   "support internal snapshots", bs->drv->format_name, device);
        return;
    }
    if (!strlen(name)) {
        error_setg(errp, "Name is empty");
        return;
    }
    bdrv_drained_begin(bs);
    n = snapshot_list(bs, &list);
    if (n < 0) {
        error_setg_errno(errp, -n, "Failed to get a snapshot list");
        goto out;
    }
    if (snapshot_find(list, n, NULL, name) >= 0) {
        error_setg(errp, "Snapshot with name '%s' already exists on device '%s'",
                   name, device);
        goto out;
    }
    g_strlcpy(sn.name, name, sizeof(sn.name));
    now = g_get_real_time();
    sn.date_sec = now / G_USEC_PER_SEC;
    sn.date_nsec = (now % G_USEC_PER_SEC) * 1000;
    /* No VM: the VM clock is the daemon's run time, as in qemu-storage-daemon */
    sn.vm_clock_nsec = 0;
    sn.vm_state_size = 0;
    sn.icount = -1ULL;
    c = (SnapshotCo) { .bs = bs, .op = SNAP_CREATE, .sn = &sn };
    snapshot_run(&c);
    if (c.ret < 0) {
        error_setg_errno(errp, -c.ret, "Failed to create snapshot '%s' on "
                         "device '%s'", name, device);
        goto out;
    }
    trace_qmp_blockdev_snapshot_internal_sync(bs, sn.id_str, name);
out:
    g_free(list);
    bdrv_drained_end(bs);
}

SnapshotInfo *qmp_blockdev_snapshot_delete_internal_sync(const char *device,
                                                         const char *id,
                                                         const char *name,
                                                         Error **errp)
{
    BlockDriverState *bs;
    QEMUSnapshotInfo *list = NULL, *sn;
    SnapshotInfo *info = NULL;
    SnapshotCo c;
    int n, i;

    bs = qmp_get_root_bs(device, errp);
    if (!bs) {
        return NULL;
    }
    if (!id && !name) {
        error_setg(errp, "Name or id must be provided");
        return NULL;
    }
    if (!snapshot_supported(bs)) {
        error_setg_errno(errp, ENOTSUP, "Failed to get a snapshot list");
        return NULL;
    }
    bdrv_drained_begin(bs);
    n = snapshot_list(bs, &list);
    if (n < 0) {
        error_setg_errno(errp, -n, "Failed to get a snapshot list");
        goto out;
    }
    i = snapshot_find(list, n, id, name);
    if (i < 0) {
        error_setg(errp, "Snapshot with id '%s' and name '%s' does not exist on "
                   "device '%s'", id ? id : "null", name ? name : "null",
                   device);
        goto out;
    }
    sn = &list[i];
    c = (SnapshotCo) { .bs = bs, .op = SNAP_DELETE, .id = sn->id_str,
                       .name = sn->name };
    snapshot_run(&c);
    if (c.ret < 0) {
        error_propagate(errp, c.err);
        goto out;
    }
    info = g_new0(SnapshotInfo, 1);
    info->id = g_strdup(sn->id_str);
    info->name = g_strdup(sn->name);
    info->date_sec = sn->date_sec;
    info->date_nsec = sn->date_nsec;
    info->vm_clock_sec = sn->vm_clock_nsec / 1000000000;
    info->vm_clock_nsec = sn->vm_clock_nsec % 1000000000;
    info->vm_state_size = sn->vm_state_size;
    if (sn->icount != -1ULL) {
        info->has_icount = true;
        info->icount = sn->icount;
    }
    trace_qmp_blockdev_snapshot_delete_internal_sync(bs, sn->id_str, sn->name);
out:
    g_free(list);
    bdrv_drained_end(bs);
    return info;
}
