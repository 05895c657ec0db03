/*
 * img-bitmap.c: "blockd-img bitmap" (qemu-img bitmap): add, remove,
 * clear, enable, disable and merge persistent dirty bitmaps of an image,
 * in command-line order, through the dirty bitmap QMP handlers
 * (block/qmp-bitmaps.c) on the opened node; the format stores them when
 * the image is closed.
 */
#include "img-common.h"
#include <getopt.h>
#include "qapi/qapi-commands.h"

typedef enum BitmapAction {
    BITMAP_ADD,
    BITMAP_REMOVE,
    BITMAP_CLEAR,
    BITMAP_ENABLE,
    BITMAP_DISABLE,
    BITMAP_MERGE,
} BitmapAction;

static const char *const action_names[] = {
    [BITMAP_ADD] = "add", [BITMAP_REMOVE] = "remove", [BITMAP_CLEAR] = "clear",
    [BITMAP_ENABLE] = "enable", [BITMAP_DISABLE] = "disable",
    [BITMAP_MERGE] = "merge",
};

typedef struct ImgBitmapAction {
    BitmapAction act;
    const char *src;                /* merge source bitmap */
} ImgBitmapAction;

static void merge_bitmap(const char *node, const char *target,
                         const char *src_node, const char *src, Error **errp)
{
    BlockDirtyBitmapOrStr *item = g_new0(BlockDirtyBitmapOrStr, 1);
    BlockDirtyBitmapOrStrList *list = g_new0(BlockDirtyBitmapOrStrList, 1);

    if (src_node) {
        item->type = QTYPE_QDICT;
        item->u.external = g_new0(BlockDirtyBitmap, 1);
        item->u.external->node = g_strdup(src_node);
        item->u.external->name = g_strdup(src);
    } else {
        item->type = QTYPE_QSTRING;
        item->u.local = g_strdup(src);
    }
    list->value = item;
    qmp_block_dirty_bitmap_merge(node, target, list, errp);
    qapi_free_BlockDirtyBitmapOrStrList(list);
}

int img_bitmap(int argc, char **argv)
{
    enum {
        OPTION_ADD = IMG_OPTION_SUBCOMMAND, OPTION_REMOVE, OPTION_CLEAR,
        OPTION_ENABLE, OPTION_DISABLE, OPTION_MERGE,
    };
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "add", no_argument, NULL, OPTION_ADD },
        { "remove", no_argument, NULL, OPTION_REMOVE },
        { "clear", no_argument, NULL, OPTION_CLEAR },
        { "enable", no_argument, NULL, OPTION_ENABLE },
        { "disable", no_argument, NULL, OPTION_DISABLE },
        { "merge", required_argument, NULL, OPTION_MERGE },
        { "granularity", required_argument, NULL, 'g' },
        { "source-file", required_argument, NULL, 'b' },
        { "source-format", required_argument, NULL, 'F' },
        { NULL, 0, NULL, 0 },
    };
    g_autoptr(GArray) actions = g_array_new(false, true, sizeof(ImgBitmapAction));
    ImgOptions o = { 0 };
    const char *src_file = NULL, *src_fmt = NULL;
    const char *filename, *bitmap;
    int64_t granularity = 0;
    bool add = false, merge = false;
    BlockBackend *blk = NULL, *src_blk = NULL;
    const char *node, *src_node = NULL;
    Error *err = NULL;
    int ret = 1;
    guint i;
    int c;

    while ((c = img_getopt(argc, argv, ":b:hg:f:F:", long_options, &o)) != -1) {
        ImgBitmapAction a = { 0 };

        switch (c) {
        case 'b':
            src_file = optarg;
            break;
        case 'F':
            src_fmt = optarg;
            break;
        case 'g':
            granularity = img_parse_size_arg(optarg, "granularity");
            if (granularity < 0) {
                return 1;
            }
            break;
        case OPTION_ADD:
            a.act = BITMAP_ADD;
            add = true;
            g_array_append_val(actions, a);
            break;
        case OPTION_REMOVE:
            a.act = BITMAP_REMOVE;
            g_array_append_val(actions, a);
            break;
        case OPTION_CLEAR:
            a.act = BITMAP_CLEAR;
            g_array_append_val(actions, a);
            break;
        case OPTION_ENABLE:
            a.act = BITMAP_ENABLE;
            g_array_append_val(actions, a);
            break;
        case OPTION_DISABLE:
            a.act = BITMAP_DISABLE;
            g_array_append_val(actions, a);
            break;
        case OPTION_MERGE:
            a.act = BITMAP_MERGE;
            a.src = optarg;
            merge = true;
            g_array_append_val(actions, a);
            break;
        }
    }
    if (!actions->len) {
        error_report("Need at least one of --add, --remove, --clear, "
                     "--enable, --disable, or --merge");
        return 1;
    }
    if (granularity && !add) {
        error_report("granularity only supported with --add");
        return 1;
    }
    if (src_fmt && !src_file) {
        error_report("-F only supported with -b");
        return 1;
    }
    if (src_file && !merge) {
        error_report("Merge bitmap source file only supported with "
                     "--merge");
        return 1;
    }
    if (optind != argc - 2) {
        error_report("Expecting filename and bitmap name");
        return 1;
    }
    filename = argv[optind];
    bitmap = argv[optind + 1];

    blk = img_open(filename, o.fmt, IMG_OPEN_RDWR, &err);
    if (!blk) {
        error_report_err(err);
        return 1;
    }
    node = bdrv_get_node_name(blk_bs(blk));
    if (src_file) {
        src_blk = img_open(src_file, src_fmt, IMG_OPEN_NO_BACKING, &err);
        if (!src_blk) {
            error_report_err(err);
            goto out;
        }
        src_node = bdrv_get_node_name(blk_bs(src_blk));
    }

    for (i = 0; i < actions->len; i++) {
        ImgBitmapAction *a = &g_array_index(actions, ImgBitmapAction, i);

        switch (a->act) {
        case BITMAP_ADD:
            qmp_block_dirty_bitmap_add(node, bitmap, !!granularity, granularity,
                                       true, true, false, false, &err);
            break;
        case BITMAP_REMOVE:
            qmp_block_dirty_bitmap_remove(node, bitmap, &err);
            break;
        case BITMAP_CLEAR:
            qmp_block_dirty_bitmap_clear(node, bitmap, &err);
            break;
        case BITMAP_ENABLE:
            qmp_block_dirty_bitmap_enable(node, bitmap, &err);
            break;
        case BITMAP_DISABLE:
            qmp_block_dirty_bitmap_disable(node, bitmap, &err);
            break;
        case BITMAP_MERGE:
            merge_bitmap(node, bitmap, src_node, a->src, &err);
            break;
        }
        if (err) {
            error_prepend(&err, "Operation %s on bitmap %s failed: ",
                          action_names[a->act], bitmap);
            error_report_err(err);
            goto out;
        }
    }
    ret = 0;
out:
    img_close(src_blk);
    img_close(blk);
    return ret;
}
