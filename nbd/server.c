/*
 * server.c: the NBD server: exports (the `nbd` BlockExportDriver), the
 * fixed-newstyle handshake and the transmission phase of each client.
 *
 * Every client runs one coroutine that negotiates and then reads requests;
 * each request is handed to a coroutine of its own, so up to
 * NBD_SERVER_MAX_REQUESTS requests of one client are in flight and their
 * replies go out in completion order, one writev() per reply under the
 * client's send lock.  Any protocol violation drops only that client.
 * The listening socket and the QMP commands are in nbd/qmp.c.
 */
#include "qemu/osdep.h"
#include "block/export.h"
#include "block/nbd.h"
#include "block/dirty-bitmap.h"
#include "qapi/qapi-commands.h"
#include "qemu/aio.h"
#include "trace/trace-nbd.h"

#include <sys/socket.h>

/* Option payloads we read into memory; longer ones are refused */
#define NBD_SERVER_MAX_OPTION_PAYLOAD (64 * 1024)
/* Free request buffers a client keeps for reuse */
#define NBD_BUF_CACHE_MAX 16
#define NBD_BUF_ALIGN 4096

static inline void st16(void *p, uint16_t v)
{
    uint16_t be = GUINT16_TO_BE(v);
    memcpy(p, &be, 2);
}

static inline void st32(void *p, uint32_t v)
{
    uint32_t be = GUINT32_TO_BE(v);
    memcpy(p, &be, 4);
}

static inline void st64(void *p, uint64_t v)
{
    uint64_t be = GUINT64_TO_BE(v);
    memcpy(p, &be, 8);
}

static inline uint16_t ld16(const void *p)
{
    uint16_t be;
    memcpy(&be, p, 2);
    return GUINT16_FROM_BE(be);
}

static inline uint32_t ld32(const void *p)
{
    uint32_t be;
    memcpy(&be, p, 4);
    return GUINT32_FROM_BE(be);
}

static inline uint64_t ld64(const void *p)
{
    uint64_t be;
    memcpy(&be, p, 8);
    return GUINT64_FROM_BE(be);
}

struct NBDExport {
    BlockExport common;
    char *name;
    char *description;
    uint64_t size;
    uint16_t nbdflags;          /* without NBD_FLAG_SEND_DF (per client) */
    bool allocation_depth;
    bool writethrough;
    GList *clients;             /* NBDClient * in transmission phase */
    /*
     * A range block status last reported as data.  Saying "data" where
     * there are zeroes is never wrong for a read, so sparse reads inside
     * it skip the block status call; it only has to be dropped when it
     * could hide a hole, i.e. after trim / write zeroes.
     */
    uint64_t data_start;
    uint64_t data_end;
    /* bitmaps: qemu:dirty-bitmap:NAME contexts, ids NBD_META_ID_DIRTY_BITMAP + i */
    BdrvDirtyBitmap **export_bitmaps;
    char **export_bitmap_context_names;
    size_t nr_export_bitmaps;
};

#define NBD_META_ID_DIRTY_BITMAP 2

typedef struct NBDMetaContexts {
    NBDExport *exp;             /* the export they were chosen for */
    bool base_allocation;
    bool allocation_depth;
    bool *bitmaps;              /* [nr_bitmaps] */
    size_t nr_bitmaps;          /* exp->nr_export_bitmaps when chosen */
    unsigned count;
} NBDMetaContexts;

typedef struct NBDBuf {
    void *data;
    size_t size;
} NBDBuf;

typedef struct NBDRequestData NBDRequestData;

struct NBDClient {
    int refcount;
    NBDConn conn;
    NBDExport *exp;
    bool fixed_newstyle;
    bool no_zeroes;
    bool structured_reply;
    bool negotiated;            /* reached the transmission phase */
    bool closing;
    bool disconnect_requested;  /* NBD_CMD_DISC seen */
    uint32_t check_align;       /* client promised this alignment (0: none) */
    uint32_t opt;               /* option being answered */
    NBDMetaContexts contexts;

    CoMutex send_lock;
    Coroutine *recv_co;         /* the negotiate/receive loop */
    bool recv_waiting;          /* recv_co yielded waiting for a request slot */
    unsigned nb_requests;       /* requests received and not yet answered */
    QEMUTimer *handshake_timer;
    uint32_t handshake_max_secs;

    NBDBuf buf_cache[NBD_BUF_CACHE_MAX];
    int nb_buf_cache;
    NBDRequestData *free_reqs;

    void (*close_fn)(NBDClient *client, bool negotiated, void *opaque);
    void *close_opaque;
};

typedef struct NBDRequest {
    uint64_t cookie;
    uint64_t from;
    uint32_t len;
    uint16_t flags;
    uint16_t type;
} NBDRequest;

struct NBDRequestData {
    NBDClient *client;
    NBDRequest req;
    NBDBuf buf;                 /* payload of writes, data of reads */
    int err;                    /* > 0: reply this errno without doing anything */
    char *errmsg;
    NBDRequestData *next_free;
};

static GList *nbd_exports;      /* NBDExport * */
static unsigned nbd_nb_clients;

/* ------------------------------------------------------------------ */
/* Buffers and request structures, recycled per client                 */

static bool nbd_buf_get(NBDClient *client, NBDBuf *buf, size_t len)
{
    size_t size = MAX(pow2ceil(len), (size_t)NBD_BUF_ALIGN);

    for (int i = client->nb_buf_cache - 1; i >= 0; i--) {
        if (client->buf_cache[i].size >= len && client->buf_cache[i].size <= 2 * size) {
            *buf = client->buf_cache[i];
            client->buf_cache[i] = client->buf_cache[--client->nb_buf_cache];
            return true;
        }
    }
    buf->data = qemu_try_memalign(NBD_BUF_ALIGN, size);
    buf->size = buf->data ? size : 0;
    return buf->data != NULL;
}

static void nbd_buf_put(NBDClient *client, NBDBuf *buf)
{
    if (!buf->data) {
        return;
    }
    if (client->nb_buf_cache < NBD_BUF_CACHE_MAX && !client->closing) {
        client->buf_cache[client->nb_buf_cache++] = *buf;
    } else {
        qemu_vfree(buf->data);
    }
    buf->data = NULL;
    buf->size = 0;
}

static NBDRequestData *nbd_request_get(NBDClient *client)
{
    NBDRequestData *req = client->free_reqs;

    if (req) {
        client->free_reqs = req->next_free;
        memset(req, 0, sizeof(*req));
    } else {
        req = g_new0(NBDRequestData, 1);
    }
    req->client = client;
    client->nb_requests++;
    client->refcount++;
    return req;
}

static void nbd_client_put(NBDClient *client);

static void nbd_request_put(NBDRequestData *req)
{
    NBDClient *client = req->client;

    nbd_buf_put(client, &req->buf);
    g_free(req->errmsg);
    req->next_free = client->free_reqs;
    client->free_reqs = req;
    client->nb_requests--;
    if (client->recv_waiting) {
        client->recv_waiting = false;
        aio_co_wake(client->recv_co);
    }
    nbd_client_put(client);
}

/* ------------------------------------------------------------------ */
/* Client lifetime                                                     */

unsigned nbd_client_count(void)
{
    return nbd_nb_clients;
}

static void nbd_client_free(NBDClient *client)
{
    nbd_conn_close(&client->conn);
    for (int i = 0; i < client->nb_buf_cache; i++) {
        qemu_vfree(client->buf_cache[i].data);
    }
    while (client->free_reqs) {
        NBDRequestData *req = client->free_reqs;
        client->free_reqs = req->next_free;
        g_free(req);
    }
    if (client->handshake_timer) {
        timer_free(client->handshake_timer);
    }
    g_free(client->contexts.bitmaps);
    if (client->exp) {
        client->exp->clients = g_list_remove(client->exp->clients, client);
        blk_exp_unref(&client->exp->common);
    }
    g_free(client);
}

static void nbd_client_put(NBDClient *client)
{
    assert(client->refcount > 0);
    if (--client->refcount == 0) {
        nbd_client_free(client);
    }
}

/* Stop talking to the client; it is freed when its last request is done. */
static void nbd_client_close(NBDClient *client, const char *reason)
{
    if (client->closing) {
        return;
    }
    trace_nbd_client_disconnect(reason);
    client->closing = true;
    nbd_conn_shutdown(&client->conn);
    if (client->handshake_timer) {
        timer_del(client->handshake_timer);
    }
    nbd_nb_clients--;
    if (client->close_fn) {
        client->close_fn(client, client->negotiated, client->close_opaque);
    }
}

/* ------------------------------------------------------------------ */
/* Handshake: option replies                                           */

static int coroutine_fn nbd_negotiate_send_rep_len(NBDClient *client, uint32_t type,
                                                   uint32_t len)
{
    uint8_t hdr[20];

    trace_nbd_negotiate_send_rep_len(client->opt, nbd_opt_lookup(client->opt),
                                     type, nbd_rep_lookup(type), len);
    st64(hdr, NBD_REP_MAGIC);
    st32(hdr + 8, client->opt);
    st32(hdr + 12, type);
    st32(hdr + 16, len);
    return nbd_conn_write(&client->conn, hdr, sizeof(hdr));
}

static int coroutine_fn nbd_negotiate_send_rep_data(NBDClient *client, uint32_t type,
                                                    const void *data, uint32_t len)
{
    uint8_t hdr[20];
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)data, .iov_len = len },
    };

    trace_nbd_negotiate_send_rep_len(client->opt, nbd_opt_lookup(client->opt),
                                     type, nbd_rep_lookup(type), len);
    st64(hdr, NBD_REP_MAGIC);
    st32(hdr + 8, client->opt);
    st32(hdr + 12, type);
    st32(hdr + 16, len);
    return nbd_conn_writev(&client->conn, iov, len ? 2 : 1);
}

static int coroutine_fn nbd_negotiate_send_rep(NBDClient *client, uint32_t type)
{
    return nbd_negotiate_send_rep_len(client, type, 0);
}

/* An error reply with a message for the user; the option was answered. */
static int coroutine_fn QEMU_PRINTF(3, 4)
nbd_negotiate_send_rep_err(NBDClient *client, uint32_t type, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (strlen(msg) > NBD_MAX_STRING_SIZE) {
        msg[NBD_MAX_STRING_SIZE] = '\0';
    }
    trace_nbd_negotiate_send_rep_err(msg);
    return nbd_negotiate_send_rep_data(client, type, msg, strlen(msg));
}

/* The error reply to option data that does not have the length it says */
static int coroutine_fn nbd_negotiate_send_wrong_length(NBDClient *client)
{
    return nbd_negotiate_send_rep_err(client, NBD_REP_ERR_INVALID,
                                      "request data has wrong length for option '%s'",
                                      nbd_opt_lookup(client->opt));
}

/* ------------------------------------------------------------------ */
/* Handshake: reading option payloads                                  */

/* The payload of the option being handled, read whole */
typedef struct NBDOptPayload {
    uint8_t *data;
    uint32_t len;
    uint32_t pos;
} NBDOptPayload;

static bool opt_take(NBDOptPayload *p, void *out, uint32_t n)
{
    if (p->len - p->pos < n) {
        return false;
    }
    if (out) {
        memcpy(out, p->data + p->pos, n);
    }
    p->pos += n;
    return true;
}

static bool opt_take32(NBDOptPayload *p, uint32_t *v)
{
    uint8_t b[4];

    if (!opt_take(p, b, 4)) {
        return false;
    }
    *v = ld32(b);
    return true;
}

static bool opt_take16(NBDOptPayload *p, uint16_t *v)
{
    uint8_t b[2];

    if (!opt_take(p, b, 2)) {
        return false;
    }
    *v = ld16(b);
    return true;
}

/*
 * A length-prefixed string: returns 1 with *str set (NUL-terminated), 0 if
 * it is longer than NBD_MAX_STRING_SIZE (skipped), -1 if the payload is
 * too short.
 */
static int opt_take_string(NBDOptPayload *p, char **str)
{
    uint32_t len;

    *str = NULL;
    if (!opt_take32(p, &len) || p->len - p->pos < len) {
        return -1;
    }
    if (len > NBD_MAX_STRING_SIZE) {
        p->pos += len;
        return 0;
    }
    *str = g_strndup((const char *)p->data + p->pos, len);
    p->pos += len;
    /* Embedded NUL: the name can match nothing */
    if (strlen(*str) != len) {
        g_free(*str);
        *str = NULL;
        return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Handshake: options                                                  */

NBDExport *nbd_export_find(const char *name)
{
    for (GList *l = nbd_exports; l; l = l->next) {
        NBDExport *exp = l->data;
        if (!strcmp(exp->name, name) && exp->common.user_owned) {
            return exp;
        }
    }
    return NULL;
}

static uint16_t nbd_client_export_flags(NBDClient *client, NBDExport *exp)
{
    uint16_t flags = exp->nbdflags;

    if (client->structured_reply) {
        flags |= NBD_FLAG_SEND_DF;
    }
    return flags;
}

static int coroutine_fn nbd_negotiate_handle_list(NBDClient *client, NBDOptPayload *p)
{
    int ret;

    if (p->len) {
        return nbd_negotiate_send_rep_err(client, NBD_REP_ERR_INVALID,
                                          "option '%s' must have no payload",
                                          nbd_opt_lookup(client->opt));
    }
    /* Oldest first, as QEMU lists them */
    for (GList *l = g_list_last(nbd_exports); l; l = l->prev) {
        NBDExport *exp = l->data;
        const char *desc = exp->description ? exp->description : "";
        size_t nlen = strlen(exp->name), dlen = strlen(desc);
        g_autofree uint8_t *buf = NULL;

        if (!exp->common.user_owned) {
            continue;
        }
        trace_nbd_negotiate_send_rep_list(exp->name, desc);
        buf = g_malloc(4 + nlen + dlen);
        st32(buf, nlen);
        memcpy(buf + 4, exp->name, nlen);
        memcpy(buf + 4 + nlen, desc, dlen);
        ret = nbd_negotiate_send_rep_data(client, NBD_REP_SERVER, buf, 4 + nlen + dlen);
        if (ret < 0) {
            return ret;
        }
    }
    return nbd_negotiate_send_rep(client, NBD_REP_ACK);
}

static int coroutine_fn nbd_negotiate_send_info(NBDClient *client, uint16_t info,
                                                const void *data, uint32_t len)
{
    g_autofree uint8_t *buf = g_malloc(2 + len);

    trace_nbd_negotiate_send_info(info, nbd_info_lookup(info), len);
    st16(buf, info);
    memcpy(buf + 2, data, len);
    return nbd_negotiate_send_rep_data(client, NBD_REP_INFO, buf, 2 + len);
}

/* Enter transmission with exp: the client now holds a reference on it. */
static void nbd_client_attach_export(NBDClient *client, NBDExport *exp)
{
    client->exp = exp;
    blk_exp_ref(&exp->common);
    exp->clients = g_list_prepend(exp->clients, client);
    if (client->contexts.exp != exp) {
        g_free(client->contexts.bitmaps);
        memset(&client->contexts, 0, sizeof(client->contexts));
    }
}

/* NBD_OPT_INFO and NBD_OPT_GO; returns 1 when GO succeeded. */
static int coroutine_fn nbd_negotiate_handle_info(NBDClient *client, NBDOptPayload *p)
{
    g_autofree char *name = NULL;
    uint16_t nreq, req = 0;
    bool send_name = false, send_desc = false, blocksize = false;
    NBDExport *exp;
    uint32_t sizes[3];
    uint8_t buf[12];
    int r, ret;

    r = opt_take_string(p, &name);
    if (r < 0 || !opt_take16(p, &nreq) || p->len - p->pos != (uint32_t)nreq * 2) {
        return nbd_negotiate_send_wrong_length(client);
    }
    if (r == 0) {
        return nbd_negotiate_send_rep_err(client, NBD_REP_ERR_INVALID,
                                          "Invalid name length");
    }
    trace_nbd_negotiate_handle_export_name_request(name);
    trace_nbd_negotiate_handle_info_requests(nreq);
    for (unsigned i = 0; i < nreq; i++) {
        opt_take16(p, &req);
        trace_nbd_negotiate_handle_info_request(req, nbd_info_lookup(req));
        switch (req) {
        case NBD_INFO_NAME:
            send_name = true;
            break;
        case NBD_INFO_DESCRIPTION:
            send_desc = true;
            break;
        case NBD_INFO_BLOCK_SIZE:
            blocksize = true;
            break;
        default:
            break;
        }
    }

    exp = nbd_export_find(name);
    if (!exp) {
        return nbd_negotiate_send_rep_err(client, NBD_REP_ERR_UNKNOWN,
                                          "export '%s' not present", name);
    }

    if (send_name) {
        ret = nbd_negotiate_send_info(client, NBD_INFO_NAME, exp->name, strlen(exp->name));
        if (ret < 0) {
            return ret;
        }
    }
    if (send_desc && exp->description) {
        ret = nbd_negotiate_send_info(client, NBD_INFO_DESCRIPTION, exp->description,
                                      strlen(exp->description));
        if (ret < 0) {
            return ret;
        }
    }

    /*
     * Block sizes are always sent.  The minimum is the node's alignment only
     * if the client said it will honour it (or just asks, with INFO); for
     * others the block layer does read-modify-write, so 1 is true.
     */
    if (client->opt == NBD_OPT_INFO || blocksize) {
        sizes[0] = blk_get_request_alignment(exp->common.blk);
    } else {
        sizes[0] = 1;
    }
    sizes[1] = MAX(4096, sizes[0]);
    sizes[2] = NBD_MAX_BUFFER_SIZE;
    if (blk_get_max_transfer(exp->common.blk) > 0) {
        sizes[2] = MIN(sizes[2], blk_get_max_transfer(exp->common.blk));
    }
    sizes[2] = MAX(sizes[2], sizes[1]);
    trace_nbd_negotiate_handle_info_block_size(sizes[0], sizes[1], sizes[2]);
    st32(buf, sizes[0]);
    st32(buf + 4, sizes[1]);
    st32(buf + 8, sizes[2]);
    ret = nbd_negotiate_send_info(client, NBD_INFO_BLOCK_SIZE, buf, 12);
    if (ret < 0) {
        return ret;
    }

    trace_nbd_negotiate_new_style_size_flags(exp->size, nbd_client_export_flags(client, exp));
    st64(buf, exp->size);
    st16(buf + 8, nbd_client_export_flags(client, exp));
    ret = nbd_negotiate_send_info(client, NBD_INFO_EXPORT, buf, 10);
    if (ret < 0) {
        return ret;
    }

    /* INFO without block sizes where they matter: tell the client */
    if (client->opt == NBD_OPT_INFO && !blocksize &&
        blk_get_request_alignment(exp->common.blk) > 1) {
        return nbd_negotiate_send_rep_err(client, NBD_REP_ERR_BLOCK_SIZE_REQD,
                                          "request NBD_INFO_BLOCK_SIZE to use this export");
    }

    ret = nbd_negotiate_send_rep(client, NBD_REP_ACK);
    if (ret < 0) {
        return ret;
    }
    if (client->opt == NBD_OPT_GO) {
        client->check_align = blocksize ? sizes[0] : 0;
        nbd_client_attach_export(client, exp);
        return 1;
    }
    return 0;
}

/* NBD_OPT_EXPORT_NAME: no error reply is possible, failures disconnect. */
static int coroutine_fn nbd_negotiate_handle_export_name(NBDClient *client,
                                                         NBDOptPayload *p)
{
    g_autofree char *name = NULL;
    uint8_t buf[10 + 124] = { 0 };
    NBDExport *exp;

    trace_nbd_negotiate_handle_export_name();
    if (p->len > NBD_MAX_STRING_SIZE) {
        trace_nbd_negotiate_fail("Bad length received");
        return -EINVAL;
    }
    name = g_strndup((const char *)p->data, p->len);
    trace_nbd_negotiate_handle_export_name_request(name);
    exp = nbd_export_find(name);
    if (!exp || strlen(name) != p->len) {
        trace_nbd_negotiate_fail("export not found");
        return -EINVAL;
    }
    trace_nbd_negotiate_new_style_size_flags(exp->size, nbd_client_export_flags(client, exp));
    st64(buf, exp->size);
    st16(buf + 8, nbd_client_export_flags(client, exp));
    nbd_client_attach_export(client, exp);
    return nbd_conn_write(&client->conn, buf, client->no_zeroes ? 10 : sizeof(buf));
}

/* ---- meta contexts ---- */

typedef struct NBDMetaSelection {
    bool base_allocation;
    bool allocation_depth;
    bool *bitmaps;              /* [exp->nr_export_bitmaps] */
} NBDMetaSelection;

/* qemu:dirty-bitmap:NAME (rest = NAME); an empty NAME lists them all */
static void nbd_meta_parse_bitmap(NBDClient *client, NBDExport *exp, const char *rest,
                                  NBDMetaSelection *sel)
{
    size_t skip = strlen(NBD_META_QEMU_DIRTY_BITMAP);

    if (!*rest) {
        if (client->opt == NBD_OPT_LIST_META_CONTEXT) {
            for (size_t i = 0; i < exp->nr_export_bitmaps; i++) {
                sel->bitmaps[i] = true;
            }
        }
        return;
    }
    for (size_t i = 0; i < exp->nr_export_bitmaps; i++) {
        if (!strcmp(exp->export_bitmap_context_names[i] + skip, rest)) {
            sel->bitmaps[i] = true;
            return;
        }
    }
    trace_nbd_negotiate_meta_query_skip("no dirty-bitmap match");
}

/* Parse one query into sel; unknown namespaces select nothing. */
static void nbd_meta_parse_query(NBDClient *client, NBDExport *exp, const char *query,
                                 NBDMetaSelection *sel)
{
    bool list = client->opt == NBD_OPT_LIST_META_CONTEXT;

    trace_nbd_negotiate_meta_query_parse(query);
    if (g_str_has_prefix(query, "base:")) {
        const char *rest = query + 5;
        if ((list && !*rest) || !strcmp(rest, "allocation")) {
            sel->base_allocation = true;
        } else {
            trace_nbd_negotiate_meta_query_skip("unknown base: context");
        }
        return;
    }
    if (g_str_has_prefix(query, "qemu:")) {
        const char *rest = query + 5;
        if (list && !*rest) {
            sel->allocation_depth = exp->allocation_depth;
            nbd_meta_parse_bitmap(client, exp, "", sel);
            return;
        }
        if (!strcmp(rest, "allocation-depth")) {
            if (exp->allocation_depth) {
                sel->allocation_depth = true;
            } else {
                trace_nbd_negotiate_meta_query_skip("allocation depth not exported");
            }
            return;
        }
        if (g_str_has_prefix(rest, "dirty-bitmap:")) {
            nbd_meta_parse_bitmap(client, exp, rest + strlen("dirty-bitmap:"), sel);
            return;
        }
        trace_nbd_negotiate_meta_query_skip("unknown qemu context");
        return;
    }
    trace_nbd_negotiate_meta_query_skip("unknown namespace");
}

static int coroutine_fn nbd_negotiate_send_meta_context(NBDClient *client,
                                                        const char *context, uint32_t id)
{
    size_t len = strlen(context);
    g_autofree uint8_t *buf = g_malloc(4 + len);

    /* LIST replies carry id 0 (the spec reserves the field) */
    if (client->opt == NBD_OPT_LIST_META_CONTEXT) {
        id = 0;
    }
    trace_nbd_negotiate_meta_query_reply(context, id);
    st32(buf, id);
    memcpy(buf + 4, context, len);
    return nbd_negotiate_send_rep_data(client, NBD_REP_META_CONTEXT, buf, 4 + len);
}

static int coroutine_fn nbd_negotiate_meta_queries(NBDClient *client, NBDOptPayload *p)
{
    g_autofree char *name = NULL;
    g_autofree bool *bitmaps = NULL;
    NBDMetaSelection sel = { 0 };
    unsigned nb_bitmaps = 0;
    uint32_t nb_queries;
    NBDExport *exp;
    int r, ret;

    if (!client->structured_reply) {
        return nbd_negotiate_send_rep_err(client, NBD_REP_ERR_INVALID,
                                          "request option '%s' when structured reply "
                                          "is not negotiated",
                                          nbd_opt_lookup(client->opt));
    }
    r = opt_take_string(p, &name);
    if (r < 0 || !opt_take32(p, &nb_queries)) {
        return nbd_negotiate_send_wrong_length(client);
    }
    if (r == 0) {
        return nbd_negotiate_send_rep_err(client, NBD_REP_ERR_INVALID,
                                          "Invalid name length");
    }
    exp = nbd_export_find(name);
    if (!exp) {
        return nbd_negotiate_send_rep_err(client, NBD_REP_ERR_UNKNOWN,
                                          "export '%s' not present", name);
    }
    trace_nbd_negotiate_meta_context(nbd_opt_lookup(client->opt), name, nb_queries);
    bitmaps = sel.bitmaps = g_new0(bool, exp->nr_export_bitmaps + 1);

    if (client->opt == NBD_OPT_LIST_META_CONTEXT && nb_queries == 0) {
        sel.base_allocation = true;
        sel.allocation_depth = exp->allocation_depth;
        nbd_meta_parse_bitmap(client, exp, "", &sel);
    }
    for (uint32_t i = 0; i < nb_queries; i++) {
        g_autofree char *query = NULL;

        r = opt_take_string(p, &query);
        if (r < 0) {
            return nbd_negotiate_send_wrong_length(client);
        }
        if (r == 0) {
            trace_nbd_negotiate_meta_query_skip("query too long to process");
            continue;
        }
        nbd_meta_parse_query(client, exp, query, &sel);
    }
    if (p->pos != p->len) {
        return nbd_negotiate_send_wrong_length(client);
    }

    if (sel.base_allocation) {
        ret = nbd_negotiate_send_meta_context(client, NBD_META_BASE_ALLOCATION,
                                              NBD_META_ID_BASE_ALLOCATION);
        if (ret < 0) {
            return ret;
        }
    }
    if (sel.allocation_depth) {
        ret = nbd_negotiate_send_meta_context(client, NBD_META_QEMU_ALLOC_DEPTH,
                                              NBD_META_ID_ALLOCATION_DEPTH);
        if (ret < 0) {
            return ret;
        }
    }
    for (size_t i = 0; i < exp->nr_export_bitmaps; i++) {
        if (!sel.bitmaps[i]) {
            continue;
        }
        ret = nbd_negotiate_send_meta_context(client, exp->export_bitmap_context_names[i],
                                              NBD_META_ID_DIRTY_BITMAP + i);
        if (ret < 0) {
            return ret;
        }
        nb_bitmaps++;
    }
    if (client->opt == NBD_OPT_SET_META_CONTEXT) {
        g_free(client->contexts.bitmaps);
        client->contexts.exp = exp;
        client->contexts.base_allocation = sel.base_allocation;
        client->contexts.allocation_depth = sel.allocation_depth;
        client->contexts.bitmaps = g_steal_pointer(&bitmaps);
        client->contexts.nr_bitmaps = exp->nr_export_bitmaps;
        client->contexts.count = sel.base_allocation + sel.allocation_depth + nb_bitmaps;
    }
    return nbd_negotiate_send_rep(client, NBD_REP_ACK);
}

/* Read an option's payload; > 0: it was refused (and drained) already. */
static int coroutine_fn nbd_negotiate_read_payload(NBDClient *client, uint32_t len,
                                                   NBDOptPayload *p)
{
    int ret;

    if (len > NBD_SERVER_MAX_OPTION_PAYLOAD) {
        ret = nbd_conn_drop(&client->conn, len);
        if (ret < 0) {
            return ret;
        }
        ret = nbd_negotiate_send_rep_err(client, NBD_REP_ERR_TOO_BIG,
                                         "option '%s' payload of %" PRIu32 " bytes "
                                         "is too large",
                                         nbd_opt_lookup(client->opt), len);
        return ret < 0 ? ret : 1;
    }
    p->data = g_malloc(MAX(len, 1));
    p->len = len;
    p->pos = 0;
    return nbd_conn_read(&client->conn, p->data, len);
}

/*
 * The option haggling loop.  0: transmission may begin; -errno: drop the
 * client (protocol violation, ABORT, or I/O error).
 */
static int coroutine_fn nbd_negotiate_options(NBDClient *client)
{
    uint8_t flags_buf[4];
    uint32_t flags;
    int ret;

    ret = nbd_conn_read(&client->conn, flags_buf, 4);
    if (ret < 0) {
        return ret;
    }
    flags = ld32(flags_buf);
    trace_nbd_negotiate_options_flags(flags);
    if (flags & NBD_FLAG_C_FIXED_NEWSTYLE) {
        client->fixed_newstyle = true;
        flags &= ~NBD_FLAG_C_FIXED_NEWSTYLE;
    }
    if (flags & NBD_FLAG_C_NO_ZEROES) {
        client->no_zeroes = true;
        flags &= ~NBD_FLAG_C_NO_ZEROES;
    }
    if (flags) {
        trace_nbd_negotiate_fail("Unknown client flags received");
        return -EINVAL;
    }

    for (;;) {
        uint8_t hdr[16];
        uint64_t magic;
        uint32_t option, len;
        NBDOptPayload p = { 0 };

        ret = nbd_conn_read(&client->conn, hdr, sizeof(hdr));
        if (ret < 0) {
            return ret;
        }
        magic = ld64(hdr);
        trace_nbd_negotiate_options_check_magic(magic);
        if (magic != NBD_OPTS_MAGIC) {
            trace_nbd_negotiate_fail("Bad magic received");
            return -EINVAL;
        }
        option = ld32(hdr + 8);
        len = ld32(hdr + 12);
        client->opt = option;
        trace_nbd_negotiate_options_check_option(option, nbd_opt_lookup(option));

        if (len > NBD_MAX_BUFFER_SIZE) {
            trace_nbd_negotiate_fail("option length is absurd");
            return -EINVAL;
        }
        if (!client->fixed_newstyle && option != NBD_OPT_EXPORT_NAME) {
            trace_nbd_negotiate_fail("Unsupported option in non-fixed newstyle");
            return -EINVAL;
        }

        switch (option) {
        case NBD_OPT_EXPORT_NAME:
            if (len > NBD_MAX_STRING_SIZE) {
                trace_nbd_negotiate_fail("Bad length received");
                return -EINVAL;
            }
            ret = nbd_negotiate_read_payload(client, len, &p);
            if (ret == 0) {
                ret = nbd_negotiate_handle_export_name(client, &p);
            }
            g_free(p.data);
            return ret < 0 ? ret : 0;

        case NBD_OPT_ABORT:
            /* Answer, then hang up; the payload (if any) does not matter */
            nbd_negotiate_send_rep(client, NBD_REP_ACK);
            return -ECONNABORTED;

        case NBD_OPT_STARTTLS:
            trace_nbd_negotiate_handle_starttls();
            ret = nbd_conn_drop(&client->conn, len);
            if (ret == 0) {
                ret = nbd_negotiate_send_rep_err(client, NBD_REP_ERR_POLICY,
                                                 "TLS not configured");
            }
            break;

        case NBD_OPT_LIST:
        case NBD_OPT_INFO:
        case NBD_OPT_GO:
        case NBD_OPT_STRUCTURED_REPLY:
        case NBD_OPT_LIST_META_CONTEXT:
        case NBD_OPT_SET_META_CONTEXT:
            ret = nbd_negotiate_read_payload(client, len, &p);
            if (ret != 0) {
                break;
            }
            if (option == NBD_OPT_LIST) {
                ret = nbd_negotiate_handle_list(client, &p);
            } else if (option == NBD_OPT_INFO || option == NBD_OPT_GO) {
                ret = nbd_negotiate_handle_info(client, &p);
                if (ret == 1) {
                    g_free(p.data);
                    return 0;
                }
            } else if (option == NBD_OPT_STRUCTURED_REPLY) {
                if (len) {
                    ret = nbd_negotiate_send_rep_err(client, NBD_REP_ERR_INVALID,
                                                     "option '%s' must have no payload",
                                                     nbd_opt_lookup(option));
                } else if (client->structured_reply) {
                    ret = nbd_negotiate_send_rep_err(client, NBD_REP_ERR_INVALID,
                                                     "structured reply already "
                                                     "negotiated");
                } else {
                    client->structured_reply = true;
                    ret = nbd_negotiate_send_rep(client, NBD_REP_ACK);
                }
            } else {
                ret = nbd_negotiate_meta_queries(client, &p);
            }
            break;

        default:
            ret = nbd_conn_drop(&client->conn, len);
            if (ret == 0) {
                ret = nbd_negotiate_send_rep_err(client, NBD_REP_ERR_UNSUP,
                                                 "Unsupported option %" PRIu32 " (%s)",
                                                 option, nbd_opt_lookup(option));
            }
            break;
        }
        g_free(p.data);
        if (ret < 0) {
            return ret;
        }
    }
}

static void nbd_handshake_timer_cb(void *opaque)
{
    NBDClient *client = opaque;

    trace_nbd_handshake_timer_cb();
    nbd_client_close(client, "handshake timed out");
}

static int coroutine_fn nbd_negotiate(NBDClient *client)
{
    uint8_t hello[18];
    int ret;

    trace_nbd_negotiate_begin();
    st64(hello, NBD_INIT_MAGIC);
    st64(hello + 8, NBD_OPTS_MAGIC);
    st16(hello + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    ret = nbd_conn_write(&client->conn, hello, sizeof(hello));
    if (ret < 0) {
        return ret;
    }
    ret = nbd_negotiate_options(client);
    if (ret < 0) {
        return ret;
    }
    trace_nbd_negotiate_success();
    return 0;
}

/* ------------------------------------------------------------------ */
/* Transmission: replies                                               */

static void nbd_set_reply_error(NBDRequestData *req, int err, const char *fmt, ...)
    QEMU_PRINTF(3, 4);

static void nbd_set_reply_error(NBDRequestData *req, int err, const char *fmt, ...)
{
    va_list ap;

    if (req->err) {
        return;
    }
    req->err = err;
    va_start(ap, fmt);
    req->errmsg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    trace_nbd_co_receive_request_fail(req->req.cookie, req->errmsg);
}

static int coroutine_fn nbd_co_send_iov(NBDClient *client, struct iovec *iov, int niov)
{
    int ret;

    qemu_co_mutex_lock(&client->send_lock);
    ret = nbd_conn_writev(&client->conn, iov, niov);
    qemu_co_mutex_unlock(&client->send_lock);
    return ret;
}

/* A simple reply; payload (may be NULL) follows the header in the same writev. */
static int coroutine_fn nbd_co_send_simple_reply(NBDClient *client, uint64_t cookie,
                                                 int err, void *data, size_t len)
{
    uint8_t hdr[16];
    uint32_t wire = err ? nbd_errno_to_wire(err) : 0;
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = data, .iov_len = len },
    };

    trace_nbd_co_send_simple_reply(cookie, wire, nbd_err_lookup(wire), len);
    st32(hdr, NBD_SIMPLE_REPLY_MAGIC);
    st32(hdr + 4, wire);
    st64(hdr + 8, cookie);
    return nbd_co_send_iov(client, iov, len ? 2 : 1);
}

static void nbd_structured_header(uint8_t *hdr, uint16_t flags, uint16_t type,
                                  uint64_t cookie, uint32_t len)
{
    st32(hdr, NBD_STRUCTURED_REPLY_MAGIC);
    st16(hdr + 4, flags);
    st16(hdr + 6, type);
    st64(hdr + 8, cookie);
    st32(hdr + 16, len);
}

static int coroutine_fn nbd_co_send_structured_done(NBDClient *client, uint64_t cookie)
{
    uint8_t hdr[20];
    struct iovec iov = { .iov_base = hdr, .iov_len = sizeof(hdr) };

    trace_nbd_co_send_structured_done(cookie);
    nbd_structured_header(hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, cookie, 0);
    return nbd_co_send_iov(client, &iov, 1);
}

static int coroutine_fn nbd_co_send_structured_error(NBDClient *client, uint64_t cookie,
                                                     int err, const char *msg)
{
    uint8_t hdr[20 + 6];
    uint32_t wire = nbd_errno_to_wire(err);
    size_t mlen = msg ? MIN(strlen(msg), (size_t)NBD_MAX_STRING_SIZE) : 0;
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)msg, .iov_len = mlen },
    };

    trace_nbd_co_send_structured_error(cookie, wire, nbd_err_lookup(wire), msg ? msg : "");
    nbd_structured_header(hdr, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, cookie,
                          6 + mlen);
    st32(hdr + 20, wire);
    st16(hdr + 24, mlen);
    return nbd_co_send_iov(client, iov, mlen ? 2 : 1);
}

/* Success or failure of a request without payload in the reply */
static int coroutine_fn nbd_co_send_generic_reply(NBDClient *client, uint64_t cookie,
                                                  int err, const char *msg)
{
    if (client->structured_reply && err) {
        return nbd_co_send_structured_error(client, cookie, err, msg);
    }
    return nbd_co_send_simple_reply(client, cookie, err, NULL, 0);
}

static int coroutine_fn nbd_co_send_data_chunk(NBDClient *client, uint64_t cookie,
                                               uint64_t offset, void *data, uint32_t len,
                                               bool final)
{
    uint8_t hdr[20 + 8];
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = data, .iov_len = len },
    };

    trace_nbd_co_send_structured_read(cookie, offset, data, len);
    nbd_structured_header(hdr, final ? NBD_REPLY_FLAG_DONE : 0,
                          NBD_REPLY_TYPE_OFFSET_DATA, cookie, 8 + len);
    st64(hdr + 20, offset);
    return nbd_co_send_iov(client, iov, 2);
}

static int coroutine_fn nbd_co_send_hole_chunk(NBDClient *client, uint64_t cookie,
                                               uint64_t offset, uint32_t len, bool final)
{
    uint8_t hdr[20 + 12];
    struct iovec iov = { .iov_base = hdr, .iov_len = sizeof(hdr) };

    trace_nbd_co_send_structured_read_hole(cookie, offset, len);
    nbd_structured_header(hdr, final ? NBD_REPLY_FLAG_DONE : 0,
                          NBD_REPLY_TYPE_OFFSET_HOLE, cookie, 12);
    st64(hdr + 20, offset);
    st32(hdr + 28, len);
    return nbd_co_send_iov(client, &iov, 1);
}

/* ------------------------------------------------------------------ */
/* Transmission: receiving requests                                    */

/* Which command flags a request type may carry for this client */
static uint16_t nbd_valid_flags(NBDClient *client, uint16_t type)
{
    uint16_t valid = NBD_CMD_FLAG_FUA;

    switch (type) {
    case NBD_CMD_READ:
        if (client->structured_reply) {
            valid |= NBD_CMD_FLAG_DF;
        }
        break;
    case NBD_CMD_WRITE_ZEROES:
        valid |= NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
        break;
    case NBD_CMD_BLOCK_STATUS:
        valid |= NBD_CMD_FLAG_REQ_ONE;
        break;
    default:
        break;
    }
    return valid;
}

/* Checks that do not need the payload; failures are replied, not fatal. */
static void nbd_check_request(NBDClient *client, NBDRequestData *req)
{
    NBDRequest *r = &req->req;
    NBDExport *exp = client->exp;
    uint16_t valid;

    switch (r->type) {
    case NBD_CMD_READ:
    case NBD_CMD_WRITE:
    case NBD_CMD_FLUSH:
    case NBD_CMD_TRIM:
    case NBD_CMD_CACHE:
    case NBD_CMD_WRITE_ZEROES:
    case NBD_CMD_BLOCK_STATUS:
        break;
    default:
        nbd_set_reply_error(req, EINVAL, "invalid request type (%" PRIu16 ") received",
                            r->type);
        return;
    }

    valid = nbd_valid_flags(client, r->type);
    if (r->flags & ~valid) {
        nbd_set_reply_error(req, EINVAL, "unsupported flags for command %s (got 0x%x)",
                            nbd_cmd_lookup(r->type), r->flags);
        return;
    }
    if (r->type == NBD_CMD_READ && r->len > NBD_MAX_BUFFER_SIZE) {
        nbd_set_reply_error(req, EINVAL, "len (%" PRIu32 ") is larger than max len (%u)",
                            r->len, NBD_MAX_BUFFER_SIZE);
        return;
    }
    if ((r->type == NBD_CMD_WRITE || r->type == NBD_CMD_WRITE_ZEROES ||
         r->type == NBD_CMD_TRIM) && (exp->nbdflags & NBD_FLAG_READ_ONLY)) {
        nbd_set_reply_error(req, EPERM, "Export is read-only");
        return;
    }
    if (r->type == NBD_CMD_FLUSH) {
        return;
    }
    if (r->from > exp->size || r->len > exp->size - r->from) {
        nbd_set_reply_error(req, (r->type == NBD_CMD_WRITE ||
                                  r->type == NBD_CMD_WRITE_ZEROES) ? ENOSPC : EINVAL,
                            "operation past EOF; From: %" PRIu64 ", Len: %" PRIu32
                            ", Size: %" PRIu64, r->from, r->len, exp->size);
        return;
    }
    if (client->check_align &&
        !QEMU_IS_ALIGNED(r->from | r->len, client->check_align)) {
        /* The block layer copes; only note the client's non-compliance */
        trace_nbd_co_receive_align_compliance(nbd_cmd_lookup(r->type), r->from, r->len,
                                              client->check_align);
    }
    if (r->type == NBD_CMD_BLOCK_STATUS &&
        (!client->contexts.count || client->contexts.exp != exp)) {
        nbd_set_reply_error(req, EINVAL, "CMD_BLOCK_STATUS not negotiated");
        return;
    }
}

/*
 * Read one request (and a write's payload).  0: req is ready (req->err may
 * be set for a reply-only error); 1: NBD_CMD_DISC; -errno: drop the client.
 */
static int coroutine_fn nbd_co_receive_request(NBDClient *client, NBDRequestData *req)
{
    uint8_t hdr[28];
    NBDRequest *r = &req->req;
    uint32_t magic;
    int ret;

    ret = nbd_conn_read(&client->conn, hdr, sizeof(hdr));
    if (ret < 0) {
        return ret;
    }
    magic = ld32(hdr);
    r->flags = ld16(hdr + 4);
    r->type = ld16(hdr + 6);
    r->cookie = ld64(hdr + 8);
    r->from = ld64(hdr + 16);
    r->len = ld32(hdr + 24);
    trace_nbd_receive_request(magic, r->flags, r->type, r->from, r->len);
    if (magic != NBD_REQUEST_MAGIC) {
        trace_nbd_co_receive_request_fail(r->cookie, "invalid magic");
        return -EINVAL;
    }
    trace_nbd_co_receive_request_decode_type(r->cookie, r->type, nbd_cmd_lookup(r->type));
    if (r->type == NBD_CMD_DISC) {
        return 1;
    }

    if (r->type == NBD_CMD_WRITE) {
        if (r->len > NBD_MAX_BUFFER_SIZE) {
            /* We cannot hold the payload, and cannot skip it cheaply: hang up */
            trace_nbd_co_receive_request_fail(r->cookie, "write payload too large");
            return -EINVAL;
        }
        nbd_check_request(client, req);
        if (req->err) {
            ret = nbd_conn_drop(&client->conn, r->len);
            return ret < 0 ? ret : 0;
        }
        if (!nbd_buf_get(client, &req->buf, r->len)) {
            nbd_set_reply_error(req, ENOMEM, "No memory");
            ret = nbd_conn_drop(&client->conn, r->len);
            return ret < 0 ? ret : 0;
        }
        ret = nbd_conn_read(&client->conn, req->buf.data, r->len);
        if (ret < 0) {
            return ret;
        }
        trace_nbd_co_receive_request_payload_received(r->cookie, r->len);
        return 0;
    }

    nbd_check_request(client, req);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Transmission: executing requests                                    */

static void nbd_export_forget_data_cache(NBDExport *exp)
{
    exp->data_start = exp->data_end = 0;
}

/* Structured read: data chunks for data, hole chunks for zero ranges. */
static int coroutine_fn nbd_co_sparse_read(NBDClient *client, NBDRequestData *req)
{
    NBDExport *exp = client->exp;
    NBDRequest *r = &req->req;
    uint64_t offset = r->from, end = r->from + r->len;
    int ret;

    while (offset < end) {
        int64_t pnum = end - offset;
        bool zero = false;
        bool final;

        if (!(offset >= exp->data_start && end <= exp->data_end)) {
            ret = blk_co_block_status_above(exp->common.blk, NULL, offset, end - offset,
                                            &pnum, NULL, NULL);
            if (ret < 0 || pnum <= 0) {
                /* Unknown status: just read it */
                pnum = end - offset;
            } else if (ret & BDRV_BLOCK_ZERO) {
                zero = true;
            } else if (ret & BDRV_BLOCK_DATA) {
                exp->data_start = offset;
                exp->data_end = offset + pnum;
            }
            pnum = MIN((uint64_t)pnum, end - offset);
        }
        final = offset + pnum == end;
        if (zero) {
            ret = nbd_co_send_hole_chunk(client, r->cookie, offset, pnum, final);
            if (ret < 0) {
                return ret;
            }
        } else {
            void *data = (uint8_t *)req->buf.data + (offset - r->from);
            ret = blk_co_pread(exp->common.blk, offset, pnum, data, 0);
            if (ret < 0) {
                return nbd_co_send_structured_error(client, r->cookie, -ret,
                                                    "reading from file failed");
            }
            ret = nbd_co_send_data_chunk(client, r->cookie, offset, data, pnum, final);
            if (ret < 0) {
                return ret;
            }
        }
        offset += pnum;
    }
    return 0;
}

static int coroutine_fn nbd_co_handle_read(NBDClient *client, NBDRequestData *req)
{
    NBDExport *exp = client->exp;
    NBDRequest *r = &req->req;
    int ret;

    if (r->len == 0) {
        if (client->structured_reply) {
            return nbd_co_send_structured_done(client, r->cookie);
        }
        return nbd_co_send_simple_reply(client, r->cookie, 0, NULL, 0);
    }
    if (!nbd_buf_get(client, &req->buf, r->len)) {
        if (client->structured_reply) {
            return nbd_co_send_structured_error(client, r->cookie, ENOMEM, "No memory");
        }
        return nbd_co_send_simple_reply(client, r->cookie, ENOMEM, NULL, 0);
    }
    if (client->structured_reply && !(r->flags & NBD_CMD_FLAG_DF)) {
        return nbd_co_sparse_read(client, req);
    }

    ret = blk_co_pread(exp->common.blk, r->from, r->len, req->buf.data, 0);
    if (ret < 0) {
        if (client->structured_reply) {
            return nbd_co_send_structured_error(client, r->cookie, -ret,
                                                "reading from file failed");
        }
        return nbd_co_send_simple_reply(client, r->cookie, -ret, NULL, 0);
    }
    if (client->structured_reply) {
        return nbd_co_send_data_chunk(client, r->cookie, r->from, req->buf.data, r->len,
                                      true);
    }
    return nbd_co_send_simple_reply(client, r->cookie, 0, req->buf.data, r->len);
}

/* ---- block status ---- */

typedef struct NBDExtents {
    uint8_t *buf;               /* context id, then (length, flags) pairs, big-endian */
    unsigned count;
    unsigned max;
    uint32_t last_flags;
    uint64_t total;
} NBDExtents;

static void nbd_extents_init(NBDExtents *ea, uint32_t id, unsigned max)
{
    ea->max = max;
    ea->count = 0;
    ea->total = 0;
    ea->buf = g_malloc(4 + 8 * MIN(max, 64u));
    st32(ea->buf, id);
}

/* false when the array is full */
static bool nbd_extents_add(NBDExtents *ea, uint64_t length, uint32_t flags)
{
    if (ea->count && flags == ea->last_flags) {
        uint8_t *last = ea->buf + 4 + 8 * (ea->count - 1);
        uint64_t merged = (uint64_t)ld32(last) + length;
        if (merged <= UINT32_MAX) {
            st32(last, merged);
            ea->total += length;
            return true;
        }
    }
    if (ea->count == ea->max) {
        return false;
    }
    if (ea->count >= 64 && is_power_of_2(ea->count)) {
        ea->buf = g_realloc(ea->buf, 4 + 8 * (size_t)MIN(ea->max, 2 * ea->count));
    }
    st32(ea->buf + 4 + 8 * ea->count, length);
    st32(ea->buf + 8 + 8 * ea->count, flags);
    ea->count++;
    ea->last_flags = flags;
    ea->total += length;
    return true;
}

static int coroutine_fn nbd_blockstatus_to_extents(NBDExport *exp, uint64_t offset,
                                                   uint64_t bytes, NBDExtents *ea)
{
    while (bytes) {
        int64_t pnum;
        uint32_t flags;
        int ret = blk_co_block_status_above(exp->common.blk, NULL, offset, bytes, &pnum,
                                            NULL, NULL);
        if (ret < 0) {
            return ret;
        }
        if (pnum <= 0) {
            break;
        }
        pnum = MIN((uint64_t)pnum, bytes);
        flags = (ret & BDRV_BLOCK_DATA ? 0 : NBD_STATE_HOLE) |
                (ret & BDRV_BLOCK_ZERO ? NBD_STATE_ZERO : 0);
        if (!nbd_extents_add(ea, pnum, flags)) {
            break;
        }
        offset += pnum;
        bytes -= pnum;
    }
    return 0;
}

static int coroutine_fn nbd_allocdepth_to_extents(NBDExport *exp, uint64_t offset,
                                                  uint64_t bytes, NBDExtents *ea)
{
    BlockDriverState *bs = blk_bs(exp->common.blk);

    while (bytes) {
        int64_t pnum;
        int depth = 0;
        int ret = bdrv_co_block_status_above(bs, NULL, false, offset, bytes, &pnum,
                                             NULL, NULL, &depth);
        if (ret < 0) {
            return ret;
        }
        if (pnum <= 0) {
            break;
        }
        pnum = MIN((uint64_t)pnum, bytes);
        if (!nbd_extents_add(ea, pnum, (ret & BDRV_BLOCK_ALLOCATED) ? depth : 0)) {
            break;
        }
        offset += pnum;
        bytes -= pnum;
    }
    return 0;
}

/* Clean and dirty extents of [offset, offset + bytes) of a bitmap, as QEMU */
static void nbd_bitmap_to_extents(BdrvDirtyBitmap *bitmap, uint64_t offset,
                                  uint64_t bytes, NBDExtents *ea)
{
    int64_t start, dirty_start, dirty_count;
    int64_t end = offset + bytes;

    for (start = offset;
         bdrv_dirty_bitmap_next_dirty_area(bitmap, start, end, INT32_MAX,
                                           &dirty_start, &dirty_count);
         start = dirty_start + dirty_count) {
        if ((dirty_start > start && !nbd_extents_add(ea, dirty_start - start, 0)) ||
            !nbd_extents_add(ea, dirty_count, NBD_STATE_DIRTY)) {
            return;
        }
    }
    if (end > start) {
        nbd_extents_add(ea, end - start, 0);
    }
}

static int coroutine_fn nbd_co_send_extents(NBDClient *client, uint64_t cookie,
                                            NBDExtents *ea, bool last)
{
    uint8_t hdr[20];
    uint32_t len = 4 + 8 * ea->count;
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = ea->buf, .iov_len = len },
    };

    trace_nbd_co_send_extents(cookie, ea->count, ld32(ea->buf), ea->total, last);
    nbd_structured_header(hdr, last ? NBD_REPLY_FLAG_DONE : 0,
                          NBD_REPLY_TYPE_BLOCK_STATUS, cookie, len);
    return nbd_co_send_iov(client, iov, 2);
}

/* Whether the client selected metadata context id (NBD_META_ID_*) */
static bool nbd_context_selected(NBDClient *client, uint32_t id)
{
    switch (id) {
    case NBD_META_ID_BASE_ALLOCATION:
        return client->contexts.base_allocation;
    case NBD_META_ID_ALLOCATION_DEPTH:
        return client->contexts.allocation_depth;
    default:
        return client->contexts.bitmaps[id - NBD_META_ID_DIRTY_BITMAP];
    }
}

/*
 * The extents of the request's range in metadata context id; on failure
 * *what is the text of the error reply.
 */
static int coroutine_fn nbd_context_to_extents(NBDExport *exp, NBDRequest *r,
                                               uint32_t id, NBDExtents *ea,
                                               const char **what)
{
    switch (id) {
    case NBD_META_ID_BASE_ALLOCATION:
        *what = "can't get block status";
        return nbd_blockstatus_to_extents(exp, r->from, r->len, ea);
    case NBD_META_ID_ALLOCATION_DEPTH:
        *what = "can't get allocation depth";
        return nbd_allocdepth_to_extents(exp, r->from, r->len, ea);
    default:
        nbd_bitmap_to_extents(exp->export_bitmaps[id - NBD_META_ID_DIRTY_BITMAP],
                              r->from, r->len, ea);
        return 0;
    }
}

/* One reply chunk per selected context, in context id order */
static int coroutine_fn nbd_co_handle_block_status(NBDClient *client, NBDRequestData *req)
{
    NBDExport *exp = client->exp;
    NBDRequest *r = &req->req;
    unsigned max = (r->flags & NBD_CMD_FLAG_REQ_ONE) ? 1 : NBD_MAX_BLOCK_STATUS_EXTENTS;
    unsigned remaining = client->contexts.count;
    uint32_t id, end = NBD_META_ID_DIRTY_BITMAP +
                       MIN(exp->nr_export_bitmaps, client->contexts.nr_bitmaps);
    int ret;

    if (r->len == 0) {
        return nbd_co_send_structured_error(client, r->cookie, EINVAL,
                                            "need non-zero length");
    }
    for (id = 0; id < end; id++) {
        NBDExtents ea;
        const char *what = NULL;

        if (!nbd_context_selected(client, id)) {
            continue;
        }
        nbd_extents_init(&ea, id, max);
        ret = nbd_context_to_extents(exp, r, id, &ea, &what);
        if (ret < 0) {
            g_free(ea.buf);
            return nbd_co_send_structured_error(client, r->cookie, -ret, what);
        }
        ret = nbd_co_send_extents(client, r->cookie, &ea, --remaining == 0);
        g_free(ea.buf);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

/* Everything but read and block status: run it, then a generic reply. */
static int coroutine_fn nbd_co_handle_simple(NBDClient *client, NBDRequestData *req)
{
    NBDExport *exp = client->exp;
    BlockBackend *blk = exp->common.blk;
    NBDRequest *r = &req->req;
    BdrvRequestFlags flags = 0;
    const char *what = NULL;
    int ret = 0;

    if ((r->flags & NBD_CMD_FLAG_FUA) || exp->writethrough) {
        flags |= BDRV_REQ_FUA;
    }
    switch (r->type) {
    case NBD_CMD_WRITE:
        ret = blk_co_pwrite(blk, r->from, r->len, req->buf.data, flags);
        what = "writing to file failed";
        break;
    case NBD_CMD_WRITE_ZEROES:
        if (!(r->flags & NBD_CMD_FLAG_NO_HOLE)) {
            flags |= BDRV_REQ_MAY_UNMAP;
            nbd_export_forget_data_cache(exp);
        }
        if (r->flags & NBD_CMD_FLAG_FAST_ZERO) {
            flags |= BDRV_REQ_NO_FALLBACK;
        }
        ret = 0;
        if (r->len) {
            ret = blk_co_pwrite_zeroes(blk, r->from, r->len, flags);
        }
        what = "writing to file failed";
        break;
    case NBD_CMD_TRIM:
        nbd_export_forget_data_cache(exp);
        ret = r->len ? blk_co_pdiscard(blk, r->from, r->len) : 0;
        if (ret >= 0 && (flags & BDRV_REQ_FUA)) {
            ret = blk_co_flush(blk);
        }
        what = "discard failed";
        break;
    case NBD_CMD_FLUSH:
        ret = blk_co_flush(blk);
        what = "flush failed";
        break;
    case NBD_CMD_CACHE:
        /*
         * Advisory only.  Without copy-on-read there is nothing to populate:
         * the data is in the node already.
         */
        ret = 0;
        break;
    default:
        g_assert_not_reached();
    }
    return nbd_co_send_generic_reply(client, r->cookie, ret < 0 ? -ret : 0, what);
}

static void coroutine_fn nbd_co_handle_request(void *opaque)
{
    NBDRequestData *req = opaque;
    NBDClient *client = req->client;
    int ret;

    if (client->closing) {
        goto out;
    }
    if (req->err) {
        if (req->req.type == NBD_CMD_READ && client->structured_reply) {
            ret = nbd_co_send_structured_error(client, req->req.cookie, req->err,
                                               req->errmsg);
        } else {
            ret = nbd_co_send_generic_reply(client, req->req.cookie, req->err,
                                            req->errmsg);
        }
    } else {
        switch (req->req.type) {
        case NBD_CMD_READ:
            ret = nbd_co_handle_read(client, req);
            break;
        case NBD_CMD_BLOCK_STATUS:
            ret = nbd_co_handle_block_status(client, req);
            break;
        default:
            ret = nbd_co_handle_simple(client, req);
            break;
        }
    }
    if (ret < 0) {
        nbd_client_close(client, "failed to send reply");
    }
out:
    nbd_request_put(req);
}

/* ------------------------------------------------------------------ */
/* The client's coroutine                                              */

static void coroutine_fn nbd_co_client_run(void *opaque)
{
    NBDClient *client = opaque;
    const char *reason = "client disconnected";
    int ret;

    if (client->handshake_max_secs) {
        timer_mod(client->handshake_timer,
                  qemu_clock_get_ns() + client->handshake_max_secs * NANOSECONDS_PER_SECOND);
    }
    ret = nbd_negotiate(client);
    if (client->handshake_timer) {
        timer_del(client->handshake_timer);
    }
    if (ret < 0 || client->closing) {
        nbd_client_close(client, ret == -ECONNABORTED ? "client aborted negotiation" :
                                 "negotiation failed");
        nbd_client_put(client);
        return;
    }
    client->negotiated = true;

    while (!client->closing) {
        NBDRequestData *req;
        Coroutine *co;

        while (client->nb_requests >= NBD_SERVER_MAX_REQUESTS && !client->closing) {
            client->recv_waiting = true;
            qemu_coroutine_yield();
        }
        if (client->closing) {
            break;
        }
        trace_nbd_trip();
        req = nbd_request_get(client);
        ret = nbd_co_receive_request(client, req);
        if (ret != 0 || client->closing) {
            nbd_request_put(req);
            if (ret == 1) {
                client->disconnect_requested = true;
                reason = "client sent NBD_CMD_DISC";
            } else if (ret == -EINVAL) {
                reason = "protocol violation";
            }
            break;
        }
        co = qemu_coroutine_create(nbd_co_handle_request, req);
        qemu_coroutine_enter(co);
    }

    /* Let requests in flight finish and reply (soft disconnect) */
    while (client->nb_requests > 0 && !client->closing) {
        client->recv_waiting = true;
        qemu_coroutine_yield();
    }
    client->recv_waiting = false;
    nbd_client_close(client, reason);
    nbd_client_put(client);
}

NBDClient *nbd_client_new(int fd, uint32_t handshake_max_secs,
                          void (*close_fn)(NBDClient *client, bool negotiated,
                                           void *opaque),
                          void *opaque)
{
    NBDClient *client = g_new0(NBDClient, 1);
    AioContext *ctx = qemu_get_aio_context();

    client->refcount = 1;
    nbd_conn_init(&client->conn, fd, ctx);
    qemu_co_mutex_init(&client->send_lock);
    client->close_fn = close_fn;
    client->close_opaque = opaque;
    client->handshake_max_secs = handshake_max_secs;
    if (handshake_max_secs) {
        client->handshake_timer = aio_timer_new(ctx, nbd_handshake_timer_cb, client);
    }
    nbd_nb_clients++;
    client->recv_co = qemu_coroutine_create(nbd_co_client_run, client);
    aio_co_schedule(ctx, client->recv_co);
    return client;
}

void nbd_client_shutdown(NBDClient *client)
{
    nbd_client_close(client, "server stopped");
}

/* ------------------------------------------------------------------ */
/* The `nbd` export driver                                             */

/*
 * The bitmaps given to block-export-add (by name down the exported node's
 * chain, or by node and name), as QEMU checks them; marked busy while
 * exported.
 */
static int nbd_export_find_bitmaps(NBDExport *exp, BlockBackend *blk,
                                   BlockDirtyBitmapOrStrList *list, bool readonly,
                                   Error **errp)
{
    size_t n = 0;

    for (BlockDirtyBitmapOrStrList *l = list; l; l = l->next) {
        n++;
    }
    exp->export_bitmaps = g_new0(BdrvDirtyBitmap *, n);
    exp->export_bitmap_context_names = g_new0(char *, n + 1);
    for (BlockDirtyBitmapOrStrList *l = list; l; l = l->next) {
        BlockDirtyBitmapOrStr *b = l->value;
        BdrvDirtyBitmap *bm = NULL;
        const char *bm_name;

        if (b->type == QTYPE_QSTRING) {
            BlockDriverState *bs = blk_bs(blk);

            bm_name = b->u.local;
            for (; bs && !bm; bs = bdrv_filter_or_cow_bs(bs)) {
                bm = bdrv_find_dirty_bitmap(bs, bm_name);
                if (bm) {
                    break;
                }
            }
            if (!bm) {
                error_setg(errp, "Bitmap '%s' is not found", bm_name);
                goto fail;
            }
            if (readonly && bdrv_is_writable(bs) && bdrv_dirty_bitmap_enabled(bm)) {
                error_setg(errp, "Enabled bitmap '%s' incompatible with readonly export",
                           bm_name);
                goto fail;
            }
        } else {
            bm_name = b->u.external->name;
            bm = block_dirty_bitmap_lookup(b->u.external->node, bm_name, NULL, errp);
            if (!bm) {
                goto fail;
            }
        }
        if (bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO, errp)) {
            goto fail;
        }
        exp->export_bitmaps[exp->nr_export_bitmaps] = bm;
        exp->export_bitmap_context_names[exp->nr_export_bitmaps++] =
            g_strdup_printf(NBD_META_QEMU_DIRTY_BITMAP "%s", bm_name);
    }
    /* Only once all are found: nothing to undo on failure */
    for (size_t i = 0; i < exp->nr_export_bitmaps; i++) {
        bdrv_dirty_bitmap_set_busy(exp->export_bitmaps[i], true);
    }
    return 0;

fail:
    g_strfreev(exp->export_bitmap_context_names);
    exp->export_bitmap_context_names = NULL;
    g_free(exp->export_bitmaps);
    exp->export_bitmaps = NULL;
    exp->nr_export_bitmaps = 0;
    return -ENOENT;
}

static int nbd_export_create(BlockExport *blk_exp, BlockExportOptions *opts, Error **errp)
{
    NBDExport *exp = container_of(blk_exp, NBDExport, common);
    BlockExportOptionsNbd *arg = &opts->u.nbd;
    const char *name = arg->name ? arg->name : opts->node_name;
    bool readonly = !(opts->has_writable && opts->writable);
    int64_t size;
    int ret;

    if (!nbd_server_is_running()) {
        error_setg(errp, "NBD server not running");
        return -EINVAL;
    }
    if (strlen(name) > NBD_MAX_STRING_SIZE) {
        error_setg(errp, "export name '%s' too long", name);
        return -EINVAL;
    }
    if (arg->description && strlen(arg->description) > NBD_MAX_STRING_SIZE) {
        error_setg(errp, "description '%s' too long", arg->description);
        return -EINVAL;
    }
    if (nbd_export_find(name)) {
        error_setg(errp, "NBD server already has export named '%s'", name);
        return -EEXIST;
    }
    size = blk_getlength(blk_exp->blk);
    if (size < 0) {
        error_setg_errno(errp, -size, "Failed to determine the NBD export's length");
        return size;
    }
    ret = nbd_export_find_bitmaps(exp, blk_exp->blk, arg->bitmaps, readonly, errp);
    if (ret < 0) {
        return ret;
    }

    exp->name = g_strdup(name);
    exp->description = g_strdup(arg->description);
    exp->size = size;
    exp->allocation_depth = arg->has_allocation_depth && arg->allocation_depth;
    exp->writethrough = opts->has_writethrough && opts->writethrough;
    exp->nbdflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
                    NBD_FLAG_SEND_CACHE;
    if (readonly) {
        exp->nbdflags |= NBD_FLAG_READ_ONLY;
    } else {
        exp->nbdflags |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES |
                         NBD_FLAG_SEND_FAST_ZERO;
    }
    /*
     * Every connection goes through the same BlockBackend, so a flush or FUA
     * on one is visible on all: multi-conn is safe whenever several clients
     * may connect (QEMU 7.1's rule).
     */
    if (nbd_server_max_connections() != 1) {
        exp->nbdflags |= NBD_FLAG_CAN_MULTI_CONN;
    }
    nbd_exports = g_list_prepend(nbd_exports, exp);
    return 0;
}

static void nbd_export_request_shutdown(BlockExport *blk_exp)
{
    NBDExport *exp = container_of(blk_exp, NBDExport, common);
    GList *copy = g_list_copy(exp->clients);

    for (GList *l = copy; l; l = l->next) {
        nbd_client_close(l->data, "export removed");
    }
    g_list_free(copy);
}

static void nbd_export_delete(BlockExport *blk_exp)
{
    NBDExport *exp = container_of(blk_exp, NBDExport, common);

    assert(!exp->clients);
    for (size_t i = 0; i < exp->nr_export_bitmaps; i++) {
        bdrv_dirty_bitmap_set_busy(exp->export_bitmaps[i], false);
    }
    g_free(exp->export_bitmaps);
    g_strfreev(exp->export_bitmap_context_names);
    nbd_exports = g_list_remove(nbd_exports, exp);
    g_free(exp->name);
    g_free(exp->description);
}

const BlockExportDriver blk_exp_nbd = {
    .type = BLOCK_EXPORT_TYPE_NBD,
    .instance_size = sizeof(NBDExport),
    .create = nbd_export_create,
    .delete = nbd_export_delete,
    .request_shutdown = nbd_export_request_shutdown,
};
