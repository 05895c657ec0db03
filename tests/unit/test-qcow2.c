/*
 * test-qcow2.c: the qcow2 driver (block/qcow2*.c) through the block layer,
 * for what the iotests cannot reach over NBD: compressed cluster writes
 * (zlib and zstd, the partial last cluster, incompressible data written
 * as a normal cluster, overwriting allocated clusters), concurrent writes
 * into one unallocated cluster (serialised allocations, no leak), the
 * dirty bit while lazy refcounts are in use, option errors, and the cache
 * clean timer.  Images are made by the real qemu-img and checked with
 * `qemu-img check` and `qemu-img compare` afterwards (skipped without
 * qemu-img).
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/block-backend.h"
#include "test-util-block.h"
#include "../../block/qcow2.h"

#define RW (BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE)

extern BlockDriver bdrv_qcow2;

static char *tmpdir;
static bool have_qemu_img;

/* ---- helpers ---- */

static char *img_path(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

static int run(const char *cmdline, char **out)
{
    int status = -1;
    g_autoptr(GError) err = NULL;

    g_assert_true(g_spawn_command_line_sync(cmdline, out, NULL, &status, &err));
    return g_spawn_check_wait_status(status, NULL) ? 0 : 1;
}

static char *qemu_img_create(const char *name, const char *opts, const char *size)
{
    char *path = img_path(name);
    g_autofree char *cmd = g_strdup_printf("qemu-img create -q -f qcow2 -o %s %s %s",
                                           opts, path, size);

    g_assert_cmpint(run(cmd, NULL), ==, 0);
    return path;
}

/* qemu-img check: 0 clean; the output is printed on failure */
static int qemu_img_check(const char *path)
{
    g_autofree char *cmd = g_strdup_printf("qemu-img check %s", path);
    g_autofree char *out = NULL;
    int ret = run(cmd, &out);

    if (ret) {
        g_printerr("%s", out);
    }
    return ret;
}

static BlockBackend *open_qcow2(const char *path, const char *extra, Error **errp)
{
    g_autofree char *json = g_strdup_printf(
        "{\"driver\": \"qcow2\", \"node-name\": \"q\", %s"
        "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
        extra ? extra : "", path);
    BlockDriverState *bs = test_open_json(json, errp);
    BlockBackend *blk;

    if (!bs) {
        return NULL;
    }
    blk = blk_new(bdrv_is_read_only(bs) ? BLK_PERM_CONSISTENT_READ : RW,
                  BLK_PERM_ALL);
    g_assert_cmpint(blk_insert_bs(blk, bs, &error_abort), ==, 0);
    bdrv_unref(bs);
    return blk;
}

static void fill(uint8_t *buf, size_t len, unsigned seed, bool compressible)
{
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = compressible ? (uint8_t)("qcow2 compressed "[(i + seed) % 17])
                              : (uint8_t)g_random_int();
    }
}

#define SKIP_WITHOUT_QEMU_IMG() \
    do { \
        if (!have_qemu_img) { \
            g_test_skip("qemu-img not installed"); \
            return; \
        } \
    } while (0)

/* ---- compressed writes ---- */

static void do_compressed(const char *opts, int cluster_size)
{
    g_autofree char *size = g_strdup_printf("%d", 3 * cluster_size + MAX(cluster_size / 2, 512));
    g_autofree char *path = qemu_img_create("c.qcow2", opts, size);
    g_autofree uint8_t *buf = g_malloc(MAX(4 * cluster_size, 8192));
    g_autofree uint8_t *back = g_malloc(MAX(4 * cluster_size, 8192));
    g_autofree char *raw = img_path("c.raw");
    g_autofree char *cmd = NULL, *out = NULL;
    int64_t len, last;
    BlockBackend *blk;
    int fd;

    blk = open_qcow2(path, NULL, &error_abort);
    len = blk_getlength(blk);
    g_assert_cmpint(len, ==, 3 * cluster_size + MAX(cluster_size / 2, 512));
    last = QEMU_ALIGN_DOWN(len - 1, cluster_size);

    /* Two compressible clusters, one that does not compress, the tail */
    fill(buf, 2 * cluster_size, 3, true);
    fill(buf + 2 * cluster_size, cluster_size, 0, false);
    g_assert_cmpint(blk_pwrite(blk, 0, 3 * cluster_size, buf,
                               BDRV_REQ_WRITE_COMPRESSED), ==, 0);
    fill(buf + 3 * cluster_size, len - last, 5, true);
    g_assert_cmpint(blk_pwrite(blk, last, len - last, buf + 3 * cluster_size,
                               BDRV_REQ_WRITE_COMPRESSED), ==, 0);
    /* Unaligned compressed writes are refused */
    g_assert_cmpint(blk_pwrite(blk, cluster_size / 2, cluster_size, buf,
                               BDRV_REQ_WRITE_COMPRESSED), <, 0);

    g_assert_cmpint(blk_pread(blk, 0, 3 * cluster_size, back, 0), ==, 0);
    g_assert_cmpmem(back, 3 * cluster_size, buf, 3 * cluster_size);
    g_assert_cmpint(blk_pread(blk, last, len - last, back, 0), ==, 0);
    g_assert_cmpmem(back, len - last, buf + 3 * cluster_size, len - last);

    /* Overwrite the first compressed cluster in place (partly) */
    memset(buf, 0xee, MIN(4096, cluster_size / 2));
    g_assert_cmpint(blk_pwrite(blk, 0, MIN(4096, cluster_size / 2), buf, 0), ==, 0);
    g_assert_cmpint(blk_pread(blk, 0, cluster_size, back, 0), ==, 0);
    g_assert_cmpmem(back, cluster_size, buf, cluster_size);
    /* ... and the second one with a compressed cluster again */
    fill(buf + cluster_size, cluster_size, 9, true);
    g_assert_cmpint(blk_pwrite(blk, cluster_size, cluster_size, buf + cluster_size,
                               BDRV_REQ_WRITE_COMPRESSED), ==, 0);
    g_assert_cmpint(blk_flush(blk), ==, 0);
    blk_unref(blk);

    /* The real qemu-img agrees on every byte and finds no leak */
    g_assert_cmpint(qemu_img_check(path), ==, 0);
    cmd = g_strdup_printf("qemu-img convert -O raw %s %s", path, raw);
    g_assert_cmpint(run(cmd, NULL), ==, 0);
    fd = open(raw, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, back, 3 * cluster_size, 0), ==, 3 * cluster_size);
    g_assert_cmpmem(back, 3 * cluster_size, buf, 3 * cluster_size);
    g_assert_cmpint(pread(fd, back, len - last, last), ==, len - last);
    g_assert_cmpmem(back, len - last, buf + 3 * cluster_size, len - last);
    close(fd);
    g_free(cmd);
    /* Some clusters are stored compressed */
    cmd = g_strdup_printf("qemu-img check %s", path);
    g_assert_cmpint(run(cmd, &out), ==, 0);
    g_assert_nonnull(strstr(out, "compressed clusters"));
    g_assert_null(strstr(out, " 0.00% compressed clusters"));
    unlink(path);
    unlink(raw);
}

static void test_compressed_zlib(void)
{
    SKIP_WITHOUT_QEMU_IMG();
    do_compressed("cluster_size=65536", 65536);
    do_compressed("cluster_size=4096", 4096);
    do_compressed("cluster_size=512,refcount_bits=1", 512);
}

static void test_compressed_zstd(void)
{
    SKIP_WITHOUT_QEMU_IMG();
    do_compressed("cluster_size=65536,compression_type=zstd", 65536);
    do_compressed("cluster_size=2097152,compression_type=zstd", 2097152);
}

/* ---- concurrent allocating writes into one cluster ---- */

typedef struct WriteCo {
    BlockBackend *blk;
    int64_t offset;
    int64_t bytes;
    uint8_t pattern;
    int ret;
    bool done;
} WriteCo;

static void coroutine_fn write_co(void *opaque)
{
    WriteCo *w = opaque;
    g_autofree uint8_t *buf = g_malloc(w->bytes);

    memset(buf, w->pattern, w->bytes);
    w->ret = blk_co_pwrite(w->blk, w->offset, w->bytes, buf, 0);
    w->done = true;
}

static void test_concurrent_same_cluster(void)
{
    g_autofree char *path = NULL;
    g_autofree uint8_t *back = g_malloc(65536);
    WriteCo w[8];
    BlockBackend *blk;
    int i;

    SKIP_WITHOUT_QEMU_IMG();
    path = qemu_img_create("cc.qcow2", "cluster_size=65536", "16M");
    blk = open_qcow2(path, NULL, &error_abort);
    /* Eight writes into the same two clusters, all in flight together */
    for (i = 0; i < 8; i++) {
        w[i] = (WriteCo) { blk, 65536 - 4 * 4096 + i * 4096, 4096, 0x10 + i };
        qemu_coroutine_enter(qemu_coroutine_create(write_co, &w[i]));
    }
    for (i = 0; i < 8; i++) {
        AIO_POLL_WHILE(qemu_get_aio_context(), !w[i].done);
        g_assert_cmpint(w[i].ret, ==, 0);
    }
    g_assert_cmpint(blk_pread(blk, 0, 65536, back, 0), ==, 0);
    for (i = 0; i < 4; i++) {
        g_assert_cmpint(back[65536 - 4 * 4096 + i * 4096], ==, 0x10 + i);
        g_assert_cmpint(back[65536 - 4 * 4096 + i * 4096 + 4095], ==, 0x10 + i);
    }
    g_assert_cmpint(back[0], ==, 0);
    g_assert_cmpint(blk_pread(blk, 65536, 65536, back, 0), ==, 0);
    for (i = 4; i < 8; i++) {
        g_assert_cmpint(back[(i - 4) * 4096], ==, 0x10 + i);
    }
    g_assert_cmpint(back[65535], ==, 0);
    blk_unref(blk);
    /* One data cluster each, no leak (qemu-img check exits 3 on leaks) */
    g_assert_cmpint(qemu_img_check(path), ==, 0);
    unlink(path);
}

/* ---- lazy refcounts: dirty while open, clean after close ---- */

static uint64_t incompatible_features(const char *path)
{
    uint64_t v = 0;
    int fd = open(path, O_RDONLY);

    g_assert_cmpint(pread(fd, &v, 8, 72), ==, 8);
    close(fd);
    return GUINT64_FROM_BE(v);
}

static void test_lazy_refcounts(void)
{
    g_autofree char *path = NULL;
    uint8_t buf[4096];
    BlockBackend *blk;
    BlockDriverInfo bdi;

    SKIP_WITHOUT_QEMU_IMG();
    path = qemu_img_create("lazy.qcow2", "lazy_refcounts=on", "8M");
    blk = open_qcow2(path, NULL, &error_abort);
    g_assert_cmpint(incompatible_features(path) & QCOW2_INCOMPAT_DIRTY, ==, 0);
    memset(buf, 0x33, sizeof(buf));
    g_assert_cmpint(blk_pwrite(blk, 1 * MiB, sizeof(buf), buf, 0), ==, 0);
    g_assert_cmpint(incompatible_features(path) & QCOW2_INCOMPAT_DIRTY, ==,
                    QCOW2_INCOMPAT_DIRTY);
    g_assert_cmpint(bdrv_get_info(blk_bs(blk), &bdi), ==, 0);
    g_assert_true(bdi.is_dirty);
    blk_unref(blk);
    g_assert_cmpint(incompatible_features(path) & QCOW2_INCOMPAT_DIRTY, ==, 0);
    g_assert_cmpint(qemu_img_check(path), ==, 0);

    /* Without lazy refcounts the bit is never set */
    blk = open_qcow2(path, "\"lazy-refcounts\": false, ", &error_abort);
    g_assert_cmpint(blk_pwrite(blk, 2 * MiB, sizeof(buf), buf, 0), ==, 0);
    g_assert_cmpint(incompatible_features(path) & QCOW2_INCOMPAT_DIRTY, ==, 0);
    blk_unref(blk);
    unlink(path);
}

/* ---- option errors ---- */

static void test_option_errors(void)
{
    static const struct {
        const char *opts;
        const char *error;
    } cases[] = {
        { "\"cache-size\": 1048576, \"l2-cache-size\": 65536, "
          "\"refcount-cache-size\": 65536, ",
          "l2-cache-size, refcount-cache-size, and cache-size may not be set "
          "at the same time" },
        { "\"cache-size\": 65536, \"l2-cache-size\": 131072, ",
          "l2-cache-size may not exceed cache-size" },
        { "\"cache-size\": 65536, \"refcount-cache-size\": 131072, ",
          "refcount-cache-size may not exceed cache-size" },
        { "\"l2-cache-entry-size\": 1000, ",
          "L2 cache entry size must be a power of two between 512 and the "
          "cluster size (65536)" },
        { "\"l2-cache-entry-size\": 131072, ",
          "L2 cache entry size must be a power of two between 512 and the "
          "cluster size (65536)" },
        { "\"cache-clean-interval\": -1, ", "Cache clean interval too big" },
        { "\"cache-clean-interval\": 4294967296, ", "Cache clean interval too big" },
        { "\"encrypt\": {\"format\": \"luks\", \"key-secret\": \"s\"}, ",
          "qcow2 encryption is not supported by blockd" },
        { "\"data-file\": \"x\", ",
          "qcow2 external data files are not supported by blockd" },
    };
    g_autofree char *path = NULL;
    size_t i;

    SKIP_WITHOUT_QEMU_IMG();
    path = qemu_img_create("opt.qcow2", "cluster_size=65536", "8M");
    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        Error *err = NULL;
        BlockBackend *blk = open_qcow2(path, cases[i].opts, &err);

        g_assert_null(blk);
        g_assert_nonnull(err);
        g_assert_cmpstr(error_get_pretty(err), ==, cases[i].error);
        error_free(err);
    }
    /* v2 has no lazy refcounts */
    g_free(path);
    path = qemu_img_create("opt2.qcow2", "compat=0.10", "8M");
    {
        Error *err = NULL;
        BlockBackend *blk = open_qcow2(path, "\"lazy-refcounts\": true, ", &err);

        g_assert_null(blk);
        g_assert_cmpstr(error_get_pretty(err), ==, "Lazy refcounts require a "
                        "qcow2 image with at least qemu 1.1 compatibility level");
        error_free(err);
    }
}

/* ---- the cache clean timer drops unused entries ---- */

static void test_cache_clean(void)
{
    g_autofree char *path = NULL;
    uint8_t buf[512];
    BlockBackend *blk;
    BDRVQcow2State *s;
    int64_t deadline;

    SKIP_WITHOUT_QEMU_IMG();
    path = qemu_img_create("clean.qcow2", "cluster_size=65536", "64M");
    blk = open_qcow2(path, "\"cache-clean-interval\": 1, ", &error_abort);
    s = blk_bs(blk)->opaque;
    memset(buf, 1, sizeof(buf));
    g_assert_cmpint(blk_pwrite(blk, 0, sizeof(buf), buf, 0), ==, 0);
    g_assert_cmpint(blk_flush(blk), ==, 0);
    g_assert_true(qcow2_cache_contains(s->l2_table_cache,
                                       s->l1_table[0] & L1E_OFFSET_MASK));
    /* Generous: the machine is noisy */
    deadline = qemu_clock_get_ms() + 20000;
    while (qcow2_cache_contains(s->l2_table_cache, s->l1_table[0] & L1E_OFFSET_MASK) &&
           qemu_clock_get_ms() < deadline) {
        aio_poll(qemu_get_aio_context(), true);
    }
    g_assert_false(qcow2_cache_contains(s->l2_table_cache,
                                        s->l1_table[0] & L1E_OFFSET_MASK));
    /* Still readable afterwards */
    g_assert_cmpint(blk_pread(blk, 0, sizeof(buf), buf, 0), ==, 0);
    g_assert_cmpint(buf[0], ==, 1);
    blk_unref(blk);
    unlink(path);
}

/* ---- damaged metadata: never crash ---- */

static void fuzz_one(const char *path, const uint8_t *image, size_t len,
                     GRand *rand, int cluster_size)
{
    g_autofree uint8_t *copy = g_memdup2(image, len);
    uint8_t buf[65536];
    BlockBackend *blk;
    Error *err = NULL;
    int64_t size, off;
    int i, n, fd;

    /* Damage a few spots in the metadata clusters (the first ones) */
    n = g_rand_int_range(rand, 1, 9);
    for (i = 0; i < n; i++) {
        size_t area = MIN(len, (size_t)6 * cluster_size);
        size_t pos = g_rand_int_range(rand, 0, area);

        switch (g_rand_int_range(rand, 0, 4)) {
        case 0:
            copy[pos] ^= 1 << g_rand_int_range(rand, 0, 8);
            break;
        case 1:
            copy[pos] = g_rand_int(rand);
            break;
        case 2: {
            /* A plausible-looking 64-bit offset or size */
            uint64_t v = (uint64_t)g_rand_int(rand) << g_rand_int_range(rand, 0, 40);

            pos = QEMU_ALIGN_DOWN(pos, 8);
            if (pos + 8 <= len) {
                v = GUINT64_TO_BE(v | (g_rand_boolean(rand) ? UINT64_C(1) << 63 : 0));
                memcpy(copy + pos, &v, 8);
            }
            break;
        }
        default:
            pos = QEMU_ALIGN_DOWN(pos, 8);
            if (pos + 8 <= len) {
                memset(copy + pos, 0xff, 8);
            }
            break;
        }
    }
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, copy, len), ==, (ssize_t)len);
    close(fd);

    blk = open_qcow2(path, g_rand_boolean(rand) ? "\"read-only\": true, " : NULL,
                     &err);
    if (!blk) {
        error_free(err);
        return;
    }
    size = blk_getlength(blk);
    for (off = 0; off < size && off < 64 * MiB; off += sizeof(buf)) {
        blk_pread(blk, off, MIN((int64_t)sizeof(buf), size - off), buf, 0);
    }
    if (blk_is_writable(blk)) {
        for (i = 0; i < 4 && size > 4096; i++) {
            off = QEMU_ALIGN_DOWN(g_rand_int_range(rand, 0, size - 4096), 512);
            memset(buf, i + 1, 4096);
            blk_pwrite(blk, off, 4096, buf, 0);
        }
        blk_pwrite_zeroes(blk, 0, MIN(size, 128 * 1024), BDRV_REQ_MAY_UNMAP);
        blk_pdiscard(blk, 0, MIN(size, 256 * 1024));
        blk_flush(blk);
    }
    blk_unref(blk);
}

static void test_fuzz_metadata(void)
{
    static const struct {
        const char *opts;
        int cluster_size;
    } bases[] = {
        { "cluster_size=65536", 65536 },
        { "cluster_size=4096,refcount_bits=1", 4096 },
        { "cluster_size=512,refcount_bits=64", 512 },
        { "compat=0.10,cluster_size=1024", 1024 },
        { "extended_l2=on,cluster_size=16384", 16384 },
    };
    /* QCOW2_FUZZ_ITERATIONS / QCOW2_FUZZ_SEED for longer local runs */
    const char *iters_env = g_getenv("QCOW2_FUZZ_ITERATIONS");
    const char *seed_env = g_getenv("QCOW2_FUZZ_SEED");
    int iters = iters_env ? atoi(iters_env) : 150;
    GRand *rand = g_rand_new_with_seed(seed_env ? atoi(seed_env) : 0x9c0a2);
    size_t b;

    SKIP_WITHOUT_QEMU_IMG();
    for (b = 0; b < ARRAY_SIZE(bases); b++) {
        g_autofree char *path = qemu_img_create("fz.qcow2", bases[b].opts, "4M");
        g_autofree char *work = img_path("fz-work.qcow2");
        g_autofree char *cmd = g_strdup_printf(
            "qemu-io -f qcow2 -c 'write -P 0x11 0 64k' -c 'write -P 0x22 1M 300k' "
            "-c 'write -z 2M 64k' %s", path);
        g_autofree gchar *image = NULL;
        gsize len;
        int i;

        g_assert_cmpint(run(cmd, NULL), ==, 0);
        g_assert_true(g_file_get_contents(path, &image, &len, NULL));
        for (i = 0; i < iters; i++) {
            fuzz_one(work, (uint8_t *)image, len, rand, bases[b].cluster_size);
        }
        unlink(work);
        unlink(path);
    }
    g_rand_free(rand);
}

int main(int argc, char **argv)
{
    g_autofree char *qemu_img = g_find_program_in_path("qemu-img");
    int ret;

    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    bdrv_init();
    g_assert_true(bdrv_find_format("qcow2") == &bdrv_qcow2);
    have_qemu_img = qemu_img != NULL;
    tmpdir = g_dir_make_tmp("test-qcow2-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);

    g_test_add_func("/qcow2/compressed/zlib", test_compressed_zlib);
    g_test_add_func("/qcow2/compressed/zstd", test_compressed_zstd);
    g_test_add_func("/qcow2/alloc/concurrent-same-cluster",
                    test_concurrent_same_cluster);
    g_test_add_func("/qcow2/lazy-refcounts", test_lazy_refcounts);
    g_test_add_func("/qcow2/options/errors", test_option_errors);
    g_test_add_func("/qcow2/cache/clean-interval", test_cache_clean);
    g_test_add_func("/qcow2/fuzz/metadata", test_fuzz_metadata);
    ret = g_test_run();
    rmdir(tmpdir);
    return ret;
}
