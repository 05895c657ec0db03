/*
 * runstate.c: shutdown requests (QMP `quit`, SIGTERM/SIGINT/SIGHUP) for the
 * main loop of the daemon.
 */
#include "qemu/osdep.h"
#include "qemu/aio.h"
#include "sysemu/runstate.h"
#include "trace/trace-storage_daemon.h"

static bool shutdown_requested;
static bool shutdown_reported;
static ShutdownCause shutdown_cause;

void qemu_system_shutdown_request(ShutdownCause reason)
{
    trace_qemu_system_shutdown_request(ShutdownCause_str(reason));
    if (!shutdown_requested) {
        shutdown_requested = true;
        shutdown_cause = reason;
    }
    aio_notify(qemu_get_aio_context());
}

bool qemu_shutdown_requested(ShutdownCause *reason)
{
    if (!shutdown_requested || shutdown_reported) {
        return false;
    }
    shutdown_reported = true;
    *reason = shutdown_cause;
    return true;
}

bool qemu_shutdown_pending(void)
{
    return shutdown_requested;
}
