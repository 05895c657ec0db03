/*
 * img-convert.c: "blockd-img convert" (qemu-img convert): copy an image
 * into a new (or, with -n, existing) one, possibly of another format.
 *
 * The source is walked by block status: ranges that read as zeroes are
 * not written to a target that starts out zeroed (and are written as
 * write-zeroes otherwise); with -B only what the source's top layer
 * holds is copied.  Data read is scanned for zero blocks of -S bytes,
 * which are skipped the same way.  -m coroutines copy in parallel; their
 * writes reach the target in order unless -W.  -c writes compressed
 * clusters (formats with bdrv_co_pwritev_compressed).
 */
#include "img-common.h"
#include <getopt.h>

#define IO_BUF_SIZE     (2 * MiB)
#define MAX_COROUTINES  16
#define MAX_SPARSE      (16 * MiB)  /* -S limit (qemu-img's 32768 sectors) */

typedef enum ChunkStatus {
    CHUNK_DATA,
    CHUNK_ZERO,
    CHUNK_BACKING,                  /* leave to the target's backing file */
} ChunkStatus;

typedef struct ConvertState {
    BlockBackend *src;
    BlockBackend *target;
    int64_t total;
    int64_t chunk_size;             /* IO_BUF_SIZE, or the cluster size with -c */
    int64_t min_sparse;             /* bytes; 0 = no zero detection */
    int64_t target_cluster;         /* allocation unit of the target (1: none) */
    bool compressed;
    bool target_has_backing;
    bool has_zero_init;
    bool wr_in_order;
    bool flush;                     /* -t other than unsafe: flushes reach the disk */
    int num_coroutines;

    CoMutex lock;                   /* next/status claims */
    int64_t next;                   /* first unclaimed byte */
    uint64_t next_seq;              /* sequence number of the next claim */
    uint64_t write_seq;             /* next sequence allowed to write (in order) */
    CoQueue write_queue;
    int64_t done;
    int running;
    int ret;
    int64_t err_offset;
    bool err_write;
} ConvertState;

/* What the source holds at offset and how far (at most max bytes). */
static int coroutine_fn convert_status(ConvertState *s, int64_t offset,
                                       int64_t max, int64_t *n,
                                       ChunkStatus *status)
{
    BlockDriverState *bs = blk_bs(s->src);
    int ret;

    if (s->target_has_backing) {
        ret = bdrv_co_block_status(bs, true, offset, max, n, NULL, NULL);
    } else {
        ret = bdrv_co_block_status_above(bs, NULL, true, offset, max, n, NULL,
                                         NULL, NULL);
    }
    if (ret < 0) {
        return ret;
    }
    if (ret & BDRV_BLOCK_ZERO) {
        *status = CHUNK_ZERO;
    } else if (ret & BDRV_BLOCK_DATA) {
        *status = CHUNK_DATA;
    } else {
        *status = s->target_has_backing ? CHUNK_BACKING : CHUNK_DATA;
    }
    return 0;
}

static int coroutine_fn write_zeroes(ConvertState *s, int64_t offset, int64_t bytes)
{
    if (s->has_zero_init || bytes == 0) {
        return 0;
    }
    /* -S 0 asks for a fully allocated target: zeroes must not unmap */
    return blk_co_pwrite_zeroes(s->target, offset, bytes,
                                s->min_sparse ? BDRV_REQ_MAY_UNMAP : 0);
}

/* A piece of a chunk read as data: written, or (zero) skipped/zeroed */
typedef struct DataRun {
    int64_t start;
    int64_t end;
    bool zero;
} DataRun;

/*
 * Split a chunk read as data into runs of data and of zero blocks
 * (min_sparse bytes aligned in the image; the image's last block may be
 * shorter).  Returns the number of runs; runs holds room for
 * chunk_size / BDRV_SECTOR_SIZE + 2 of them.
 */
static int plan_runs(ConvertState *s, int64_t offset, int64_t bytes,
                     const uint8_t *buf, DataRun *runs)
{
    int64_t pos = 0;
    int n = 0;

    if (s->compressed) {
        runs[0] = (DataRun) { 0, bytes, buffer_is_zero(buf, bytes) };
        return 1;
    }
    if (!s->min_sparse) {
        runs[0] = (DataRun) { 0, bytes, false };
        return 1;
    }
    while (pos < bytes) {
        int64_t end = MIN(bytes, QEMU_ALIGN_UP(offset + pos + 1, s->min_sparse) -
                          offset);
        bool zero = (end - pos == s->min_sparse || offset + end == s->total) &&
                    buffer_is_zero(buf + pos, end - pos);

        if (n > 0 && runs[n - 1].zero == zero) {
            runs[n - 1].end = end;
        } else {
            runs[n++] = (DataRun) { pos, end, zero };
        }
        pos = end;
    }
    return n;
}

/*
 * How many requests writing these runs sends to the target; *first is
 * the (chunk-relative) range of the first one.
 */
static int runs_requests(ConvertState *s, const DataRun *runs, int n,
                         DataRun *first)
{
    int i, count = 0;

    for (i = 0; i < n; i++) {
        if (!runs[i].zero || !s->has_zero_init) {
            if (count++ == 0) {
                *first = runs[i];
            }
        }
    }
    return count;
}

/* Write the runs of buf (at offset): data written, zero runs zeroed or skipped */
static int coroutine_fn write_runs(ConvertState *s, int64_t offset,
                                   uint8_t *buf, const DataRun *runs, int n)
{
    int i, ret = 0;

    for (i = 0; i < n && ret >= 0; i++) {
        int64_t len = runs[i].end - runs[i].start;

        if (runs[i].zero) {
            ret = write_zeroes(s, offset + runs[i].start, len);
        } else {
            ret = blk_co_pwrite(s->target, offset + runs[i].start, len,
                                buf + runs[i].start,
                                s->compressed ? BDRV_REQ_WRITE_COMPRESSED : 0);
        }
    }
    return ret < 0 ? ret : 0;
}

/* In-order writes: let the next chunk's coroutine write */
static void write_turn_pass(ConvertState *s)
{
    s->write_seq++;
    qemu_co_queue_restart_all(&s->write_queue);
}

static void convert_fail(ConvertState *s, int ret, int64_t offset, bool write)
{
    if (s->ret == 0) {
        s->ret = ret;
        s->err_offset = offset;
        s->err_write = write;
    }
}

static void coroutine_fn convert_co(void *opaque)
{
    ConvertState *s = opaque;
    uint8_t *buf = qemu_memalign(4096, s->chunk_size);
    DataRun *runs = g_new(DataRun, s->chunk_size / BDRV_SECTOR_SIZE + 2);

    while (s->ret == 0) {
        ChunkStatus status;
        int64_t offset, n, full;
        uint64_t seq;
        int ret, nruns = 0, requests;
        bool passed = false;
        DataRun first;

        qemu_co_mutex_lock(&s->lock);
        if (s->next >= s->total || s->ret) {
            qemu_co_mutex_unlock(&s->lock);
            break;
        }
        offset = s->next;
        full = MIN(s->total - offset, s->chunk_size - offset % s->chunk_size);
        ret = convert_status(s, offset, full, &n, &status);
        if (ret < 0) {
            qemu_co_mutex_unlock(&s->lock);
            convert_fail(s, ret, offset, false);
            break;
        }
        if (s->compressed && n < full) {
            /* compressed clusters are written whole: read mixed ones */
            n = full;
            status = CHUNK_DATA;
        }
        s->next = offset + n;
        seq = s->next_seq++;
        qemu_co_mutex_unlock(&s->lock);

        if (status == CHUNK_ZERO && !s->min_sparse && !s->compressed) {
            /* -S 0 allocates everything: zeroes are written as data */
            memset(buf, 0, n);
            status = CHUNK_DATA;
        } else if (status == CHUNK_DATA) {
            ret = blk_co_pread(s->src, offset, n, buf, 0);
            if (ret < 0) {
                convert_fail(s, ret, offset, false);
                break;
            }
        }
        first = (DataRun) { 0, n, false };
        if (status == CHUNK_DATA) {
            nruns = plan_runs(s, offset, n, buf, runs);
            requests = runs_requests(s, runs, nruns, &first);
        } else {
            requests = status == CHUNK_ZERO && !s->has_zero_init ? 1 : 0;
        }
        if (s->wr_in_order) {
            while (s->write_seq != seq && s->ret == 0) {
                qemu_co_queue_wait(&s->write_queue, NULL);
            }
            if (s->ret) {
                break;
            }
            /*
             * In order means issued in order: a chunk written with one
             * request of whole target clusters passes the turn as it
             * issues it (the next coroutine runs only once this one has
             * yielded inside the request, when the target has taken it: a
             * qcow2 target has allocated its clusters by then), so writes
             * overlap as with -W and the target is laid out as qemu-img
             * lays it out.  A chunk of several requests, a partial cluster
             * (it may wait for a neighbour's allocation first), or a
             * compressed one (compressed before allocating) keeps the turn
             * to its end.
             */
            if (!s->compressed && (requests == 0 ||
                (requests == 1 &&
                 QEMU_IS_ALIGNED(offset + first.start, s->target_cluster) &&
                 (QEMU_IS_ALIGNED(offset + first.end, s->target_cluster) ||
                  offset + first.end == s->total)))) {
                write_turn_pass(s);
                passed = true;
            }
        }
        if (status == CHUNK_DATA) {
            ret = write_runs(s, offset, buf, runs, nruns);
        } else if (status == CHUNK_ZERO) {
            ret = write_zeroes(s, offset, n);
        } else {
            ret = 0;
        }
        if (s->wr_in_order && !passed) {
            write_turn_pass(s);
        }
        if (ret < 0) {
            convert_fail(s, ret, offset, true);
            break;
        }
        s->done += n;
        img_progress_print(s->done * 100.0 / s->total);
    }
    qemu_vfree(buf);
    g_free(runs);
    s->running--;
    if (s->ret) {
        qemu_co_queue_restart_all(&s->write_queue);
    }
}

typedef struct FlushCo {
    BlockBackend *blk;
    int ret;
} FlushCo;

static void coroutine_fn flush_co(void *opaque)
{
    FlushCo *f = opaque;

    f->ret = blk_co_flush(f->blk);
}

static int do_convert(ConvertState *s)
{
    int i;

    qemu_co_mutex_init(&s->lock);
    qemu_co_queue_init(&s->write_queue);
    s->running = s->num_coroutines;
    for (i = 0; i < s->num_coroutines; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(convert_co, s));
    }
    while (s->running > 0) {
        aio_poll(qemu_get_aio_context(), true);
    }
    if (s->ret == 0) {
        FlushCo f = { .blk = s->target };

        img_run_co(flush_co, &f);
        if (f.ret < 0) {
            error_report("error while flushing the target: %s", strerror(-f.ret));
            return f.ret;
        }
    } else {
        error_report("error while %s at byte %" PRId64 ": %s",
                     s->err_write ? "writing" : "reading", s->err_offset,
                     strerror(-s->ret));
    }
    return s->ret;
}

int img_convert(int argc, char **argv)
{
    enum { OPTION_TARGET_IS_ZERO = IMG_OPTION_SUBCOMMAND };
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { "target-is-zero", no_argument, NULL, OPTION_TARGET_IS_ZERO },
        { NULL, 0, NULL, 0 },
    };
    ImgOptions o = { 0 };
    const char *out_fmt = NULL, *out_baseimg = NULL;
    const char *backing_fmt = NULL, *src_name, *out_name;
    g_autofree char *options = NULL;
    bool progress = false, skip_create = false;
    bool target_is_zero = false, target_nocache = false;
    bool source_nocache = false;
    ConvertState s = {
        .min_sparse = 8 * BDRV_SECTOR_SIZE,
        .wr_in_order = true,
        .num_coroutines = 8,
    };
    BlockDriver *out_drv;
    Error *err = NULL;
    int64_t sval;
    int ret = 1;
    int c;

    while ((c = img_getopt(argc, argv, ":hf:O:B:F:Cco:l:S:pt:T:qnm:WrU",
                           long_options, &o)) != -1) {
        switch (c) {
        case 'O':
            out_fmt = optarg;
            break;
        case 'B':
            out_baseimg = optarg;
            break;
        case 'F':
            backing_fmt = optarg;
            break;
        case 'c':
            s.compressed = true;
            break;
        case 'C':
            break;                  /* copy offloading: plain copies here */
        case 'o':
            img_append_options(&options, optarg);
            break;
        case 'l':
            error_report("Snapshots are not supported by convert");
            return 1;
        case 'S':
            sval = img_parse_size(optarg);
            if (sval < 0 || !QEMU_IS_ALIGNED(sval, BDRV_SECTOR_SIZE) ||
                sval > MAX_SPARSE) {
                error_report("Invalid buffer size for sparse output specified. "
                             "Valid sizes are multiples of 512 up to 16777216. "
                             "Select 0 to disable sparse detection (fully "
                             "allocates output).");
                return 1;
            }
            s.min_sparse = sval;
            break;
        case 'p':
            progress = true;
            break;
        case 't':
            /* qemu-img's default for the target is "unsafe": no flush */
            if (!strcmp(optarg, "none") || !strcmp(optarg, "directsync")) {
                target_nocache = true;
                s.flush = true;
            } else if (!strcmp(optarg, "writeback") ||
                       !strcmp(optarg, "writethrough")) {
                s.flush = true;
            } else if (strcmp(optarg, "unsafe")) {
                error_report("Invalid cache option: %s", optarg);
                return 1;
            }
            break;
        case 'T':
            /* the source cache mode: only O_DIRECT changes how it is read */
            if (!strcmp(optarg, "none") || !strcmp(optarg, "directsync")) {
                source_nocache = true;
            } else if (strcmp(optarg, "writeback") &&
                       strcmp(optarg, "writethrough") &&
                       strcmp(optarg, "unsafe")) {
                error_report("Invalid source cache option: %s", optarg);
                return 1;
            }
            break;
        case 'n':
            skip_create = true;
            break;
        case 'm':
            s.num_coroutines = atoi(optarg);
            if (s.num_coroutines < 1 || s.num_coroutines > MAX_COROUTINES) {
                error_report("Invalid number of coroutines. Allowed number of"
                             " coroutines is between 1 and %d", MAX_COROUTINES);
                return 1;
            }
            break;
        case 'W':
            s.wr_in_order = false;
            break;
        case 'r':
            break;
        case OPTION_TARGET_IS_ZERO:
            target_is_zero = true;
            break;
        }
    }
    if (o.quiet) {
        progress = false;
    }
    if (!out_fmt) {
        out_fmt = "raw";
    }
    if (argc - optind < 2) {
        error_report("Must specify image file name");
        return 1;
    }
    if (argc - optind > 2) {
        error_report("blockd-img convert takes exactly one source image");
        return 1;
    }
    if (target_is_zero && !skip_create) {
        error_report("--target-is-zero requires use of -n flag");
        return 1;
    }
    if (s.wr_in_order == false && s.compressed) {
        /* allowed: compressed clusters may land out of order as well */
    }
    src_name = argv[optind];
    out_name = argv[optind + 1];

    out_drv = bdrv_find_format(out_fmt);
    if (!out_drv || !out_drv->is_format) {
        error_report("Unknown file format '%s'", out_fmt);
        return 1;
    }
    if (s.compressed && !out_drv->bdrv_co_pwritev_compressed) {
        error_report("Compression not supported for this file format");
        return 1;
    }
    if (out_baseimg && !out_drv->supports_backing) {
        error_report("Backing file not supported for file format '%s'", out_fmt);
        return 1;
    }
    if (out_baseimg && skip_create) {
        error_report("Backing file option cannot be used with -n");
        return 1;
    }

    s.src = img_open(src_name, o.fmt, (o.force_share ? IMG_OPEN_SHARE : 0) |
                     (source_nocache ? IMG_OPEN_NOCACHE : 0), &err);
    if (!s.src) {
        error_report_err(err);
        return 1;
    }
    s.total = blk_getlength(s.src);
    if (s.total < 0) {
        error_report("Could not get size of %s: %s", src_name, strerror(-s.total));
        goto out;
    }

    if (!skip_create) {
        g_autofree char *bfmt = NULL;

        if (out_baseimg && !backing_fmt) {
            /* the backing file is named relative to the new image */
            const char *slash = strrchr(out_name, '/');
            g_autofree char *full = (out_baseimg[0] == '/' || !slash) ?
                g_strdup(out_baseimg) :
                g_strdup_printf("%.*s%s", (int)(slash - out_name + 1), out_name,
                                out_baseimg);
            const char *probed = img_probe_format(full, &err);

            if (!probed) {
                error_prepend(&err, "%s: ", out_name);
                error_report_err(err);
                goto out;
            }
            bfmt = g_strdup(probed);
            backing_fmt = bfmt;
        }
        if (img_do_create(out_name, out_fmt, out_baseimg, backing_fmt, options,
                          s.total, true, true, &err) < 0) {
            error_prepend(&err, "%s: error while converting %s: ", out_name,
                          out_fmt);
            error_report_err(err);
            goto out;
        }
    }
    /* With -B the target needs its backing file: zeroes must hide it */
    s.target = img_open(out_name, out_fmt,
                        IMG_OPEN_RDWR | (out_baseimg ? 0 : IMG_OPEN_NO_BACKING) |
                        (target_nocache ? IMG_OPEN_NOCACHE : 0) |
                        (s.flush ? 0 : IMG_OPEN_NO_FLUSH),
                        &err);
    if (!s.target) {
        error_report_err(err);
        goto out;
    }
    s.target_has_backing = !!out_baseimg;
    s.has_zero_init = skip_create ? target_is_zero : !s.target_has_backing;
    if (!s.min_sparse && !s.compressed) {
        s.has_zero_init = false;
    }
    if (skip_create && blk_getlength(s.target) < s.total) {
        error_report("Target image is smaller than the source");
        goto out;
    }
    s.chunk_size = IO_BUF_SIZE;
    {
        BlockDriverInfo bdi;

        s.target_cluster = bdrv_get_info(blk_bs(s.target), &bdi) == 0 &&
                           bdi.cluster_size > 0 ? bdi.cluster_size : 1;
    }
    if (s.compressed) {
        BlockDriverInfo bdi;

        if (bdrv_get_info(blk_bs(s.target), &bdi) < 0 || bdi.cluster_size <= 0 ||
            bdi.cluster_size > IO_BUF_SIZE) {
            error_report("could not get block driver info");
            goto out;
        }
        s.chunk_size = bdi.cluster_size;
    }

    img_progress_init(progress, 1.0);
    img_progress_print(0);
    ret = do_convert(&s) < 0 ? 1 : 0;
    img_progress_end();
out:
    img_close(s.target);
    img_close(s.src);
    return ret;
}
