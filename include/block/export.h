/*
 * export.h: block exports, the generic part (block/export.c).
 *
 * A BlockExport makes one node available to an outside protocol (NBD
 * today).  It owns a BlockBackend on the node and is reference counted:
 * the user (QMP / command line) holds one reference until block-export-del,
 * every connected client holds one more.  When the last reference goes the
 * export is freed and BLOCK_EXPORT_DELETED is emitted.
 */
#ifndef BLOCK_EXPORT_H
#define BLOCK_EXPORT_H

#include "block/block-backend.h"
#include "qapi/qapi-types.h"

typedef struct BlockExport BlockExport;

typedef struct BlockExportDriver {
    BlockExportType type;
    /* Bytes to allocate for the driver's structure, which starts with a BlockExport */
    size_t instance_size;
    /* Set up the export; exp->blk is attached already.  -errno on failure. */
    int (*create)(BlockExport *exp, BlockExportOptions *opts, Error **errp);
    /* Free what create() set up; called after the last reference went away. */
    void (*delete)(BlockExport *exp);
    /* Disconnect every client (their references then go away). */
    void (*request_shutdown)(BlockExport *exp);
} BlockExportDriver;

struct BlockExport {
    const BlockExportDriver *drv;
    char *id;
    /* The user's reference is held (false once block-export-del ran) */
    bool user_owned;
    int refcount;
    BlockBackend *blk;
    /* Node name at creation, for queries */
    char *node_name;
};

/* block-export-add */
BlockExport *blk_exp_add(BlockExportOptions *opts, Error **errp);
BlockExport *blk_exp_find(const char *id);
void blk_exp_ref(BlockExport *exp);
void blk_exp_unref(BlockExport *exp);
/* Drop the user's reference and disconnect clients (block-export-del mode=hard). */
void blk_exp_request_shutdown(BlockExport *exp);
/* Shut down every export (of one type) and wait until they are gone. */
void blk_exp_close_all_type(BlockExportType type);
void blk_exp_close_all(void);
/* Iterate (NULL starts), newest first */
BlockExport *blk_exp_next(BlockExport *exp);

#endif
