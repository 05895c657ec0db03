/*
 * archive-writer.c: a block driver whose nodes append what they are
 * given to a blockd-archive file (docs/archive-format.md).
 *
 * A write is cut at cluster boundaries; runs of all-zero clusters become
 * ZERO records (nothing stored), the rest DATA records with the payload.
 * The file position of each record is reserved in the main loop, in
 * arrival order; checksumming and pwritev run in the thread pool, so many
 * NBD requests are written at once (the server has up to 32 in flight
 * per connection).  Reads are answered from the records written so far,
 * later records winning, so the export also reads back what it got.
 */
#include "archive-writer.h"
#include "qemu/coroutine.h"
#include "qemu/iov.h"
#include "qemu/thread-pool.h"

/* Where a disk's bytes are in the file (the read path's index) */
typedef struct ArchiveExtent {
    uint32_t type;
    uint32_t disk;
    uint64_t offset;
    uint64_t length;
    uint64_t data_pos;          /* DATA: file offset of the payload */
} ArchiveExtent;

struct ArchiveWriter {
    int fd;
    char *path;
    ArchiveHeader header;       /* copy: disk names and sizes */
    uint32_t cluster_size;
    uint64_t end;               /* next record goes here */
    GArray *extents;            /* ArchiveExtent, in file order */
    unsigned in_flight;
    ArchiveWriterStats stats;
};

typedef struct ArchiveDiskState {
    ArchiveWriter *w;
    uint32_t index;
    uint64_t size;
} ArchiveDiskState;

/* One record written by a worker thread */
typedef struct ArchiveWriteTask {
    int fd;
    uint64_t pos;
    uint32_t type;
    uint32_t disk;
    uint64_t offset;
    uint64_t length;
    const uint8_t *data;        /* DATA payload, length bytes */
} ArchiveWriteTask;

static int archive_write_task_run(void *opaque)
{
    ArchiveWriteTask *t = opaque;
    uint8_t hdr[ARCHIVE_REC_SIZE];
    struct iovec payload = { .iov_base = (void *)t->data, .iov_len = t->length };
    struct iovec iov[2];
    int n = t->type == ARCHIVE_REC_DATA ? 1 : 0;

    archive_record_encode(hdr, t->type, t->disk, t->offset, t->length,
                          &payload, n);
    iov[0] = (struct iovec) { .iov_base = hdr, .iov_len = sizeof(hdr) };
    iov[1] = payload;
    return archive_pwritev_full(t->fd, iov, n + 1, t->pos);
}

/* Reserve the record's place, index it, write it from a worker */
static int coroutine_fn archive_append(ArchiveWriter *w, uint32_t type,
                                       uint32_t disk, uint64_t offset,
                                       uint64_t length, const uint8_t *data)
{
    ArchiveWriteTask t = {
        .fd = w->fd, .pos = w->end, .type = type, .disk = disk,
        .offset = offset, .length = length, .data = data,
    };
    ArchiveExtent e = {
        .type = type, .disk = disk, .offset = offset, .length = length,
        .data_pos = w->end + ARCHIVE_REC_SIZE,
    };
    int ret;

    w->end += ARCHIVE_REC_SIZE + (type == ARCHIVE_REC_DATA ? length : 0);
    g_array_append_val(w->extents, e);
    if (type == ARCHIVE_REC_DATA) {
        w->stats.data_records++;
        w->stats.data_bytes += length;
    } else {
        w->stats.zero_records++;
        w->stats.zero_bytes += length;
    }
    w->in_flight++;
    ret = thread_pool_submit_co(archive_write_task_run, &t);
    w->in_flight--;
    if (ret < 0 && !w->stats.error) {
        w->stats.error = ret;
    }
    return ret;
}

static int coroutine_fn archive_co_pwritev(BlockDriverState *bs, int64_t offset,
                                           int64_t bytes, QEMUIOVector *qiov,
                                           BdrvRequestFlags flags)
{
    ArchiveDiskState *s = bs->opaque;
    ArchiveWriter *w = s->w;
    g_autofree uint8_t *buf = g_malloc(bytes);
    int64_t pos = 0, run_start = 0;
    bool run_zero = false;
    int ret;

    qemu_iovec_to_buf(qiov, 0, buf, bytes);
    while (pos < bytes) {
        int64_t next = MIN(bytes, QEMU_ALIGN_DOWN(offset + pos, w->cluster_size) +
                                  w->cluster_size - offset);
        bool zero = buffer_is_zero(buf + pos, next - pos);

        if (pos > run_start && zero != run_zero) {
            ret = archive_append(w, run_zero ? ARCHIVE_REC_ZERO : ARCHIVE_REC_DATA,
                                 s->index, offset + run_start, pos - run_start,
                                 buf + run_start);
            if (ret < 0) {
                return ret;
            }
            run_start = pos;
        }
        run_zero = zero;
        pos = next;
    }
    return archive_append(w, run_zero ? ARCHIVE_REC_ZERO : ARCHIVE_REC_DATA,
                          s->index, offset + run_start, bytes - run_start,
                          buf + run_start);
}

static int coroutine_fn archive_co_pwrite_zeroes(BlockDriverState *bs,
                                                 int64_t offset, int64_t bytes,
                                                 BdrvRequestFlags flags)
{
    ArchiveDiskState *s = bs->opaque;

    return archive_append(s->w, ARCHIVE_REC_ZERO, s->index, offset, bytes, NULL);
}

/* A backup target is never trimmed to garbage: discarded ranges read as zeroes */
static int coroutine_fn archive_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                            int64_t bytes)
{
    return archive_co_pwrite_zeroes(bs, offset, bytes, 0);
}

static int coroutine_fn archive_co_preadv(BlockDriverState *bs, int64_t offset,
                                          int64_t bytes, QEMUIOVector *qiov,
                                          BdrvRequestFlags flags)
{
    ArchiveDiskState *s = bs->opaque;
    ArchiveWriter *w = s->w;
    g_autofree uint8_t *buf = g_malloc0(bytes);
    guint i;

    for (i = 0; i < w->extents->len; i++) {
        ArchiveExtent *e = &g_array_index(w->extents, ArchiveExtent, i);
        int64_t start = MAX(offset, (int64_t)e->offset);
        int64_t end = MIN(offset + bytes, (int64_t)(e->offset + e->length));
        int ret;

        if (e->disk != s->index || start >= end) {
            continue;
        }
        if (e->type == ARCHIVE_REC_ZERO) {
            memset(buf + start - offset, 0, end - start);
            continue;
        }
        ret = archive_pread_full(w->fd, buf + start - offset, end - start,
                                 e->data_pos + start - e->offset);
        if (ret < 0) {
            return ret;
        }
    }
    qemu_iovec_from_buf(qiov, 0, buf, bytes);
    return 0;
}

static int archive_fsync_run(void *opaque)
{
    ArchiveWriter *w = opaque;

    return fdatasync(w->fd) < 0 ? -errno : 0;
}

static int coroutine_fn archive_co_flush(BlockDriverState *bs)
{
    ArchiveDiskState *s = bs->opaque;

    return thread_pool_submit_co(archive_fsync_run, s->w);
}

static int64_t archive_getlength(BlockDriverState *bs)
{
    ArchiveDiskState *s = bs->opaque;

    return s->size;
}

/* bdrv_new_open_driver() passes no options: the disk comes through here */
static ArchiveDiskState archive_pending_disk;

static int archive_open(BlockDriverState *bs, BlockdevOptions *options,
                        int flags, Error **errp)
{
    ArchiveDiskState *s = bs->opaque;

    *s = archive_pending_disk;
    return 0;
}

static BlockDriver bdrv_archive_disk = {
    .format_name = "blockd-archive",
    .instance_size = sizeof(ArchiveDiskState),
    .bdrv_open = archive_open,
    .bdrv_co_preadv = archive_co_preadv,
    .bdrv_co_pwritev = archive_co_pwritev,
    .bdrv_co_pwrite_zeroes = archive_co_pwrite_zeroes,
    .bdrv_co_pdiscard = archive_co_pdiscard,
    .bdrv_co_flush = archive_co_flush,
    .bdrv_getlength = archive_getlength,
    .supported_zero_flags = BDRV_REQ_MAY_UNMAP,
};

ArchiveWriter *archive_writer_new(const char *path, const ArchiveHeader *h,
                                  Error **errp)
{
    ArchiveWriter *w;
    g_autofree uint8_t *hdr = NULL;
    struct iovec iov;
    size_t len;
    uint32_t i;
    int fd, ret;

    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not create '%s'", path);
        return NULL;
    }
    hdr = archive_header_encode(h, &len);
    iov = (struct iovec) { .iov_base = hdr, .iov_len = len };
    ret = archive_pwritev_full(fd, &iov, 1, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write '%s'", path);
        close(fd);
        return NULL;
    }
    w = g_new0(ArchiveWriter, 1);
    w->fd = fd;
    w->path = g_strdup(path);
    w->cluster_size = h->cluster_size;
    w->end = len;
    w->extents = g_array_new(false, false, sizeof(ArchiveExtent));
    w->header = *h;
    w->header.disks = g_new0(ArchiveDisk, h->ndisks);
    for (i = 0; i < h->ndisks; i++) {
        w->header.disks[i].name = g_strdup(h->disks[i].name);
        w->header.disks[i].size = h->disks[i].size;
    }
    return w;
}

BlockDriverState *archive_writer_open_disk(ArchiveWriter *w, uint32_t index,
                                           Error **errp)
{
    archive_pending_disk = (ArchiveDiskState) {
        .w = w, .index = index, .size = w->header.disks[index].size,
    };
    return bdrv_new_open_driver(&bdrv_archive_disk, w->header.disks[index].name,
                                BDRV_O_RDWR, errp);
}

unsigned archive_writer_in_flight(ArchiveWriter *w)
{
    return w->in_flight;
}

int archive_writer_finish(ArchiveWriter *w, ArchiveWriterStats *stats,
                          Error **errp)
{
    uint8_t rec[ARCHIVE_REC_SIZE];
    struct iovec iov = { .iov_base = rec, .iov_len = sizeof(rec) };
    int ret;

    assert(!w->in_flight);
    archive_record_encode(rec, ARCHIVE_REC_END, w->header.ndisks,
                          w->stats.data_records + w->stats.zero_records,
                          w->end, NULL, 0);
    ret = archive_pwritev_full(w->fd, &iov, 1, w->end);
    if (ret == 0 && fdatasync(w->fd) < 0) {
        ret = -errno;
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not finish '%s'", w->path);
    }
    w->stats.file_size = w->end + ARCHIVE_REC_SIZE;
    if (stats) {
        *stats = w->stats;
    }
    close(w->fd);
    archive_header_free(&w->header);
    g_array_free(w->extents, true);
    g_free(w->path);
    g_free(w);
    return ret;
}
