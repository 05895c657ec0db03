/*
 * nbd-client.h: the client side of the NBD protocol (nbd/client.c,
 * nbd/client-io.c), used by the `nbd` block driver (block/nbd.c).
 *
 * NBDClientSocket is a non-blocking stream socket whose read/write helpers
 * yield the calling coroutine until the socket is ready (outside a
 * coroutine they poll(2) instead).  One coroutine may read while another
 * writes; two readers (or two writers) at once are not allowed.
 */
#ifndef BLOCK_NBD_CLIENT_H
#define BLOCK_NBD_CLIENT_H

#include "block/nbd.h"
#include "qemu/aio.h"
#include "qemu/error.h"
#include "qemu/iov.h"
#include "qapi/qapi-types.h"

/* ---- the client's socket (nbd/client-io.c) ---- */

/*
 * NBDClientSocket: an NBDConn (nbd/server-conn.c: buffered coroutine reads,
 * gathered writes) plus what the client adds: connecting to a
 * SocketAddress and Error-reporting wrappers.  All I/O functions must be
 * called from a coroutine.
 */
typedef struct NBDClientSocket {
    NBDConn conn;
} NBDClientSocket;

/* Connect to a SocketAddress (inet or unix); the socket is non-blocking. */
NBDClientSocket *nbd_sock_connect(SocketAddress *addr, AioContext *ctx,
                                  Error **errp);

/*
 * One attempt to set up a connection, which someone else (a timer, the
 * node being closed) may cancel at any point: nbd_connect_cancel() makes
 * the connect and the handshake on attempt->sock fail at once.  Name
 * resolution runs in the thread pool and is waited for (getaddrinfo()
 * cannot be interrupted).
 */
typedef struct NBDConnectAttempt {
    NBDClientSocket *sock;      /* the socket being set up, NULL if none */
    bool cancelled;
    QemuCoSleep backoff;        /* retrying a UNIX listener with a full backlog */
} NBDConnectAttempt;

/*
 * Connect to addr without blocking the event loop: yields until connected
 * (the socket is then attempt->sock as well), failed, or cancelled
 * (-ECANCELED).  -ECONNREFUSED for every failure to reach the server.
 */
int coroutine_fn nbd_sock_co_connect(SocketAddress *addr, AioContext *ctx,
                                     NBDConnectAttempt *attempt,
                                     NBDClientSocket **psock, Error **errp);
/* Cancel the attempt (any context; it may already be over). */
void nbd_connect_cancel(NBDConnectAttempt *attempt);
/* Wrap a connected fd (takes ownership; made non-blocking). */
NBDClientSocket *nbd_sock_new(int fd, AioContext *ctx);
/* Stop all I/O: waiting and future reads/writes fail with -ESHUTDOWN. */
void nbd_sock_shutdown(NBDClientSocket *sock);
/* Close and free (no coroutine may be waiting on it). */
void nbd_sock_free(NBDClientSocket *sock);

/*
 * Read/write exactly the given bytes.  Return 0 on success or -errno with
 * errp set; end-of-file gives -EPIPE ("Unexpected end-of-file before all
 * data were read").
 */
int coroutine_fn nbd_sock_read(NBDClientSocket *sock, void *buf, size_t len,
                               Error **errp);
int coroutine_fn nbd_sock_readv(NBDClientSocket *sock, const struct iovec *iov,
                                int niov, Error **errp);
int coroutine_fn nbd_sock_write(NBDClientSocket *sock, const void *buf,
                                size_t len, Error **errp);
/* iov is modified while writing */
int coroutine_fn nbd_sock_writev(NBDClientSocket *sock, struct iovec *iov,
                                 int niov, Error **errp);
/* Read and throw away len bytes. */
int coroutine_fn nbd_sock_drop(NBDClientSocket *sock, size_t len, Error **errp);

/* ---- handshake (nbd/client.c) ---- */

typedef struct NBDExportInfo {
    /* Set by the caller before nbd_receive_negotiate() */
    char *name;                 /* export name; NULL means "" */
    bool request_sizes;         /* ask for NBD_INFO_BLOCK_SIZE */
    bool structured_reply;      /* in: want it; out: negotiated */
    bool base_allocation;       /* in: want a block-status context; out: got it */
    char *x_dirty_bitmap;       /* context to use in place of base:allocation */

    /* Set by nbd_receive_negotiate() */
    uint64_t size;
    uint16_t flags;             /* NBD_FLAG_* transmission flags */
    uint32_t min_block;         /* 0 when the server sent no block sizes */
    uint32_t opt_block;
    uint32_t max_block;
    uint32_t context_id;        /* id of the block-status context */
    char *description;
} NBDExportInfo;

/*
 * Fixed newstyle handshake (falls back to newstyle NBD_OPT_EXPORT_NAME and
 * oldstyle servers): NBD_OPT_STRUCTURED_REPLY, NBD_OPT_SET_META_CONTEXT,
 * NBD_OPT_GO.  Returns 0 or -errno with errp set (errors worded as QEMU's,
 * e.g. "Requested export not available").
 */
int coroutine_fn nbd_receive_negotiate(NBDClientSocket *sock,
                                             NBDExportInfo *info,
                                             Error **errp);
/* Free the strings nbd_receive_negotiate() allocated. */
void nbd_export_info_clear_result(NBDExportInfo *info);

/* ---- transmission (nbd/client.c) ---- */

typedef struct NBDRequest {
    uint64_t cookie;
    uint64_t from;
    uint32_t len;
    uint16_t flags;             /* NBD_CMD_FLAG_* */
    uint16_t type;              /* NBD_CMD_* */
} NBDRequest;

/* A reply header: simple (16 bytes) or one structured chunk header (20). */
typedef struct NBDReply {
    bool structured;
    uint64_t cookie;
    uint32_t error;             /* simple: NBD wire error */
    uint16_t flags;             /* structured: NBD_REPLY_FLAG_* */
    uint16_t type;              /* structured: NBD_REPLY_TYPE_* */
    uint32_t length;            /* structured: payload length */
} NBDReply;

/* Send a request header and, for writes, its payload (one writev). */
int coroutine_fn nbd_send_request(NBDClientSocket *sock,
                                        const NBDRequest *req,
                                        QEMUIOVector *payload, Error **errp);
/* Read the next reply header (not the payload). */
int coroutine_fn nbd_receive_reply(NBDClientSocket *sock,
                                         NBDReply *reply, Error **errp);

/* Big-endian helpers for parsing chunk payloads */
static inline uint16_t nbd_ld16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)((b[0] << 8) | b[1]);
}

static inline uint32_t nbd_ld32(const void *p)
{
    const uint8_t *b = p;
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
           ((uint32_t)b[2] << 8) | b[3];
}

static inline uint64_t nbd_ld64(const void *p)
{
    return ((uint64_t)nbd_ld32(p) << 32) | nbd_ld32((const uint8_t *)p + 4);
}

static inline void nbd_st16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = v >> 8;
    b[1] = v;
}

static inline void nbd_st32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = v >> 24;
    b[1] = v >> 16;
    b[2] = v >> 8;
    b[3] = v;
}

static inline void nbd_st64(void *p, uint64_t v)
{
    nbd_st32(p, v >> 32);
    nbd_st32((uint8_t *)p + 4, v);
}

#endif
