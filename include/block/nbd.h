/*
 * nbd.h: NBD protocol constants and wire structures, from the NBD protocol
 * specification (doc/proto.md of the NBD project).  All wire integers are
 * big-endian.
 */
#ifndef BLOCK_NBD_H
#define BLOCK_NBD_H

#include "qemu/osdep.h"
#include "qemu/aio.h"

#define NBD_DEFAULT_PORT            10809

/* Handshake magics */
#define NBD_INIT_MAGIC              UINT64_C(0x4e42444d41474943)   /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC              UINT64_C(0x49484156454F5054)   /* "IHAVEOPT" */
#define NBD_CLIENT_MAGIC            UINT64_C(0x0000420281861253)   /* oldstyle */
#define NBD_REP_MAGIC               UINT64_C(0x0003e889045565a9)

/* Request/reply magics */
#define NBD_REQUEST_MAGIC           0x25609513
#define NBD_SIMPLE_REPLY_MAGIC      0x67446698
#define NBD_STRUCTURED_REPLY_MAGIC  0x668e33ef
#define NBD_EXTENDED_REQUEST_MAGIC  0x21e41c71
#define NBD_EXTENDED_REPLY_MAGIC    0x6e8a278c

/* Handshake flags (server, 16 bit) */
#define NBD_FLAG_FIXED_NEWSTYLE     (1 << 0)
#define NBD_FLAG_NO_ZEROES          (1 << 1)
/* Client flags (32 bit) */
#define NBD_FLAG_C_FIXED_NEWSTYLE   (1 << 0)
#define NBD_FLAG_C_NO_ZEROES        (1 << 1)

/* Transmission flags (16 bit, per export) */
#define NBD_FLAG_HAS_FLAGS          (1 << 0)
#define NBD_FLAG_READ_ONLY          (1 << 1)
#define NBD_FLAG_SEND_FLUSH         (1 << 2)
#define NBD_FLAG_SEND_FUA           (1 << 3)
#define NBD_FLAG_ROTATIONAL         (1 << 4)
#define NBD_FLAG_SEND_TRIM          (1 << 5)
#define NBD_FLAG_SEND_WRITE_ZEROES  (1 << 6)
#define NBD_FLAG_SEND_DF            (1 << 7)
#define NBD_FLAG_CAN_MULTI_CONN     (1 << 8)
#define NBD_FLAG_SEND_RESIZE        (1 << 9)
#define NBD_FLAG_SEND_CACHE         (1 << 10)
#define NBD_FLAG_SEND_FAST_ZERO     (1 << 11)
#define NBD_FLAG_BLOCK_STAT_PAYLOAD (1 << 12)

/* Options */
#define NBD_OPT_EXPORT_NAME         1
#define NBD_OPT_ABORT               2
#define NBD_OPT_LIST                3
#define NBD_OPT_PEEK_EXPORT         4
#define NBD_OPT_STARTTLS            5
#define NBD_OPT_INFO                6
#define NBD_OPT_GO                  7
#define NBD_OPT_STRUCTURED_REPLY    8
#define NBD_OPT_LIST_META_CONTEXT   9
#define NBD_OPT_SET_META_CONTEXT    10
#define NBD_OPT_EXTENDED_HEADERS    11

/* Option replies */
#define NBD_REP_ACK                 1
#define NBD_REP_SERVER              2
#define NBD_REP_INFO                3
#define NBD_REP_META_CONTEXT        4
#define NBD_REP_ERR(v)              ((UINT32_C(1) << 31) | (v))
#define NBD_REP_ERR_UNSUP           NBD_REP_ERR(1)
#define NBD_REP_ERR_POLICY          NBD_REP_ERR(2)
#define NBD_REP_ERR_INVALID         NBD_REP_ERR(3)
#define NBD_REP_ERR_PLATFORM        NBD_REP_ERR(4)
#define NBD_REP_ERR_TLS_REQD        NBD_REP_ERR(5)
#define NBD_REP_ERR_UNKNOWN         NBD_REP_ERR(6)
#define NBD_REP_ERR_SHUTDOWN        NBD_REP_ERR(7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD NBD_REP_ERR(8)
#define NBD_REP_ERR_TOO_BIG         NBD_REP_ERR(9)
#define NBD_REP_ERR_EXT_HEADER_REQD NBD_REP_ERR(10)
#define NBD_REP_IS_ERR(v)           (((v) & (UINT32_C(1) << 31)) != 0)

/* NBD_REP_INFO types */
#define NBD_INFO_EXPORT             0
#define NBD_INFO_NAME               1
#define NBD_INFO_DESCRIPTION        2
#define NBD_INFO_BLOCK_SIZE         3

/* Commands */
#define NBD_CMD_READ                0
#define NBD_CMD_WRITE               1
#define NBD_CMD_DISC                2
#define NBD_CMD_FLUSH               3
#define NBD_CMD_TRIM                4
#define NBD_CMD_CACHE               5
#define NBD_CMD_WRITE_ZEROES        6
#define NBD_CMD_BLOCK_STATUS        7
#define NBD_CMD_RESIZE              8

/* Command flags (16 bit) */
#define NBD_CMD_FLAG_FUA            (1 << 0)
#define NBD_CMD_FLAG_NO_HOLE        (1 << 1)
#define NBD_CMD_FLAG_DF             (1 << 2)
#define NBD_CMD_FLAG_REQ_ONE        (1 << 3)
#define NBD_CMD_FLAG_FAST_ZERO      (1 << 4)
#define NBD_CMD_FLAG_PAYLOAD_LEN    (1 << 5)

/* Structured reply flags and types */
#define NBD_REPLY_FLAG_DONE         (1 << 0)
#define NBD_REPLY_TYPE_NONE         0
#define NBD_REPLY_TYPE_OFFSET_DATA  1
#define NBD_REPLY_TYPE_OFFSET_HOLE  2
#define NBD_REPLY_TYPE_BLOCK_STATUS 5
#define NBD_REPLY_TYPE_BLOCK_STATUS_EXT 6
#define NBD_REPLY_ERR(v)            ((1 << 15) | (v))
#define NBD_REPLY_TYPE_ERROR        NBD_REPLY_ERR(1)
#define NBD_REPLY_TYPE_ERROR_OFFSET NBD_REPLY_ERR(2)
#define NBD_REPLY_TYPE_IS_ERR(t)    (((t) & (1 << 15)) != 0)

/* Errors on the wire (values as in the spec; not necessarily the host's errno) */
#define NBD_SUCCESS     0
#define NBD_EPERM       1
#define NBD_EIO         5
#define NBD_ENOMEM      12
#define NBD_EINVAL      22
#define NBD_ENOSPC      28
#define NBD_EOVERFLOW   75
#define NBD_ENOTSUP     95
#define NBD_ESHUTDOWN   108

/* base:allocation flags */
#define NBD_STATE_HOLE              (1 << 0)
#define NBD_STATE_ZERO              (1 << 1)
/* qemu:dirty-bitmap:NAME flags */
#define NBD_STATE_DIRTY             (1 << 0)

/* Limits */
#define NBD_MAX_BUFFER_SIZE         (32 * 1024 * 1024)
#define NBD_MAX_STRING_SIZE         4096
#define NBD_MAX_OPTION_SIZE         (NBD_MAX_STRING_SIZE * 2 + 4096)
#define NBD_MAX_BLOCK_STATUS_EXTENTS 131072

#define NBD_META_BASE_ALLOCATION    "base:allocation"
#define NBD_META_QEMU_ALLOC_DEPTH   "qemu:allocation-depth"
#define NBD_META_QEMU_DIRTY_BITMAP  "qemu:dirty-bitmap:"

/* Wire layouts (packed, big-endian on the wire) */
typedef struct __attribute__((packed)) NBDRequestWire {
    uint32_t magic;
    uint16_t flags;
    uint16_t type;
    uint64_t cookie;
    uint64_t offset;
    uint32_t length;
} NBDRequestWire;                           /* 28 bytes */

typedef struct __attribute__((packed)) NBDSimpleReplyWire {
    uint32_t magic;
    uint32_t error;
    uint64_t cookie;
} NBDSimpleReplyWire;                       /* 16 bytes */

typedef struct __attribute__((packed)) NBDStructuredReplyWire {
    uint32_t magic;
    uint16_t flags;
    uint16_t type;
    uint64_t cookie;
    uint32_t length;
} NBDStructuredReplyWire;                   /* 20 bytes */

/* Host errno <-> NBD wire error */
int nbd_errno_to_wire(int err);   /* err > 0 */
int nbd_wire_to_errno(uint32_t err);
const char *nbd_cmd_lookup(uint16_t cmd);
const char *nbd_opt_lookup(uint32_t opt);
const char *nbd_rep_lookup(uint32_t rep);
const char *nbd_reply_type_lookup(uint16_t type);
const char *nbd_err_lookup(int err);
const char *nbd_info_lookup(uint16_t info);

/* Meta context ids the server hands out */
#define NBD_META_ID_BASE_ALLOCATION 0
#define NBD_META_ID_ALLOCATION_DEPTH 1
/* Requests one server connection processes at once */
#define NBD_SERVER_MAX_REQUESTS     32
/* qemu-storage-daemon's defaults */
#define NBD_DEFAULT_MAX_CONNECTIONS 100
#define NBD_DEFAULT_HANDSHAKE_MAX_SECS 10

/*
 * NBDConn: a non-blocking stream socket read and written from coroutines
 * (nbd/server-conn.c).  Reads go through a buffer so that small messages (request
 * headers, options) cost one system call for many; a read that would block
 * yields the coroutine until the fd is readable.  One reader and one writer
 * may wait at the same time.
 */
typedef struct NBDConn {
    int fd;
    AioContext *ctx;
    Coroutine *read_co;         /* waiting for POLLIN */
    Coroutine *write_co;        /* waiting for POLLOUT */
    bool reg_read;              /* interest registered with the AioContext */
    bool reg_write;
    bool shutdown;              /* nbd_conn_shutdown() ran: all I/O fails */
    uint8_t *rbuf;
    size_t rbuf_size;
    size_t rpos;                /* next unread byte in rbuf */
    size_t rlen;                /* bytes of rbuf holding data */
} NBDConn;

/* Takes ownership of fd and makes it non-blocking. */
void nbd_conn_init(NBDConn *conn, int fd, AioContext *ctx);
/* Make every waiting and future read/write fail with -ESHUTDOWN. */
void nbd_conn_shutdown(NBDConn *conn);
/* Close the fd and free the buffer; nothing may wait on conn. */
void nbd_conn_close(NBDConn *conn);
/* Exactly len bytes: 0, -EPIPE at end-of-file, -ESHUTDOWN, or -errno. */
int coroutine_fn nbd_conn_read(NBDConn *conn, void *buf, size_t len);
int coroutine_fn nbd_conn_readv(NBDConn *conn, const struct iovec *iov, int niov);
int coroutine_fn nbd_conn_drop(NBDConn *conn, size_t len);
/* Write all of iov (modified while writing): 0 or -errno. */
int coroutine_fn nbd_conn_writev(NBDConn *conn, struct iovec *iov, int niov);
int coroutine_fn nbd_conn_write(NBDConn *conn, const void *buf, size_t len);
/*
 * Yield until the fd is writable (or reports an error or hang-up), e.g. a
 * connect() in progress: 0, or -ESHUTDOWN after nbd_conn_shutdown().
 */
int coroutine_fn nbd_conn_wait_writable(NBDConn *conn);
/* Bytes already buffered (a request may be parsed without waiting). */
static inline size_t nbd_conn_buffered(NBDConn *conn)
{
    return conn->rlen - conn->rpos;
}

/* ---- the server (nbd/server.c, nbd/qmp.c) ---- */
typedef struct NBDExport NBDExport;
typedef struct NBDClient NBDClient;
typedef struct BlockExportDriver BlockExportDriver;

extern const BlockExportDriver blk_exp_nbd;

NBDExport *nbd_export_find(const char *name);
/*
 * Serve one connected socket (takes ownership of fd); the client starts
 * from a bottom half.  close_fn (may be NULL) runs once when the client
 * stops being served; negotiated says whether it reached the transmission
 * phase.  The client is freed later, when its last request is done.
 */
NBDClient *nbd_client_new(int fd, uint32_t handshake_max_secs,
                          void (*close_fn)(NBDClient *client, bool negotiated,
                                           void *opaque),
                          void *opaque);
/* Disconnect a client (its close_fn runs now). */
void nbd_client_shutdown(NBDClient *client);
/* How many clients are being served (all exports, incl. negotiating) */
unsigned nbd_client_count(void);

typedef struct NbdServerOptions NbdServerOptions;
/* --nbd-server: like nbd-server-start with the flat address form */
void nbd_server_start_options(NbdServerOptions *opts, Error **errp);
/* Remove every NBD export, disconnect every client, close the socket. */
void nbd_server_stop(void);
bool nbd_server_is_running(void);
/* max-connections of the running server (0: no limit) */
uint32_t nbd_server_max_connections(void);

#endif
