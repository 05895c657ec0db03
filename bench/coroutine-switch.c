/*
 * coroutine-switch.c: micro-benchmark of coroutine switches and of
 * create+destroy through the per-thread pool.  Not a test.
 *
 *   coroutine-switch [ROUND_TRIPS]
 */
#include "qemu/osdep.h"
#include "qemu/aio.h"
#include "qemu/coroutine.h"

static void coroutine_fn bounce_entry(void *opaque)
{
    unsigned long *remaining = opaque;

    while (*remaining > 0) {
        (*remaining)--;
        qemu_coroutine_yield();
    }
}

static void coroutine_fn nop_entry(void *opaque)
{
}

static double seconds_since(int64_t start)
{
    return (double)(qemu_clock_get_ns() - start) / NANOSECONDS_PER_SECOND;
}

int main(int argc, char **argv)
{
    unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 0) : 10000000;
    unsigned long remaining = rounds;
    unsigned long creates = rounds / 10, i;
    Coroutine *co;
    int64_t start;
    double secs;

    /* Each round trip is two switches: enter (in) and yield (out). */
    co = qemu_coroutine_create(bounce_entry, &remaining);
    start = qemu_clock_get_ns();
    for (i = 0; i <= rounds; i++) {
        qemu_coroutine_enter(co);
    }
    secs = seconds_since(start);
    printf("coroutine switches per second: %.0f\n", 2.0 * rounds / secs);
    printf("  (%lu enter+yield round trips in %.3f s, %.1f ns per switch)\n",
           rounds, secs, secs * 1e9 / (2.0 * rounds));

    /* Create, run to completion, return to the pool. */
    start = qemu_clock_get_ns();
    for (i = 0; i < creates; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(nop_entry, NULL));
    }
    secs = seconds_since(start);
    printf("coroutine create+destroy per second: %.0f\n", creates / secs);
    return 0;
}
