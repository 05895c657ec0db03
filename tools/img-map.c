/*
 * img-map.c: "blockd-img map" (qemu-img map): the allocation of every
 * byte range of an image through its backing chain, from block status:
 * which layer (depth) provides it, whether it reads as zeroes or data,
 * and where the data lies in which file.
 */
#include "img-common.h"
#include <getopt.h>

typedef struct MapEntry {
    int64_t start;
    int64_t length;
    bool data;
    bool zero;
    bool present;
    bool has_offset;
    int64_t offset;
    int64_t depth;
    const char *filename;           /* the file node holding the data */
} MapEntry;

typedef struct MapCo {
    BlockDriverState *bs;
    int64_t offset;
    int64_t bytes;
    MapEntry *e;
    int ret;
} MapCo;

/* qemu-img's get_block_status(): walk down the chain until a layer knows */
static void coroutine_fn map_block_status_co(void *opaque)
{
    MapCo *m = opaque;
    BlockDriverState *bs = m->bs;
    BlockDriverState *file = NULL;
    int64_t bytes = m->bytes;
    int64_t map = 0;
    int depth = 0;
    int ret;

    for (;;) {
        bs = bdrv_skip_filters(bs);
        ret = bdrv_co_block_status(bs, true, m->offset, bytes, &bytes, &map,
                                   &file);
        if (ret < 0) {
            m->ret = ret;
            return;
        }
        g_assert(bytes > 0);
        if (ret & (BDRV_BLOCK_ZERO | BDRV_BLOCK_DATA)) {
            break;
        }
        bs = bdrv_cow_bs(bs);
        if (!bs) {
            ret = 0;
            break;
        }
        depth++;
    }
    *m->e = (MapEntry) {
        .start = m->offset,
        .length = bytes,
        .data = !!(ret & BDRV_BLOCK_DATA),
        .zero = !!(ret & BDRV_BLOCK_ZERO),
        .present = !!(ret & BDRV_BLOCK_ALLOCATED),
        .has_offset = !!(ret & BDRV_BLOCK_OFFSET_VALID),
        .offset = map,
        .depth = depth,
        .filename = (file && (ret & BDRV_BLOCK_OFFSET_VALID)) ? file->filename : NULL,
    };
    m->ret = 0;
}

static bool entry_mergeable(const MapEntry *curr, const MapEntry *next)
{
    if (curr->length == 0) {
        return false;
    }
    if (curr->zero != next->zero || curr->data != next->data ||
        curr->depth != next->depth || curr->present != next->present ||
        curr->has_offset != next->has_offset) {
        return false;
    }
    if (!!curr->filename != !!next->filename ||
        (curr->filename && strcmp(curr->filename, next->filename))) {
        return false;
    }
    if (curr->has_offset && curr->offset + curr->length != next->offset) {
        return false;
    }
    return true;
}

static int dump_map_entry(OutputFormat fmt, const MapEntry *e, bool last)
{
    if (fmt == OFORMAT_HUMAN) {
        if (e->data && !e->has_offset) {
            error_report("File contains external, encrypted or compressed "
                         "clusters.");
            return -EINVAL;
        }
        if (e->data && !e->zero) {
            printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n",
                   e->start, e->length, e->has_offset ? e->offset : 0,
                   e->filename ? e->filename : "");
        }
    } else {
        json_object *o = json_object_new_object();
        g_autofree char *text = NULL;

        json_object_object_add(o, "start", json_object_new_int64(e->start));
        json_object_object_add(o, "length", json_object_new_int64(e->length));
        json_object_object_add(o, "depth", json_object_new_int64(e->depth));
        json_object_object_add(o, "present", json_object_new_boolean(e->present));
        json_object_object_add(o, "zero", json_object_new_boolean(e->zero));
        json_object_object_add(o, "data", json_object_new_boolean(e->data));
        if (e->has_offset) {
            json_object_object_add(o, "offset", json_object_new_int64(e->offset));
        }
        text = img_json_inline(o);
        json_object_put(o);
        printf("%s%s", text, last ? "" : ",\n");
    }
    return 0;
}

int img_map(int argc, char **argv)
{
    enum { OPTION_START_OFFSET = IMG_OPTION_SUBCOMMAND, OPTION_MAX_LENGTH };
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, IMG_OPTION_OUTPUT },
        { "start-offset", required_argument, NULL, OPTION_START_OFFSET },
        { "max-length", required_argument, NULL, OPTION_MAX_LENGTH },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 },
    };
    ImgOptions o = { 0 };
    int64_t start_offset = 0, max_length = -1, length, end;
    MapEntry curr = { .length = 0 }, next;
    BlockBackend *blk;
    Error *err = NULL;
    int ret = 0;
    int c;

    while ((c = img_getopt(argc, argv, ":f:hU", long_options, &o)) != -1) {
        switch (c) {
        case OPTION_START_OFFSET:
            start_offset = img_parse_size_arg(optarg, "start offset");
            if (start_offset < 0) {
                return 1;
            }
            break;
        case OPTION_MAX_LENGTH:
            max_length = img_parse_size_arg(optarg, "max length");
            if (max_length < 0) {
                return 1;
            }
            break;
        }
    }
    if (optind != argc - 1) {
        return img_usage_error("Expecting one image file name");
    }

    blk = img_open(argv[optind], o.fmt, o.force_share ? IMG_OPEN_SHARE : 0, &err);
    if (!blk) {
        error_report_err(err);
        return 1;
    }
    if (o.oformat == OFORMAT_HUMAN) {
        printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
    } else {
        printf("[");
    }
    length = blk_getlength(blk);
    if (length < 0) {
        error_report("Failed to get size for '%s'", argv[optind]);
        img_close(blk);
        return 1;
    }
    end = max_length >= 0 ? MIN(length, start_offset + max_length) : length;
    curr.start = start_offset;
    while (curr.start + curr.length < end) {
        int64_t offset = curr.start + curr.length;
        MapCo m = {
            .bs = blk_bs(blk),
            .offset = offset,
            .bytes = MIN(end - offset, BDRV_REQUEST_MAX_BYTES),
            .e = &next,
        };

        img_run_co(map_block_status_co, &m);
        if (m.ret < 0) {
            error_report("Could not read file metadata: %s", strerror(-m.ret));
            ret = m.ret;
            goto out;
        }
        if (entry_mergeable(&curr, &next)) {
            curr.length += next.length;
        } else {
            if (curr.length > 0) {
                ret = dump_map_entry(o.oformat, &curr, false);
                if (ret < 0) {
                    goto out;
                }
            }
            curr = next;
        }
    }
    /* qemu-img prints the last entry even when the range is empty */
    ret = dump_map_entry(o.oformat, &curr, true);
    if (o.oformat == OFORMAT_JSON) {
        printf("]\n");
    }
out:
    img_close(blk);
    return ret < 0;
}
