/*
 * export.c: the generic side of block exports: the list of exports, their
 * reference counting and deletion, and the QMP commands block-export-add,
 * block-export-del and query-block-exports (the NBD specifics live in
 * nbd/server.c).
 */
#include "qemu/osdep.h"
#include "block/export.h"
#include "block/nbd.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"
#include "qemu/aio.h"
#include "trace/trace-block.h"

/* Newest first, as QEMU lists them */
static GList *block_exports;

static const BlockExportDriver *const blk_exp_drivers[] = {
    &blk_exp_nbd,
};

static const BlockExportDriver *blk_exp_find_driver(BlockExportType type)
{
    for (size_t i = 0; i < ARRAY_SIZE(blk_exp_drivers); i++) {
        if (blk_exp_drivers[i]->type == type) {
            return blk_exp_drivers[i];
        }
    }
    return NULL;
}

/* QEMU's rule for ids: a letter, then letters, digits, '-', '.', '_' */
static bool blk_exp_id_wellformed(const char *id)
{
    if (!g_ascii_isalpha(id[0])) {
        return false;
    }
    for (const char *p = id + 1; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("-._", *p)) {
            return false;
        }
    }
    return true;
}

BlockExport *blk_exp_find(const char *id)
{
    for (GList *l = block_exports; l; l = l->next) {
        BlockExport *exp = l->data;
        if (!strcmp(exp->id, id)) {
            return exp;
        }
    }
    return NULL;
}

BlockExport *blk_exp_next(BlockExport *exp)
{
    GList *l;

    if (!exp) {
        return block_exports ? block_exports->data : NULL;
    }
    l = g_list_find(block_exports, exp);
    return l && l->next ? l->next->data : NULL;
}

BlockExport *blk_exp_add(BlockExportOptions *opts, Error **errp)
{
    const BlockExportDriver *drv;
    BlockDriverState *bs;
    BlockBackend *blk;
    BlockExport *exp;
    uint64_t perm;
    char *desc;
    int ret;

    drv = blk_exp_find_driver(opts->type);
    if (!drv) {
        error_setg(errp, "No driver found for the requested export type");
        return NULL;
    }
    if (!blk_exp_id_wellformed(opts->id)) {
        error_setg(errp, "Invalid block export id");
        return NULL;
    }
    if (blk_exp_find(opts->id)) {
        error_setg(errp, "Block export id '%s' is already in use", opts->id);
        return NULL;
    }
    bs = bdrv_lookup_bs(NULL, opts->node_name, errp);
    if (!bs) {
        return NULL;
    }
    if (opts->has_writable && opts->writable && bdrv_is_read_only(bs)) {
        error_setg(errp, "Cannot export read-only node as writable");
        return NULL;
    }
    if (opts->iothread) {
        /* blockd has no iothread objects: every export runs in the main loop */
        error_setg(errp, "iothread \"%s\" not found", opts->iothread);
        return NULL;
    }

    perm = BLK_PERM_CONSISTENT_READ;
    if (opts->has_writable && opts->writable) {
        perm |= BLK_PERM_WRITE;
    }
    /* Like QEMU's exports: nobody may resize the node under the clients' feet */
    blk = blk_new(perm, BLK_PERM_ALL & ~BLK_PERM_RESIZE);
    desc = g_strdup_printf("block export '%s'", opts->id);
    blk_set_user_desc(blk, desc);
    g_free(desc);
    if (blk_insert_bs(blk, bs, errp) < 0) {
        blk_unref(blk);
        return NULL;
    }

    exp = g_malloc0(drv->instance_size);
    exp->drv = drv;
    exp->id = g_strdup(opts->id);
    exp->node_name = g_strdup(opts->node_name);
    exp->blk = blk;
    exp->user_owned = true;
    exp->refcount = 1;

    ret = drv->create(exp, opts, errp);
    if (ret < 0) {
        blk_unref(blk);
        g_free(exp->id);
        g_free(exp->node_name);
        g_free(exp);
        return NULL;
    }
    block_exports = g_list_prepend(block_exports, exp);
    trace_blk_exp_add(exp->id, exp->node_name, BlockExportType_str(opts->type));
    return exp;
}

void blk_exp_ref(BlockExport *exp)
{
    assert(exp->refcount > 0);
    exp->refcount++;
}

/* Runs from a bottom half so that callers up the stack still see exp. */
static void blk_exp_delete_bh(void *opaque)
{
    BlockExport *exp = opaque;
    char *id = exp->id;

    assert(exp->refcount == 0);
    /* Requests still in flight in the block layer finish first */
    blk_drain(exp->blk);
    block_exports = g_list_remove(block_exports, exp);
    exp->drv->delete(exp);
    blk_unref(exp->blk);
    trace_blk_exp_delete(id);
    qapi_event_send_block_export_deleted(id);
    g_free(exp->node_name);
    g_free(exp);
    g_free(id);
}

void blk_exp_unref(BlockExport *exp)
{
    assert(exp->refcount > 0);
    if (--exp->refcount == 0) {
        /* Outside the caller's coroutine, which may be a request's */
        aio_bh_schedule_oneshot(qemu_get_aio_context(), blk_exp_delete_bh, exp);
    }
}

void blk_exp_request_shutdown(BlockExport *exp)
{
    /* Keep exp alive while the driver disconnects its clients */
    blk_exp_ref(exp);
    trace_blk_exp_request_shutdown(exp->id, exp->refcount);
    exp->drv->request_shutdown(exp);
    if (exp->user_owned) {
        exp->user_owned = false;
        blk_exp_unref(exp);
    }
    blk_exp_unref(exp);
}

static bool blk_exp_has_type(BlockExportType type)
{
    for (GList *l = block_exports; l; l = l->next) {
        BlockExport *exp = l->data;
        if (exp->drv->type == type) {
            return true;
        }
    }
    return false;
}

void blk_exp_close_all_type(BlockExportType type)
{
    GList *copy = g_list_copy(block_exports);

    for (GList *l = copy; l; l = l->next) {
        BlockExport *exp = l->data;
        if (exp->drv->type == type && g_list_find(block_exports, exp) &&
            exp->user_owned) {
            blk_exp_request_shutdown(exp);
        }
    }
    g_list_free(copy);
    AIO_POLL_WHILE(qemu_get_aio_context(), blk_exp_has_type(type));
}

void blk_exp_close_all(void)
{
    blk_exp_close_all_type(BLOCK_EXPORT_TYPE_NBD);
}

/* ---- QMP ---- */

void qmp_block_export_add(BlockExportOptions *arg, Error **errp)
{
    blk_exp_add(arg, errp);
}

void qmp_block_export_del(const char *id, bool has_mode,
                          BlockExportRemoveMode mode, Error **errp)
{
    BlockExport *exp = blk_exp_find(id);

    if (!exp) {
        error_setg(errp, "Export '%s' is not found", id);
        return;
    }
    if (!exp->user_owned) {
        error_setg(errp, "Export '%s' is already shutting down", id);
        return;
    }
    if (!has_mode) {
        mode = BLOCK_EXPORT_REMOVE_MODE_SAFE;
    }
    if (mode == BLOCK_EXPORT_REMOVE_MODE_SAFE && exp->refcount > 1) {
        error_setg(errp, "export '%s' still in use", exp->id);
        error_append_hint(errp, "Use mode='hard' to force client disconnect\n");
        return;
    }
    blk_exp_request_shutdown(exp);
}

BlockExportInfoList *qmp_query_block_exports(Error **errp)
{
    BlockExportInfoList *head = NULL, **tail = &head;

    for (GList *l = block_exports; l; l = l->next) {
        BlockExport *exp = l->data;
        BlockExportInfo *info = g_new0(BlockExportInfo, 1);
        BlockExportInfoList *entry = g_new0(BlockExportInfoList, 1);

        info->id = g_strdup(exp->id);
        info->type = exp->drv->type;
        /* the node the export uses now (a mirror pivot may have replaced it) */
        info->node_name = g_strdup(exp->blk && blk_bs(exp->blk)
                                   ? bdrv_get_node_name(blk_bs(exp->blk))
                                   : exp->node_name);
        info->shutting_down = !exp->user_owned;
        entry->value = info;
        *tail = entry;
        tail = &entry->next;
    }
    return head;
}
