/*
 * qmp-blockdev.h: command-line entry of the block graph's QMP handlers.
 */
#ifndef BLOCK_QMP_BLOCKDEV_H
#define BLOCK_QMP_BLOCKDEV_H

#include "qemu/osdep.h"
#include "qemu/error.h"

/*
 * --blockdev: arg is JSON ("{...}") or keyval ("driver=file,node-name=a,...",
 * "driver" implied first); same checks and result as QMP blockdev-add.
 */
bool blockdev_add_cmdline(const char *arg, Error **errp);

#endif
