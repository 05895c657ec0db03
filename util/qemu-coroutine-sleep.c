/*
 * qemu-coroutine-sleep.c: timed and wakeable sleeps for coroutines, and
 * yielding to the event loop.
 *
 * A sleeping coroutine arms a timer (embedded in its stack frame) on its
 * AioContext; whoever fires first, the timer or qemu_co_sleep_wake(),
 * clears w->to_wake and wakes it, so it is woken exactly once.
 */
#include "qemu/osdep.h"
#include "aio-internal.h"
#include "coroutine-int.h"

void qemu_co_sleep_wake(QemuCoSleep *w)
{
    Coroutine *co = w->to_wake;

    if (co) {
        w->to_wake = NULL;
        aio_co_wake(co);
    }
}

static void co_sleep_timer_cb(void *opaque)
{
    qemu_co_sleep_wake(opaque);
}

static AioContext *co_sleep_context(Coroutine *co)
{
    AioContext *ctx = qemu_coroutine_get_aio_context(co);

    if (!ctx) {
        ctx = qemu_get_current_aio_context();
    }
    if (!ctx) {
        fprintf(stderr, "blockd: a co-routine cannot sleep without an "
                "AioContext (call qemu_init_main_loop() first)\n");
        abort();
    }
    return ctx;
}

void coroutine_fn qemu_co_sleep(QemuCoSleep *w)
{
    Coroutine *self = qemu_coroutine_self();

    assert(self);
    if (w->to_wake) {
        fprintf(stderr, "blockd: QemuCoSleep %p already has a sleeper\n",
                (void *)w);
        abort();
    }
    w->to_wake = self;
    qemu_coroutine_yield();
    /* Whoever woke us cleared to_wake. */
    assert(w->to_wake == NULL);
}

void coroutine_fn qemu_co_sleep_ns_wakeable(QemuCoSleep *w, int64_t ns)
{
    Coroutine *self = qemu_coroutine_self();
    QEMUTimer timer;

    assert(self);
    aio_timer_init(co_sleep_context(self), &timer, co_sleep_timer_cb, w);
    timer_mod(&timer, qemu_clock_get_ns() + MAX(ns, 0));
    qemu_co_sleep(w);
    timer_del(&timer);
}

void coroutine_fn qemu_co_sleep_ns(int64_t ns)
{
    QemuCoSleep w = { 0 };

    qemu_co_sleep_ns_wakeable(&w, ns);
}

void coroutine_fn qemu_co_yield_to_loop(void)
{
    Coroutine *self = qemu_coroutine_self();

    assert(self);
    aio_co_schedule(co_sleep_context(self), self);
    qemu_coroutine_yield();
}
