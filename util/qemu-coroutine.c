/*
 * qemu-coroutine.c: coroutine life cycle (create, enter, yield, terminate)
 * and the per-thread pool of finished coroutines.
 */
#include "qemu/osdep.h"
#include "qemu/aio.h"
#include "coroutine-int.h"
#include "util-trace.h"

/* Finished coroutines kept per thread for reuse (stack included). */
#define COROUTINE_POOL_MAX 64

typedef struct CoroutinePool {
    Coroutine *head;
    unsigned size;
} CoroutinePool;

static void coroutine_pool_free(gpointer p)
{
    CoroutinePool *pool = p;
    Coroutine *co;

    while ((co = pool->head)) {
        pool->head = co->pool_next;
        qemu_coroutine_delete(co);
    }
    g_free(pool);
}

/* Freed (with its coroutines) when the thread exits. */
static GPrivate coroutine_pool_key = G_PRIVATE_INIT(coroutine_pool_free);

static CoroutinePool *coroutine_pool_get(void)
{
    CoroutinePool *pool = g_private_get(&coroutine_pool_key);

    if (unlikely(!pool)) {
        pool = g_new0(CoroutinePool, 1);
        g_private_set(&coroutine_pool_key, pool);
    }
    return pool;
}

unsigned qemu_coroutine_pool_size(void)
{
    return coroutine_pool_get()->size;
}

Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque)
{
    CoroutinePool *pool = coroutine_pool_get();
    Coroutine *co = pool->head;

    if (co) {
        pool->head = co->pool_next;
        pool->size--;
        co->pool_next = NULL;
    } else {
        co = qemu_coroutine_new();
    }
    co->entry = entry;
    co->entry_arg = opaque;
    co->caller = NULL;
    co->ctx = NULL;
    co->scheduled = NULL;
    co->co_scheduled_next = NULL;
    return co;
}

static void coroutine_release(Coroutine *co)
{
    CoroutinePool *pool = coroutine_pool_get();

    if (pool->size < COROUTINE_POOL_MAX) {
        co->entry = NULL;
        co->entry_arg = NULL;
        co->pool_next = pool->head;
        pool->head = co;
        pool->size++;
        return;
    }
    qemu_coroutine_delete(co);
}

void qemu_aio_coroutine_enter(AioContext *ctx, Coroutine *co)
{
    Coroutine *self = qemu_coroutine_current();
    CoroutineAction ret;

    trace_qemu_coroutine_enter(self, co, co->entry_arg);

    if (co->caller) {
        fprintf(stderr, "blockd: co-routine re-entered recursively\n");
        abort();
    }
    if (co->scheduled) {
        fprintf(stderr, "blockd: co-routine was already scheduled in '%s'\n",
                co->scheduled);
        abort();
    }
    if (!co->entry) {
        fprintf(stderr, "blockd: entering a co-routine that has terminated\n");
        abort();
    }

    co->caller = self;
    co->ctx = ctx;
    ret = qemu_coroutine_switch(self, co, COROUTINE_ENTER);

    switch (ret) {
    case COROUTINE_YIELD:
        return;
    case COROUTINE_TERMINATE:
        trace_qemu_coroutine_terminate(co);
        co->caller = NULL;
        coroutine_release(co);
        return;
    default:
        abort();
    }
}

void qemu_coroutine_enter(Coroutine *co)
{
    Coroutine *self = qemu_coroutine_current();

    /* A nested coroutine runs in the context of the one that enters it. */
    qemu_aio_coroutine_enter(qemu_coroutine_is_leader(self) ?
                             qemu_get_current_aio_context() : self->ctx, co);
}

void qemu_coroutine_enter_if_inactive(Coroutine *co)
{
    if (!qemu_coroutine_entered(co)) {
        qemu_coroutine_enter(co);
    }
}

void coroutine_fn qemu_coroutine_yield(void)
{
    Coroutine *self = qemu_coroutine_current();
    Coroutine *to = self->caller;

    trace_qemu_coroutine_yield(self, to);

    if (!to) {
        fprintf(stderr, "blockd: co-routine is yielding to no one\n");
        abort();
    }
    self->caller = NULL;
    qemu_coroutine_switch(self, to, COROUTINE_YIELD);
}

Coroutine *qemu_coroutine_self(void)
{
    Coroutine *co = qemu_coroutine_current();

    return qemu_coroutine_is_leader(co) ? NULL : co;
}

bool qemu_in_coroutine(void)
{
    return !qemu_coroutine_is_leader(qemu_coroutine_current());
}

bool qemu_coroutine_entered(Coroutine *co)
{
    return co->caller != NULL;
}

AioContext *qemu_coroutine_get_aio_context(Coroutine *co)
{
    return co->ctx;
}

void qemu_coroutine_spawn(CoroutineEntry *entry, void *opaque)
{
    qemu_coroutine_enter(qemu_coroutine_create(entry, opaque));
}
