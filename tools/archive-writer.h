/*
 * archive-writer.h: the block driver behind blockd-archive's NBD exports
 * (tools/archive-writer.c).  One node per disk; everything written to
 * the nodes is appended to one archive file as checksummed records.
 */
#ifndef TOOLS_ARCHIVE_WRITER_H
#define TOOLS_ARCHIVE_WRITER_H

#include "archive-format.h"
#include "block/block_int.h"

typedef struct ArchiveWriter ArchiveWriter;

typedef struct ArchiveWriterStats {
    uint64_t data_records;
    uint64_t zero_records;
    uint64_t data_bytes;        /* payload stored */
    uint64_t zero_bytes;        /* written as zeroes, not stored */
    uint64_t file_size;
    int error;                  /* first write error (-errno), 0 if none */
} ArchiveWriterStats;

/* Create (truncate) path and write the header describing h's disks. */
ArchiveWriter *archive_writer_new(const char *path, const ArchiveHeader *h,
                                  Error **errp);
/* A writable node named like disk `index` serving that disk's records. */
BlockDriverState *archive_writer_open_disk(ArchiveWriter *w, uint32_t index,
                                           Error **errp);
/* Requests still being written to the file */
unsigned archive_writer_in_flight(ArchiveWriter *w);
/*
 * After the last request (poll until archive_writer_in_flight() is 0):
 * append the END record, sync and close.  Frees w; 0 or -errno.
 */
int archive_writer_finish(ArchiveWriter *w, ArchiveWriterStats *stats,
                          Error **errp);

#endif
