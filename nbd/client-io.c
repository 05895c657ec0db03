/*
 * client-io.c: the NBD client's socket: connecting to a SocketAddress and
 * Error-reporting wrappers around NBDConn (nbd/server-conn.c), the
 * coroutine socket the server uses too.
 */
#include "qemu/osdep.h"
#include "block/nbd-client.h"
#include "qemu/sockets.h"

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
