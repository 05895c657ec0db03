/*
 * mirror-ops.c: the mirror job's table of operations in flight
 * (background copies, write-blocking guest writes, ranges reserved while
 * the loop splits them) and the waits on it: for overlapping ranges, and
 * for any operation to end (never for the oldest one: no head-of-line
 * blocking).
 */
#include "qemu/osdep.h"
#include "mirror-int.h"
#include "trace/trace-block.h"

void mirror_align_range(MirrorBlockJob *s, int64_t offset, int64_t bytes,
                        int64_t *aligned_offset, int64_t *aligned_bytes)
{
    int64_t start = QEMU_ALIGN_DOWN(offset, s->granularity);
    int64_t end = QEMU_ALIGN_UP(offset + bytes, s->granularity);

    *aligned_offset = start;
    *aligned_bytes = end - start;
}

MirrorOp *mirror_op_new(MirrorBlockJob *s, int64_t offset, int64_t bytes)
{
    MirrorOp *op = g_new0(MirrorOp, 1);

    op->s = s;
    op->offset = offset;
    op->bytes = bytes;
    qemu_co_queue_init(&op->waiters);
    g_queue_push_tail(&s->ops, op);
    return op;
}

/* Take op out of the table and wake whoever waits for it or for any op. */
void mirror_op_free(MirrorOp *op)
{
    MirrorBlockJob *s = op->s;

    g_queue_remove(&s->ops, op);
    qemu_co_queue_restart_all(&op->waiters);
    qemu_co_queue_restart_all(&s->op_done);
    g_free(op);
}

static bool ranges_overlap(int64_t a, int64_t alen, int64_t b, int64_t blen)
{
    return a < b + blen && b < a + alen;
}

MirrorOp *mirror_find_overlap(MirrorBlockJob *s, int64_t offset, int64_t bytes,
                              MirrorOp *self)
{
    GList *l;

    for (l = s->ops.head; l; l = l->next) {
        MirrorOp *op = l->data;

        if (op != self && ranges_overlap(op->offset, op->bytes, offset, bytes)) {
            return op;
        }
    }
    return NULL;
}

void coroutine_fn mirror_wait_for_overlaps(MirrorBlockJob *s, int64_t offset,
                                           int64_t bytes, MirrorOp *self)
{
    MirrorOp *op;

    while ((op = mirror_find_overlap(s, offset, bytes, self))) {
        trace_mirror_yield_in_flight(s, offset, s->in_flight);
        qemu_co_queue_wait(&op->waiters, NULL);
    }
}

int64_t mirror_clip_to_free(MirrorBlockJob *s, int64_t offset, int64_t max)
{
    int64_t end = offset + max;
    GList *l;

    for (l = s->ops.head; l; l = l->next) {
        MirrorOp *op = l->data;

        if (ranges_overlap(op->offset, op->bytes, offset, end - offset)) {
            end = MAX(offset, op->offset);
        }
    }
    return end - offset;
}

void coroutine_fn mirror_wait_for_any_op(MirrorBlockJob *s)
{
    s->waiting_for_op = true;
    qemu_co_queue_wait(&s->op_done, NULL);
    s->waiting_for_op = false;
}
