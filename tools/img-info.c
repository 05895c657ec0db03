/*
 * img-info.c: "blockd-img info" (qemu-img info): what an image is, from
 * the opened node (size, allocation, driver info, backing file,
 * snapshots, the driver's format-specific data), as qemu-img's human
 * text or JSON, optionally for the whole backing chain.
 */
#include "img-common.h"
#include <getopt.h>
#include "qapi/qapi-visit.h"

typedef struct ImgInfo {
    ImageInfo *base;                /* qapi/block-core.json's ImageInfo */
    GPtrArray *snapshots;           /* SnapshotInfo *, NULL when none */
    ImageInfoSpecific *format_specific;
} ImgInfo;

static void img_info_free(ImgInfo *info)
{
    if (info) {
        qapi_free_ImageInfo(info->base);
        if (info->snapshots) {
            g_ptr_array_free(info->snapshots, true);
        }
        qapi_free_ImageInfoSpecific(info->format_specific);
        g_free(info);
    }
}

/* QEMU's path_combine(): filename relative to the directory of base_path */
static char *path_combine(const char *base_path, const char *filename)
{
    const char *slash;

    if (filename[0] == '/' || strstr(filename, "://") ||
        g_str_has_prefix(filename, "json:")) {
        return g_strdup(filename);
    }
    slash = strrchr(base_path, '/');
    if (!slash) {
        return g_strdup(filename);
    }
    return g_strdup_printf("%.*s%s", (int)(slash - base_path + 1), base_path,
                           filename);
}

typedef struct SnapshotListCo {
    BlockDriverState *bs;
    QEMUSnapshotInfo *sn;
    int ret;
} SnapshotListCo;

static void coroutine_fn snapshot_list_co(void *opaque)
{
    SnapshotListCo *s = opaque;

    s->ret = s->bs->drv->bdrv_snapshot_list(s->bs, &s->sn);
}

/* The snapshots of bs as QAPI SnapshotInfo (NULL when it has none). */
static int query_snapshots(BlockDriverState *bs, GPtrArray **list, Error **errp)
{
    SnapshotListCo s = { .bs = bs };
    int i;

    *list = NULL;
    if (!bs->drv->bdrv_snapshot_list) {
        return 0;
    }
    img_run_co(snapshot_list_co, &s);
    if (s.ret < 0) {
        error_setg_errno(errp, -s.ret, "Failed to list snapshots");
        return s.ret;
    }
    for (i = 0; i < s.ret; i++) {
        SnapshotInfo *info = g_new0(SnapshotInfo, 1);

        info->id = g_strdup(s.sn[i].id_str);
        info->name = g_strdup(s.sn[i].name);
        info->vm_state_size = s.sn[i].vm_state_size;
        info->date_sec = s.sn[i].date_sec;
        info->date_nsec = s.sn[i].date_nsec;
        info->vm_clock_sec = s.sn[i].vm_clock_nsec / 1000000000;
        info->vm_clock_nsec = s.sn[i].vm_clock_nsec % 1000000000;
        info->has_icount = s.sn[i].icount != -1ULL;
        info->icount = s.sn[i].icount;
        if (!*list) {
            *list = g_ptr_array_new_with_free_func(
                (GDestroyNotify)qapi_free_SnapshotInfo);
        }
        g_ptr_array_add(*list, info);
    }
    g_free(s.sn);
    return 0;
}

static ImgInfo *query_image_info(BlockDriverState *bs, Error **errp)
{
    ImgInfo *info = g_new0(ImgInfo, 1);
    ImageInfo *base = g_new0(ImageInfo, 1);
    BlockDriverInfo bdi;
    int64_t size;
    int ret;

    info->base = base;
    base->filename = g_strdup(bs->filename);
    base->format = g_strdup(bdrv_get_format_name(bs));
    size = bdrv_getlength(bs);
    if (size < 0) {
        error_setg_errno(errp, -size, "Can't get image size '%s'", bs->filename);
        img_info_free(info);
        return NULL;
    }
    base->virtual_size = size;
    size = bdrv_get_allocated_file_size(bs);
    if (size >= 0) {
        base->has_actual_size = true;
        base->actual_size = size;
    }
    ret = bdrv_get_info(bs, &bdi);
    if (ret >= 0 || ret == -ENOTSUP) {
        /* qemu-img reports a clean image for formats without driver info */
        if (ret >= 0 && bdi.cluster_size) {
            base->has_cluster_size = true;
            base->cluster_size = bdi.cluster_size;
        }
        base->has_dirty_flag = true;
        base->dirty_flag = ret >= 0 && bdi.is_dirty;
    }
    if (bs->backing_file && bs->backing_file[0]) {
        base->backing_filename = g_strdup(bs->backing_file);
        base->full_backing_filename = path_combine(bs->filename, bs->backing_file);
        if (bs->backing_format) {
            base->backing_filename_format = g_strdup(bs->backing_format);
        }
    }
    if (query_snapshots(bs, &info->snapshots, errp) < 0) {
        img_info_free(info);
        return NULL;
    }
    if (bs->drv->bdrv_get_specific_info) {
        Error *local_err = NULL;

        info->format_specific = bs->drv->bdrv_get_specific_info(bs, &local_err);
        if (local_err) {
            error_propagate(errp, local_err);
            img_info_free(info);
            return NULL;
        }
    }
    return info;
}

static json_object *img_info_to_json(const ImgInfo *info)
{
    json_object *obj = visit_out_ImageInfo(info->base);

    if (info->snapshots) {
        json_object *arr = json_object_new_array();
        guint i;

        for (i = 0; i < info->snapshots->len; i++) {
            json_object_array_add(arr, visit_out_SnapshotInfo(info->snapshots->pdata[i]));
        }
        json_object_object_add(obj, "snapshots", arr);
    }
    if (info->format_specific) {
        json_object_object_add(obj, "format-specific",
                               visit_out_ImageInfoSpecific(info->format_specific));
    }
    return obj;
}

void img_snapshot_dump(const SnapshotInfo *sn)
{
    if (!sn) {
        printf("%-10s%-17s%8s%20s%13s%11s", "ID", "TAG", "VM SIZE", "DATE",
               "VM CLOCK", "ICOUNT");
    } else {
        g_autoptr(GDateTime) date = g_date_time_new_from_unix_local(sn->date_sec);
        g_autofree char *date_buf = g_date_time_format(date, "%Y-%m-%d %H:%M:%S");
        g_autofree char *sizing = img_size_to_str(sn->vm_state_size);
        char clock_buf[64];
        char icount_buf[32] = "";
        int64_t secs = sn->vm_clock_sec;

        snprintf(clock_buf, sizeof(clock_buf), "%02d:%02d:%02d.%03d",
                 (int)(secs / 3600), (int)((secs / 60) % 60), (int)(secs % 60),
                 (int)((sn->vm_clock_nsec / 1000000) % 1000));
        if (sn->has_icount) {
            snprintf(icount_buf, sizeof(icount_buf), "%" PRId64, sn->icount);
        }
        printf("%-9s %-17s %7s%20s%13s%11s", sn->id, sn->name, sizing, date_buf,
               clock_buf, icount_buf);
    }
}

static void img_info_dump(const ImgInfo *info)
{
    const ImageInfo *b = info->base;
    g_autofree char *size_buf = img_size_to_str(b->virtual_size);
    g_autofree char *dsize_buf = b->has_actual_size ?
                                 img_size_to_str(b->actual_size) :
                                 g_strdup("unavailable");

    printf("image: %s\n"
           "file format: %s\n"
           "virtual size: %s (%" PRId64 " bytes)\n"
           "disk size: %s\n",
           b->filename, b->format, size_buf, b->virtual_size, dsize_buf);
    if (b->has_encrypted && b->encrypted) {
        printf("encrypted: yes\n");
    }
    if (b->has_cluster_size) {
        printf("cluster_size: %" PRId64 "\n", b->cluster_size);
    }
    if (b->has_dirty_flag && b->dirty_flag) {
        printf("cleanly shut down: no\n");
    }
    if (b->backing_filename) {
        printf("backing file: %s", b->backing_filename);
        if (!b->full_backing_filename) {
            printf(" (cannot determine actual path)");
        } else if (strcmp(b->backing_filename, b->full_backing_filename)) {
            printf(" (actual path: %s)", b->full_backing_filename);
        }
        printf("\n");
        if (b->backing_filename_format) {
            printf("backing file format: %s\n", b->backing_filename_format);
        }
    }
    if (info->snapshots) {
        guint i;

        printf("Snapshot list:\n");
        img_snapshot_dump(NULL);
        printf("\n");
        for (i = 0; i < info->snapshots->len; i++) {
            img_snapshot_dump(info->snapshots->pdata[i]);
            printf("\n");
        }
    }
    if (info->format_specific) {
        json_object *obj = visit_out_ImageInfoSpecific(info->format_specific);
        json_object *data = NULL;

        if (json_object_object_get_ex(obj, "data", &data) &&
            json_object_object_length(data) > 0) {
            printf("Format specific information:\n");
            img_json_dump_human(data, 1);
        }
        json_object_put(obj);
    }
}

/* Info of filename and, with chain, of its backing files; NULL on error */
static GPtrArray *collect_image_info_list(const char *filename, const char *fmt,
                                          bool chain, bool force_share)
{
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                       g_free, NULL);
    GPtrArray *list = g_ptr_array_new_with_free_func((GDestroyNotify)img_info_free);
    g_autofree char *next = g_strdup(filename);
    g_autofree char *next_fmt = g_strdup(fmt);

    while (next) {
        Error *err = NULL;
        BlockBackend *blk;
        ImgInfo *info;
        char *cur = next;

        if (g_hash_table_contains(seen, cur)) {
            error_report("Backing file '%s' creates an infinite loop.", cur);
            goto fail;
        }
        g_hash_table_add(seen, g_strdup(cur));
        blk = img_open(cur, next_fmt, IMG_OPEN_NO_BACKING |
                       (force_share ? IMG_OPEN_SHARE : 0), &err);
        if (!blk) {
            error_report_err(err);
            goto fail;
        }
        info = query_image_info(blk_bs(blk), &err);
        img_close(blk);
        if (!info) {
            error_report_err(err);
            goto fail;
        }
        g_ptr_array_add(list, info);
        g_free(next_fmt);
        next_fmt = NULL;
        next = NULL;
        if (chain && info->base->full_backing_filename) {
            next = g_strdup(info->base->full_backing_filename);
            next_fmt = g_strdup(info->base->backing_filename_format);
        }
        g_free(cur);
    }
    return list;

fail:
    g_ptr_array_free(list, true);
    return NULL;
}

int img_info(int argc, char **argv)
{
    enum { OPTION_BACKING_CHAIN = IMG_OPTION_SUBCOMMAND };
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, IMG_OPTION_OUTPUT },
        { "backing-chain", no_argument, NULL, OPTION_BACKING_CHAIN },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 },
    };
    ImgOptions o = { 0 };
    bool chain = false;
    GPtrArray *list;
    guint i;
    int c;

    while ((c = img_getopt(argc, argv, ":f:hU", long_options, &o)) != -1) {
        switch (c) {
        case OPTION_BACKING_CHAIN:
            chain = true;
            break;
        }
    }
    if (optind != argc - 1) {
        return img_usage_error("Expecting one image file name");
    }

    list = collect_image_info_list(argv[optind], o.fmt, chain, o.force_share);
    if (!list) {
        return 1;
    }
    if (o.oformat == OFORMAT_JSON) {
        json_object *obj;
        g_autofree char *text = NULL;

        if (chain) {
            obj = json_object_new_array();
            for (i = 0; i < list->len; i++) {
                json_object_array_add(obj, img_info_to_json(list->pdata[i]));
            }
        } else {
            obj = img_info_to_json(list->pdata[0]);
        }
        text = img_json_pretty(obj);
        printf("%s\n", text);
        json_object_put(obj);
    } else {
        for (i = 0; i < list->len; i++) {
            if (i) {
                printf("\n");
            }
            img_info_dump(list->pdata[i]);
        }
    }
    g_ptr_array_free(list, true);
    return 0;
}
