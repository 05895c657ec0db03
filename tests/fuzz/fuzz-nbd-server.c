/*
 * fuzz-nbd-server.c: libFuzzer target over the NBD server's input path.
 *
 * Each input is written into one end of a socketpair whose other end is a
 * fresh NBD server connection, exactly as bytes from a client would
 * arrive; the event loop then runs until the server has answered
 * everything it read and dropped the connection.  Two exports of a null-co
 * node exist: "rw" (writable) and "ro".  If the first byte is odd the
 * rest of the input is preceded by a complete handshake (structured
 * replies, base:allocation, OPT_GO "rw" or, if bit 1 is set too, "ro"), so
 * that the fuzzer mostly explores the transmission phase.
 */
#include "qemu/osdep.h"
#include "block/block.h"
#include "block/export.h"
#include "block/nbd.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"
#include "qemu/aio.h"

#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static char *sock_dir;

static void fuzz_cleanup(void)
{
    g_autofree char *path = g_build_filename(sock_dir, "nbd.sock", NULL);

    nbd_server_stop();
    unlink(path);
    rmdir(sock_dir);
}

static void fuzz_qmp(const char *type, const char *text)
{
    json_object *obj = json_tokener_parse(text);

    assert(obj);
    if (!strcmp(type, "blockdev")) {
        BlockdevOptions *opts = NULL;
        visit_type_BlockdevOptions(obj, NULL, &opts, &error_abort);
        qmp_blockdev_add(opts, &error_abort);
        qapi_free_BlockdevOptions(opts);
    } else if (!strcmp(type, "server")) {
        SocketAddressLegacy *addr = NULL;
        visit_type_SocketAddressLegacy(obj, NULL, &addr, &error_abort);
        qmp_nbd_server_start(addr, NULL, NULL, false, 0, true, 0, &error_abort);
        qapi_free_SocketAddressLegacy(addr);
    } else {
        BlockExportOptions *opts = NULL;
        visit_type_BlockExportOptions(obj, NULL, &opts, &error_abort);
        qmp_block_export_add(opts, &error_abort);
        qapi_free_BlockExportOptions(opts);
    }
    json_object_put(obj);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    Error *err = NULL;
    g_autofree char *server = NULL;

    signal(SIGPIPE, SIG_IGN);
    if (!qemu_init_main_loop(&err)) {
        error_report_err(err);
        abort();
    }
    bdrv_init();
    sock_dir = g_dir_make_tmp("fuzz-nbd-XXXXXX", NULL);
    assert(sock_dir);
    server = g_strdup_printf("{\"type\": \"unix\", \"data\": {\"path\": \"%s/nbd.sock\"}}",
                             sock_dir);
    fuzz_qmp("blockdev", "{\"driver\": \"null-co\", \"node-name\": \"n0\", "
                         "\"size\": 1048576, \"read-zeroes\": true}");
    fuzz_qmp("server", server);
    fuzz_qmp("export", "{\"type\": \"nbd\", \"id\": \"rw\", \"node-name\": \"n0\", "
                       "\"writable\": true, \"allocation-depth\": true}");
    fuzz_qmp("export", "{\"type\": \"nbd\", \"id\": \"ro\", \"node-name\": \"n0\", "
                       "\"name\": \"ro\", \"description\": \"fuzz\"}");
    atexit(fuzz_cleanup);
    return 0;
}

static void put32(GByteArray *b, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    g_byte_array_append(b, (const guint8 *)&v, 4);
}

static void put_opt(GByteArray *b, uint32_t opt, const void *payload, uint32_t len)
{
    uint64_t magic = GUINT64_TO_BE(NBD_OPTS_MAGIC);

    g_byte_array_append(b, (const guint8 *)&magic, 8);
    put32(b, opt);
    put32(b, len);
    g_byte_array_append(b, payload, len);
}

/* A well-behaved client's handshake up to the transmission phase */
static GByteArray *fuzz_handshake(const char *name)
{
    GByteArray *b = g_byte_array_new();
    GByteArray *p = g_byte_array_new();
    const char *ctx = NBD_META_BASE_ALLOCATION;
    uint16_t zero = 0;

    put32(b, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES);
    put_opt(b, NBD_OPT_STRUCTURED_REPLY, NULL, 0);

    put32(p, strlen(name));
    g_byte_array_append(p, (const guint8 *)name, strlen(name));
    put32(p, 1);
    put32(p, strlen(ctx));
    g_byte_array_append(p, (const guint8 *)ctx, strlen(ctx));
    put_opt(b, NBD_OPT_SET_META_CONTEXT, p->data, p->len);

    g_byte_array_set_size(p, 0);
    put32(p, strlen(name));
    g_byte_array_append(p, (const guint8 *)name, strlen(name));
    g_byte_array_append(p, (const guint8 *)&zero, 2);
    put_opt(b, NBD_OPT_GO, p->data, p->len);
    g_byte_array_free(p, TRUE);
    return b;
}

static void fuzz_drain(int fd)
{
    char buf[65536];

    while (read(fd, buf, sizeof(buf)) > 0) {
        /* discard */
    }
}

/* Write all of buf to fd while letting the loop consume the other end. */
static void fuzz_write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                fuzz_drain(fd);
                aio_poll(qemu_get_aio_context(), false);
                continue;
            }
            return;
        }
        buf += n;
        len -= n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    AioContext *ctx = qemu_get_aio_context();
    int sv[2];

    if (size > 4 * 1024 * 1024) {
        return 0;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        abort();
    }
    nbd_client_new(sv[1], 0, NULL, NULL);
    if (size > 0 && (data[0] & 1)) {
        GByteArray *hs = fuzz_handshake((data[0] & 2) ? "ro" : "n0");
        fuzz_write_all(sv[0], hs->data, hs->len);
        g_byte_array_free(hs, TRUE);
        /* The selector byte is not part of the stream */
        data++;
        size--;
    } else {
        /* The greeting must be read for the server to go on */
        aio_poll(ctx, false);
    }
    fuzz_write_all(sv[0], data, size);
    shutdown(sv[0], SHUT_WR);
    /* Run until the server has seen EOF and dropped the client */
    for (int i = 0; i < 1000000 && nbd_client_count() > 0; i++) {
        fuzz_drain(sv[0]);
        aio_poll(ctx, false);
    }
    assert(nbd_client_count() == 0);
    /* Let the client's last requests finish and free it */
    while (aio_poll(ctx, false)) {
        fuzz_drain(sv[0]);
    }
    close(sv[0]);
    return 0;
}
