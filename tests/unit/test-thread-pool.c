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

/* One key's requests: how many run at once, and in which order. */
typedef struct SerialKey {
    int running;
    int max_running;
    int next;             /* index the next request must have */
    bool out_of_order;
} SerialKey;

typedef struct SerialJob {
    SerialKey *key;
    int index;
} SerialJob;

static int serial_fn(void *opaque)
{
    SerialJob *j = opaque;
    SerialKey *k = j->key;
    int now = __atomic_add_fetch(&k->running, 1, __ATOMIC_SEQ_CST);

    if (now > __atomic_load_n(&k->max_running, __ATOMIC_SEQ_CST)) {
        __atomic_store_n(&k->max_running, now, __ATOMIC_SEQ_CST);
    }
    if (__atomic_load_n(&k->next, __ATOMIC_SEQ_CST) != j->index) {
        __atomic_store_n(&k->out_of_order, true, __ATOMIC_SEQ_CST);
    }
    __atomic_store_n(&k->next, j->index + 1, __ATOMIC_SEQ_CST);
    g_usleep(200);
    __atomic_sub_fetch(&k->running, 1, __ATOMIC_SEQ_CST);
    return j->index;
}

static void serial_done(void *opaque, int ret)
{
    SerialJob *j = opaque;

    g_assert_cmpint(ret, ==, j->index);
    j->index = -1;        /* completed */
}

/*
 * Requests of one key never overlap and run in submission order; two keys
 * and unkeyed requests still run beside each other.
 */
static void test_serial_key(void)
{
    enum { KEYS = 2, PER_KEY = 100 };
    SerialKey keys[KEYS] = { 0 };
    SerialJob jobs[KEYS][PER_KEY];
    int i, k, done = 0, unkeyed = 0;

    max_running = 0;
    for (i = 0; i < PER_KEY; i++) {
        for (k = 0; k < KEYS; k++) {
            jobs[k][i] = (SerialJob){ .key = &keys[k], .index = i };
            thread_pool_submit_aio_serial(ctx, &keys[k], serial_fn,
                                          &jobs[k][i], serial_done,
                                          &jobs[k][i]);
        }
        if (i % 10 == 0) {
            thread_pool_submit_aio(ctx, concurrency_fn, NULL, count_done,
                                   &unkeyed);
        }
    }
    while (done < KEYS * PER_KEY || unkeyed < PER_KEY / 10) {
        aio_poll(ctx, true);
        for (done = 0, k = 0; k < KEYS; k++) {
            for (i = 0; i < PER_KEY; i++) {
                done += jobs[k][i].index == -1;
            }
        }
    }
    for (k = 0; k < KEYS; k++) {
        g_assert_cmpint(keys[k].max_running, ==, 1);
        g_assert_false(keys[k].out_of_order);
        g_assert_cmpint(keys[k].next, ==, PER_KEY);
    }
    /* the unkeyed 2 ms sleeps were not held behind the keyed backlog */
    g_assert_cmpint(max_running, >=, 2);
}

/* A key is free again once its backlog has run: later requests still run. */
static void coroutine_fn serial_co_entry(void *opaque)
{
    SerialJob *j = opaque;

    g_assert_cmpint(thread_pool_submit_co_serial(j->key, serial_fn, j), ==,
                    j->index);
    j->index = -1;
}

static void test_serial_key_reuse(void)
{
    SerialKey key = { 0 };
    SerialJob job;
    int round;

    for (round = 0; round < 3; round++) {
        job = (SerialJob){ .key = &key, .index = round };
        qemu_coroutine_spawn(serial_co_entry, &job);
        AIO_POLL_WHILE(ctx, job.index != -1);
    }
    g_assert_cmpint(key.next, ==, 3);
    g_assert_cmpint(key.max_running, ==, 1);
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
    g_test_add_func("/thread-pool/serial-key", test_serial_key);
    g_test_add_func("/thread-pool/serial-key-reuse", test_serial_key_reuse);
    g_test_add_func("/thread-pool/submit-aio", test_submit_aio);
    g_test_add_func("/thread-pool/submit-co", test_submit_co);
    g_test_add_func("/thread-pool/idle-exit", test_idle_exit);
    return g_test_run();
}
