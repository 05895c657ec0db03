/*
 * qmp-blockdev.h: command-line entry of the block graph's QMP handlers,
 * and the node lookup QMP commands share.
 */
#ifndef BLOCK_QMP_BLOCKDEV_H
#define BLOCK_QMP_BLOCKDEV_H

#include "qemu/osdep.h"
#include "qemu/error.h"
#include "block/block-common.h"

/*
 * --blockdev: arg is JSON ("{...}") or keyval ("driver=file,node-name=a,...",
 * "driver" implied first); same checks and result as QMP blockdev-add.
 */
bool blockdev_add_cmdline(const char *arg, Error **errp);

/*
 * QEMU's qmp_get_root_bs(): the node named name (node name or device) if
 * it is a root, i.e. no node and no job uses it, and has a medium; else
 * NULL with QEMU's error ("Need a root block node", "Device has no
 * medium").
 */
BlockDriverState *qmp_get_root_bs(const char *name, Error **errp);

#endif
