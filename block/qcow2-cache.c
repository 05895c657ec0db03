/*
 * qcow2-cache.c: the qcow2 metadata caches (L2 table slices and refcount
 * blocks).
 *
 * A cache holds a fixed number of tables in one aligned array, found by
 * host offset through a small chained hash.  Entries are referenced while
 * a caller uses them (get/put), written back lazily (dirty), evicted LRU.
 * A cache may depend on another one: before one of its dirty entries is
 * written, the dependency is written and the file flushed, which is how
 * refcounts reach the disk before the L2 entries using them.  Every call
 * is made with the driver's s->lock held.
 */
#include "qemu/osdep.h"
#include <sys/mman.h>
#include "block/qcow2.h"
#include "trace/trace-block.h"

typedef struct Qcow2CachedTable {
    int64_t offset;                 /* 0: empty */
    uint64_t lru_counter;
    int ref;
    bool dirty;
    int next;                       /* hash chain, -1 ends */
} Qcow2CachedTable;

struct Qcow2Cache {
    Qcow2CachedTable *entries;
    struct Qcow2Cache *depends;
    int size;
    unsigned table_size;
    bool depends_on_flush;
    uint64_t lru_counter;
    uint8_t *table_array;
    int *buckets;
    unsigned bucket_mask;
};

static inline void *cache_table(Qcow2Cache *c, int i)
{
    return c->table_array + (size_t)i * c->table_size;
}

static inline int cache_index(Qcow2Cache *c, void *table)
{
    ptrdiff_t off = (uint8_t *)table - c->table_array;
    int i = off / c->table_size;

    assert(off >= 0 && off % c->table_size == 0 && i < c->size);
    return i;
}

static inline unsigned cache_hash(Qcow2Cache *c, uint64_t offset)
{
    return ((offset >> 9) * UINT64_C(0x9e3779b97f4a7c15)) >> 32 & c->bucket_mask;
}

static void cache_hash_insert(Qcow2Cache *c, int i)
{
    unsigned b = cache_hash(c, c->entries[i].offset);

    c->entries[i].next = c->buckets[b];
    c->buckets[b] = i;
}

static void cache_hash_remove(Qcow2Cache *c, int i)
{
    unsigned b = cache_hash(c, c->entries[i].offset);
    int *p = &c->buckets[b];

    while (*p != -1) {
        if (*p == i) {
            *p = c->entries[i].next;
            c->entries[i].next = -1;
            return;
        }
        p = &c->entries[*p].next;
    }
    g_assert_not_reached();
}

static int cache_lookup(Qcow2Cache *c, uint64_t offset)
{
    int i = c->buckets[cache_hash(c, offset)];

    while (i != -1) {
        if (c->entries[i].offset == (int64_t)offset) {
            return i;
        }
        i = c->entries[i].next;
    }
    return -1;
}

Qcow2Cache *qcow2_cache_create(BlockDriverState *bs, int num_tables,
                               unsigned table_size)
{
    Qcow2Cache *c;
    unsigned nbuckets;
    int i;

    assert(num_tables > 0 && is_power_of_2(table_size) && table_size >= 512);
    c = g_new0(Qcow2Cache, 1);
    c->size = num_tables;
    c->table_size = table_size;
    c->entries = g_new0(Qcow2CachedTable, num_tables);
    c->table_array = qemu_try_memalign(MAX((size_t)getpagesize(),
                                           bs->file->bs->bl.opt_mem_alignment),
                                       (size_t)num_tables * table_size);
    if (!c->table_array) {
        g_free(c->entries);
        g_free(c);
        return NULL;
    }
    nbuckets = pow2ceil(MAX(num_tables * 2, 16));
    c->bucket_mask = nbuckets - 1;
    c->buckets = g_new(int, nbuckets);
    for (i = 0; i < (int)nbuckets; i++) {
        c->buckets[i] = -1;
    }
    for (i = 0; i < num_tables; i++) {
        c->entries[i].next = -1;
    }
    return c;
}

void qcow2_cache_destroy(Qcow2Cache *c)
{
    int i;

    if (!c) {
        return;
    }
    for (i = 0; i < c->size; i++) {
        assert(c->entries[i].ref == 0);
    }
    qemu_vfree(c->table_array);
    g_free(c->entries);
    g_free(c->buckets);
    g_free(c);
}

unsigned qcow2_cache_table_size(Qcow2Cache *c)
{
    return c->table_size;
}

static int coroutine_fn qcow2_cache_flush_dependency(BlockDriverState *bs,
                                                     Qcow2Cache *c)
{
    int ret;

    ret = qcow2_cache_flush(bs, c->depends);
    if (ret < 0) {
        return ret;
    }
    c->depends = NULL;
    c->depends_on_flush = false;
    return 0;
}

static int coroutine_fn qcow2_cache_entry_flush(BlockDriverState *bs,
                                                Qcow2Cache *c, int i)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = 0;

    if (!c->entries[i].dirty || !c->entries[i].offset) {
        return 0;
    }
    trace_qcow2_cache_entry_flush(qemu_coroutine_self(), c == s->l2_table_cache, i);
    if (c->depends) {
        ret = qcow2_cache_flush_dependency(bs, c);
    } else if (c->depends_on_flush) {
        ret = bdrv_co_flush(bs->file->bs);
        if (ret >= 0) {
            c->depends_on_flush = false;
        }
    }
    if (ret < 0) {
        return ret;
    }
    ret = qcow2_pre_write_overlap_check(bs, c == s->refcount_block_cache ?
                                        QCOW2_OL_REFCOUNT_BLOCK :
                                        QCOW2_OL_ACTIVE_L2,
                                        c->entries[i].offset, c->table_size);
    if (ret < 0) {
        return ret;
    }
    ret = bdrv_co_pwrite(bs->file, c->entries[i].offset, c->table_size,
                         cache_table(c, i), 0);
    if (ret < 0) {
        return ret;
    }
    c->entries[i].dirty = false;
    return 0;
}

int coroutine_fn qcow2_cache_write(BlockDriverState *bs, Qcow2Cache *c)
{
    BDRVQcow2State *s = bs->opaque;
    int result = 0;
    int i, ret;

    trace_qcow2_cache_flush(qemu_coroutine_self(), c == s->l2_table_cache);
    for (i = 0; i < c->size; i++) {
        ret = qcow2_cache_entry_flush(bs, c, i);
        if (ret < 0 && result != -ENOSPC) {
            result = ret;
        }
    }
    return result;
}

int coroutine_fn qcow2_cache_flush(BlockDriverState *bs, Qcow2Cache *c)
{
    BDRVQcow2State *s = bs->opaque;
    int result = qcow2_cache_write(bs, c);

    if (result == 0) {
        int ret = bdrv_co_flush(bs->file->bs);

        if (ret < 0) {
            result = ret;
        }
    }
    /* Refcounts in a fresh block count only once the block is linked */
    if (result == 0 && c == s->refcount_block_cache) {
        result = qcow2_link_refblocks(bs);
    }
    return result;
}

int coroutine_fn qcow2_cache_set_dependency(BlockDriverState *bs, Qcow2Cache *c,
                                            Qcow2Cache *dependency)
{
    int ret;

    if (dependency->depends) {
        ret = qcow2_cache_flush_dependency(bs, dependency);
        if (ret < 0) {
            return ret;
        }
    }
    if (c->depends && c->depends != dependency) {
        ret = qcow2_cache_flush_dependency(bs, c);
        if (ret < 0) {
            return ret;
        }
    }
    c->depends = dependency;
    return 0;
}

void qcow2_cache_depends_on_flush(Qcow2Cache *c)
{
    c->depends_on_flush = true;
}

bool qcow2_cache_is_dirty(Qcow2Cache *c)
{
    int i;

    for (i = 0; i < c->size; i++) {
        if (c->entries[i].dirty) {
            return true;
        }
    }
    return false;
}

/* Forget entry i; release_memory gives its pages back (it stays unused) */
static void cache_entry_drop(Qcow2Cache *c, int i, bool release_memory)
{
    size_t page = getpagesize();
    void *t = cache_table(c, i);

    cache_hash_remove(c, i);
    c->entries[i].offset = 0;
    c->entries[i].lru_counter = 0;
    c->entries[i].dirty = false;
    if (release_memory && QEMU_PTR_IS_ALIGNED(t, page) && c->table_size >= page) {
        madvise(t, c->table_size, MADV_DONTNEED);
    }
}

int qcow2_cache_empty(Qcow2Cache *c)
{
    int i;

    for (i = 0; i < c->size; i++) {
        assert(c->entries[i].ref == 0);
        if (c->entries[i].offset) {
            cache_entry_drop(c, i, true);
        }
    }
    return 0;
}

void qcow2_cache_clean_unused(Qcow2Cache *c)
{
    int i;

    for (i = 0; i < c->size; i++) {
        if (c->entries[i].offset && !c->entries[i].ref && !c->entries[i].dirty) {
            cache_entry_drop(c, i, true);
        }
    }
}

void qcow2_cache_discard(Qcow2Cache *c, uint64_t offset)
{
    int i = cache_lookup(c, offset);

    /* A table still in use (only with corrupt metadata) stays */
    if (i >= 0 && c->entries[i].ref == 0) {
        cache_entry_drop(c, i, false);
    }
}

bool qcow2_cache_contains(Qcow2Cache *c, uint64_t offset)
{
    return cache_lookup(c, offset) >= 0;
}

static int coroutine_fn qcow2_cache_do_get(BlockDriverState *bs, Qcow2Cache *c,
                                           uint64_t offset, void **table,
                                           bool read_from_disk)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t min_lru = UINT64_MAX;
    int i, victim = -1, ret;

    assert(offset != 0 && QEMU_IS_ALIGNED(offset, c->table_size));
    trace_qcow2_cache_get(qemu_coroutine_self(), c == s->l2_table_cache,
                          offset, read_from_disk);
    i = cache_lookup(c, offset);
    if (i >= 0) {
        goto found;
    }
    /* Miss: the least recently used free entry (empty ones first) */
    for (i = 0; i < c->size; i++) {
        if (c->entries[i].ref) {
            continue;
        }
        if (!c->entries[i].offset) {
            victim = i;
            break;
        }
        if (c->entries[i].lru_counter < min_lru) {
            min_lru = c->entries[i].lru_counter;
            victim = i;
        }
    }
    if (victim < 0) {
        /* Every table is in use: cannot happen with the minimum sizes */
        return -ENOSPC;
    }
    i = victim;
    if (c->entries[i].offset) {
        ret = qcow2_cache_entry_flush(bs, c, i);
        if (ret < 0) {
            return ret;
        }
        /* The lock is held: nobody else touched the cache meanwhile */
        cache_entry_drop(c, i, false);
    }
    if (read_from_disk) {
        ret = bdrv_co_pread(bs->file, offset, c->table_size, cache_table(c, i), 0);
        if (ret < 0) {
            return ret;
        }
    }
    c->entries[i].offset = offset;
    cache_hash_insert(c, i);

found:
    c->entries[i].ref++;
    c->entries[i].lru_counter = ++c->lru_counter;
    *table = cache_table(c, i);
    trace_qcow2_cache_get_done(qemu_coroutine_self(), c == s->l2_table_cache, i);
    return 0;
}

int coroutine_fn qcow2_cache_get(BlockDriverState *bs, Qcow2Cache *c,
                                 uint64_t offset, void **table)
{
    return qcow2_cache_do_get(bs, c, offset, table, true);
}

int coroutine_fn qcow2_cache_get_empty(BlockDriverState *bs, Qcow2Cache *c,
                                       uint64_t offset, void **table)
{
    return qcow2_cache_do_get(bs, c, offset, table, false);
}

void qcow2_cache_put(Qcow2Cache *c, void **table)
{
    int i = cache_index(c, *table);

    c->entries[i].ref--;
    *table = NULL;
    assert(c->entries[i].ref >= 0);
}

void qcow2_cache_entry_mark_dirty(Qcow2Cache *c, void *table)
{
    int i = cache_index(c, table);

    assert(c->entries[i].offset != 0);
    c->entries[i].dirty = true;
}
