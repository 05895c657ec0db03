/*
 * file-posix-wb.c: write-behind for the buffered writes of the `file`
 * driver.
 *
 * A streaming writer (the target of a mirror job) asks for it with
 * bdrv_write_behind().  The driver then notes the range each completed
 * buffered write covered, and every FILE_WB_BYTES it starts writeback of
 * that range with sync_file_range(SYNC_FILE_RANGE_WRITE) on a worker.  The
 * disk so writes while the job still reads, instead of idling until the
 * kernel's dirty threshold or the final flush; that flush then finds
 * little left to do.  Nothing waits for the writeback: a flush keeps its
 * meaning, and a crash loses nothing a flush had not already made safe.
 */
#include "qemu/osdep.h"
#include "qemu/thread-pool.h"
#include "block/file-posix-int.h"
#include "trace/trace-block.h"

void file_wb_enable(FileWriteBehind *wb, bool on)
{
    if (on) {
        wb->users++;
    } else if (wb->users > 0) {
        wb->users--;
    }
    if (wb->users == 0) {
        wb->start = wb->end = 0;
    }
}

bool file_wb_note(FileWriteBehind *wb, int64_t offset, int64_t bytes,
                  int64_t *start, int64_t *len)
{
    if (wb->users == 0 || bytes <= 0) {
        return false;
    }
    if (wb->start == wb->end) {
        wb->start = offset;
        wb->end = offset + bytes;
    } else {
        /* A superset is fine: only dirty pages in the range are written */
        wb->start = MIN(wb->start, offset);
        wb->end = MAX(wb->end, offset + bytes);
    }
    if (wb->busy || wb->end - wb->start < FILE_WB_BYTES) {
        return false;
    }
    *start = wb->start;
    *len = wb->end - wb->start;
    wb->start = wb->end = 0;
    wb->busy = true;
    return true;
}

void file_wb_done(FileWriteBehind *wb)
{
    wb->busy = false;
}

typedef struct FileSyncRange {
    int fd;
    int64_t offset;
    int64_t len;
} FileSyncRange;

static int file_sync_range_fn(void *opaque)
{
    FileSyncRange *r = opaque;

    if (RETRY_ON_EINTR(sync_file_range(r->fd, r->offset, r->len,
                                       SYNC_FILE_RANGE_WRITE)) < 0) {
        return -errno;
    }
    return 0;
}

int coroutine_fn file_pool_co_start_writeback(int fd, int64_t offset,
                                              int64_t len)
{
    FileSyncRange r = { .fd = fd, .offset = offset, .len = len };
    int ret;

    ret = thread_pool_submit_co(file_sync_range_fn, &r);
    trace_file_write_behind(fd, offset, len, ret);
    return ret;
}
