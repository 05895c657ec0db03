/*
 * img-compare.c: "blockd-img compare" (qemu-img compare): are two images
 * the same guest-visible content?  Block status skips ranges that read as
 * zeroes in both; allocated ranges are read and compared; the tail of the
 * larger image must read as zeroes (unless -s).  Exit codes as qemu-img:
 * 0 identical, 1 different, 2 open error, 3 block status error, 4 read
 * error.
 */
#include "img-common.h"
#include <getopt.h>

#define IO_BUF_SIZE (2 * MiB)

typedef struct StatusCo {
    BlockDriverState *bs;
    int64_t offset;
    int64_t bytes;
    int64_t pnum;
    int ret;
} StatusCo;

static void coroutine_fn status_co(void *opaque)
{
    StatusCo *s = opaque;

    s->ret = bdrv_co_block_status_above(s->bs, NULL, true, s->offset, s->bytes,
                                        &s->pnum, NULL, NULL, NULL);
}

static int block_status(BlockBackend *blk, int64_t offset, int64_t bytes,
                        int64_t *pnum)
{
    StatusCo s = { .bs = blk_bs(blk), .offset = offset, .bytes = bytes };

    img_run_co(status_co, &s);
    *pnum = s.pnum;
    return s.ret;
}

/* Index of the first non-zero byte, or -1 */
static int64_t find_nonzero(const uint8_t *buf, int64_t n)
{
    int64_t i;

    for (i = 0; i < n; i++) {
        if (buf[i]) {
            return i;
        }
    }
    return -1;
}

/*
 * qemu's compare_buffers() with min 0: whether the first 512-byte sector
 * differs, and in *pnum how many bytes share that result.
 */
static int compare_buffers(const uint8_t *buf1, const uint8_t *buf2,
                           int64_t bytes, int64_t *pnum)
{
    int64_t i = MIN(bytes, BDRV_SECTOR_SIZE);
    bool res = !!memcmp(buf1, buf2, i);

    while (i < bytes) {
        int64_t len = MIN(bytes - i, BDRV_SECTOR_SIZE);

        if (!!memcmp(buf1 + i, buf2 + i, len) != res) {
            break;
        }
        i += len;
    }
    *pnum = i;
    return res;
}

static int check_empty(BlockBackend *blk, int64_t offset, int64_t bytes,
                       const char *filename, uint8_t *buf, bool quiet)
{
    int64_t idx;
    int ret = blk_pread(blk, offset, bytes, buf, 0);

    if (ret < 0) {
        error_report("Error while reading offset %" PRId64 " of %s: %s",
                     offset, filename, strerror(-ret));
        return 4;
    }
    idx = find_nonzero(buf, bytes);
    if (idx >= 0) {
        if (!quiet) {
            printf("Content mismatch at offset %" PRId64 "!\n", offset + idx);
        }
        return 1;
    }
    return 0;
}

static int do_compare(BlockBackend *blk1, BlockBackend *blk2,
                      const char *filename1, const char *filename2,
                      bool strict, bool quiet)
{
    g_autofree uint8_t *buf1 = g_malloc(IO_BUF_SIZE);
    g_autofree uint8_t *buf2 = g_malloc(IO_BUF_SIZE);
    int64_t size1 = blk_getlength(blk1), size2 = blk_getlength(blk2);
    int64_t total, base, offset = 0, chunk;
    int ret;

    if (size1 < 0 || size2 < 0) {
        error_report("Can't get size of %s: %s", size1 < 0 ? filename1 : filename2,
                     strerror(-(size1 < 0 ? size1 : size2)));
        return 4;
    }
    total = MIN(size1, size2);
    base = MAX(size1, size2);
    img_progress_print(0);
    if (strict && size1 != size2) {
        if (!quiet) {
            printf("Strict mode: Image size mismatch!\n");
        }
        return 1;
    }
    while (offset < total) {
        int64_t pnum1, pnum2;
        int status1, status2;
        bool allocated1, allocated2;

        status1 = block_status(blk1, offset, size1 - offset, &pnum1);
        if (status1 < 0) {
            error_report("Sector allocation test failed for %s", filename1);
            return 3;
        }
        status2 = block_status(blk2, offset, size2 - offset, &pnum2);
        if (status2 < 0) {
            error_report("Sector allocation test failed for %s", filename2);
            return 3;
        }
        allocated1 = status1 & BDRV_BLOCK_ALLOCATED;
        allocated2 = status2 & BDRV_BLOCK_ALLOCATED;
        chunk = MIN(MIN(pnum1, pnum2), total - offset);
        if (strict && status1 != status2) {
            if (!quiet) {
                printf("Strict mode: Offset %" PRId64 " block status mismatch!\n",
                       offset);
            }
            return 1;
        }
        if ((status1 & BDRV_BLOCK_ZERO) && (status2 & BDRV_BLOCK_ZERO)) {
            /* both read as zeroes */
        } else if (allocated1 == allocated2) {
            if (allocated1) {
                int64_t pnum;

                chunk = MIN(chunk, IO_BUF_SIZE);
                ret = blk_pread(blk1, offset, chunk, buf1, 0);
                if (ret < 0) {
                    error_report("Error while reading offset %" PRId64 " of %s: %s",
                                 offset, filename1, strerror(-ret));
                    return 4;
                }
                ret = blk_pread(blk2, offset, chunk, buf2, 0);
                if (ret < 0) {
                    error_report("Error while reading offset %" PRId64 " of %s: %s",
                                 offset, filename2, strerror(-ret));
                    return 4;
                }
                ret = compare_buffers(buf1, buf2, chunk, &pnum);
                if (ret || pnum != chunk) {
                    if (!quiet) {
                        printf("Content mismatch at offset %" PRId64 "!\n",
                               offset + (ret ? 0 : pnum));
                    }
                    return 1;
                }
            }
        } else {
            chunk = MIN(chunk, IO_BUF_SIZE);
            ret = allocated1 ? check_empty(blk1, offset, chunk, filename1, buf1, quiet)
                             : check_empty(blk2, offset, chunk, filename2, buf1, quiet);
            if (ret) {
                return ret;
            }
        }
        offset += chunk;
        img_progress_print(offset * 100.0 / base);
    }

    if (size1 != size2) {
        BlockBackend *blk_over = size1 > size2 ? blk1 : blk2;
        const char *filename_over = size1 > size2 ? filename1 : filename2;

        if (!quiet) {
            printf("Warning: Image size mismatch!\n");
        }
        while (offset < base) {
            int status = block_status(blk_over, offset, base - offset, &chunk);

            if (status < 0) {
                error_report("Sector allocation test failed for %s", filename_over);
                return 3;
            }
            if ((status & BDRV_BLOCK_ALLOCATED) && !(status & BDRV_BLOCK_ZERO)) {
                chunk = MIN(chunk, IO_BUF_SIZE);
                ret = check_empty(blk_over, offset, chunk, filename_over, buf1, quiet);
                if (ret) {
                    return ret;
                }
            }
            offset += chunk;
            img_progress_print(offset * 100.0 / base);
        }
    }
    if (!quiet) {
        printf("Images are identical.\n");
    }
    return 0;
}

int img_compare(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 },
    };
    const char *fmt1 = NULL, *fmt2 = NULL, *filename1, *filename2;
    bool progress = false, quiet = false, strict = false, force_share = false;
    BlockBackend *blk1, *blk2;
    Error *err = NULL;
    int flags, ret;
    int c;

    while ((c = getopt_long(argc, argv, ":hf:F:T:pqsU", long_options, NULL)) != -1) {
        switch (c) {
        case ':':
            error_report("option '%s' requires an argument", argv[optind - 1]);
            return 2;
        case '?':
            error_report("unrecognized option '%s'", argv[optind - 1]);
            return 2;
        case 'h':
            printf("Usage: blockd-img compare [-f FMT] [-F FMT] [-p] [-q] [-s] "
                   "[-U] FILENAME1 FILENAME2\n");
            return 0;
        case 'f':
            fmt1 = optarg;
            break;
        case 'F':
            fmt2 = optarg;
            break;
        case 'T':
            break;
        case 'p':
            progress = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 's':
            strict = true;
            break;
        case 'U':
            force_share = true;
            break;
        }
    }
    if (quiet) {
        progress = false;
    }
    if (optind != argc - 2) {
        error_report("Expecting two image file names");
        return 2;
    }
    filename1 = argv[optind];
    filename2 = argv[optind + 1];
    flags = force_share ? IMG_OPEN_SHARE : 0;

    blk1 = img_open(filename1, fmt1, flags, &err);
    if (!blk1) {
        error_report_err(err);
        return 2;
    }
    blk2 = img_open(filename2, fmt2, flags, &err);
    if (!blk2) {
        error_report_err(err);
        img_close(blk1);
        return 2;
    }
    img_progress_init(progress, 2.0);
    ret = do_compare(blk1, blk2, filename1, filename2, strict, quiet);
    img_progress_end();
    img_close(blk2);
    img_close(blk1);
    return ret;
}
