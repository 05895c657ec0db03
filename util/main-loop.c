/*
 * main-loop.c: the main AioContext and the per-thread "current" context.
 */
#include "qemu/osdep.h"
#include "qemu/aio.h"

static AioContext *main_aio_context;
static __thread AioContext *current_aio_context;

bool qemu_init_main_loop(Error **errp)
{
    if (main_aio_context) {
        return true;
    }
    main_aio_context = aio_context_new(errp);
    if (!main_aio_context) {
        return false;
    }
    current_aio_context = main_aio_context;
    return true;
}

AioContext *qemu_get_aio_context(void)
{
    return main_aio_context;
}

AioContext *qemu_get_current_aio_context(void)
{
    return current_aio_context;
}

void qemu_set_current_aio_context(AioContext *ctx)
{
    current_aio_context = ctx;
}
