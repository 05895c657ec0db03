/*
 * test-mirror-ops.c: the mirror job's in-flight table (block/mirror-ops.c):
 * chunk alignment, overlap lookup, clipping a candidate range at the first
 * operation in it, and waking every waiter (of one operation and of "any
 * operation") when an operation ends.
 */
#include "qemu/osdep.h"
#include "../../block/mirror-int.h"

static void init_job(MirrorBlockJob *s, int64_t granularity)
{
    memset(s, 0, sizeof(*s));
    s->granularity = granularity;
    s->bdev_length = 64 * granularity;
    g_queue_init(&s->ops);
    qemu_co_queue_init(&s->op_done);
}

static void test_align(void)
{
    MirrorBlockJob s;
    int64_t off, bytes;

    init_job(&s, 65536);
    mirror_align_range(&s, 4096, 512, &off, &bytes);
    g_assert_cmpint(off, ==, 0);
    g_assert_cmpint(bytes, ==, 65536);
    mirror_align_range(&s, 65536 - 1, 2, &off, &bytes);
    g_assert_cmpint(off, ==, 0);
    g_assert_cmpint(bytes, ==, 2 * 65536);
    mirror_align_range(&s, 65536, 65536, &off, &bytes);
    g_assert_cmpint(off, ==, 65536);
    g_assert_cmpint(bytes, ==, 65536);
}

static void test_overlap_and_clip(void)
{
    MirrorBlockJob s;
    MirrorOp *a, *b;

    init_job(&s, 4096);
    a = mirror_op_new(&s, 8192, 8192);        /* [8 KiB, 16 KiB) */
    b = mirror_op_new(&s, 65536, 4096);       /* [64 KiB, 68 KiB) */

    g_assert_null(mirror_find_overlap(&s, 0, 8192, NULL));
    g_assert(mirror_find_overlap(&s, 4096, 8192, NULL) == a);
    g_assert(mirror_find_overlap(&s, 12288, 1, NULL) == a);
    g_assert_null(mirror_find_overlap(&s, 16384, 4096, NULL));
    g_assert_null(mirror_find_overlap(&s, 8192, 4096, a));
    g_assert(mirror_find_overlap(&s, 60000, 10000, NULL) == b);

    /* A candidate stops at the first operation inside it */
    g_assert_cmpint(mirror_clip_to_free(&s, 0, 1 << 20), ==, 8192);
    g_assert_cmpint(mirror_clip_to_free(&s, 16384, 1 << 20), ==, 65536 - 16384);
    g_assert_cmpint(mirror_clip_to_free(&s, 8192, 4096), ==, 0);
    g_assert_cmpint(mirror_clip_to_free(&s, 69632, 4096), ==, 4096);

    mirror_op_free(a);
    g_assert_null(mirror_find_overlap(&s, 8192, 8192, NULL));
    g_assert_cmpint(mirror_clip_to_free(&s, 0, 1 << 20), ==, 65536);
    mirror_op_free(b);
    g_assert_true(g_queue_is_empty(&s.ops));
}

typedef struct Waiter {
    MirrorBlockJob *s;
    int64_t offset;
    bool any;
    bool done;
} Waiter;

static void coroutine_fn waiter_entry(void *opaque)
{
    Waiter *w = opaque;

    if (w->any) {
        mirror_wait_for_any_op(w->s);
    } else {
        mirror_wait_for_overlaps(w->s, w->offset, 4096, NULL);
    }
    w->done = true;
}

/* The waiters of the op that ends, and the "any op" waiter, run; others not */
static void test_wakeups(void)
{
    MirrorBlockJob s;
    MirrorOp *a, *b;
    Waiter on_a = { &s, 0, false, false };
    Waiter on_b = { &s, 8192, false, false };
    Waiter any = { &s, 0, true, false };

    init_job(&s, 4096);
    a = mirror_op_new(&s, 0, 4096);
    b = mirror_op_new(&s, 8192, 4096);
    qemu_coroutine_enter(qemu_coroutine_create(waiter_entry, &on_a));
    qemu_coroutine_enter(qemu_coroutine_create(waiter_entry, &on_b));
    qemu_coroutine_enter(qemu_coroutine_create(waiter_entry, &any));
    g_assert_false(on_a.done || on_b.done || any.done);

    mirror_op_free(a);
    while (aio_poll(qemu_get_aio_context(), false)) {
        /* run the woken coroutines */
    }
    g_assert_true(on_a.done);
    g_assert_true(any.done);
    g_assert_false(on_b.done);

    mirror_op_free(b);
    while (aio_poll(qemu_get_aio_context(), false)) {
    }
    g_assert_true(on_b.done);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    g_test_add_func("/mirror-ops/align", test_align);
    g_test_add_func("/mirror-ops/overlap-and-clip", test_overlap_and_clip);
    g_test_add_func("/mirror-ops/wakeups", test_wakeups);
    return g_test_run();
}
