/*
 * img-open.c: how blockd-img opens images: a file name (with -f, or the
 * format the drivers' bdrv_probe callbacks recognise) or a json:{...}
 * BlockdevOptions definition, through bdrv_open_blockdev() and a
 * BlockBackend, as qemu-img does with blk_new_open().
 */
#include "img-common.h"
#include "qapi/qapi-visit.h"

/* Formats a plain file may be probed as, in order of preference */
static const char *const probe_formats[] = { "qcow2", "raw" };

#define PROBE_BUF_SIZE 2048

static json_object *cache_options(int flags)
{
    json_object *cache = json_object_new_object();

    if (flags & IMG_OPEN_NOCACHE) {
        json_object_object_add(cache, "direct", json_object_new_boolean(true));
    }
    if (flags & IMG_OPEN_NO_FLUSH) {
        json_object_object_add(cache, "no-flush", json_object_new_boolean(true));
    }
    return cache;
}

static json_object *file_options(const char *filename, int flags)
{
    json_object *o = json_object_new_object();
    bool ro = !(flags & IMG_OPEN_RDWR);

    json_object_object_add(o, "driver", json_object_new_string("file"));
    json_object_object_add(o, "filename", json_object_new_string(filename));
    json_object_object_add(o, "read-only", json_object_new_boolean(ro));
    if (flags & IMG_OPEN_SHARE) {
        json_object_object_add(o, "force-share", json_object_new_boolean(true));
    }
    if (flags & (IMG_OPEN_NOCACHE | IMG_OPEN_NO_FLUSH)) {
        json_object_object_add(o, "cache", cache_options(flags));
    }
    if (!ro) {
        json_object_object_add(o, "discard", json_object_new_string("unmap"));
    }
    return o;
}

static BlockDriverState *open_json(json_object *json, Error **errp)
{
    BlockdevOptions *options = NULL;
    BlockDriverState *bs;

    if (!visit_type_BlockdevOptions(json, NULL, &options, errp)) {
        return NULL;
    }
    bs = bdrv_open_blockdev(options, errp);
    qapi_free_BlockdevOptions(options);
    return bs;
}

static BlockBackend *backend_on(BlockDriverState *bs, int flags, Error **errp)
{
    uint64_t perm = BLK_PERM_CONSISTENT_READ;
    uint64_t shared = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED;
    BlockBackend *blk;

    if (flags & IMG_OPEN_RDWR) {
        perm |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
    }
    if (flags & IMG_OPEN_SHARE) {
        shared = BLK_PERM_ALL;
    }
    blk = blk_new(perm, shared);
    if (blk_insert_bs(blk, bs, errp) < 0) {
        blk_unref(blk);
        return NULL;
    }
    return blk;
}

const char *img_probe_format(const char *filename, Error **errp)
{
    json_object *json = file_options(filename, IMG_OPEN_SHARE);
    g_autofree uint8_t *buf = g_malloc0(PROBE_BUF_SIZE);
    const char *best = "raw";
    int best_score = 0;
    BlockDriverState *bs;
    BlockBackend *blk;
    int64_t len;
    size_t i;
    int ret;

    bs = open_json(json, errp);
    json_object_put(json);
    if (!bs) {
        return NULL;
    }
    blk = backend_on(bs, IMG_OPEN_SHARE, errp);
    bdrv_unref(bs);
    if (!blk) {
        return NULL;
    }
    len = MIN(blk_getlength(blk), PROBE_BUF_SIZE);
    ret = len > 0 ? blk_pread(blk, 0, len, buf, 0) : 0;
    blk_unref(blk);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read image for determining its format");
        return NULL;
    }
    for (i = 0; i < ARRAY_SIZE(probe_formats); i++) {
        BlockDriver *drv = bdrv_find_format(probe_formats[i]);
        int score;

        if (!drv || !drv->bdrv_probe) {
            continue;
        }
        score = drv->bdrv_probe(buf, MAX(len, 0), filename);
        if (score > best_score) {
            best_score = score;
            best = probe_formats[i];
        }
    }
    return best;
}

BlockBackend *img_open(const char *filename, const char *fmt, int flags,
                       Error **errp)
{
    json_object *json;
    BlockDriverState *bs;
    BlockBackend *blk;
    bool ro = !(flags & IMG_OPEN_RDWR);

    if (g_str_has_prefix(filename, "json:")) {
        json = json_tokener_parse(filename + strlen("json:"));
        if (!json || !json_object_is_type(json, json_type_object)) {
            json_object_put(json);
            error_setg(errp, "Could not open '%s': Could not parse the JSON "
                       "options", filename);
            return NULL;
        }
        if (fmt && !json_object_object_get_ex(json, "driver", NULL)) {
            json_object_object_add(json, "driver", json_object_new_string(fmt));
        }
    } else {
        bool probed = !fmt;

        if (!fmt) {
            fmt = img_probe_format(filename, errp);
            if (!fmt) {
                error_prepend(errp, "Could not open '%s': ", filename);
                return NULL;
            }
        }
        if (!bdrv_find_format(fmt)) {
            error_setg(errp, "Unknown file format '%s'", fmt);
            return NULL;
        }
        if (probed && !ro && !strcmp(fmt, "raw") && !(flags & IMG_OPEN_QUIET)) {
            /* qemu-img prints this one without its program name */
            fprintf(stderr, "WARNING: Image format was not specified for '%s' "
                    "and probing guessed raw.\n"
                    "         Automatically detecting the format is "
                    "dangerous for raw images, write operations on block 0 "
                    "will be restricted.\n"
                    "         Specify the 'raw' format explicitly to remove "
                    "the restrictions.\n", filename);
        }
        json = json_object_new_object();
        json_object_object_add(json, "driver", json_object_new_string(fmt));
        json_object_object_add(json, "file", file_options(filename, flags));
        if (flags & IMG_OPEN_NO_BACKING) {
            BlockDriver *drv = bdrv_find_format(fmt);

            if (drv->supports_backing) {
                json_object_object_add(json, "backing", NULL);
            }
        }
    }
    json_object_object_add(json, "read-only", json_object_new_boolean(ro));
    if (flags & IMG_OPEN_SHARE) {
        json_object_object_add(json, "force-share", json_object_new_boolean(true));
    }
    if (!ro) {
        json_object_object_add(json, "discard", json_object_new_string("unmap"));
    }
    if (flags & IMG_OPEN_NO_FLUSH) {
        json_object_object_add(json, "cache", cache_options(IMG_OPEN_NO_FLUSH));
    }
    bs = open_json(json, errp);
    json_object_put(json);
    if (!bs) {
        if (!(flags & IMG_OPEN_BARE_ERRORS)) {
            error_prepend(errp, "Could not open '%s': ", filename);
        }
        return NULL;
    }
    blk = backend_on(bs, flags, errp);
    bdrv_unref(bs);
    if (!blk) {
        error_prepend(errp, "Could not open '%s': ", filename);
    }
    return blk;
}

void img_close(BlockBackend *blk)
{
    if (blk) {
        blk_unref(blk);
    }
}
