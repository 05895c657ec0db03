/*
 * monitor.h: the QMP monitor.
 *
 * A Monitor is one QMP session on one connection.  It starts in
 * capabilities-negotiation mode (only qmp_capabilities is accepted), then
 * switches to command mode where every schema command may run and events
 * are delivered.
 */
#ifndef MONITOR_MONITOR_H
#define MONITOR_MONITOR_H

#include "qemu/osdep.h"
#include "qemu/error.h"
#include "monitor/chardev.h"

typedef struct Monitor Monitor;

/* `--monitor [chardev=]ID[,mode=control][,pretty=on|off]` */
bool monitor_init_opts(const char *optstr, Error **errp);
/* Serve QMP on every connection accepted by chr. */
bool monitor_init_qmp(Chardev *chr, bool pretty, Error **errp);
/* A QMP session on an already connected fd pair (chr may be NULL); sends the greeting. */
Monitor *monitor_qmp_new(Chardev *chr, int in_fd, int out_fd, bool pretty);
/* Number of live sessions (for tests and the fuzzer). */
unsigned monitor_count(void);
void monitor_init_globals(void);
/* The monitor whose command is running now (NULL outside a command). */
Monitor *monitor_cur(void);
/*
 * Hold back command dispatch (requests queue up) or release it.  The daemon
 * holds it while it processes its command line, so that a client that
 * connects early never sees half-opened nodes.
 */
void monitor_hold_dispatch(bool hold);
/* Close every monitor connection (at shutdown). */
void monitor_cleanup(void);

/* Internals shared by the files of monitor/ */
bool monitor_in_negotiation(Monitor *mon);
void monitor_enter_command_mode(Monitor *mon);
const void *monitor_qmp_commands(void);

#endif
