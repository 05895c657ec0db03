/*
 * coroutine.h: cooperative coroutines and the locks/queues built on them.
 *
 * Threading model: every coroutine belongs to the AioContext (thread) that
 * created it and only ever runs there.  A coroutine runs until it yields;
 * qemu_coroutine_enter() runs it until its next yield or its end.
 * Switching costs no system call.  Finished coroutines go back to a
 * per-thread pool so creating one is cheap.
 */
#ifndef QEMU_COROUTINE_H
#define QEMU_COROUTINE_H

#include "qemu/osdep.h"

typedef struct Coroutine Coroutine;
typedef struct AioContext AioContext;

typedef void coroutine_fn CoroutineEntry(void *opaque);

/* Create a coroutine; it does not run until entered. */
Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque);

/* Run co (from outside or from another coroutine) until it yields or ends. */
void qemu_coroutine_enter(Coroutine *co);
/* Enter co unless it is already running/scheduled (used by wake-ups that may race). */
void qemu_coroutine_enter_if_inactive(Coroutine *co);

/* Give control back to whoever entered us. */
void coroutine_fn qemu_coroutine_yield(void);

/* The running coroutine; NULL outside coroutines. */
Coroutine *qemu_coroutine_self(void);
bool qemu_in_coroutine(void);
bool qemu_coroutine_entered(Coroutine *co);
AioContext *qemu_coroutine_get_aio_context(Coroutine *co);

/*
 * Wake a coroutine that yielded: enter it now if we are in its AioContext
 * and not inside another coroutine, else schedule it from a bottom half.
 */
void aio_co_wake(Coroutine *co);
/* Always defer: enter co from a bottom half of ctx. */
void aio_co_schedule(AioContext *ctx, Coroutine *co);

/* Spawn and immediately start a coroutine. */
void qemu_coroutine_spawn(CoroutineEntry *entry, void *opaque);

/* Pool statistics (for tests). */
unsigned qemu_coroutine_pool_size(void);

/* ---- CoQueue: a FIFO of waiting coroutines ---- */
typedef struct CoMutex CoMutex;

typedef struct CoQueue {
    GQueue entries;   /* Coroutine * */
} CoQueue;

void qemu_co_queue_init(CoQueue *queue);
/* Yield until woken; if mutex is non-NULL it is released while waiting and re-taken after. */
void coroutine_fn qemu_co_queue_wait(CoQueue *queue, CoMutex *mutex);
bool qemu_co_queue_next(CoQueue *queue);            /* wake one; false if empty */
void qemu_co_queue_restart_all(CoQueue *queue);     /* wake all */
bool qemu_co_queue_empty(CoQueue *queue);
/* Wake one from outside a coroutine as well */
bool qemu_co_enter_next(CoQueue *queue);

/* ---- CoMutex: a mutex whose waiters yield ---- */
struct CoMutex {
    bool locked;
    Coroutine *holder;
    CoQueue waiters;
};

void qemu_co_mutex_init(CoMutex *mutex);
void coroutine_fn qemu_co_mutex_lock(CoMutex *mutex);
void coroutine_fn qemu_co_mutex_unlock(CoMutex *mutex);
bool qemu_co_mutex_trylock(CoMutex *mutex);
void qemu_co_mutex_assert_locked(CoMutex *mutex);

/* ---- CoRwlock: many readers or one writer; writers are not starved ---- */
typedef struct CoRwlock {
    int readers;
    bool writer;
    int pending_writers;
    CoQueue read_waiters;
    CoQueue write_waiters;
} CoRwlock;

void qemu_co_rwlock_init(CoRwlock *lock);
void coroutine_fn qemu_co_rwlock_rdlock(CoRwlock *lock);
void coroutine_fn qemu_co_rwlock_wrlock(CoRwlock *lock);
void coroutine_fn qemu_co_rwlock_unlock(CoRwlock *lock);
/* Turn a held read lock into a write lock (waits for other readers). */
void coroutine_fn qemu_co_rwlock_upgrade(CoRwlock *lock);
void coroutine_fn qemu_co_rwlock_downgrade(CoRwlock *lock);

/* ---- Sleeping ---- */
/* Sleep for ns nanoseconds of the monotonic clock. */
void coroutine_fn qemu_co_sleep_ns(int64_t ns);

/*
 * A sleep that can be cut short: qemu_co_sleep_wake(w) enters the sleeper
 * early (used by jobs whose rate limit changes, cancel, ...).
 */
typedef struct QemuCoSleep {
    Coroutine *to_wake;
} QemuCoSleep;
void coroutine_fn qemu_co_sleep_ns_wakeable(QemuCoSleep *w, int64_t ns);
/* Sleep until woken (no timeout). */
void coroutine_fn qemu_co_sleep(QemuCoSleep *w);
void qemu_co_sleep_wake(QemuCoSleep *w);

/* Yield and let other ready coroutines / handlers run (schedules self via BH). */
void coroutine_fn qemu_co_yield_to_loop(void);

#endif /* QEMU_COROUTINE_H */
