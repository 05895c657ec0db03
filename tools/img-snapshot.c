/*
 * img-snapshot.c: "blockd-img snapshot" (qemu-img snapshot): list,
 * create, apply and delete internal snapshots through the format
 * driver's bdrv_snapshot_* callbacks, with qemu-img's messages.
 */
#include "img-common.h"
#include <getopt.h>
#include <sys/time.h>

enum {
    SNAPSHOT_LIST = 1,
    SNAPSHOT_CREATE,
    SNAPSHOT_APPLY,
    SNAPSHOT_DELETE,
};

typedef struct SnapshotCo {
    BlockDriverState *bs;
    int action;
    const char *name;
    QEMUSnapshotInfo *sn;           /* create: in; list: out */
    Error **errp;
    int ret;
} SnapshotCo;

static void coroutine_fn snapshot_co(void *opaque)
{
    SnapshotCo *c = opaque;
    const BlockDriver *drv = c->bs->drv;

    switch (c->action) {
    case SNAPSHOT_LIST:
        c->ret = drv->bdrv_snapshot_list(c->bs, &c->sn);
        break;
    case SNAPSHOT_CREATE:
        c->ret = drv->bdrv_snapshot_create(c->bs, c->sn);
        break;
    case SNAPSHOT_APPLY:
        c->ret = drv->bdrv_snapshot_goto(c->bs, c->name, c->errp);
        break;
    case SNAPSHOT_DELETE:
        c->ret = drv->bdrv_snapshot_delete(c->bs, c->sn->id_str, c->sn->name,
                                           c->errp);
        break;
    }
}

/* The node that holds the snapshots: the format, or under a raw filter */
static BlockDriverState *snapshot_bs(BlockDriverState *bs)
{
    while (bs && !bs->drv->bdrv_snapshot_list && bdrv_filter_bs(bs)) {
        bs = bdrv_filter_bs(bs);
    }
    return bs;
}

static void dump_snapshots(BlockDriverState *bs)
{
    SnapshotCo c = { .bs = bs, .action = SNAPSHOT_LIST };
    int i;

    if (!bs->drv->bdrv_snapshot_list) {
        return;
    }
    img_run_co(snapshot_co, &c);
    if (c.ret <= 0) {
        g_free(c.sn);
        return;
    }
    printf("Snapshot list:\n");
    img_snapshot_dump(NULL);
    printf("\n");
    for (i = 0; i < c.ret; i++) {
        SnapshotInfo info = {
            .id = c.sn[i].id_str,
            .name = c.sn[i].name,
            .vm_state_size = c.sn[i].vm_state_size,
            .date_sec = c.sn[i].date_sec,
            .date_nsec = c.sn[i].date_nsec,
            .vm_clock_sec = c.sn[i].vm_clock_nsec / 1000000000,
            .vm_clock_nsec = c.sn[i].vm_clock_nsec % 1000000000,
            .has_icount = c.sn[i].icount != -1ULL,
            .icount = c.sn[i].icount,
        };

        img_snapshot_dump(&info);
        printf("\n");
    }
    g_free(c.sn);
}

int img_snapshot(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 },
    };
    const char *name = NULL, *filename;
    ImgOptions o = { 0 };
    int action = 0;
    BlockBackend *blk;
    BlockDriverState *bs;
    Error *err = NULL;
    SnapshotCo co;
    int ret = 0;
    int c;

    while ((c = img_getopt(argc, argv, ":la:c:d:hqU", long_options, &o)) != -1) {
        switch (c) {
        case 'l':
        case 'a':
        case 'c':
        case 'd':
            if (action) {
                return img_usage_error("Cannot mix '-l', '-a', '-c', '-d'");
            }
            action = c == 'l' ? SNAPSHOT_LIST : c == 'a' ? SNAPSHOT_APPLY :
                     c == 'c' ? SNAPSHOT_CREATE : SNAPSHOT_DELETE;
            name = c == 'l' ? NULL : optarg;
            break;
        }
    }
    if (optind != argc - 1) {
        return img_usage_error("Expecting one image file name");
    }
    filename = argv[optind];
    if (o.force_share && action != SNAPSHOT_LIST && action) {
        error_report("--force-share/-U is not allowed when modifying snapshots");
        return 1;
    }

    blk = img_open(filename, NULL,
                   IMG_OPEN_NO_BACKING | (o.force_share ? IMG_OPEN_SHARE : 0) |
                   (action == SNAPSHOT_LIST || !action ? IMG_OPEN_QUIET :
                    IMG_OPEN_RDWR), &err);
    if (!blk) {
        error_report_err(err);
        return 1;
    }
    bs = snapshot_bs(blk_bs(blk));
    co = (SnapshotCo) { .bs = bs, .action = action, .name = name, .errp = &err };

    switch (action) {
    case SNAPSHOT_LIST:
        dump_snapshots(bs);
        break;
    case SNAPSHOT_CREATE: {
        QEMUSnapshotInfo sn = { .icount = 0 };
        struct timeval tv;

        g_strlcpy(sn.name, name, sizeof(sn.name));
        gettimeofday(&tv, NULL);
        sn.date_sec = tv.tv_sec;
        sn.date_nsec = tv.tv_usec * 1000;
        co.sn = &sn;
        if (bs->drv->bdrv_snapshot_create) {
            img_run_co(snapshot_co, &co);
        } else {
            co.ret = -ENOTSUP;
        }
        if (co.ret) {
            error_report("Could not create snapshot '%s': %d (%s)", name, co.ret,
                         strerror(-co.ret));
            ret = 1;
        }
        break;
    }
    case SNAPSHOT_APPLY:
        if (bs->drv->bdrv_snapshot_goto) {
            img_run_co(snapshot_co, &co);
        } else {
            error_setg(&err, "Block driver does not support snapshots");
            co.ret = -ENOTSUP;
        }
        if (co.ret) {
            if (co.ret != -ENOTSUP || !err) {
                /* qemu-img reports the driver's failure by its errno */
                error_free(err);
                err = NULL;
                error_setg_errno(&err, -co.ret, "Failed to load snapshot");
            }
            error_prepend(&err, "Could not apply snapshot '%s': ", name);
            error_report_err(err);
            ret = 1;
        }
        break;
    case SNAPSHOT_DELETE: {
        /* qemu-img deletes by name (bdrv_snapshot_find), not by id */
        SnapshotCo list = { .bs = bs, .action = SNAPSHOT_LIST };
        int i;

        co.ret = -ENOENT;
        if (bs->drv->bdrv_snapshot_list && bs->drv->bdrv_snapshot_delete) {
            img_run_co(snapshot_co, &list);
            for (i = 0; i < list.ret; i++) {
                if (!strcmp(list.sn[i].name, name)) {
                    co.sn = &list.sn[i];
                    break;
                }
            }
        }
        if (!co.sn) {
            error_report("Could not delete snapshot '%s': snapshot not found",
                         name);
            ret = 1;
        } else {
            img_run_co(snapshot_co, &co);
            if (co.ret) {
                if (!err) {
                    error_setg_errno(&err, -co.ret, "Failed to delete snapshot");
                }
                error_prepend(&err, "Could not delete snapshot '%s': ", name);
                error_report_err(err);
                ret = 1;
            }
        }
        g_free(list.sn);
        break;
    }
    }
    img_close(blk);
    return ret;
}
