/*
 * thread-pool.c: worker threads for blocking calls.
 *
 * One process-wide pool: a FIFO of requests protected by a mutex, workers
 * started on demand (up to max_threads) that exit after being idle for
 * THREAD_POOL_IDLE_US.  When func returns, the result travels back to the
 * submitting AioContext in a oneshot bottom half, where the completion
 * callback runs.
 *
 * Requests submitted with a serial key run one at a time per key, in the
 * order they were submitted: while one runs, the others wait in the key's
 * backlog (not in the shared queue), and the worker that finishes one
 * takes the next itself, with no trip through the submitter's event loop.
 * The file driver keys large buffered writes by file: the kernel holds
 * the inode lock across each of them, so a second writer to the same file
 * could only spin or sleep on that lock.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/thread-pool.h"
#include "util-trace.h"

#include <pthread.h>
#include <signal.h>

#define THREAD_POOL_DEFAULT_MAX 64
#define THREAD_POOL_IDLE_US (10 * G_USEC_PER_SEC)

typedef struct ThreadPoolRequest {
    ThreadPoolFunc *func;
    void *arg;
    ThreadPoolCompletionFunc *cb;
    void *opaque;
    AioContext *ctx;
    const void *key;      /* serial key, or NULL */
    int ret;
    GList link;
} ThreadPoolRequest;

typedef struct ThreadPool {
    GMutex lock;          /* static GMutex/GCond need no initialisation */
    GCond request_cond;
    GQueue requests;      /* of ThreadPoolRequest, by link */
    GHashTable *serials;  /* key -> GQueue backlog, while one of it runs */
    int cur_threads;
    int idle_threads;
    int max_threads;
    gint64 idle_timeout_us;
} ThreadPool;

static ThreadPool thread_pool = {
    .requests = G_QUEUE_INIT,
    .max_threads = THREAD_POOL_DEFAULT_MAX,
    .idle_timeout_us = THREAD_POOL_IDLE_US,
};

static void thread_pool_complete_bh(void *opaque)
{
    ThreadPoolRequest *req = opaque;

    trace_thread_pool_complete(&thread_pool, req, req->opaque, req->ret);
    req->cb(req->opaque, req->ret);
    g_free(req);
}

/*
 * Called with pool->lock held when a keyed request has run: the next
 * request of its key, which the caller runs at once, or NULL when the
 * backlog is empty and the key is free again.
 */
static ThreadPoolRequest *thread_pool_serial_next(ThreadPool *pool,
                                                  const void *key)
{
    GQueue *backlog = g_hash_table_lookup(pool->serials, key);
    GList *link;

    assert(backlog);
    link = g_queue_pop_head_link(backlog);
    if (!link) {
        g_hash_table_remove(pool->serials, key);
        return NULL;
    }
    return link->data;
}

/* Runs req and, when it is keyed, the backlog of its key after it. */
static void thread_pool_run(ThreadPool *pool, ThreadPoolRequest *req)
{
    while (req) {
        const void *key = req->key;

        req->ret = req->func(req->arg);
        aio_bh_schedule_oneshot(req->ctx, thread_pool_complete_bh, req);
        if (!key) {
            return;
        }
        g_mutex_lock(&pool->lock);
        req = thread_pool_serial_next(pool, key);
        g_mutex_unlock(&pool->lock);
    }
}

static gpointer thread_pool_worker(gpointer opaque)
{
    ThreadPool *pool = opaque;

    g_mutex_lock(&pool->lock);
    for (;;) {
        ThreadPoolRequest *req;
        GList *link;

        while (g_queue_is_empty(&pool->requests)) {
            gint64 deadline = g_get_monotonic_time() + pool->idle_timeout_us;
            bool woken;

            pool->idle_threads++;
            woken = g_cond_wait_until(&pool->request_cond, &pool->lock,
                                      deadline);
            pool->idle_threads--;
            if (!woken && g_queue_is_empty(&pool->requests)) {
                pool->cur_threads--;
                g_mutex_unlock(&pool->lock);
                return NULL;
            }
        }
        link = g_queue_pop_head_link(&pool->requests);
        req = link->data;
        g_mutex_unlock(&pool->lock);

        thread_pool_run(pool, req);

        g_mutex_lock(&pool->lock);
    }
}

/* Called with pool->lock held. */
static void thread_pool_spawn(ThreadPool *pool)
{
    sigset_t all, old;
    GError *err = NULL;
    GThread *thread;

    /* Workers never handle signals: start them with everything blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    thread = g_thread_try_new("blockd-worker", thread_pool_worker, pool, &err);
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (!thread) {
        if (pool->cur_threads == 0) {
            error_report("cannot start a worker thread: %s", err->message);
            abort();
        }
        /* The running workers will get to the request eventually. */
        g_error_free(err);
        return;
    }
    pool->cur_threads++;
    trace_thread_pool_spawn(pool, pool->cur_threads);
    g_thread_unref(thread);
}

/*
 * Called with pool->lock held: true if req must wait in its key's backlog
 * because another request of the key runs or waits; otherwise the key is
 * now taken by req.
 */
static bool thread_pool_serial_defer(ThreadPool *pool, ThreadPoolRequest *req)
{
    GQueue *backlog;

    if (!pool->serials) {
        pool->serials = g_hash_table_new_full(NULL, NULL, NULL,
                                              (GDestroyNotify)g_queue_free);
    }
    backlog = g_hash_table_lookup(pool->serials, req->key);
    if (backlog) {
        g_queue_push_tail_link(backlog, &req->link);
        trace_thread_pool_serial_defer(pool, req, req->key, backlog->length);
        return true;
    }
    g_hash_table_insert(pool->serials, (gpointer)req->key, g_queue_new());
    return false;
}

void thread_pool_submit_aio_serial(AioContext *ctx, const void *key,
                                   ThreadPoolFunc *func, void *arg,
                                   ThreadPoolCompletionFunc *cb, void *opaque)
{
    ThreadPool *pool = &thread_pool;
    ThreadPoolRequest *req = g_new0(ThreadPoolRequest, 1);

    assert(ctx);
    req->func = func;
    req->arg = arg;
    req->cb = cb;
    req->opaque = opaque;
    req->ctx = ctx;
    req->key = key;
    req->link.data = req;
    trace_thread_pool_submit(pool, req, opaque);

    g_mutex_lock(&pool->lock);
    if (key && thread_pool_serial_defer(pool, req)) {
        g_mutex_unlock(&pool->lock);
        return;
    }
    g_queue_push_tail_link(&pool->requests, &req->link);
    if (pool->requests.length > (guint)pool->idle_threads &&
        pool->cur_threads < pool->max_threads) {
        thread_pool_spawn(pool);
    }
    g_cond_signal(&pool->request_cond);
    g_mutex_unlock(&pool->lock);
}

void thread_pool_submit_aio(AioContext *ctx, ThreadPoolFunc *func, void *arg,
                            ThreadPoolCompletionFunc *cb, void *opaque)
{
    thread_pool_submit_aio_serial(ctx, NULL, func, arg, cb, opaque);
}

typedef struct ThreadPoolCo {
    Coroutine *co;
    int ret;
    bool done;
} ThreadPoolCo;

static void thread_pool_co_cb(void *opaque, int ret)
{
    ThreadPoolCo *tpc = opaque;

    tpc->ret = ret;
    tpc->done = true;
    aio_co_wake(tpc->co);
}

int coroutine_fn thread_pool_submit_co_serial(const void *key,
                                              ThreadPoolFunc *func, void *arg)
{
    ThreadPoolCo tpc = { .co = qemu_coroutine_self() };
    AioContext *ctx;

    assert(tpc.co);
    ctx = qemu_coroutine_get_aio_context(tpc.co);
    if (!ctx) {
        ctx = qemu_get_current_aio_context();
    }
    thread_pool_submit_aio_serial(ctx, key, func, arg, thread_pool_co_cb, &tpc);
    while (!tpc.done) {
        qemu_coroutine_yield();
    }
    return tpc.ret;
}

int coroutine_fn thread_pool_submit_co(ThreadPoolFunc *func, void *arg)
{
    return thread_pool_submit_co_serial(NULL, func, arg);
}

void thread_pool_set_max_threads(int max)
{
    g_mutex_lock(&thread_pool.lock);
    thread_pool.max_threads = MAX(max, 1);
    g_mutex_unlock(&thread_pool.lock);
}

void thread_pool_set_idle_timeout_us(int64_t us)
{
    g_mutex_lock(&thread_pool.lock);
    thread_pool.idle_timeout_us = MAX(us, 1);
    /* Waiting workers restart their wait with the new timeout. */
    g_cond_broadcast(&thread_pool.request_cond);
    g_mutex_unlock(&thread_pool.lock);
}

int thread_pool_get_num_threads(void)
{
    int n;

    g_mutex_lock(&thread_pool.lock);
    n = thread_pool.cur_threads;
    g_mutex_unlock(&thread_pool.lock);
    return n;
}
