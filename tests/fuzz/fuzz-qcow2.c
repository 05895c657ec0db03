/*
 * fuzz-qcow2.c: libFuzzer target over the qcow2 driver's open and read
 * paths, and its snapshot list and image check.
 *
 * Each input is an image file: it is put in a memory file (memfd), opened
 * read-only as qcow2 over the file driver (backing: null, so no other
 * file is ever opened), then every cluster of the virtual disk is read
 * (at most 4096 reads spread over the disk, so a huge virtual size does
 * not make the run long), the snapshots are listed and the image is
 * checked without repair.  FUZZ_QCOW2_VERBOSE=1 in the environment
 * prints what happened (open error, read errors, chunks read).  Whatever the input, none of this may crash,
 * hang or allocate without bound; errors are expected and ignored.
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/block-backend.h"
#include "qapi/qapi-visit.h"
#include "qemu/aio.h"

#include <sys/mman.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_MAX_READS  4096

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    Error *err = NULL;

    if (!qemu_init_main_loop(&err)) {
        error_report_err(err);
        abort();
    }
    bdrv_init();
    return 0;
}

typedef struct FuzzCo {
    BlockDriverState *bs;
    bool done;
} FuzzCo;

/* Snapshot list and check: driver callbacks, run in a coroutine */
static void coroutine_fn fuzz_co_entry(void *opaque)
{
    FuzzCo *f = opaque;
    const BlockDriver *drv = f->bs->drv;
    QEMUSnapshotInfo *sn = NULL;
    BdrvCheckResult result = { 0 };

    if (drv->bdrv_snapshot_list && drv->bdrv_snapshot_list(f->bs, &sn) >= 0) {
        g_free(sn);
    }
    if (drv->bdrv_co_check) {
        drv->bdrv_co_check(f->bs, &result, 0);
    }
    f->done = true;
    aio_notify(qemu_get_aio_context());
}

static BlockDriverState *fuzz_open(int fd)
{
    g_autofree char *json = g_strdup_printf(
        "{\"driver\": \"qcow2\", \"node-name\": \"fuzz\", \"read-only\": true, "
        "\"backing\": null, \"cache-clean-interval\": 0, "
        "\"file\": {\"driver\": \"file\", \"filename\": \"/proc/self/fd/%d\", "
        "\"locking\": \"off\"}}", fd);
    json_object *obj = json_tokener_parse(json);
    BlockdevOptions *opts = NULL;
    BlockDriverState *bs;
    Error *err = NULL;

    assert(obj);
    visit_type_BlockdevOptions(obj, NULL, &opts, &error_abort);
    json_object_put(obj);
    bs = bdrv_open_blockdev(opts, &err);
    if (getenv("FUZZ_QCOW2_VERBOSE")) {
        fprintf(stderr, "open: %s\n", err ? error_get_pretty(err) : "ok");
    }
    error_free(err);
    qapi_free_BlockdevOptions(opts);
    return bs;
}

static void fuzz_read_all(BlockDriverState *bs)
{
    BlockBackend *blk = blk_new(BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL);
    BlockDriverInfo bdi = { 0 };
    int64_t len, step, offset;
    uint8_t *buf;
    int n;

    if (blk_insert_bs(blk, bs, NULL) < 0) {
        blk_unref(blk);
        return;
    }
    len = blk_getlength(blk);
    bdrv_get_info(bs, &bdi);
    step = bdi.cluster_size > 0 ? bdi.cluster_size : 65536;
    if (len > 0 && len / step > FUZZ_MAX_READS) {
        step = ROUND_UP(len / FUZZ_MAX_READS, step);
    }
    buf = g_malloc(MIN(step, 2 * 1024 * 1024));
    for (offset = 0, n = 0; len > 0 && offset < len && n < FUZZ_MAX_READS;
         offset += step, n++) {
        int64_t bytes = MIN(MIN(step, 2 * 1024 * 1024), len - offset);

        int ret = blk_pread(blk, offset, bytes, buf, 0);

        if (getenv("FUZZ_QCOW2_VERBOSE") && ret < 0) {
            fprintf(stderr, "read at %" PRId64 ": %s\n", offset, strerror(-ret));
        }
    }
    if (getenv("FUZZ_QCOW2_VERBOSE")) {
        fprintf(stderr, "read %d chunks of %" PRId64 " bytes\n", n, step);
    }
    g_free(buf);
    blk_unref(blk);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    BlockDriverState *bs;
    FuzzCo f = { 0 };
    int fd;

    if (size > 4 * 1024 * 1024) {
        return 0;
    }
    fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
    if (fd < 0) {
        abort();
    }
    if (size && write(fd, data, size) != (ssize_t)size) {
        abort();
    }
    bs = fuzz_open(fd);
    if (bs) {
        fuzz_read_all(bs);
        f.bs = bs;
        qemu_coroutine_enter(qemu_coroutine_create(fuzz_co_entry, &f));
        AIO_POLL_WHILE(qemu_get_aio_context(), !f.done);
        bdrv_unref(bs);
    }
    while (aio_poll(qemu_get_aio_context(), false)) {
        /* finish whatever the close left behind */
    }
    close(fd);
    return 0;
}
