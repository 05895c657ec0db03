/*
 * test-aio.c: the event loop: fd handlers, bottom halves (also from other
 * threads), notification, timers and io_uring requests.
 */
#include "qemu/osdep.h"
#include "qemu/aio.h"
#include <liburing.h>

static AioContext *ctx;

/* ---- fd handlers ---- */

typedef struct PipeTest {
    int fds[2];
    int reads;
    int writes;
    bool consume;
} PipeTest;

static void pipe_read_cb(void *opaque)
{
    PipeTest *p = opaque;
    char c;

    p->reads++;
    if (p->consume) {
        g_assert_cmpint(read(p->fds[0], &c, 1), ==, 1);
    }
}

static void pipe_write_cb(void *opaque)
{
    PipeTest *p = opaque;

    p->writes++;
    aio_set_fd_handler(ctx, p->fds[1], NULL, NULL, NULL);
}

static void test_fd_handler(void)
{
    PipeTest p = { 0 };

    g_assert_cmpint(pipe2(p.fds, O_NONBLOCK), ==, 0);
    aio_set_fd_handler(ctx, p.fds[0], pipe_read_cb, NULL, &p);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(p.reads, ==, 0);

    g_assert_cmpint(write(p.fds[1], "x", 1), ==, 1);
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(p.reads, ==, 1);
    /* Level-triggered: unread data fires again. */
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(p.reads, ==, 2);
    p.consume = true;
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(p.reads, ==, 3);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(p.reads, ==, 3);

    /* A write handler on the (writable) other end, removing itself. */
    aio_set_fd_handler(ctx, p.fds[1], NULL, pipe_write_cb, &p);
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(p.writes, ==, 1);
    g_assert_false(aio_poll(ctx, false));

    /* Removed: data no longer dispatched. */
    aio_set_fd_handler(ctx, p.fds[0], NULL, NULL, NULL);
    g_assert_cmpint(write(p.fds[1], "y", 1), ==, 1);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(p.reads, ==, 3);
    close(p.fds[0]);
    close(p.fds[1]);
}

/* Two ready fds; the first handler removes the second one. */
typedef struct RemoveTest {
    int a[2], b[2];
    int a_calls, b_calls;
} RemoveTest;

static void remove_b_cb(void *opaque)
{
    RemoveTest *r = opaque;

    r->a_calls++;
    aio_set_fd_handler(ctx, r->b[0], NULL, NULL, NULL);
    aio_set_fd_handler(ctx, r->a[0], NULL, NULL, NULL);
}

static void remove_a_cb(void *opaque)
{
    RemoveTest *r = opaque;

    r->b_calls++;
    aio_set_fd_handler(ctx, r->a[0], NULL, NULL, NULL);
    aio_set_fd_handler(ctx, r->b[0], NULL, NULL, NULL);
}

static void test_fd_handler_remove_other(void)
{
    RemoveTest r = { 0 };

    g_assert_cmpint(pipe(r.a), ==, 0);
    g_assert_cmpint(pipe(r.b), ==, 0);
    aio_set_fd_handler(ctx, r.a[0], remove_b_cb, NULL, &r);
    aio_set_fd_handler(ctx, r.b[0], remove_a_cb, NULL, &r);
    g_assert_cmpint(write(r.a[1], "x", 1), ==, 1);
    g_assert_cmpint(write(r.b[1], "x", 1), ==, 1);
    g_assert_true(aio_poll(ctx, true));
    /* Whichever ran first removed the other one before it could run. */
    g_assert_cmpint(r.a_calls + r.b_calls, ==, 1);
    g_assert_false(aio_poll(ctx, false));
    close(r.a[0]);
    close(r.a[1]);
    close(r.b[0]);
    close(r.b[1]);
}

/* ---- bottom halves ---- */

typedef struct BhTest {
    QEMUBH *bh;
    int runs;
    int max_runs;    /* reschedule itself until then */
    bool delete_self;
} BhTest;

static void bh_cb(void *opaque)
{
    BhTest *t = opaque;

    t->runs++;
    if (t->runs < t->max_runs) {
        qemu_bh_schedule(t->bh);
    }
    if (t->delete_self) {
        qemu_bh_delete(t->bh);
        t->bh = NULL;
    }
}

static void test_bh(void)
{
    BhTest t = { 0 };

    t.bh = aio_bh_new(ctx, bh_cb, &t);
    g_assert_false(aio_poll(ctx, false));
    qemu_bh_schedule(t.bh);
    qemu_bh_schedule(t.bh);          /* once is enough */
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(t.runs, ==, 1);
    g_assert_false(aio_poll(ctx, false));

    qemu_bh_schedule(t.bh);
    qemu_bh_cancel(t.bh);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(t.runs, ==, 1);

    /* A rescheduling BH runs once per iteration, not in a loop. */
    t.runs = 0;
    t.max_runs = 3;
    qemu_bh_schedule(t.bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpint(t.runs, ==, 1);
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(t.runs, ==, 2);
    g_assert_true(aio_poll(ctx, true));
    g_assert_cmpint(t.runs, ==, 3);
    g_assert_false(aio_poll(ctx, false));

    /* Deleting itself from its callback. */
    t.delete_self = true;
    t.max_runs = 0;
    qemu_bh_schedule(t.bh);
    g_assert_true(aio_poll(ctx, false));
    g_assert_null(t.bh);

    /* Deleting a scheduled BH: it never runs. */
    t.runs = 0;
    t.delete_self = false;
    t.bh = aio_bh_new(ctx, bh_cb, &t);
    qemu_bh_schedule(t.bh);
    qemu_bh_delete(t.bh);
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(t.runs, ==, 0);
}

static void append_cb(void *opaque)
{
    g_string_append_c(opaque, 'x');
}

static void test_bh_oneshot_order(void)
{
    GString *log = g_string_new(NULL);
    int i;

    for (i = 0; i < 5; i++) {
        aio_bh_schedule_oneshot(ctx, append_cb, log);
    }
    g_assert_true(aio_poll(ctx, false));
    g_assert_cmpstr(log->str, ==, "xxxxx");
    g_assert_false(aio_poll(ctx, false));
    g_string_free(log, TRUE);
}

typedef struct NestedTest {
    int inner_runs;
    bool outer_done;
} NestedTest;

static void inner_bh(void *opaque)
{
    ((NestedTest *)opaque)->inner_runs++;
}

static void outer_bh(void *opaque)
{
    NestedTest *t = opaque;

    /* A callback waiting for something with a nested aio_poll(). */
    aio_bh_schedule_oneshot(ctx, inner_bh, t);
    AIO_POLL_WHILE(ctx, t->inner_runs == 0);
    t->outer_done = true;
}

static void test_nested_poll(void)
{
    NestedTest t = { 0 };

    aio_bh_schedule_oneshot(ctx, outer_bh, &t);
    aio_bh_schedule_oneshot(ctx, inner_bh, &t);  /* queued before the nested one */
    AIO_POLL_WHILE(ctx, !t.outer_done);
    g_assert_cmpint(t.inner_runs, >=, 1);
    while (aio_poll(ctx, false)) {
        /* drain */
    }
    g_assert_cmpint(t.inner_runs, ==, 2);
}

typedef struct ThreadBh {
    int runs;
    int64_t delay_us;
    bool use_notify;
    int flag;
} ThreadBh;

static void thread_bh_cb(void *opaque)
{
    __atomic_fetch_add(&((ThreadBh *)opaque)->runs, 1, __ATOMIC_SEQ_CST);
}

static gpointer bh_thread(gpointer opaque)
{
    ThreadBh *t = opaque;

    g_usleep(t->delay_us);
    if (t->use_notify) {
        __atomic_store_n(&t->flag, 1, __ATOMIC_SEQ_CST);
        aio_notify(ctx);
    } else {
        aio_bh_schedule_oneshot(ctx, thread_bh_cb, t);
    }
    return NULL;
}

static void test_bh_from_thread(void)
{
    ThreadBh t = { .delay_us = 20 * 1000 };
    GThread *th = g_thread_new("bh", bh_thread, &t);
    int64_t start = qemu_clock_get_ns();

    /* Blocks (no timers, nothing ready) until the other thread's BH. */
    while (__atomic_load_n(&t.runs, __ATOMIC_SEQ_CST) == 0) {
        aio_poll(ctx, true);
    }
    g_assert_cmpint(qemu_clock_get_ns() - start, >=, 15 * SCALE_MS);
    g_thread_join(th);
}

static void test_notify_from_thread(void)
{
    ThreadBh t = { .delay_us = 20 * 1000, .use_notify = true };
    GThread *th = g_thread_new("notify", bh_thread, &t);

    /* aio_notify() makes a blocking aio_poll() return. */
    while (!__atomic_load_n(&t.flag, __ATOMIC_SEQ_CST)) {
        aio_poll(ctx, true);
    }
    g_thread_join(th);
}

typedef struct ManyBh {
    int runs;
} ManyBh;

static void many_bh_cb(void *opaque)
{
    __atomic_fetch_add(&((ManyBh *)opaque)->runs, 1, __ATOMIC_SEQ_CST);
}

static gpointer many_bh_thread(gpointer opaque)
{
    int i;

    for (i = 0; i < 10000; i++) {
        aio_bh_schedule_oneshot(ctx, many_bh_cb, opaque);
    }
    return NULL;
}

static void test_bh_many_threads(void)
{
    ManyBh t = { 0 };
    GThread *th[4];
    int i;

    for (i = 0; i < 4; i++) {
        th[i] = g_thread_new("bh", many_bh_thread, &t);
    }
    while (__atomic_load_n(&t.runs, __ATOMIC_SEQ_CST) < 40000) {
        aio_poll(ctx, true);
    }
    for (i = 0; i < 4; i++) {
        g_thread_join(th[i]);
    }
    g_assert_false(aio_poll(ctx, false));
    g_assert_cmpint(t.runs, ==, 40000);
}

/* ---- timers ---- */

typedef struct TimerTest {
    QEMUTimer *timer;
    GString *log;
    char name;
    int fired;
    int rearm;          /* re-arm this many more times */
    bool free_self;
} TimerTest;

static void timer_cb(void *opaque)
{
    TimerTest *t = opaque;

    t->fired++;
    if (t->log) {
        g_string_append_c(t->log, t->name);
    }
    if (t->rearm > 0) {
        t->rearm--;
        timer_mod(t->timer, qemu_clock_get_ns() + SCALE_MS);
    }
    if (t->free_self) {
        timer_free(t->timer);
        t->timer = NULL;
    }
}

static void test_timers_order(void)
{
    GString *log = g_string_new(NULL);
    TimerTest t[4];
    int64_t now = qemu_clock_get_ns();
    int64_t when[4] = { 30, 10, 20, 10 };   /* ms; equal times keep arming order */
    const char *names = "abcd";
    int i;

    for (i = 0; i < 4; i++) {
        t[i] = (TimerTest){ .log = log, .name = names[i] };
        t[i].timer = aio_timer_new(ctx, timer_cb, &t[i]);
        timer_mod(t[i].timer, now + when[i] * SCALE_MS);
        g_assert_true(timer_pending(t[i].timer));
        g_assert_cmpint(timer_expire_time_ns(t[i].timer), ==, now + when[i] * SCALE_MS);
    }
    /* Cancel c. */
    timer_del(t[2].timer);
    g_assert_false(timer_pending(t[2].timer));
    g_assert_cmpint(timer_expire_time_ns(t[2].timer), ==, -1);

    AIO_POLL_WHILE(ctx, t[0].fired == 0);
    g_assert_cmpint(qemu_clock_get_ns() - now, >=, 30 * SCALE_MS);
    g_assert_cmpstr(log->str, ==, "bda");
    for (i = 0; i < 4; i++) {
        g_assert_false(timer_pending(t[i].timer));
        timer_free(t[i].timer);
    }
    g_string_free(log, TRUE);
}

static void test_timer_rearm_and_free(void)
{
    TimerTest periodic = { .rearm = 4 };
    TimerTest self_free = { .free_self = true };
    TimerTest modded = { 0 };
    int64_t now = qemu_clock_get_ns();

    periodic.timer = aio_timer_new(ctx, timer_cb, &periodic);
    timer_mod(periodic.timer, now);
    self_free.timer = aio_timer_new(ctx, timer_cb, &self_free);
    timer_mod(self_free.timer, now + 2 * SCALE_MS);

    /* Moving a timer replaces its previous expiry. */
    modded.timer = aio_timer_new(ctx, timer_cb, &modded);
    timer_mod(modded.timer, now + 3600 * NANOSECONDS_PER_SECOND);
    timer_mod(modded.timer, now + SCALE_MS);

    AIO_POLL_WHILE(ctx, periodic.fired < 5 || self_free.fired == 0 ||
                   modded.fired == 0);
    g_assert_cmpint(periodic.fired, ==, 5);
    g_assert_false(timer_pending(periodic.timer));
    g_assert_null(self_free.timer);
    g_assert_cmpint(modded.fired, ==, 1);
    timer_free(periodic.timer);
    timer_free(modded.timer);
}

static void test_blocking_poll_waits_for_timer(void)
{
    TimerTest t = { 0 };
    int64_t start = qemu_clock_get_ns();

    t.timer = aio_timer_new(ctx, timer_cb, &t);
    timer_mod(t.timer, start + 25 * SCALE_MS);
    while (!t.fired) {
        aio_poll(ctx, true);
    }
    g_assert_cmpint(qemu_clock_get_ns() - start, >=, 25 * SCALE_MS);
    g_assert_cmpint(qemu_clock_get_ns() - start, <, 5 * NANOSECONDS_PER_SECOND);
    timer_free(t.timer);
}

/* ---- io_uring ---- */

typedef struct UringIo {
    int fd;
    void *buf;
    size_t len;
    off_t offset;
    bool write;
} UringIo;

static void prep_rw(struct io_uring_sqe *sqe, void *opaque)
{
    UringIo *io = opaque;

    if (io->write) {
        io_uring_prep_write(sqe, io->fd, io->buf, io->len, io->offset);
    } else {
        io_uring_prep_read(sqe, io->fd, io->buf, io->len, io->offset);
    }
}

typedef struct UringWorker {
    int fd;
    int index;
    int ret_write;
    int ret_read;
    bool ok;
    int *done;
} UringWorker;

#define URING_CHUNK 4096

static void coroutine_fn uring_worker(void *opaque)
{
    UringWorker *w = opaque;
    char out[URING_CHUNK], in[URING_CHUNK];
    UringIo io = {
        .fd = w->fd, .len = URING_CHUNK, .offset = (off_t)w->index * URING_CHUNK,
    };

    memset(out, 'a' + w->index % 26, sizeof(out));
    io.buf = out;
    io.write = true;
    w->ret_write = aio_uring_co_submit(ctx, prep_rw, &io);
    memset(in, 0, sizeof(in));
    io.buf = in;
    io.write = false;
    w->ret_read = aio_uring_co_submit(ctx, prep_rw, &io);
    w->ok = memcmp(in, out, sizeof(in)) == 0;
    (*w->done)++;
}

static void test_uring_rw(void)
{
    enum { N = 300 };     /* more than the queue depth */
    char path[] = "/tmp/test-aio-XXXXXX";
    UringWorker w[N];
    int done = 0;
    int fd, i;
    char c;

    if (!aio_uring_available(ctx)) {
        g_test_skip("io_uring is not available");
        return;
    }
    fd = mkstemp(path);
    g_assert_cmpint(fd, >=, 0);
    unlink(path);

    for (i = 0; i < N; i++) {
        w[i] = (UringWorker){ .fd = fd, .index = i, .done = &done };
        qemu_coroutine_spawn(uring_worker, &w[i]);
    }
    AIO_POLL_WHILE(ctx, done < N);
    for (i = 0; i < N; i++) {
        g_assert_cmpint(w[i].ret_write, ==, URING_CHUNK);
        g_assert_cmpint(w[i].ret_read, ==, URING_CHUNK);
        g_assert_true(w[i].ok);
    }
    /* The data really is in the file. */
    g_assert_cmpint(pread(fd, &c, 1, 7 * URING_CHUNK + 5), ==, 1);
    g_assert_cmpint(c, ==, 'a' + 7);
    close(fd);
}

typedef struct UringErr {
    int ret;
    bool done;
} UringErr;

static void coroutine_fn uring_bad_fd(void *opaque)
{
    UringErr *e = opaque;
    char buf[16];
    UringIo io = { .fd = 1000000, .buf = buf, .len = sizeof(buf) };

    e->ret = aio_uring_co_submit(ctx, prep_rw, &io);
    e->done = true;
}

static void test_uring_error(void)
{
    UringErr e = { 0 };

    if (!aio_uring_available(ctx)) {
        g_test_skip("io_uring is not available");
        return;
    }
    qemu_coroutine_spawn(uring_bad_fd, &e);
    AIO_POLL_WHILE(ctx, !e.done);
    g_assert_cmpint(e.ret, ==, -EBADF);
}

static void test_uring_disabled(void)
{
    AioContext *other;

    /* Our helper threads are gone; nothing reads the environment now. */
    setenv("BLOCKD_NO_IO_URING", "1", 1);
    other = aio_context_new(&error_abort);
    unsetenv("BLOCKD_NO_IO_URING");
    g_assert_false(aio_uring_available(other));
    g_assert_null(aio_uring_get_sqe(other));
    g_assert_false(aio_poll(other, false));
    aio_context_unref(other);
}

/* ---- a second context on its own thread ---- */

typedef struct IoThread {
    AioContext *ctx;
    int stop;
    int ran;
} IoThread;

static gpointer iothread_run(gpointer opaque)
{
    IoThread *t = opaque;

    qemu_set_current_aio_context(t->ctx);
    while (!__atomic_load_n(&t->stop, __ATOMIC_SEQ_CST)) {
        aio_poll(t->ctx, true);
    }
    return NULL;
}

static void iothread_bh(void *opaque)
{
    IoThread *t = opaque;

    g_assert_true(qemu_get_current_aio_context() == t->ctx);
    __atomic_fetch_add(&t->ran, 1, __ATOMIC_SEQ_CST);
}

static void iothread_stop_bh(void *opaque)
{
    __atomic_store_n(&((IoThread *)opaque)->stop, 1, __ATOMIC_SEQ_CST);
}

static void test_iothread(void)
{
    IoThread t = { .ctx = aio_context_new(&error_abort) };
    GThread *th = g_thread_new("iothread", iothread_run, &t);
    int64_t deadline = qemu_clock_get_ns() + 10 * NANOSECONDS_PER_SECOND;

    aio_bh_schedule_oneshot(t.ctx, iothread_bh, &t);
    while (!__atomic_load_n(&t.ran, __ATOMIC_SEQ_CST)) {
        g_assert_cmpint(qemu_clock_get_ns(), <, deadline);
        g_usleep(1000);
    }
    aio_bh_schedule_oneshot(t.ctx, iothread_stop_bh, &t);
    g_thread_join(th);
    aio_context_unref(t.ctx);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    ctx = qemu_get_aio_context();

    g_test_add_func("/aio/fd-handler", test_fd_handler);
    g_test_add_func("/aio/fd-handler-remove-other", test_fd_handler_remove_other);
    g_test_add_func("/aio/bh", test_bh);
    g_test_add_func("/aio/bh-oneshot-order", test_bh_oneshot_order);
    g_test_add_func("/aio/nested-poll", test_nested_poll);
    g_test_add_func("/aio/bh-from-thread", test_bh_from_thread);
    g_test_add_func("/aio/notify-from-thread", test_notify_from_thread);
    g_test_add_func("/aio/bh-many-threads", test_bh_many_threads);
    g_test_add_func("/aio/timers/order-cancel", test_timers_order);
    g_test_add_func("/aio/timers/rearm-free", test_timer_rearm_and_free);
    g_test_add_func("/aio/timers/blocking-poll", test_blocking_poll_waits_for_timer);
    g_test_add_func("/aio/io_uring/read-write", test_uring_rw);
    g_test_add_func("/aio/io_uring/error", test_uring_error);
    g_test_add_func("/aio/io_uring/disabled", test_uring_disabled);
    g_test_add_func("/aio/iothread", test_iothread);
    return g_test_run();
}
