/*
 * qcow2.h: the qcow2 driver's private interface, shared by block/qcow2*.c.
 *
 * The on-disk format is QEMU's docs/interop/qcow2.txt.  The files:
 *   qcow2.c           open/close, header and header extensions, the
 *                     BlockDriver table, read/write/zero/discard/status
 *   qcow2-cluster.c   guest -> host mapping: L1/L2 lookup, L2 allocation,
 *                     cluster allocation with COW, zero clusters, discard,
 *                     compressed cluster allocation
 *   qcow2-refcount.c  refcount table and blocks (1..64 bits), cluster
 *                     allocation and freeing, overlap checks, corruption
 *   qcow2-cache.c     L2 table and refcount block caches
 *   qcow2-snapshot.c, qcow2-bitmap.c, qcow2-check.c, qcow2-create.c
 *                     (internal snapshots, persistent bitmaps, check and
 *                     repair, image creation/resize: built on this API)
 *
 * Locking: every function touching metadata (tables, caches, refcounts,
 * header) is called with s->lock held unless said otherwise; it may yield
 * while holding it (metadata I/O).  Guest data I/O runs without the lock.
 * Functions that do I/O are coroutine_fn.  In-memory tables (l1_table,
 * refcount_table) are in host byte order; L2 tables and refcount blocks
 * in the caches are in on-disk (big-endian) order.
 *
 * Ordering rules that keep a crash harmless (at worst leaked clusters):
 *   - refcount increments reach the disk before any L2/L1 entry pointing
 *     at the cluster (l2 cache depends on the refcount cache);
 *   - L2/L1 entries that stop pointing at a cluster reach the disk before
 *     its refcount decrement (refcount cache depends on the l2 cache);
 *   - COW data is written before the L2 entry is updated.
 */
#ifndef BLOCK_QCOW2_H
#define BLOCK_QCOW2_H

#include "qemu/osdep.h"
#include "block/block_int.h"

/* ---- on-disk constants ---- */

#define QCOW_MAGIC (('Q' << 24) | ('F' << 16) | ('I' << 8) | 0xfb)

#define QCOW2_MIN_CLUSTER_BITS      9
#define QCOW2_MAX_CLUSTER_BITS      21
#define QCOW2_MAX_REFTABLE_SIZE     (8 * MiB)     /* bytes */
#define QCOW2_MAX_L1_SIZE           (32 * MiB)    /* bytes */
#define QCOW2_MAX_SNAPSHOTS         65536
#define QCOW2_MAX_BACKING_NAME      1023
#define QCOW2_V2_HEADER_LENGTH      72
#define QCOW2_V3_MIN_HEADER_LENGTH  104
#define QCOW2_V3_HEADER_LENGTH      112           /* with compression_type, padded */

#define QCOW_OFLAG_COPIED       (UINT64_C(1) << 63)
#define QCOW_OFLAG_COMPRESSED   (UINT64_C(1) << 62)
#define QCOW_OFLAG_ZERO         (UINT64_C(1) << 0)

/* Extended L2 entries: 32 subclusters, allocation bits 0-31, zero bits 32-63 */
#define QCOW_EXTL2_SUBCLUSTERS      32
#define QCOW_L2_BITMAP_ALL_ALLOC    UINT64_C(0x00000000ffffffff)
#define QCOW_L2_BITMAP_ALL_ZEROES   UINT64_C(0xffffffff00000000)
#define QCOW2_EXTL2_MIN_CLUSTER_BITS 14

#define L1E_OFFSET_MASK         UINT64_C(0x00fffffffffffe00)
#define L2E_OFFSET_MASK         UINT64_C(0x00fffffffffffe00)
#define L1E_RESERVED_MASK       UINT64_C(0x7f000000000001ff)
#define L2E_STD_RESERVED_MASK   UINT64_C(0x3f000000000001fe)
#define REFT_OFFSET_MASK        UINT64_C(0xfffffffffffffe00)
#define REFT_RESERVED_MASK      UINT64_C(0x1ff)

/* Header extension types */
#define QCOW2_EXT_MAGIC_END             0
#define QCOW2_EXT_MAGIC_BACKING_FORMAT  0xe2792aca
#define QCOW2_EXT_MAGIC_FEATURE_TABLE   0x6803f857
#define QCOW2_EXT_MAGIC_CRYPTO_HEADER   0x0537be77
#define QCOW2_EXT_MAGIC_BITMAPS         0x23852875
#define QCOW2_EXT_MAGIC_DATA_FILE       0x44415441

/* Feature bits */
enum {
    QCOW2_INCOMPAT_DIRTY_BITNR          = 0,
    QCOW2_INCOMPAT_CORRUPT_BITNR        = 1,
    QCOW2_INCOMPAT_DATA_FILE_BITNR      = 2,
    QCOW2_INCOMPAT_COMPRESSION_BITNR    = 3,
    QCOW2_INCOMPAT_EXTL2_BITNR          = 4,
    QCOW2_INCOMPAT_DIRTY        = 1 << QCOW2_INCOMPAT_DIRTY_BITNR,
    QCOW2_INCOMPAT_CORRUPT      = 1 << QCOW2_INCOMPAT_CORRUPT_BITNR,
    QCOW2_INCOMPAT_DATA_FILE    = 1 << QCOW2_INCOMPAT_DATA_FILE_BITNR,
    QCOW2_INCOMPAT_COMPRESSION  = 1 << QCOW2_INCOMPAT_COMPRESSION_BITNR,
    QCOW2_INCOMPAT_EXTL2        = 1 << QCOW2_INCOMPAT_EXTL2_BITNR,
    /* What blockd implements (the others are refused at open) */
    QCOW2_INCOMPAT_MASK         = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT |
                                  QCOW2_INCOMPAT_COMPRESSION | QCOW2_INCOMPAT_EXTL2,

    QCOW2_COMPAT_LAZY_REFCOUNTS_BITNR   = 0,
    QCOW2_COMPAT_LAZY_REFCOUNTS = 1 << QCOW2_COMPAT_LAZY_REFCOUNTS_BITNR,

    QCOW2_AUTOCLEAR_BITMAPS_BITNR       = 0,
    QCOW2_AUTOCLEAR_DATA_FILE_RAW_BITNR = 1,
    QCOW2_AUTOCLEAR_BITMAPS     = 1 << QCOW2_AUTOCLEAR_BITMAPS_BITNR,
    QCOW2_AUTOCLEAR_DATA_FILE_RAW = 1 << QCOW2_AUTOCLEAR_DATA_FILE_RAW_BITNR,
    /* Autoclear bits kept when writing (others are cleared at rw open) */
    QCOW2_AUTOCLEAR_MASK        = QCOW2_AUTOCLEAR_BITMAPS,
};

/*
 * Compression types: QCOW2_COMPRESSION_TYPE_ZLIB (0) and _ZSTD (1) come
 * from the QAPI enum Qcow2CompressionType (qapi/block-qcow2.json).
 */

enum {
    QCOW2_FEAT_TYPE_INCOMPATIBLE = 0,
    QCOW2_FEAT_TYPE_COMPATIBLE   = 1,
    QCOW2_FEAT_TYPE_AUTOCLEAR    = 2,
};

/* The fixed header, in on-disk order (big-endian fields) */
typedef struct QCowHeader {
    uint32_t magic;
    uint32_t version;
    uint64_t backing_file_offset;
    uint32_t backing_file_size;
    uint32_t cluster_bits;
    uint64_t size;
    uint32_t crypt_method;
    uint32_t l1_size;
    uint64_t l1_table_offset;
    uint64_t refcount_table_offset;
    uint32_t refcount_table_clusters;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    /* version 3 */
    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint32_t refcount_order;
    uint32_t header_length;
    uint8_t compression_type;
    uint8_t padding[7];
} __attribute__((packed)) QCowHeader;

/* Feature name table entry (48 bytes) */
typedef struct Qcow2Feature {
    uint8_t type;
    uint8_t bit;
    char name[46];
} __attribute__((packed)) Qcow2Feature;

/* ---- in-memory types ---- */

typedef enum QCow2ClusterType {
    QCOW2_CLUSTER_UNALLOCATED,
    QCOW2_CLUSTER_ZERO_PLAIN,       /* zero flag, no host cluster */
    QCOW2_CLUSTER_ZERO_ALLOC,       /* zero flag, host cluster preallocated */
    QCOW2_CLUSTER_NORMAL,
    QCOW2_CLUSTER_COMPRESSED,
} QCow2ClusterType;

/* Why clusters are freed: decides whether the host range is discarded too */
typedef enum Qcow2DiscardType {
    QCOW2_DISCARD_NEVER = 0,
    QCOW2_DISCARD_ALWAYS,
    QCOW2_DISCARD_REQUEST,          /* pass-discard-request */
    QCOW2_DISCARD_SNAPSHOT,         /* pass-discard-snapshot */
    QCOW2_DISCARD_OTHER,            /* pass-discard-other */
    QCOW2_DISCARD_MAX
} Qcow2DiscardType;

/* Metadata structures for overlap checks (QEMU's QCOW2_OL_* bits) */
typedef enum QCow2MetadataOverlap {
    QCOW2_OL_MAIN_HEADER        = 1 << 0,
    QCOW2_OL_ACTIVE_L1          = 1 << 1,
    QCOW2_OL_ACTIVE_L2          = 1 << 2,
    QCOW2_OL_REFCOUNT_TABLE     = 1 << 3,
    QCOW2_OL_REFCOUNT_BLOCK     = 1 << 4,
    QCOW2_OL_SNAPSHOT_TABLE     = 1 << 5,
    QCOW2_OL_INACTIVE_L1        = 1 << 6,
    QCOW2_OL_INACTIVE_L2        = 1 << 7,
    QCOW2_OL_BITMAP_DIRECTORY   = 1 << 8,
    QCOW2_OL_MAX_BITNR          = 9,

    QCOW2_OL_NONE       = 0,
    QCOW2_OL_CONSTANT   = QCOW2_OL_MAIN_HEADER | QCOW2_OL_ACTIVE_L1 |
                          QCOW2_OL_REFCOUNT_TABLE | QCOW2_OL_SNAPSHOT_TABLE |
                          QCOW2_OL_BITMAP_DIRECTORY,
    QCOW2_OL_CACHED     = QCOW2_OL_CONSTANT | QCOW2_OL_ACTIVE_L2 |
                          QCOW2_OL_REFCOUNT_BLOCK | QCOW2_OL_INACTIVE_L1,
    QCOW2_OL_ALL        = QCOW2_OL_CACHED | QCOW2_OL_INACTIVE_L2,
    QCOW2_OL_DEFAULT    = QCOW2_OL_CACHED,
} QCow2MetadataOverlap;

/* A header extension blockd does not interpret: written back unchanged */
typedef struct Qcow2UnknownHeaderExt {
    uint32_t magic;
    uint32_t len;
    uint8_t *data;
} Qcow2UnknownHeaderExt;

/* The bitmaps extension as read (qcow2-bitmap.c interprets it) */
typedef struct Qcow2BitmapHeaderExt {
    uint32_t nb_bitmaps;
    uint32_t reserved32;
    uint64_t bitmap_directory_size;
    uint64_t bitmap_directory_offset;
} Qcow2BitmapHeaderExt;

/*
 * An internal snapshot (entry of the snapshot table).  Loaded and stored
 * by qcow2-snapshot.c; the core only uses l1_table_offset/l1_size for
 * overlap checks.
 */
typedef struct QCowSnapshot {
    uint64_t l1_table_offset;
    uint32_t l1_size;
    char *id_str;
    char *name;
    uint64_t disk_size;
    uint64_t vm_state_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    int64_t icount;                 /* -1 when absent */
    uint32_t extra_data_size;
    void *unknown_extra_data;       /* beyond the fields blockd knows */
} QCowSnapshot;

typedef struct Qcow2Cache Qcow2Cache;

/* A part of an allocation that must be copied from the old content */
typedef struct Qcow2COWRegion {
    uint64_t offset;                /* relative to the first allocated cluster */
    uint64_t nb_bytes;
} Qcow2COWRegion;

/*
 * An allocation in flight: nb_clusters new host clusters at alloc_offset
 * for guest clusters starting at offset.  Between qcow2_alloc_host_offset()
 * and qcow2_alloc_cluster_link_l2() it is in s->cluster_allocs, and writes
 * touching the same guest clusters wait on dependent_requests.
 */
typedef struct QCowL2Meta {
    uint64_t offset;                /* guest offset of the first cluster */
    uint64_t alloc_offset;          /* host offset of the first cluster */
    int nb_clusters;
    Qcow2COWRegion cow_start;       /* before the guest data */
    Qcow2COWRegion cow_end;         /* after the guest data */
    int compressed_size;            /* > 0: a compressed cluster (bytes) */
    bool cow_is_zero;               /* the COW regions read as zeroes */
    CoQueue dependent_requests;
    struct QCowL2Meta *next;        /* further allocations of one request */
    GList link;                     /* in s->cluster_allocs */
} QCowL2Meta;

typedef struct BDRVQcow2State {
    /* geometry */
    int cluster_bits;
    int cluster_size;
    int l2_bits;                    /* log2 of entries per L2 table */
    int l2_size;                    /* entries per L2 table */
    int l2_slice_size;              /* entries per L2 cache entry */
    bool extended_l2;               /* 128-bit entries with subclusters */
    int l2_entry_words;             /* 64-bit words per L2 entry: 1 or 2 */
    int subclusters_per_cluster;    /* 32 with extended L2, else 1 */
    int subcluster_bits;
    int subcluster_size;
    int refcount_order;
    int refcount_bits;
    uint64_t refcount_max;
    int refcount_block_bits;        /* log2 of entries per refcount block */
    int refcount_block_size;
    int csize_shift;                /* compressed descriptor layout */
    uint64_t csize_mask;
    uint64_t cluster_offset_mask;

    /* header */
    int qcow_version;
    uint64_t size;                  /* virtual size from the header */
    uint32_t crypt_method_header;
    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint8_t compression_type;
    uint32_t header_length;         /* as found in the image */
    char *image_backing_file;       /* from the header (NULL if none) */
    char *image_backing_format;     /* from the backing format extension */
    GArray *unknown_header_ext;     /* Qcow2UnknownHeaderExt */
    bool has_bitmaps_ext;
    Qcow2BitmapHeaderExt bitmaps_ext;   /* raw (qcow2-bitmap.c) */

    /* active L1 table */
    uint64_t l1_table_offset;
    int l1_size;                    /* entries */
    int l1_vm_state_index;          /* first L1 entry past the virtual size */
    uint64_t *l1_table;

    /* refcounts */
    uint64_t refcount_table_offset;
    uint32_t refcount_table_size;   /* entries */
    uint32_t max_refcount_table_index;  /* highest used entry */
    uint64_t *refcount_table;
    uint64_t free_cluster_index;    /* search hint */
    uint64_t free_byte_offset;      /* compressed clusters share host clusters */

    /* caches */
    Qcow2Cache *l2_table_cache;
    Qcow2Cache *refcount_block_cache;
    QEMUTimer *cache_clean_timer;
    unsigned cache_clean_interval;  /* seconds, 0 = off */

    /* snapshots (qcow2-snapshot.c) */
    unsigned nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t snapshots_size;        /* bytes of the snapshot table */
    QCowSnapshot *snapshots;

    /* state */
    CoMutex lock;
    GList *cluster_allocs;          /* QCowL2Meta * in flight */
    bool use_lazy_refcounts;
    int overlap_check;              /* QCow2MetadataOverlap bits */
    bool signaled_corruption;
    bool discard_passthrough[QCOW2_DISCARD_MAX];
    int64_t file_end_hint;          /* host bytes known in use (end of last cluster) */
    uint64_t data_written_gen;      /* bumped by guest data writes */

    /* fresh tables whose on-disk entries wait for a flush (qcow2-link.c) */
    GArray *unlinked_l2;            /* uint64_t L1 indices */
    GArray *unlinked_refblocks;     /* uint64_t refcount table indices */
} BDRVQcow2State;

/* ---- small helpers ---- */

static inline int64_t start_of_cluster(BDRVQcow2State *s, int64_t offset)
{
    return offset & ~((int64_t)s->cluster_size - 1);
}

static inline int64_t offset_into_cluster(BDRVQcow2State *s, int64_t offset)
{
    return offset & (s->cluster_size - 1);
}

static inline uint64_t size_to_clusters(BDRVQcow2State *s, uint64_t size)
{
    return (size + (s->cluster_size - 1)) >> s->cluster_bits;
}

static inline int offset_to_l1_index(BDRVQcow2State *s, uint64_t offset)
{
    return offset >> (s->l2_bits + s->cluster_bits);
}

static inline int offset_to_l2_index(BDRVQcow2State *s, int64_t offset)
{
    return (offset >> s->cluster_bits) & (s->l2_size - 1);
}

static inline int offset_to_l2_slice_index(BDRVQcow2State *s, int64_t offset)
{
    return (offset >> s->cluster_bits) & (s->l2_slice_size - 1);
}

/* Bytes of one L2 entry (8, or 16 with extended L2) */
static inline int l2_entry_size(BDRVQcow2State *s)
{
    return s->l2_entry_words * sizeof(uint64_t);
}

/* Entry i of an L2 slice (host order) */
static inline uint64_t qcow2_l2_entry(BDRVQcow2State *s, const uint64_t *slice, int i)
{
    return GUINT64_FROM_BE(slice[i * s->l2_entry_words]);
}

/* Subcluster bitmap of entry i (0 without extended L2) */
static inline uint64_t qcow2_l2_bitmap(BDRVQcow2State *s, const uint64_t *slice, int i)
{
    return s->extended_l2 ? GUINT64_FROM_BE(slice[i * 2 + 1]) : 0;
}

static inline void qcow2_set_l2_entry(BDRVQcow2State *s, uint64_t *slice, int i,
                                      uint64_t entry)
{
    slice[i * s->l2_entry_words] = GUINT64_TO_BE(entry);
}

static inline void qcow2_set_l2_bitmap(BDRVQcow2State *s, uint64_t *slice, int i,
                                       uint64_t bitmap)
{
    if (s->extended_l2) {
        slice[i * 2 + 1] = GUINT64_TO_BE(bitmap);
    }
}

/*
 * Type of the host cluster an L2 entry (host order) refers to: for
 * refcounting and allocation.  With extended L2 entries the zero state is
 * per subcluster (in the bitmap), so this is COMPRESSED, NORMAL (has a host
 * cluster) or UNALLOCATED.
 */
QCow2ClusterType qcow2_get_cluster_type(BlockDriverState *bs, uint64_t l2_entry);

static inline bool qcow2_cluster_is_allocated(QCow2ClusterType type)
{
    return type == QCOW2_CLUSTER_COMPRESSED || type == QCOW2_CLUSTER_NORMAL ||
           type == QCOW2_CLUSTER_ZERO_ALLOC;
}

/* Host offset and size (bytes, up to the end of its last sector) of a compressed entry */
void qcow2_parse_compressed_l2_entry(BlockDriverState *bs, uint64_t l2_entry,
                                     uint64_t *coffset, int *csize);

static inline bool qcow2_need_accurate_refcounts(BDRVQcow2State *s)
{
    return !(s->incompatible_features & QCOW2_INCOMPAT_DIRTY);
}

/* ---- qcow2.c ---- */

/*
 * Rewrite the header cluster from the in-memory state: fixed header,
 * extensions (backing format, feature names, bitmaps, unknown ones kept),
 * backing file name.  -ENOSPC if it does not fit in one cluster.
 */
int coroutine_fn qcow2_update_header(BlockDriverState *bs);
/* Set / clear the dirty bit (lazy refcounts); write and flush the header field */
int coroutine_fn qcow2_mark_dirty(BlockDriverState *bs);
int coroutine_fn qcow2_mark_clean(BlockDriverState *bs);
/* Set the corrupt bit (v3) in the image */
int coroutine_fn qcow2_mark_corrupt(BlockDriverState *bs);

/* Decompress one compressed cluster read from the image (in a worker thread) */
int coroutine_fn qcow2_co_decompress(BlockDriverState *bs, void *dest,
                                     size_t dest_size, const void *src,
                                     size_t src_size);
/* Compress a cluster: bytes of output, -ENOMEM if it does not fit in dest_size */
ssize_t coroutine_fn qcow2_co_compress(BlockDriverState *bs, void *dest,
                                       size_t dest_size, const void *src,
                                       size_t src_size);

/* ---- qcow2-refcount.c ---- */

/* Load the refcount table; set up the refcount cache first. */
int coroutine_fn qcow2_refcount_init(BlockDriverState *bs, Error **errp);
void qcow2_refcount_close(BlockDriverState *bs);

/* Refcount of one host cluster (by index); -errno on error */
int coroutine_fn qcow2_get_refcount(BlockDriverState *bs, int64_t cluster_index,
                                    uint64_t *refcount);
/*
 * Add addend (may be negative) to the refcount of every cluster touched
 * by [offset, offset + length).  Allocates refcount blocks (and grows the
 * refcount table) as needed.  Clusters reaching 0 become free and, per
 * type, are discarded in the file.  -EINVAL on overflow/underflow (the
 * image is then marked corrupt for underflow of a used cluster).
 */
int coroutine_fn qcow2_update_refcount(BlockDriverState *bs, int64_t offset,
                                       int64_t length, int64_t addend,
                                       Qcow2DiscardType type);
/* Refcount of cluster_index += addend, returns the new refcount or -errno */
int64_t coroutine_fn qcow2_update_cluster_refcount(BlockDriverState *bs,
                                                   int64_t cluster_index,
                                                   int64_t addend,
                                                   Qcow2DiscardType type);

/* Allocate size bytes of contiguous clusters (refcount 1): host offset or -errno */
int64_t coroutine_fn qcow2_alloc_clusters(BlockDriverState *bs, uint64_t size);
/*
 * Allocate up to *nb_clusters clusters starting exactly at offset (fewer
 * if some are in use: *nb_clusters is updated; 0 if the first is in use).
 */
int64_t coroutine_fn qcow2_alloc_clusters_at(BlockDriverState *bs, uint64_t offset,
                                             int64_t *nb_clusters);
/* Allocate size (< cluster size) bytes for compressed data, may share a cluster */
int64_t coroutine_fn qcow2_alloc_bytes(BlockDriverState *bs, int size);
void coroutine_fn qcow2_free_clusters(BlockDriverState *bs, int64_t offset,
                                      int64_t size, Qcow2DiscardType type);
/* Free whatever host clusters an L2 entry (host order) references */
void coroutine_fn qcow2_free_any_cluster(BlockDriverState *bs, uint64_t l2_entry,
                                         Qcow2DiscardType type);

/* Flush both caches (refcounts first), then the file. */
int coroutine_fn qcow2_write_caches(BlockDriverState *bs);
int coroutine_fn qcow2_flush_caches(BlockDriverState *bs);

/*
 * Overlap check: 0 if [offset, offset + size) touches none of the
 * structures in ign's complement and s->overlap_check, else the first
 * QCOW2_OL_* bit it overlaps.  qcow2_pre_write_overlap_check() signals
 * corruption and returns -EIO on overlap.
 */
int coroutine_fn qcow2_check_metadata_overlap(BlockDriverState *bs, int ign,
                                              int64_t offset, int64_t size);
int coroutine_fn qcow2_pre_write_overlap_check(BlockDriverState *bs, int ign,
                                               int64_t offset, int64_t size);

/*
 * Metadata corruption: report it (BLOCK_IMAGE_CORRUPTED, once), and if
 * fatal mark the image corrupt and the node read-only.  offset/size -1
 * when unknown.  Callers then fail their request with -EIO.
 */
void qcow2_signal_corruption(BlockDriverState *bs, bool fatal, int64_t offset,
                             int64_t size, const char *fmt, ...) QEMU_PRINTF(5, 6);

/* Grow the refcount table so that cluster_index is covered (internal, exposed for Q2) */
int coroutine_fn qcow2_grow_refcount_table(BlockDriverState *bs, int64_t cluster_index);

/* ---- qcow2-cluster.c ---- */

/* Grow the active L1 table to at least min_size entries (exact: no slack) */
int coroutine_fn qcow2_grow_l1_table(BlockDriverState *bs, uint64_t min_size,
                                     bool exact_size);
/* Write the 512-byte aligned group of L1 entries around l1_index */
int coroutine_fn qcow2_write_l1_entry(BlockDriverState *bs, int l1_index);
/* The 512-byte block of the L1 table holding l1_index, as in memory */
int coroutine_fn qcow2_write_l1_block(BlockDriverState *bs, int l1_index);
#define QCOW2_L1_ENTRIES_PER_BLOCK (512 / (int)sizeof(uint64_t))

/* qcow2-link.c: deferred L1 / refcount table entries of fresh tables */
void qcow2_link_defer_l2(BlockDriverState *bs, int l1_index);
void qcow2_link_defer_refblock(BlockDriverState *bs, uint64_t rt_index);
bool qcow2_link_pending(BlockDriverState *bs);
int coroutine_fn qcow2_link_refblocks(BlockDriverState *bs);
int coroutine_fn qcow2_link_tables(BlockDriverState *bs);
void qcow2_link_free(BlockDriverState *bs);

/*
 * Mapping of guest offset: *bytes is reduced to the contiguous range of
 * the same type (and contiguous host offsets); *host_offset is the host
 * offset for NORMAL/ZERO_ALLOC, the raw L2 entry (host order) for
 * COMPRESSED.  Returns the QCow2ClusterType or -errno.
 */
int coroutine_fn qcow2_get_host_offset(BlockDriverState *bs, uint64_t offset,
                                       uint64_t *bytes, uint64_t *host_offset);

/*
 * Prepare a write of *bytes at guest offset: returns host offset of the
 * first byte in *host_offset and reduces *bytes to what can be written
 * there contiguously.  New allocations are described in *m (NULL if none),
 * which the caller completes with qcow2_alloc_cluster_link_l2() after the
 * data (and COW) writes, or undoes with qcow2_alloc_cluster_abort().
 * -EAGAIN is never returned: the function waits for conflicting
 * allocations itself (dropping s->lock while waiting).
 */
int coroutine_fn qcow2_alloc_host_offset(BlockDriverState *bs, uint64_t offset,
                                         uint64_t *bytes, uint64_t *host_offset,
                                         QCowL2Meta **m);
int coroutine_fn qcow2_alloc_cluster_link_l2(BlockDriverState *bs, QCowL2Meta *m);
void coroutine_fn qcow2_alloc_cluster_abort(BlockDriverState *bs, QCowL2Meta *m);
/* Remove m from cluster_allocs and wake the requests waiting on it; frees m */
void qcow2_alloc_meta_done(BlockDriverState *bs, QCowL2Meta *m);

/*
 * Compressed writes: reserve compressed_size host bytes for the cluster at
 * guest offset (cluster aligned); *m tracks the allocation (alloc_offset is
 * the host byte offset) until qcow2_link_compressed_cluster(), which points
 * the L2 entry at the data and frees the old cluster, or
 * qcow2_alloc_cluster_abort().
 */
int coroutine_fn qcow2_alloc_compressed_cluster_offset(BlockDriverState *bs,
                                                       uint64_t offset,
                                                       int compressed_size,
                                                       QCowL2Meta **m);
int coroutine_fn qcow2_link_compressed_cluster(BlockDriverState *bs,
                                               QCowL2Meta *m);

/* qcow2_alloc_cluster_link_l2 or qcow2_link_compressed_cluster */
typedef int coroutine_fn Qcow2LinkFunc(BlockDriverState *bs, QCowL2Meta *m);

/*
 * After the data write of the new allocation m (ret: its result): link the
 * clusters in with link if the write succeeded, give them back with
 * qcow2_alloc_cluster_abort() if it or the link failed; m is done (freed)
 * either way.  Returns ret or the link's error.  Called with s->lock held.
 */
int coroutine_fn qcow2_alloc_cluster_finish(BlockDriverState *bs,
                                            QCowL2Meta *m, int ret,
                                            Qcow2LinkFunc *link);

/* Discard whole clusters of [offset, offset + bytes): full_discard makes them unallocated */
int coroutine_fn qcow2_cluster_discard(BlockDriverState *bs, uint64_t offset,
                                       uint64_t bytes, Qcow2DiscardType type,
                                       bool full_discard);
/* Make whole clusters read as zero (v3); flags may have BDRV_REQ_MAY_UNMAP */
/* Unallocated clusters may read backing data (a backing node, or one named in the header) */
bool qcow2_has_backing(BlockDriverState *bs);
int coroutine_fn qcow2_cluster_zeroize(BlockDriverState *bs, uint64_t offset,
                                       uint64_t bytes, int flags);

/* Get the L2 slice containing guest offset (allocating the L2 table if alloc) */
int coroutine_fn qcow2_get_l2_slice(BlockDriverState *bs, uint64_t offset,
                                    bool alloc, uint64_t **l2_slice,
                                    int *l2_index);

/* ---- qcow2-cache.c ---- */

/* A cache of num_tables tables of table_size bytes each */
Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int num_tables,
                               unsigned table_size);
void qcow2_cache_destroy(Qcow2Cache *c);
/* Before writing any dirty entry of c, flush dependency (and the file) */
int coroutine_fn qcow2_cache_set_dependency(BlockDriverState *bs, Qcow2Cache *c,
                                            Qcow2Cache *dependency);
void qcow2_cache_depends_on_flush(Qcow2Cache *c);
/* Write dirty entries (after the dependency); _flush also flushes the file */
int coroutine_fn qcow2_cache_write(BlockDriverState *bs, Qcow2Cache *c);
int coroutine_fn qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c);
/* Table at host offset, read from the file on a miss; reference it until _put */
int coroutine_fn qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c,
                                 uint64_t offset, void **table);
/* Like get, for a table that is new (contents undefined: the caller fills it) */
int coroutine_fn qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c,
                                       uint64_t offset, void **table);
void qcow2_cache_put(Qcow2Cache *c, void **table);
void qcow2_cache_entry_mark_dirty(Qcow2Cache *c, void *table);
/* Drop the entry for offset if cached (the table was freed) */
void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset);
/* True if the table at offset is cached (overlap checks) */
bool qcow2_cache_contains(Qcow2Cache *c, uint64_t offset);
/* Drop every clean, unused entry (cache-clean-interval); empty: all (must be clean) */
void qcow2_cache_clean_unused(Qcow2Cache *c);
int qcow2_cache_empty(Qcow2Cache *c);
bool qcow2_cache_is_dirty(Qcow2Cache *c);
unsigned qcow2_cache_table_size(Qcow2Cache *c);

/*
 * ---- provided by Q2's files (weak defaults in qcow2.c) ----
 * qcow2_read_snapshots: fill s->snapshots from the table (open);
 * qcow2_load_dirty_bitmaps / qcow2_store_dirty_bitmaps: open / close;
 * qcow2_get_bitmap_info_list: "bitmaps" of the format-specific info;
 * qcow2_repair_dirty: rebuild refcounts of an image opened read-write with
 * the dirty bit set (lazy refcounts); the default refuses the open.
 * Q2 adds its BlockDriver callbacks (snapshots, check, create, truncate,
 * bitmaps) to the bdrv_qcow2 table in qcow2.c.
 */
int coroutine_fn qcow2_read_snapshots(BlockDriverState *bs, Error **errp);
void qcow2_free_snapshots(BlockDriverState *bs);
int coroutine_fn qcow2_load_dirty_bitmaps(BlockDriverState *bs, Error **errp);
int coroutine_fn qcow2_store_dirty_bitmaps(BlockDriverState *bs, Error **errp);
int coroutine_fn qcow2_repair_dirty(BlockDriverState *bs, Error **errp);
/* The stored bitmaps for qemu-img info's format-specific data (NULL: none) */
Qcow2BitmapInfoList *qcow2_get_bitmap_info_list(BlockDriverState *bs, Error **errp);

/* qcow2-snapshot.c */
int coroutine_fn qcow2_write_snapshots(BlockDriverState *bs);
int coroutine_fn qcow2_update_snapshot_refcount(BlockDriverState *bs,
                                                uint64_t l1_offset,
                                                uint32_t l1_size, int addend);
int qcow2_validate_snapshot_l1(BlockDriverState *bs, const QCowSnapshot *sn,
                               Error **errp);
int qcow2_find_snapshot_by_id_and_name(BlockDriverState *bs, const char *id,
                                       const char *name);
int coroutine_fn qcow2_snapshot_create(BlockDriverState *bs,
                                       QEMUSnapshotInfo *sn_info);
int coroutine_fn qcow2_snapshot_goto(BlockDriverState *bs, const char *snapshot_id,
                                     Error **errp);
int coroutine_fn qcow2_snapshot_delete(BlockDriverState *bs, const char *snapshot_id,
                                       const char *name, Error **errp);
int coroutine_fn qcow2_snapshot_list(BlockDriverState *bs,
                                     QEMUSnapshotInfo **psn_info);

/* qcow2-bitmap.c */
bool coroutine_fn qcow2_co_can_store_new_dirty_bitmap(BlockDriverState *bs,
                                                      const char *name,
                                                      uint32_t granularity,
                                                      Error **errp);
int coroutine_fn qcow2_co_remove_persistent_dirty_bitmap(BlockDriverState *bs,
                                                         const char *name,
                                                         Error **errp);
/* Refcounts of the bitmap directory, tables and data (check); -errno */
typedef void Qcow2CheckRefFunc(void *opaque, uint64_t offset, uint64_t size);
int coroutine_fn qcow2_check_bitmaps_refcounts(BlockDriverState *bs,
                                               Qcow2CheckRefFunc *fn,
                                               void *opaque);

/* qcow2-check.c */
int coroutine_fn qcow2_co_check(BlockDriverState *bs, BdrvCheckResult *result,
                                BdrvCheckMode fix);

/* qcow2-create.c */
int coroutine_fn qcow2_co_create(BlockdevCreateOptions *opts, Error **errp);
/* Resize the virtual disk (s->lock held); QEMU's rules and messages */
int coroutine_fn qcow2_truncate_locked(BlockDriverState *bs, int64_t offset,
                                       PreallocMode prealloc, Error **errp);
int coroutine_fn qcow2_co_truncate(BlockDriverState *bs, int64_t offset,
                                   bool exact, PreallocMode prealloc,
                                   BdrvRequestFlags flags, Error **errp);

#endif
