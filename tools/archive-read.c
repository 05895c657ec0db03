/*
 * archive-read.c: reading blockd-archive files: the checked walk over
 * the records (archive_scan) and restore, which replays the records in
 * file order into sparse raw images (later records win).
 */
#include "archive-read.h"
#include <sys/stat.h>

static bool archive_check_end(const ArchiveHeader *h, const ArchiveRecord *rec,
                              const ArchiveScanStats *stats, Error **errp)
{
    if (rec->disk != h->ndisks ||
        rec->offset != stats->data_records + stats->zero_records ||
        rec->length != rec->pos) {
        error_setg(errp, "END record at offset %" PRIu64 " does not match the "
                   "archive (%" PRIu64 " records found)", rec->pos,
                   stats->data_records + stats->zero_records);
        return false;
    }
    return true;
}

static bool archive_check_extent(const ArchiveHeader *h, const ArchiveRecord *rec,
                                 Error **errp)
{
    if (rec->disk >= h->ndisks) {
        error_setg(errp, "Record at offset %" PRIu64 " names disk %u of %u",
                   rec->pos, rec->disk, h->ndisks);
        return false;
    }
    if (rec->offset > h->disks[rec->disk].size ||
        rec->length > h->disks[rec->disk].size - rec->offset) {
        error_setg(errp, "Record at offset %" PRIu64 " lies beyond the end of "
                   "disk '%s'", rec->pos, h->disks[rec->disk].name);
        return false;
    }
    return true;
}

bool archive_scan(int fd, ArchiveHeader *h, ArchiveRecordFunc *fn, void *opaque,
                  ArchiveScanStats *stats, Error **errp)
{
    g_autofree uint8_t *buf = g_malloc(ARCHIVE_MAX_EXTENT);
    ArchiveRecord rec;
    uint64_t pos;
    int ret;

    memset(stats, 0, sizeof(*stats));
    if (!archive_header_read(fd, h, errp)) {
        return false;
    }
    pos = h->header_size;
    for (;;) {
        ret = archive_record_read(fd, pos, &rec, errp);
        if (ret < 0) {
            return false;
        }
        if (ret == 0) {
            error_setg(errp, "Archive is incomplete: no END record after "
                       "offset %" PRIu64, pos);
            return false;
        }
        if (!archive_record_check(fd, &rec, buf, errp)) {
            return false;
        }
        if (rec.type == ARCHIVE_REC_END) {
            if (!archive_check_end(h, &rec, stats, errp)) {
                return false;
            }
            stats->complete = true;
            stats->file_size = pos + ARCHIVE_REC_SIZE;
            break;
        }
        if (!archive_check_extent(h, &rec, errp)) {
            return false;
        }
        if (rec.type == ARCHIVE_REC_DATA) {
            stats->data_records++;
            stats->data_bytes += rec.length;
        } else {
            stats->zero_records++;
            stats->zero_bytes += rec.length;
        }
        if (fn && !fn(h, &rec, buf, opaque, errp)) {
            return false;
        }
        pos += archive_record_size(&rec);
    }
    return true;
}

typedef struct RestoreState {
    int *fds;
} RestoreState;

static int restore_zero(int fd, uint64_t offset, uint64_t length)
{
    static const uint8_t zeroes[65536];

    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  offset, length) == 0) {
        return 0;
    }
    while (length) {
        uint64_t n = MIN(length, sizeof(zeroes));
        struct iovec iov = { .iov_base = (void *)zeroes, .iov_len = n };
        int ret = archive_pwritev_full(fd, &iov, 1, offset);

        if (ret < 0) {
            return ret;
        }
        offset += n;
        length -= n;
    }
    return 0;
}

static bool restore_record(const ArchiveHeader *h, const ArchiveRecord *rec,
                           const uint8_t *data, void *opaque, Error **errp)
{
    RestoreState *s = opaque;
    int fd = s->fds[rec->disk];
    int ret;

    if (rec->type == ARCHIVE_REC_DATA) {
        struct iovec iov = { .iov_base = (void *)data, .iov_len = rec->length };

        ret = archive_pwritev_full(fd, &iov, 1, rec->offset);
    } else {
        ret = restore_zero(fd, rec->offset, rec->length);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not write disk '%s'",
                         h->disks[rec->disk].name);
        return false;
    }
    return true;
}

/* Open every disk image before the records are replayed */
static bool restore_open_images(const ArchiveHeader *h, const char *dir,
                                int *fds, Error **errp)
{
    uint32_t i;

    for (i = 0; i < h->ndisks; i++) {
        g_autofree char *path = g_strdup_printf("%s/%s.raw", dir,
                                                h->disks[i].name);

        if (strchr(h->disks[i].name, '/') || h->disks[i].name[0] == '.') {
            error_setg(errp, "Invalid disk name '%s'", h->disks[i].name);
            return false;
        }
        fds[i] = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fds[i] < 0 || ftruncate(fds[i], h->disks[i].size) < 0) {
            error_setg_errno(errp, errno, "Could not create '%s'", path);
            return false;
        }
    }
    return true;
}

bool archive_restore(const char *archive, const char *dir, bool quiet,
                     Error **errp)
{
    ArchiveHeader h;
    ArchiveScanStats stats;
    RestoreState s;
    bool ok = false;
    uint32_t i;
    int fd;

    fd = open(archive, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", archive);
        return false;
    }
    if (!archive_header_read(fd, &h, errp)) {
        close(fd);
        return false;
    }
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        error_setg_errno(errp, errno, "Could not create '%s'", dir);
        goto out;
    }
    s.fds = g_new(int, h.ndisks);
    for (i = 0; i < h.ndisks; i++) {
        s.fds[i] = -1;
    }
    if (restore_open_images(&h, dir, s.fds, errp)) {
        ArchiveHeader h2;

        ok = archive_scan(fd, &h2, restore_record, &s, &stats, errp);
        archive_header_free(&h2);
    }
    for (i = 0; i < h.ndisks; i++) {
        if (s.fds[i] >= 0) {
            if (ok && fsync(s.fds[i]) < 0) {
                error_setg_errno(errp, errno, "Could not sync disk '%s'",
                                 h.disks[i].name);
                ok = false;
            }
            close(s.fds[i]);
        }
    }
    g_free(s.fds);
    if (ok && !quiet) {
        for (i = 0; i < h.ndisks; i++) {
            printf("restored %s/%s.raw (%" PRIu64 " bytes)\n", dir,
                   h.disks[i].name, h.disks[i].size);
        }
    }
out:
    archive_header_free(&h);
    close(fd);
    return ok;
}
