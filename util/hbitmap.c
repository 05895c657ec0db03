/*
 * hbitmap.c: hierarchical bitmap (see include/qemu/hbitmap.h).
 *
 * levels[0] is the bottom level: one bit per 2^granularity items.  Each
 * level above has one bit per 64-bit word of the level below, set iff
 * that word is non-zero; the top level is a single word.  Bits past the
 * end of a level are always zero.  count is the number of set bits of
 * the bottom level.
 */
#include "qemu/osdep.h"
#include "qemu/hbitmap.h"
#include "util-trace.h"

#define WORD_BITS       HBITMAP_BITS_PER_WORD
#define WORD_SHIFT      HBITMAP_LOG_BITS_PER_WORD
#define WORD_MASK       (WORD_BITS - 1)

struct HBitmap {
    uint64_t size;              /* items covered */
    int granularity;            /* log2(items per bit) */
    uint64_t bits;              /* bits of the bottom level */
    uint64_t count;             /* set bits of the bottom level */
    int nlevels;
    uint64_t nwords[HBITMAP_LEVELS];
    uint64_t *levels[HBITMAP_LEVELS];
};

static uint64_t words_for(uint64_t bits)
{
    uint64_t w = (bits + WORD_MASK) >> WORD_SHIFT;

    return w ? w : 1;
}

static uint64_t bits_for(uint64_t size, int granularity)
{
    uint64_t bits = size >> granularity;

    if (size & ((UINT64_C(1) << granularity) - 1)) {
        bits++;
    }
    return bits;
}

/* Mask of bits [lo, hi] inside one word (0 <= lo <= hi <= 63) */
static uint64_t word_mask(unsigned lo, unsigned hi)
{
    uint64_t m = ~UINT64_C(0) << lo;

    if (hi < WORD_MASK) {
        m &= (UINT64_C(2) << hi) - 1;
    }
    return m;
}

/* Lays out the levels for hb->bits; contents zeroed. */
static void hbitmap_alloc_levels(HBitmap *hb)
{
    uint64_t w = words_for(hb->bits);
    int i = 0;

    for (;;) {
        assert(i < HBITMAP_LEVELS);
        hb->nwords[i] = w;
        hb->levels[i] = g_new0(uint64_t, w);
        i++;
        if (w == 1) {
            break;
        }
        w = words_for(w);
    }
    hb->nlevels = i;
}

static void hbitmap_free_levels(HBitmap *hb)
{
    for (int i = 0; i < hb->nlevels; i++) {
        g_free(hb->levels[i]);
        hb->levels[i] = NULL;
    }
    hb->nlevels = 0;
}

HBitmap *hbitmap_alloc(uint64_t size, int granularity)
{
    HBitmap *hb = g_new0(HBitmap, 1);

    assert(granularity >= 0 && granularity < 64);
    hb->size = size;
    hb->granularity = granularity;
    hb->bits = bits_for(size, granularity);
    hbitmap_alloc_levels(hb);
    return hb;
}

void hbitmap_free(HBitmap *hb)
{
    if (!hb) {
        return;
    }
    hbitmap_free_levels(hb);
    g_free(hb);
}

uint64_t hbitmap_size(const HBitmap *hb)
{
    return hb->size;
}

int hbitmap_granularity(const HBitmap *hb)
{
    return hb->granularity;
}

uint64_t hbitmap_memory_size(const HBitmap *hb)
{
    uint64_t bytes = sizeof(*hb);

    for (int l = 0; l < hb->nlevels; l++) {
        bytes += hb->nwords[l] * sizeof(uint64_t);
    }
    return bytes;
}

uint64_t hbitmap_count(const HBitmap *hb)
{
    /* As QEMU: every set bit counts a whole granule */
    return hb->count << hb->granularity;
}

bool hbitmap_empty(const HBitmap *hb)
{
    return hb->count == 0;
}

/* Recomputes the upper levels and count from the bottom level. */
static void hbitmap_rebuild(HBitmap *hb)
{
    uint64_t count = 0;

    if (hb->bits & WORD_MASK) {
        hb->levels[0][hb->nwords[0] - 1] &= word_mask(0, (hb->bits & WORD_MASK) - 1);
    } else if (hb->bits == 0) {
        hb->levels[0][0] = 0;
    }
    for (uint64_t i = 0; i < hb->nwords[0]; i++) {
        count += __builtin_popcountll(hb->levels[0][i]);
    }
    hb->count = count;

    for (int l = 1; l < hb->nlevels; l++) {
        memset(hb->levels[l], 0, hb->nwords[l] * sizeof(uint64_t));
        for (uint64_t i = 0; i < hb->nwords[l - 1]; i++) {
            if (hb->levels[l - 1][i]) {
                hb->levels[l][i >> WORD_SHIFT] |= UINT64_C(1) << (i & WORD_MASK);
            }
        }
    }
}

/* Sets bits [first, last] of level l and marks the words above. */
static void level_set(HBitmap *hb, int l, uint64_t first, uint64_t last)
{
    uint64_t *words = hb->levels[l];
    uint64_t w0 = first >> WORD_SHIFT, w1 = last >> WORD_SHIFT;
    uint64_t newbits = 0;

    for (uint64_t w = w0; w <= w1; w++) {
        unsigned lo = w == w0 ? first & WORD_MASK : 0;
        unsigned hi = w == w1 ? last & WORD_MASK : WORD_MASK;
        uint64_t m = word_mask(lo, hi);

        newbits += __builtin_popcountll(m & ~words[w]);
        words[w] |= m;
    }
    if (l == 0) {
        hb->count += newbits;
    }
    if (l + 1 < hb->nlevels) {
        level_set(hb, l + 1, w0, w1);
    }
}

/* Clears bits [first, last] of level l and the words above that became zero. */
static void level_reset(HBitmap *hb, int l, uint64_t first, uint64_t last)
{
    uint64_t *words = hb->levels[l];
    uint64_t w0 = first >> WORD_SHIFT, w1 = last >> WORD_SHIFT;
    uint64_t cleared = 0;

    for (uint64_t w = w0; w <= w1; w++) {
        unsigned lo = w == w0 ? first & WORD_MASK : 0;
        unsigned hi = w == w1 ? last & WORD_MASK : WORD_MASK;
        uint64_t m = word_mask(lo, hi);

        cleared += __builtin_popcountll(m & words[w]);
        words[w] &= ~m;
    }
    if (l == 0) {
        hb->count -= cleared;
    }
    if (l + 1 < hb->nlevels) {
        /* Words strictly inside are zero now; the end words only maybe */
        uint64_t u0 = w0 + (words[w0] != 0);
        uint64_t u1 = w1 - (words[w1] != 0);

        if (w1 == 0 && words[w1] != 0) {
            return;
        }
        if (u0 <= u1 && u1 != UINT64_MAX) {
            level_reset(hb, l + 1, u0, u1);
        }
    }
}

void hbitmap_set(HBitmap *hb, uint64_t start, uint64_t count)
{
    uint64_t last, sbit, ebit;

    if (count == 0 || start >= hb->size) {
        return;
    }
    last = start + count - 1;
    if (last >= hb->size || last < start) {
        last = hb->size - 1;
    }
    sbit = start >> hb->granularity;
    ebit = last >> hb->granularity;
    trace_hbitmap_set(hb, start, count, sbit, ebit);
    level_set(hb, 0, sbit, ebit);
}

void hbitmap_reset(HBitmap *hb, uint64_t start, uint64_t count)
{
    uint64_t gran = UINT64_C(1) << hb->granularity;
    uint64_t end, sbit, ebit;

    if (count == 0 || start >= hb->size) {
        return;
    }
    end = start + count;
    if (end > hb->size || end < start) {
        end = hb->size;
    }
    /* Only bits wholly covered, except the (partial) last bit at the end */
    sbit = (start + gran - 1) >> hb->granularity;
    if (start + gran - 1 < start) {
        return;
    }
    if (end == hb->size) {
        ebit = hb->bits;
    } else {
        ebit = end >> hb->granularity;
    }
    if (sbit >= ebit) {
        return;
    }
    trace_hbitmap_reset(hb, start, count, sbit, ebit - 1);
    level_reset(hb, 0, sbit, ebit - 1);
}

void hbitmap_reset_all(HBitmap *hb)
{
    for (int l = 0; l < hb->nlevels; l++) {
        memset(hb->levels[l], 0, hb->nwords[l] * sizeof(uint64_t));
    }
    hb->count = 0;
}

bool hbitmap_get(const HBitmap *hb, uint64_t item)
{
    uint64_t bit = item >> hb->granularity;

    if (item >= hb->size) {
        return false;
    }
    return (hb->levels[0][bit >> WORD_SHIFT] >> (bit & WORD_MASK)) & 1;
}

HBitmap *hbitmap_copy(const HBitmap *hb)
{
    HBitmap *c = hbitmap_alloc(hb->size, hb->granularity);

    for (int l = 0; l < hb->nlevels; l++) {
        memcpy(c->levels[l], hb->levels[l], hb->nwords[l] * sizeof(uint64_t));
    }
    c->count = hb->count;
    return c;
}

void hbitmap_truncate(HBitmap *hb, uint64_t size)
{
    uint64_t *old = hb->levels[0];
    uint64_t old_words = hb->nwords[0];
    uint64_t keep;

    hb->levels[0] = NULL;
    for (int l = 1; l < hb->nlevels; l++) {
        g_free(hb->levels[l]);
        hb->levels[l] = NULL;
    }
    hb->size = size;
    hb->bits = bits_for(size, hb->granularity);
    hbitmap_alloc_levels(hb);
    keep = MIN(old_words, hb->nwords[0]);
    memcpy(hb->levels[0], old, keep * sizeof(uint64_t));
    g_free(old);
    hbitmap_rebuild(hb);
}

/* ---- searching ---- */

/* First set bit >= bit at level l, or -1 (UINT64_MAX). */
static uint64_t level_next_set(const HBitmap *hb, int l, uint64_t bit)
{
    uint64_t w, m, above;

    if (bit >= hb->nwords[l] * WORD_BITS) {
        return UINT64_MAX;
    }
    w = bit >> WORD_SHIFT;
    m = hb->levels[l][w] & (~UINT64_C(0) << (bit & WORD_MASK));
    if (m) {
        return (w << WORD_SHIFT) + __builtin_ctzll(m);
    }
    if (l + 1 >= hb->nlevels) {
        return UINT64_MAX;
    }
    /* Skip the clean words below through the level above */
    above = level_next_set(hb, l + 1, w + 1);
    if (above == UINT64_MAX) {
        return UINT64_MAX;
    }
    trace_hbitmap_iter_skip_words(hb, NULL, above, hb->levels[l][above]);
    assert(hb->levels[l][above]);
    return (above << WORD_SHIFT) + __builtin_ctzll(hb->levels[l][above]);
}

/* First clear bit in [bit, ebit] of the bottom level, or UINT64_MAX. */
static uint64_t bottom_next_zero(const HBitmap *hb, uint64_t bit, uint64_t ebit)
{
    uint64_t w = bit >> WORD_SHIFT;
    uint64_t m = ~hb->levels[0][w] & (~UINT64_C(0) << (bit & WORD_MASK));

    for (;;) {
        if (m) {
            uint64_t r = (w << WORD_SHIFT) + __builtin_ctzll(m);

            return r <= ebit ? r : UINT64_MAX;
        }
        w++;
        if ((w << WORD_SHIFT) > ebit) {
            return UINT64_MAX;
        }
        m = ~hb->levels[0][w];
    }
}

/* [start, end) window of items clipped to the bitmap; false if empty */
static bool hbitmap_window(const HBitmap *hb, int64_t start, int64_t count,
                           uint64_t *pend)
{
    uint64_t end;

    if (start < 0 || (uint64_t)start >= hb->size || count == 0) {
        return false;
    }
    end = count < 0 ? hb->size : (uint64_t)start + (uint64_t)count;
    if (end > hb->size || end < (uint64_t)start) {
        end = hb->size;
    }
    *pend = end;
    return true;
}

int64_t hbitmap_next_dirty(const HBitmap *hb, int64_t start, int64_t count)
{
    uint64_t end, bit, item;

    if (!hbitmap_window(hb, start, count, &end)) {
        return -1;
    }
    bit = level_next_set(hb, 0, (uint64_t)start >> hb->granularity);
    if (bit == UINT64_MAX || bit >= hb->bits) {
        return -1;
    }
    item = bit << hb->granularity;
    if (item < (uint64_t)start) {
        item = start;
    }
    return item < end ? (int64_t)item : -1;
}

int64_t hbitmap_next_zero(const HBitmap *hb, int64_t start, int64_t count)
{
    uint64_t end, bit, item;

    if (!hbitmap_window(hb, start, count, &end)) {
        return -1;
    }
    bit = bottom_next_zero(hb, (uint64_t)start >> hb->granularity,
                           (end - 1) >> hb->granularity);
    if (bit == UINT64_MAX) {
        return -1;
    }
    item = bit << hb->granularity;
    if (item < (uint64_t)start) {
        item = start;
    }
    return item < end ? (int64_t)item : -1;
}

bool hbitmap_next_dirty_area(const HBitmap *hb, int64_t start, int64_t end,
                             int64_t max_dirty_count, int64_t *dirty_start,
                             int64_t *dirty_count)
{
    int64_t first, zero, limit;

    if (end > (int64_t)hb->size || end < 0) {
        end = hb->size;
    }
    if (start >= end) {
        return false;
    }
    first = hbitmap_next_dirty(hb, start, end - start);
    if (first < 0) {
        return false;
    }
    if (max_dirty_count <= 0 || max_dirty_count > end - first) {
        limit = end;
    } else {
        limit = first + max_dirty_count;
    }
    zero = hbitmap_next_zero(hb, first, limit - first);
    *dirty_start = first;
    *dirty_count = (zero < 0 ? limit : zero) - first;
    return true;
}

bool hbitmap_status(const HBitmap *hb, int64_t start, int64_t count, int64_t *pnum)
{
    uint64_t end;
    int64_t next;
    bool dirty;

    if (!hbitmap_window(hb, start, count, &end)) {
        *pnum = 0;
        return false;
    }
    dirty = hbitmap_get(hb, start);
    if (dirty) {
        next = hbitmap_next_zero(hb, start, end - start);
    } else {
        next = hbitmap_next_dirty(hb, start, end - start);
    }
    *pnum = (next < 0 ? (int64_t)end : next) - start;
    return dirty;
}

void hbitmap_iter_init(HBitmapIter *hbi, const HBitmap *hb, uint64_t first)
{
    hbi->hb = hb;
    hbi->pos = first >> hb->granularity;
}

int64_t hbitmap_iter_next(HBitmapIter *hbi)
{
    const HBitmap *hb = hbi->hb;
    uint64_t bit;

    if (hbi->pos >= hb->bits) {
        return -1;
    }
    bit = level_next_set(hb, 0, hbi->pos);
    if (bit == UINT64_MAX || bit >= hb->bits) {
        hbi->pos = hb->bits;
        return -1;
    }
    hbi->pos = bit + 1;
    return (int64_t)(bit << hb->granularity);
}

/* ---- merging ---- */

bool hbitmap_can_merge(const HBitmap *a, const HBitmap *b)
{
    return a->size == b->size;
}

/* dst |= src */
static void hbitmap_merge_into(HBitmap *dst, const HBitmap *src)
{
    if (src->count == 0) {
        return;
    }
    if (dst->granularity == src->granularity) {
        for (uint64_t i = 0; i < dst->nwords[0]; i++) {
            dst->levels[0][i] |= src->levels[0][i];
        }
        hbitmap_rebuild(dst);
        return;
    }
    /* Different granularities: through the dirty areas of src */
    {
        int64_t pos = 0, dstart, dcount;

        while (hbitmap_next_dirty_area(src, pos, src->size, -1, &dstart, &dcount)) {
            hbitmap_set(dst, dstart, dcount);
            pos = dstart + dcount;
        }
    }
}

bool hbitmap_merge(const HBitmap *a, const HBitmap *b, HBitmap *result)
{
    if (!hbitmap_can_merge(a, result) || !hbitmap_can_merge(b, result)) {
        return false;
    }
    if (result != a && result != b) {
        hbitmap_reset_all(result);
        hbitmap_merge_into(result, a);
        hbitmap_merge_into(result, b);
    } else if (result == a) {
        if (b != a) {
            hbitmap_merge_into(result, b);
        }
    } else {
        hbitmap_merge_into(result, a);
    }
    return true;
}

/* ---- serialisation ---- */

uint64_t hbitmap_serialization_align(const HBitmap *hb)
{
    return UINT64_C(64) << hb->granularity;
}

/* Words of the bottom level holding items [start, start + count) */
static void serialization_chunk(const HBitmap *hb, uint64_t start, uint64_t count,
                                uint64_t *first_word, uint64_t *nwords)
{
    uint64_t last = start + count - 1;

    assert((start & (hbitmap_serialization_align(hb) - 1)) == 0);
    assert(last < hb->size || hb->size == 0);
    *first_word = (start >> hb->granularity) >> WORD_SHIFT;
    *nwords = ((last >> hb->granularity) >> WORD_SHIFT) - *first_word + 1;
    assert(*first_word + *nwords <= hb->nwords[0]);
}

uint64_t hbitmap_serialization_size(const HBitmap *hb, uint64_t start, uint64_t count)
{
    uint64_t first, n;

    if (count == 0) {
        return 0;
    }
    serialization_chunk(hb, start, count, &first, &n);
    return n * sizeof(uint64_t);
}

void hbitmap_serialize_part(const HBitmap *hb, uint8_t *buf, uint64_t start,
                            uint64_t count)
{
    uint64_t first, n;

    if (count == 0) {
        return;
    }
    serialization_chunk(hb, start, count, &first, &n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t le = GUINT64_TO_LE(hb->levels[0][first + i]);

        memcpy(buf + i * sizeof(uint64_t), &le, sizeof(le));
    }
}

void hbitmap_deserialize_finish(HBitmap *hb)
{
    hbitmap_rebuild(hb);
}

void hbitmap_deserialize_part(HBitmap *hb, uint8_t *buf, uint64_t start,
                              uint64_t count, bool finish)
{
    uint64_t first, n;

    if (count == 0) {
        return;
    }
    serialization_chunk(hb, start, count, &first, &n);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t le;

        memcpy(&le, buf + i * sizeof(uint64_t), sizeof(le));
        hb->levels[0][first + i] = GUINT64_FROM_LE(le);
    }
    if (finish) {
        hbitmap_deserialize_finish(hb);
    }
}

static void deserialize_fill(HBitmap *hb, uint64_t start, uint64_t count,
                             bool finish, uint64_t value)
{
    uint64_t first, n;

    if (count == 0) {
        return;
    }
    serialization_chunk(hb, start, count, &first, &n);
    for (uint64_t i = 0; i < n; i++) {
        hb->levels[0][first + i] = value;
    }
    if (finish) {
        hbitmap_deserialize_finish(hb);
    }
}

void hbitmap_deserialize_zeroes(HBitmap *hb, uint64_t start, uint64_t count,
                                bool finish)
{
    deserialize_fill(hb, start, count, finish, 0);
}

void hbitmap_deserialize_ones(HBitmap *hb, uint64_t start, uint64_t count,
                              bool finish)
{
    deserialize_fill(hb, start, count, finish, ~UINT64_C(0));
}

char *hbitmap_sha256(const HBitmap *hb, Error **errp)
{
    GChecksum *cs = g_checksum_new(G_CHECKSUM_SHA256);
    char *hex;

    if (!cs) {
        error_setg(errp, "SHA-256 is not available");
        return NULL;
    }
    if (G_BYTE_ORDER == G_LITTLE_ENDIAN) {
        g_checksum_update(cs, (const guchar *)hb->levels[0],
                          hb->nwords[0] * sizeof(uint64_t));
    } else {
        for (uint64_t i = 0; i < hb->nwords[0]; i++) {
            uint64_t le = GUINT64_TO_LE(hb->levels[0][i]);

            g_checksum_update(cs, (const guchar *)&le, sizeof(le));
        }
    }
    hex = g_strdup(g_checksum_get_string(cs));
    g_checksum_free(cs);
    return hex;
}
