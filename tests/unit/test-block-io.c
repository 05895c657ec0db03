/*
 * test-block-io.c: the block layer core (block/io.c, block/graph.c,
 * block/block-backend.c, raw and null drivers) with a memory driver
 * registered only here: alignment RMW, splitting at max_transfer,
 * serialisation of overlapping writes, drain, detect-zeroes, flush
 * generations, write-zeroes fallback, discard, block status, range checks
 * and permission conflicts.
 *
 * The memory driver takes the name "host_device" (a BlockdevDriver value
 * whose real driver, file-posix, is not registered in this program) and
 * reads its configuration from the filename: "size=N,align=N,max=N,
 * zeroes=0|1,fua=0|1".
 */
#include "qemu/osdep.h"
#include "block/block_int.h"
#include "block/block-backend.h"
#include "test-util-block.h"

extern BlockDriver bdrv_raw;
extern BlockDriver bdrv_null_co;
extern BlockDriver bdrv_null_aio;

static AioContext *ctx;

/* ---- the memory driver ---- */

typedef struct MemState {
    uint8_t *data;
    int64_t size;
    uint32_t align;
    int64_t max_transfer;
    bool has_zeroes;
    int reads, writes, zero_writes, flushes, discards;
    int64_t max_req;            /* largest request seen */
    bool unaligned_seen;        /* a request not aligned to align */
    bool paused;                /* writes wait in paused_q */
    CoQueue paused_q;
    int writes_in_driver;
    int max_writes_in_driver;
} MemState;

static MemState *mem;           /* the last opened memory node */

static int64_t cfg_int(char **kv, const char *key, int64_t def)
{
    for (; *kv; kv++) {
        size_t n = strlen(key);

        if (!strncmp(*kv, key, n) && (*kv)[n] == '=') {
            return g_ascii_strtoll(*kv + n + 1, NULL, 0);
        }
    }
    return def;
}

static int mem_open(BlockDriverState *bs, BlockdevOptions *options, int flags,
                    Error **errp)
{
    MemState *s = bs->opaque;
    char **kv = g_strsplit(options->u.host_device.filename, ",", -1);

    s->size = cfg_int(kv, "size", 1 * MiB);
    s->align = cfg_int(kv, "align", 1);
    s->max_transfer = cfg_int(kv, "max", 0);
    s->has_zeroes = cfg_int(kv, "zeroes", 1);
    bs->supported_write_flags = cfg_int(kv, "fua", 1) ? BDRV_REQ_FUA : 0;
    bs->supported_zero_flags = BDRV_REQ_MAY_UNMAP | BDRV_REQ_NO_FALLBACK |
                               bs->supported_write_flags;
    g_strfreev(kv);
    s->data = g_malloc(s->size);
    for (int64_t i = 0; i < s->size; i++) {
        s->data[i] = i * 7 + 3;         /* non-zero pattern */
    }
    qemu_co_queue_init(&s->paused_q);
    snprintf(bs->filename, sizeof(bs->filename), "mem:");
    mem = s;
    return 0;
}

static void mem_close(BlockDriverState *bs)
{
    MemState *s = bs->opaque;

    g_free(s->data);
    if (mem == s) {
        mem = NULL;
    }
}

static void mem_refresh_limits(BlockDriverState *bs, Error **errp)
{
    MemState *s = bs->opaque;

    bs->bl.request_alignment = s->align;
    bs->bl.max_transfer = s->max_transfer;
}

static void mem_check(MemState *s, int64_t offset, int64_t bytes)
{
    if (offset % s->align || bytes % s->align) {
        s->unaligned_seen = true;
    }
    if (s->max_transfer && bytes > s->max_transfer) {
        s->unaligned_seen = true;
    }
    s->max_req = MAX(s->max_req, bytes);
    g_assert_cmpint(offset + bytes, <=, s->size);
}

static int coroutine_fn mem_co_preadv(BlockDriverState *bs, int64_t offset,
                                      int64_t bytes, QEMUIOVector *qiov,
                                      BdrvRequestFlags flags)
{
    MemState *s = bs->opaque;

    mem_check(s, offset, bytes);
    s->reads++;
    qemu_iovec_from_buf(qiov, 0, s->data + offset, bytes);
    return 0;
}

static int coroutine_fn mem_co_pwritev(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, QEMUIOVector *qiov,
                                       BdrvRequestFlags flags)
{
    MemState *s = bs->opaque;

    mem_check(s, offset, bytes);
    s->writes_in_driver++;
    s->max_writes_in_driver = MAX(s->max_writes_in_driver,
                                  s->writes_in_driver);
    while (s->paused) {
        qemu_co_queue_wait(&s->paused_q, NULL);
    }
    s->writes++;
    qemu_iovec_to_buf(qiov, 0, s->data + offset, bytes);
    s->writes_in_driver--;
    return 0;
}

static int coroutine_fn mem_co_pwrite_zeroes(BlockDriverState *bs,
                                             int64_t offset, int64_t bytes,
                                             BdrvRequestFlags flags)
{
    MemState *s = bs->opaque;

    if (!s->has_zeroes) {
        return -ENOTSUP;
    }
    mem_check(s, offset, bytes);
    s->zero_writes++;
    memset(s->data + offset, 0, bytes);
    return 0;
}

static int coroutine_fn mem_co_pdiscard(BlockDriverState *bs, int64_t offset,
                                        int64_t bytes)
{
    MemState *s = bs->opaque;

    mem_check(s, offset, bytes);
    s->discards++;
    memset(s->data + offset, 0, bytes);
    return 0;
}

static int coroutine_fn mem_co_flush(BlockDriverState *bs)
{
    MemState *s = bs->opaque;

    s->flushes++;
    return 0;
}

static int64_t mem_getlength(BlockDriverState *bs)
{
    MemState *s = bs->opaque;

    return s->size;
}

static BlockDriver bdrv_mem = {
    .format_name = "host_device",
    .instance_size = sizeof(MemState),
    .bdrv_open = mem_open,
    .bdrv_close = mem_close,
    .bdrv_refresh_limits = mem_refresh_limits,
    .bdrv_co_preadv = mem_co_preadv,
    .bdrv_co_pwritev = mem_co_pwritev,
    .bdrv_co_pwrite_zeroes = mem_co_pwrite_zeroes,
    .bdrv_co_pdiscard = mem_co_pdiscard,
    .bdrv_co_flush_to_disk = mem_co_flush,
    .bdrv_getlength = mem_getlength,
};

/* ---- helpers ---- */

static BlockDriverState *open_mem(const char *cfg, const char *extra)
{
    g_autofree char *json = g_strdup_printf(
        "{\"driver\": \"host_device\", \"node-name\": \"mem0\", "
        "\"filename\": \"%s\"%s%s}", cfg, extra ? ", " : "", extra ? extra : "");

    return test_open_json(json, &error_abort);
}

static BlockBackend *blk_on(BlockDriverState *bs, uint64_t perm)
{
    BlockBackend *blk = blk_new(perm, BLK_PERM_ALL);

    g_assert_cmpint(blk_insert_bs(blk, bs, &error_abort), ==, 0);
    return blk;
}

#define RW (BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE)

static void pattern(uint8_t *buf, size_t len, int seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed + i * 13);
    }
}

/* Run fn(opaque) in a coroutine without waiting for it. */
typedef struct CoReq {
    BlockBackend *blk;
    int64_t offset;
    int64_t bytes;
    uint8_t *buf;
    bool write;
    int ret;
    bool done;
} CoReq;

static void coroutine_fn co_req_entry(void *opaque)
{
    CoReq *r = opaque;

    if (r->write) {
        r->ret = blk_co_pwrite(r->blk, r->offset, r->bytes, r->buf, 0);
    } else {
        r->ret = blk_co_pread(r->blk, r->offset, r->bytes, r->buf, 0);
    }
    r->done = true;
}

static void co_req_start(CoReq *r)
{
    r->done = false;
    qemu_coroutine_enter(qemu_coroutine_create(co_req_entry, r));
}

static void poll_until(bool *flag)
{
    int64_t deadline = qemu_clock_get_ms() + 10000;

    while (!*flag) {
        g_assert_cmpint(qemu_clock_get_ms(), <, deadline);
        aio_poll(ctx, true);
    }
}

/* Let bottom halves and scheduled coroutines run. */
static void poll_idle(void)
{
    while (aio_poll(ctx, false)) {
        /* nothing */
    }
}

/* ---- tests ---- */

static void test_rmw_unaligned_write(void)
{
    BlockDriverState *bs = open_mem("size=65536,align=4096", NULL);
    BlockBackend *blk = blk_on(bs, RW);
    uint8_t expect[65536], buf[10000], out[65536];

    memcpy(expect, mem->data, sizeof(expect));
    /* inside one block */
    pattern(buf, 100, 1);
    g_assert_cmpint(blk_pwrite(blk, 10, 100, buf, 0), ==, 0);
    memcpy(expect + 10, buf, 100);
    /* head and tail in different blocks */
    pattern(buf, 10000, 2);
    g_assert_cmpint(blk_pwrite(blk, 4000, 10000, buf, 0), ==, 0);
    memcpy(expect + 4000, buf, 10000);
    g_assert_false(mem->unaligned_seen);
    g_assert_cmpmem(mem->data, sizeof(expect), expect, sizeof(expect));

    /* unaligned reads see the same bytes */
    g_assert_cmpint(blk_pread(blk, 3, 12345, out, 0), ==, 0);
    g_assert_cmpmem(out, 12345, expect + 3, 12345);
    g_assert_cmpint(blk_pread(blk, 4095, 2, out, 0), ==, 0);
    g_assert_cmpmem(out, 2, expect + 4095, 2);
    g_assert_false(mem->unaligned_seen);

    /* unaligned write-zeroes: partial blocks rewritten, middle zeroed */
    g_assert_cmpint(blk_pwrite_zeroes(blk, 5000, 20000, 0), ==, 0);
    memset(expect + 5000, 0, 20000);
    g_assert_cmpmem(mem->data, sizeof(expect), expect, sizeof(expect));
    g_assert_cmpint(mem->zero_writes, >=, 1);
    g_assert_false(mem->unaligned_seen);

    blk_unref(blk);
    bdrv_unref(bs);
}

static void test_split_max_transfer(void)
{
    BlockDriverState *bs = open_mem("size=1048576,align=512,max=65536", NULL);
    BlockBackend *blk = blk_on(bs, RW);
    g_autofree uint8_t *buf = g_malloc(1 * MiB);
    g_autofree uint8_t *out = g_malloc(1 * MiB);

    pattern(buf, 1 * MiB, 5);
    g_assert_cmpint(blk_pwrite(blk, 0, 1 * MiB, buf, 0), ==, 0);
    g_assert_cmpint(mem->writes, ==, 16);
    g_assert_cmpint(mem->max_req, ==, 65536);
    g_assert_cmpint(blk_pread(blk, 0, 1 * MiB, out, 0), ==, 0);
    g_assert_cmpint(mem->reads, ==, 16);
    g_assert_cmpmem(out, 1 * MiB, buf, 1 * MiB);
    g_assert_false(mem->unaligned_seen);
    blk_unref(blk);
    bdrv_unref(bs);
}

static void test_serialising_overlap(void)
{
    BlockDriverState *bs = open_mem("size=65536,align=4096", NULL);
    BlockBackend *blk = blk_on(bs, RW);
    uint8_t a[100], b[100], out[200];
    CoReq r1 = { .blk = blk, .offset = 100, .bytes = 100, .buf = a,
                 .write = true };
    CoReq r2 = { .blk = blk, .offset = 150, .bytes = 100, .buf = b,
                 .write = true };
    CoReq r3 = { .blk = blk, .offset = 8192, .bytes = 4096, .buf = NULL,
                 .write = true };
    g_autofree uint8_t *c = g_malloc0(4096);

    r3.buf = c;
    pattern(a, 100, 10);
    pattern(b, 100, 20);
    mem->paused = true;
    co_req_start(&r1);
    poll_idle();
    g_assert_cmpint(mem->writes_in_driver, ==, 1);
    /* The overlapping unaligned write must wait for the first */
    co_req_start(&r2);
    /* A write elsewhere proceeds */
    co_req_start(&r3);
    poll_idle();
    g_assert_cmpint(mem->writes_in_driver, ==, 2);
    g_assert_false(r1.done || r2.done || r3.done);

    mem->paused = false;
    qemu_co_queue_restart_all(&mem->paused_q);
    poll_until(&r1.done);
    poll_until(&r2.done);
    poll_until(&r3.done);
    g_assert_cmpint(r1.ret, ==, 0);
    g_assert_cmpint(r2.ret, ==, 0);
    /* r2 read its padding after r1 wrote: both writes survive */
    g_assert_cmpint(blk_pread(blk, 100, 150, out, 0), ==, 0);
    g_assert_cmpmem(out, 50, a, 50);
    g_assert_cmpmem(out + 50, 100, b, 100);
    blk_unref(blk);
    bdrv_unref(bs);
}

static void test_drain_waits(void)
{
    BlockDriverState *bs = test_open_json("{\"driver\": \"null-aio\", "
                                     "\"node-name\": \"slow\", "
                                     "\"latency-ns\": 50000000, "
                                     "\"read-zeroes\": true}", &error_abort);
    BlockBackend *blk = blk_on(bs, RW);
    uint8_t buf[512];
    CoReq r = { .blk = blk, .offset = 0, .bytes = 512, .buf = buf };
    CoReq q = { .blk = blk, .offset = 0, .bytes = 512, .buf = buf };
    int64_t t0 = qemu_clock_get_ns();

    co_req_start(&r);
    g_assert_false(r.done);
    g_assert_cmpint(bs->in_flight, ==, 1);
    bdrv_drained_begin(bs);
    /* drained_begin returned only once the request completed */
    g_assert_true(r.done);
    g_assert_cmpint(r.ret, ==, 0);
    g_assert_cmpint(qemu_clock_get_ns() - t0, >=, 40 * SCALE_MS);
    g_assert_cmpint(bs->in_flight, ==, 0);

    /* A new request waits in the BlockBackend while drained (nested too) */
    bdrv_drained_begin(bs);
    co_req_start(&q);
    poll_idle();
    g_assert_false(q.done);
    g_assert_cmpint(bs->in_flight, ==, 0);
    bdrv_drained_end(bs);
    poll_idle();
    g_assert_false(q.done);
    g_assert_cmpint(bs->in_flight, ==, 0);
    bdrv_drained_end(bs);
    poll_until(&q.done);
    g_assert_cmpint(q.ret, ==, 0);

    blk_unref(blk);
    bdrv_unref(bs);
}

static void test_drain_through_child(void)
{
    BlockDriverState *bs = test_open_json("{\"driver\": \"raw\", "
                                     "\"node-name\": \"top\", \"file\": "
                                     "{\"driver\": \"null-co\", "
                                     "\"node-name\": \"bottom\", "
                                     "\"latency-ns\": 20000000}}",
                                     &error_abort);
    BlockDriverState *child = bs->file->bs;
    BlockBackend *blk = blk_on(bs, RW);
    uint8_t buf[512];
    CoReq r = { .blk = blk, .offset = 0, .bytes = 512, .buf = buf };
    CoReq q = { .blk = blk, .offset = 0, .bytes = 512, .buf = buf };

    co_req_start(&r);
    /* Draining the child quiesces the parents up to the BlockBackend */
    bdrv_drained_begin(child);
    g_assert_true(r.done);
    co_req_start(&q);
    poll_idle();
    g_assert_false(q.done);
    bdrv_drained_end(child);
    poll_until(&q.done);
    blk_unref(blk);
    bdrv_unref(bs);
}

/*
 * A parent attached while its node is drained N times is quiesced once
 * and released by the last drained_end (not stuck after N-1 releases).
 */
static void test_drain_nested_new_parent(void)
{
    BlockDriverState *bs = test_open_json("{\"driver\": \"null-co\", "
                                     "\"node-name\": \"n\"}", &error_abort);
    BlockBackend *blk;
    uint8_t buf[512];
    CoReq r;

    bdrv_drained_begin(bs);
    bdrv_drained_begin(bs);
    blk = blk_on(bs, RW);
    r = (CoReq) { .blk = blk, .offset = 0, .bytes = 512, .buf = buf };
    co_req_start(&r);
    poll_idle();
    g_assert_false(r.done);          /* held while drained */
    bdrv_drained_end(bs);
    poll_idle();
    g_assert_false(r.done);          /* still drained once */
    bdrv_drained_end(bs);
    poll_until(&r.done);             /* released by the last end */
    blk_unref(blk);
    bdrv_unref(bs);
}

/*
 * A parent moved by bdrv_replace_node() from a drained node to a drained
 * node stays quiesced: its queued requests do not run in between (they
 * would reach the old node).
 */
static void test_drain_replace_keeps_quiesced(void)
{
    BlockDriverState *a = test_open_json("{\"driver\": \"null-co\", "
                                    "\"node-name\": \"ra\"}", &error_abort);
    BlockDriverState *b = test_open_json("{\"driver\": \"null-co\", "
                                    "\"node-name\": \"rb\"}", &error_abort);
    BlockBackend *blk = blk_on(a, RW);
    uint8_t buf[512];
    CoReq r = { .blk = blk, .offset = 0, .bytes = 512, .buf = buf, .write = true };

    bdrv_drained_begin(a);
    bdrv_drained_begin(b);
    co_req_start(&r);
    poll_idle();
    g_assert_false(r.done);
    g_assert_true(bdrv_replace_node(a, b, &error_abort));
    poll_idle();
    g_assert_false(r.done);          /* still held: b is drained */
    bdrv_drained_end(a);
    poll_idle();
    g_assert_false(r.done);
    g_assert_true(blk_bs(blk) == b);
    bdrv_drained_end(b);
    poll_until(&r.done);
    g_assert_cmpint(r.ret, ==, 0);
    blk_unref(blk);
    bdrv_unref(a);
    bdrv_unref(b);
}

static void test_detect_zeroes(void)
{
    BlockDriverState *bs = open_mem("size=65536,align=512",
                                    "\"detect-zeroes\": \"on\"");
    BlockBackend *blk = blk_on(bs, RW);
    uint8_t zero[4096] = { 0 };
    Error *err = NULL;

    g_assert_cmpint(blk_pwrite(blk, 4096, 4096, zero, 0), ==, 0);
    g_assert_cmpint(mem->zero_writes, ==, 1);
    g_assert_cmpint(mem->writes, ==, 0);
    blk_unref(blk);
    bdrv_unref(bs);

    /* unmap needs discard=unmap */
    g_assert_null(test_open_json("{\"driver\": \"null-co\", \"node-name\": \"z\", "
                            "\"detect-zeroes\": \"unmap\"}", &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "setting detect-zeroes to unmap is not allowed without "
                    "setting discard operation to unmap");
    error_free(err);
}

static void test_flush_gen_and_fua(void)
{
    BlockDriverState *bs = open_mem("size=65536,align=512,fua=0", NULL);
    BlockBackend *blk = blk_on(bs, RW);
    uint8_t buf[512] = { 1 };

    g_assert_cmpint(blk_flush(blk), ==, 0);
    g_assert_cmpint(mem->flushes, ==, 0);       /* nothing written yet */
    g_assert_cmpint(blk_pwrite(blk, 0, 512, buf, 0), ==, 0);
    g_assert_cmpint(blk_flush(blk), ==, 0);
    g_assert_cmpint(mem->flushes, ==, 1);
    g_assert_cmpint(blk_flush(blk), ==, 0);
    g_assert_cmpint(mem->flushes, ==, 1);       /* no write since */
    /* FUA emulated by a flush after the write */
    g_assert_cmpint(blk_pwrite(blk, 0, 512, buf, BDRV_REQ_FUA), ==, 0);
    g_assert_cmpint(mem->flushes, ==, 2);
    blk_unref(blk);
    bdrv_unref(bs);
}

static void test_write_zeroes_fallback(void)
{
    BlockDriverState *bs = open_mem("size=262144,align=512,zeroes=0", NULL);
    BlockBackend *blk = blk_on(bs, RW);
    g_autofree uint8_t *zero = g_malloc0(100000);

    g_assert_cmpint(blk_pwrite_zeroes(blk, 1000, 100000, 0), ==, 0);
    g_assert_cmpint(mem->zero_writes, ==, 0);
    g_assert_cmpint(mem->writes, >=, 1);
    g_assert_cmpmem(mem->data + 1000, 100000, zero, 100000);
    g_assert_cmpint(mem->data[999], !=, 0);
    /* NO_FALLBACK refuses the slow path */
    g_assert_cmpint(blk_pwrite_zeroes(blk, 0, 4096, BDRV_REQ_NO_FALLBACK), ==,
                    -ENOTSUP);
    blk_unref(blk);
    bdrv_unref(bs);
}

static void test_discard(void)
{
    BlockDriverState *bs = open_mem("size=65536,align=512", NULL);
    BlockBackend *blk = blk_on(bs, RW);

    /* discard=ignore (the default) */
    g_assert_cmpint(blk_pdiscard(blk, 0, 8192), ==, 0);
    g_assert_cmpint(mem->discards, ==, 0);
    blk_unref(blk);
    bdrv_unref(bs);

    bs = open_mem("size=65536,align=4096", "\"discard\": \"unmap\"");
    blk = blk_on(bs, RW);
    /* the unaligned head and tail are dropped */
    g_assert_cmpint(blk_pdiscard(blk, 100, 12000), ==, 0);
    g_assert_cmpint(mem->discards, ==, 1);
    g_assert_cmpint(mem->data[4095], !=, 0);
    g_assert_cmpint(mem->data[4096], ==, 0);
    g_assert_cmpint(mem->data[8191], ==, 0);
    g_assert_cmpint(mem->data[8192], !=, 0);
    g_assert_false(mem->unaligned_seen);
    blk_unref(blk);
    bdrv_unref(bs);
}

typedef struct StatusCo {
    BlockDriverState *bs;
    int64_t offset, bytes, pnum, map;
    BlockDriverState *file;
    int ret;
    bool done;
} StatusCo;

static void coroutine_fn status_entry(void *opaque)
{
    StatusCo *s = opaque;

    s->ret = bdrv_co_block_status_above(s->bs, NULL, true, s->offset, s->bytes,
                                        &s->pnum, &s->map, &s->file, NULL);
    s->done = true;
}

static void test_block_status_raw(void)
{
    BlockDriverState *bs = test_open_json("{\"driver\": \"raw\", "
                                     "\"node-name\": \"win\", "
                                     "\"offset\": 4096, \"size\": 8192, "
                                     "\"file\": {\"driver\": \"null-co\", "
                                     "\"node-name\": \"nz\", "
                                     "\"size\": 65536, "
                                     "\"read-zeroes\": true}}", &error_abort);
    StatusCo s = { .bs = bs, .offset = 100, .bytes = 1 * MiB };

    g_assert_cmpint(bdrv_getlength(bs), ==, 8192);
    qemu_coroutine_enter(qemu_coroutine_create(status_entry, &s));
    poll_until(&s.done);
    g_assert_cmpint(s.ret, >=, 0);
    g_assert_true(s.ret & BDRV_BLOCK_ZERO);
    g_assert_true(s.ret & BDRV_BLOCK_OFFSET_VALID);
    g_assert_true(s.ret & BDRV_BLOCK_EOF);
    g_assert_cmpint(s.pnum, ==, 8192 - 100);
    g_assert_cmpint(s.map, ==, 4096 + 100);
    g_assert_true(s.file == bs->file->bs);
    bdrv_unref(bs);
}

static void test_range_checks(void)
{
    BlockDriverState *bs = test_open_json("{\"driver\": \"raw\", "
                                     "\"node-name\": \"win\", \"size\": 4096, "
                                     "\"file\": {\"driver\": \"null-co\", "
                                     "\"node-name\": \"nz\", "
                                     "\"read-zeroes\": true}}", &error_abort);
    BlockBackend *blk = blk_on(bs, RW);
    uint8_t buf[8192];

    g_assert_cmpint(blk_pread(blk, 4096, 1, buf, 0), ==, -EIO);
    g_assert_cmpint(blk_pread(blk, -1, 1, buf, 0), ==, -EIO);
    g_assert_cmpint(blk_pwrite(blk, 4000, 200, buf, 0), ==, -EIO);
    g_assert_cmpint(blk_pread(blk, 4095, 1, buf, 0), ==, 0);
    /* Beyond EOF at the node level: the raw window refuses writes */
    blk_set_allow_write_beyond_eof(blk, true);
    g_assert_cmpint(blk_pwrite(blk, 4000, 200, buf, 0), ==, -ENOSPC);
    blk_unref(blk);
    bdrv_unref(bs);
}

static void test_perm_conflict(void)
{
    BlockDriverState *bs = test_open_json("{\"driver\": \"null-co\", "
                                     "\"node-name\": \"shared\"}",
                                     &error_abort);
    BlockBackend *a = blk_new(RW, BLK_PERM_CONSISTENT_READ);
    BlockBackend *b = blk_new(RW, BLK_PERM_ALL);
    BlockBackend *c = blk_new(BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL);
    Error *err = NULL;

    blk_set_user_desc(a, "NBD export 'e0'");
    blk_set_user_desc(b, "block job 'j1'");
    g_assert_cmpint(blk_insert_bs(a, bs, &error_abort), ==, 0);
    g_assert_cmpint(blk_insert_bs(b, bs, &err), <, 0);
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Permission conflict on node 'shared': permissions "
                    "'write' are both required by block job 'j1' (uses node "
                    "'shared' as 'root' child) and unshared by NBD export "
                    "'e0' (uses node 'shared' as 'root' child).");
    error_free(err);
    err = NULL;
    /* A reader is fine */
    g_assert_cmpint(blk_insert_bs(c, bs, &error_abort), ==, 0);
    g_assert_cmpint(g_list_length(bs->parents), ==, 2);
    /* Dropping the writer lets the second one in */
    blk_unref(a);
    g_assert_cmpint(blk_insert_bs(b, bs, &error_abort), ==, 0);
    /* and the reader can no longer take write while b does not share... */
    g_assert_cmpint(blk_set_perm(c, RW, 0, &err), <, 0);
    g_assert_nonnull(err);
    error_free(err);
    err = NULL;
    /* failed update left c's permissions as they were */
    g_assert_cmpint(blk_set_perm(b, RW, BLK_PERM_ALL, &error_abort), ==, 0);
    blk_unref(b);
    blk_unref(c);
    g_assert_null(bs->parents);

    /* read-only node: no writers */
    bdrv_unref(bs);
    bs = test_open_json("{\"driver\": \"null-co\", \"node-name\": \"ro\", "
                   "\"read-only\": true}", &error_abort);
    a = blk_new(RW, BLK_PERM_ALL);
    g_assert_cmpint(blk_insert_bs(a, bs, &err), <, 0);
    g_assert_cmpstr(error_get_pretty(err), ==, "Block node is read-only");
    error_free(err);
    blk_unref(a);
    bdrv_unref(bs);
}

static void test_perm_propagation(void)
{
    /* raw over null: a writer on top takes write on the child too */
    BlockDriverState *bs = test_open_json("{\"driver\": \"raw\", \"node-name\": "
                                     "\"top\", \"file\": {\"driver\": "
                                     "\"null-co\", \"node-name\": \"low\"}}",
                                     &error_abort);
    BlockDriverState *low = bdrv_find_node("low");
    BlockBackend *w = blk_new(RW, BLK_PERM_CONSISTENT_READ);
    BlockBackend *other = blk_new(RW, BLK_PERM_ALL);
    uint64_t perm, shared;
    Error *err = NULL;

    g_assert_nonnull(low);
    bdrv_get_cumulative_perm(low, &perm, &shared);
    g_assert_cmpint(perm & BLK_PERM_WRITE, ==, 0);
    g_assert_cmpint(blk_insert_bs(w, bs, &error_abort), ==, 0);
    bdrv_get_cumulative_perm(low, &perm, &shared);
    g_assert_cmpint(perm & BLK_PERM_WRITE, ==, BLK_PERM_WRITE);
    g_assert_cmpint(shared & BLK_PERM_WRITE, ==, 0);
    /* a second writer on the child conflicts with the top's user */
    g_assert_cmpint(blk_insert_bs(other, low, &err), <, 0);
    g_assert_nonnull(strstr(error_get_pretty(err), "node 'top'"));
    error_free(err);
    blk_unref(other);
    blk_unref(w);
    bdrv_get_cumulative_perm(low, &perm, &shared);
    g_assert_cmpint(perm & BLK_PERM_WRITE, ==, 0);
    bdrv_unref(bs);
    g_assert_null(bdrv_find_node("low"));
}

static void test_node_names(void)
{
    Error *err = NULL;
    BlockDriverState *a, *anon;

    g_assert_null(test_open_json("{\"driver\": \"null-co\", \"node-name\": "
                            "\"1bad\"}", &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Invalid node-name: '1bad'");
    error_free(err);
    err = NULL;
    g_assert_null(test_open_json("{\"driver\": \"null-co\", \"node-name\": "
                            "\"abcdefghijabcdefghijabcdefghijab\"}", &err));
    g_assert_cmpstr(error_get_pretty(err), ==, "Node name too long");
    error_free(err);
    err = NULL;
    a = test_open_json("{\"driver\": \"null-co\", \"node-name\": \"dup\"}",
                  &error_abort);
    g_assert_null(test_open_json("{\"driver\": \"null-co\", \"node-name\": "
                            "\"dup\"}", &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Duplicate nodes with node-name='dup'");
    error_free(err);
    anon = test_open_json("{\"driver\": \"null-co\"}", &error_abort);
    g_assert_true(g_str_has_prefix(anon->node_name, "#block"));
    bdrv_unref(anon);
    bdrv_unref(a);
    g_assert_null(bdrv_find_node("dup"));
}

static void test_replace_node(void)
{
    BlockDriverState *a = test_open_json("{\"driver\": \"null-co\", "
                                    "\"node-name\": \"a\", \"size\": 4096}",
                                    &error_abort);
    BlockDriverState *b = test_open_json("{\"driver\": \"null-co\", "
                                    "\"node-name\": \"b\", \"size\": 8192}",
                                    &error_abort);
    BlockBackend *user = blk_on(a, RW);
    BlockBackend *excl = blk_new(BLK_PERM_CONSISTENT_READ,
                                 BLK_PERM_CONSISTENT_READ);
    Error *err = NULL;

    /* b has a user that does not share write: moving the writer fails */
    g_assert_cmpint(blk_insert_bs(excl, b, &error_abort), ==, 0);
    g_assert_false(bdrv_replace_node(a, b, &err));
    g_assert_nonnull(err);
    error_free(err);
    g_assert_true(blk_bs(user) == a);
    g_assert_cmpint(blk_getlength(user), ==, 4096);
    blk_unref(excl);

    g_assert_true(bdrv_replace_node(a, b, &error_abort));
    g_assert_true(blk_bs(user) == b);
    g_assert_cmpint(blk_getlength(user), ==, 8192);
    g_assert_null(a->parents);
    blk_unref(user);
    bdrv_unref(a);
    bdrv_unref(b);
}

/*
 * bdrv_replace_node() leaves the links of the new node's whole subtree
 * where they are (QEMU's should_update_child()): here `to` reaches `from`
 * through `mid`, so moving mid's link would make a loop.  Only the other
 * parents move; a frozen link inside the subtree does not stop the
 * replacement, a frozen link that would move does.
 */
static void test_replace_node_subtree(void)
{
    BlockDriverState *from = test_open_json("{\"driver\": \"null-co\", "
                                       "\"node-name\": \"sub-from\"}",
                                       &error_abort);
    BlockDriverState *mid = test_open_json("{\"driver\": \"raw\", \"node-name\": "
                                      "\"sub-mid\", \"file\": \"sub-from\"}",
                                      &error_abort);
    BlockDriverState *to = test_open_json("{\"driver\": \"raw\", \"node-name\": "
                                     "\"sub-to\", \"file\": \"sub-mid\"}",
                                     &error_abort);
    BlockDriverState *other = test_open_json("{\"driver\": \"raw\", \"node-name\": "
                                        "\"sub-other\", \"file\": "
                                        "\"sub-from\"}", &error_abort);
    BlockBackend *user = blk_on(from, RW);
    Error *err = NULL;

    other->file->frozen = true;
    g_assert_false(bdrv_replace_node(from, to, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Cannot change 'file' link to 'sub-from'");
    error_free(err);
    g_assert_true(blk_bs(user) == from);
    g_assert_true(other->file->bs == from);
    g_assert_true(mid->file->bs == from);
    other->file->frozen = false;

    mid->file->frozen = true;
    g_assert_true(bdrv_replace_node(from, to, &error_abort));
    g_assert_true(blk_bs(user) == to);
    g_assert_true(other->file->bs == to);
    g_assert_true(mid->file->bs == from);       /* no loop */
    g_assert_true(to->file->bs == mid);
    g_assert_cmpint(g_list_length(from->parents), ==, 1);
    mid->file->frozen = false;
    /* a write goes down to, mid, from (a loop would never end) */
    g_assert_cmpint(blk_pwrite_zeroes(user, 0, 4096, 0), ==, 0);

    blk_unref(user);
    bdrv_unref(other);
    bdrv_unref(to);
    bdrv_unref(mid);
    bdrv_unref(from);
}

static void test_truncate(void)
{
    BlockDriverState *bs = test_open_json("{\"driver\": \"raw\", \"node-name\": "
                                     "\"t\", \"file\": {\"driver\": "
                                     "\"null-co\", \"size\": 4096}}",
                                     &error_abort);
    BlockBackend *blk = blk_on(bs, RW | BLK_PERM_RESIZE);
    BlockBackend *ro = blk_on(bs, BLK_PERM_CONSISTENT_READ);
    Error *err = NULL;

    g_assert_cmpint(blk_truncate(blk, 65536, true, PREALLOC_MODE_OFF, 0,
                                 &error_abort), ==, 0);
    g_assert_cmpint(blk_getlength(blk), ==, 65536);
    g_assert_cmpint(bdrv_getlength(bs->file->bs), ==, 65536);
    g_assert_cmpint(blk_truncate(ro, 4096, true, PREALLOC_MODE_OFF, 0, &err),
                    <, 0);
    error_free(err);
    g_assert_cmpint(blk_getlength(blk), ==, 65536);
    blk_unref(ro);
    blk_unref(blk);
    bdrv_unref(bs);
}

typedef struct CloseCo {
    BlockBackend *blk;
    BlockDriverState *bs;
    bool done;
} CloseCo;

static void coroutine_fn close_entry(void *opaque)
{
    CloseCo *c = opaque;

    /* Drain and drop the last references from coroutine context */
    blk_drain(c->blk);
    blk_unref(c->blk);
    bdrv_unref(c->bs);
    c->done = true;
}

static void test_close_in_coroutine(void)
{
    BlockDriverState *bs = test_open_json("{\"driver\": \"raw\", \"node-name\": "
                                     "\"cc\", \"file\": {\"driver\": "
                                     "\"null-aio\", \"node-name\": \"cc-f\","
                                     " \"latency-ns\": 10000000}}",
                                     &error_abort);
    BlockBackend *blk = blk_on(bs, RW);
    uint8_t buf[512];
    CoReq r = { .blk = blk, .offset = 0, .bytes = 512, .buf = buf };
    CloseCo c = { .blk = blk, .bs = bs };

    co_req_start(&r);
    qemu_coroutine_enter(qemu_coroutine_create(close_entry, &c));
    poll_until(&c.done);
    g_assert_true(r.done);
    g_assert_null(bdrv_find_node("cc"));
    g_assert_null(bdrv_find_node("cc-f"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    ctx = qemu_get_aio_context();
    bdrv_register(&bdrv_mem);
    bdrv_register(&bdrv_raw);
    bdrv_register(&bdrv_null_co);
    bdrv_register(&bdrv_null_aio);

    g_test_add_func("/block/io/rmw-unaligned", test_rmw_unaligned_write);
    g_test_add_func("/block/io/split-max-transfer", test_split_max_transfer);
    g_test_add_func("/block/io/serialising-overlap", test_serialising_overlap);
    g_test_add_func("/block/io/drain-waits", test_drain_waits);
    g_test_add_func("/block/io/drain-through-child", test_drain_through_child);
    g_test_add_func("/block/io/drain-nested-new-parent", test_drain_nested_new_parent);
    g_test_add_func("/block/io/drain-replace-keeps-quiesced",
                    test_drain_replace_keeps_quiesced);
    g_test_add_func("/block/io/detect-zeroes", test_detect_zeroes);
    g_test_add_func("/block/io/flush-gen-fua", test_flush_gen_and_fua);
    g_test_add_func("/block/io/write-zeroes-fallback",
                    test_write_zeroes_fallback);
    g_test_add_func("/block/io/discard", test_discard);
    g_test_add_func("/block/io/block-status-raw", test_block_status_raw);
    g_test_add_func("/block/io/range-checks", test_range_checks);
    g_test_add_func("/block/graph/perm-conflict", test_perm_conflict);
    g_test_add_func("/block/graph/perm-propagation", test_perm_propagation);
    g_test_add_func("/block/graph/node-names", test_node_names);
    g_test_add_func("/block/graph/replace-node", test_replace_node);
    g_test_add_func("/block/graph/replace-node-subtree",
                    test_replace_node_subtree);
    g_test_add_func("/block/io/truncate", test_truncate);
    g_test_add_func("/block/graph/close-in-coroutine", test_close_in_coroutine);
    return g_test_run();
}
