/*
 * thread-pool.h: worker threads for blocking calls (fsync, fallocate,
 * preadv/pwritev with aio=threads, open, ...).  The function runs on a
 * worker thread; completion is delivered back to the submitting AioContext.
 */
#ifndef QEMU_THREAD_POOL_H
#define QEMU_THREAD_POOL_H

#include "qemu/aio.h"

/* Runs on a worker thread; return >= 0 or -errno. */
typedef int ThreadPoolFunc(void *opaque);
typedef void ThreadPoolCompletionFunc(void *opaque, int ret);

/* Callback style: cb(opaque, ret) runs in ctx after func finished. */
void thread_pool_submit_aio(AioContext *ctx, ThreadPoolFunc *func, void *arg,
                            ThreadPoolCompletionFunc *cb, void *opaque);
/* Coroutine style: yields until func has run; returns its result. */
int coroutine_fn thread_pool_submit_co(ThreadPoolFunc *func, void *arg);
/*
 * The same, but requests with the same non-NULL key run one at a time, in
 * submission order (a NULL key is the unkeyed call above).
 */
void thread_pool_submit_aio_serial(AioContext *ctx, const void *key,
                                   ThreadPoolFunc *func, void *arg,
                                   ThreadPoolCompletionFunc *cb, void *opaque);
int coroutine_fn thread_pool_submit_co_serial(const void *key,
                                              ThreadPoolFunc *func, void *arg);
/* Maximum number of worker threads (default 64). */
void thread_pool_set_max_threads(int max);
/* How long an idle worker waits for work before exiting (default 10 s). */
void thread_pool_set_idle_timeout_us(int64_t us);
/* Number of running worker threads (for tests and statistics). */
int thread_pool_get_num_threads(void);

#endif
