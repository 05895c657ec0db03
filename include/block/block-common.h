/*
 * block-common.h: types and constants shared by every user of the block
 * layer: request flags, block-status bits, permissions, open flags.
 * Values follow QEMU's where QEMU has them.
 */
#ifndef BLOCK_BLOCK_COMMON_H
#define BLOCK_BLOCK_COMMON_H

#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/coroutine.h"
#include "qemu/iov.h"

typedef struct BlockDriver BlockDriver;
typedef struct BlockDriverState BlockDriverState;
typedef struct BdrvChild BdrvChild;
typedef struct BdrvChildClass BdrvChildClass;
typedef struct BlockBackend BlockBackend;

/* Largest request the core accepts in one call (drivers split further by max_transfer). */
#define BDRV_REQUEST_MAX_BYTES  (INT64_C(1) << 31)  /* 2 GiB, aligned */
#define BDRV_MAX_LENGTH         (INT64_MAX / 2)
#define BDRV_SECTOR_BITS        9
#define BDRV_SECTOR_SIZE        (1ULL << BDRV_SECTOR_BITS)

typedef enum BdrvRequestFlags {
    BDRV_REQ_COPY_ON_READ       = 0x1,
    BDRV_REQ_ZERO_WRITE         = 0x2,
    /* Write zeroes may deallocate (punch holes / unmap) */
    BDRV_REQ_MAY_UNMAP          = 0x4,
    /* Force unit access: data is stable on return */
    BDRV_REQ_FUA                = 0x10,
    BDRV_REQ_WRITE_COMPRESSED   = 0x20,
    /* The write does not change guest-visible data (copy-on-read, cbw) */
    BDRV_REQ_WRITE_UNCHANGED    = 0x40,
    /* Wait for and block overlapping requests, e.g. unaligned RMW */
    BDRV_REQ_SERIALISING        = 0x80,
    /* Fail with -ENOTSUP instead of falling back to a slow path (write zeroes) */
    BDRV_REQ_NO_FALLBACK        = 0x100,
    /* Read only into the cache (NBD_CMD_CACHE); qiov may be NULL */
    BDRV_REQ_PREFETCH           = 0x200,
    /* Fail with -EBUSY instead of waiting for a conflicting serialising request */
    BDRV_REQ_NO_WAIT            = 0x400,
    BDRV_REQ_MASK               = 0x7ff,
} BdrvRequestFlags;

/* Block status (bdrv_co_block_status) */
#define BDRV_BLOCK_DATA         0x01    /* reads come from data (not a hole) */
#define BDRV_BLOCK_ZERO         0x02    /* reads return zeroes */
#define BDRV_BLOCK_OFFSET_VALID 0x04    /* *map is the offset in *file */
#define BDRV_BLOCK_RAW          0x08    /* ask *file at *map (used by raw/filters) */
#define BDRV_BLOCK_ALLOCATED    0x10    /* this layer provides the content */
#define BDRV_BLOCK_EOF          0x20    /* the range reaches the end of the node */
#define BDRV_BLOCK_RECURSE      0x40    /* status of *file at *map is more precise */
#define BDRV_BLOCK_COMPRESSED   0x80

/* Permissions a parent takes on (or shares of) a child node */
enum {
    BLK_PERM_CONSISTENT_READ    = 0x01,
    BLK_PERM_WRITE              = 0x02,
    BLK_PERM_WRITE_UNCHANGED    = 0x04,
    BLK_PERM_RESIZE             = 0x08,
    BLK_PERM_GRAPH_MOD          = 0x10,
    BLK_PERM_ALL                = 0x1f,
    DEFAULT_PERM_PASSTHROUGH    = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE |
                                  BLK_PERM_WRITE_UNCHANGED | BLK_PERM_RESIZE,
    DEFAULT_PERM_UNCHANGED      = BLK_PERM_ALL & ~DEFAULT_PERM_PASSTHROUGH,
};
/* "consistent read, write" as QEMU spells them in errors; g_free() the result. */
char *bdrv_perm_names(uint64_t perm);

/* Open flags (BlockDriverState.open_flags) */
#define BDRV_O_NO_SHARE     0x0001  /* don't share permissions */
#define BDRV_O_RDWR         0x0002
#define BDRV_O_RESIZE       0x0004
#define BDRV_O_SNAPSHOT     0x0008
#define BDRV_O_TEMPORARY    0x0010
#define BDRV_O_NOCACHE      0x0020  /* cache.direct=on: O_DIRECT */
#define BDRV_O_NATIVE_AIO   0x0080
#define BDRV_O_NO_BACKING   0x0100
#define BDRV_O_NO_FLUSH     0x0200  /* cache.no-flush=on */
#define BDRV_O_COPY_ON_READ 0x0400
#define BDRV_O_INACTIVE     0x0800
#define BDRV_O_CHECK        0x1000
#define BDRV_O_ALLOW_RDWR   0x2000
#define BDRV_O_UNMAP        0x4000  /* discard=unmap */
#define BDRV_O_PROTOCOL     0x8000
#define BDRV_O_NO_IO        0x10000
#define BDRV_O_AUTO_RDONLY  0x20000
#define BDRV_O_IO_URING     0x40000

/* Roles of a child (flags; QEMU's values) */
typedef enum BdrvChildRole {
    BDRV_CHILD_DATA         = (1 << 0),  /* holds guest data */
    BDRV_CHILD_METADATA     = (1 << 1),  /* holds metadata of the parent's format */
    BDRV_CHILD_FILTERED     = (1 << 2),  /* the parent is a filter over it */
    BDRV_CHILD_COW          = (1 << 3),  /* backing file */
    BDRV_CHILD_PRIMARY      = (1 << 4),  /* the "file" child of formats/filters */
    BDRV_CHILD_IMAGE        = BDRV_CHILD_DATA | BDRV_CHILD_METADATA,
} BdrvChildRole;

#endif
