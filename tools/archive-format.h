/*
 * archive-format.h: the blockd-archive file format (docs/archive-format.md):
 * encoding and decoding of the header and of the records, and their
 * SHA-256 checksums.  Shared by the writer (archive-writer.c) and by
 * restore/verify/info (archive-read.c).  All integers little-endian.
 */
#ifndef TOOLS_ARCHIVE_FORMAT_H
#define TOOLS_ARCHIVE_FORMAT_H

#include "qemu/osdep.h"
#include "qemu/error.h"

#define ARCHIVE_MAGIC           "BLKDARC1"
#define ARCHIVE_VERSION         1
#define ARCHIVE_CSUM_SHA256     1
#define ARCHIVE_CSUM_LEN        32
#define ARCHIVE_HEADER_FIXED    40      /* bytes before the disk table */
#define ARCHIVE_REC_HDR         24      /* type, disk, offset, length */
#define ARCHIVE_REC_SIZE        (ARCHIVE_REC_HDR + ARCHIVE_CSUM_LEN)
#define ARCHIVE_MAX_DISKS       1024
#define ARCHIVE_MAX_NAME        255
#define ARCHIVE_MAX_EXTENT      (32 * 1024 * 1024)
#define ARCHIVE_DEFAULT_CLUSTER 65536

/* Record types (the first four bytes of a record, as ASCII) */
#define ARCHIVE_REC_DATA        0x41544144u     /* "DATA" */
#define ARCHIVE_REC_ZERO        0x4f52455au     /* "ZERO" */
#define ARCHIVE_REC_END         0x21444e45u     /* "END!" */

typedef struct ArchiveDisk {
    char *name;
    uint64_t size;
} ArchiveDisk;

typedef struct ArchiveHeader {
    uint32_t version;
    uint32_t cluster_size;      /* zero-detection granularity of the writer */
    uint64_t created;           /* seconds since the epoch */
    uint32_t ndisks;
    ArchiveDisk *disks;
    uint32_t header_size;       /* bytes, checksum included */
} ArchiveHeader;

typedef struct ArchiveRecord {
    uint32_t type;
    uint32_t disk;              /* END: number of disks */
    uint64_t offset;            /* END: number of DATA and ZERO records */
    uint64_t length;            /* END: file offset of the END record */
    uint8_t csum[ARCHIVE_CSUM_LEN];
    uint64_t pos;               /* file offset of the record (not stored) */
} ArchiveRecord;

/* Serialised header (with its checksum); g_free the result. */
uint8_t *archive_header_encode(const ArchiveHeader *h, size_t *len);
/* Read and check the header at offset 0; the caller frees with archive_header_free(). */
bool archive_header_read(int fd, ArchiveHeader *h, Error **errp);
void archive_header_free(ArchiveHeader *h);

/*
 * Fill buf[ARCHIVE_REC_SIZE] for a record whose payload (DATA only) is
 * the iovec; the checksum covers the 24 header bytes and the payload.
 */
void archive_record_encode(uint8_t *buf, uint32_t type, uint32_t disk,
                           uint64_t offset, uint64_t length,
                           const struct iovec *iov, int niov);
/* Decode the record header at pos: 1 ok, 0 end of file, -1 error (errp) */
int archive_record_read(int fd, uint64_t pos, ArchiveRecord *rec, Error **errp);
/* Read the payload (DATA: rec->length bytes into buf, may be NULL) and check the checksum */
bool archive_record_check(int fd, const ArchiveRecord *rec, uint8_t *buf,
                          Error **errp);
/* Bytes the record occupies in the file */
uint64_t archive_record_size(const ArchiveRecord *rec);
const char *archive_record_type_str(uint32_t type);

/* pread/pwrite of exactly len bytes: 0 or -errno (-EIO on a short read) */
int archive_pread_full(int fd, void *buf, size_t len, uint64_t pos);
int archive_pwritev_full(int fd, struct iovec *iov, int niov, uint64_t pos);

#endif
