/*
 * client-io.c: the NBD client's socket: connecting to a SocketAddress
 * (blocking, or from a coroutine without blocking the event loop, in a
 * cancellable NBDConnectAttempt) and Error-reporting wrappers around
 * NBDConn (nbd/server-conn.c), the coroutine socket the server uses too.
 */
#include "qemu/osdep.h"
#include "block/nbd-client.h"
#include "qemu/sockets.h"
#include "qemu/thread-pool.h"
#include "trace/trace-nbd.h"

NBDClientSocket *nbd_sock_new(int fd, AioContext *ctx)
{
    NBDClientSocket *sock = g_new0(NBDClientSocket, 1);

    nbd_conn_init(&sock->conn, fd, ctx);
    return sock;
}

NBDClientSocket *nbd_sock_connect(SocketAddress *addr, AioContext *ctx,
                                  Error **errp)
{
    int fd;

    switch (addr->type) {
    case SOCKET_ADDRESS_TYPE_INET:
        fd = inet_connect(addr->u.inet.host, addr->u.inet.port, errp);
        break;
    case SOCKET_ADDRESS_TYPE_UNIX:
        fd = unix_connect(addr->u.q_unix.path, errp);
        break;
    default:
        error_setg(errp, "Unsupported socket address type '%s'",
                   SocketAddressType_str(addr->type));
        return NULL;
    }
    if (fd < 0) {
        return NULL;
    }
    return nbd_sock_new(fd, ctx);
}

/* ---- connecting without blocking the event loop ---- */

#define NBD_CONNECT_BACKOFF_MIN_NS  (1 * SCALE_MS)
#define NBD_CONNECT_BACKOFF_MAX_NS  (100 * SCALE_MS)

void nbd_connect_cancel(NBDConnectAttempt *attempt)
{
    attempt->cancelled = true;
    if (attempt->sock) {
        /* The coroutine waiting on it sees a hang-up and -ESHUTDOWN. */
        nbd_sock_shutdown(attempt->sock);
    }
    qemu_co_sleep_wake(&attempt->backoff);
}

static int nbd_connect_cancelled(Error **errp)
{
    error_setg(errp, "Connection attempt cancelled");
    return -ECANCELED;
}

/*
 * Connect one socket address: start a non-blocking connect() and, while it
 * is in progress, wait for the socket to become writable.  A UNIX listener
 * whose backlog is full refuses at once with EAGAIN (a blocking connect()
 * would wait there): retry with a growing pause until cancelled.
 */
static int coroutine_fn nbd_co_connect_addr(const struct sockaddr *sa,
                                            socklen_t len, AioContext *ctx,
                                            NBDConnectAttempt *attempt,
                                            NBDClientSocket **psock)
{
    int64_t pause = NBD_CONNECT_BACKOFF_MIN_NS;
    NBDClientSocket *sock;
    int fd;
    int ret;

    for (;;) {
        if (attempt->cancelled) {
            return -ECANCELED;
        }
        ret = socket_connect_start(sa, len, &fd);
        if (ret != -EAGAIN || sa->sa_family != AF_UNIX) {
            break;
        }
        trace_nbd_connect_backlog_full();
        qemu_co_sleep_ns_wakeable(&attempt->backoff, pause);
        pause = MIN(pause * 2, NBD_CONNECT_BACKOFF_MAX_NS);
    }
    if (ret < 0 && ret != -EINPROGRESS) {
        return ret;
    }
    sock = nbd_sock_new(fd, ctx);
    attempt->sock = sock;
    if (ret == -EINPROGRESS) {
        trace_nbd_connect_in_progress(fd);
        ret = nbd_conn_wait_writable(&sock->conn);
        if (ret == 0) {
            ret = socket_connect_finish(fd);
        }
    }
    if (ret == 0 && attempt->cancelled) {
        ret = -ECANCELED;
    }
    if (ret < 0) {
        attempt->sock = NULL;
        nbd_sock_free(sock);
        return ret == -ESHUTDOWN ? -ECANCELED : ret;
    }
    *psock = sock;
    return 0;
}

typedef struct NBDResolve {
    const char *host;
    const char *port;
    struct addrinfo *res;
    Error *err;
} NBDResolve;

static int nbd_resolve_worker(void *opaque)
{
    NBDResolve *r = opaque;

    r->res = inet_resolve(r->host, r->port, false, &r->err);
    return r->res ? 0 : -EHOSTUNREACH;
}

static int coroutine_fn nbd_co_connect_inet(InetSocketAddress *inet,
                                            AioContext *ctx,
                                            NBDConnectAttempt *attempt,
                                            NBDClientSocket **psock,
                                            Error **errp)
{
    NBDResolve r = { .host = inet->host, .port = inet->port };
    struct addrinfo *ai;
    int ret = -ECONNREFUSED;

    /* getaddrinfo() may wait for DNS: not in the event loop's thread */
    if (thread_pool_submit_co(nbd_resolve_worker, &r) < 0) {
        error_propagate(errp, r.err);
        return -ECONNREFUSED;
    }
    for (ai = r.res; ai; ai = ai->ai_next) {
        ret = nbd_co_connect_addr(ai->ai_addr, ai->ai_addrlen, ctx, attempt,
                                  psock);
        if (ret == 0 || ret == -ECANCELED) {
            break;
        }
    }
    freeaddrinfo(r.res);
    if (ret == -ECANCELED) {
        return nbd_connect_cancelled(errp);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to connect to '%s:%s'",
                         inet->host ? inet->host : "", inet->port);
        return -ECONNREFUSED;
    }
    return 0;
}

static int coroutine_fn nbd_co_connect_unix(UnixSocketAddress *q_unix,
                                            AioContext *ctx,
                                            NBDConnectAttempt *attempt,
                                            NBDClientSocket **psock,
                                            Error **errp)
{
    struct sockaddr_un un;
    int ret;

    if (!unix_fill_addr(&un, q_unix->path, errp)) {
        return -EINVAL;
    }
    ret = nbd_co_connect_addr((struct sockaddr *)&un, sizeof(un), ctx, attempt,
                              psock);
    if (ret == -ECANCELED) {
        return nbd_connect_cancelled(errp);
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Failed to connect to '%s'", q_unix->path);
        return -ECONNREFUSED;
    }
    return 0;
}

int coroutine_fn nbd_sock_co_connect(SocketAddress *addr, AioContext *ctx,
                                     NBDConnectAttempt *attempt,
                                     NBDClientSocket **psock, Error **errp)
{
    *psock = NULL;
    if (attempt->cancelled) {
        return nbd_connect_cancelled(errp);
    }
    switch (addr->type) {
    case SOCKET_ADDRESS_TYPE_INET:
        return nbd_co_connect_inet(&addr->u.inet, ctx, attempt, psock, errp);
    case SOCKET_ADDRESS_TYPE_UNIX:
        return nbd_co_connect_unix(&addr->u.q_unix, ctx, attempt, psock, errp);
    default:
        error_setg(errp, "Unsupported socket address type '%s'",
                   SocketAddressType_str(addr->type));
        return -EINVAL;
    }
}

void nbd_sock_shutdown(NBDClientSocket *sock)
{
    nbd_conn_shutdown(&sock->conn);
}

void nbd_sock_free(NBDClientSocket *sock)
{
    if (sock) {
        nbd_conn_close(&sock->conn);
        g_free(sock);
    }
}

/* Turn an NBDConn result into errp. */
static int nbd_sock_error(int ret, bool reading, Error **errp)
{
    if (ret == -EPIPE && reading) {
        error_setg(errp, "Unexpected end-of-file before all data were read");
    } else if (ret == -ESHUTDOWN) {
        error_setg(errp, "Connection shut down");
    } else if (ret < 0) {
        error_setg_errno(errp, -ret, "Unable to %s socket",
                         reading ? "read from" : "write to");
    }
    return ret;
}

int coroutine_fn nbd_sock_read(NBDClientSocket *sock, void *buf, size_t len,
                               Error **errp)
{
    return nbd_sock_error(nbd_conn_read(&sock->conn, buf, len), true, errp);
}

int coroutine_fn nbd_sock_readv(NBDClientSocket *sock, const struct iovec *iov,
                                int niov, Error **errp)
{
    return nbd_sock_error(nbd_conn_readv(&sock->conn, iov, niov), true, errp);
}

int coroutine_fn nbd_sock_drop(NBDClientSocket *sock, size_t len, Error **errp)
{
    return nbd_sock_error(nbd_conn_drop(&sock->conn, len), true, errp);
}

int coroutine_fn nbd_sock_write(NBDClientSocket *sock, const void *buf,
                                size_t len, Error **errp)
{
    return nbd_sock_error(nbd_conn_write(&sock->conn, buf, len), false, errp);
}

int coroutine_fn nbd_sock_writev(NBDClientSocket *sock, struct iovec *iov,
                                 int niov, Error **errp)
{
    return nbd_sock_error(nbd_conn_writev(&sock->conn, iov, niov), false, errp);
}
