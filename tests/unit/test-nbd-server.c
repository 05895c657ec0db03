/*
 * test-nbd-server.c: the NBD server (nbd/server.c) driven byte by byte
 * from a socketpair: handshake replies, refused options, protocol
 * violations, request errors, pipelining, and export removal with clients
 * connected.  The exported nodes are null-co (reads return zeroes).
 */
#include "qemu/osdep.h"
#include "block/block.h"
#include "block/export.h"
#include "block/nbd.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"
#include "qemu/aio.h"

#include <sys/socket.h>

#define EXPORT_SIZE (64 * MiB)

static AioContext *ctx;
static char *tmpdir;

/* ---- a blocking test client that keeps the server's loop running ---- */

static void pump(void)
{
    while (aio_poll(ctx, false)) {
        /* dispatch everything ready */
    }
}

static void c_write(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            g_assert(errno == EAGAIN || errno == EINTR);
            pump();
            continue;
        }
        p += n;
        len -= n;
        pump();
    }
}

/* false on end-of-file (or error) before len bytes */
static bool c_read(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    int64_t deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;

    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n == 0) {
            return false;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                return false;
            }
            g_assert(g_get_monotonic_time() < deadline);
            aio_poll(ctx, false);
            g_usleep(100);
            continue;
        }
        p += n;
        len -= n;
    }
    return true;
}

/* The server hung up (reads reach EOF, possibly after pending data). */
static bool c_wait_eof(int fd)
{
    uint8_t buf[4096];
    int64_t deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;

    while (g_get_monotonic_time() < deadline) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            return true;
        }
        aio_poll(ctx, false);
        g_usleep(100);
    }
    return false;
}

static void put16(uint8_t *p, uint16_t v) { v = GUINT16_TO_BE(v); memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { v = GUINT32_TO_BE(v); memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { v = GUINT64_TO_BE(v); memcpy(p, &v, 8); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return GUINT16_FROM_BE(v); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return GUINT32_FROM_BE(v); }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return GUINT64_FROM_BE(v); }

static int c_connect(void)
{
    int sv[2];

    g_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    nbd_client_new(sv[1], 10, NULL, NULL);
    return sv[0];
}

/* Greeting and client flags */
static void c_hello(int fd, uint32_t client_flags)
{
    uint8_t buf[18];

    g_assert(c_read(fd, buf, 18));
    g_assert_cmphex(get64(buf), ==, NBD_INIT_MAGIC);
    g_assert_cmphex(get64(buf + 8), ==, NBD_OPTS_MAGIC);
    g_assert_cmphex(get16(buf + 16), ==, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    put32(buf, client_flags);
    c_write(fd, buf, 4);
}

static void c_send_opt(int fd, uint32_t opt, const void *data, uint32_t len)
{
    uint8_t hdr[16];

    put64(hdr, NBD_OPTS_MAGIC);
    put32(hdr + 8, opt);
    put32(hdr + 12, len);
    c_write(fd, hdr, 16);
    if (len) {
        c_write(fd, data, len);
    }
}

typedef struct OptReply {
    uint32_t opt;
    uint32_t type;
    uint32_t len;
    uint8_t data[8192];
} OptReply;

static void c_recv_opt_reply(int fd, OptReply *r)
{
    uint8_t hdr[20];

    g_assert(c_read(fd, hdr, 20));
    g_assert_cmphex(get64(hdr), ==, NBD_REP_MAGIC);
    r->opt = get32(hdr + 8);
    r->type = get32(hdr + 12);
    r->len = get32(hdr + 16);
    g_assert_cmpuint(r->len, <=, sizeof(r->data));
    g_assert(c_read(fd, r->data, r->len));
}

/* Receive one option reply into r and check its type */
static void c_expect_reply(int fd, OptReply *r, uint32_t type)
{
    c_recv_opt_reply(fd, r);
    g_assert_cmphex(r->type, ==, type);
}

/* Send an option and check the type of its one reply */
static void c_opt_expect(int fd, uint32_t opt, const void *data, uint32_t len,
                         uint32_t type)
{
    OptReply r;

    c_send_opt(fd, opt, data, len);
    c_expect_reply(fd, &r, type);
}

/*
 * The data of SET_META_CONTEXT and LIST_META_CONTEXT: export exp and one
 * query (none if NULL), in buf (12 + strlen(exp) + strlen(query) bytes);
 * returns its length.
 */
static uint32_t c_meta_request(uint8_t *buf, const char *exp, const char *query)
{
    size_t elen = strlen(exp), qlen = query ? strlen(query) : 0;

    put32(buf, elen);
    memcpy(buf + 4, exp, elen);
    if (!query) {
        put32(buf + 4 + elen, 0);
        return 8 + elen;
    }
    put32(buf + 4 + elen, 1);
    put32(buf + 8 + elen, qlen);
    memcpy(buf + 12 + elen, query, qlen);
    return 12 + elen + qlen;
}

/* OPT_GO name with the given info requests; returns the transmission flags */
static uint16_t c_go(int fd, const char *name, uint64_t *size)
{
    size_t nlen = strlen(name);
    g_autofree uint8_t *buf = g_malloc(4 + nlen + 2 + 4);
    OptReply r;
    uint16_t flags = 0;
    bool got_export = false;

    put32(buf, nlen);
    memcpy(buf + 4, name, nlen);
    put16(buf + 4 + nlen, 2);
    put16(buf + 6 + nlen, NBD_INFO_NAME);
    put16(buf + 8 + nlen, NBD_INFO_BLOCK_SIZE);
    c_send_opt(fd, NBD_OPT_GO, buf, 4 + nlen + 6);
    for (;;) {
        c_recv_opt_reply(fd, &r);
        g_assert_cmpuint(r.opt, ==, NBD_OPT_GO);
        if (r.type == NBD_REP_ACK) {
            break;
        }
        g_assert_cmphex(r.type, ==, NBD_REP_INFO);
        switch (get16(r.data)) {
        case NBD_INFO_EXPORT:
            g_assert_cmpuint(r.len, ==, 12);
            *size = get64(r.data + 2);
            flags = get16(r.data + 10);
            got_export = true;
            break;
        case NBD_INFO_NAME:
            g_assert_cmpmem(r.data + 2, r.len - 2, name, nlen);
            break;
        case NBD_INFO_BLOCK_SIZE:
            g_assert_cmpuint(r.len, ==, 14);
            g_assert_cmpuint(get32(r.data + 2), >=, 1);
            g_assert_cmpuint(get32(r.data + 6), ==, 4096);
            g_assert_cmpuint(get32(r.data + 10), ==, NBD_MAX_BUFFER_SIZE);
            break;
        default:
            g_assert_not_reached();
        }
    }
    g_assert(got_export);
    return flags;
}

static void c_structured(int fd)
{
    c_opt_expect(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0, NBD_REP_ACK);
}

static void c_set_meta(int fd, const char *exp, const char *query, uint32_t expect_id)
{
    size_t qlen = strlen(query);
    g_autofree uint8_t *buf = g_malloc(12 + strlen(exp) + qlen);
    OptReply r;

    c_send_opt(fd, NBD_OPT_SET_META_CONTEXT, buf,
               c_meta_request(buf, exp, query));
    c_expect_reply(fd, &r, NBD_REP_META_CONTEXT);
    g_assert_cmpuint(get32(r.data), ==, expect_id);
    g_assert_cmpmem(r.data + 4, r.len - 4, query, qlen);
    c_expect_reply(fd, &r, NBD_REP_ACK);
}

/* A connected client in transmission phase */
static int c_open(const char *name, bool structured, uint16_t *flags)
{
    int fd = c_connect();
    uint64_t size;
    uint16_t f;

    c_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    if (structured) {
        c_structured(fd);
        c_set_meta(fd, name, "base:allocation", NBD_META_ID_BASE_ALLOCATION);
    }
    f = c_go(fd, name, &size);
    g_assert_cmpuint(size, ==, EXPORT_SIZE);
    if (flags) {
        *flags = f;
    }
    return fd;
}

static void c_request(int fd, uint16_t type, uint16_t flags, uint64_t cookie,
                      uint64_t from, uint32_t len)
{
    uint8_t req[28];

    put32(req, NBD_REQUEST_MAGIC);
    put16(req + 4, flags);
    put16(req + 6, type);
    put64(req + 8, cookie);
    put64(req + 16, from);
    put32(req + 24, len);
    c_write(fd, req, 28);
}

typedef struct Reply {
    bool structured;
    uint32_t error;             /* simple reply, or the error chunk's */
    uint64_t cookie;
    uint16_t flags;
    uint16_t type;
    uint32_t len;
    uint8_t *payload;
} Reply;

/* One simple reply (data_len bytes follow on success) or one chunk */
static void c_reply(int fd, Reply *r, uint32_t data_len)
{
    uint8_t hdr[20];

    memset(r, 0, sizeof(*r));
    g_assert(c_read(fd, hdr, 4));
    if (get32(hdr) == NBD_SIMPLE_REPLY_MAGIC) {
        g_assert(c_read(fd, hdr + 4, 12));
        r->error = get32(hdr + 4);
        r->cookie = get64(hdr + 8);
        if (!r->error && data_len) {
            r->payload = g_malloc(data_len);
            r->len = data_len;
            g_assert(c_read(fd, r->payload, data_len));
        }
        return;
    }
    g_assert_cmphex(get32(hdr), ==, NBD_STRUCTURED_REPLY_MAGIC);
    g_assert(c_read(fd, hdr + 4, 16));
    r->structured = true;
    r->flags = get16(hdr + 4);
    r->type = get16(hdr + 6);
    r->cookie = get64(hdr + 8);
    r->len = get32(hdr + 16);
    r->payload = g_malloc(r->len + 1);
    g_assert(c_read(fd, r->payload, r->len));
    if (NBD_REPLY_TYPE_IS_ERR(r->type)) {
        g_assert_cmpuint(r->len, >=, 6);
        r->error = get32(r->payload);
    }
}

/* The error of a request whose reply has no data */
static uint32_t c_request_error(int fd, uint16_t type, uint16_t flags, uint64_t from,
                                uint32_t len)
{
    static uint64_t cookie = 1000;
    Reply r;
    uint32_t err;

    c_request(fd, type, flags, ++cookie, from, len);
    c_reply(fd, &r, 0);
    g_assert_cmpuint(r.cookie, ==, cookie);
    if (r.structured) {
        g_assert(r.flags & NBD_REPLY_FLAG_DONE);
    }
    err = r.error;
    g_free(r.payload);
    return err;
}

/* ---- fixtures ---- */

static json_object *json(const char *text)
{
    json_object *obj = json_tokener_parse(text);
    g_assert(obj);
    return obj;
}

static void add_node(const char *name)
{
    g_autofree char *text = g_strdup_printf(
        "{\"driver\": \"null-co\", \"node-name\": \"%s\", \"size\": %" PRId64
        ", \"read-zeroes\": true}", name, (int64_t)EXPORT_SIZE);
    json_object *obj = json(text);
    BlockdevOptions *opts = NULL;

    g_assert(visit_type_BlockdevOptions(obj, NULL, &opts, &error_abort));
    qmp_blockdev_add(opts, &error_abort);
    qapi_free_BlockdevOptions(opts);
    json_object_put(obj);
}

static bool add_export(const char *text, Error **errp)
{
    json_object *obj = json(text);
    BlockExportOptions *opts = NULL;

    g_assert(visit_type_BlockExportOptions(obj, NULL, &opts, &error_abort));
    json_object_put(obj);
    qmp_block_export_add(opts, errp);
    qapi_free_BlockExportOptions(opts);
    return blk_exp_find("e0") || blk_exp_find("ro") || blk_exp_find("rw");
}

static void start_server(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "nbd.sock", NULL);
    g_autofree char *text = g_strdup_printf(
        "{\"type\": \"unix\", \"data\": {\"path\": \"%s\"}}", path);
    json_object *obj = json(text);
    SocketAddressLegacy *addr = NULL;

    g_assert(visit_type_SocketAddressLegacy(obj, NULL, &addr, &error_abort));
    json_object_put(obj);
    qmp_nbd_server_start(addr, NULL, NULL, false, 0, false, 0, &error_abort);
    qapi_free_SocketAddressLegacy(addr);
}

/* ---- tests ---- */

static void test_handshake(void)
{
    uint16_t flags;
    int fd = c_open("rw", true, &flags);

    g_assert(flags & NBD_FLAG_HAS_FLAGS);
    g_assert(flags & NBD_FLAG_SEND_FLUSH);
    g_assert(flags & NBD_FLAG_SEND_FUA);
    g_assert(flags & NBD_FLAG_SEND_TRIM);
    g_assert(flags & NBD_FLAG_SEND_WRITE_ZEROES);
    g_assert(flags & NBD_FLAG_SEND_DF);
    g_assert(flags & NBD_FLAG_CAN_MULTI_CONN);
    g_assert(!(flags & NBD_FLAG_READ_ONLY));
    c_request(fd, NBD_CMD_DISC, 0, 1, 0, 0);
    g_assert(c_wait_eof(fd));
    close(fd);

    fd = c_open("ro", false, &flags);
    g_assert(flags & NBD_FLAG_READ_ONLY);
    g_assert(!(flags & NBD_FLAG_SEND_TRIM));
    g_assert(!(flags & NBD_FLAG_SEND_DF));
    close(fd);
    pump();
}

static void test_refused_options(void)
{
    int fd = c_connect();
    OptReply r;
    uint8_t big[65537];
    uint8_t buf[64];
    uint64_t size;

    c_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE);

    c_send_opt(fd, 99, "xyz", 3);
    c_expect_reply(fd, &r, NBD_REP_ERR_UNSUP);
    g_assert_cmpuint(r.opt, ==, 99);

    c_opt_expect(fd, NBD_OPT_STARTTLS, NULL, 0, NBD_REP_ERR_POLICY);
    c_opt_expect(fd, NBD_OPT_LIST, "x", 1, NBD_REP_ERR_INVALID);

    /* Too long to hold: drained, then refused */
    memset(big, 'a', sizeof(big));
    c_opt_expect(fd, NBD_OPT_GO, big, sizeof(big), NBD_REP_ERR_TOO_BIG);

    /* Lengths that do not add up */
    put32(buf, 100);
    c_opt_expect(fd, NBD_OPT_GO, buf, 8, NBD_REP_ERR_INVALID);

    /* No such export */
    put32(buf, 3);
    memcpy(buf + 4, "zzz", 3);
    put16(buf + 7, 0);
    c_opt_expect(fd, NBD_OPT_GO, buf, 9, NBD_REP_ERR_UNKNOWN);

    /* Meta contexts need structured replies first */
    c_opt_expect(fd, NBD_OPT_SET_META_CONTEXT, buf,
                 c_meta_request(buf, "rw", NULL), NBD_REP_ERR_INVALID);

    c_structured(fd);
    c_opt_expect(fd, NBD_OPT_STRUCTURED_REPLY, NULL, 0, NBD_REP_ERR_INVALID);

    /* LIST: every export, then ACK */
    c_send_opt(fd, NBD_OPT_LIST, NULL, 0);
    for (int n = 0;; n++) {
        c_recv_opt_reply(fd, &r);
        if (r.type == NBD_REP_ACK) {
            g_assert_cmpint(n, ==, 2);
            break;
        }
        g_assert_cmphex(r.type, ==, NBD_REP_SERVER);
    }

    /* LIST_META_CONTEXT with no query: every context, id 0 */
    c_send_opt(fd, NBD_OPT_LIST_META_CONTEXT, buf,
               c_meta_request(buf, "rw", NULL));
    c_expect_reply(fd, &r, NBD_REP_META_CONTEXT);
    g_assert_cmpuint(get32(r.data), ==, 0);
    g_assert_cmpmem(r.data + 4, r.len - 4, "base:allocation", 15);
    c_expect_reply(fd, &r, NBD_REP_ACK);

    /* After all that, the client still gets its export */
    c_go(fd, "rw", &size);
    g_assert_cmpuint(size, ==, EXPORT_SIZE);
    close(fd);
    pump();
}

static void test_violations(void)
{
    uint8_t buf[32] = { 0 };
    int fd;

    /* Unknown client flags */
    fd = c_connect();
    c_hello(fd, 0x80);
    g_assert(c_wait_eof(fd));
    close(fd);

    /* Bad option magic */
    fd = c_connect();
    c_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
    c_write(fd, buf, 16);
    g_assert(c_wait_eof(fd));
    close(fd);

    /* Absurd option length */
    fd = c_connect();
    c_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
    c_send_opt(fd, NBD_OPT_GO, NULL, 0);
    close(fd);
    fd = c_connect();
    c_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
    put64(buf, NBD_OPTS_MAGIC);
    put32(buf + 8, NBD_OPT_GO);
    put32(buf + 12, 0xffffffff);
    c_write(fd, buf, 16);
    g_assert(c_wait_eof(fd));
    close(fd);

    /* EXPORT_NAME of an unknown export cannot be refused politely */
    fd = c_connect();
    c_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
    c_send_opt(fd, NBD_OPT_EXPORT_NAME, "nope", 4);
    g_assert(c_wait_eof(fd));
    close(fd);

    /* ABORT is acknowledged, then the server hangs up */
    fd = c_connect();
    c_hello(fd, NBD_FLAG_C_FIXED_NEWSTYLE);
    c_opt_expect(fd, NBD_OPT_ABORT, NULL, 0, NBD_REP_ACK);
    g_assert(c_wait_eof(fd));
    close(fd);

    /* Bad request magic in transmission */
    fd = c_open("rw", false, NULL);
    memset(buf, 0x55, 28);
    c_write(fd, buf, 28);
    g_assert(c_wait_eof(fd));
    close(fd);

    /* A write payload larger than any buffer */
    fd = c_open("rw", false, NULL);
    c_request(fd, NBD_CMD_WRITE, 0, 7, 0, NBD_MAX_BUFFER_SIZE + 1);
    g_assert(c_wait_eof(fd));
    close(fd);

    /* Abrupt disconnect with a request half sent */
    fd = c_open("rw", true, NULL);
    c_write(fd, buf, 10);
    close(fd);
    pump();
    g_assert_cmpuint(nbd_client_count(), ==, 0);
}

static void test_request_errors(void)
{
    int fd = c_open("rw", true, NULL);
    int ro = c_open("ro", false, NULL);
    Reply r;
    g_autofree uint8_t *data = g_malloc0(8192);

    /* Past the end */
    g_assert_cmpuint(c_request_error(fd, NBD_CMD_READ, 0, EXPORT_SIZE - 512, 4096),
                     ==, NBD_EINVAL);
    g_assert_cmpuint(c_request_error(fd, NBD_CMD_WRITE_ZEROES, 0, EXPORT_SIZE, 1),
                     ==, NBD_ENOSPC);
    g_assert_cmpuint(c_request_error(fd, NBD_CMD_TRIM, 0, UINT64_MAX - 10, 4096),
                     ==, NBD_EINVAL);
    c_request(fd, NBD_CMD_WRITE, 0, 5, EXPORT_SIZE - 4096, 8192);
    c_write(fd, data, 8192);
    c_reply(fd, &r, 0);
    g_assert_cmpuint(r.cookie, ==, 5);
    g_assert_cmpuint(r.error, ==, NBD_ENOSPC);
    g_free(r.payload);

    /* Oversized read, unknown command, unknown flag */
    g_assert_cmpuint(c_request_error(fd, NBD_CMD_READ, 0, 0, NBD_MAX_BUFFER_SIZE + 1),
                     ==, NBD_EINVAL);
    g_assert_cmpuint(c_request_error(fd, 42, 0, 0, 0), ==, NBD_EINVAL);
    g_assert_cmpuint(c_request_error(fd, NBD_CMD_FLUSH, 0x100, 0, 0), ==, NBD_EINVAL);
    g_assert_cmpuint(c_request_error(fd, NBD_CMD_FLUSH, 0, 0, 0), ==, 0);
    g_assert_cmpuint(c_request_error(fd, NBD_CMD_WRITE_ZEROES,
                                     NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FUA, 0, 4096),
                     ==, 0);

    /* Read-only export */
    g_assert_cmpuint(c_request_error(ro, NBD_CMD_TRIM, 0, 0, 4096), ==, NBD_EPERM);
    c_request(ro, NBD_CMD_WRITE, 0, 6, 0, 4096);
    c_write(ro, data, 4096);
    c_reply(ro, &r, 0);
    g_assert_cmpuint(r.error, ==, NBD_EPERM);
    /* DF is only valid with structured replies */
    g_assert_cmpuint(c_request_error(ro, NBD_CMD_READ, NBD_CMD_FLAG_DF, 0, 512),
                     ==, NBD_EINVAL);
    /* No meta context negotiated */
    g_assert_cmpuint(c_request_error(ro, NBD_CMD_BLOCK_STATUS, 0, 0, 512), ==, NBD_EINVAL);

    /* Both still work */
    c_request(ro, NBD_CMD_READ, 0, 8, 0, 4096);
    c_reply(ro, &r, 4096);
    g_assert_cmpuint(r.error, ==, 0);
    g_assert(buffer_is_zero(r.payload, 4096));
    g_free(r.payload);

    c_request(fd, NBD_CMD_READ, NBD_CMD_FLAG_DF, 9, 4096, 4096);
    c_reply(fd, &r, 0);
    g_assert(r.structured);
    g_assert_cmpuint(r.type, ==, NBD_REPLY_TYPE_OFFSET_DATA);
    g_assert(r.flags & NBD_REPLY_FLAG_DONE);
    g_assert_cmpuint(r.len, ==, 8 + 4096);
    g_assert_cmpuint(get64(r.payload), ==, 4096);
    g_free(r.payload);

    c_request(fd, NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_REQ_ONE, 10, 0, 1 * MiB);
    c_reply(fd, &r, 0);
    g_assert_cmpuint(r.type, ==, NBD_REPLY_TYPE_BLOCK_STATUS);
    g_assert(r.flags & NBD_REPLY_FLAG_DONE);
    g_assert_cmpuint(r.len, ==, 12);
    g_assert_cmpuint(get32(r.payload), ==, NBD_META_ID_BASE_ALLOCATION);
    g_assert_cmpuint(get32(r.payload + 4), >, 0);
    g_assert_cmpuint(get32(r.payload + 4), <=, 1 * MiB);
    g_free(r.payload);

    close(fd);
    close(ro);
    pump();
}

static void receive_one(int fd, bool *seen, int n);

/* Many requests in flight; every cookie answered exactly once */
static void test_pipelining(void)
{
    enum { N = 192, BATCH = 16 };
    int fd = c_open("rw", false, NULL);
    g_autofree uint8_t *data = g_malloc0(65536);
    bool seen[N] = { false };

    for (int i = 0; i < N; i++) {
        if (i % 2) {
            c_request(fd, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, i, i * 65536, 65536);
            c_write(fd, data, 65536);
        } else {
            c_request(fd, NBD_CMD_READ, 0, i, i * 65536, 65536);
        }
        if (i % BATCH != BATCH - 1) {
            continue;
        }
        for (int j = 0; j < BATCH; j++) {
            receive_one(fd, seen, N);
        }
    }
    for (int i = 0; i < N; i++) {
        g_assert(seen[i]);
    }
    close(fd);
    pump();
}

static void receive_one(int fd, bool *seen, int n)
{
    {
        Reply r;
        uint64_t cookie;

        /* Simple replies: the length depends on the cookie */
        uint8_t hdr[16];
        g_assert(c_read(fd, hdr, 16));
        g_assert_cmphex(get32(hdr), ==, NBD_SIMPLE_REPLY_MAGIC);
        g_assert_cmpuint(get32(hdr + 4), ==, 0);
        cookie = get64(hdr + 8);
        g_assert_cmpuint(cookie, <, n);
        g_assert(!seen[cookie]);
        seen[cookie] = true;
        if (cookie % 2 == 0) {
            r.payload = g_malloc(65536);
            g_assert(c_read(fd, r.payload, 65536));
            g_free(r.payload);
        }
    }
}

static void test_export_del(void)
{
    Error *err = NULL;
    int fd;

    g_assert(add_export("{\"type\": \"nbd\", \"id\": \"tmp\", \"node-name\": \"n1\", "
                        "\"name\": \"tmp\", \"writable\": true}", &error_abort));
    fd = c_open("tmp", false, NULL);
    pump();

    qmp_block_export_del("tmp", false, 0, &err);
    g_assert(err);
    g_assert_cmpstr(error_get_pretty(err), ==, "export 'tmp' still in use");
    error_free(err);
    err = NULL;

    qmp_block_export_del("nope", false, 0, &err);
    g_assert_cmpstr(error_get_pretty(err), ==, "Export 'nope' is not found");
    error_free(err);
    err = NULL;

    qmp_block_export_del("tmp", true, BLOCK_EXPORT_REMOVE_MODE_HARD, &error_abort);
    g_assert(c_wait_eof(fd));
    close(fd);
    for (int i = 0; i < 1000 && blk_exp_find("tmp"); i++) {
        aio_poll(ctx, false);
        g_usleep(1000);
    }
    g_assert(!blk_exp_find("tmp"));
    g_assert(!nbd_export_find("tmp"));
}

static void test_add_errors(void)
{
    static const struct {
        const char *json;
        const char *error;
    } cases[] = {
        { "{\"type\": \"nbd\", \"id\": \"rw\", \"node-name\": \"n0\"}",
          "Block export id 'rw' is already in use" },
        { "{\"type\": \"nbd\", \"id\": \"0x\", \"node-name\": \"n0\"}",
          "Invalid block export id" },
        { "{\"type\": \"nbd\", \"id\": \"x\", \"node-name\": \"nX\"}",
          "Cannot find device='' nor node-name='nX'" },
        { "{\"type\": \"nbd\", \"id\": \"x\", \"node-name\": \"n0\", \"name\": \"rw\"}",
          "NBD server already has export named 'rw'" },
        { "{\"type\": \"nbd\", \"id\": \"x\", \"node-name\": \"n0\", \"name\": \"q\","
          " \"bitmaps\": [\"b0\"]}",
          "Bitmap 'b0' is not found" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        Error *err = NULL;

        add_export(cases[i].json, &err);
        g_assert(err);
        g_assert_cmpstr(error_get_pretty(err), ==, cases[i].error);
        error_free(err);
    }
    g_assert(!blk_exp_find("x"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (!qemu_init_main_loop(&error_abort)) {
        return 1;
    }
    ctx = qemu_get_aio_context();
    bdrv_init();
    tmpdir = g_dir_make_tmp("test-nbd-server-XXXXXX", NULL);
    g_assert(tmpdir);

    add_node("n0");
    add_node("n1");
    start_server();
    add_export("{\"type\": \"nbd\", \"id\": \"rw\", \"node-name\": \"n0\", "
               "\"writable\": true, \"name\": \"rw\"}", &error_abort);
    add_export("{\"type\": \"nbd\", \"id\": \"ro\", \"node-name\": \"n0\", "
               "\"name\": \"ro\", \"description\": \"read-only\"}", &error_abort);

    g_test_add_func("/nbd-server/handshake", test_handshake);
    g_test_add_func("/nbd-server/refused-options", test_refused_options);
    g_test_add_func("/nbd-server/violations", test_violations);
    g_test_add_func("/nbd-server/request-errors", test_request_errors);
    g_test_add_func("/nbd-server/pipelining", test_pipelining);
    g_test_add_func("/nbd-server/export-del", test_export_del);
    g_test_add_func("/nbd-server/add-errors", test_add_errors);
    int ret = g_test_run();

    nbd_server_stop();
    g_autofree char *sock = g_build_filename(tmpdir, "nbd.sock", NULL);
    unlink(sock);
    rmdir(tmpdir);
    return ret;
}
