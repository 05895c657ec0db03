/*
 * timer-sleep.c: micro-benchmark of short coroutine sleeps through a
 * blocking aio_poll(): wall time per qemu_co_sleep_ns(NS) and CPU time
 * used meanwhile (a spinning loop would use as much CPU as wall time).
 * Not a test.  BLOCKD_NO_EPOLL_PWAIT2=1 measures the millisecond fallback.
 *
 *   timer-sleep [SLEEPS [NS]]
 */
#include "qemu/osdep.h"
#include "qemu/aio.h"
#include "qemu/coroutine.h"

#include <sys/resource.h>

typedef struct SleepBench {
    unsigned long sleeps;
    int64_t ns;
    bool done;
} SleepBench;

static void coroutine_fn sleeper_entry(void *opaque)
{
    SleepBench *b = opaque;
    unsigned long i;

    for (i = 0; i < b->sleeps; i++) {
        qemu_co_sleep_ns(b->ns);
    }
    b->done = true;
}

static double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv)
{
    SleepBench b = {
        .sleeps = argc > 1 ? strtoul(argv[1], NULL, 0) : 10000,
        .ns = argc > 2 ? strtoll(argv[2], NULL, 0) : 1000,
    };
    AioContext *ctx;
    int64_t start;
    double cpu, wall;

    qemu_init_main_loop(&error_abort);
    ctx = qemu_get_aio_context();
    cpu = cpu_seconds();
    start = qemu_clock_get_ns();
    qemu_coroutine_enter(qemu_coroutine_create(sleeper_entry, &b));
    AIO_POLL_WHILE(ctx, !b.done);
    wall = (double)(qemu_clock_get_ns() - start) / NANOSECONDS_PER_SECOND;
    cpu = cpu_seconds() - cpu;
    printf("%lu sleeps of %" PRId64 " ns: %.1f us each (wall), CPU %.0f%% "
           "of wall time\n", b.sleeps, b.ns, wall * 1e6 / b.sleeps,
           100.0 * cpu / wall);
    return 0;
}
