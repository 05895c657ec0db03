/*
 * test-file-posix.c: the `file` driver (block/file-posix*.c, io_uring.c,
 * linux-aio.c) through the block layer: the three aio engines write and
 * read the same data, O_DIRECT with unaligned buffers and an unaligned
 * file end, write-zeroes and discard as holes, block status from
 * SEEK_DATA/SEEK_HOLE, truncate with preallocation, copy_range, flush/FUA,
 * open errors, and image locks in QEMU's byte layout (checked with
 * F_OFD_GETLK from a separate file description, as another process would).
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/block-backend.h"
#include "block/file-posix-int.h"
#include "test-util-block.h"

extern BlockDriver bdrv_file;

#define RW (BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE)
#define IMG_SIZE (1 * MiB)

static AioContext *ctx;
static char *tmpdir;

/* ---- helpers ---- */

static char *img_path(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

/* A file of `size` bytes; data (0x5a) at [data_off, data_off + data_len) only. */
static char *make_image(const char *name, int64_t size, int64_t data_off,
                        int64_t data_len)
{
    char *path = img_path(name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, size), ==, 0);
    if (data_len) {
        g_autofree uint8_t *buf = g_malloc(data_len);

        memset(buf, 0x5a, data_len);
        g_assert_cmpint(pwrite(fd, buf, data_len, data_off), ==, data_len);
    }
    close(fd);
    return path;
}

/* Open `path` with the file driver and extra JSON members (may be ""). */
static BlockDriverState *open_file(const char *path, const char *extra,
                                   Error **errp)
{
    g_autofree char *json = g_strdup_printf(
        "{\"driver\": \"file\", \"filename\": \"%s\"%s%s}", path,
        *extra ? ", " : "", extra);

    return test_open_json(json, errp);
}

static BlockBackend *blk_on(BlockDriverState *bs, uint64_t perm,
                            uint64_t shared, Error **errp)
{
    BlockBackend *blk = blk_new(perm, shared);

    if (blk_insert_bs(blk, bs, errp) < 0) {
        blk_unref(blk);
        return NULL;
    }
    return blk;
}

static void pattern(uint8_t *buf, size_t len, int seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
    }
}

static void read_file(const char *path, int64_t offset, void *buf, size_t len)
{
    int fd = open(path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, buf, len, offset), ==, len);
    close(fd);
}

static int64_t file_blocks(const char *path)
{
    struct stat st;

    g_assert_cmpint(stat(path, &st), ==, 0);
    return st.st_blocks * 512;
}

/* ---- coroutine runner for calls without a sync wrapper ---- */

typedef struct CoCall {
    BlockDriverState *bs;
    BdrvChild *src, *dst;
    int64_t offset, bytes, pnum, map;
    BlockDriverState *file;
    int ret;
    bool done;
} CoCall;

static void coroutine_fn co_block_status(void *opaque)
{
    CoCall *c = opaque;

    c->ret = bdrv_co_block_status(c->bs, true, c->offset, c->bytes, &c->pnum,
                                  &c->map, &c->file);
    c->done = true;
}

static void coroutine_fn co_copy_range(void *opaque)
{
    CoCall *c = opaque;

    c->ret = bdrv_co_copy_range(c->src, c->offset, c->dst, c->offset,
                                c->bytes, 0, 0);
    c->done = true;
}

static void co_run(CoroutineEntry *fn, CoCall *c)
{
    int64_t deadline = qemu_clock_get_ms() + 20000;

    c->done = false;
    qemu_coroutine_enter(qemu_coroutine_create(fn, c));
    while (!c->done) {
        g_assert_cmpint(qemu_clock_get_ms(), <, deadline);
        aio_poll(ctx, true);
    }
}

static int block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        int64_t *pnum)
{
    CoCall c = { .bs = bs, .offset = offset, .bytes = bytes };

    co_run(co_block_status, &c);
    *pnum = c.pnum;
    if (c.ret >= 0 && (c.ret & BDRV_BLOCK_OFFSET_VALID)) {
        g_assert_cmpint(c.map, ==, offset);
        g_assert_true(c.file == bs);
    }
    return c.ret;
}

/* Does this process have a libaio ring mapped ("[aio]" in maps)? */
static bool have_aio_ring(void)
{
    g_autofree char *maps = NULL;

    g_assert_true(g_file_get_contents("/proc/self/maps", &maps, NULL, NULL));
    return strstr(maps, "/[aio]") != NULL;
}

/* ---- I/O engines ---- */

/*
 * Write a set of patterns of assorted sizes and offsets through the
 * engine, read them back through it and check the file with pread().
 */
static void rw_engine(const char *aio, bool direct)
{
    g_autofree char *path = make_image(aio, IMG_SIZE, 0, 0);
    g_autofree char *extra = g_strdup_printf(
        "\"aio\": \"%s\"%s", aio, direct ? ", \"cache\": {\"direct\": true}" : "");
    BlockDriverState *bs = open_file(path, extra, &error_abort);
    BlockBackend *blk = blk_on(bs, RW, BLK_PERM_ALL, &error_abort);
    g_autofree uint8_t *expect = g_malloc0(IMG_SIZE);
    g_autofree uint8_t *out = g_malloc0(IMG_SIZE);
    static const struct { int64_t off, len; } reqs[] = {
        { 0, 512 }, { 4096, 65536 }, { 100000, 3000 }, { 200 * 1024, 300 * 1024 },
        { IMG_SIZE - 4096, 4096 }, { 7, 1 },
    };

    for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
        pattern(expect + reqs[i].off, reqs[i].len, i + 1);
        g_assert_cmpint(blk_pwrite(blk, reqs[i].off, reqs[i].len,
                                   expect + reqs[i].off,
                                   i == 1 ? BDRV_REQ_FUA : 0), ==, 0);
    }
    g_assert_cmpint(blk_flush(blk), ==, 0);
    g_assert_cmpint(blk_pread(blk, 0, IMG_SIZE, out, 0), ==, 0);
    g_assert_true(memcmp(out, expect, IMG_SIZE) == 0);
    memset(out, 0, IMG_SIZE);
    read_file(path, 0, out, IMG_SIZE);
    g_assert_true(memcmp(out, expect, IMG_SIZE) == 0);
    if (!strcmp(aio, "native")) {
        g_assert_true(have_aio_ring());
    }
    blk_unref(blk);
    bdrv_unref(bs);
}

static void test_rw_io_uring(void)
{
    rw_engine("io_uring", false);
}

static void test_rw_threads(void)
{
    rw_engine("threads", false);
}

static void test_rw_native(void)
{
    rw_engine("native", true);
}

static void test_rw_io_uring_direct(void)
{
    rw_engine("io_uring", true);
}

/* Many requests in flight at once on each engine, all land. */
typedef struct ParReq {
    BlockBackend *blk;
    int64_t offset;
    uint8_t *buf;
    int ret;
    bool done;
} ParReq;

static void coroutine_fn par_write(void *opaque)
{
    ParReq *r = opaque;

    r->ret = blk_co_pwrite(r->blk, r->offset, 4096, r->buf, 0);
    r->done = true;
}

static void parallel_engine(const char *aio)
{
    enum { N = 64 };
    g_autofree char *name = g_strdup_printf("par-%s", aio);
    g_autofree char *path = make_image(name, N * 4096, 0, 0);
    g_autofree char *extra = g_strdup_printf(
        "\"aio\": \"%s\", \"cache\": {\"direct\": true}", aio);
    BlockDriverState *bs = open_file(path, extra, &error_abort);
    BlockBackend *blk = blk_on(bs, RW, BLK_PERM_ALL, &error_abort);
    uint8_t *bufs = qemu_memalign(4096, N * 4096);
    g_autofree uint8_t *out = g_malloc(N * 4096);
    ParReq reqs[N];
    int64_t deadline = qemu_clock_get_ms() + 20000;
    bool all;

    pattern(bufs, N * 4096, 9);
    for (int i = 0; i < N; i++) {
        reqs[i] = (ParReq) { .blk = blk, .offset = i * 4096,
                             .buf = bufs + i * 4096 };
        qemu_coroutine_enter(qemu_coroutine_create(par_write, &reqs[i]));
    }
    do {
        all = true;
        for (int i = 0; i < N; i++) {
            all &= reqs[i].done;
        }
        if (!all) {
            g_assert_cmpint(qemu_clock_get_ms(), <, deadline);
            aio_poll(ctx, true);
        }
    } while (!all);
    for (int i = 0; i < N; i++) {
        g_assert_cmpint(reqs[i].ret, ==, 0);
    }
    read_file(path, 0, out, N * 4096);
    g_assert_true(memcmp(out, bufs, N * 4096) == 0);
    qemu_vfree(bufs);
    blk_unref(blk);
    bdrv_unref(bs);
}

static void test_parallel(void)
{
    parallel_engine("io_uring");
    parallel_engine("native");
    parallel_engine("threads");
}

/* ---- O_DIRECT ---- */

static void test_direct_unaligned_buffers(void)
{
    g_autofree char *path = make_image("direct", IMG_SIZE, 0, 0);
    BlockDriverState *bs = open_file(path, "\"cache\": {\"direct\": true}",
                                     &error_abort);
    BlockBackend *blk = blk_on(bs, RW, BLK_PERM_ALL, &error_abort);
    g_autofree uint8_t *raw = g_malloc(3 * 65536 + 1);
    g_autofree uint8_t *back = g_malloc(65536 + 3);
    g_autofree uint8_t *disk = g_malloc(65536);
    uint8_t *buf = raw + 1;      /* never aligned to 512 */

    g_assert_cmpuint(bs->bl.request_alignment, >=, 512);
    g_assert_true(is_power_of_2(bs->bl.request_alignment));
    g_assert_cmpuint(bs->bl.min_mem_alignment, >=, 1);
    pattern(buf, 65536, 3);
    g_assert_cmpint(blk_pwrite(blk, 8192, 65536, buf, 0), ==, 0);
    /* unaligned offset and length: the core does RMW, we bounce */
    g_assert_cmpint(blk_pwrite(blk, 8192 + 100, 1000, buf + 5, 0), ==, 0);
    memmove(buf + 100, buf + 5, 1000);
    g_assert_cmpint(blk_pread(blk, 8192, 65536, back + 3, 0), ==, 0);
    g_assert_true(memcmp(back + 3, buf, 65536) == 0);
    read_file(path, 8192, disk, 65536);
    g_assert_true(memcmp(disk, buf, 65536) == 0);
    blk_unref(blk);
    bdrv_unref(bs);
}

/* A file whose end is not aligned: O_DIRECT reads stop short at EOF. */
static void test_direct_unaligned_eof(void)
{
    g_autofree char *path = make_image("tail", 10000, 0, 10000);
    BlockDriverState *bs = open_file(path, "\"cache\": {\"direct\": true}",
                                     &error_abort);
    BlockBackend *blk = blk_on(bs, BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL,
                               &error_abort);
    uint8_t buf[10240];

    /* the node is a whole number of sectors, as in QEMU; the tail reads zero */
    g_assert_cmpint(blk_getlength(blk), ==, 10240);
    memset(buf, 0xff, sizeof(buf));
    g_assert_cmpint(blk_pread(blk, 0, 10240, buf, 0), ==, 0);
    for (int i = 0; i < 10000; i++) {
        g_assert_cmpint(buf[i], ==, 0x5a);
    }
    for (int i = 10000; i < 10240; i++) {
        g_assert_cmpint(buf[i], ==, 0);
    }
    g_assert_cmpint(blk_pread(blk, 9000, 1000, buf, 0), ==, 0);
    g_assert_cmpint(buf[999], ==, 0x5a);
    blk_unref(blk);
    bdrv_unref(bs);
}

/* ---- zeroes, discard, block status ---- */

static void test_block_status_holes(void)
{
    g_autofree char *path = make_image("sparse", IMG_SIZE, 256 * KiB,
                                       128 * KiB);
    BlockDriverState *bs = open_file(path, "", &error_abort);
    int64_t pnum;
    int ret;

    ret = block_status(bs, 0, IMG_SIZE, &pnum);
    g_assert_cmpint(ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO), ==,
                    BDRV_BLOCK_ZERO);
    g_assert_cmpint(pnum, ==, 256 * KiB);
    ret = block_status(bs, 256 * KiB, IMG_SIZE - 256 * KiB, &pnum);
    g_assert_cmpint(ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO), ==,
                    BDRV_BLOCK_DATA);
    g_assert_true(ret & BDRV_BLOCK_OFFSET_VALID);
    g_assert_cmpint(pnum, ==, 128 * KiB);
    /* trailing hole up to EOF */
    ret = block_status(bs, 384 * KiB, IMG_SIZE - 384 * KiB, &pnum);
    g_assert_cmpint(ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO), ==,
                    BDRV_BLOCK_ZERO);
    g_assert_true(ret & BDRV_BLOCK_EOF);
    g_assert_cmpint(pnum, ==, IMG_SIZE - 384 * KiB);
    bdrv_unref(bs);
}

static void test_write_zeroes(void)
{
    g_autofree char *path = make_image("zero", IMG_SIZE, 0, IMG_SIZE);
    BlockDriverState *bs = open_file(path, "\"discard\": \"unmap\"",
                                     &error_abort);
    BlockBackend *blk = blk_on(bs, RW, BLK_PERM_ALL, &error_abort);
    g_autofree uint8_t *out = g_malloc(IMG_SIZE);
    int64_t before = file_blocks(path), pnum;

    /* without MAY_UNMAP: zeroed, still allocated */
    g_assert_cmpint(blk_pwrite_zeroes(blk, 0, 256 * KiB, 0), ==, 0);
    g_assert_cmpint(file_blocks(path), ==, before);
    /* with MAY_UNMAP: a hole */
    g_assert_cmpint(blk_pwrite_zeroes(blk, 512 * KiB, 256 * KiB,
                                      BDRV_REQ_MAY_UNMAP), ==, 0);
    g_assert_cmpint(file_blocks(path), ==, before - 256 * KiB);
    g_assert_cmpint(block_status(bs, 512 * KiB, 256 * KiB, &pnum) &
                    BDRV_BLOCK_ZERO, !=, 0);
    g_assert_cmpint(pnum, ==, 256 * KiB);
    /* discard punches too */
    g_assert_cmpint(blk_pdiscard(blk, 768 * KiB, 256 * KiB), ==, 0);
    g_assert_cmpint(file_blocks(path), ==, before - 512 * KiB);

    read_file(path, 0, out, IMG_SIZE);
    for (int64_t i = 0; i < IMG_SIZE; i++) {
        uint8_t want = (i < 256 * KiB || i >= 512 * KiB) ? 0 : 0x5a;

        if (out[i] != want) {
            g_error("byte %" PRId64 " is 0x%x, expected 0x%x", i, out[i], want);
        }
    }
    blk_unref(blk);
    bdrv_unref(bs);
}

/* ---- truncate ---- */

static void test_truncate(void)
{
    g_autofree char *path = make_image("trunc", 64 * KiB, 0, 0);
    BlockDriverState *bs = open_file(path, "", &error_abort);
    BlockBackend *blk = blk_on(bs, RW | BLK_PERM_RESIZE, BLK_PERM_ALL,
                               &error_abort);
    Error *err = NULL;
    struct stat st;

    g_assert_cmpint(blk_truncate(blk, 1 * MiB, true, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(blk_getlength(blk), ==, 1 * MiB);
    g_assert_cmpint(blk_truncate(blk, 2 * MiB, true, PREALLOC_MODE_FALLOC, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 2 * MiB);
    g_assert_cmpint(st.st_blocks * 512, >=, 1 * MiB);
    g_assert_cmpint(blk_truncate(blk, 3 * MiB, true, PREALLOC_MODE_FULL, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_blocks * 512, >=, 2 * MiB);
    /* shrinking with preallocation is refused */
    g_assert_cmpint(blk_truncate(blk, 1 * MiB, true, PREALLOC_MODE_FALLOC, 0,
                                 &err), <, 0);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Cannot use preallocation for shrinking files");
    error_free(err);
    err = NULL;
    g_assert_cmpint(blk_truncate(blk, 4 * MiB, true, PREALLOC_MODE_METADATA, 0,
                                 &err), <, 0);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Unsupported preallocation mode: metadata");
    error_free(err);
    g_assert_cmpint(blk_truncate(blk, 100 * KiB, true, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(blk_getlength(blk), ==, 100 * KiB);
    blk_unref(blk);
    bdrv_unref(bs);
}

/*
 * The block-status cache (block/block-status-cache.c) remembers the data
 * extent [0, 1 MiB); a shrink and a regrow leave a hole in it, which the
 * next query must see (without the invalidation on truncate it says DATA).
 */
static void test_block_status_cache_truncate(void)
{
    g_autofree char *path = make_image("bsc", 1 * MiB, 0, 1 * MiB);
    BlockDriverState *bs = open_file(path, "", &error_abort);
    BlockBackend *blk = blk_on(bs, RW | BLK_PERM_RESIZE, BLK_PERM_ALL,
                               &error_abort);
    int64_t pnum;
    int ret;

    ret = block_status(bs, 0, 64 * KiB, &pnum);
    g_assert_cmpint(ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO), ==,
                    BDRV_BLOCK_DATA);
    g_assert_cmpint(pnum, ==, 64 * KiB);
    g_assert_true(bs->block_status_cache.valid);
    g_assert_cmpint(bs->block_status_cache.data_end, ==, 1 * MiB);

    g_assert_cmpint(blk_truncate(blk, 256 * KiB, true, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(blk_truncate(blk, 1 * MiB, true, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    ret = block_status(bs, 512 * KiB, 512 * KiB, &pnum);
    g_assert_cmpint(ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO), ==,
                    BDRV_BLOCK_ZERO);
    g_assert_cmpint(pnum, ==, 512 * KiB);
    ret = block_status(bs, 0, 1 * MiB, &pnum);
    g_assert_cmpint(ret & (BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO), ==,
                    BDRV_BLOCK_DATA);
    g_assert_cmpint(pnum, ==, 256 * KiB);
    blk_unref(blk);
    bdrv_unref(bs);
}

/* ---- copy_range ---- */

static void test_copy_range(void)
{
    g_autofree char *spath = make_image("copy-src", IMG_SIZE, 0, IMG_SIZE);
    g_autofree char *dpath = make_image("copy-dst", IMG_SIZE, 0, 0);
    BlockDriverState *src = open_file(spath, "", &error_abort);
    BlockDriverState *dst = open_file(dpath, "", &error_abort);
    BdrvChild *sc = bdrv_root_attach_child(src, "root", &child_of_bds,
                                           BDRV_CHILD_DATA,
                                           BLK_PERM_CONSISTENT_READ,
                                           BLK_PERM_ALL, NULL, &error_abort);
    BdrvChild *dc = bdrv_root_attach_child(dst, "root", &child_of_bds,
                                           BDRV_CHILD_DATA, RW, BLK_PERM_ALL,
                                           NULL, &error_abort);
    CoCall c = { .src = sc, .dst = dc, .offset = 64 * KiB, .bytes = 128 * KiB };
    g_autofree uint8_t *out = g_malloc(IMG_SIZE);

    co_run(co_copy_range, &c);
    g_assert_cmpint(c.ret, ==, 0);
    read_file(dpath, 0, out, IMG_SIZE);
    for (int64_t i = 0; i < IMG_SIZE; i++) {
        uint8_t want = (i >= 64 * KiB && i < 192 * KiB) ? 0x5a : 0;

        if (out[i] != want) {
            g_error("byte %" PRId64 " is 0x%x, expected 0x%x", i, out[i], want);
        }
    }
    bdrv_root_unref_child(sc);
    bdrv_root_unref_child(dc);
    bdrv_unref(src);
    bdrv_unref(dst);
}

/* ---- open errors ---- */

static void expect_open_error(const char *path, const char *extra,
                              const char *msg)
{
    Error *err = NULL;

    g_assert_null(open_file(path, extra, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==, msg);
    error_free(err);
}

static void test_open_errors(void)
{
    g_autofree char *missing = img_path("missing");
    g_autofree char *path = make_image("ok", 4096, 0, 0);
    g_autofree char *msg = g_strdup_printf(
        "Could not open '%s': No such file or directory", missing);
    g_autofree char *dirmsg = g_strdup_printf(
        "'file' driver requires '%s' to be a regular file", tmpdir);

    expect_open_error(missing, "", msg);
    expect_open_error(tmpdir, "\"read-only\": true", dirmsg);
    expect_open_error(path, "\"aio\": \"native\"",
                      "aio=native was specified, but it requires "
                      "cache.direct=on, which was not specified.");
}

/* ---- image locking ---- */

/* Which lock bytes another description of path sees held. */
static void held_bytes(const char *path, uint64_t *perm, uint64_t *unshared)
{
    int fd = open(path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(raw_lock_query(fd, perm, unshared), ==, 0);
    close(fd);
}

static void test_lock_layout(void)
{
    g_autofree char *path = make_image("lock", 64 * KiB, 0, 0);
    BlockDriverState *bs = open_file(path, "", &error_abort);
    BlockBackend *blk;
    uint64_t perm, unshared;

    held_bytes(path, &perm, &unshared);
    g_assert_cmphex(perm, ==, 0);
    g_assert_cmphex(unshared, ==, 0);

    /* reader sharing all: byte 100 only */
    blk = blk_on(bs, BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL, &error_abort);
    held_bytes(path, &perm, &unshared);
    g_assert_cmphex(perm, ==, BLK_PERM_CONSISTENT_READ);
    g_assert_cmphex(unshared, ==, 0);

    /* writer not sharing write and resize: 100, 101, 201, 203 */
    g_assert_cmpint(blk_set_perm(blk, RW, BLK_PERM_ALL &
                                 ~(BLK_PERM_WRITE | BLK_PERM_RESIZE),
                                 &error_abort), ==, 0);
    held_bytes(path, &perm, &unshared);
    g_assert_cmphex(perm, ==, RW);
    g_assert_cmphex(unshared, ==, BLK_PERM_WRITE | BLK_PERM_RESIZE);

    /* dropping permissions unlocks */
    g_assert_cmpint(blk_set_perm(blk, BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL,
                                 &error_abort), ==, 0);
    held_bytes(path, &perm, &unshared);
    g_assert_cmphex(perm, ==, BLK_PERM_CONSISTENT_READ);
    g_assert_cmphex(unshared, ==, 0);

    blk_unref(blk);
    held_bytes(path, &perm, &unshared);
    g_assert_cmphex(perm | unshared, ==, 0);
    bdrv_unref(bs);
}

static void test_lock_conflicts(void)
{
    g_autofree char *path = make_image("conflict", 64 * KiB, 0, 0);
    g_autofree char *hint = NULL;
    BlockDriverState *a = open_file(path, "", &error_abort);
    BlockDriverState *b = open_file(path, "", &error_abort);
    BlockDriverState *off = open_file(path, "\"locking\": \"off\"",
                                      &error_abort);
    BlockBackend *wa, *rb, *wb, *woff;
    Error *err = NULL;
    uint64_t perm, unshared;

    /* a writes and shares only reading */
    wa = blk_on(a, RW, BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED,
                &error_abort);
    /* b may not write */
    g_assert_null(blk_on(b, RW, BLK_PERM_ALL, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Failed to get \"write\" lock");
    error_free(err);
    err = NULL;
    /* b may read, sharing what a holds */
    rb = blk_on(b, BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL, &error_abort);
    blk_unref(rb);
    /* b may not read if it refuses to share writing */
    g_assert_null(blk_on(b, BLK_PERM_CONSISTENT_READ,
                         BLK_PERM_CONSISTENT_READ, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Failed to get shared \"write\" lock");
    error_free(err);
    err = NULL;
    /* a failed attempt left nothing of b's behind */
    blk_unref(wa);
    held_bytes(path, &perm, &unshared);
    g_assert_cmphex(perm | unshared, ==, 0);

    /* locking=off neither checks nor locks */
    wa = blk_on(a, RW, BLK_PERM_CONSISTENT_READ, &error_abort);
    woff = blk_on(off, RW, BLK_PERM_ALL, &error_abort);
    blk_unref(woff);
    blk_unref(wa);

    /* the other way round: b holds, a is refused */
    wb = blk_on(b, RW, BLK_PERM_ALL & ~BLK_PERM_RESIZE, &error_abort);
    g_assert_null(blk_on(a, BLK_PERM_CONSISTENT_READ | BLK_PERM_RESIZE,
                         BLK_PERM_ALL, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Failed to get \"resize\" lock");
    error_free(err);
    blk_unref(wb);

    bdrv_unref(off);
    bdrv_unref(b);
    bdrv_unref(a);
}

/* ---- auto-read-only ---- */

/* O_RDONLY/O_RDWR of our descriptor of path (-1: none open) */
static int fd_access_mode(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open("/proc/self/fd", 0, NULL);
    const char *name;
    int mode = -1;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *link = g_strdup_printf("/proc/self/fd/%s", name);
        g_autofree char *target = g_file_read_link(link, NULL);

        if (target && !strcmp(target, path)) {
            int flags = fcntl(atoi(name), F_GETFL);

            g_assert_cmpint(mode, ==, -1);  /* only one */
            mode = flags & O_ACCMODE;
        }
    }
    return mode;
}

static void test_auto_read_only(void)
{
    g_autofree char *path = make_image("aro", 64 * KiB, 0, 0);
    g_autofree char *imm = make_image("aro-immutable", 64 * KiB, 0, 64 * KiB);
    g_autofree char *chattr = g_strdup_printf("chattr +i %s", imm);
    g_autofree char *unchattr = g_strdup_printf("chattr -i %s", imm);
    g_autofree char *msg = g_strdup_printf(
        "Could not open '%s': Operation not permitted", imm);
    BlockDriverState *bs = open_file(path, "\"auto-read-only\": true",
                                     &error_abort);
    BlockBackend *r, *w;
    uint64_t perm, unshared;
    uint8_t buf[512];
    Error *err = NULL;

    /* read-only until someone writes, then read-write, then back */
    g_assert_false(bdrv_is_read_only(bs));
    g_assert_cmpint(fd_access_mode(path), ==, O_RDONLY);
    r = blk_on(bs, BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL, &error_abort);
    g_assert_cmpint(fd_access_mode(path), ==, O_RDONLY);
    w = blk_on(bs, RW, BLK_PERM_ALL & ~BLK_PERM_RESIZE, &error_abort);
    g_assert_cmpint(fd_access_mode(path), ==, O_RDWR);
    /* the locks moved to the new description */
    held_bytes(path, &perm, &unshared);
    g_assert_cmphex(perm, ==, RW);
    g_assert_cmphex(unshared, ==, BLK_PERM_RESIZE);
    memset(buf, 0x3c, sizeof(buf));
    g_assert_cmpint(blk_pwrite(w, 0, 512, buf, 0), ==, 0);
    blk_unref(w);
    g_assert_cmpint(fd_access_mode(path), ==, O_RDONLY);
    held_bytes(path, &perm, &unshared);
    g_assert_cmphex(perm, ==, BLK_PERM_CONSISTENT_READ);
    g_assert_cmphex(unshared, ==, 0);
    memset(buf, 0, sizeof(buf));
    g_assert_cmpint(blk_pread(r, 0, 512, buf, 0), ==, 0);
    g_assert_cmpint(buf[511], ==, 0x3c);
    blk_unref(r);
    bdrv_unref(bs);

    /* a file we may not write: readers are fine, a writer is refused */
    if (system(chattr) != 0) {
        g_test_skip("chattr +i not possible here");
        return;
    }
    bs = open_file(imm, "\"auto-read-only\": true", &error_abort);
    r = blk_on(bs, BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL, &error_abort);
    g_assert_cmpint(blk_pread(r, 0, 512, buf, 0), ==, 0);
    g_assert_cmpint(buf[0], ==, 0x5a);
    g_assert_null(blk_on(bs, RW, BLK_PERM_ALL, &err));
    g_assert_cmpstr(error_get_pretty(err), ==, msg);
    error_free(err);
    err = NULL;
    /* nothing changed for the reader */
    g_assert_cmpint(fd_access_mode(imm), ==, O_RDONLY);
    g_assert_cmpint(blk_pread(r, 512, 512, buf, 0), ==, 0);
    blk_unref(r);
    bdrv_unref(bs);
    /* without auto-read-only the open itself fails */
    g_assert_null(open_file(imm, "", &err));
    g_assert_cmpstr(error_get_pretty(err), ==, msg);
    error_free(err);
    g_assert_cmpint(system(unchattr), ==, 0);
}

/* ---- main ---- */

static void rm_tmpdir(void)
{
    g_autoptr(GDir) dir = NULL;
    g_autofree char *imm = img_path("aro-immutable");
    g_autofree char *unchattr = g_strdup_printf("chattr -i %s 2>/dev/null",
                                                imm);
    const char *name;

    if (g_file_test(imm, G_FILE_TEST_EXISTS) && system(unchattr) != 0) {
        g_printerr("could not chattr -i %s\n", imm);
    }
    dir = g_dir_open(tmpdir, 0, NULL);

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *p = img_path(name);

        unlink(p);
    }
    rmdir(tmpdir);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    ctx = qemu_get_aio_context();
    bdrv_init();
    /* a strong reference, so the driver is linked in */
    g_assert_cmpstr(bdrv_file.format_name, ==, "file");
    g_assert_true(bdrv_find_format("file") == &bdrv_file);
    tmpdir = g_dir_make_tmp("test-file-posix-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);

    g_test_add_func("/file-posix/rw/io_uring", test_rw_io_uring);
    g_test_add_func("/file-posix/rw/io_uring-direct", test_rw_io_uring_direct);
    g_test_add_func("/file-posix/rw/native", test_rw_native);
    g_test_add_func("/file-posix/rw/threads", test_rw_threads);
    g_test_add_func("/file-posix/rw/parallel", test_parallel);
    g_test_add_func("/file-posix/direct/unaligned-buffers",
                    test_direct_unaligned_buffers);
    g_test_add_func("/file-posix/direct/unaligned-eof",
                    test_direct_unaligned_eof);
    g_test_add_func("/file-posix/block-status/holes", test_block_status_holes);
    g_test_add_func("/file-posix/write-zeroes", test_write_zeroes);
    g_test_add_func("/file-posix/truncate", test_truncate);
    g_test_add_func("/file-posix/block-status/cache-truncate",
                    test_block_status_cache_truncate);
    g_test_add_func("/file-posix/copy-range", test_copy_range);
    g_test_add_func("/file-posix/open-errors", test_open_errors);
    g_test_add_func("/file-posix/lock/layout", test_lock_layout);
    g_test_add_func("/file-posix/lock/conflicts", test_lock_conflicts);
    g_test_add_func("/file-posix/auto-read-only", test_auto_read_only);
    ret = g_test_run();
    rm_tmpdir();
    return ret;
}
