/*
 * qmp.c: the NBD server's listening socket and its QMP commands
 * nbd-server-start / nbd-server-stop (and --nbd-server, through
 * nbd_server_start_options()).  Connections are handed to nbd/server.c.
 */
#include "qemu/osdep.h"
#include "block/export.h"
#include "block/nbd.h"
#include "qapi/qapi-commands.h"
#include "qemu/aio.h"
#include "qemu/sockets.h"
#include "trace/trace-nbd.h"

typedef struct NBDServerData {
    int listen_fd;
    char *unix_path;            /* removed when the server stops */
    bool accepting;             /* the accept handler is registered */
    uint32_t max_connections;   /* 0: no limit */
    uint32_t handshake_max_secs;
    GList *clients;             /* NBDClient *, every connected client */
} NBDServerData;

static NBDServerData *nbd_server;

bool nbd_server_is_running(void)
{
    return nbd_server != NULL;
}

uint32_t nbd_server_max_connections(void)
{
    return nbd_server ? nbd_server->max_connections : 0;
}

static void nbd_accept(void *opaque);

static void nbd_update_accepting(NBDServerData *s)
{
    bool want = !s->max_connections ||
                g_list_length(s->clients) < s->max_connections;

    if (want != s->accepting) {
        s->accepting = want;
        aio_set_fd_handler(qemu_get_aio_context(), s->listen_fd,
                           want ? nbd_accept : NULL, NULL, s);
    }
}

static void nbd_client_closed(NBDClient *client, bool negotiated, void *opaque)
{
    NBDServerData *s = opaque;

    /* The server may have been stopped and replaced meanwhile */
    if (s != nbd_server) {
        return;
    }
    s->clients = g_list_remove(s->clients, client);
    nbd_update_accepting(s);
}

static void nbd_accept(void *opaque)
{
    NBDServerData *s = opaque;

    while (s == nbd_server && s->accepting) {
        NBDClient *client;
        int fd = socket_accept_nonblock(s->listen_fd);

        if (fd < 0) {
            break;
        }
        qemu_socket_set_nodelay(fd);
        trace_nbd_server_accept(fd, g_list_length(s->clients) + 1);
        /* The client starts from a bottom half: listing it now is safe */
        client = nbd_client_new(fd, s->handshake_max_secs, nbd_client_closed, s);
        s->clients = g_list_prepend(s->clients, client);
        nbd_update_accepting(s);
    }
}

static int nbd_listen(SocketAddress *addr, char **unix_path, Error **errp)
{
    switch (addr->type) {
    case SOCKET_ADDRESS_TYPE_UNIX:
        *unix_path = g_strdup(addr->u.q_unix.path);
        return unix_listen(addr->u.q_unix.path, 128, errp);
    case SOCKET_ADDRESS_TYPE_INET:
        return inet_listen(addr->u.inet.host, addr->u.inet.port, 128, errp);
    default:
        error_setg(errp, "NBD server address type '%s' is not supported",
                   SocketAddressType_str(addr->type));
        return -1;
    }
}

static void nbd_server_start(SocketAddress *addr, const char *tls_creds,
                             const char *tls_authz, bool has_max_connections,
                             uint32_t max_connections, bool has_handshake_max_secs,
                             uint32_t handshake_max_secs, Error **errp)
{
    NBDServerData *s;
    char *unix_path = NULL;
    int fd;

    if (nbd_server) {
        error_setg(errp, "NBD server already running");
        return;
    }
    if (tls_creds) {
        error_setg(errp, "No TLS credentials with id '%s'", tls_creds);
        return;
    }
    if (tls_authz) {
        error_setg(errp, "'tls-authz' is only valid with 'tls-creds'");
        return;
    }
    fd = nbd_listen(addr, &unix_path, errp);
    if (fd < 0) {
        g_free(unix_path);
        return;
    }
    s = g_new0(NBDServerData, 1);
    s->listen_fd = fd;
    s->unix_path = unix_path;
    s->max_connections = has_max_connections ? max_connections
                                             : NBD_DEFAULT_MAX_CONNECTIONS;
    s->handshake_max_secs = has_handshake_max_secs ? handshake_max_secs
                                                   : NBD_DEFAULT_HANDSHAKE_MAX_SECS;
    nbd_server = s;
    nbd_update_accepting(s);
}

void nbd_server_start_options(NbdServerOptions *opts, Error **errp)
{
    nbd_server_start(opts->addr, opts->tls_creds, opts->tls_authz,
                     opts->has_max_connections, opts->max_connections,
                     opts->has_handshake_max_seconds, opts->handshake_max_seconds,
                     errp);
}

/* The nested legacy form of nbd-server-start, made flat */
static SocketAddress *socket_address_flatten(SocketAddressLegacy *legacy)
{
    SocketAddress *addr = g_new0(SocketAddress, 1);

    addr->type = legacy->type;
    switch (legacy->type) {
    case SOCKET_ADDRESS_TYPE_INET:
        addr->u.inet = *legacy->u.inet.data;
        break;
    case SOCKET_ADDRESS_TYPE_UNIX:
        addr->u.q_unix = *legacy->u.q_unix.data;
        break;
    case SOCKET_ADDRESS_TYPE_VSOCK:
        addr->u.vsock = *legacy->u.vsock.data;
        break;
    case SOCKET_ADDRESS_TYPE_FD:
        addr->u.fd = *legacy->u.fd.data;
        break;
    default:
        break;
    }
    return addr;
}

void qmp_nbd_server_start(SocketAddressLegacy *addr, const char *tls_creds,
                          const char *tls_authz, bool has_max_connections,
                          uint32_t max_connections, bool has_handshake_max_seconds,
                          uint32_t handshake_max_seconds, Error **errp)
{
    /* A shallow copy: the members still belong to addr */
    SocketAddress *flat = socket_address_flatten(addr);

    nbd_server_start(flat, tls_creds, tls_authz, has_max_connections, max_connections,
                     has_handshake_max_seconds, handshake_max_seconds, errp);
    g_free(flat);
}

void nbd_server_stop(void)
{
    NBDServerData *s = nbd_server;
    GList *clients;

    if (!s) {
        return;
    }
    blk_exp_close_all_type(BLOCK_EXPORT_TYPE_NBD);
    nbd_server = NULL;
    if (s->accepting) {
        aio_set_fd_handler(qemu_get_aio_context(), s->listen_fd, NULL, NULL, NULL);
    }
    close(s->listen_fd);
    if (s->unix_path) {
        unlink(s->unix_path);
    }
    /* Clients still negotiating */
    clients = s->clients;
    s->clients = NULL;
    for (GList *l = clients; l; l = l->next) {
        nbd_client_shutdown(l->data);
    }
    g_list_free(clients);
    g_free(s->unix_path);
    g_free(s);
}

void qmp_nbd_server_stop(Error **errp)
{
    if (!nbd_server) {
        error_setg(errp, "NBD server not running");
        return;
    }
    nbd_server_stop();
}
