/*
 * transaction.c: the all-or-nothing engine behind `transaction` (see
 * include/block/transaction.h).  Actions are kept in the order they were
 * prepared; commit walks them forward, abort backward (the newest change
 * is undone first, so undo steps see the state they left behind).
 */
#include "qemu/osdep.h"
#include "block/transaction.h"

typedef struct TransactionAction_ {
    const TransactionActionDrv *drv;
    void *opaque;
} TranEntry;

struct Transaction {
    GArray *actions;            /* TranEntry, in prepare order */
};

Transaction *tran_new(void)
{
    Transaction *tran = g_new0(Transaction, 1);

    tran->actions = g_array_new(false, false, sizeof(TranEntry));
    return tran;
}

void tran_add(Transaction *tran, const TransactionActionDrv *drv, void *opaque)
{
    TranEntry e = { .drv = drv, .opaque = opaque };

    g_array_append_val(tran->actions, e);
}

unsigned tran_length(const Transaction *tran)
{
    return tran->actions->len;
}

static void tran_clean_free(Transaction *tran)
{
    guint i;

    for (i = tran->actions->len; i > 0; i--) {
        TranEntry *e = &g_array_index(tran->actions, TranEntry, i - 1);

        if (e->drv->clean) {
            e->drv->clean(e->opaque);
        }
    }
    g_array_free(tran->actions, true);
    g_free(tran);
}

void tran_commit(Transaction *tran)
{
    guint i;

    for (i = 0; i < tran->actions->len; i++) {
        TranEntry *e = &g_array_index(tran->actions, TranEntry, i);

        if (e->drv->commit) {
            e->drv->commit(e->opaque);
        }
    }
    tran_clean_free(tran);
}

void tran_abort(Transaction *tran)
{
    guint i;

    for (i = tran->actions->len; i > 0; i--) {
        TranEntry *e = &g_array_index(tran->actions, TranEntry, i - 1);

        if (e->drv->abort) {
            e->drv->abort(e->opaque);
        }
    }
    tran_clean_free(tran);
}

void tran_finalize(Transaction *tran, int ret)
{
    if (ret < 0) {
        tran_abort(tran);
    } else {
        tran_commit(tran);
    }
}
