/*
 * test-hbitmap.c: util/hbitmap.c against a naive bool-per-bit model
 * under random operations (set, reset, search, iterate, merge,
 * serialise, truncate), plus fixed cases and the memory budget.
 */
#include "qemu/osdep.h"
#include "qemu/hbitmap.h"

/* The model: one bool per granule */
typedef struct Model {
    uint64_t size;
    int gran;
    uint64_t bits;
    bool *b;
} Model;

static void model_init(Model *m, uint64_t size, int gran)
{
    m->size = size;
    m->gran = gran;
    m->bits = (size + (UINT64_C(1) << gran) - 1) >> gran;
    m->b = g_new0(bool, m->bits + 1);
}

static void model_set(Model *m, uint64_t start, uint64_t count)
{
    if (!count) {
        return;
    }
    for (uint64_t i = start >> m->gran; i <= (start + count - 1) >> m->gran; i++) {
        m->b[i] = true;
    }
}

static void model_reset(Model *m, uint64_t start, uint64_t count)
{
    uint64_t g = UINT64_C(1) << m->gran;
    uint64_t end = start + count;

    for (uint64_t i = 0; i < m->bits; i++) {
        uint64_t bs = i * g, be = MIN(bs + g, m->size);

        if (bs >= start && (be <= end || (end >= m->size && bs < end))) {
            m->b[i] = false;
        }
    }
}

static uint64_t model_count(Model *m)
{
    uint64_t c = 0;

    for (uint64_t i = 0; i < m->bits; i++) {
        c += m->b[i];
    }
    return c << m->gran;
}

static bool model_get(Model *m, uint64_t item)
{
    return m->b[item >> m->gran];
}

static int64_t model_next(Model *m, int64_t start, int64_t count, bool want)
{
    int64_t end = count < 0 ? (int64_t)m->size : MIN(start + count, (int64_t)m->size);

    for (int64_t i = start; i < end; i++) {
        if (model_get(m, i) == want) {
            return i;
        }
    }
    return -1;
}

static void check_equal(HBitmap *hb, Model *m)
{
    HBitmapIter hbi;
    int64_t it;
    uint64_t i;

    g_assert_cmpuint(hbitmap_count(hb), ==, model_count(m));
    g_assert_cmpint(hbitmap_empty(hb), ==, model_count(m) == 0);
    for (i = 0; i < m->bits; i++) {
        g_assert_cmpint(hbitmap_get(hb, i << m->gran), ==, m->b[i]);
    }
    /* The iterator visits exactly the set bits, in order */
    hbitmap_iter_init(&hbi, hb, 0);
    i = 0;
    while ((it = hbitmap_iter_next(&hbi)) >= 0) {
        while (i < m->bits && !m->b[i]) {
            i++;
        }
        g_assert_cmpuint(i, <, m->bits);
        g_assert_cmpint(it, ==, (int64_t)(i << m->gran));
        i++;
    }
    while (i < m->bits) {
        g_assert_false(m->b[i]);
        i++;
    }
}

static void check_search(HBitmap *hb, Model *m, GRand *r)
{
    for (int k = 0; k < 20; k++) {
        int64_t start = g_rand_int_range(r, 0, m->size);
        int64_t count = g_rand_boolean(r) ? -1 : g_rand_int_range(r, 1, m->size + 1);
        int64_t ds, dc, pnum;
        int64_t nd = model_next(m, start, count, true);
        int64_t nz = model_next(m, start, count, false);
        int64_t end = count < 0 ? (int64_t)m->size : MIN(start + count, (int64_t)m->size);
        bool st;

        g_assert_cmpint(hbitmap_next_dirty(hb, start, count), ==, nd);
        g_assert_cmpint(hbitmap_next_zero(hb, start, count), ==, nz);

        if (hbitmap_next_dirty_area(hb, start, end, 0, &ds, &dc)) {
            int64_t z;

            g_assert_cmpint(ds, ==, nd);
            z = model_next(m, ds, end - ds, false);
            g_assert_cmpint(dc, ==, (z < 0 ? end : z) - ds);
        } else {
            g_assert_cmpint(nd, ==, -1);
        }
        if (nd >= 0 && hbitmap_next_dirty_area(hb, start, end, 1000, &ds, &dc)) {
            g_assert_cmpint(ds, ==, nd);
            g_assert_cmpint(dc, <=, 1000);
            g_assert_cmpint(dc, >, 0);
        }

        st = hbitmap_status(hb, start, end - start, &pnum);
        g_assert_cmpint(st, ==, model_get(m, start));
        {
            int64_t other = model_next(m, start, end - start, !st);

            g_assert_cmpint(pnum, ==, (other < 0 ? end : other) - start);
        }
    }
}

static void random_ops(HBitmap *hb, Model *m, GRand *r, int n)
{
    for (int k = 0; k < n; k++) {
        uint64_t start = g_rand_int_range(r, 0, m->size);
        uint64_t maxc = m->size - start;
        uint64_t count;

        /* Mostly short ranges, sometimes long ones */
        if (g_rand_int_range(r, 0, 4) == 0) {
            count = g_rand_int_range(r, 0, maxc + 1);
        } else {
            count = g_rand_int_range(r, 0, MIN(maxc, 3u << m->gran) + 1);
        }
        if (g_rand_int_range(r, 0, 3) == 0) {
            hbitmap_reset(hb, start, count);
            model_reset(m, start, count);
        } else {
            hbitmap_set(hb, start, count);
            model_set(m, start, count);
        }
    }
}

static void test_random(void)
{
    static const struct {
        uint64_t size;
        int gran;
    } cases[] = {
        { 1, 0 }, { 63, 0 }, { 64, 0 }, { 65, 0 }, { 4096, 0 }, { 4097 * 3, 0 },
        { 300000, 0 }, { 1000, 3 }, { 100000, 4 }, { 100001, 9 }, { 262144 + 7, 2 },
    };
    GRand *r = g_rand_new_with_seed(0x5eed);

    for (unsigned c = 0; c < G_N_ELEMENTS(cases); c++) {
        HBitmap *hb = hbitmap_alloc(cases[c].size, cases[c].gran);
        Model m;

        model_init(&m, cases[c].size, cases[c].gran);
        for (int round = 0; round < 8; round++) {
            random_ops(hb, &m, r, 50);
            check_equal(hb, &m);
            check_search(hb, &m, r);
        }
        hbitmap_reset_all(hb);
        memset(m.b, 0, m.bits);
        check_equal(hb, &m);
        g_free(m.b);
        hbitmap_free(hb);
    }
    g_rand_free(r);
}

static void test_fixed(void)
{
    HBitmap *hb = hbitmap_alloc(1 << 20, 9);
    int64_t ds, dc;

    g_assert_cmpint(hbitmap_next_dirty(hb, 0, -1), ==, -1);
    g_assert_cmpint(hbitmap_next_zero(hb, 0, -1), ==, 0);
    hbitmap_set(hb, 1000, 1);           /* granule 512..1023 */
    g_assert_cmpuint(hbitmap_count(hb), ==, 512);
    g_assert_true(hbitmap_get(hb, 512));
    g_assert_false(hbitmap_get(hb, 1024));
    g_assert_cmpint(hbitmap_next_dirty(hb, 0, -1), ==, 512);
    g_assert_cmpint(hbitmap_next_dirty(hb, 700, -1), ==, 700);
    g_assert_cmpint(hbitmap_next_dirty(hb, 0, 512), ==, -1);
    g_assert_cmpint(hbitmap_next_zero(hb, 512, -1), ==, 1024);
    hbitmap_set(hb, (1 << 20) - 1, 1);
    g_assert_cmpint(hbitmap_next_dirty(hb, 1024, -1), ==, (1 << 20) - 512);
    g_assert_true(hbitmap_next_dirty_area(hb, 0, 1 << 20, -1, &ds, &dc));
    g_assert_cmpint(ds, ==, 512);
    g_assert_cmpint(dc, ==, 512);
    /* reset of part of a granule does not clear it */
    hbitmap_reset(hb, 600, 100);
    g_assert_true(hbitmap_get(hb, 512));
    hbitmap_reset(hb, 512, 512);
    g_assert_false(hbitmap_get(hb, 512));
    g_assert_cmpuint(hbitmap_count(hb), ==, 512);
    hbitmap_free(hb);
}

/* A set partial last granule counts a whole granule, as QEMU */
static void test_count_partial_tail(void)
{
    HBitmap *hb = hbitmap_alloc(1000, 9);

    hbitmap_set(hb, 999, 1);
    g_assert_cmpuint(hbitmap_count(hb), ==, 512);
    hbitmap_reset(hb, 512, 488);        /* to the end: clears the tail */
    g_assert_cmpuint(hbitmap_count(hb), ==, 0);
    hbitmap_free(hb);
}

static void test_merge(void)
{
    GRand *r = g_rand_new_with_seed(42);
    uint64_t size = 200000;

    for (int gb = 0; gb < 4; gb++) {
        HBitmap *a = hbitmap_alloc(size, 3);
        HBitmap *b = hbitmap_alloc(size, 3 + gb);
        HBitmap *res = hbitmap_alloc(size, 3);
        HBitmap *other = hbitmap_alloc(size + 1, 3);
        Model ma, mb, mres;

        model_init(&ma, size, 3);
        model_init(&mb, size, 3 + gb);
        model_init(&mres, size, 3);
        random_ops(a, &ma, r, 80);
        random_ops(b, &mb, r, 80);
        /* expected: a | b, with b's bits widened to a's granules */
        for (uint64_t i = 0; i < mres.bits; i++) {
            uint64_t item = i << 3;

            mres.b[i] = ma.b[i] || model_get(&mb, item) ||
                        model_get(&mb, MIN(item + 7, size - 1));
        }
        g_assert_false(hbitmap_merge(a, other, res));
        g_assert_true(hbitmap_merge(a, b, res));
        check_equal(res, &mres);
        /* in place, result == a */
        g_assert_true(hbitmap_merge(a, b, a));
        check_equal(a, &mres);
        g_free(ma.b);
        g_free(mb.b);
        g_free(mres.b);
        hbitmap_free(a);
        hbitmap_free(b);
        hbitmap_free(res);
        hbitmap_free(other);
    }
    g_rand_free(r);
}

static void test_serialize(void)
{
    GRand *r = g_rand_new_with_seed(7);
    uint64_t size = 1000000 + 123;
    int gran = 4;
    HBitmap *hb = hbitmap_alloc(size, gran);
    HBitmap *copy = hbitmap_alloc(size, gran);
    Model m;
    uint64_t align = hbitmap_serialization_align(hb);
    uint64_t chunk = align * 7;
    uint8_t *buf;
    uint64_t total;

    g_assert_cmpuint(align, ==, 64 << gran);
    model_init(&m, size, gran);
    random_ops(hb, &m, r, 300);
    total = hbitmap_serialization_size(hb, 0, size);
    g_assert_cmpuint(total, ==, ((m.bits + 63) / 64) * 8);
    buf = g_malloc0(total);
    hbitmap_serialize_part(hb, buf, 0, size);
    /* little-endian words: bit i of the bitmap is bit i%8 of byte i/8 */
    for (uint64_t i = 0; i < m.bits; i++) {
        g_assert_cmpint((buf[i / 8] >> (i % 8)) & 1, ==, m.b[i]);
    }
    g_free(buf);

    /* chunked round trip with zero and one fills, finished once */
    hbitmap_set(copy, 0, size);
    for (uint64_t off = 0; off < size; off += chunk) {
        uint64_t len = MIN(chunk, size - off);
        uint64_t sz = hbitmap_serialization_size(hb, off, len);
        uint8_t *part = g_malloc(sz);

        hbitmap_serialize_part(hb, part, off, len);
        if (hbitmap_next_dirty(hb, off, len) < 0) {
            hbitmap_deserialize_zeroes(copy, off, len, false);
        } else {
            hbitmap_deserialize_part(copy, part, off, len, false);
        }
        g_free(part);
    }
    hbitmap_deserialize_finish(copy);
    check_equal(copy, &m);
    {
        char *h1 = hbitmap_sha256(hb, NULL);
        char *h2 = hbitmap_sha256(copy, NULL);

        g_assert_cmpstr(h1, ==, h2);
        g_free(h1);
        g_free(h2);
    }
    /* ones */
    hbitmap_deserialize_ones(copy, 0, size, true);
    g_assert_cmpuint(hbitmap_count(copy), ==, m.bits << gran);

    g_free(m.b);
    hbitmap_free(hb);
    hbitmap_free(copy);
    g_rand_free(r);
}

static void test_truncate(void)
{
    GRand *r = g_rand_new_with_seed(99);
    HBitmap *hb = hbitmap_alloc(50000, 2);
    Model m, m2;

    model_init(&m, 50000, 2);
    random_ops(hb, &m, r, 100);

    /* shrink: bits past the end are dropped */
    hbitmap_truncate(hb, 20001);
    model_init(&m2, 20001, 2);
    memcpy(m2.b, m.b, m2.bits);
    check_equal(hb, &m2);
    /* grow: new area is clean */
    hbitmap_truncate(hb, 90000);
    g_free(m.b);
    model_init(&m, 90000, 2);
    memcpy(m.b, m2.b, m2.bits);
    check_equal(hb, &m);
    random_ops(hb, &m, r, 100);
    check_equal(hb, &m);
    check_search(hb, &m, r);
    g_free(m.b);
    g_free(m2.b);
    hbitmap_free(hb);
    g_rand_free(r);
}

/* QEMU's value for an empty 64 MiB bitmap at 64 KiB (sha256 of 128 zero bytes) */
static void test_sha256_empty(void)
{
    HBitmap *hb = hbitmap_alloc(64 << 20, 16);
    char *h = hbitmap_sha256(hb, NULL);

    g_assert_cmpstr(h, ==,
        "38723a2e5e8a17aa7950dc008209944e898f69a7bd10a23c839d341e935fd5ca");
    g_free(h);
    hbitmap_free(hb);
}

/* 1 TiB at 64 KiB: under 4 MiB; set/search over it stay fast */
static void test_memory_1tib(void)
{
    uint64_t tib = UINT64_C(1) << 40;
    HBitmap *hb = hbitmap_alloc(tib, 16);

    g_assert_cmpuint(hbitmap_memory_size(hb), <, 4 << 20);
    hbitmap_set(hb, tib - 1, 1);
    g_assert_cmpint(hbitmap_next_dirty(hb, 0, -1), ==, tib - 65536);
    hbitmap_set(hb, 0, tib);
    g_assert_cmpuint(hbitmap_count(hb), ==, tib);
    hbitmap_reset(hb, 65536, tib - 2 * 65536);
    g_assert_cmpuint(hbitmap_count(hb), ==, 2 * 65536);
    g_assert_cmpint(hbitmap_next_dirty(hb, 65536, -1), ==, tib - 65536);
    hbitmap_free(hb);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/hbitmap/random", test_random);
    g_test_add_func("/hbitmap/fixed", test_fixed);
    g_test_add_func("/hbitmap/count-partial-tail", test_count_partial_tail);
    g_test_add_func("/hbitmap/merge", test_merge);
    g_test_add_func("/hbitmap/serialize", test_serialize);
    g_test_add_func("/hbitmap/truncate", test_truncate);
    g_test_add_func("/hbitmap/sha256-empty", test_sha256_empty);
    g_test_add_func("/hbitmap/memory-1tib", test_memory_1tib);
    return g_test_run();
}
