/*
 * os-posix.h: process set-up of the daemon: --daemonize, --pidfile.
 */
#ifndef SYSEMU_OS_POSIX_H
#define SYSEMU_OS_POSIX_H

#include "qemu/osdep.h"
#include "qemu/error.h"

/* Fork; the parent waits until os_setup_post() or exits 1 if the child dies first. */
void os_daemonize(void);
bool os_is_daemonized(void);
/* End of start-up: detach stdio and release the waiting parent. */
void os_setup_post(void);
/* Create and lock the pid file; it is removed by os_remove_pidfile(). */
bool os_write_pidfile(const char *path, Error **errp);
void os_remove_pidfile(void);

#endif
