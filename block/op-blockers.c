/*
 * op-blockers.c: QEMU's op blockers.  A user that needs a node to stay as
 * it is (a block job) blocks operations on it with a reason; an operation
 * asks bdrv_op_is_blocked() first and fails with
 * "Node '<name>' is busy: <reason>" (e.g. blockdev-del of a mirror's source).
 */
#include "qemu/osdep.h"
#include "block/block_int.h"

void bdrv_op_block(BlockDriverState *bs, BlockOpType op, Error *reason)
{
    assert(op >= 0 && op < BLOCK_OP_TYPE_MAX);
    bs->op_blockers[op] = g_slist_prepend(bs->op_blockers[op], reason);
}

void bdrv_op_unblock(BlockDriverState *bs, BlockOpType op, Error *reason)
{
    assert(op >= 0 && op < BLOCK_OP_TYPE_MAX);
    bs->op_blockers[op] = g_slist_remove(bs->op_blockers[op], reason);
}

void bdrv_op_block_all(BlockDriverState *bs, Error *reason)
{
    int op;

    for (op = 0; op < BLOCK_OP_TYPE_MAX; op++) {
        bdrv_op_block(bs, op, reason);
    }
}

void bdrv_op_unblock_all(BlockDriverState *bs, Error *reason)
{
    int op;

    for (op = 0; op < BLOCK_OP_TYPE_MAX; op++) {
        bdrv_op_unblock(bs, op, reason);
    }
}

bool bdrv_op_is_blocked(BlockDriverState *bs, BlockOpType op, Error **errp)
{
    Error *reason;

    assert(op >= 0 && op < BLOCK_OP_TYPE_MAX);
    if (!bs->op_blockers[op]) {
        return false;
    }
    reason = bs->op_blockers[op]->data;
    error_setg(errp, "Node '%s' is busy: %s", bdrv_get_node_name(bs),
               error_get_pretty(reason));
    return true;
}
