/*
 * qmp-transaction.c: the `transaction` QMP command and its actions
 * (abort, block-dirty-bitmap-add/-remove/-clear/-enable/-disable/-merge,
 * blockdev-snapshot-internal-sync, blockdev-backup, drive-backup), with
 * QEMU's checks and error texts.
 *
 * The nodes the actions name are drained while the actions are prepared
 * in order and committed; the first failing action aborts all prepared
 * ones (newest first) and its error is the command's; otherwise every
 * action commits.  Backups are created in prepare and started at commit;
 * with completion-mode=grouped they share one JobTxn, so they finish or
 * fail together.
 * The engine: block/transaction.c.
 */
#include "qemu/osdep.h"
#include "block/backup.h"
#include "block/block_int.h"
#include "block/dirty-bitmap.h"
#include "block/transaction.h"
#include "qemu/job.h"
#include "qapi/qapi-commands.h"
#include "trace/trace-block.h"

/* What every action's prepare step gets */
typedef struct TxnContext {
    Transaction *tran;
    ActionCompletionMode mode;
    JobTxn *block_job_txn;      /* grouped: shared by the jobs; else NULL */
} TxnContext;

/* "grouped" is for actions that start jobs only (QEMU 7.2's text, on the wire) */
static bool txn_check_completion_mode(TxnContext *ctx, TransactionAction *act,
                                      Error **errp)
{
    if (ctx->mode == ACTION_COMPLETION_MODE_INDIVIDUAL) {
        return true;
    }
    error_setg(errp, "Action '%s' does not support Transaction property "
               "completion-mode = %s",
               TransactionActionKind_str(act->type),
               ActionCompletionMode_str(ctx->mode));
    return false;
}

/* ---- abort ---- */

/* Fails in any completion mode, as QEMU's */
static bool abort_prepare(TxnContext *ctx, TransactionAction *act, Error **errp)
{
    error_setg(errp, "Transaction aborted using Abort action");
    return false;
}

/* ---- block-dirty-bitmap-add: undo = release the new bitmap ---- */

typedef struct BitmapAddState {
    BdrvDirtyBitmap *bitmap;
} BitmapAddState;

static void bitmap_add_abort(void *opaque)
{
    BitmapAddState *s = opaque;

    bdrv_release_dirty_bitmap(s->bitmap);
}

static const TransactionActionDrv bitmap_add_drv = {
    .abort = bitmap_add_abort,
    .clean = g_free,
};

static bool bitmap_add_prepare(TxnContext *ctx, TransactionAction *act,
                               Error **errp)
{
    BlockDirtyBitmapAdd *a = act->u.block_dirty_bitmap_add.data;
    Error *local_err = NULL;
    BitmapAddState *s;

    if (!txn_check_completion_mode(ctx, act, errp)) {
        return false;
    }
    qmp_block_dirty_bitmap_add(a->node, a->name,
                               a->has_granularity, a->granularity,
                               a->has_persistent, a->persistent,
                               a->has_disabled, a->disabled, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        return false;
    }
    s = g_new0(BitmapAddState, 1);
    s->bitmap = block_dirty_bitmap_lookup(a->node, a->name, NULL, &error_abort);
    tran_add(ctx->tran, &bitmap_add_drv, s);
    return true;
}

/* ---- clear and merge: undo = put the saved contents back ---- */

typedef struct BitmapBackupState {
    BdrvDirtyBitmap *bitmap;
    HBitmap *backup;
} BitmapBackupState;

static void bitmap_backup_abort(void *opaque)
{
    BitmapBackupState *s = opaque;

    bdrv_restore_dirty_bitmap(s->bitmap, s->backup);
    s->backup = NULL;
}

static void bitmap_backup_clean(void *opaque)
{
    BitmapBackupState *s = opaque;

    if (s->backup) {
        hbitmap_free(s->backup);
    }
    g_free(s);
}

static const TransactionActionDrv bitmap_backup_drv = {
    .abort = bitmap_backup_abort,
    .clean = bitmap_backup_clean,
};

static bool bitmap_clear_prepare(TxnContext *ctx, TransactionAction *act,
                                 Error **errp)
{
    BlockDirtyBitmap *a = act->u.block_dirty_bitmap_clear.data;
    BdrvDirtyBitmap *bitmap;
    BitmapBackupState *s;

    if (!txn_check_completion_mode(ctx, act, errp)) {
        return false;
    }
    bitmap = block_dirty_bitmap_lookup(a->node, a->name, NULL, errp);
    if (!bitmap || bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_DEFAULT, errp)) {
        return false;
    }
    s = g_new0(BitmapBackupState, 1);
    s->bitmap = bitmap;
    bdrv_clear_dirty_bitmap(bitmap, &s->backup);
    tran_add(ctx->tran, &bitmap_backup_drv, s);
    return true;
}

static bool bitmap_merge_prepare(TxnContext *ctx, TransactionAction *act,
                                 Error **errp)
{
    BlockDirtyBitmapMerge *a = act->u.block_dirty_bitmap_merge.data;
    BdrvDirtyBitmap *bitmap;
    HBitmap *backup = NULL;
    BitmapBackupState *s;

    if (!txn_check_completion_mode(ctx, act, errp)) {
        return false;
    }
    bitmap = block_dirty_bitmap_merge(a->node, a->target, a->bitmaps, &backup,
                                      errp);
    if (!bitmap) {
        return false;
    }
    s = g_new0(BitmapBackupState, 1);
    s->bitmap = bitmap;
    s->backup = backup;
    tran_add(ctx->tran, &bitmap_backup_drv, s);
    return true;
}

/* ---- enable / disable: undo = the previous state ---- */

typedef struct BitmapToggleState {
    BdrvDirtyBitmap *bitmap;
    bool was_enabled;
} BitmapToggleState;

static void bitmap_toggle_abort(void *opaque)
{
    BitmapToggleState *s = opaque;

    if (s->was_enabled) {
        bdrv_enable_dirty_bitmap(s->bitmap);
    } else {
        bdrv_disable_dirty_bitmap(s->bitmap);
    }
}

static const TransactionActionDrv bitmap_toggle_drv = {
    .abort = bitmap_toggle_abort,
    .clean = g_free,
};

static bool bitmap_toggle_prepare(TxnContext *ctx, TransactionAction *act,
                                  BlockDirtyBitmap *a, bool enable,
                                  Error **errp)
{
    BdrvDirtyBitmap *bitmap;
    BitmapToggleState *s;

    if (!txn_check_completion_mode(ctx, act, errp)) {
        return false;
    }
    bitmap = block_dirty_bitmap_lookup(a->node, a->name, NULL, errp);
    if (!bitmap || bdrv_dirty_bitmap_check(bitmap, BDRV_BITMAP_ALLOW_RO, errp)) {
        return false;
    }
    s = g_new0(BitmapToggleState, 1);
    s->bitmap = bitmap;
    s->was_enabled = bdrv_dirty_bitmap_enabled(bitmap);
    if (enable) {
        bdrv_enable_dirty_bitmap(bitmap);
    } else {
        bdrv_disable_dirty_bitmap(bitmap);
    }
    tran_add(ctx->tran, &bitmap_toggle_drv, s);
    return true;
}

/* ---- remove: busy + skip_store in prepare, released at commit ---- */

typedef struct BitmapRemoveState {
    BdrvDirtyBitmap *bitmap;
} BitmapRemoveState;

static void bitmap_remove_commit(void *opaque)
{
    BitmapRemoveState *s = opaque;

    bdrv_dirty_bitmap_set_busy(s->bitmap, false);
    bdrv_release_dirty_bitmap(s->bitmap);
}

static void bitmap_remove_abort(void *opaque)
{
    BitmapRemoveState *s = opaque;

    bdrv_dirty_bitmap_skip_store(s->bitmap, false);
    bdrv_dirty_bitmap_set_busy(s->bitmap, false);
}

static const TransactionActionDrv bitmap_remove_drv = {
    .commit = bitmap_remove_commit,
    .abort = bitmap_remove_abort,
    .clean = g_free,
};

static bool bitmap_remove_prepare(TxnContext *ctx, TransactionAction *act,
                                  Error **errp)
{
    BlockDirtyBitmap *a = act->u.block_dirty_bitmap_remove.data;
    BdrvDirtyBitmap *bitmap;
    BitmapRemoveState *s;

    if (!txn_check_completion_mode(ctx, act, errp)) {
        return false;
    }
    bitmap = block_dirty_bitmap_remove(a->node, a->name, false, NULL, errp);
    if (!bitmap) {
        return false;
    }
    s = g_new0(BitmapRemoveState, 1);
    s->bitmap = bitmap;
    tran_add(ctx->tran, &bitmap_remove_drv, s);
    return true;
}

/* ---- blockdev-snapshot-internal-sync: undo = delete the new snapshot ---- */

typedef struct SnapshotInternalState {
    char *device;
    char *name;
} SnapshotInternalState;

static void snapshot_internal_abort(void *opaque)
{
    SnapshotInternalState *s = opaque;
    Error *local_err = NULL;
    SnapshotInfo *info;

    info = qmp_blockdev_snapshot_delete_internal_sync(s->device, NULL, s->name,
                                                      &local_err);
    if (local_err) {
        error_report("Failed to delete snapshot '%s' on device '%s' after "
                     "a failed transaction: %s", s->name, s->device,
                     error_get_pretty(local_err));
        error_free(local_err);
    }
    qapi_free_SnapshotInfo(info);
}

static void snapshot_internal_clean(void *opaque)
{
    SnapshotInternalState *s = opaque;

    g_free(s->device);
    g_free(s->name);
    g_free(s);
}

static const TransactionActionDrv snapshot_internal_drv = {
    .abort = snapshot_internal_abort,
    .clean = snapshot_internal_clean,
};

static bool snapshot_internal_prepare(TxnContext *ctx, TransactionAction *act,
                                      Error **errp)
{
    BlockdevSnapshotInternal *a = act->u.blockdev_snapshot_internal_sync.data;
    Error *local_err = NULL;
    SnapshotInternalState *s;

    if (!txn_check_completion_mode(ctx, act, errp)) {
        return false;
    }
    qmp_blockdev_snapshot_internal_sync(a->device, a->name, &local_err);
    if (local_err) {
        error_propagate(errp, local_err);
        return false;
    }
    s = g_new0(SnapshotInternalState, 1);
    s->device = g_strdup(a->device);
    s->name = g_strdup(a->name);
    tran_add(ctx->tran, &snapshot_internal_drv, s);
    return true;
}

/*
 * ---- blockdev-backup / drive-backup: the job is created in prepare
 * (filter inserted, bitmap frozen), started at commit and cancelled
 * synchronously on abort ----
 */

typedef struct BackupState {
    BlockJob *job;
} BackupState;

static void backup_action_commit(void *opaque)
{
    BackupState *s = opaque;

    job_start(&s->job->job);
}

static void backup_action_abort(void *opaque)
{
    BackupState *s = opaque;

    job_cancel_sync(&s->job->job, true);
}

static const TransactionActionDrv backup_action_drv = {
    .commit = backup_action_commit,
    .abort = backup_action_abort,
    .clean = g_free,
};

static bool backup_action_prepare(TxnContext *ctx, TransactionAction *act,
                                  Error **errp)
{
    BlockJob *job;
    BackupState *s;

    if (act->type == TRANSACTION_ACTION_KIND_BLOCKDEV_BACKUP) {
        job = backup_job_create_from_qmp(act->u.blockdev_backup.data,
                                         ctx->block_job_txn, errp);
    } else {
        job = drive_backup_job_create_from_qmp(act->u.drive_backup.data,
                                               ctx->block_job_txn, errp);
    }
    if (!job) {
        return false;
    }
    s = g_new0(BackupState, 1);
    s->job = job;
    tran_add(ctx->tran, &backup_action_drv, s);
    return true;
}

/* ---- the command ---- */

/* The node an action works on (by device or node name), NULL if none */
static const char *txn_action_node(TransactionAction *act)
{
    switch (act->type) {
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_ADD:
        return act->u.block_dirty_bitmap_add.data->node;
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_REMOVE:
        return act->u.block_dirty_bitmap_remove.data->node;
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_CLEAR:
        return act->u.block_dirty_bitmap_clear.data->node;
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_ENABLE:
        return act->u.block_dirty_bitmap_enable.data->node;
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_DISABLE:
        return act->u.block_dirty_bitmap_disable.data->node;
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_MERGE:
        return act->u.block_dirty_bitmap_merge.data->node;
    case TRANSACTION_ACTION_KIND_BLOCKDEV_BACKUP:
        return act->u.blockdev_backup.data->device;
    case TRANSACTION_ACTION_KIND_DRIVE_BACKUP:
        return act->u.drive_backup.data->device;
    case TRANSACTION_ACTION_KIND_BLOCKDEV_SNAPSHOT_INTERNAL_SYNC:
        return act->u.blockdev_snapshot_internal_sync.data->device;
    default:
        return NULL;
    }
}

/*
 * Drain every node the actions name, each once (a drained node quiesces
 * its parents: exports and guests stop writing to it), so that all
 * actions see the same instant.  Not a drain-all: block/graph.c quiesces
 * a parent attached to a node drained N times N times but releases it
 * once, and under a drain-all every format node counts 2, which would
 * leave a new backup job paused.  Unknown names are left to the action's
 * own error.
 */
static GSList *txn_drain_begin(TransactionActionList *actions)
{
    GSList *drained = NULL;
    TransactionActionList *l;

    for (l = actions; l; l = l->next) {
        const char *name = txn_action_node(l->value);
        BlockDriverState *bs = name ? bdrv_lookup_bs(name, name, NULL) : NULL;

        if (bs && !g_slist_find(drained, bs)) {
            bdrv_ref(bs);
            bdrv_drained_begin(bs);
            drained = g_slist_prepend(drained, bs);
        }
    }
    return drained;
}

static void txn_drain_end(GSList *drained)
{
    GSList *l;

    for (l = drained; l; l = l->next) {
        bdrv_drained_end(l->data);
        bdrv_unref(l->data);
    }
    g_slist_free(drained);
}

static bool txn_action_prepare(TxnContext *ctx, TransactionAction *act,
                               Error **errp)
{
    switch (act->type) {
    case TRANSACTION_ACTION_KIND_ABORT:
        return abort_prepare(ctx, act, errp);
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_ADD:
        return bitmap_add_prepare(ctx, act, errp);
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_REMOVE:
        return bitmap_remove_prepare(ctx, act, errp);
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_CLEAR:
        return bitmap_clear_prepare(ctx, act, errp);
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_ENABLE:
        return bitmap_toggle_prepare(ctx, act,
                                     act->u.block_dirty_bitmap_enable.data,
                                     true, errp);
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_DISABLE:
        return bitmap_toggle_prepare(ctx, act,
                                     act->u.block_dirty_bitmap_disable.data,
                                     false, errp);
    case TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_MERGE:
        return bitmap_merge_prepare(ctx, act, errp);
    case TRANSACTION_ACTION_KIND_BLOCKDEV_SNAPSHOT_INTERNAL_SYNC:
        return snapshot_internal_prepare(ctx, act, errp);
    case TRANSACTION_ACTION_KIND_BLOCKDEV_BACKUP:
    case TRANSACTION_ACTION_KIND_DRIVE_BACKUP:
        return backup_action_prepare(ctx, act, errp);
    default:
        break;
    }
    error_setg(errp, "Action '%s' is not supported",
               TransactionActionKind_str(act->type));
    return false;
}

void qmp_transaction(TransactionActionList *actions,
                     TransactionProperties *properties, Error **errp)
{
    TxnContext ctx = { .mode = ACTION_COMPLETION_MODE_INDIVIDUAL };
    TransactionActionList *l;
    GSList *drained;
    unsigned n = 0;
    int ret = 0;

    if (properties && properties->has_completion_mode) {
        ctx.mode = properties->completion_mode;
    }
    if (ctx.mode == ACTION_COMPLETION_MODE_GROUPED) {
        ctx.block_job_txn = job_txn_new();
    }
    ctx.tran = tran_new();
    for (l = actions; l; l = l->next) {
        n++;
    }
    trace_transaction_begin(n, ActionCompletionMode_str(ctx.mode));

    /* Nothing may write while the actions are prepared and committed */
    drained = txn_drain_begin(actions);
    for (l = actions; l; l = l->next) {
        trace_transaction_action_prepare(TransactionActionKind_str(l->value->type));
        if (!txn_action_prepare(&ctx, l->value, errp)) {
            ret = -1;
            break;
        }
    }
    trace_transaction_finish(ret < 0 ? "abort" : "commit", tran_length(ctx.tran));
    tran_finalize(ctx.tran, ret);
    txn_drain_end(drained);

    if (ctx.block_job_txn) {
        job_txn_unref(ctx.block_job_txn);
    }
}
