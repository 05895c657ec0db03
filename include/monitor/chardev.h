/*
 * chardev.h: listening character devices (`--chardev socket,...`).
 *
 * blockd needs chardevs only to carry QMP monitors, so a chardev here is a
 * listening UNIX or TCP socket that hands each accepted connection to its
 * front end (the monitor).  Unlike QEMU, several clients may be connected
 * to one chardev at once; each gets its own monitor session.
 */
#ifndef MONITOR_CHARDEV_H
#define MONITOR_CHARDEV_H

#include "qemu/osdep.h"
#include "qemu/error.h"

typedef struct Chardev Chardev;

/*
 * Called for every accepted connection; takes ownership of the fds.
 * Sockets pass the same fd twice; stdio passes 0 and 1.
 */
typedef void ChardevAcceptFunc(Chardev *chr, int in_fd, int out_fd, void *opaque);

/* Parse and create from a `--chardev` option string (QEMU syntax). */
Chardev *chardev_new_from_opts(const char *optstr, Error **errp);
/* Create a UNIX (path != NULL) or TCP (host/port) listener. */
Chardev *chardev_new_socket(const char *id, const char *path, const char *host,
                            const char *port, Error **errp);
Chardev *chardev_find(const char *id);
const char *chardev_id(Chardev *chr);
/* Attach a front end; fails if one is attached already. */
bool chardev_set_frontend(Chardev *chr, ChardevAcceptFunc *accept_cb,
                          void *opaque, Error **errp);
/* Close all listeners and remove UNIX socket files we created. */
void chardev_cleanup_all(void);

#endif
