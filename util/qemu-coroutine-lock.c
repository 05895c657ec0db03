/*
 * qemu-coroutine-lock.c: CoQueue, CoMutex and CoRwlock.
 *
 * All three hand ownership over directly to the coroutine they wake, in
 * FIFO order: the lock is never released to the crowd, so exactly one
 * waiter is woken per release (no thundering herd) and none is overtaken.
 */
#include "qemu/osdep.h"
#include "qemu/aio.h"
#include "coroutine-int.h"
#include "util-trace.h"

/* ---- CoQueue ---- */

void qemu_co_queue_init(CoQueue *queue)
{
    g_queue_init(&queue->entries);
}

static void co_queue_push(CoQueue *queue, Coroutine *co)
{
    g_queue_push_tail_link(&queue->entries, &co->co_queue_link);
}

static Coroutine *co_queue_pop(CoQueue *queue)
{
    GList *link = g_queue_pop_head_link(&queue->entries);

    return link ? link->data : NULL;
}

void coroutine_fn qemu_co_queue_wait(CoQueue *queue, CoMutex *mutex)
{
    Coroutine *self = qemu_coroutine_self();

    assert(self);
    co_queue_push(queue, self);
    if (mutex) {
        qemu_co_mutex_unlock(mutex);
    }
    qemu_coroutine_yield();
    if (mutex) {
        qemu_co_mutex_lock(mutex);
    }
}

bool qemu_co_queue_next(CoQueue *queue)
{
    Coroutine *co = co_queue_pop(queue);

    if (!co) {
        return false;
    }
    aio_co_wake(co);
    return true;
}

void qemu_co_queue_restart_all(CoQueue *queue)
{
    while (qemu_co_queue_next(queue)) {
        /* nothing */
    }
}

bool qemu_co_queue_empty(CoQueue *queue)
{
    return g_queue_is_empty(&queue->entries);
}

bool qemu_co_enter_next(CoQueue *queue)
{
    /* aio_co_wake() enters directly from outside a coroutine. */
    return qemu_co_queue_next(queue);
}

/* ---- CoMutex ---- */

void qemu_co_mutex_init(CoMutex *mutex)
{
    mutex->locked = false;
    mutex->holder = NULL;
    qemu_co_queue_init(&mutex->waiters);
}

void coroutine_fn qemu_co_mutex_lock(CoMutex *mutex)
{
    Coroutine *self = qemu_coroutine_self();

    assert(self);
    if (!mutex->locked) {
        trace_qemu_co_mutex_lock_uncontended(mutex, self);
        mutex->locked = true;
        mutex->holder = self;
        return;
    }
    assert(mutex->holder != self);

    trace_qemu_co_mutex_lock_entry(mutex, self);
    co_queue_push(&mutex->waiters, self);
    qemu_coroutine_yield();
    /* The unlocker handed the mutex to us. */
    assert(mutex->locked && mutex->holder == self);
    trace_qemu_co_mutex_lock_return(mutex, self);
}

void coroutine_fn qemu_co_mutex_unlock(CoMutex *mutex)
{
    Coroutine *self = qemu_coroutine_self();
    Coroutine *next;

    trace_qemu_co_mutex_unlock_entry(mutex, self);
    assert(mutex->locked);
    assert(mutex->holder == self);

    next = co_queue_pop(&mutex->waiters);
    if (next) {
        mutex->holder = next;
        aio_co_wake(next);
    } else {
        mutex->locked = false;
        mutex->holder = NULL;
    }
    trace_qemu_co_mutex_unlock_return(mutex, self);
}

bool qemu_co_mutex_trylock(CoMutex *mutex)
{
    Coroutine *self = qemu_coroutine_self();

    assert(self);
    if (mutex->locked) {
        return false;
    }
    mutex->locked = true;
    mutex->holder = self;
    return true;
}

void qemu_co_mutex_assert_locked(CoMutex *mutex)
{
    assert(mutex->locked);
    assert(mutex->holder == qemu_coroutine_self());
}

/* ---- CoRwlock ---- */

void qemu_co_rwlock_init(CoRwlock *lock)
{
    memset(lock, 0, sizeof(*lock));
    qemu_co_queue_init(&lock->read_waiters);
    qemu_co_queue_init(&lock->write_waiters);
}

static bool co_rwlock_grant_writer(CoRwlock *lock)
{
    Coroutine *co = co_queue_pop(&lock->write_waiters);

    if (!co) {
        return false;
    }
    lock->pending_writers--;
    lock->writer = true;
    aio_co_wake(co);
    return true;
}

static bool co_rwlock_grant_readers(CoRwlock *lock)
{
    Coroutine *co;
    bool any = false;

    while ((co = co_queue_pop(&lock->read_waiters))) {
        lock->readers++;
        aio_co_wake(co);
        any = true;
    }
    return any;
}

void coroutine_fn qemu_co_rwlock_rdlock(CoRwlock *lock)
{
    Coroutine *self = qemu_coroutine_self();

    assert(self);
    /* Queue behind waiting writers so that they are not starved. */
    if (!lock->writer && lock->pending_writers == 0) {
        lock->readers++;
        return;
    }
    co_queue_push(&lock->read_waiters, self);
    qemu_coroutine_yield();
    assert(lock->readers > 0 && !lock->writer);
}

/* Queue self as a writer until the lock is handed over to it. */
static void coroutine_fn co_rwlock_wait_writer(CoRwlock *lock, Coroutine *self)
{
    lock->pending_writers++;
    co_queue_push(&lock->write_waiters, self);
    qemu_coroutine_yield();
    assert(lock->writer && lock->readers == 0);
}

void coroutine_fn qemu_co_rwlock_wrlock(CoRwlock *lock)
{
    Coroutine *self = qemu_coroutine_self();

    assert(self);
    if (!lock->writer && lock->readers == 0) {
        lock->writer = true;
        return;
    }
    co_rwlock_wait_writer(lock, self);
}

void coroutine_fn qemu_co_rwlock_unlock(CoRwlock *lock)
{
    if (lock->writer) {
        lock->writer = false;
        /* Alternate: readers that waited for this writer go first. */
        if (!co_rwlock_grant_readers(lock)) {
            co_rwlock_grant_writer(lock);
        }
        return;
    }

    assert(lock->readers > 0);
    lock->readers--;
    if (lock->readers == 0) {
        if (!co_rwlock_grant_writer(lock)) {
            co_rwlock_grant_readers(lock);
        }
    }
}

void coroutine_fn qemu_co_rwlock_upgrade(CoRwlock *lock)
{
    Coroutine *self = qemu_coroutine_self();

    assert(self);
    assert(lock->readers > 0 && !lock->writer);
    lock->readers--;
    if (lock->readers == 0) {
        lock->writer = true;
        return;
    }
    /* Wait for the other readers like any writer would. */
    co_rwlock_wait_writer(lock, self);
}

void coroutine_fn qemu_co_rwlock_downgrade(CoRwlock *lock)
{
    assert(lock->writer && lock->readers == 0);
    lock->writer = false;
    lock->readers = 1;
    /* Waiting readers can share with us now. */
    co_rwlock_grant_readers(lock);
}
