/*
 * server-conn.c: NBDConn, a non-blocking socket for coroutines: buffered
 * exact reads (one readv() fills the caller's buffer and read-ahead
 * together), gathered writes, and yielding while the fd is not ready.
 *
 * Interest in the fd is registered lazily and kept while it is useful: a
 * reader that keeps finding no data pays for one epoll_ctl(), not two per
 * wait.  A wake-up that finds nobody waiting drops the interest, so a
 * level-triggered fd never spins.
 */
#include "qemu/osdep.h"
#include "block/nbd.h"
#include "qemu/iov.h"
#include "qemu/sockets.h"

#include <sys/socket.h>

#define NBD_CONN_RBUF_SIZE (64 * 1024)

static void nbd_conn_readable(void *opaque);
static void nbd_conn_writable(void *opaque);

static void nbd_conn_update_handler(NBDConn *conn, bool want_read, bool want_write)
{
    if (conn->fd < 0 ||
        (want_read == conn->reg_read && want_write == conn->reg_write)) {
        return;
    }
    conn->reg_read = want_read;
    conn->reg_write = want_write;
    aio_set_fd_handler(conn->ctx, conn->fd,
                       want_read ? nbd_conn_readable : NULL,
                       want_write ? nbd_conn_writable : NULL, conn);
}

static void nbd_conn_readable(void *opaque)
{
    NBDConn *conn = opaque;
    Coroutine *co = conn->read_co;

    if (!co) {
        nbd_conn_update_handler(conn, false, conn->reg_write);
        return;
    }
    conn->read_co = NULL;
    aio_co_wake(co);
}

static void nbd_conn_writable(void *opaque)
{
    NBDConn *conn = opaque;
    Coroutine *co = conn->write_co;

    if (!co) {
        nbd_conn_update_handler(conn, conn->reg_read, false);
        return;
    }
    conn->write_co = NULL;
    aio_co_wake(co);
}

static int coroutine_fn nbd_conn_wait(NBDConn *conn, bool for_write)
{
    if (conn->shutdown) {
        return -ESHUTDOWN;
    }
    if (for_write) {
        assert(!conn->write_co);
        conn->write_co = qemu_coroutine_self();
        nbd_conn_update_handler(conn, conn->reg_read, true);
    } else {
        assert(!conn->read_co);
        conn->read_co = qemu_coroutine_self();
        nbd_conn_update_handler(conn, true, conn->reg_write);
    }
    qemu_coroutine_yield();
    return conn->shutdown ? -ESHUTDOWN : 0;
}

int coroutine_fn nbd_conn_wait_writable(NBDConn *conn)
{
    return nbd_conn_wait(conn, true);
}

void nbd_conn_init(NBDConn *conn, int fd, AioContext *ctx)
{
    memset(conn, 0, sizeof(*conn));
    conn->fd = fd;
    conn->ctx = ctx ? ctx : qemu_get_aio_context();
    conn->rbuf_size = NBD_CONN_RBUF_SIZE;
    conn->rbuf = g_malloc(conn->rbuf_size);
    qemu_socket_set_nonblock(fd);
}

void nbd_conn_shutdown(NBDConn *conn)
{
    if (conn->shutdown) {
        return;
    }
    conn->shutdown = true;
    if (conn->fd >= 0) {
        /* Waiters see POLLHUP; their handler wakes them. */
        shutdown(conn->fd, SHUT_RDWR);
        if (conn->read_co) {
            nbd_conn_update_handler(conn, true, conn->reg_write);
        }
        if (conn->write_co) {
            nbd_conn_update_handler(conn, conn->reg_read, true);
        }
    }
}

void nbd_conn_close(NBDConn *conn)
{
    assert(!conn->read_co && !conn->write_co);
    if (conn->fd >= 0) {
        nbd_conn_update_handler(conn, false, false);
        close(conn->fd);
        conn->fd = -1;
    }
    g_free(conn->rbuf);
    conn->rbuf = NULL;
}

/* Copy what the read buffer holds into iov[0..niov) at *done. */
static void nbd_conn_take_buffered(NBDConn *conn, const struct iovec *iov,
                                   int niov, size_t *done)
{
    size_t avail = conn->rlen - conn->rpos;
    size_t total = iov_size(iov, niov);
    size_t n = MIN(avail, total - *done);

    if (n) {
        iov_from_buf(iov, niov, *done, conn->rbuf + conn->rpos, n);
        conn->rpos += n;
        *done += n;
    }
    if (conn->rpos == conn->rlen) {
        conn->rpos = conn->rlen = 0;
    }
}

int coroutine_fn nbd_conn_readv(NBDConn *conn, const struct iovec *iov, int niov)
{
    size_t total = iov_size(iov, niov);
    size_t done = 0;

    nbd_conn_take_buffered(conn, iov, niov, &done);
    while (done < total) {
        /* The rest of the caller's vector, then the (empty) read buffer */
        struct iovec vec[IOV_MAX > 64 ? 64 : IOV_MAX];
        size_t skip = done;
        int n = 0;
        ssize_t got;

        if (conn->shutdown) {
            return -ESHUTDOWN;
        }
        for (int i = 0; i < niov && n < (int)ARRAY_SIZE(vec) - 1; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            vec[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
            vec[n].iov_len = iov[i].iov_len - skip;
            skip = 0;
            n++;
        }
        assert(conn->rpos == 0 && conn->rlen == 0);
        vec[n].iov_base = conn->rbuf;
        vec[n].iov_len = conn->rbuf_size;
        n++;

        got = readv(conn->fd, vec, n);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int ret = nbd_conn_wait(conn, false);
                if (ret < 0) {
                    return ret;
                }
                continue;
            }
            return -errno;
        }
        if (got == 0) {
            return -EPIPE;
        }
        if ((size_t)got > total - done) {
            conn->rlen = got - (total - done);
            conn->rpos = 0;
            done = total;
        } else {
            done += got;
        }
    }
    return 0;
}

int coroutine_fn nbd_conn_read(NBDConn *conn, void *buf, size_t len)
{
    struct iovec iov = { .iov_base = buf, .iov_len = len };

    /* Fast path: all of it is buffered already */
    if (conn->rlen - conn->rpos >= len) {
        memcpy(buf, conn->rbuf + conn->rpos, len);
        conn->rpos += len;
        if (conn->rpos == conn->rlen) {
            conn->rpos = conn->rlen = 0;
        }
        return 0;
    }
    return nbd_conn_readv(conn, &iov, 1);
}

int coroutine_fn nbd_conn_drop(NBDConn *conn, size_t len)
{
    size_t chunk = MIN(len, (size_t)65536);
    g_autofree uint8_t *scratch = g_malloc(MAX(chunk, 1));

    while (len > 0) {
        size_t n = MIN(len, chunk);
        int ret = nbd_conn_read(conn, scratch, n);
        if (ret < 0) {
            return ret;
        }
        len -= n;
    }
    return 0;
}

int coroutine_fn nbd_conn_writev(NBDConn *conn, struct iovec *iov, int niov)
{
    while (niov > 0) {
        ssize_t n;

        if (conn->shutdown) {
            return -ESHUTDOWN;
        }
        n = writev(conn->fd, iov, MIN(niov, IOV_MAX));
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int ret = nbd_conn_wait(conn, true);
                if (ret < 0) {
                    return ret;
                }
                continue;
            }
            return -errno;
        }
        /* Step over what was written */
        while (niov > 0 && (size_t)n >= iov->iov_len) {
            n -= iov->iov_len;
            iov++;
            niov--;
        }
        if (niov > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + n;
            iov->iov_len -= n;
        }
    }
    return 0;
}

int coroutine_fn nbd_conn_write(NBDConn *conn, const void *buf, size_t len)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

    return nbd_conn_writev(conn, &iov, 1);
}
