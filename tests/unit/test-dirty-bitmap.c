/*
 * test-dirty-bitmap.c: block/dirty-bitmap.c on real nodes: creation and
 * names, marking by the request path (write, write-zeroes, discard,
 * truncate; enabled bitmaps only), the busy/readonly/inconsistent checks
 * and their errors, merge (sizes, granularities, undo), clear/restore,
 * successors (abdicate, reclaim), serialisation, iterators, the QMP
 * helpers and the persistence hooks of a driver (a fake "host_device"
 * memory driver registered only here, whose hooks yield).
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/block-backend.h"
#include "block/dirty-bitmap.h"
#include "test-util-block.h"

extern BlockDriver bdrv_raw;
extern BlockDriver bdrv_null_co;
extern BlockDriver bdrv_file;

#define RW (BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE | BLK_PERM_RESIZE)

/* ---- a memory driver with persistence hooks ---- */

typedef struct MemState {
    int64_t size;
    bool can_store;
    int removed;
} MemState;

static MemState *mem;

static int mem_open(BlockDriverState *bs, BlockdevOptions *options, int flags,
                    Error **errp)
{
    MemState *s = bs->opaque;

    s->size = 4 * MiB;
    s->can_store = strstr(options->u.host_device.filename, "store") != NULL;
    mem = s;
    return 0;
}

static int64_t mem_getlength(BlockDriverState *bs)
{
    return ((MemState *)bs->opaque)->size;
}

static int coroutine_fn mem_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    return 0;
}

static int coroutine_fn mem_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      BdrvRequestFlags flags)
{
    qemu_iovec_memset(qiov, 0, 0, bytes);
    return 0;
}

static bool coroutine_fn mem_co_can_store(BlockDriverState *bs, const char *name,
                                          uint32_t granularity, Error **errp)
{
    MemState *s = bs->opaque;

    qemu_co_yield_to_loop();    /* really a coroutine: yields to the loop */
    if (!s->can_store) {
        error_setg(errp, "Cannot store dirty bitmaps in this test");
        return false;
    }
    return true;
}

static int coroutine_fn mem_co_remove(BlockDriverState *bs, const char *name,
                                      Error **errp)
{
    qemu_co_yield_to_loop();
    ((MemState *)bs->opaque)->removed++;
    return 0;
}

static BlockDriver bdrv_mem = {
    .format_name = "host_device",
    .instance_size = sizeof(MemState),
    .bdrv_open = mem_open,
    .bdrv_co_preadv = mem_co_preadv,
    .bdrv_co_pwritev = mem_co_pwritev,
    .bdrv_getlength = mem_getlength,
    .bdrv_co_can_store_new_dirty_bitmap = mem_co_can_store,
    .bdrv_co_remove_persistent_dirty_bitmap = mem_co_remove,
};

/* ---- helpers ---- */

static char *tmpdir;

/* raw "name" over a 1 MiB + 512 file with discard=unmap */
static BlockDriverState *open_file_node(const char *name)
{
    g_autofree char *path = g_strdup_printf("%s/%s.img", tmpdir, name);
    g_autofree char *json = NULL;
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(ftruncate(fd, MiB + 512), ==, 0);
    close(fd);
    json = g_strdup_printf("{\"driver\": \"raw\", \"node-name\": \"%s\", "
                           "\"discard\": \"unmap\", \"file\": {\"driver\": "
                           "\"file\", \"filename\": \"%s\", \"discard\": \"unmap\"}}",
                           name, path);
    return test_open_json(json, &error_abort);
}

static BlockBackend *blk_on(BlockDriverState *bs)
{
    BlockBackend *blk = blk_new(RW, BLK_PERM_ALL);

    g_assert_cmpint(blk_insert_bs(blk, bs, &error_abort), ==, 0);
    return blk;
}

static void close_node(BlockBackend *blk, BlockDriverState *bs)
{
    blk_unref(blk);
    bdrv_unref(bs);
}

static void check_error(Error **err, const char *text)
{
    g_assert_nonnull(*err);
    g_assert_cmpstr(error_get_pretty(*err), ==, text);
    error_free(*err);
    *err = NULL;
}

/* ---- tests ---- */

static void test_create_find(void)
{
    BlockDriverState *bs = open_file_node("cf");
    BdrvDirtyBitmap *a, *b, *anon, *bm;
    g_autofree char *longname = g_strnfill(1024, 'x');
    Error *err = NULL;
    int n = 0;

    a = bdrv_create_dirty_bitmap(bs, 65536, "a", &error_abort);
    b = bdrv_create_dirty_bitmap(bs, 512, "b", &error_abort);
    anon = bdrv_create_dirty_bitmap(bs, 4096, NULL, &error_abort);
    g_assert_true(bdrv_find_dirty_bitmap(bs, "a") == a);
    g_assert_true(bdrv_find_dirty_bitmap(bs, "b") == b);
    g_assert_null(bdrv_find_dirty_bitmap(bs, "c"));
    g_assert_cmpint(bdrv_dirty_bitmap_size(a), ==, MiB + 512);
    g_assert_cmpint(bdrv_dirty_bitmap_granularity(b), ==, 512);
    g_assert_true(bdrv_has_named_bitmaps(bs));

    g_assert_null(bdrv_create_dirty_bitmap(bs, 512, "a", &err));
    check_error(&err, "Bitmap already exists: a");
    g_assert_null(bdrv_create_dirty_bitmap(bs, 512, longname, &err));
    g_assert_nonnull(err);
    g_assert_true(g_str_has_prefix(error_get_pretty(err), "Bitmap name too long: xxx"));
    error_free(err);

    /* newest first */
    FOR_EACH_DIRTY_BITMAP(bs, bm) {
        g_assert_true(bm == (n == 0 ? anon : n == 1 ? b : a));
        n++;
    }
    g_assert_cmpint(n, ==, 3);
    bdrv_release_dirty_bitmap(b);
    g_assert_null(bdrv_find_dirty_bitmap(bs, "b"));
    bdrv_release_dirty_bitmap(anon);
    bdrv_release_dirty_bitmap(a);
    g_assert_false(bdrv_has_named_bitmaps(bs));
    g_assert_cmpint(bdrv_get_default_bitmap_granularity(bs), ==, 65536);
    bdrv_unref(bs);
}

static void test_request_path(void)
{
    BlockDriverState *bs = open_file_node("rp");
    BlockBackend *blk = blk_on(bs);
    BdrvDirtyBitmap *on = bdrv_create_dirty_bitmap(bs, 4096, "on", &error_abort);
    BdrvDirtyBitmap *off = bdrv_create_dirty_bitmap(bs, 4096, "off", &error_abort);
    BdrvDirtyBitmap *fine = bdrv_create_dirty_bitmap(bs, 512, "fine", &error_abort);
    uint8_t buf[8192];
    int64_t ds, dc;

    memset(buf, 0xab, sizeof(buf));
    bdrv_disable_dirty_bitmap(off);
    g_assert_cmpint(blk_pwrite(blk, 5000, 100, buf, 0), ==, 0);
    g_assert_cmpint(bdrv_get_dirty_count(on), ==, 4096);
    g_assert_cmpint(bdrv_get_dirty_count(fine), ==, 512);
    g_assert_cmpint(bdrv_get_dirty_count(off), ==, 0);
    g_assert_true(bdrv_dirty_bitmap_get(on, 4096));
    g_assert_false(bdrv_dirty_bitmap_get(on, 8192));

    g_assert_cmpint(blk_pwrite_zeroes(blk, 65536, 8192, 0), ==, 0);
    g_assert_cmpint(bdrv_get_dirty_count(on), ==, 3 * 4096);
    g_assert_cmpint(blk_pdiscard(blk, 131072, 4096), ==, 0);
    g_assert_cmpint(bdrv_get_dirty_count(on), ==, 4 * 4096);

    g_assert_true(bdrv_dirty_bitmap_next_dirty_area(on, 0, MiB, -1, &ds, &dc));
    g_assert_cmpint(ds, ==, 4096);
    g_assert_cmpint(dc, ==, 4096);
    g_assert_true(bdrv_dirty_bitmap_next_dirty_area(on, 8192, MiB, -1, &ds, &dc));
    g_assert_cmpint(ds, ==, 65536);
    g_assert_cmpint(dc, ==, 8192);
    g_assert_cmpint(bdrv_dirty_bitmap_next_zero(on, 65536, -1), ==, 65536 + 8192);
    g_assert_cmpint(bdrv_dirty_bitmap_next_dirty(on, 65536 + 8192, -1), ==, 131072);

    /* the last, partial granule counts whole (as QEMU) */
    g_assert_cmpint(blk_pwrite(blk, MiB, 512, buf, 0), ==, 0);
    g_assert_cmpint(bdrv_get_dirty_count(on), ==, 5 * 4096);

    /* truncate resizes every bitmap; the new area is clean */
    g_assert_cmpint(blk_truncate(blk, 2 * MiB, true, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(bdrv_dirty_bitmap_size(on), ==, 2 * MiB);
    g_assert_cmpint(bdrv_dirty_bitmap_size(off), ==, 2 * MiB);
    g_assert_cmpint(bdrv_dirty_bitmap_next_dirty(on, MiB + 4096, -1), ==, -1);
    g_assert_cmpint(blk_pwrite(blk, 2 * MiB - 4096, 4096, buf, 0), ==, 0);
    g_assert_true(bdrv_dirty_bitmap_get(on, 2 * MiB - 1));
    g_assert_cmpint(blk_truncate(blk, 65536, true, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(bdrv_get_dirty_count(on), ==, 4096);

    bdrv_release_dirty_bitmap(on);
    bdrv_release_dirty_bitmap(off);
    bdrv_release_dirty_bitmap(fine);
    close_node(blk, bs);
}

static void test_checks(void)
{
    BlockDriverState *bs = open_file_node("ck");
    BdrvDirtyBitmap *bm = bdrv_create_dirty_bitmap(bs, 65536, "bm", &error_abort);
    Error *err = NULL;

    g_assert_cmpint(bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_DEFAULT, &error_abort), ==, 0);
    bdrv_dirty_bitmap_set_busy(bm, true);
    g_assert_cmpint(bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_DEFAULT, &err), ==, -1);
    check_error(&err, "Bitmap 'bm' is currently in use by another operation and cannot be used");
    g_assert_cmpint(bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_RO, NULL), ==, 0);
    bdrv_dirty_bitmap_set_busy(bm, false);

    bdrv_dirty_bitmap_set_readonly(bm, true);
    g_assert_true(bdrv_has_readonly_bitmaps(bs));
    g_assert_cmpint(bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_DEFAULT, &err), ==, -1);
    check_error(&err, "Bitmap 'bm' is readonly and cannot be modified");
    g_assert_cmpint(bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO, NULL), ==, 0);
    bdrv_dirty_bitmap_set_readonly(bm, false);

    bdrv_dirty_bitmap_set_persistence(bm, true);
    g_assert_true(bdrv_dirty_bitmap_should_store(bm));
    bdrv_dirty_bitmap_set_inconsistent(bm);
    g_assert_false(bdrv_dirty_bitmap_enabled(bm));
    g_assert_false(bdrv_dirty_bitmap_should_store(bm));
    g_assert_cmpint(bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO, &err), ==, -1);
    check_error(&err, "Bitmap 'bm' is inconsistent and cannot be used");
    bdrv_unref(bs);
}

static void test_merge_clear(void)
{
    BlockDriverState *bs = open_file_node("mg");
    BlockDriverState *other = test_open_json("{\"driver\": \"null-co\", \"node-name\": "
                                        "\"mg-null\", \"size\": 4096}", &error_abort);
    BdrvDirtyBitmap *dst = bdrv_create_dirty_bitmap(bs, 65536, "dst", &error_abort);
    BdrvDirtyBitmap *src = bdrv_create_dirty_bitmap(bs, 512, "src", &error_abort);
    BdrvDirtyBitmap *small = bdrv_create_dirty_bitmap(other, 512, "small", &error_abort);
    HBitmap *backup = NULL;
    Error *err = NULL;

    bdrv_set_dirty_bitmap(dst, 0, 1);
    bdrv_set_dirty_bitmap(src, 200000, 512);
    g_assert_true(bdrv_merge_dirty_bitmap(dst, src, &backup, &error_abort));
    g_assert_true(bdrv_dirty_bitmap_get(dst, 196608));
    g_assert_cmpint(bdrv_get_dirty_count(dst), ==, 2 * 65536);
    bdrv_restore_dirty_bitmap(dst, backup);
    g_assert_cmpint(bdrv_get_dirty_count(dst), ==, 65536);
    g_assert_false(bdrv_dirty_bitmap_get(dst, 196608));

    g_assert_false(bdrv_merge_dirty_bitmap(dst, small, NULL, &err));
    check_error(&err, "Bitmaps are of different sizes (destination size is 1049088, "
                "source size is 4096) and can't be merged");
    bdrv_dirty_bitmap_set_busy(src, true);
    g_assert_false(bdrv_merge_dirty_bitmap(dst, src, NULL, &err));
    check_error(&err, "Bitmap 'src' is currently in use by another operation and cannot be used");
    bdrv_dirty_bitmap_set_busy(src, false);

    bdrv_clear_dirty_bitmap(dst, &backup);
    g_assert_cmpint(bdrv_get_dirty_count(dst), ==, 0);
    bdrv_restore_dirty_bitmap(dst, backup);
    g_assert_cmpint(bdrv_get_dirty_count(dst), ==, 65536);
    bdrv_clear_dirty_bitmap(dst, NULL);
    g_assert_cmpint(bdrv_get_dirty_count(dst), ==, 0);
    bdrv_dirty_bitmap_set_all(dst);
    g_assert_cmpint(bdrv_get_dirty_count(dst), ==, 17 * 65536);

    bdrv_release_dirty_bitmap(small);
    bdrv_unref(bs);
    bdrv_unref(other);
}

static void test_successor(void)
{
    BlockDriverState *bs = open_file_node("sc");
    BlockBackend *blk = blk_on(bs);
    BdrvDirtyBitmap *bm = bdrv_create_dirty_bitmap(bs, 4096, "bm", &error_abort);
    BdrvDirtyBitmap *succ;
    BlockDirtyInfoList *info;
    uint8_t buf[4096] = { 1 };
    Error *err = NULL;

    g_assert_cmpint(blk_pwrite(blk, 0, 4096, buf, 0), ==, 0);
    g_assert_cmpint(bdrv_dirty_bitmap_create_successor(bm, &error_abort), ==, 0);
    g_assert_true(bdrv_dirty_bitmap_has_successor(bm));
    g_assert_cmpint(bdrv_dirty_bitmap_create_successor(bm, &err), ==, -1);
    check_error(&err, "Cannot create a successor for a bitmap that is in-use by an operation");

    /* the frozen parent keeps its bits; new writes go to the successor */
    g_assert_cmpint(blk_pwrite(blk, 8192, 4096, buf, 0), ==, 0);
    g_assert_cmpint(bdrv_get_dirty_count(bm), ==, 4096);
    info = bdrv_query_dirty_bitmaps(bs);
    /* newest first: the anonymous successor, then bm (recording through it, busy) */
    g_assert_null(info->value->name);
    g_assert_cmpint(info->value->count, ==, 4096);
    g_assert_cmpstr(info->next->value->name, ==, "bm");
    g_assert_true(info->next->value->recording);
    g_assert_true(info->next->value->busy);
    qapi_free_BlockDirtyInfoList(info);

    /* failure: reclaim merges the successor back */
    g_assert_true(bdrv_reclaim_dirty_bitmap(bm, &error_abort) == bm);
    g_assert_cmpint(bdrv_get_dirty_count(bm), ==, 2 * 4096);
    g_assert_true(bdrv_dirty_bitmap_enabled(bm));
    g_assert_false(bdrv_dirty_bitmap_busy(bm));

    /* success: the successor takes the name */
    g_assert_cmpint(bdrv_dirty_bitmap_create_successor(bm, &error_abort), ==, 0);
    g_assert_cmpint(blk_pwrite(blk, 65536, 4096, buf, 0), ==, 0);
    succ = bdrv_dirty_bitmap_abdicate(bm, &error_abort);
    g_assert_true(bdrv_find_dirty_bitmap(bs, "bm") == succ);
    g_assert_cmpint(bdrv_get_dirty_count(succ), ==, 4096);
    g_assert_true(bdrv_dirty_bitmap_get(succ, 65536));
    g_assert_null(bdrv_dirty_bitmap_next(succ));
    g_assert_null(bdrv_dirty_bitmap_abdicate(succ, &err));
    check_error(&err, "Cannot relinquish control if there's no successor present");
    bdrv_release_dirty_bitmap(succ);
    close_node(blk, bs);
}

static void test_serialize_iter(void)
{
    BlockDriverState *bs = open_file_node("se");
    BdrvDirtyBitmap *a = bdrv_create_dirty_bitmap(bs, 512, "a", &error_abort);
    BdrvDirtyBitmap *b = bdrv_create_dirty_bitmap(bs, 512, "b", &error_abort);
    uint64_t size = bdrv_dirty_bitmap_size(a);
    uint64_t chunk = bdrv_dirty_bitmap_serialization_coverage(64, a);
    BdrvDirtyBitmapIter *it;
    g_autofree char *ha = NULL, *hb = NULL;
    int64_t off;
    int n = 0;

    g_assert_cmpuint(chunk, ==, 64 * 8 * 512);
    bdrv_set_dirty_bitmap(a, 1000, 5000);
    bdrv_set_dirty_bitmap(a, 700000, 1);
    bdrv_set_dirty_bitmap(a, size - 1, 1);
    for (uint64_t o = 0; o < size; o += chunk) {
        uint64_t len = MIN(chunk, size - o);
        uint8_t buf[64];

        g_assert_cmpuint(bdrv_dirty_bitmap_serialization_size(a, o, len), <=, 64);
        bdrv_dirty_bitmap_serialize_part(a, buf, o, len);
        bdrv_dirty_bitmap_deserialize_part(b, buf, o, len, false);
    }
    bdrv_dirty_bitmap_deserialize_finish(b);
    ha = bdrv_dirty_bitmap_sha256(a, &error_abort);
    hb = bdrv_dirty_bitmap_sha256(b, &error_abort);
    g_assert_cmpstr(ha, ==, hb);
    g_assert_cmpint(bdrv_get_dirty_count(b), ==, bdrv_get_dirty_count(a));

    it = bdrv_dirty_iter_new(b);
    while ((off = bdrv_dirty_iter_next(it)) >= 0) {
        g_assert_true(bdrv_dirty_bitmap_get(a, off));
        n++;
    }
    g_assert_cmpint(n * 512, ==, bdrv_get_dirty_count(a));
    bdrv_set_dirty_iter(it, 700000);
    g_assert_cmpint(bdrv_dirty_iter_next(it), ==, 700000 / 512 * 512);
    bdrv_dirty_iter_free(it);

    bdrv_dirty_bitmap_deserialize_zeroes(b, 0, size, true);
    g_assert_cmpint(bdrv_get_dirty_count(b), ==, 0);
    bdrv_dirty_bitmap_deserialize_ones(b, 0, size, true);
    g_assert_cmpint(bdrv_get_dirty_count(b), ==, size);
    bdrv_unref(bs);
}

static void test_qmp_helpers(void)
{
    BlockDriverState *bs = open_file_node("qh");
    BdrvDirtyBitmap *t = bdrv_create_dirty_bitmap(bs, 65536, "t", &error_abort);
    BdrvDirtyBitmap *s1 = bdrv_create_dirty_bitmap(bs, 512, "s1", &error_abort);
    BlockDirtyBitmapOrStrList *l1 = g_new0(BlockDirtyBitmapOrStrList, 1);
    BlockDirtyBitmapOrStrList *l2 = g_new0(BlockDirtyBitmapOrStrList, 1);
    BlockDriverState *found = NULL;
    HBitmap *backup = NULL;
    Error *err = NULL;

    g_assert_true(block_dirty_bitmap_lookup("qh", "t", &found, &error_abort) == t);
    g_assert_true(found == bs);
    g_assert_null(block_dirty_bitmap_lookup("nope", "t", NULL, &err));
    check_error(&err, "Node 'nope' not found");
    g_assert_null(block_dirty_bitmap_lookup("qh", "nope", NULL, &err));
    check_error(&err, "Dirty bitmap 'nope' not found");

    bdrv_set_dirty_bitmap(s1, 300000, 1);
    l1->value = g_new0(BlockDirtyBitmapOrStr, 1);
    l1->value->type = QTYPE_QSTRING;
    l1->value->u.local = g_strdup("s1");
    l1->next = l2;
    l2->value = g_new0(BlockDirtyBitmapOrStr, 1);
    l2->value->type = QTYPE_QDICT;
    l2->value->u.external = g_new0(BlockDirtyBitmap, 1);
    l2->value->u.external->node = g_strdup("qh");
    l2->value->u.external->name = g_strdup("missing");

    /* all or nothing: the second source fails, the target is untouched */
    g_assert_null(block_dirty_bitmap_merge("qh", "t", l1, NULL, &err));
    check_error(&err, "Dirty bitmap 'missing' not found");
    g_assert_cmpint(bdrv_get_dirty_count(t), ==, 0);
    g_free(l2->value->u.external->name);
    l2->value->u.external->name = g_strdup("s1");
    g_assert_true(block_dirty_bitmap_merge("qh", "t", l1, &backup, &error_abort) == t);
    g_assert_cmpint(bdrv_get_dirty_count(t), ==, 65536);
    g_assert_true(bdrv_dirty_bitmap_get(t, 262144));
    hbitmap_free(backup);
    /* the scratch bitmap is gone */
    g_assert_true(bdrv_dirty_bitmap_first(bs) == s1);
    qapi_free_BlockDirtyBitmapOrStrList(l1);

    /* remove: busy refused; transaction form hides it */
    bdrv_dirty_bitmap_set_busy(s1, true);
    g_assert_null(block_dirty_bitmap_remove("qh", "s1", true, NULL, &err));
    check_error(&err, "Bitmap 's1' is currently in use by another operation and cannot be used");
    bdrv_dirty_bitmap_set_busy(s1, false);
    g_assert_true(block_dirty_bitmap_remove("qh", "s1", false, NULL, &error_abort) == s1);
    g_assert_true(bdrv_dirty_bitmap_busy(s1));
    bdrv_dirty_bitmap_set_busy(s1, false);
    g_assert_null(block_dirty_bitmap_remove("qh", "s1", true, NULL, &error_abort));
    g_assert_null(bdrv_find_dirty_bitmap(bs, "s1"));
    bdrv_unref(bs);
}

static void test_persistence_hooks(void)
{
    BlockDriverState *plain = open_file_node("ph");
    BlockDriverState *no = test_open_json("{\"driver\": \"host_device\", \"node-name\": "
                                     "\"ph-no\", \"filename\": \"plain\"}",
                                     &error_abort);
    BlockDriverState *yes = test_open_json("{\"driver\": \"host_device\", \"node-name\": "
                                      "\"ph-yes\", \"filename\": \"store\"}",
                                      &error_abort);
    MemState *ms = mem;
    BdrvDirtyBitmap *bm;
    Error *err = NULL;

    g_assert_false(bdrv_can_store_new_dirty_bitmap(plain, "x", 65536, &err));
    check_error(&err, "Can't store persistent bitmaps to ph: Operation not supported");
    g_assert_false(bdrv_can_store_new_dirty_bitmap(no, "x", 65536, &err));
    check_error(&err, "Cannot store dirty bitmaps in this test");
    g_assert_true(bdrv_can_store_new_dirty_bitmap(yes, "x", 65536, &error_abort));

    bm = bdrv_create_dirty_bitmap(yes, 65536, "x", &error_abort);
    bdrv_dirty_bitmap_set_persistence(bm, true);
    g_assert_true(bdrv_dirty_bitmap_get_persistence(bm));
    g_assert_null(block_dirty_bitmap_remove("ph-yes", "x", true, NULL, &error_abort));
    g_assert_cmpint(ms->removed, ==, 1);
    bdrv_unref(plain);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    bdrv_register(&bdrv_mem);
    bdrv_register(&bdrv_raw);
    bdrv_register(&bdrv_null_co);
    bdrv_register(&bdrv_file);
    tmpdir = g_dir_make_tmp("test-dirty-bitmap-XXXXXX", NULL);
    g_assert_nonnull(tmpdir);

    g_test_add_func("/dirty-bitmap/create-find", test_create_find);
    g_test_add_func("/dirty-bitmap/request-path", test_request_path);
    g_test_add_func("/dirty-bitmap/checks", test_checks);
    g_test_add_func("/dirty-bitmap/merge-clear", test_merge_clear);
    g_test_add_func("/dirty-bitmap/successor", test_successor);
    g_test_add_func("/dirty-bitmap/serialize-iter", test_serialize_iter);
    g_test_add_func("/dirty-bitmap/qmp-helpers", test_qmp_helpers);
    g_test_add_func("/dirty-bitmap/persistence-hooks", test_persistence_hooks);
    ret = g_test_run();
    {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);

        if (system(cmd)) {
            /* best effort */
        }
    }
    return ret;
}
