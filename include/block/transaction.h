/*
 * transaction.h: a list of prepared actions that are then all committed
 * or all aborted (block/transaction.c).
 *
 * Whoever prepares an action (the `transaction` QMP command, graph
 * changes) does the work that may fail at once and registers how to
 * finish it (commit), how to undo it (abort) and what to free in any
 * case (clean).  tran_commit() runs the commits in the order the actions
 * were added; tran_abort() runs the aborts in reverse order; both then
 * run the clean callbacks (reverse order) and free the transaction.
 */
#ifndef BLOCK_TRANSACTION_H
#define BLOCK_TRANSACTION_H

typedef struct TransactionActionDrv {
    void (*commit)(void *opaque);
    void (*abort)(void *opaque);
    void (*clean)(void *opaque);
} TransactionActionDrv;

typedef struct Transaction Transaction;

Transaction *tran_new(void);
/* Append an action (drv must outlive the transaction; callbacks may be NULL). */
void tran_add(Transaction *tran, const TransactionActionDrv *drv, void *opaque);
/* Number of actions added so far */
unsigned tran_length(const Transaction *tran);
void tran_commit(Transaction *tran);
void tran_abort(Transaction *tran);
/* ret < 0: tran_abort(), else tran_commit() */
void tran_finalize(Transaction *tran, int ret);

#endif
