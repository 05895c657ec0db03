/*
 * test-thread-pool.c: worker threads, callback and coroutine forms.
 */
#include "qemu/osdep.h"
#include "qemu/thread-pool.h"

static AioContext *ctx;

typedef struct Job {
    int in;
    int ret;
    int calls;
    GThread *ran_on;
} Job;

static int square_fn(void *opaque)
{
    Job *j = opaque;

    j->ran_on = g_thread_self();
    return j->in < 0 ? -EINVAL : j->in * j->in;
}

static void job_done(void *opaque, int ret)
{
    Job *j = opaque;

    /* Completions run in the submitting context's thread. */
    g_assert_true(qemu_get_current_aio_context() == ctx);
    j->ret = ret;
    j->calls++;
}

static void test_submit_aio(void)
{
    enum { N = 2000 };
    Job *jobs = g_new0(Job, N);
    int i, done;

    for (i = 0; i < N; i++) {
        jobs[i].in = i % 7 == 3 ? -1 : i;
        thread_pool_submit_aio(ctx, square_fn, &jobs[i], job_done, &jobs[i]);
    }
    do {
        aio_poll(ctx, true);
        for (done = 0, i = 0; i < N; i++) {
            done += jobs[i].calls;
        }
    } while (done < N);

    for (i = 0; i < N; i++) {
        g_assert_cmpint(jobs[i].calls, ==, 1);
        g_assert_true(jobs[i].ran_on != g_thread_self());
        if (i % 7 == 3) {
            g_assert_cmpint(jobs[i].ret, ==, -EINVAL);
        } else {
            g_assert_cmpint(jobs[i].ret, ==, i * i);
        }
    }
    g_free(jobs);
}

typedef struct CoJob {
    int in;
    int ret;
    bool done;
} CoJob;

static int sleepy_fn(void *opaque)
{
    CoJob *j = opaque;

    g_usleep(1000);
    return j->in + 1;
}

static void coroutine_fn co_job_entry(void *opaque)
{
    CoJob *j = opaque;

    j->ret = thread_pool_submit_co(sleepy_fn, j);
    j->done = true;
}

static void test_submit_co(void)
{
    enum { N = 200 };
    CoJob jobs[N];
    int i, done;

    for (i = 0; i < N; i++) {
        jobs[i] = (CoJob){ .in = i };
        qemu_coroutine_spawn(co_job_entry, &jobs[i]);
        g_assert_false(jobs[i].done);
    }
    do {
        aio_poll(ctx, true);
        for (done = 0, i = 0; i < N; i++) {
            done += jobs[i].done;
        }
    } while (done < N);
    for (i = 0; i < N; i++) {
        g_assert_cmpint(jobs[i].ret, ==, i + 1);
    }
}

static int running;
static int max_running;

static int concurrency_fn(void *opaque)
{
    int now = __atomic_add_fetch(&running, 1, __ATOMIC_SEQ_CST);
    int seen = __atomic_load_n(&max_running, __ATOMIC_SEQ_CST);

    while (now > seen &&
           !__atomic_compare_exchange_n(&max_running, &seen, now, false,
                                        __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        /* retry */
    }
    g_usleep(2000);
    __atomic_sub_fetch(&running, 1, __ATOMIC_SEQ_CST);
    return 0;
}

static void count_done(void *opaque, int ret)
{
    (*(int *)opaque)++;
}

static void test_max_threads(void)
{
    int done = 0;
    int i;

    thread_pool_set_max_threads(3);
    max_running = 0;
    for (i = 0; i < 60; i++) {
        thread_pool_submit_aio(ctx, concurrency_fn, NULL, count_done, &done);
    }
    AIO_POLL_WHILE(ctx, done < 60);
    thread_pool_set_max_threads(64);
    g_assert_cmpint(max_running, >=, 1);
    g_assert_cmpint(max_running, <=, 3);
}

static void test_idle_exit(void)
{
    int64_t deadline;
    int done = 0;
    int i;

    thread_pool_set_idle_timeout_us(50 * 1000);
    for (i = 0; i < 8; i++) {
        thread_pool_submit_aio(ctx, concurrency_fn, NULL, count_done, &done);
    }
    AIO_POLL_WHILE(ctx, done < 8);
    g_assert_cmpint(thread_pool_get_num_threads(), >=, 1);

    /* Idle workers go away... */
    deadline = qemu_clock_get_ns() + 20 * NANOSECONDS_PER_SECOND;
    while (thread_pool_get_num_threads() > 0) {
        g_assert_cmpint(qemu_clock_get_ns(), <, deadline);
        g_usleep(10 * 1000);
    }
    /* ...and new ones start when work comes again. */
    done = 0;
    thread_pool_submit_aio(ctx, concurrency_fn, NULL, count_done, &done);
    AIO_POLL_WHILE(ctx, done < 1);
    thread_pool_set_idle_timeout_us(10 * G_USEC_PER_SEC);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    ctx = qemu_get_aio_context();

    /* max-threads first: workers started by other tests would still count. */
    g_test_add_func("/thread-pool/max-threads", test_max_threads);
    g_test_add_func("/thread-pool/submit-aio", test_submit_aio);
    g_test_add_func("/thread-pool/submit-co", test_submit_co);
    g_test_add_func("/thread-pool/idle-exit", test_idle_exit);
    return g_test_run();
}
