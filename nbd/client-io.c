/*
 * client-io.c: the NBD client's socket: connect to a SocketAddress and
 * read/write exact byte counts, yielding the coroutine while the
 * non-blocking socket is not ready (poll(2) when not in a coroutine).
 */
#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include "block/nbd-client.h"
#include "qemu/sockets.h"

static void nbd_sock_update_handler(NBDClientSocket *sock);

static void nbd_sock_readable(void *opaque)
{
    NBDClientSocket *sock = opaque;
    Coroutine *co = sock->read_co;

    sock->read_co = NULL;
    nbd_sock_update_handler(sock);
    if (co) {
        aio_co_wake(co);
    }
}

static void nbd_sock_writable(void *opaque)
{
    NBDClientSocket *sock = opaque;
    Coroutine *co = sock->write_co;

    sock->write_co = NULL;
    nbd_sock_update_handler(sock);
    if (co) {
        aio_co_wake(co);
    }
}

static void nbd_sock_update_handler(NBDClientSocket *sock)
{
    aio_set_fd_handler(sock->ctx, sock->fd,
                       sock->read_co ? nbd_sock_readable : NULL,
                       sock->write_co ? nbd_sock_writable : NULL,
                       sock);
}

/* Wait until the socket is readable (for_write false) or writable. */
static int coroutine_mixed_fn nbd_sock_wait(NBDClientSocket *sock,
                                            bool for_write)
{
    if (sock->shutdown) {
        return -ESHUTDOWN;
    }
    if (!qemu_in_coroutine()) {
        struct pollfd pfd = {
            .fd = sock->fd,
            .events = for_write ? POLLOUT : POLLIN,
        };
        if (RETRY_ON_EINTR(poll(&pfd, 1, -1)) < 0) {
            return -errno;
        }
        return 0;
    }
    if (for_write) {
        assert(!sock->write_co);
        sock->write_co = qemu_coroutine_self();
    } else {
        assert(!sock->read_co);
        sock->read_co = qemu_coroutine_self();
    }
    nbd_sock_update_handler(sock);
    qemu_coroutine_yield();
    return sock->shutdown ? -ESHUTDOWN : 0;
}

NBDClientSocket *nbd_sock_new(int fd, AioContext *ctx)
{
    NBDClientSocket *sock = g_new0(NBDClientSocket, 1);

    sock->fd = fd;
    sock->ctx = ctx ? ctx : qemu_get_aio_context();
    qemu_socket_set_nonblock(fd);
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
    Coroutine *rco = sock->read_co;
    Coroutine *wco = sock->write_co;

    if (sock->shutdown) {
        return;
    }
    sock->shutdown = true;
    shutdown(sock->fd, SHUT_RDWR);
    sock->read_co = NULL;
    sock->write_co = NULL;
    nbd_sock_update_handler(sock);
    if (rco) {
        aio_co_wake(rco);
    }
    if (wco) {
        aio_co_wake(wco);
    }
}

void nbd_sock_free(NBDClientSocket *sock)
{
    if (!sock) {
        return;
    }
    assert(!sock->read_co && !sock->write_co);
    aio_set_fd_handler(sock->ctx, sock->fd, NULL, NULL, NULL);
    close(sock->fd);
    g_free(sock);
}

/* Advance an iovec array (copied by the caller) past n bytes. */
static void nbd_iov_advance(struct iovec **iov, int *niov, size_t n)
{
    while (*niov > 0 && n >= (*iov)->iov_len) {
        n -= (*iov)->iov_len;
        (*iov)++;
        (*niov)--;
    }
    if (*niov > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + n;
        (*iov)->iov_len -= n;
    }
}

/* Skip empty leading elements so that a zero-length transfer ends at once. */
static void nbd_iov_skip_empty(struct iovec **iov, int *niov)
{
    while (*niov > 0 && (*iov)->iov_len == 0) {
        (*iov)++;
        (*niov)--;
    }
}

static int coroutine_mixed_fn nbd_sock_rw(NBDClientSocket *sock,
                                          const struct iovec *iov_in, int niov,
                                          bool do_write, Error **errp)
{
    struct iovec local[8];
    struct iovec *copy = niov <= (int)ARRAY_SIZE(local) ? local
                                                       : g_new(struct iovec, niov);
    struct iovec *iov = copy;
    int ret = 0;

    memcpy(copy, iov_in, niov * sizeof(*iov_in));
    nbd_iov_skip_empty(&iov, &niov);
    while (niov > 0) {
        ssize_t n;

        if (sock->shutdown) {
            ret = -ESHUTDOWN;
            break;
        }
        if (do_write) {
            struct msghdr msg = { .msg_iov = iov, .msg_iovlen = MIN(niov, IOV_MAX) };
            n = sendmsg(sock->fd, &msg, MSG_NOSIGNAL);
        } else {
            n = readv(sock->fd, iov, MIN(niov, IOV_MAX));
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ret = nbd_sock_wait(sock, do_write);
                if (ret < 0) {
                    break;
                }
                continue;
            }
            ret = -errno;
            break;
        }
        if (n == 0 && !do_write) {
            ret = -EPIPE;
            break;
        }
        nbd_iov_advance(&iov, &niov, n);
        nbd_iov_skip_empty(&iov, &niov);
    }
    if (copy != local) {
        g_free(copy);
    }
    if (ret == -EPIPE && !do_write) {
        error_setg(errp, "Unexpected end-of-file before all data were read");
    } else if (ret == -ESHUTDOWN) {
        error_setg(errp, "Connection shut down");
    } else if (ret < 0) {
        error_setg_errno(errp, -ret, "Unable to %s socket",
                         do_write ? "write to" : "read from");
    }
    return ret;
}

int coroutine_mixed_fn nbd_sock_readv(NBDClientSocket *sock,
                                      const struct iovec *iov, int niov,
                                      Error **errp)
{
    return nbd_sock_rw(sock, iov, niov, false, errp);
}

int coroutine_mixed_fn nbd_sock_writev(NBDClientSocket *sock,
                                       const struct iovec *iov, int niov,
                                       Error **errp)
{
    return nbd_sock_rw(sock, iov, niov, true, errp);
}

int coroutine_mixed_fn nbd_sock_read(NBDClientSocket *sock, void *buf,
                                     size_t len, Error **errp)
{
    struct iovec iov = { .iov_base = buf, .iov_len = len };

    return nbd_sock_rw(sock, &iov, 1, false, errp);
}

int coroutine_mixed_fn nbd_sock_write(NBDClientSocket *sock, const void *buf,
                                      size_t len, Error **errp)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

    return nbd_sock_rw(sock, &iov, 1, true, errp);
}

int coroutine_mixed_fn nbd_sock_drop(NBDClientSocket *sock, size_t len,
                                     Error **errp)
{
    size_t chunk = MIN(len, 64 * KiB);
    g_autofree char *buf = g_malloc(MAX(chunk, 1));

    while (len > 0) {
        size_t n = MIN(len, chunk);
        int ret = nbd_sock_read(sock, buf, n, errp);
        if (ret < 0) {
            return ret;
        }
        len -= n;
    }
    return 0;
}
