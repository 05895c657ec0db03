/*
 * archive-read.h: walking a blockd-archive file record by record with
 * every check (tools/archive-read.c): restore, verify and info use it.
 */
#ifndef TOOLS_ARCHIVE_READ_H
#define TOOLS_ARCHIVE_READ_H

#include "archive-format.h"

typedef struct ArchiveScanStats {
    uint64_t data_records;
    uint64_t zero_records;
    uint64_t data_bytes;
    uint64_t zero_bytes;
    uint64_t file_size;
    bool complete;              /* the END record was found and matches */
} ArchiveScanStats;

/* Called for each DATA/ZERO record with its checked payload (DATA) */
typedef bool ArchiveRecordFunc(const ArchiveHeader *h, const ArchiveRecord *rec,
                               const uint8_t *data, void *opaque, Error **errp);

/*
 * Read the header into *h, then check every record in file order and
 * pass it to fn (may be NULL).  Fails at the first bad record, at a
 * missing END record, or when fn fails.
 */
bool archive_scan(int fd, ArchiveHeader *h, ArchiveRecordFunc *fn, void *opaque,
                  ArchiveScanStats *stats, Error **errp);

/* Recreate every disk as DIR/NAME.raw (sparse; zero records as holes) */
bool archive_restore(const char *archive, const char *dir, bool quiet,
                     Error **errp);

#endif
