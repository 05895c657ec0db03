/*
 * archive-format.c: encoding, decoding and checksums of the blockd-archive
 * header and records (docs/archive-format.md).  No policy here: the
 * writer decides what to store, restore/verify what to do with it.
 */
#include "archive-format.h"

static void put_le32(uint8_t *p, uint32_t v)
{
    v = GUINT32_TO_LE(v);
    memcpy(p, &v, 4);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    v = GUINT64_TO_LE(v);
    memcpy(p, &v, 8);
}

static uint32_t get_le32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return GUINT32_FROM_LE(v);
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return GUINT64_FROM_LE(v);
}

static void sha256_of(const struct iovec *iov, int niov, uint8_t *out)
{
    GChecksum *c = g_checksum_new(G_CHECKSUM_SHA256);
    gsize len = ARCHIVE_CSUM_LEN;
    int i;

    for (i = 0; i < niov; i++) {
        g_checksum_update(c, iov[i].iov_base, iov[i].iov_len);
    }
    g_checksum_get_digest(c, out, &len);
    g_checksum_free(c);
}

int archive_pread_full(int fd, void *buf, size_t len, uint64_t pos)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = pread(fd, p, len, pos);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            return -EIO;
        }
        p += n;
        len -= n;
        pos += n;
    }
    return 0;
}

int archive_pwritev_full(int fd, struct iovec *iov, int niov, uint64_t pos)
{
    while (niov) {
        ssize_t n = pwritev(fd, iov, niov, pos);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        pos += n;
        while (niov && (size_t)n >= iov->iov_len) {
            n -= iov->iov_len;
            iov++;
            niov--;
        }
        if (niov) {
            iov->iov_base = (uint8_t *)iov->iov_base + n;
            iov->iov_len -= n;
        }
    }
    return 0;
}

/*
 * Header: magic[8] version:32 header_size:32 cluster_size:32 csum_type:32
 * created:64 ndisks:32 reserved:32, then per disk size:64 name_len:16
 * name, then SHA-256 of everything before it.
 */
uint8_t *archive_header_encode(const ArchiveHeader *h, size_t *len)
{
    size_t size = ARCHIVE_HEADER_FIXED + ARCHIVE_CSUM_LEN;
    struct iovec iov;
    uint8_t *buf, *p;
    uint32_t i;

    for (i = 0; i < h->ndisks; i++) {
        size += 10 + strlen(h->disks[i].name);
    }
    buf = g_malloc0(size);
    memcpy(buf, ARCHIVE_MAGIC, 8);
    put_le32(buf + 8, ARCHIVE_VERSION);
    put_le32(buf + 12, size);
    put_le32(buf + 16, h->cluster_size);
    put_le32(buf + 20, ARCHIVE_CSUM_SHA256);
    put_le64(buf + 24, h->created);
    put_le32(buf + 32, h->ndisks);
    p = buf + ARCHIVE_HEADER_FIXED;
    for (i = 0; i < h->ndisks; i++) {
        size_t n = strlen(h->disks[i].name);

        put_le64(p, h->disks[i].size);
        p[8] = n & 0xff;
        p[9] = n >> 8;
        memcpy(p + 10, h->disks[i].name, n);
        p += 10 + n;
    }
    iov = (struct iovec) { .iov_base = buf, .iov_len = p - buf };
    sha256_of(&iov, 1, p);
    *len = size;
    return buf;
}

bool archive_header_read(int fd, ArchiveHeader *h, Error **errp)
{
    uint8_t fixed[ARCHIVE_HEADER_FIXED], csum[ARCHIVE_CSUM_LEN];
    g_autofree uint8_t *buf = NULL;
    struct iovec iov;
    uint32_t size, i;
    uint8_t *p, *end;
    int ret;

    memset(h, 0, sizeof(*h));
    ret = archive_pread_full(fd, fixed, sizeof(fixed), 0);
    if (ret < 0 || memcmp(fixed, ARCHIVE_MAGIC, 8)) {
        error_setg(errp, "Not a blockd archive (bad magic)");
        return false;
    }
    if (get_le32(fixed + 8) != ARCHIVE_VERSION) {
        error_setg(errp, "Unsupported archive version %u", get_le32(fixed + 8));
        return false;
    }
    size = get_le32(fixed + 12);
    if (size < ARCHIVE_HEADER_FIXED + ARCHIVE_CSUM_LEN || size > 1024 * 1024) {
        error_setg(errp, "Invalid archive header size %u", size);
        return false;
    }
    if (get_le32(fixed + 20) != ARCHIVE_CSUM_SHA256) {
        error_setg(errp, "Unsupported checksum type %u", get_le32(fixed + 20));
        return false;
    }
    buf = g_malloc(size);
    ret = archive_pread_full(fd, buf, size, 0);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not read the archive header");
        return false;
    }
    iov = (struct iovec) { .iov_base = buf, .iov_len = size - ARCHIVE_CSUM_LEN };
    sha256_of(&iov, 1, csum);
    if (memcmp(csum, buf + size - ARCHIVE_CSUM_LEN, ARCHIVE_CSUM_LEN)) {
        error_setg(errp, "Archive header checksum mismatch");
        return false;
    }
    h->version = ARCHIVE_VERSION;
    h->header_size = size;
    h->cluster_size = get_le32(buf + 16);
    h->created = get_le64(buf + 24);
    h->ndisks = get_le32(buf + 32);
    if (h->ndisks > ARCHIVE_MAX_DISKS) {
        error_setg(errp, "Too many disks in the archive (%u)", h->ndisks);
        h->ndisks = 0;
        return false;
    }
    h->disks = g_new0(ArchiveDisk, h->ndisks);
    p = buf + ARCHIVE_HEADER_FIXED;
    end = buf + size - ARCHIVE_CSUM_LEN;
    for (i = 0; i < h->ndisks; i++) {
        size_t n;

        if (end - p < 10) {
            goto truncated;
        }
        n = p[8] | (p[9] << 8);
        if ((size_t)(end - p) < 10 + n) {
            goto truncated;
        }
        h->disks[i].size = get_le64(p);
        h->disks[i].name = g_strndup((char *)p + 10, n);
        p += 10 + n;
    }
    return true;

truncated:
    error_setg(errp, "Archive disk table is truncated");
    archive_header_free(h);
    return false;
}

void archive_header_free(ArchiveHeader *h)
{
    uint32_t i;

    for (i = 0; i < h->ndisks; i++) {
        g_free(h->disks[i].name);
    }
    g_free(h->disks);
    h->disks = NULL;
    h->ndisks = 0;
}

void archive_record_encode(uint8_t *buf, uint32_t type, uint32_t disk,
                           uint64_t offset, uint64_t length,
                           const struct iovec *iov, int niov)
{
    struct iovec all[2];

    assert(niov <= 1);
    put_le32(buf, type);
    put_le32(buf + 4, disk);
    put_le64(buf + 8, offset);
    put_le64(buf + 16, length);
    all[0] = (struct iovec) { .iov_base = buf, .iov_len = ARCHIVE_REC_HDR };
    if (niov) {
        memcpy(all + 1, iov, niov * sizeof(*iov));
    }
    sha256_of(all, niov + 1, buf + ARCHIVE_REC_HDR);
}

const char *archive_record_type_str(uint32_t type)
{
    switch (type) {
    case ARCHIVE_REC_DATA:
        return "data";
    case ARCHIVE_REC_ZERO:
        return "zero";
    case ARCHIVE_REC_END:
        return "end";
    }
    return "unknown";
}

uint64_t archive_record_size(const ArchiveRecord *rec)
{
    return ARCHIVE_REC_SIZE + (rec->type == ARCHIVE_REC_DATA ? rec->length : 0);
}

int archive_record_read(int fd, uint64_t pos, ArchiveRecord *rec, Error **errp)
{
    uint8_t buf[ARCHIVE_REC_SIZE];
    ssize_t n;

    n = pread(fd, buf, sizeof(buf), pos);
    if (n == 0) {
        return 0;
    }
    if (n != sizeof(buf)) {
        error_setg(errp, "Truncated record at offset %" PRIu64, pos);
        return -1;
    }
    rec->type = get_le32(buf);
    rec->disk = get_le32(buf + 4);
    rec->offset = get_le64(buf + 8);
    rec->length = get_le64(buf + 16);
    memcpy(rec->csum, buf + ARCHIVE_REC_HDR, ARCHIVE_CSUM_LEN);
    rec->pos = pos;
    if (rec->type != ARCHIVE_REC_DATA && rec->type != ARCHIVE_REC_ZERO &&
        rec->type != ARCHIVE_REC_END) {
        error_setg(errp, "Unknown record type 0x%08x at offset %" PRIu64,
                   rec->type, pos);
        return -1;
    }
    if (rec->type == ARCHIVE_REC_DATA && rec->length > ARCHIVE_MAX_EXTENT) {
        error_setg(errp, "Record at offset %" PRIu64 " is too long (%" PRIu64
                   " bytes)", pos, rec->length);
        return -1;
    }
    return 1;
}

bool archive_record_check(int fd, const ArchiveRecord *rec, uint8_t *buf,
                          Error **errp)
{
    uint8_t hdr[ARCHIVE_REC_SIZE];
    g_autofree uint8_t *own = NULL;
    struct iovec iov;
    int niov = 0, ret;

    if (rec->type == ARCHIVE_REC_DATA) {
        if (!buf) {
            buf = own = g_malloc(rec->length);
        }
        ret = archive_pread_full(fd, buf, rec->length, rec->pos + ARCHIVE_REC_SIZE);
        if (ret < 0) {
            error_setg(errp, "Truncated data of the record at offset %" PRIu64,
                       rec->pos);
            return false;
        }
        iov = (struct iovec) { .iov_base = buf, .iov_len = rec->length };
        niov = 1;
    }
    archive_record_encode(hdr, rec->type, rec->disk, rec->offset, rec->length,
                          &iov, niov);
    if (memcmp(hdr + ARCHIVE_REC_HDR, rec->csum, ARCHIVE_CSUM_LEN)) {
        error_setg(errp, "Checksum mismatch in the %s record at offset %" PRIu64
                   " (disk %u, offset %" PRIu64 ", %" PRIu64 " bytes)",
                   archive_record_type_str(rec->type), rec->pos, rec->disk,
                   rec->offset, rec->length);
        return false;
    }
    return true;
}
