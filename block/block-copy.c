/*
 * block-copy.c: the copy engine of backup and copy-before-write.
 *
 * The copy bitmap (anonymous, disabled, cluster granularity, on the source
 * node) holds the clusters still to copy.  A task claims a run of dirty
 * clusters by clearing their bits, reads them from the source (or asks for
 * block status first: zero runs become write-zeroes, or nothing on a
 * target known to read zeroes), writes them to the target and marks them
 * done; a failure makes them dirty again.  Because claimed clusters are
 * clean, two tasks never overlap and nothing is copied twice.
 *
 * block_copy() (guest writes) copies what is dirty in its range with tasks
 * of its own and, for clusters held by someone else's task, waits only
 * until that task has read the old data (not for its target write: QEMU
 * waits for the whole task).  If such a task then fails to write, the old
 * data is lost; the state records it (block_copy_snapshot_lost()).
 */
#include "qemu/osdep.h"
#include "block/block-copy.h"
#include "trace/trace-block.h"

#define BLOCK_COPY_CHUNK        (1 * MiB)
#define BLOCK_COPY_RANGE_CHUNK  (16 * MiB)

struct BlockCopyTask {
    BlockCopyState *s;
    int64_t offset;
    int64_t bytes;
    bool reading;               /* the old data is not in our buffer yet */
    bool overwritten;           /* a guest write went on after our read */
    CoQueue read_done;          /* waiting for reading == false */
};

struct BlockCopyState {
    BdrvChild *source;
    BdrvChild *target;
    BdrvDirtyBitmap *copy_bitmap;
    BdrvDirtyBitmap *done_bitmap;
    int64_t cluster_size;
    int64_t len;
    bool compress;
    bool use_copy_range;
    bool target_is_zero;
    bool discard_source;        /* copied clusters are discarded on source */
    bool lost;
    int64_t max_chunk;          /* 0: default */
    int64_t in_flight_bytes;
    int64_t mem_used;
    CoQueue mem_queue;
    CoQueue task_done;          /* any task finished */
    GList *tasks;                 /* BlockCopyTask * in flight */
    GSList *buf_pool;             /* free buffers of pool_buf_size bytes */
    int64_t pool_buf_size;
    BlockCopyProgressFunc *progress;
    void *progress_opaque;
};

int64_t block_copy_calculate_cluster_size(BlockDriverState *target,
                                          int64_t min_cluster_size,
                                          Error **errp)
{
    BlockDriverInfo bdi = { 0 };
    int64_t size = MAX(BLOCK_COPY_CLUSTER_SIZE_DEFAULT, min_cluster_size);
    int ret;

    ret = bdrv_get_info(target, &bdi);
    if (ret < 0 || bdi.cluster_size <= 0) {
        if (ret < 0 && ret != -ENOTSUP && !bdrv_cow_bs(target)) {
            error_setg_errno(errp, -ret, "Couldn't determine the cluster size "
                             "of the target image, which has no backing file");
            return -EINVAL;
        }
        return size;
    }
    return MAX(size, bdi.cluster_size);
}

BlockCopyState *block_copy_state_new(BdrvChild *source, BdrvChild *target,
                                     int64_t cluster_size, bool compress,
                                     Error **errp)
{
    BlockCopyState *s;
    BdrvDirtyBitmap *copy, *done;
    int64_t len = bdrv_getlength(source->bs);

    if (len < 0) {
        error_setg_errno(errp, -len, "Unable to get length for '%s'",
                         bdrv_get_node_name(source->bs));
        return NULL;
    }
    copy = bdrv_create_dirty_bitmap(source->bs, cluster_size, NULL, errp);
    if (!copy) {
        return NULL;
    }
    done = bdrv_create_dirty_bitmap(source->bs, cluster_size, NULL, errp);
    if (!done) {
        bdrv_release_dirty_bitmap(copy);
        return NULL;
    }
    bdrv_disable_dirty_bitmap(copy);
    bdrv_disable_dirty_bitmap(done);

    s = g_new0(BlockCopyState, 1);
    s->source = source;
    s->target = target;
    s->copy_bitmap = copy;
    s->done_bitmap = done;
    s->cluster_size = cluster_size;
    s->len = len;
    s->compress = compress;
    s->pool_buf_size = MAX(cluster_size, BLOCK_COPY_CHUNK);
    qemu_co_queue_init(&s->mem_queue);
    qemu_co_queue_init(&s->task_done);
    return s;
}

void block_copy_state_free(BlockCopyState *s)
{
    if (!s) {
        return;
    }
    assert(!s->tasks);
    g_slist_free_full(s->buf_pool, qemu_vfree);
    bdrv_release_dirty_bitmap(s->copy_bitmap);
    bdrv_release_dirty_bitmap(s->done_bitmap);
    g_free(s);
}

BdrvDirtyBitmap *block_copy_dirty_bitmap(BlockCopyState *s)
{
    return s->copy_bitmap;
}

BdrvDirtyBitmap *block_copy_done_bitmap(BlockCopyState *s)
{
    return s->done_bitmap;
}

int64_t block_copy_cluster_size(BlockCopyState *s)
{
    return s->cluster_size;
}

int64_t block_copy_len(BlockCopyState *s)
{
    return s->len;
}

int64_t block_copy_in_flight_bytes(BlockCopyState *s)
{
    return s->in_flight_bytes;
}

int64_t block_copy_remaining(BlockCopyState *s)
{
    return bdrv_get_dirty_count(s->copy_bitmap) + s->in_flight_bytes;
}

bool block_copy_snapshot_lost(BlockCopyState *s)
{
    return s->lost;
}

void block_copy_set_copy_range(BlockCopyState *s, bool use_copy_range)
{
    s->use_copy_range = use_copy_range && !s->compress;
}

void block_copy_set_max_chunk(BlockCopyState *s, int64_t max_chunk)
{
    s->max_chunk = max_chunk;
}

void block_copy_set_progress(BlockCopyState *s, BlockCopyProgressFunc *fn,
                             void *opaque)
{
    s->progress = fn;
    s->progress_opaque = opaque;
}

void block_copy_set_target_is_zero(BlockCopyState *s, bool is_zero)
{
    s->target_is_zero = is_zero;
}

void block_copy_set_discard_source(BlockCopyState *s, bool discard_source)
{
    s->discard_source = discard_source;
}

static void block_copy_round(BlockCopyState *s, int64_t *offset, int64_t *bytes)
{
    int64_t start = QEMU_ALIGN_DOWN(*offset, s->cluster_size);
    int64_t end = MIN(QEMU_ALIGN_UP(*offset + *bytes, s->cluster_size), s->len);

    *offset = start;
    *bytes = MAX(end - start, 0);
}

void block_copy_set_dirty(BlockCopyState *s, int64_t offset, int64_t bytes)
{
    block_copy_round(s, &offset, &bytes);
    if (bytes) {
        bdrv_set_dirty_bitmap(s->copy_bitmap, offset, bytes);
    }
}

void block_copy_reset(BlockCopyState *s, int64_t offset, int64_t bytes)
{
    int64_t start = QEMU_ALIGN_UP(offset, s->cluster_size);
    int64_t end = offset + bytes;

    end = end >= s->len ? s->len : QEMU_ALIGN_DOWN(end, s->cluster_size);
    if (end > start) {
        bdrv_reset_dirty_bitmap(s->copy_bitmap, start, end - start);
    }
}

static int64_t block_copy_chunk(BlockCopyState *s)
{
    int64_t chunk;

    if (s->compress) {
        return s->cluster_size;
    }
    chunk = MAX(s->cluster_size,
                s->use_copy_range ? BLOCK_COPY_RANGE_CHUNK : BLOCK_COPY_CHUNK);
    if (s->max_chunk) {
        chunk = MIN(chunk, s->max_chunk);
    }
    return MAX(QEMU_ALIGN_DOWN(chunk, s->cluster_size), s->cluster_size);
}

/* Claim the first dirty run in [start, end) */
static BlockCopyTask *block_copy_claim(BlockCopyState *s, int64_t start,
                                       int64_t end, int64_t max_bytes)
{
    BlockCopyTask *t;
    int64_t off, bytes;

    if (start >= end ||
        !bdrv_dirty_bitmap_next_dirty_area(s->copy_bitmap, start, end,
                                           max_bytes, &off, &bytes)) {
        return NULL;
    }
    bytes = MIN(bytes, s->len - off);
    bdrv_reset_dirty_bitmap(s->copy_bitmap, off, bytes);

    t = g_new0(BlockCopyTask, 1);
    t->s = s;
    t->offset = off;
    t->bytes = bytes;
    t->reading = true;
    qemu_co_queue_init(&t->read_done);
    s->tasks = g_list_prepend(s->tasks, t);
    s->in_flight_bytes += bytes;
    trace_block_copy_process(s, off);
    return t;
}

BlockCopyTask *block_copy_task_claim_next(BlockCopyState *s, int64_t *cursor)
{
    BlockCopyTask *t = block_copy_claim(s, *cursor, s->len, block_copy_chunk(s));

    if (t) {
        *cursor = t->offset + t->bytes;
    }
    return t;
}

int64_t block_copy_task_bytes(BlockCopyTask *t)
{
    return t->bytes;
}

static void block_copy_read_finished(BlockCopyTask *t)
{
    if (t->reading) {
        t->reading = false;
        qemu_co_queue_restart_all(&t->read_done);
    }
}

/* Give back [offset, offset + bytes) of t unclaimed (t shrinks to its head) */
static void block_copy_task_shrink(BlockCopyTask *t, int64_t new_bytes)
{
    BlockCopyState *s = t->s;

    if (new_bytes >= t->bytes) {
        return;
    }
    bdrv_set_dirty_bitmap(s->copy_bitmap, t->offset + new_bytes,
                          t->bytes - new_bytes);
    s->in_flight_bytes -= t->bytes - new_bytes;
    t->bytes = new_bytes;
    /* Waiters on the given-back part find it dirty again */
    qemu_co_queue_restart_all(&t->read_done);
    qemu_co_queue_restart_all(&s->task_done);
}

/*
 * Block status of the task's range: 1 zeroes, 0 data, shrinking the task
 * to the part with one status.  A failure means "data" for one cluster.
 */
static int coroutine_fn block_copy_task_status(BlockCopyTask *t)
{
    BlockCopyState *s = t->s;
    int64_t pnum = 0;
    int ret;

    ret = bdrv_co_block_status_above(s->source->bs, NULL, true, t->offset,
                                     t->bytes, &pnum, NULL, NULL, NULL);
    if (ret < 0 || pnum <= 0) {
        block_copy_task_shrink(t, MIN(t->bytes, s->cluster_size));
        return 0;
    }
    if (pnum < t->bytes) {
        int64_t keep = t->offset + pnum >= s->len ? pnum :
                       QEMU_ALIGN_DOWN(pnum, s->cluster_size);

        if (keep == 0) {
            /* Mixed within the first cluster: copy it as data */
            block_copy_task_shrink(t, s->cluster_size);
            return 0;
        }
        block_copy_task_shrink(t, keep);
    }
    return (ret & BDRV_BLOCK_ZERO) ? 1 : 0;
}

/*
 * Buffers of the usual task size are kept for reuse: a fresh 1 MiB
 * allocation is an mmap whose pages the kernel faults in and zeroes on
 * every task.
 */
static void *block_copy_buf_get(BlockCopyState *s, int64_t bytes)
{
    void *buf;

    if (bytes > s->pool_buf_size) {
        return qemu_try_memalign(4096, bytes);
    }
    if (s->buf_pool) {
        buf = s->buf_pool->data;
        s->buf_pool = g_slist_delete_link(s->buf_pool, s->buf_pool);
        return buf;
    }
    return qemu_try_memalign(4096, s->pool_buf_size);
}

static void block_copy_buf_put(BlockCopyState *s, void *buf, int64_t bytes)
{
    if (!buf) {
        return;
    }
    if (bytes > s->pool_buf_size) {
        qemu_vfree(buf);
        return;
    }
    s->buf_pool = g_slist_prepend(s->buf_pool, buf);
}

static int coroutine_fn block_copy_task_data(BlockCopyTask *t,
                                             bool *error_is_read)
{
    BlockCopyState *s = t->s;
    void *buf;
    int ret;

    if (s->use_copy_range) {
        ret = bdrv_co_copy_range(s->source, t->offset, s->target, t->offset,
                                 t->bytes, 0, 0);
        if (ret >= 0) {
            block_copy_read_finished(t);
            return 0;
        }
        trace_block_copy_copy_range_fail(s, t->offset, ret);
        s->use_copy_range = false;   /* read + write from now on */
    }

    while (s->mem_used + t->bytes > BLOCK_COPY_MAX_MEM && s->mem_used > 0) {
        qemu_co_queue_wait(&s->mem_queue, NULL);
    }
    s->mem_used += t->bytes;
    buf = block_copy_buf_get(s, t->bytes);
    if (!buf) {
        ret = -ENOMEM;
        *error_is_read = true;
        goto out;
    }
    ret = bdrv_co_pread(s->source, t->offset, t->bytes, buf, 0);
    if (ret < 0) {
        trace_block_copy_read_fail(s, t->offset, ret);
        *error_is_read = true;
        goto out;
    }
    block_copy_read_finished(t);
    ret = bdrv_co_pwrite(s->target, t->offset, t->bytes, buf,
                         s->compress ? BDRV_REQ_WRITE_COMPRESSED : 0);
    if (ret < 0) {
        trace_block_copy_write_fail(s, t->offset, ret);
        *error_is_read = false;
    }
out:
    block_copy_buf_put(s, buf, t->bytes);
    s->mem_used -= t->bytes;
    qemu_co_queue_restart_all(&s->mem_queue);
    return ret;
}

static int coroutine_fn block_copy_task_zero(BlockCopyTask *t,
                                             bool *error_is_read)
{
    BlockCopyState *s = t->s;
    int ret;

    block_copy_read_finished(t);
    if (s->target_is_zero) {
        trace_block_copy_skip_range(s, t->offset, t->bytes);
        return 0;
    }
    ret = bdrv_co_pwrite_zeroes(s->target, t->offset, t->bytes,
                                BDRV_REQ_MAY_UNMAP);
    if (ret < 0) {
        trace_block_copy_write_zeroes_fail(s, t->offset, ret);
        *error_is_read = false;
    }
    return ret;
}

/*
 * discard-source: the clusters are on the target now, drop them from the
 * source (QEMU: after the task ended; a failure is only traced, the copy
 * itself succeeded).  Clamped to the end of the source: the last cluster
 * may be partial.
 */
static void coroutine_fn block_copy_discard_source(BlockCopyState *s,
                                                   int64_t offset,
                                                   int64_t bytes)
{
    int ret;

    bytes = MIN(offset + bytes, s->len) - offset;
    ret = bdrv_co_pdiscard(s->source, offset, bytes);
    trace_block_copy_discard_source(s, offset, bytes, ret);
}

int coroutine_fn block_copy_task_run(BlockCopyTask *t, bool *error_is_read)
{
    BlockCopyState *s = t->s;
    int64_t offset = t->offset, bytes = t->bytes;
    bool is_read = false;
    int ret;

    ret = block_copy_task_status(t);
    if (ret == 1) {
        ret = block_copy_task_zero(t, &is_read);
    } else {
        ret = block_copy_task_data(t, &is_read);
    }
    block_copy_read_finished(t);

    s->tasks = g_list_remove(s->tasks, t);
    s->in_flight_bytes -= t->bytes;
    if (ret < 0) {
        if (t->overwritten) {
            s->lost = true;
        } else {
            bdrv_set_dirty_bitmap(s->copy_bitmap, t->offset, t->bytes);
        }
    } else {
        bdrv_set_dirty_bitmap(s->done_bitmap, t->offset, t->bytes);
        if (s->progress) {
            s->progress(s->progress_opaque, t->bytes);
        }
    }
    qemu_co_queue_restart_all(&s->task_done);
    g_free(t);
    if (ret == 0 && s->discard_source) {
        block_copy_discard_source(s, offset, bytes);
    }
    if (error_is_read) {
        *error_is_read = is_read;
    }
    return ret;
}

void coroutine_fn block_copy_wait_one(BlockCopyState *s)
{
    if (s->tasks) {
        qemu_co_queue_wait(&s->task_done, NULL);
    }
}

/* ---- block_copy(): copy a range now ---- */

typedef struct BlockCopyCall {
    int in_flight;
    int ret;
    bool error_is_read;
    Coroutine *waiter;
} BlockCopyCall;

typedef struct BlockCopyWorker {
    BlockCopyCall *call;
    BlockCopyTask *task;
} BlockCopyWorker;

static void coroutine_fn block_copy_worker(void *opaque)
{
    BlockCopyWorker *w = opaque;
    BlockCopyCall *call = w->call;
    bool is_read = false;
    int ret;

    ret = block_copy_task_run(w->task, &is_read);
    if (ret < 0 && call->ret == 0) {
        call->ret = ret;
        call->error_is_read = is_read;
    }
    g_free(w);
    if (--call->in_flight == 0 && call->waiter) {
        aio_co_wake(call->waiter);
    }
}

/* Someone else's task still reading old data of [start, end) */
static BlockCopyTask *block_copy_find_reader(BlockCopyState *s, int64_t start,
                                             int64_t end)
{
    GList *l;

    for (l = s->tasks; l; l = l->next) {
        BlockCopyTask *t = l->data;

        if (t->reading && t->offset < end && start < t->offset + t->bytes) {
            return t;
        }
    }
    return NULL;
}

/* Mark finished readers of [start, end) overwritten (the guest goes on) */
static void block_copy_mark_overwritten(BlockCopyState *s, int64_t start,
                                        int64_t end)
{
    GList *l;

    for (l = s->tasks; l; l = l->next) {
        BlockCopyTask *t = l->data;

        if (t->offset < end && start < t->offset + t->bytes) {
            t->overwritten = true;
        }
    }
}

int coroutine_fn block_copy(BlockCopyState *s, int64_t offset, int64_t bytes,
                            bool *error_is_read)
{
    BlockCopyCall call = { 0 };
    int64_t start, end, chunk = block_copy_chunk(s);
    BlockCopyTask *t;

    block_copy_round(s, &offset, &bytes);
    end = offset + bytes;
    while (true) {
        start = offset;
        while ((t = block_copy_claim(s, start, end, chunk))) {
            BlockCopyWorker *w = g_new0(BlockCopyWorker, 1);

            start = t->offset + t->bytes;
            w->call = &call;
            w->task = t;
            call.in_flight++;
            qemu_coroutine_enter(qemu_coroutine_create(block_copy_worker, w));
        }
        if (call.in_flight) {
            call.waiter = qemu_coroutine_self();
            while (call.in_flight) {
                qemu_coroutine_yield();
            }
            call.waiter = NULL;
            if (call.ret < 0) {
                break;
            }
            continue;       /* others' tasks may have failed meanwhile */
        }
        t = block_copy_find_reader(s, offset, end);
        if (t) {
            qemu_co_queue_wait(&t->read_done, NULL);
            continue;
        }
        if (call.ret < 0 ||
            bdrv_dirty_bitmap_next_dirty(s->copy_bitmap, offset, bytes) < 0) {
            break;
        }
    }
    if (call.ret == 0) {
        block_copy_mark_overwritten(s, offset, end);
    }
    if (error_is_read) {
        *error_is_read = call.error_is_read;
    }
    return call.ret;
}
