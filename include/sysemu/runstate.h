/*
 * runstate.h: the daemon's lifetime: shutdown requests from QMP `quit`
 * or signals, checked by the main loop.
 */
#ifndef SYSEMU_RUNSTATE_H
#define SYSEMU_RUNSTATE_H

#include "qemu/osdep.h"
#include "qapi/qapi-types.h"

/* Ask the main loop to shut down (thread- and signal-safe enough: sets a flag and notifies). */
void qemu_system_shutdown_request(ShutdownCause reason);
/* True (once) when a shutdown was requested; *reason receives why. */
bool qemu_shutdown_requested(ShutdownCause *reason);
bool qemu_shutdown_pending(void);

#endif
