/*
 * test-aio-timers.c: wake-ups of a blocking aio_poll() by short timers.
 *
 * Each case drives thousands of sub-microsecond to few-microsecond
 * deadlines through aio_poll(ctx, true), alone and mixed with wake-ups from
 * other sources (timers re-armed from callbacks, bottom halves scheduled
 * from another thread, thread-pool completions, io_uring completions).  A
 * lost wake-up leaves the loop blocked in epoll with a timer due; a
 * watchdog thread turns such a stall (no progress at all for many seconds,
 * where a healthy run makes progress every few microseconds) into a test
 * failure instead of a hang.
 */
#include "qemu/osdep.h"
#include "qemu/aio.h"
#include "qemu/coroutine.h"
#include "qemu/thread-pool.h"
#include <liburing.h>

static AioContext *ctx;

/* ---- watchdog: a stall becomes a failure, not a hang ---- */

#define WATCHDOG_STALL_S 20

static struct {
    GThread *thread;
    GMutex lock;
    GCond cond;
    bool stop;
    unsigned progress;      /* atomic: bumped by every callback of a case */
    bool stalled;           /* atomic */
} watchdog;

static void progress(void)
{
    __atomic_fetch_add(&watchdog.progress, 1, __ATOMIC_RELAXED);
}

static bool stalled(void)
{
    return __atomic_load_n(&watchdog.stalled, __ATOMIC_SEQ_CST);
}

static gpointer watchdog_thread(gpointer opaque)
{
    unsigned last = 0;
    int idle_s = 0;

    g_mutex_lock(&watchdog.lock);
    while (!watchdog.stop) {
        unsigned now;

        g_cond_wait_until(&watchdog.cond, &watchdog.lock,
                          g_get_monotonic_time() + G_USEC_PER_SEC);
        now = __atomic_load_n(&watchdog.progress, __ATOMIC_RELAXED);
        idle_s = now == last ? idle_s + 1 : 0;
        last = now;
        if (idle_s >= WATCHDOG_STALL_S) {
            /* Wake the loop so that the case can report the stall. */
            __atomic_store_n(&watchdog.stalled, true, __ATOMIC_SEQ_CST);
            aio_notify(ctx);
        }
    }
    g_mutex_unlock(&watchdog.lock);
    return NULL;
}

static void watchdog_start(void)
{
    watchdog.stop = false;
    watchdog.stalled = false;
    watchdog.thread = g_thread_new("watchdog", watchdog_thread, NULL);
}

static void watchdog_stop(void)
{
    g_mutex_lock(&watchdog.lock);
    watchdog.stop = true;
    g_cond_signal(&watchdog.cond);
    g_mutex_unlock(&watchdog.lock);
    g_thread_join(watchdog.thread);
}

/* Poll until *done; fail (rather than hang) if the loop stops waking up. */
static void poll_until(const bool *done)
{
    watchdog_start();
    while (!*done && !stalled()) {
        aio_poll(ctx, true);
    }
    watchdog_stop();
    if (stalled()) {
        g_test_message("aio_poll() stayed blocked for %d s without progress",
                       WATCHDOG_STALL_S);
    }
    g_assert_false(stalled());
    g_assert_true(*done);
}

/* Deadlines 0..2047 ns away: most expire between arming and polling. */
static int64_t short_ns(unsigned i)
{
    return (i * 37) % 2048;
}

/* ---- coroutines sleeping on short timers ---- */

#define SLEEPS 20000

typedef struct Sleeper {
    unsigned iterations;
    unsigned done_count;
    unsigned offset;
    unsigned *running;
    bool *all_done;
} Sleeper;

static void coroutine_fn sleeper_co(void *opaque)
{
    Sleeper *s = opaque;
    unsigned i;

    for (i = 0; i < s->iterations; i++) {
        qemu_co_sleep_ns(short_ns(i + s->offset));
        s->done_count++;
        progress();
    }
    if (--*s->running == 0) {
        *s->all_done = true;
    }
}

static void run_sleepers(unsigned n, unsigned iterations)
{
    g_autofree Sleeper *s = g_new0(Sleeper, n);
    unsigned running = n;
    bool done = false;
    unsigned i;

    for (i = 0; i < n; i++) {
        s[i] = (Sleeper) {
            .iterations = iterations, .offset = i * 101,
            .running = &running, .all_done = &done,
        };
        qemu_coroutine_enter(qemu_coroutine_create(sleeper_co, &s[i]));
    }
    poll_until(&done);
    for (i = 0; i < n; i++) {
        g_assert_cmpuint(s[i].done_count, ==, iterations);
    }
}

/* One coroutine, thousands of 0..2 us sleeps, each a fresh poll. */
static void test_co_sleep_short(void)
{
    run_sleepers(1, SLEEPS);
}

/* Several coroutines: several short timers pending at once. */
static void test_co_sleep_many(void)
{
    run_sleepers(8, SLEEPS / 8);
}

/* The very case of test-dirty-bitmap: sleep 1 us inside a synchronous wrapper. */
static void coroutine_fn sleep_1us_co(void *opaque)
{
    qemu_co_sleep_ns(1000);
    *(bool *)opaque = true;
    progress();
}

static void test_co_sleep_1us_sync(void)
{
    unsigned i;

    for (i = 0; i < SLEEPS / 4; i++) {
        bool done = false;

        qemu_coroutine_enter(qemu_coroutine_create(sleep_1us_co, &done));
        poll_until(&done);
    }
}

/* ---- timers re-armed from their own and other timers' callbacks ---- */

typedef struct RearmTest {
    QEMUTimer *self_timer;      /* re-arms itself a short time ahead */
    QEMUTimer *other_timer;     /* armed by self_timer's callback */
    QEMUTimer *past_timer;      /* re-arms itself in the past */
    unsigned self_runs;
    unsigned other_runs;
    unsigned past_runs;
    bool done;
} RearmTest;

static void rearm_self_cb(void *opaque)
{
    RearmTest *r = opaque;

    progress();
    if (++r->self_runs == SLEEPS) {
        r->done = true;
        timer_del(r->past_timer);
        return;
    }
    timer_mod(r->self_timer, qemu_clock_get_ns() + short_ns(r->self_runs));
    /* An earlier deadline than the one just set, from inside a callback. */
    if (r->self_runs % 3 == 0) {
        timer_mod(r->other_timer, qemu_clock_get_ns() + short_ns(r->self_runs) / 2);
    }
}

static void rearm_other_cb(void *opaque)
{
    RearmTest *r = opaque;

    r->other_runs++;
    progress();
}

static void rearm_past_cb(void *opaque)
{
    RearmTest *r = opaque;

    r->past_runs++;
    progress();
    /* Due again at once: runs once per round and must not starve the rest. */
    timer_mod(r->past_timer, qemu_clock_get_ns() - 1);
}

static void test_timer_rearm_from_callbacks(void)
{
    RearmTest r = { 0 };

    r.self_timer = aio_timer_new(ctx, rearm_self_cb, &r);
    r.other_timer = aio_timer_new(ctx, rearm_other_cb, &r);
    r.past_timer = aio_timer_new(ctx, rearm_past_cb, &r);
    timer_mod(r.self_timer, qemu_clock_get_ns() + 1000);
    timer_mod(r.past_timer, qemu_clock_get_ns());

    poll_until(&r.done);
    g_assert_cmpuint(r.self_runs, ==, SLEEPS);
    g_assert_cmpuint(r.other_runs, >, 0);
    g_assert_cmpuint(r.past_runs, >, 0);

    /* Whatever is still armed fires once the loop is idle otherwise. */
    if (timer_pending(r.other_timer)) {
        unsigned before = r.other_runs;

        while (timer_pending(r.other_timer)) {
            aio_poll(ctx, true);
        }
        g_assert_cmpuint(r.other_runs, ==, before + 1);
    }
    timer_free(r.self_timer);
    timer_free(r.other_timer);
    timer_free(r.past_timer);
}

/* ---- short timers mixed with wake-ups from other threads ---- */

typedef struct MixTest {
    unsigned bhs_wanted;
    unsigned bhs_run;           /* in the loop thread */
    unsigned pool_wanted;
    unsigned pool_done;
    unsigned sleeps_done;
    bool sleeper_done;
    bool done;
} MixTest;

static void mix_check_done(MixTest *m)
{
    m->done = m->sleeper_done && m->bhs_run == m->bhs_wanted &&
              m->pool_done == m->pool_wanted;
}

static void mix_bh_cb(void *opaque)
{
    MixTest *m = opaque;

    m->bhs_run++;
    progress();
    mix_check_done(m);
}

static gpointer mix_bh_thread(gpointer opaque)
{
    MixTest *m = opaque;
    unsigned i;

    for (i = 0; i < m->bhs_wanted; i++) {
        aio_bh_schedule_oneshot(ctx, mix_bh_cb, m);
        if (i % 64 == 0) {
            g_usleep(1);
        }
    }
    return NULL;
}

static int mix_pool_func(void *opaque)
{
    return 0;
}

static void mix_pool_cb(void *opaque, int ret)
{
    MixTest *m = opaque;

    g_assert_cmpint(ret, ==, 0);
    m->pool_done++;
    progress();
    mix_check_done(m);
}

static void coroutine_fn mix_sleeper_co(void *opaque)
{
    MixTest *m = opaque;
    unsigned i;

    for (i = 0; i < SLEEPS / 2; i++) {
        qemu_co_sleep_ns(short_ns(i));
        m->sleeps_done++;
        progress();
    }
    m->sleeper_done = true;
    mix_check_done(m);
}

static void test_timers_with_thread_wakeups(void)
{
    MixTest m = { .bhs_wanted = SLEEPS, .pool_wanted = 2000 };
    GThread *thread;
    unsigned i;

    qemu_coroutine_enter(qemu_coroutine_create(mix_sleeper_co, &m));
    thread = g_thread_new("bh-producer", mix_bh_thread, &m);
    for (i = 0; i < m.pool_wanted; i++) {
        thread_pool_submit_aio(ctx, mix_pool_func, NULL, mix_pool_cb, &m);
    }
    poll_until(&m.done);
    g_thread_join(thread);
    g_assert_cmpuint(m.sleeps_done, ==, SLEEPS / 2);
    g_assert_cmpuint(m.bhs_run, ==, m.bhs_wanted);
    g_assert_cmpuint(m.pool_done, ==, m.pool_wanted);
}

/* ---- io_uring completions, more than the completion ring holds ---- */

#define URING_NOPS 5000

typedef struct NopTest {
    AioUringRequest req;
    unsigned *completed;
    bool *done;
} NopTest;

static void nop_cb(void *opaque, int res)
{
    NopTest *n = opaque;

    g_assert_cmpint(res, ==, 0);
    progress();
    if (++*n->completed == URING_NOPS) {
        *n->done = true;
    }
}

/*
 * Thousands of requests complete before the loop reaps any: the kernel
 * keeps what does not fit in the completion ring aside, and the loop must
 * still see and reap all of them.
 */
static void test_uring_overflow(void)
{
    g_autofree NopTest *nops = g_new0(NopTest, URING_NOPS);
    unsigned completed = 0;
    bool done = false;
    unsigned i;

    if (!aio_uring_available(ctx)) {
        g_test_skip("io_uring is not available");
        return;
    }
    for (i = 0; i < URING_NOPS; i++) {
        struct io_uring_sqe *sqe = aio_uring_get_sqe(ctx);

        g_assert_nonnull(sqe);
        io_uring_prep_nop(sqe);
        nops[i] = (NopTest) {
            .req = { .cb = nop_cb, .opaque = &nops[i] },
            .completed = &completed, .done = &done,
        };
        aio_uring_submit_sqe(ctx, sqe, &nops[i].req);
    }
    aio_uring_flush(ctx);
    poll_until(&done);
    g_assert_cmpuint(completed, ==, URING_NOPS);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    ctx = qemu_get_aio_context();

    g_test_add_func("/aio-timers/co-sleep-short", test_co_sleep_short);
    g_test_add_func("/aio-timers/co-sleep-many", test_co_sleep_many);
    g_test_add_func("/aio-timers/co-sleep-1us-sync", test_co_sleep_1us_sync);
    g_test_add_func("/aio-timers/rearm-from-callbacks",
                    test_timer_rearm_from_callbacks);
    g_test_add_func("/aio-timers/with-thread-wakeups",
                    test_timers_with_thread_wakeups);
    g_test_add_func("/aio-timers/io_uring-overflow", test_uring_overflow);
    return g_test_run();
}
