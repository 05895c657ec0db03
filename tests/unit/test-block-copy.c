/*
 * test-block-copy.c: the block-copy engine (block/block-copy.c) through a
 * copy-before-write node over two files: only dirty clusters are copied,
 * claimed clusters are never claimed twice, a caller waits for someone
 * else's task on its clusters only until that task read them, zero areas
 * are written as zeroes or skipped on a target known to read zeroes, and
 * progress is reported per copied task.
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/block-copy.h"
#include "../../block/copy-before-write.h"
#include "test-util-block.h"

#define MiB_ (1024 * 1024)
#define SIZE (4 * MiB_)
#define CL (64 * 1024)

static AioContext *ctx;
static char *dir;
static int n;

static char *make_file(int fill)
{
    char *path = g_strdup_printf("%s/f%d", dir, n++);
    FILE *f = fopen(path, "w");
    int i;

    g_assert_nonnull(f);
    if (fill < 0) {
        g_assert_cmpint(ftruncate(fileno(f), SIZE), ==, 0);
    } else {
        for (i = 0; i < SIZE; i++) {
            fputc(fill >= 0x100 ? (i / CL) & 0xff : fill, f);
        }
    }
    fclose(f);
    return path;
}

static void read_file(const char *path, uint8_t *buf)
{
    FILE *f = fopen(path, "r");

    g_assert_nonnull(f);
    g_assert_cmpint(fread(buf, 1, SIZE, f), ==, SIZE);
    fclose(f);
}

typedef struct Fixture {
    char *src, *tgt;
    BlockDriverState *cbw;
    BlockCopyState *bcs;
    int64_t progress;
} Fixture;

static void progress_cb(void *opaque, int64_t bytes)
{
    ((Fixture *)opaque)->progress += bytes;
}

/* src: cluster i filled with byte i; tgt: fill */
static void setup(Fixture *f, int tgt_fill)
{
    g_autofree char *json = NULL;

    f->src = make_file(0x100);
    f->tgt = make_file(tgt_fill);
    json = g_strdup_printf(
        "{\"driver\": \"copy-before-write\", \"node-name\": \"cbw%d\", "
        "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}, "
        "\"target\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
        n, f->src, f->tgt);
    f->cbw = test_open_json(json, &error_abort);
    f->bcs = cbw_get_block_copy_state(f->cbw);
    f->progress = 0;
    block_copy_set_progress(f->bcs, progress_cb, f);
    /* blockdev-add marks all; the tests choose */
    bdrv_clear_dirty_bitmap(block_copy_dirty_bitmap(f->bcs), NULL);
}

static void teardown(Fixture *f)
{
    bdrv_unref(f->cbw);
    unlink(f->src);
    unlink(f->tgt);
    g_free(f->src);
    g_free(f->tgt);
}

typedef struct CopyCall {
    BlockCopyState *bcs;
    int64_t offset, bytes;
    int ret;
    bool done;
} CopyCall;

static void coroutine_fn copy_entry(void *opaque)
{
    CopyCall *c = opaque;

    c->ret = block_copy(c->bcs, c->offset, c->bytes, NULL);
    c->done = true;
    aio_notify(ctx);
}

static int run_copy(BlockCopyState *bcs, int64_t offset, int64_t bytes)
{
    CopyCall c = { .bcs = bcs, .offset = offset, .bytes = bytes };

    qemu_coroutine_enter(qemu_coroutine_create(copy_entry, &c));
    WAIT_FOR(c.done);
    return c.ret;
}

static void test_only_dirty(void)
{
    Fixture f;
    g_autofree uint8_t *buf = g_malloc(SIZE);
    int64_t i;

    setup(&f, 0xee);
    block_copy_set_dirty(f.bcs, 2 * CL, 3 * CL);
    block_copy_set_dirty(f.bcs, 40 * CL + 1, 1);        /* rounded out */
    g_assert_cmpint(block_copy_remaining(f.bcs), ==, 4 * CL);
    /* The whole range asked: only the dirty clusters are copied */
    g_assert_cmpint(run_copy(f.bcs, 0, SIZE), ==, 0);
    g_assert_cmpint(block_copy_remaining(f.bcs), ==, 0);
    g_assert_cmpint(f.progress, ==, 4 * CL);
    read_file(f.tgt, buf);
    for (i = 0; i < SIZE / CL; i++) {
        bool copied = (i >= 2 && i < 5) || i == 40;

        g_assert_cmpint(buf[i * CL], ==, copied ? (i & 0xff) : 0xee);
        g_assert_cmpint(buf[i * CL + CL - 1], ==, copied ? (i & 0xff) : 0xee);
    }
    g_assert_true(bdrv_dirty_bitmap_get(block_copy_done_bitmap(f.bcs), 40 * CL));
    g_assert_false(bdrv_dirty_bitmap_get(block_copy_done_bitmap(f.bcs), 39 * CL));
    /* Copied once: asking again copies nothing */
    g_assert_cmpint(run_copy(f.bcs, 0, SIZE), ==, 0);
    g_assert_cmpint(f.progress, ==, 4 * CL);
    teardown(&f);
}

typedef struct TaskRun {
    BlockCopyTask *t;
    int ret;
    bool done;
} TaskRun;

static void coroutine_fn task_entry(void *opaque)
{
    TaskRun *r = opaque;

    r->ret = block_copy_task_run(r->t, NULL);
    r->done = true;
    aio_notify(ctx);
}

static void test_claims_disjoint(void)
{
    Fixture f;
    BlockCopyTask *a, *b;
    int64_t cursor = 0;
    TaskRun ra = { 0 }, rb = { 0 };
    CopyCall c;

    setup(&f, 0);
    block_copy_set_dirty(f.bcs, 0, 3 * MiB_);
    a = block_copy_task_claim_next(f.bcs, &cursor);
    g_assert_nonnull(a);
    g_assert_cmpint(block_copy_task_bytes(a), ==, MiB_);     /* default chunk */
    g_assert_cmpint(cursor, ==, MiB_);
    b = block_copy_task_claim_next(f.bcs, &cursor);
    g_assert_nonnull(b);
    g_assert_cmpint(cursor, ==, 2 * MiB_);
    g_assert_cmpint(block_copy_in_flight_bytes(f.bcs), ==, 2 * MiB_);
    g_assert_cmpint(bdrv_get_dirty_count(block_copy_dirty_bitmap(f.bcs)), ==,
                    MiB_);
    ra.t = a;
    rb.t = b;

    /*
     * A guest write on one cluster of task a waits for a (not run yet) and
     * never claims it itself; the one in [2M, 3M) it copies at once.
     */
    c = (CopyCall) { .bcs = f.bcs, .offset = CL, .bytes = 10 };
    qemu_coroutine_enter(qemu_coroutine_create(copy_entry, &c));
    g_assert_false(c.done);
    g_assert_cmpint(run_copy(f.bcs, 2 * MiB_ + CL, CL), ==, 0);
    g_assert_cmpint(f.progress, ==, CL);
    g_assert_false(c.done);

    /* Run the claimed tasks (as the backup job does) */
    qemu_coroutine_enter(qemu_coroutine_create(task_entry, &ra));
    WAIT_FOR(ra.done && c.done);
    g_assert_cmpint(ra.ret, ==, 0);
    g_assert_cmpint(c.ret, ==, 0);
    qemu_coroutine_enter(qemu_coroutine_create(task_entry, &rb));
    WAIT_FOR(rb.done);
    g_assert_cmpint(rb.ret, ==, 0);
    g_assert_cmpint(f.progress, ==, 2 * MiB_ + CL);
    g_assert_cmpint(block_copy_in_flight_bytes(f.bcs), ==, 0);
    teardown(&f);
}

static void test_zeroes(void)
{
    Fixture f;
    g_autofree uint8_t *buf = g_malloc(SIZE);
    g_autofree char *json = NULL;
    char *src;

    /* A sparse source: zeroes everywhere */
    setup(&f, 0xee);
    bdrv_unref(f.cbw);
    unlink(f.src);
    g_free(f.src);
    src = f.src = make_file(-1);
    json = g_strdup_printf(
        "{\"driver\": \"copy-before-write\", \"node-name\": \"cbwz%d\", "
        "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}, "
        "\"target\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
        n, src, f.tgt);
    f.cbw = test_open_json(json, &error_abort);
    f.bcs = cbw_get_block_copy_state(f.cbw);
    bdrv_clear_dirty_bitmap(block_copy_dirty_bitmap(f.bcs), NULL);

    /* Target known to read zeroes: skipped (the 0xee stays) */
    block_copy_set_target_is_zero(f.bcs, true);
    block_copy_set_dirty(f.bcs, 0, MiB_);
    g_assert_cmpint(run_copy(f.bcs, 0, MiB_), ==, 0);
    read_file(f.tgt, buf);
    g_assert_cmpint(buf[0], ==, 0xee);
    g_assert_cmpint(buf[MiB_ - 1], ==, 0xee);
    /* Otherwise written as zeroes */
    block_copy_set_target_is_zero(f.bcs, false);
    block_copy_set_dirty(f.bcs, MiB_, MiB_);
    g_assert_cmpint(run_copy(f.bcs, MiB_, MiB_), ==, 0);
    read_file(f.tgt, buf);
    g_assert_cmpint(buf[MiB_], ==, 0);
    g_assert_cmpint(buf[2 * MiB_ - 1], ==, 0);
    g_assert_cmpint(buf[2 * MiB_], ==, 0xee);
    teardown(&f);
}

int main(int argc, char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    ctx = qemu_get_aio_context();
    bdrv_init();
    dir = g_dir_make_tmp("test-block-copy-XXXXXX", NULL);
    g_assert_nonnull(dir);

    g_test_add_func("/block-copy/only-dirty", test_only_dirty);
    g_test_add_func("/block-copy/claims-disjoint", test_claims_disjoint);
    g_test_add_func("/block-copy/zeroes", test_zeroes);
    ret = g_test_run();
    rmdir(dir);
    g_free(dir);
    return ret;
}
