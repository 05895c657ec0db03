/*
 * test-nbd-client.c: the NBD client handshake and transmission helpers
 * (nbd/client.c) against scripted fake servers (a thread on the other end
 * of a socketpair) and, when it is installed, a real nbdkit.
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/wait.h>
#include <signal.h>
#include "block/nbd-client.h"
#include "qemu/sockets.h"

static AioContext *ctx;

/* ---- running a coroutine to completion ---- */

typedef struct NegCo {
    NBDClientSocket *sock;
    NBDExportInfo *info;
    Error *err;
    int ret;
    bool done;
} NegCo;

static void coroutine_fn negotiate_entry(void *opaque)
{
    NegCo *n = opaque;

    n->ret = nbd_receive_negotiate(n->sock, n->info, &n->err);
    n->done = true;
}

static int run_negotiate(NBDClientSocket *sock, NBDExportInfo *info,
                         Error **errp)
{
    NegCo n = { .sock = sock, .info = info };

    qemu_coroutine_enter(qemu_coroutine_create(negotiate_entry, &n));
    AIO_POLL_WHILE(ctx, !n.done);
    error_propagate(errp, n.err);
    return n.ret;
}

/* ---- a scripted server in a thread (blocking socket) ---- */

typedef void FakeServerFn(int fd);

typedef struct FakeServer {
    GThread *thread;
    int fd;
    FakeServerFn *fn;
} FakeServer;

static gpointer fake_server_thread(gpointer opaque)
{
    FakeServer *fs = opaque;

    fs->fn(fs->fd);
    close(fs->fd);
    return NULL;
}

/* Returns the client's end of a socketpair served by fn. */
static int fake_server_start(FakeServer *fs, FakeServerFn *fn)
{
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
    fs->fd = sv[1];
    fs->fn = fn;
    fs->thread = g_thread_new("fake-nbd", fake_server_thread, fs);
    return sv[0];
}

static void fake_server_join(FakeServer *fs)
{
    g_thread_join(fs->thread);
}

static void xwrite(int fd, const void *buf, size_t len)
{
    g_assert_cmpint(write(fd, buf, len), ==, (ssize_t)len);
}

static bool xread(int fd, void *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = read(fd, (char *)buf + done, len - done);
        if (n <= 0) {
            return false;
        }
        done += n;
    }
    return true;
}

static void send_newstyle_greeting(int fd, uint16_t flags)
{
    uint8_t buf[18];
    uint8_t cflags[4];

    nbd_st64(buf, NBD_INIT_MAGIC);
    nbd_st64(buf + 8, NBD_OPTS_MAGIC);
    nbd_st16(buf + 16, flags);
    xwrite(fd, buf, sizeof(buf));
    g_assert_true(xread(fd, cflags, 4));
}

/* Read one option request; returns the option, payload in *data. */
static uint32_t read_option(int fd, uint8_t **data, uint32_t *len)
{
    uint8_t hdr[16];

    if (!xread(fd, hdr, sizeof(hdr))) {
        return 0;
    }
    g_assert_cmphex(nbd_ld64(hdr), ==, NBD_OPTS_MAGIC);
    *len = nbd_ld32(hdr + 12);
    *data = g_malloc(*len + 1);
    g_assert_true(xread(fd, *data, *len));
    return nbd_ld32(hdr + 8);
}

static void send_option_reply(int fd, uint32_t opt, uint32_t type,
                              const void *data, uint32_t len)
{
    uint8_t hdr[20];

    nbd_st64(hdr, NBD_REP_MAGIC);
    nbd_st32(hdr + 8, opt);
    nbd_st32(hdr + 12, type);
    nbd_st32(hdr + 16, len);
    xwrite(fd, hdr, sizeof(hdr));
    if (len) {
        xwrite(fd, data, len);
    }
}

/* Refuses every export: NBD_REP_ERR_UNKNOWN with a message */
static void server_refuse_export(int fd)
{
    const char *msg = "export 'nope' not present";
    uint8_t *data;
    uint32_t len, opt;

    send_newstyle_greeting(fd, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    while ((opt = read_option(fd, &data, &len)) != 0) {
        g_free(data);
        if (opt == NBD_OPT_ABORT) {
            break;      /* the client does not wait for our ACK: skip it */
        }
        if (opt == NBD_OPT_GO) {
            send_option_reply(fd, opt, NBD_REP_ERR_UNKNOWN, msg, strlen(msg));
        } else {
            send_option_reply(fd, opt, NBD_REP_ERR_UNSUP, NULL, 0);
        }
    }
}

static void test_refused_export(void)
{
    FakeServer fs;
    NBDClientSocket *sock = nbd_sock_new(fake_server_start(&fs, server_refuse_export),
                                         ctx);
    NBDExportInfo info = {
        .name = (char *)"nope",
        .structured_reply = true,
        .base_allocation = true,
    };
    Error *err = NULL;

    g_assert_cmpint(run_negotiate(sock, &info, &err), <, 0);
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==, "Requested export not available");
    error_free(err);
    nbd_sock_free(sock);
    fake_server_join(&fs);
}

/*
 * An old fixed-newstyle server: no structured replies, no NBD_OPT_GO;
 * the client must fall back to NBD_OPT_EXPORT_NAME (with the 124 zeroes).
 */
static void server_export_name_only(int fd)
{
    uint8_t *data;
    uint32_t len, opt;

    send_newstyle_greeting(fd, NBD_FLAG_FIXED_NEWSTYLE);
    while ((opt = read_option(fd, &data, &len)) != 0) {
        if (opt == NBD_OPT_EXPORT_NAME) {
            uint8_t reply[10 + 124] = { 0 };

            data[len] = '\0';
            g_assert_cmpstr((char *)data, ==, "old");
            g_free(data);
            nbd_st64(reply, 3 * MiB);
            nbd_st16(reply + 8, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH);
            xwrite(fd, reply, sizeof(reply));
            break;
        }
        g_free(data);
        send_option_reply(fd, opt, NBD_REP_ERR_UNSUP, NULL, 0);
    }
}

static void test_export_name_fallback(void)
{
    FakeServer fs;
    NBDClientSocket *sock = nbd_sock_new(fake_server_start(&fs, server_export_name_only),
                                         ctx);
    NBDExportInfo info = {
        .name = (char *)"old",
        .request_sizes = true,
        .structured_reply = true,
        .base_allocation = true,
    };

    g_assert_cmpint(run_negotiate(sock, &info, &error_abort), ==, 0);
    g_assert_cmpuint(info.size, ==, 3 * MiB);
    g_assert_cmphex(info.flags, ==, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH);
    g_assert_false(info.structured_reply);
    g_assert_false(info.base_allocation);
    g_assert_cmpuint(info.min_block, ==, 0);
    nbd_export_info_clear_result(&info);
    nbd_sock_free(sock);
    fake_server_join(&fs);
}

/* Oldstyle: the export data follows the magic, no options at all */
static void server_oldstyle(int fd)
{
    uint8_t buf[16 + 12 + 124] = { 0 };

    nbd_st64(buf, NBD_INIT_MAGIC);
    nbd_st64(buf + 8, NBD_CLIENT_MAGIC);
    nbd_st64(buf + 16, 5 * MiB);
    nbd_st32(buf + 24, NBD_FLAG_HAS_FLAGS | NBD_FLAG_READ_ONLY);
    xwrite(fd, buf, sizeof(buf));
}

static void test_oldstyle(void)
{
    FakeServer fs;
    NBDClientSocket *sock = nbd_sock_new(fake_server_start(&fs, server_oldstyle), ctx);
    NBDExportInfo info = { .structured_reply = true };

    g_assert_cmpint(run_negotiate(sock, &info, &error_abort), ==, 0);
    g_assert_cmpuint(info.size, ==, 5 * MiB);
    g_assert_true(info.flags & NBD_FLAG_READ_ONLY);
    nbd_sock_free(sock);
    fake_server_join(&fs);
}

/* Hangs up in the middle of the greeting */
static void server_hang_up(int fd)
{
    uint8_t buf[8];

    nbd_st64(buf, NBD_INIT_MAGIC);
    xwrite(fd, buf, 4);
}

static void test_hang_up(void)
{
    FakeServer fs;
    NBDClientSocket *sock = nbd_sock_new(fake_server_start(&fs, server_hang_up), ctx);
    NBDExportInfo info = { 0 };
    Error *err = NULL;

    g_assert_cmpint(run_negotiate(sock, &info, &err), <, 0);
    g_assert_nonnull(strstr(error_get_pretty(err), "Unexpected end-of-file"));
    error_free(err);
    nbd_sock_free(sock);
    fake_server_join(&fs);
}

/* Not an NBD server at all */
static void server_garbage(int fd)
{
    xwrite(fd, "HTTP/1.1 400 Bad\r\n", 18);
}

static void test_bad_magic(void)
{
    FakeServer fs;
    NBDClientSocket *sock = nbd_sock_new(fake_server_start(&fs, server_garbage), ctx);
    NBDExportInfo info = { 0 };
    Error *err = NULL;

    g_assert_cmpint(run_negotiate(sock, &info, &err), <, 0);
    g_assert_cmpstr(error_get_pretty(err), ==, "Invalid magic received");
    error_free(err);
    nbd_sock_free(sock);
    fake_server_join(&fs);
}

/* ---- against nbdkit ---- */

static char *nbdkit_path;

typedef struct NbdkitServer {
    GPid pid;
    char *dir;
    char *sock_path;
} NbdkitServer;

static bool nbdkit_start(NbdkitServer *ns)
{
    g_autofree char *size = g_strdup("1M");
    char *argv[] = {
        nbdkit_path, (char *)"-f", (char *)"-U", NULL, (char *)"--exit-with-parent",
        (char *)"memory", size, NULL,
    };
    int i;

    ns->dir = g_dir_make_tmp("test-nbd-client-XXXXXX", NULL);
    ns->sock_path = g_build_filename(ns->dir, "sock", NULL);
    argv[3] = ns->sock_path;
    if (!g_spawn_async(NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD |
                       G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &ns->pid, NULL)) {
        return false;
    }
    /* The socket file appears at bind(), before listen(): try connecting */
    for (i = 0; i < 2000; i++) {
        int fd = unix_connect(ns->sock_path, NULL);
        if (fd >= 0) {
            close(fd);
            return true;
        }
        g_usleep(10 * 1000);
    }
    return false;
}

static void nbdkit_stop(NbdkitServer *ns)
{
    kill(ns->pid, SIGTERM);
    waitpid(ns->pid, NULL, 0);
    g_spawn_close_pid(ns->pid);
    unlink(ns->sock_path);
    rmdir(ns->dir);
    g_free(ns->sock_path);
    g_free(ns->dir);
}

typedef struct IoCo {
    NBDClientSocket *sock;
    NBDExportInfo info;
    bool done;
} IoCo;

/* Write a pattern, read it back through a structured reply, check status */
static void coroutine_fn nbdkit_io_entry(void *opaque)
{
    IoCo *io = opaque;
    g_autofree uint8_t *wbuf = g_malloc(4096);
    g_autofree uint8_t *rbuf = g_malloc0(4096);
    QEMUIOVector qiov;
    NBDRequest req;
    NBDReply reply;
    uint8_t hdr[8];
    uint32_t got = 0;

    memset(wbuf, 0x5a, 4096);
    qemu_iovec_init_buf(&qiov, wbuf, 4096);
    req = (NBDRequest) { .cookie = 7, .from = 65536, .len = 4096,
                         .type = NBD_CMD_WRITE };
    g_assert_cmpint(nbd_send_request(io->sock, &req, &qiov, &error_abort), ==, 0);
    g_assert_cmpint(nbd_receive_reply(io->sock, &reply, &error_abort), ==, 0);
    g_assert_cmpuint(reply.cookie, ==, 7);
    g_assert_true(reply.flags & NBD_REPLY_FLAG_DONE);
    g_assert_cmpuint(reply.error, ==, 0);

    req = (NBDRequest) { .cookie = 8, .from = 65536, .len = 4096,
                         .type = NBD_CMD_READ };
    g_assert_cmpint(nbd_send_request(io->sock, &req, NULL, &error_abort), ==, 0);
    do {
        g_assert_cmpint(nbd_receive_reply(io->sock, &reply, &error_abort), ==, 0);
        g_assert_cmpuint(reply.cookie, ==, 8);
        g_assert_true(reply.structured);
        if (reply.type == NBD_REPLY_TYPE_OFFSET_DATA) {
            uint64_t off;
            g_assert_cmpint(nbd_sock_read(io->sock, hdr, 8, &error_abort), ==, 0);
            off = nbd_ld64(hdr) - 65536;
            g_assert_cmpint(nbd_sock_read(io->sock, rbuf + off, reply.length - 8,
                                          &error_abort), ==, 0);
            got += reply.length - 8;
        } else {
            g_assert_cmpuint(reply.type, ==, NBD_REPLY_TYPE_NONE);
        }
    } while (!(reply.flags & NBD_REPLY_FLAG_DONE));
    g_assert_cmpuint(got, ==, 4096);
    g_assert_cmpmem(rbuf, 4096, wbuf, 4096);

    /* Block status of [0, 128k): a hole, then the data we wrote */
    req = (NBDRequest) { .cookie = 9, .from = 0, .len = 131072,
                         .type = NBD_CMD_BLOCK_STATUS };
    g_assert_cmpint(nbd_send_request(io->sock, &req, NULL, &error_abort), ==, 0);
    g_assert_cmpint(nbd_receive_reply(io->sock, &reply, &error_abort), ==, 0);
    g_assert_cmpuint(reply.type, ==, NBD_REPLY_TYPE_BLOCK_STATUS);
    g_assert_cmpuint(reply.length, >=, 12);
    {
        g_autofree uint8_t *p = g_malloc(reply.length);
        g_assert_cmpint(nbd_sock_read(io->sock, p, reply.length, &error_abort), ==, 0);
        g_assert_cmpuint(nbd_ld32(p), ==, io->info.context_id);
        g_assert_cmpuint(nbd_ld32(p + 4), ==, 65536);
        g_assert_true(nbd_ld32(p + 8) & NBD_STATE_HOLE);
    }
    if (!(reply.flags & NBD_REPLY_FLAG_DONE)) {
        g_assert_cmpint(nbd_receive_reply(io->sock, &reply, &error_abort), ==, 0);
        g_assert_cmpuint(reply.type, ==, NBD_REPLY_TYPE_NONE);
    }
    io->done = true;
}

static void test_nbdkit(void)
{
    NbdkitServer ns;
    IoCo io = { 0 };
    Error *err = NULL;
    SocketAddress addr = { .type = SOCKET_ADDRESS_TYPE_UNIX };

    if (!nbdkit_path) {
        g_test_skip("nbdkit is not installed");
        return;
    }
    g_assert_true(nbdkit_start(&ns));
    addr.u.q_unix.path = ns.sock_path;
    io.sock = nbd_sock_connect(&addr, ctx, &error_abort);
    io.info = (NBDExportInfo) {
        .request_sizes = true,
        .structured_reply = true,
        .base_allocation = true,
    };
    g_assert_cmpint(run_negotiate(io.sock, &io.info, &err), ==, 0);
    g_assert_null(err);
    g_assert_cmpuint(io.info.size, ==, 1 * MiB);
    g_assert_true(io.info.structured_reply);
    g_assert_true(io.info.base_allocation);
    g_assert_true(io.info.flags & NBD_FLAG_SEND_WRITE_ZEROES);
    g_assert_false(io.info.flags & NBD_FLAG_READ_ONLY);

    qemu_coroutine_enter(qemu_coroutine_create(nbdkit_io_entry, &io));
    AIO_POLL_WHILE(ctx, !io.done);

    nbd_export_info_clear_result(&io.info);
    nbd_sock_free(io.sock);
    nbdkit_stop(&ns);
}

static void test_connect_refused(void)
{
    SocketAddress addr = { .type = SOCKET_ADDRESS_TYPE_UNIX };
    Error *err = NULL;

    addr.u.q_unix.path = (char *)"/nonexistent/nbd.sock";
    g_assert_null(nbd_sock_connect(&addr, ctx, &err));
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Failed to connect to '/nonexistent/nbd.sock': "
                    "No such file or directory");
    error_free(err);
}

/* ---- connecting from a coroutine (nbd_sock_co_connect) ---- */

typedef struct ConnectCo {
    SocketAddress *addr;
    NBDConnectAttempt attempt;
    NBDClientSocket *sock;
    Error *err;
    int ret;
    bool done;
} ConnectCo;

static void coroutine_fn connect_entry(void *opaque)
{
    ConnectCo *c = opaque;

    c->ret = nbd_sock_co_connect(c->addr, ctx, &c->attempt, &c->sock, &c->err);
    c->done = true;
}

static void connect_start(ConnectCo *c, SocketAddress *addr)
{
    *c = (ConnectCo) { .addr = addr };
    qemu_coroutine_enter(qemu_coroutine_create(connect_entry, c));
}

static char *test_sock_path(const char *name)
{
    return g_strdup_printf("%s/blockd-test-nbd-client-%d-%s.sock",
                           g_get_tmp_dir(), (int)getpid(), name);
}

static void test_co_connect_unix(void)
{
    g_autofree char *path = test_sock_path("ok");
    SocketAddress addr = { .type = SOCKET_ADDRESS_TYPE_UNIX };
    int lfd = unix_listen(path, 1, &error_abort);
    ConnectCo c;
    int fd;

    addr.u.q_unix.path = path;
    connect_start(&c, &addr);
    AIO_POLL_WHILE(ctx, !c.done);
    g_assert_cmpint(c.ret, ==, 0);
    g_assert_null(c.err);
    g_assert_nonnull(c.sock);
    g_assert_true(c.attempt.sock == c.sock);
    fd = socket_accept_nonblock(lfd);
    g_assert_cmpint(fd, >=, 0);
    close(fd);
    nbd_sock_free(c.sock);
    close(lfd);
    unlink(path);
}

static void test_co_connect_refused(void)
{
    SocketAddress addr = { .type = SOCKET_ADDRESS_TYPE_UNIX };
    ConnectCo c;

    addr.u.q_unix.path = (char *)"/nonexistent/nbd.sock";
    connect_start(&c, &addr);
    AIO_POLL_WHILE(ctx, !c.done);
    g_assert_cmpint(c.ret, ==, -ECONNREFUSED);
    g_assert_null(c.sock);
    g_assert_cmpstr(error_get_pretty(c.err), ==,
                    "Failed to connect to '/nonexistent/nbd.sock': "
                    "No such file or directory");
    error_free(c.err);
}

/* A TCP listener whose accept queue is full: new connects stay pending. */
static void test_co_connect_cancel_tcp(void)
{
    SocketAddress addr = { .type = SOCKET_ADDRESS_TYPE_INET };
    int lfd = inet_listen("127.0.0.1", "0", 0, &error_abort);
    g_autofree char *port = g_strdup_printf("%d", inet_socket_port(lfd));
    int filler = inet_connect("127.0.0.1", port, &error_abort);
    ConnectCo c;

    addr.u.inet.host = (char *)"127.0.0.1";
    addr.u.inet.port = port;
    connect_start(&c, &addr);
    /* Name resolution in the thread pool, then connect() in progress */
    AIO_POLL_WHILE(ctx, !c.done && !c.attempt.sock);
    g_assert_false(c.done);
    /* Nothing completes it: the loop stays free and the attempt pending */
    g_assert_false(aio_poll(ctx, false));
    g_assert_false(c.done);

    nbd_connect_cancel(&c.attempt);
    AIO_POLL_WHILE(ctx, !c.done);
    g_assert_cmpint(c.ret, ==, -ECANCELED);
    g_assert_null(c.sock);
    g_assert_cmpstr(error_get_pretty(c.err), ==, "Connection attempt cancelled");
    error_free(c.err);
    close(filler);
    close(lfd);
}

/* A UNIX listener with a full backlog refuses with EAGAIN: retried. */
static void test_co_connect_cancel_unix_backlog(void)
{
    g_autofree char *path = test_sock_path("full");
    SocketAddress addr = { .type = SOCKET_ADDRESS_TYPE_UNIX };
    int lfd = unix_listen(path, 0, &error_abort);
    int filler = unix_connect(path, &error_abort);
    ConnectCo c;
    int i;

    addr.u.q_unix.path = path;
    connect_start(&c, &addr);
    for (i = 0; i < 5; i++) {
        aio_poll(ctx, true);    /* one backoff pause each */
        g_assert_false(c.done);
    }
    g_assert_null(c.attempt.sock);

    /* Room in the backlog: the next retry connects */
    close(socket_accept_nonblock(lfd));
    AIO_POLL_WHILE(ctx, !c.done);
    g_assert_cmpint(c.ret, ==, 0);
    nbd_sock_free(c.sock);

    /* Full again, and cancelled while pausing */
    connect_start(&c, &addr);
    aio_poll(ctx, true);
    g_assert_false(c.done);
    nbd_connect_cancel(&c.attempt);
    AIO_POLL_WHILE(ctx, !c.done);
    g_assert_cmpint(c.ret, ==, -ECANCELED);
    error_free(c.err);

    close(filler);
    close(lfd);
    unlink(path);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    qemu_init_main_loop(&error_abort);
    ctx = qemu_get_aio_context();
    nbdkit_path = g_find_program_in_path("nbdkit");

    g_test_add_func("/nbd-client/refused-export", test_refused_export);
    g_test_add_func("/nbd-client/export-name-fallback", test_export_name_fallback);
    g_test_add_func("/nbd-client/oldstyle", test_oldstyle);
    g_test_add_func("/nbd-client/hang-up", test_hang_up);
    g_test_add_func("/nbd-client/bad-magic", test_bad_magic);
    g_test_add_func("/nbd-client/connect-refused", test_connect_refused);
    g_test_add_func("/nbd-client/nbdkit", test_nbdkit);
    g_test_add_func("/nbd-client/co-connect/unix", test_co_connect_unix);
    g_test_add_func("/nbd-client/co-connect/refused", test_co_connect_refused);
    g_test_add_func("/nbd-client/co-connect/cancel-tcp",
                    test_co_connect_cancel_tcp);
    g_test_add_func("/nbd-client/co-connect/cancel-unix-backlog",
                    test_co_connect_cancel_unix_backlog);
    return g_test_run();
}
