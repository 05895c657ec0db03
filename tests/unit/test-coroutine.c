/*
 * test-coroutine.c: coroutine semantics (enter/yield/nesting, pool),
 * CoQueue, CoMutex, CoRwlock and sleeping.
 */
#include "qemu/osdep.h"
#include "qemu/aio.h"
#include "qemu/coroutine.h"

static AioContext *ctx;

/* ---- enter / yield ---- */

typedef struct PingPong {
    GString *log;
    char name;
    int rounds;
} PingPong;

static void coroutine_fn ping_pong_entry(void *opaque)
{
    PingPong *p = opaque;
    int i;

    for (i = 0; i < p->rounds; i++) {
        g_string_append_c(p->log, p->name);
        qemu_coroutine_yield();
    }
}

static void test_ping_pong(void)
{
    const int n = 1000;
    GString *log = g_string_new(NULL);
    PingPong a = { log, 'a', n }, b = { log, 'b', n };
    Coroutine *ca = qemu_coroutine_create(ping_pong_entry, &a);
    Coroutine *cb = qemu_coroutine_create(ping_pong_entry, &b);
    int i;

    for (i = 0; i <= n; i++) {
        qemu_coroutine_enter(ca);
        qemu_coroutine_enter(cb);
    }
    g_assert_cmpuint(log->len, ==, 2 * n);
    for (i = 0; i < 2 * n; i++) {
        g_assert_cmpint(log->str[i], ==, i % 2 ? 'b' : 'a');
    }
    g_string_free(log, TRUE);
}

typedef struct YieldState {
    int step;
    bool in_coroutine;
    Coroutine *self;
} YieldState;

static void coroutine_fn yield_entry(void *opaque)
{
    YieldState *s = opaque;

    s->in_coroutine = qemu_in_coroutine();
    s->self = qemu_coroutine_self();
    g_assert_true(qemu_coroutine_entered(s->self));
    s->step = 1;
    qemu_coroutine_yield();
    s->step = 2;
    qemu_coroutine_yield();
    s->step = 3;
}

static void test_yield_enter(void)
{
    YieldState s = { 0 };
    Coroutine *co = qemu_coroutine_create(yield_entry, &s);

    g_assert_false(qemu_in_coroutine());
    g_assert_null(qemu_coroutine_self());
    g_assert_cmpint(s.step, ==, 0);     /* not started by create */
    qemu_coroutine_enter(co);
    g_assert_cmpint(s.step, ==, 1);
    g_assert_true(s.in_coroutine);
    g_assert_true(s.self == co);
    g_assert_false(qemu_coroutine_entered(co));
    qemu_coroutine_enter(co);
    g_assert_cmpint(s.step, ==, 2);
    qemu_coroutine_enter(co);
    g_assert_cmpint(s.step, ==, 3);
    g_assert_false(qemu_in_coroutine());
}

/* ---- nesting ---- */

typedef struct Nest {
    GString *log;
    int depth;
    int max;
} Nest;

static void coroutine_fn nest_entry(void *opaque)
{
    Nest *n = opaque;
    Coroutine *self = qemu_coroutine_self();

    g_string_append_printf(n->log, "<%d", n->depth);
    if (n->depth < n->max) {
        Coroutine *child;

        n->depth++;
        child = qemu_coroutine_create(nest_entry, n);
        qemu_coroutine_enter(child);
        /* The child yielded or ended: control came back to us. */
        g_assert_true(qemu_coroutine_self() == self);
    }
    g_string_append_printf(n->log, ">");
}

static void test_nesting(void)
{
    Nest n = { .log = g_string_new(NULL), .max = 64 };
    GString *want = g_string_new(NULL);
    int i;

    qemu_coroutine_spawn(nest_entry, &n);
    for (i = 0; i <= 64; i++) {
        g_string_append_printf(want, "<%d", i);
    }
    for (i = 0; i <= 64; i++) {
        g_string_append_c(want, '>');
    }
    g_assert_cmpstr(n.log->str, ==, want->str);
    g_assert_false(qemu_in_coroutine());
    g_string_free(n.log, TRUE);
    g_string_free(want, TRUE);
}

typedef struct NestYield {
    Coroutine *inner;
    GString *log;
} NestYield;

static void coroutine_fn nest_yield_inner(void *opaque)
{
    NestYield *s = opaque;

    g_string_append(s->log, "i1 ");
    qemu_coroutine_yield();          /* back to outer, its caller */
    g_string_append(s->log, "i2 ");  /* entered again from main */
}

static void coroutine_fn nest_yield_outer(void *opaque)
{
    NestYield *s = opaque;

    g_string_append(s->log, "o1 ");
    s->inner = qemu_coroutine_create(nest_yield_inner, s);
    qemu_coroutine_enter(s->inner);
    g_string_append(s->log, "o2 ");
    qemu_coroutine_yield();          /* back to main */
    g_string_append(s->log, "o3 ");
}

static void test_nested_yield(void)
{
    NestYield s = { .log = g_string_new(NULL) };
    Coroutine *outer = qemu_coroutine_create(nest_yield_outer, &s);

    qemu_coroutine_enter(outer);
    g_string_append(s.log, "m1 ");
    qemu_coroutine_enter(s.inner);   /* yields to main now */
    g_string_append(s.log, "m2 ");
    qemu_coroutine_enter(outer);
    g_assert_cmpstr(s.log->str, ==, "o1 i1 o2 m1 i2 m2 o3 ");
    g_string_free(s.log, TRUE);
}

static void coroutine_fn reenter_self_entry(void *opaque)
{
    qemu_coroutine_enter(qemu_coroutine_self());
}

static void test_reenter_aborts(void)
{
    if (g_test_subprocess()) {
        qemu_coroutine_spawn(reenter_self_entry, NULL);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*re-entered recursively*");
}

/* ---- pool ---- */

static void coroutine_fn yield_once_entry(void *opaque)
{
    qemu_coroutine_yield();
}

static void coroutine_fn nop_entry(void *opaque)
{
}

static void test_pool_reuse(void)
{
    Coroutine *cos[200];
    Coroutine *again;
    unsigned max_pool;
    bool found = false;
    int i;

    for (i = 0; i < 200; i++) {
        cos[i] = qemu_coroutine_create(yield_once_entry, NULL);
        qemu_coroutine_enter(cos[i]);
    }
    for (i = 0; i < 200; i++) {
        qemu_coroutine_enter(cos[i]);    /* terminates */
    }
    /* The pool grew, but stays bounded. */
    max_pool = qemu_coroutine_pool_size();
    g_assert_cmpuint(max_pool, >, 0);
    g_assert_cmpuint(max_pool, <=, 64);

    /* A new coroutine comes from the pool. */
    again = qemu_coroutine_create(nop_entry, NULL);
    g_assert_cmpuint(qemu_coroutine_pool_size(), ==, max_pool - 1);
    for (i = 0; i < 200; i++) {
        found |= again == cos[i];
    }
    g_assert_true(found);
    qemu_coroutine_enter(again);
    g_assert_cmpuint(qemu_coroutine_pool_size(), ==, max_pool);

    /* Terminated in one go: still bounded. */
    for (i = 0; i < 1000; i++) {
        qemu_coroutine_spawn(nop_entry, NULL);
    }
    g_assert_cmpuint(qemu_coroutine_pool_size(), ==, max_pool);
}

typedef struct Stress {
    int alive;
    int max_alive;
    int done;
} Stress;

static void coroutine_fn stress_entry(void *opaque)
{
    Stress *s = opaque;
    char buf[512];

    s->alive++;
    s->max_alive = MAX(s->max_alive, s->alive);
    memset(buf, s->done & 0xff, sizeof(buf));   /* touch the stack */
    qemu_co_sleep_ns(100 * SCALE_US);
    g_assert_cmpint(buf[0], ==, buf[sizeof(buf) - 1]);
    s->alive--;
    s->done++;
}

static void test_pool_stress(void)
{
    const int total = 100000, batch = 1000;
    Stress s = { 0 };
    int i, j;

    for (i = 0; i < total; i += batch) {
        for (j = 0; j < batch; j++) {
            qemu_coroutine_spawn(stress_entry, &s);
        }
        AIO_POLL_WHILE(ctx, s.done < i + batch);
    }
    g_assert_cmpint(s.done, ==, total);
    g_assert_cmpint(s.alive, ==, 0);
    g_assert_cmpint(s.max_alive, ==, batch);
    g_assert_cmpuint(qemu_coroutine_pool_size(), <=, 64);
}

/* ---- CoQueue ---- */

typedef struct QueueTest {
    CoQueue queue;
    GString *log;
} QueueTest;

typedef struct QueueWaiter {
    QueueTest *t;
    int id;
} QueueWaiter;

static void coroutine_fn queue_wait_entry(void *opaque)
{
    QueueWaiter *w = opaque;

    qemu_co_queue_wait(&w->t->queue, NULL);
    g_string_append_printf(w->t->log, "%d", w->id);
}

static void test_co_queue(void)
{
    QueueTest t = { .log = g_string_new(NULL) };
    QueueWaiter w[5];
    int i;

    qemu_co_queue_init(&t.queue);
    g_assert_true(qemu_co_queue_empty(&t.queue));
    g_assert_false(qemu_co_queue_next(&t.queue));
    for (i = 0; i < 5; i++) {
        w[i] = (QueueWaiter){ &t, i };
        qemu_coroutine_spawn(queue_wait_entry, &w[i]);
    }
    g_assert_false(qemu_co_queue_empty(&t.queue));
    g_assert_cmpstr(t.log->str, ==, "");

    /* Outside a coroutine the wake-up enters directly, in FIFO order. */
    g_assert_true(qemu_co_enter_next(&t.queue));
    g_assert_cmpstr(t.log->str, ==, "0");
    g_assert_true(qemu_co_queue_next(&t.queue));
    g_assert_cmpstr(t.log->str, ==, "01");
    qemu_co_queue_restart_all(&t.queue);
    g_assert_cmpstr(t.log->str, ==, "01234");
    g_assert_true(qemu_co_queue_empty(&t.queue));
    g_string_free(t.log, TRUE);
}

/* ---- CoMutex ---- */

typedef struct MutexTest {
    CoMutex mutex;
    int inside;
    int max_inside;
    GString *order;
    int finished;
} MutexTest;

typedef struct MutexUser {
    MutexTest *t;
    int id;
} MutexUser;

static void coroutine_fn mutex_entry(void *opaque)
{
    MutexUser *u = opaque;
    MutexTest *t = u->t;
    int round;

    for (round = 0; round < 3; round++) {
        qemu_co_mutex_lock(&t->mutex);
        qemu_co_mutex_assert_locked(&t->mutex);
        t->inside++;
        t->max_inside = MAX(t->max_inside, t->inside);
        g_string_append_printf(t->order, "%d", u->id);
        /* Hold the lock across a trip through the event loop. */
        qemu_co_yield_to_loop();
        t->inside--;
        qemu_co_mutex_unlock(&t->mutex);
    }
    t->finished++;
}

static void test_co_mutex(void)
{
    MutexTest t = { .order = g_string_new(NULL) };
    MutexUser u[4];
    int i;

    qemu_co_mutex_init(&t.mutex);
    for (i = 0; i < 4; i++) {
        u[i] = (MutexUser){ &t, i };
        qemu_coroutine_spawn(mutex_entry, &u[i]);
    }
    AIO_POLL_WHILE(ctx, t.finished < 4);
    g_assert_cmpint(t.max_inside, ==, 1);
    /* FIFO hand-over: nobody overtakes a waiter. */
    g_assert_cmpstr(t.order->str, ==, "012301230123");
    g_assert_false(t.mutex.locked);
    g_string_free(t.order, TRUE);
}

static void coroutine_fn trylock_entry(void *opaque)
{
    CoMutex *m = opaque;

    g_assert_true(qemu_co_mutex_trylock(m));
    g_assert_false(qemu_co_mutex_trylock(m));
    qemu_co_mutex_unlock(m);
    g_assert_true(qemu_co_mutex_trylock(m));
    qemu_co_mutex_unlock(m);
}

static void test_co_mutex_trylock(void)
{
    CoMutex m;

    qemu_co_mutex_init(&m);
    qemu_coroutine_spawn(trylock_entry, &m);
    g_assert_false(m.locked);
}

/* ---- CoRwlock ---- */

typedef struct RwTest {
    CoRwlock lock;
    int readers_inside;
    int max_readers;
    bool writer_inside;
    GString *log;
    CoQueue release;        /* holders wait here until the test lets them go */
    int finished;
} RwTest;

static void rw_note(RwTest *t, const char *what)
{
    g_string_append(t->log, what);
}

static void coroutine_fn reader_entry(void *opaque)
{
    RwTest *t = opaque;

    qemu_co_rwlock_rdlock(&t->lock);
    g_assert_false(t->writer_inside);
    t->readers_inside++;
    t->max_readers = MAX(t->max_readers, t->readers_inside);
    rw_note(t, "R");
    qemu_co_queue_wait(&t->release, NULL);
    t->readers_inside--;
    rw_note(t, "r");
    qemu_co_rwlock_unlock(&t->lock);
    t->finished++;
}

static void coroutine_fn writer_entry(void *opaque)
{
    RwTest *t = opaque;

    qemu_co_rwlock_wrlock(&t->lock);
    g_assert_cmpint(t->readers_inside, ==, 0);
    g_assert_false(t->writer_inside);
    t->writer_inside = true;
    rw_note(t, "W");
    qemu_co_queue_wait(&t->release, NULL);
    t->writer_inside = false;
    rw_note(t, "w");
    qemu_co_rwlock_unlock(&t->lock);
    t->finished++;
}

static void rw_test_init(RwTest *t)
{
    memset(t, 0, sizeof(*t));
    qemu_co_rwlock_init(&t->lock);
    qemu_co_queue_init(&t->release);
    t->log = g_string_new(NULL);
}

/* Let the event loop settle (scheduled wake-ups run). */
static void drain_loop(void)
{
    while (aio_poll(ctx, false)) {
        /* nothing */
    }
}

static void test_co_rwlock(void)
{
    RwTest t;

    rw_test_init(&t);
    /* Two readers share the lock. */
    qemu_coroutine_spawn(reader_entry, &t);
    qemu_coroutine_spawn(reader_entry, &t);
    g_assert_cmpint(t.readers_inside, ==, 2);
    /* A writer waits for them; a reader arriving later queues behind it. */
    qemu_coroutine_spawn(writer_entry, &t);
    qemu_coroutine_spawn(reader_entry, &t);
    drain_loop();
    g_assert_cmpstr(t.log->str, ==, "RR");

    /* Release the two readers: the writer gets in, not the late reader. */
    qemu_co_queue_next(&t.release);
    qemu_co_queue_next(&t.release);
    drain_loop();
    g_assert_cmpstr(t.log->str, ==, "RRrrW");

    /* Release the writer: the waiting reader follows. */
    qemu_co_queue_next(&t.release);
    drain_loop();
    g_assert_cmpstr(t.log->str, ==, "RRrrWwR");
    qemu_co_queue_restart_all(&t.release);
    drain_loop();
    g_assert_cmpint(t.finished, ==, 4);
    g_assert_cmpint(t.max_readers, ==, 2);
    g_string_free(t.log, TRUE);
}

static void coroutine_fn upgrader_entry(void *opaque)
{
    RwTest *t = opaque;

    qemu_co_rwlock_rdlock(&t->lock);
    t->readers_inside++;
    rw_note(t, "U");
    t->readers_inside--;
    qemu_co_rwlock_upgrade(&t->lock);     /* waits for the other reader */
    g_assert_cmpint(t->readers_inside, ==, 0);
    t->writer_inside = true;
    rw_note(t, "W");
    qemu_co_yield_to_loop();
    t->writer_inside = false;
    qemu_co_rwlock_downgrade(&t->lock);
    rw_note(t, "D");
    qemu_co_rwlock_unlock(&t->lock);
    t->finished++;
}

static void test_co_rwlock_upgrade(void)
{
    RwTest t;

    rw_test_init(&t);
    qemu_coroutine_spawn(reader_entry, &t);
    qemu_coroutine_spawn(upgrader_entry, &t);
    drain_loop();
    g_assert_cmpstr(t.log->str, ==, "RU");      /* upgrade is waiting */
    qemu_co_queue_next(&t.release);             /* the reader leaves */
    AIO_POLL_WHILE(ctx, t.finished < 2);
    g_assert_cmpstr(t.log->str, ==, "RUrWD");
    g_assert_cmpint(t.lock.readers, ==, 0);
    g_assert_false(t.lock.writer);
    g_string_free(t.log, TRUE);
}

/* ---- sleeping ---- */

typedef struct SleepTest {
    int64_t ns;
    int64_t elapsed;
    QemuCoSleep w;
    bool done;
} SleepTest;

static void coroutine_fn sleep_entry(void *opaque)
{
    SleepTest *s = opaque;
    int64_t start = qemu_clock_get_ns();

    qemu_co_sleep_ns_wakeable(&s->w, s->ns);
    s->elapsed = qemu_clock_get_ns() - start;
    s->done = true;
}

static void test_co_sleep(void)
{
    SleepTest s = { .ns = 20 * SCALE_MS };

    qemu_coroutine_spawn(sleep_entry, &s);
    g_assert_false(s.done);
    AIO_POLL_WHILE(ctx, !s.done);
    g_assert_cmpint(s.elapsed, >=, 20 * SCALE_MS);
    g_assert_cmpint(s.elapsed, <, 2 * NANOSECONDS_PER_SECOND);
}

static void wake_timer_cb(void *opaque)
{
    qemu_co_sleep_wake(opaque);
}

static void test_co_sleep_wake(void)
{
    SleepTest s = { .ns = 60 * NANOSECONDS_PER_SECOND };
    QEMUTimer *t = aio_timer_new(ctx, wake_timer_cb, &s.w);

    qemu_coroutine_spawn(sleep_entry, &s);
    timer_mod(t, qemu_clock_get_ns() + 10 * SCALE_MS);
    AIO_POLL_WHILE(ctx, !s.done);
    g_assert_cmpint(s.elapsed, >=, 10 * SCALE_MS);
    g_assert_cmpint(s.elapsed, <, 30 * NANOSECONDS_PER_SECOND);
    /* A second wake-up is harmless. */
    qemu_co_sleep_wake(&s.w);
    timer_free(t);
}

typedef struct LoopTest {
    int bh_ran;
    int seen_by_co;
    bool done;
} LoopTest;

static void count_bh(void *opaque)
{
    ((LoopTest *)opaque)->bh_ran++;
}

static void coroutine_fn yield_to_loop_entry(void *opaque)
{
    LoopTest *t = opaque;

    aio_bh_schedule_oneshot(ctx, count_bh, t);
    qemu_co_yield_to_loop();
    t->seen_by_co = t->bh_ran;
    t->done = true;
}

static void test_yield_to_loop(void)
{
    LoopTest t = { 0 };

    qemu_coroutine_spawn(yield_to_loop_entry, &t);
    g_assert_false(t.done);
    AIO_POLL_WHILE(ctx, !t.done);
    g_assert_cmpint(t.seen_by_co, ==, 1);
}

/* ---- aio_co_wake ---- */

typedef struct WakeTest {
    Coroutine *co;
    bool done;
    bool woke_in_coroutine_returned;
} WakeTest;

static void coroutine_fn sleeper_entry(void *opaque)
{
    WakeTest *t = opaque;

    t->co = qemu_coroutine_self();
    qemu_coroutine_yield();
    t->done = true;
}

static gpointer wake_thread(gpointer opaque)
{
    g_usleep(20 * 1000);
    aio_co_wake(((WakeTest *)opaque)->co);
    return NULL;
}

static void test_co_wake_from_thread(void)
{
    WakeTest t = { 0 };
    GThread *th;

    qemu_coroutine_spawn(sleeper_entry, &t);
    th = g_thread_new("waker", wake_thread, &t);
    AIO_POLL_WHILE(ctx, !t.done);
    g_thread_join(th);
}

static void coroutine_fn waker_entry(void *opaque)
{
    WakeTest *t = opaque;

    /* From a coroutine the wake-up is deferred to a bottom half. */
    aio_co_wake(t->co);
    t->woke_in_coroutine_returned = !t->done;
}

static void test_co_wake_from_coroutine(void)
{
    WakeTest t = { 0 };

    qemu_coroutine_spawn(sleeper_entry, &t);
    qemu_coroutine_spawn(waker_entry, &t);
    g_assert_true(t.woke_in_coroutine_returned);
    g_assert_false(t.done);
    AIO_POLL_WHILE(ctx, !t.done);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    ctx = qemu_get_aio_context();

    g_test_add_func("/coroutine/ping-pong", test_ping_pong);
    g_test_add_func("/coroutine/yield-enter", test_yield_enter);
    g_test_add_func("/coroutine/nesting", test_nesting);
    g_test_add_func("/coroutine/nested-yield", test_nested_yield);
    g_test_add_func("/coroutine/reenter-aborts", test_reenter_aborts);
    g_test_add_func("/coroutine/pool/reuse", test_pool_reuse);
    g_test_add_func("/coroutine/pool/stress", test_pool_stress);
    g_test_add_func("/coroutine/co-queue", test_co_queue);
    g_test_add_func("/coroutine/co-mutex", test_co_mutex);
    g_test_add_func("/coroutine/co-mutex-trylock", test_co_mutex_trylock);
    g_test_add_func("/coroutine/co-rwlock", test_co_rwlock);
    g_test_add_func("/coroutine/co-rwlock-upgrade", test_co_rwlock_upgrade);
    g_test_add_func("/coroutine/sleep", test_co_sleep);
    g_test_add_func("/coroutine/sleep-wake", test_co_sleep_wake);
    g_test_add_func("/coroutine/yield-to-loop", test_yield_to_loop);
    g_test_add_func("/coroutine/wake-from-thread", test_co_wake_from_thread);
    g_test_add_func("/coroutine/wake-from-coroutine", test_co_wake_from_coroutine);
    return g_test_run();
}
