/*
 * client.c: the client side of the NBD protocol: the handshake (fixed
 * newstyle with NBD_OPT_STRUCTURED_REPLY, NBD_OPT_SET_META_CONTEXT and
 * NBD_OPT_GO; newstyle and oldstyle fallbacks) and the transmission-phase
 * request/reply headers.  The block driver (block/nbd.c) drives these over
 * an NBDClientSocket (nbd/client-io.c).
 */
#include "qemu/osdep.h"
#include "block/nbd-client.h"
#include "trace/trace-nbd.h"

/* Oldstyle: 8 bytes size, 4 bytes flags, 124 bytes zeroes */
#define NBD_OLDSTYLE_PAD    124
/* NBD_OPT_EXPORT_NAME reply padding unless NBD_FLAG_NO_ZEROES */
#define NBD_EXPORT_NAME_PAD 124

typedef struct NBDOptionReply {
    uint32_t option;
    uint32_t type;
    uint32_t length;
} NBDOptionReply;

/* ---- options ---- */

static int coroutine_fn nbd_send_option_request(NBDClientSocket *sock,
                                                      uint32_t opt,
                                                      const void *data,
                                                      uint32_t len,
                                                      Error **errp)
{
    uint8_t hdr[16];
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)data, .iov_len = len },
    };
    int ret;

    trace_nbd_send_option_request(opt, nbd_opt_lookup(opt), len);
    nbd_st64(hdr, NBD_OPTS_MAGIC);
    nbd_st32(hdr + 8, opt);
    nbd_st32(hdr + 12, len);
    ret = nbd_sock_writev(sock, iov, len ? 2 : 1, errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to send option request: ");
    }
    return ret;
}

/*
 * Tell the server we give up the handshake.  A courtesy: we do not wait
 * for its reply and do not care whether it arrives.
 */
static void coroutine_fn nbd_send_opt_abort(NBDClientSocket *sock)
{
    nbd_send_option_request(sock, NBD_OPT_ABORT, NULL, 0, NULL);
}

/*
 * Give up the option being negotiated: errp gets the message and the
 * server NBD_OPT_ABORT.  Returns -EINVAL, for the caller to return.
 */
static int coroutine_fn QEMU_PRINTF(3, 4)
nbd_option_fail(NBDClientSocket *sock, Error **errp, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    error_setg(errp, "%s", msg);
    nbd_send_opt_abort(sock);
    return -EINVAL;
}

/* Read an option reply header (not its payload) and check it answers opt. */
static int coroutine_fn nbd_receive_option_reply(NBDClientSocket *sock,
                                                       uint32_t opt,
                                                       NBDOptionReply *reply,
                                                       Error **errp)
{
    uint8_t buf[20];
    int ret;

    ret = nbd_sock_read(sock, buf, sizeof(buf), errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to read option reply: ");
        nbd_send_opt_abort(sock);
        return ret;
    }
    reply->option = nbd_ld32(buf + 8);
    reply->type = nbd_ld32(buf + 12);
    reply->length = nbd_ld32(buf + 16);
    trace_nbd_receive_option_reply(reply->option, nbd_opt_lookup(reply->option),
                                   reply->type, nbd_rep_lookup(reply->type),
                                   reply->length);
    if (nbd_ld64(buf) != NBD_REP_MAGIC) {
        return nbd_option_fail(sock, errp, "Unexpected option reply magic");
    }
    if (reply->option != opt) {
        return nbd_option_fail(sock, errp, "Unexpected option type %u (%s), "
                               "expected %u (%s)",
                               reply->option, nbd_opt_lookup(reply->option),
                               opt, nbd_opt_lookup(opt));
    }
    return 0;
}

/*
 * If reply is an error, read its message and turn it into errp.
 * Returns 1 for a success reply, 0 for NBD_REP_ERR_UNSUP (the caller may
 * fall back to something else) and -errno for any other error (after
 * NBD_OPT_ABORT was sent).
 */
static int coroutine_fn nbd_handle_reply_err(NBDClientSocket *sock,
                                                   NBDOptionReply *reply,
                                                   Error **errp)
{
    g_autofree char *msg = NULL;
    uint32_t opt = reply->option;
    const char *optname = nbd_opt_lookup(opt);
    int ret;

    if (!NBD_REP_IS_ERR(reply->type)) {
        return 1;
    }
    if (reply->length) {
        if (reply->length > NBD_MAX_STRING_SIZE) {
            error_setg(errp, "server error %u (%s) message is too long",
                       reply->type, nbd_rep_lookup(reply->type));
            goto err;
        }
        msg = g_malloc(reply->length + 1);
        ret = nbd_sock_read(sock, msg, reply->length, errp);
        if (ret < 0) {
            error_prepend(errp, "Failed to read option error %u (%s) message: ",
                          reply->type, nbd_rep_lookup(reply->type));
            goto err;
        }
        msg[reply->length] = '\0';
        trace_nbd_server_error_msg(reply->type, nbd_rep_lookup(reply->type), msg);
    }

    switch (reply->type) {
    case NBD_REP_ERR_UNSUP:
        trace_nbd_reply_err_ignored(opt, optname, reply->type,
                                    nbd_rep_lookup(reply->type));
        return 0;
    case NBD_REP_ERR_POLICY:
        error_setg(errp, "Denied by server for option %u (%s)", opt, optname);
        break;
    case NBD_REP_ERR_INVALID:
        error_setg(errp, "Invalid parameters for option %u (%s)", opt, optname);
        break;
    case NBD_REP_ERR_PLATFORM:
        error_setg(errp, "Server lacks support for option %u (%s)", opt, optname);
        break;
    case NBD_REP_ERR_TLS_REQD:
        error_setg(errp, "TLS negotiation required before option %u (%s)",
                   opt, optname);
        error_append_hint(errp, "Did you forget a valid tls-creds?\n");
        break;
    case NBD_REP_ERR_UNKNOWN:
        error_setg(errp, "Requested export not available");
        break;
    case NBD_REP_ERR_SHUTDOWN:
        error_setg(errp, "Server shutting down before option %u (%s)",
                   opt, optname);
        break;
    case NBD_REP_ERR_BLOCK_SIZE_REQD:
        error_setg(errp, "Server requires INFO_BLOCK_SIZE for option %u (%s)",
                   opt, optname);
        break;
    default:
        error_setg(errp, "Unknown error code when asking for option %u (%s)",
                   opt, optname);
        break;
    }
    if (msg) {
        error_append_hint(errp, "server reported: %s\n", msg);
    }
err:
    nbd_send_opt_abort(sock);
    return -EINVAL;
}

/*
 * The next reply to option opt, its header read and an error reply
 * handled: 1 for a success reply (its payload still to read), 0 if the
 * server does not support opt (NBD_REP_ERR_UNSUP), -errno otherwise.
 */
static int coroutine_fn nbd_receive_option_answer(NBDClientSocket *sock,
                                                  uint32_t opt,
                                                  NBDOptionReply *reply,
                                                  Error **errp)
{
    int ret = nbd_receive_option_reply(sock, opt, reply, errp);

    if (ret < 0) {
        return ret;
    }
    return nbd_handle_reply_err(sock, reply, errp);
}

/* NBD_OPT_STRUCTURED_REPLY: 1 if the server agreed, 0 if not, -errno. */
static int coroutine_fn nbd_request_structured_reply(NBDClientSocket *sock,
                                                           Error **errp)
{
    NBDOptionReply reply;
    int ret;

    ret = nbd_send_option_request(sock, NBD_OPT_STRUCTURED_REPLY, NULL, 0, errp);
    if (ret < 0) {
        return ret;
    }
    ret = nbd_receive_option_answer(sock, NBD_OPT_STRUCTURED_REPLY, &reply,
                                    errp);
    if (ret <= 0) {
        return ret;
    }
    if (reply.type != NBD_REP_ACK || reply.length != 0) {
        return nbd_option_fail(sock, errp, "Server answered option %u (%s) "
                               "with unexpected reply %u (%s)", reply.option,
                               nbd_opt_lookup(reply.option), reply.type,
                               nbd_rep_lookup(reply.type));
    }
    return 1;
}

/*
 * NBD_OPT_SET_META_CONTEXT with the single query `context` for the export.
 * On success info->base_allocation tells whether the server selected it
 * (and info->context_id its id).
 */
static int coroutine_fn nbd_negotiate_meta_context(NBDClientSocket *sock,
                                                         NBDExportInfo *info,
                                                         const char *export,
                                                         const char *context,
                                                         Error **errp)
{
    size_t export_len = strlen(export);
    size_t context_len = strlen(context);
    size_t len = 4 + export_len + 4 + 4 + context_len;
    g_autofree uint8_t *data = g_malloc(len);
    uint8_t *p = data;
    NBDOptionReply reply;
    bool received = false;
    int ret;

    nbd_st32(p, export_len);
    memcpy(p + 4, export, export_len);
    p += 4 + export_len;
    nbd_st32(p, 1);
    nbd_st32(p + 4, context_len);
    memcpy(p + 8, context, context_len);
    trace_nbd_opt_meta_request(nbd_opt_lookup(NBD_OPT_SET_META_CONTEXT),
                               context, export);

    ret = nbd_send_option_request(sock, NBD_OPT_SET_META_CONTEXT, data, len, errp);
    if (ret < 0) {
        return ret;
    }
    for (;;) {
        char name[NBD_MAX_STRING_SIZE + 1];
        uint32_t id;

        ret = nbd_receive_option_answer(sock, NBD_OPT_SET_META_CONTEXT, &reply,
                                        errp);
        if (ret <= 0) {
            return ret;
        }
        if (reply.type == NBD_REP_ACK) {
            if (reply.length != 0) {
                return nbd_option_fail(sock, errp,
                                       "Unexpected length to ACK response");
            }
            break;
        }
        if (reply.type != NBD_REP_META_CONTEXT) {
            return nbd_option_fail(sock, errp, "Unexpected reply type %u (%s), "
                                   "expected %u (%s)",
                                   reply.type, nbd_rep_lookup(reply.type),
                                   NBD_REP_META_CONTEXT,
                                   nbd_rep_lookup(NBD_REP_META_CONTEXT));
        }
        if (reply.length != 4 + context_len || received) {
            return nbd_option_fail(sock, errp, "Failed to negotiate meta "
                                   "context '%s', server answered with "
                                   "different context", context);
        }
        ret = nbd_sock_read(sock, name, reply.length, errp);
        if (ret < 0) {
            error_prepend(errp, "Failed to read meta context reply: ");
            return ret;
        }
        id = nbd_ld32(name);
        name[reply.length] = '\0';
        if (strcmp(name + 4, context) != 0) {
            return nbd_option_fail(sock, errp, "Failed to negotiate meta "
                                   "context '%s', server answered with "
                                   "different context '%s'", context, name + 4);
        }
        trace_nbd_opt_meta_reply(nbd_opt_lookup(NBD_OPT_SET_META_CONTEXT),
                                 context, id);
        info->context_id = id;
        received = true;
    }
    info->base_allocation = received;
    return 1;
}

/* The rest of an NBD_REP_INFO payload (len bytes) that must be size bytes */
static int coroutine_fn nbd_receive_info_fixed(NBDClientSocket *sock,
                                               uint8_t *buf, uint32_t len,
                                               uint32_t size, Error **errp)
{
    if (len != size) {
        error_setg(errp, "remaining export info len %u is unexpected size",
                   len);
        return -EINVAL;
    }
    return nbd_sock_read(sock, buf, size, errp);
}

/* Parse one NBD_REP_INFO payload of the given length. */
static int coroutine_fn nbd_receive_info(NBDClientSocket *sock,
                                               NBDExportInfo *info,
                                               uint32_t len, bool *got_export,
                                               Error **errp)
{
    uint8_t buf[14];
    uint16_t type;
    int ret;

    if (len < 2) {
        error_setg(errp, "Server sent a short info reply");
        return -EINVAL;
    }
    ret = nbd_sock_read(sock, buf, 2, errp);
    if (ret < 0) {
        return ret;
    }
    type = nbd_ld16(buf);
    len -= 2;

    switch (type) {
    case NBD_INFO_EXPORT:
        ret = nbd_receive_info_fixed(sock, buf, len, 10, errp);
        if (ret < 0) {
            return ret;
        }
        info->size = nbd_ld64(buf);
        info->flags = nbd_ld16(buf + 8);
        *got_export = true;
        trace_nbd_receive_negotiate_size_flags(info->size, info->flags);
        return 0;

    case NBD_INFO_BLOCK_SIZE:
        ret = nbd_receive_info_fixed(sock, buf, len, 12, errp);
        if (ret < 0) {
            return ret;
        }
        info->min_block = nbd_ld32(buf);
        info->opt_block = nbd_ld32(buf + 4);
        info->max_block = nbd_ld32(buf + 8);
        trace_nbd_opt_info_block_size(info->min_block, info->opt_block,
                                      info->max_block);
        if (!is_power_of_2(info->min_block) || info->min_block > 64 * KiB) {
            error_setg(errp, "server minimum block size %u is not a power of two",
                       info->min_block);
            return -EINVAL;
        }
        if (!is_power_of_2(info->opt_block) || info->opt_block < info->min_block) {
            error_setg(errp, "server preferred block size %u is not valid",
                       info->opt_block);
            return -EINVAL;
        }
        if (info->max_block < info->min_block) {
            error_setg(errp, "server maximum block size %u is not valid",
                       info->max_block);
            return -EINVAL;
        }
        return 0;

    case NBD_INFO_DESCRIPTION:
        if (len > NBD_MAX_STRING_SIZE) {
            error_setg(errp, "server description is too long");
            return -EINVAL;
        }
        g_free(info->description);
        info->description = g_malloc(len + 1);
        ret = nbd_sock_read(sock, info->description, len, errp);
        if (ret < 0) {
            return ret;
        }
        info->description[len] = '\0';
        return 0;

    default:
        trace_nbd_opt_info_unknown(type, "unknown");
        return nbd_sock_drop(sock, len, errp);
    }
}

/*
 * NBD_OPT_GO.  Returns 1 when the export is ready, 0 if the server does not
 * know NBD_OPT_GO (use NBD_OPT_EXPORT_NAME), -errno on errors.
 */
static int coroutine_fn nbd_opt_go(NBDClientSocket *sock,
                                         NBDExportInfo *info,
                                         const char *export, Error **errp)
{
    size_t export_len = strlen(export);
    size_t len = 4 + export_len + 2 + (info->request_sizes ? 2 : 0);
    g_autofree uint8_t *data = g_malloc(len);
    bool got_export = false;
    NBDOptionReply reply;
    int ret;

    nbd_st32(data, export_len);
    memcpy(data + 4, export, export_len);
    if (info->request_sizes) {
        nbd_st16(data + 4 + export_len, 1);
        nbd_st16(data + 6 + export_len, NBD_INFO_BLOCK_SIZE);
    } else {
        nbd_st16(data + 4 + export_len, 0);
    }
    trace_nbd_opt_info_go_start(nbd_opt_lookup(NBD_OPT_GO), export);

    ret = nbd_send_option_request(sock, NBD_OPT_GO, data, len, errp);
    if (ret < 0) {
        return ret;
    }
    for (;;) {
        ret = nbd_receive_option_answer(sock, NBD_OPT_GO, &reply, errp);
        if (ret <= 0) {
            return ret;
        }
        if (reply.type == NBD_REP_ACK) {
            if (reply.length != 0) {
                return nbd_option_fail(sock, errp,
                                       "server sent invalid NBD_REP_ACK");
            }
            if (!got_export) {
                return nbd_option_fail(sock, errp,
                                       "broken server omitted NBD_INFO_EXPORT");
            }
            trace_nbd_opt_info_go_success(nbd_opt_lookup(NBD_OPT_GO));
            return 1;
        }
        if (reply.type != NBD_REP_INFO) {
            return nbd_option_fail(sock, errp, "unexpected reply type %u (%s), "
                                   "expected %u (%s)",
                                   reply.type, nbd_rep_lookup(reply.type),
                                   NBD_REP_INFO, nbd_rep_lookup(NBD_REP_INFO));
        }
        ret = nbd_receive_info(sock, info, reply.length, &got_export, errp);
        if (ret < 0) {
            nbd_send_opt_abort(sock);
            return ret;
        }
    }
}

/* NBD_OPT_EXPORT_NAME: the server answers with size and flags, or hangs up. */
static int coroutine_fn nbd_opt_export_name(NBDClientSocket *sock,
                                                  NBDExportInfo *info,
                                                  const char *export,
                                                  bool zeroes, Error **errp)
{
    uint8_t buf[10];
    int ret;

    trace_nbd_receive_negotiate_name(export);
    ret = nbd_send_option_request(sock, NBD_OPT_EXPORT_NAME, export,
                                  strlen(export), errp);
    if (ret < 0) {
        return ret;
    }
    ret = nbd_sock_read(sock, buf, sizeof(buf), errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to read export length: ");
        return ret;
    }
    info->size = nbd_ld64(buf);
    info->flags = nbd_ld16(buf + 8);
    trace_nbd_receive_negotiate_size_flags(info->size, info->flags);
    if (zeroes) {
        ret = nbd_sock_drop(sock, NBD_EXPORT_NAME_PAD, errp);
        if (ret < 0) {
            error_prepend(errp, "Failed to read reserved block: ");
            return ret;
        }
    }
    return 0;
}

static int coroutine_fn nbd_negotiate_oldstyle(NBDClientSocket *sock,
                                                     NBDExportInfo *info,
                                                     const char *export,
                                                     Error **errp)
{
    uint8_t buf[12];
    int ret;

    if (export[0]) {
        error_setg(errp, "Server does not support non-empty export names");
        return -EINVAL;
    }
    ret = nbd_sock_read(sock, buf, sizeof(buf), errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to read export length and flags: ");
        return ret;
    }
    info->size = nbd_ld64(buf);
    info->flags = nbd_ld32(buf + 8) & 0xffff;
    trace_nbd_receive_negotiate_size_flags(info->size, info->flags);
    ret = nbd_sock_drop(sock, NBD_OLDSTYLE_PAD, errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to read reserved block: ");
    }
    return ret;
}

int coroutine_fn nbd_receive_negotiate(NBDClientSocket *sock,
                                             NBDExportInfo *info, Error **errp)
{
    const char *export = info->name ? info->name : "";
    bool want_structured = info->structured_reply;
    bool want_context = info->base_allocation || info->x_dirty_bitmap;
    uint8_t buf[8];
    uint64_t magic;
    uint16_t server_flags;
    uint32_t client_flags = 0;
    bool fixed, zeroes = true;
    int ret;

    trace_nbd_start_negotiate(NULL, "<null>");
    info->structured_reply = false;
    info->base_allocation = false;
    info->context_id = 0;
    info->min_block = info->opt_block = info->max_block = 0;

    ret = nbd_sock_read(sock, buf, 8, errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to read initial magic: ");
        return ret;
    }
    magic = nbd_ld64(buf);
    trace_nbd_receive_negotiate_magic(magic);
    if (magic != NBD_INIT_MAGIC) {
        error_setg(errp, "Invalid magic received");
        return -EINVAL;
    }
    ret = nbd_sock_read(sock, buf, 8, errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to read server magic: ");
        return ret;
    }
    magic = nbd_ld64(buf);
    trace_nbd_receive_negotiate_magic(magic);
    if (magic == NBD_CLIENT_MAGIC) {
        return nbd_negotiate_oldstyle(sock, info, export, errp);
    }
    if (magic != NBD_OPTS_MAGIC) {
        error_setg(errp, "Bad server magic received: 0x%" PRIx64, magic);
        return -EINVAL;
    }

    ret = nbd_sock_read(sock, buf, 2, errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to read server flags: ");
        return ret;
    }
    server_flags = nbd_ld16(buf);
    trace_nbd_receive_negotiate_server_flags(server_flags);
    fixed = server_flags & NBD_FLAG_FIXED_NEWSTYLE;
    if (fixed) {
        client_flags |= NBD_FLAG_C_FIXED_NEWSTYLE;
    }
    if (server_flags & NBD_FLAG_NO_ZEROES) {
        zeroes = false;
        client_flags |= NBD_FLAG_C_NO_ZEROES;
    }
    nbd_st32(buf, client_flags);
    ret = nbd_sock_write(sock, buf, 4, errp);
    if (ret < 0) {
        error_prepend(errp, "Failed to send client flags: ");
        return ret;
    }

    if (!fixed) {
        return nbd_opt_export_name(sock, info, export, zeroes, errp);
    }

    if (want_structured) {
        ret = nbd_request_structured_reply(sock, errp);
        if (ret < 0) {
            return ret;
        }
        info->structured_reply = ret > 0;
    }
    if (info->structured_reply && want_context) {
        const char *context = info->x_dirty_bitmap ? info->x_dirty_bitmap
                                                   : NBD_META_BASE_ALLOCATION;
        ret = nbd_negotiate_meta_context(sock, info, export, context, errp);
        if (ret < 0) {
            return ret;
        }
    }
    ret = nbd_opt_go(sock, info, export, errp);
    if (ret < 0) {
        return ret;
    }
    if (ret == 0) {
        /* Old server: no NBD_OPT_GO, so no block sizes either */
        ret = nbd_opt_export_name(sock, info, export, zeroes, errp);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

void nbd_export_info_clear_result(NBDExportInfo *info)
{
    g_free(info->description);
    info->description = NULL;
}

/* ---- transmission ---- */

int coroutine_fn nbd_send_request(NBDClientSocket *sock,
                                        const NBDRequest *req,
                                        QEMUIOVector *payload, Error **errp)
{
    uint8_t hdr[28];
    struct iovec local[9];
    struct iovec *iov = local;
    int niov = 1;
    int ret;

    trace_nbd_send_request(req->from, req->len, req->cookie, req->flags,
                           req->type, nbd_cmd_lookup(req->type));
    nbd_st32(hdr, NBD_REQUEST_MAGIC);
    nbd_st16(hdr + 4, req->flags);
    nbd_st16(hdr + 6, req->type);
    nbd_st64(hdr + 8, req->cookie);
    nbd_st64(hdr + 16, req->from);
    nbd_st32(hdr + 24, req->len);

    if (payload && payload->niov > (int)ARRAY_SIZE(local) - 1) {
        iov = g_new(struct iovec, payload->niov + 1);
    }
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof(hdr);
    if (payload) {
        memcpy(iov + 1, payload->iov, payload->niov * sizeof(struct iovec));
        niov += payload->niov;
    }
    ret = nbd_sock_writev(sock, iov, niov, errp);
    if (iov != local) {
        g_free(iov);
    }
    return ret;
}

int coroutine_fn nbd_receive_reply(NBDClientSocket *sock,
                                         NBDReply *reply, Error **errp)
{
    uint8_t buf[20];
    uint32_t magic;
    int ret;

    ret = nbd_sock_read(sock, buf, 4, errp);
    if (ret < 0) {
        return ret;
    }
    magic = nbd_ld32(buf);
    switch (magic) {
    case NBD_SIMPLE_REPLY_MAGIC:
        ret = nbd_sock_read(sock, buf + 4, 12, errp);
        if (ret < 0) {
            return ret;
        }
        reply->structured = false;
        reply->error = nbd_ld32(buf + 4);
        reply->cookie = nbd_ld64(buf + 8);
        reply->flags = NBD_REPLY_FLAG_DONE;
        reply->type = NBD_REPLY_TYPE_NONE;
        reply->length = 0;
        trace_nbd_receive_simple_reply(reply->error,
                                       nbd_err_lookup(reply->error),
                                       reply->cookie);
        return 0;
    case NBD_STRUCTURED_REPLY_MAGIC:
        ret = nbd_sock_read(sock, buf + 4, 16, errp);
        if (ret < 0) {
            return ret;
        }
        reply->structured = true;
        reply->error = 0;
        reply->flags = nbd_ld16(buf + 4);
        reply->type = nbd_ld16(buf + 6);
        reply->cookie = nbd_ld64(buf + 8);
        reply->length = nbd_ld32(buf + 16);
        trace_nbd_receive_structured_reply_chunk(reply->flags, reply->type,
                                                 nbd_reply_type_lookup(reply->type),
                                                 reply->cookie, reply->length);
        return 0;
    default:
        error_setg(errp, "invalid magic (got 0x%" PRIx32 ")", magic);
        return -EINVAL;
    }
}
