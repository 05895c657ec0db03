/*
 * test-qcow2-features.c: the qcow2 driver's image creation, resize,
 * internal snapshots, persistent bitmaps and check/repair, in-process
 * (block/qcow2-create.c, qcow2-snapshot.c, qcow2-bitmap.c,
 * qcow2-check.c): images are created with the driver's bdrv_co_create,
 * changed through a BlockBackend and the driver callbacks, and checked
 * with the driver's own check (no leaks, no corruptions) after each step.
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/block-backend.h"
#include "block/dirty-bitmap.h"
#include "qapi/qapi-visit.h"
#include "test-util-block.h"

#define RW (BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE | BLK_PERM_RESIZE)

static char *tmpdir;

/* ---- helpers ---- */

typedef struct CoCall {
    void (*fn)(struct CoCall *c);
    BlockDriverState *bs;
    BlockdevCreateOptions *create;
    QEMUSnapshotInfo *sn;
    const char *id;
    BdrvCheckResult result;
    BdrvCheckMode fix;
    QEMUSnapshotInfo *list;
    int64_t size;
    PreallocMode prealloc;
    Error *err;
    int ret;
    bool done;
} CoCall;

static void coroutine_fn co_entry(void *opaque)
{
    CoCall *c = opaque;

    c->fn(c);
    c->done = true;
    aio_notify(qemu_get_aio_context());
}

static void co_run(CoCall *c)
{
    qemu_coroutine_enter(qemu_coroutine_create(co_entry, c));
    AIO_POLL_WHILE(qemu_get_aio_context(), !c->done);
}

static void do_create(CoCall *c)
{
    c->ret = bdrv_find_format("qcow2")->bdrv_co_create(c->create, &c->err);
}

static void do_check(CoCall *c)
{
    c->ret = c->bs->drv->bdrv_co_check(c->bs, &c->result, c->fix);
}

static void do_snap_create(CoCall *c)
{
    c->ret = c->bs->drv->bdrv_snapshot_create(c->bs, c->sn);
}

static void do_snap_goto(CoCall *c)
{
    c->ret = c->bs->drv->bdrv_snapshot_goto(c->bs, c->id, &c->err);
}

static void do_snap_delete(CoCall *c)
{
    c->ret = c->bs->drv->bdrv_snapshot_delete(c->bs, c->id, NULL, &c->err);
}

static void do_snap_list(CoCall *c)
{
    c->ret = c->bs->drv->bdrv_snapshot_list(c->bs, &c->list);
}

static char *path_of(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

/* Create name as qcow2 with extra creation options (JSON members) */
static int create_image(const char *name, int64_t size, const char *extra,
                        Error **errp)
{
    g_autofree char *path = path_of(name);
    g_autofree char *fjson = g_strdup_printf(
        "{\"driver\": \"file\", \"node-name\": \"cf\", \"filename\": \"%s\"}", path);
    g_autofree char *cjson = g_strdup_printf(
        "{\"driver\": \"qcow2\", \"file\": \"cf\", \"size\": %" PRId64 "%s%s}",
        size, extra ? ", " : "", extra ? extra : "");
    json_object *tree;
    BlockDriverState *file;
    CoCall c = { .fn = do_create };

    g_assert_true(g_file_set_contents(path, "", 0, NULL));
    file = test_open_json(fjson, &error_abort);
    tree = json_tokener_parse(cjson);
    g_assert_nonnull(tree);
    visit_type_BlockdevCreateOptions(tree, NULL, &c.create, &error_abort);
    json_object_put(tree);
    co_run(&c);
    qapi_free_BlockdevCreateOptions(c.create);
    bdrv_unref(file);
    if (c.err) {
        error_propagate(errp, c.err);
    }
    return c.ret;
}

static BlockDriverState *open_image(const char *name, bool rw)
{
    g_autofree char *path = path_of(name);
    g_autofree char *json = g_strdup_printf(
        "{\"driver\": \"qcow2\", \"node-name\": \"q\", \"read-only\": %s, "
        "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
        rw ? "false" : "true", path);

    return test_open_json(json, &error_abort);
}

static BlockBackend *backend(BlockDriverState *bs)
{
    BlockBackend *blk = blk_new(RW, BLK_PERM_ALL);

    g_assert_cmpint(blk_insert_bs(blk, bs, &error_abort), ==, 0);
    return blk;
}

/* The driver's check finds nothing wrong */
static void assert_clean(BlockDriverState *bs)
{
    CoCall c = { .fn = do_check, .bs = bs };

    co_run(&c);
    g_assert_cmpint(c.ret, ==, 0);
    g_assert_cmpint(c.result.corruptions, ==, 0);
    g_assert_cmpint(c.result.leaks, ==, 0);
    g_assert_cmpint(c.result.check_errors, ==, 0);
}

static void write_pattern(BlockBackend *blk, int64_t offset, int64_t bytes, int p)
{
    g_autofree uint8_t *buf = g_malloc(bytes);

    memset(buf, p, bytes);
    g_assert_cmpint(blk_pwrite(blk, offset, bytes, buf, 0), ==, 0);
}

static void assert_pattern(BlockBackend *blk, int64_t offset, int64_t bytes, int p)
{
    g_autofree uint8_t *buf = g_malloc(bytes);
    int64_t i;

    g_assert_cmpint(blk_pread(blk, offset, bytes, buf, 0), ==, 0);
    for (i = 0; i < bytes; i++) {
        if (buf[i] != p) {
            g_error("byte %" PRId64 ": 0x%x, expected 0x%x", offset + i, buf[i], p);
        }
    }
}

/* ---- tests ---- */

static void test_create_options(void)
{
    Error *err = NULL;
    BlockDriverState *bs;

    g_assert_cmpint(create_image("c1.qcow2", 1000, NULL, &err), <, 0);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Image size must be a multiple of 512 bytes");
    error_free(err);
    err = NULL;
    g_assert_cmpint(create_image("c1.qcow2", MiB, "\"cluster-size\": 1000", &err), <, 0);
    g_assert_nonnull(strstr(error_get_pretty(err), "power of two"));
    error_free(err);
    err = NULL;
    g_assert_cmpint(create_image("c1.qcow2", MiB,
                                 "\"version\": \"v2\", \"refcount-bits\": 8", &err), <, 0);
    error_free(err);

    g_assert_cmpint(create_image("c2.qcow2", 8 * MiB,
                                 "\"cluster-size\": 4096, \"refcount-bits\": 1, "
                                 "\"preallocation\": \"metadata\"",
                                 &error_abort), ==, 0);
    bs = open_image("c2.qcow2", false);
    g_assert_cmpint(bdrv_getlength(bs), ==, 8 * MiB);
    assert_clean(bs);
    bdrv_unref(bs);
}

static void test_resize(void)
{
    BlockDriverState *bs;
    BlockBackend *blk;
    Error *err = NULL;

    g_assert_cmpint(create_image("r.qcow2", 4 * MiB, "\"cluster-size\": 65536",
                                 &error_abort), ==, 0);
    bs = open_image("r.qcow2", true);
    blk = backend(bs);
    write_pattern(blk, 0, 4 * MiB, 0x5a);
    g_assert_cmpint(blk_truncate(blk, 9 * MiB, false, PREALLOC_MODE_METADATA, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(blk_getlength(blk), ==, 9 * MiB);
    assert_pattern(blk, 4 * MiB, 5 * MiB, 0);
    assert_clean(bs);
    g_assert_cmpint(blk_truncate(blk, 1 * MiB + 512, false, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(blk_truncate(blk, 1000, false, PREALLOC_MODE_OFF, 0, &err), <, 0);
    g_assert_cmpstr(error_get_pretty(err), ==, "The new size must be a multiple of 512");
    error_free(err);
    err = NULL;
    g_assert_cmpint(blk_truncate(blk, 512, false, PREALLOC_MODE_FULL, 0, &err), <, 0);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Preallocation can't be used for shrinking an image");
    error_free(err);
    g_assert_cmpint(blk_truncate(blk, 2 * MiB, false, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    assert_pattern(blk, 0, MiB + 512, 0x5a);
    /* As QEMU: the rest of the partial last cluster was not discarded */
    assert_pattern(blk, MiB + 65536, MiB - 65536, 0);
    assert_clean(bs);
    blk_unref(blk);
    bdrv_unref(bs);
}

static void test_snapshots(void)
{
    BlockDriverState *bs;
    BlockBackend *blk;
    QEMUSnapshotInfo sn = { 0 };
    CoCall c;

    g_assert_cmpint(create_image("s.qcow2", 16 * MiB, "\"cluster-size\": 4096",
                                 &error_abort), ==, 0);
    bs = open_image("s.qcow2", true);
    blk = backend(bs);
    write_pattern(blk, 0, 2 * MiB, 0x11);

    g_strlcpy(sn.name, "first", sizeof(sn.name));
    sn.icount = -1ULL;
    c = (CoCall) { .fn = do_snap_create, .bs = bs, .sn = &sn };
    co_run(&c);
    g_assert_cmpint(c.ret, ==, 0);
    g_assert_cmpstr(sn.id_str, ==, "1");
    c = (CoCall) { .fn = do_snap_create, .bs = bs, .sn = &sn };
    co_run(&c);
    g_assert_cmpint(c.ret, ==, -EEXIST);
    assert_clean(bs);

    /* COW of shared clusters and L2 tables */
    write_pattern(blk, 4096, 8192, 0x22);
    write_pattern(blk, 3 * MiB, 4096, 0x33);
    assert_clean(bs);
    assert_pattern(blk, 4096, 8192, 0x22);

    c = (CoCall) { .fn = do_snap_list, .bs = bs };
    co_run(&c);
    g_assert_cmpint(c.ret, ==, 1);
    g_assert_cmpstr(c.list[0].name, ==, "first");
    g_free(c.list);

    c = (CoCall) { .fn = do_snap_goto, .bs = bs, .id = "first" };
    co_run(&c);
    g_assert_cmpint(c.ret, ==, 0);
    assert_pattern(blk, 0, 2 * MiB, 0x11);
    assert_pattern(blk, 3 * MiB, 4096, 0);
    assert_clean(bs);

    c = (CoCall) { .fn = do_snap_goto, .bs = bs, .id = "nosuch" };
    co_run(&c);
    g_assert_cmpint(c.ret, ==, -ENOENT);
    error_free(c.err);

    c = (CoCall) { .fn = do_snap_delete, .bs = bs, .id = "1" };
    co_run(&c);
    g_assert_cmpint(c.ret, ==, 0);
    assert_clean(bs);
    write_pattern(blk, 0, 4096, 0x44);
    assert_pattern(blk, 4096, 4096, 0x11);
    assert_clean(bs);
    blk_unref(blk);
    bdrv_unref(bs);
}

static void test_bitmaps(void)
{
    BlockDriverState *bs;
    BlockBackend *blk;
    BdrvDirtyBitmap *bm;
    Error *err = NULL;

    g_assert_cmpint(create_image("b.qcow2", 8 * MiB, NULL, &error_abort), ==, 0);
    bs = open_image("b.qcow2", true);
    blk = backend(bs);
    g_assert_true(bdrv_can_store_new_dirty_bitmap(bs, "bm", 65536, &error_abort));
    bm = bdrv_create_dirty_bitmap(bs, 65536, "bm", &error_abort);
    bdrv_dirty_bitmap_set_persistence(bm, true);
    write_pattern(blk, 1 * MiB, 64 * 1024, 1);
    write_pattern(blk, 5 * MiB + 4096, 4096, 1);
    g_assert_cmpint(bdrv_get_dirty_count(bm), ==, 128 * 1024);
    g_assert_false(bdrv_can_store_new_dirty_bitmap(bs, "x", 256, &err));
    error_free(err);
    blk_unref(blk);
    bdrv_unref(bs);

    /* Stored at close, loaded at open with its contents */
    bs = open_image("b.qcow2", true);
    bm = bdrv_find_dirty_bitmap(bs, "bm");
    g_assert_nonnull(bm);
    g_assert_true(bdrv_dirty_bitmap_get_persistence(bm));
    g_assert_false(bdrv_dirty_bitmap_inconsistent(bm));
    g_assert_true(bdrv_dirty_bitmap_enabled(bm));
    g_assert_cmpint(bdrv_get_dirty_count(bm), ==, 128 * 1024);
    g_assert_true(bdrv_dirty_bitmap_get(bm, 5 * MiB));
    g_assert_false(bdrv_dirty_bitmap_get(bm, 2 * MiB));
    assert_clean(bs);
    g_assert_cmpint(bdrv_remove_persistent_dirty_bitmap(bs, "bm", &error_abort), ==, 0);
    bdrv_release_dirty_bitmap(bm);
    assert_clean(bs);
    bdrv_unref(bs);
    bs = open_image("b.qcow2", false);
    g_assert_null(bdrv_find_dirty_bitmap(bs, "bm"));
    bdrv_unref(bs);
}

static void test_check_repair(void)
{
    g_autofree char *path = path_of("k.qcow2");
    BlockDriverState *bs;
    BlockBackend *blk;
    CoCall c;
    FILE *f;
    uint8_t rb[2] = { 0, 1 };

    g_assert_cmpint(create_image("k.qcow2", 4 * MiB, "\"cluster-size\": 65536",
                                 &error_abort), ==, 0);
    bs = open_image("k.qcow2", true);
    blk = backend(bs);
    write_pattern(blk, 0, 128 * 1024, 7);
    blk_unref(blk);
    bdrv_unref(bs);

    /* Refcount 1 for cluster 20, past everything in use: a leak */
    f = fopen(path, "r+b");
    g_assert_nonnull(f);
    g_assert_cmpint(fseek(f, 2 * 65536 + 2 * 20, SEEK_SET), ==, 0);
    g_assert_cmpint(fwrite(rb, 1, 2, f), ==, 2);
    g_assert_cmpint(fseek(f, 21 * 65536 - 1, SEEK_SET), ==, 0);
    g_assert_cmpint(fwrite(rb, 1, 1, f), ==, 1);
    fclose(f);

    bs = open_image("k.qcow2", false);
    c = (CoCall) { .fn = do_check, .bs = bs };
    co_run(&c);
    g_assert_cmpint(c.result.leaks, ==, 1);
    g_assert_cmpint(c.result.corruptions, ==, 0);
    g_assert_cmpint(c.result.bfi.allocated_clusters, ==, 2);
    bdrv_unref(bs);

    bs = open_image("k.qcow2", true);
    c = (CoCall) { .fn = do_check, .bs = bs, .fix = BDRV_FIX_LEAKS };
    co_run(&c);
    g_assert_cmpint(c.result.leaks_fixed, ==, 1);
    g_assert_cmpint(c.result.leaks, ==, 0);
    assert_clean(bs);
    bdrv_unref(bs);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    bdrv_init();
    tmpdir = g_dir_make_tmp("test-qcow2-features-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);

    g_test_add_func("/qcow2/create-options", test_create_options);
    g_test_add_func("/qcow2/resize", test_resize);
    g_test_add_func("/qcow2/snapshots", test_snapshots);
    g_test_add_func("/qcow2/bitmaps", test_bitmaps);
    g_test_add_func("/qcow2/check-repair", test_check_repair);
    ret = g_test_run();

    {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
        if (system(cmd) != 0) {
            g_printerr("could not remove %s\n", tmpdir);
        }
    }
    return ret;
}
