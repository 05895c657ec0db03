/*
 * hbitmap.h: a hierarchical bitmap for dirty tracking.
 *
 * An HBitmap covers `size` items (bytes, for dirty bitmaps); each bit of
 * the bottom level stands for 2^granularity consecutive items.  Above the
 * bottom level every level has one bit per 64-bit word of the level below,
 * set when that word is non-zero, so searching for the next set bit skips
 * large clean areas in O(levels).  Setting and resetting ranges is
 * O(range / 64) word operations; the number of set bits is kept
 * incrementally so hbitmap_count() is O(1).
 *
 * All positions and counts in this interface are in items, not bits; a
 * range that covers part of a bit sets the whole bit (set) or clears only
 * bits wholly covered, except at the end of the bitmap (reset).
 *
 * Serialisation is the bottom level as little-endian 64-bit words (the
 * layout qcow2 stores and NBD/migration send), independent of the host.
 *
 * Not thread-safe: callers serialise (everything runs in the main loop).
 */
#ifndef QEMU_HBITMAP_H
#define QEMU_HBITMAP_H

#include <stdbool.h>
#include <stdint.h>
#include "qemu/error.h"

#define HBITMAP_LEVELS          8       /* enough for 2^63 bits */
#define HBITMAP_BITS_PER_WORD   64
#define HBITMAP_LOG_BITS_PER_WORD 6

typedef struct HBitmap HBitmap;

typedef struct HBitmapIter {
    const HBitmap *hb;
    uint64_t pos;               /* next item to look at */
} HBitmapIter;

/* Allocate a clean bitmap of `size` items, each bit covering 2^granularity items (0..63). */
HBitmap *hbitmap_alloc(uint64_t size, int granularity);
void hbitmap_free(HBitmap *hb);

/* Grow or shrink to `size` items; bits beyond the new end are dropped. */
void hbitmap_truncate(HBitmap *hb, uint64_t size);

/* Items covered and log2 of items per bit */
uint64_t hbitmap_size(const HBitmap *hb);
int hbitmap_granularity(const HBitmap *hb);
/* Bytes of memory the levels take (for the memory budget test) */
uint64_t hbitmap_memory_size(const HBitmap *hb);

/* Set bits << granularity, as QEMU (a set partial last bit counts a whole granule). */
uint64_t hbitmap_count(const HBitmap *hb);
bool hbitmap_empty(const HBitmap *hb);

void hbitmap_set(HBitmap *hb, uint64_t start, uint64_t count);
void hbitmap_reset(HBitmap *hb, uint64_t start, uint64_t count);
void hbitmap_reset_all(HBitmap *hb);
/* Is the bit covering `item` set? */
bool hbitmap_get(const HBitmap *hb, uint64_t item);

/* A deep copy (same size and granularity) */
HBitmap *hbitmap_copy(const HBitmap *hb);

/*
 * result = a | b.  a and b must have the same size; granularities may
 * differ (then bits are mapped through item ranges).  result may be a or
 * b.  Returns false (and changes nothing) if the sizes differ.
 */
bool hbitmap_can_merge(const HBitmap *a, const HBitmap *b);
bool hbitmap_merge(const HBitmap *a, const HBitmap *b, HBitmap *result);

/*
 * First set item >= start and < start + count (count < 0: to the end);
 * -1 if none.  The returned item is the start of its bit, but not below
 * start.
 */
int64_t hbitmap_next_dirty(const HBitmap *hb, int64_t start, int64_t count);
/* First clear item in the same window, -1 if none. */
int64_t hbitmap_next_zero(const HBitmap *hb, int64_t start, int64_t count);
/*
 * First dirty area that starts in [start, end): *dirty_start and
 * *dirty_count (at most max_dirty_count items, clipped to end; < 0 means
 * no limit).  false if there is none.
 */
bool hbitmap_next_dirty_area(const HBitmap *hb, int64_t start, int64_t end,
                             int64_t max_dirty_count, int64_t *dirty_start,
                             int64_t *dirty_count);
/*
 * Status of [start, start + count): returns whether the first item is
 * dirty, and *pnum = how many items from start share that status.
 */
bool hbitmap_status(const HBitmap *hb, int64_t start, int64_t count, int64_t *pnum);

/*
 * Iteration over set bits: hbitmap_iter_next() returns the first item of
 * the next set bit at or after `first` (in increasing order), -1 at the
 * end.  Bits set after the iterator passed them are not seen; bits reset
 * meanwhile may still be returned once.
 */
void hbitmap_iter_init(HBitmapIter *hbi, const HBitmap *hb, uint64_t first);
int64_t hbitmap_iter_next(HBitmapIter *hbi);

/* ---- serialisation (little-endian 64-bit words of the bottom level) ---- */

/* Item alignment that serialised parts must respect (64 bits of items) */
uint64_t hbitmap_serialization_align(const HBitmap *hb);
/* Bytes needed for items [start, start + count) */
uint64_t hbitmap_serialization_size(const HBitmap *hb, uint64_t start, uint64_t count);
void hbitmap_serialize_part(const HBitmap *hb, uint8_t *buf, uint64_t start,
                            uint64_t count);
/*
 * Overwrite [start, start + count) from buf.  With finish=false the upper
 * levels and count are left stale until hbitmap_deserialize_finish().
 */
void hbitmap_deserialize_part(HBitmap *hb, uint8_t *buf, uint64_t start,
                              uint64_t count, bool finish);
void hbitmap_deserialize_zeroes(HBitmap *hb, uint64_t start, uint64_t count,
                                bool finish);
void hbitmap_deserialize_ones(HBitmap *hb, uint64_t start, uint64_t count,
                              bool finish);
void hbitmap_deserialize_finish(HBitmap *hb);

/*
 * SHA-256 (lowercase hex) of the bottom level as little-endian 64-bit
 * words, ceil(bits / 64) * 8 bytes: equal to QEMU's on little-endian hosts.
 */
char *hbitmap_sha256(const HBitmap *hb, Error **errp);

#endif
