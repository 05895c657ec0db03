/*
 * chardev.c: `--chardev` back ends that carry QMP monitors: listening or
 * connecting UNIX/TCP sockets, and stdio.
 */
#include "qemu/osdep.h"
#include <sys/socket.h>
#include "qemu/aio.h"
#include "qemu/keyval.h"
#include "qemu/sockets.h"
#include "monitor/chardev.h"
#include "trace/trace-monitor.h"

typedef enum ChardevKind {
    CHARDEV_SOCKET_SERVER,
    CHARDEV_SOCKET_CLIENT,
    CHARDEV_STDIO,
} ChardevKind;

struct Chardev {
    char *id;
    ChardevKind kind;
    int listen_fd;
    int client_fd;          /* CHARDEV_SOCKET_CLIENT before a front end attaches */
    char *unix_path;        /* removed at cleanup */
    bool wait;
    ChardevAcceptFunc *accept_cb;
    void *accept_opaque;
};

static GPtrArray *chardevs;

Chardev *chardev_find(const char *id)
{
    if (!chardevs) {
        return NULL;
    }
    for (guint i = 0; i < chardevs->len; i++) {
        Chardev *chr = g_ptr_array_index(chardevs, i);
        if (!strcmp(chr->id, id)) {
            return chr;
        }
    }
    return NULL;
}

const char *chardev_id(Chardev *chr)
{
    return chr->id;
}

static bool chardev_id_valid(const char *id)
{
    if (!g_ascii_isalpha(id[0])) {
        return false;
    }
    for (const char *p = id; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '_') {
            return false;
        }
    }
    return true;
}

static Chardev *chardev_alloc(const char *id, ChardevKind kind, Error **errp)
{
    if (!id) {
        error_setg(errp, "Parameter 'id' is missing");
        return NULL;
    }
    if (!chardev_id_valid(id)) {
        error_setg(errp, "Parameter 'id' expects an identifier");
        return NULL;
    }
    if (chardev_find(id)) {
        error_setg(errp, "attempt to add duplicate property '%s' to object (type 'container')", id);
        return NULL;
    }
    Chardev *chr = g_new0(Chardev, 1);
    chr->id = g_strdup(id);
    chr->kind = kind;
    chr->listen_fd = -1;
    chr->client_fd = -1;
    if (!chardevs) {
        chardevs = g_ptr_array_new();
    }
    g_ptr_array_add(chardevs, chr);
    return chr;
}

static void chardev_accept_ready(void *opaque)
{
    Chardev *chr = opaque;

    for (;;) {
        int fd = socket_accept_nonblock(chr->listen_fd);
        if (fd < 0) {
            return;       /* EAGAIN or a transient error: wait for the next wake-up */
        }
        trace_chardev_accept(chr->id, fd);
        if (chr->accept_cb) {
            chr->accept_cb(chr, fd, fd, chr->accept_opaque);
        } else {
            close(fd);
        }
    }
}

Chardev *chardev_new_socket(const char *id, const char *path, const char *host,
                            const char *port, Error **errp)
{
    Chardev *chr = chardev_alloc(id, CHARDEV_SOCKET_SERVER, errp);
    if (!chr) {
        return NULL;
    }
    if (path) {
        chr->listen_fd = unix_listen(path, 16, errp);
        chr->unix_path = g_strdup(path);
    } else {
        chr->listen_fd = inet_listen(host, port, 16, errp);
    }
    if (chr->listen_fd < 0) {
        g_free(chr->unix_path);
        chr->unix_path = NULL;
        g_ptr_array_remove(chardevs, chr);
        g_free(chr->id);
        g_free(chr);
        return NULL;
    }
    return chr;
}

static Chardev *chardev_new_socket_opts(GPtrArray *opts, Error **errp)
{
    const char *id = keyval_get(opts, "id");
    const char *path = keyval_get(opts, "path");
    const char *host = keyval_get(opts, "host");
    const char *port = keyval_get(opts, "port");
    const char *server_s = keyval_get(opts, "server");
    const char *wait_s = keyval_get(opts, "wait");
    bool server = false, wait = true;
    Chardev *chr;

    if (server_s && !keyval_parse_bool("server", server_s, &server, errp)) {
        return NULL;
    }
    if (wait_s && !keyval_parse_bool("wait", wait_s, &wait, errp)) {
        return NULL;
    }
    if (!path && !port) {
        error_setg(errp, "chardev: socket: no host given");
        return NULL;
    }
    if (path && (host || port)) {
        error_setg(errp, "chardev: socket: 'path' cannot be combined with 'host'/'port'");
        return NULL;
    }
    if (!server) {
        int fd = path ? unix_connect(path, errp)
                      : inet_connect(host ? host : "localhost", port, errp);
        if (fd < 0) {
            return NULL;
        }
        chr = chardev_alloc(id, CHARDEV_SOCKET_CLIENT, errp);
        if (!chr) {
            close(fd);
            return NULL;
        }
        qemu_socket_set_nonblock(fd);
        chr->client_fd = fd;
        return chr;
    }
    chr = chardev_new_socket(id, path, host, port, errp);
    if (chr) {
        chr->wait = wait;
    }
    return chr;
}

static const char *const chardev_socket_keys[] = {
    "backend", "id", "path", "host", "port", "server", "wait", "nodelay",
    "telnet", "ipv4", "ipv6", "to", "abstract", "tight", "logfile", "logappend",
    "mux", NULL
};

static bool chardev_check_keys(GPtrArray *opts, const char *const *allowed, Error **errp)
{
    for (guint i = 0; i < opts->len; i++) {
        KeyvalPair *kv = g_ptr_array_index(opts, i);
        if (!g_strv_contains(allowed, kv->key)) {
            error_setg(errp, "Invalid parameter '%s'", kv->key);
            return false;
        }
    }
    return true;
}

Chardev *chardev_new_from_opts(const char *optstr, Error **errp)
{
    GPtrArray *opts = keyval_parse_flat(optstr, "backend", errp);
    Chardev *chr = NULL;
    const char *backend;

    if (!opts) {
        return NULL;
    }
    backend = keyval_get(opts, "backend");
    if (!backend) {
        error_setg(errp, "Parameter 'backend' is missing");
    } else if (!strcmp(backend, "socket")) {
        if (chardev_check_keys(opts, chardev_socket_keys, errp)) {
            chr = chardev_new_socket_opts(opts, errp);
        }
    } else if (!strcmp(backend, "stdio")) {
        static const char *const stdio_keys[] = { "backend", "id", "signal", "mux",
                                                  "logfile", "logappend", NULL };
        if (chardev_check_keys(opts, stdio_keys, errp)) {
            chr = chardev_alloc(keyval_get(opts, "id"), CHARDEV_STDIO, errp);
        }
    } else {
        error_setg(errp, "'%s' is not a valid char driver name", backend);
    }
    g_ptr_array_unref(opts);
    return chr;
}

/* A blocking wait for the first client of a `wait=on` server chardev. */
static void chardev_wait_first_client(Chardev *chr)
{
    int fd;

    info_report("QEMU waiting for connection on: disconnected:%s%s,server=on",
                chr->unix_path ? "unix:" : "tcp:", chr->unix_path ? chr->unix_path : "");
    qemu_socket_set_block(chr->listen_fd);
    fd = RETRY_ON_EINTR(accept4(chr->listen_fd, NULL, NULL, SOCK_CLOEXEC));
    qemu_socket_set_nonblock(chr->listen_fd);
    if (fd >= 0) {
        qemu_socket_set_nonblock(fd);
        chr->accept_cb(chr, fd, fd, chr->accept_opaque);
    }
}

bool chardev_set_frontend(Chardev *chr, ChardevAcceptFunc *accept_cb,
                          void *opaque, Error **errp)
{
    if (chr->accept_cb) {
        error_setg(errp, "Device '%s' is in use", chr->id);
        return false;
    }
    chr->accept_cb = accept_cb;
    chr->accept_opaque = opaque;
    switch (chr->kind) {
    case CHARDEV_SOCKET_SERVER:
        if (chr->wait) {
            chardev_wait_first_client(chr);
        }
        aio_set_fd_handler(qemu_get_aio_context(), chr->listen_fd,
                           chardev_accept_ready, NULL, chr);
        break;
    case CHARDEV_SOCKET_CLIENT:
        accept_cb(chr, chr->client_fd, chr->client_fd, opaque);
        chr->client_fd = -1;
        break;
    case CHARDEV_STDIO:
        qemu_socket_set_nonblock(STDIN_FILENO);
        accept_cb(chr, STDIN_FILENO, STDOUT_FILENO, opaque);
        break;
    }
    return true;
}

void chardev_cleanup_all(void)
{
    if (!chardevs) {
        return;
    }
    for (guint i = 0; i < chardevs->len; i++) {
        Chardev *chr = g_ptr_array_index(chardevs, i);
        if (chr->listen_fd >= 0) {
            aio_set_fd_handler(qemu_get_aio_context(), chr->listen_fd, NULL, NULL, NULL);
            close(chr->listen_fd);
            chr->listen_fd = -1;
        }
        if (chr->client_fd >= 0) {
            close(chr->client_fd);
        }
        if (chr->unix_path) {
            unlink(chr->unix_path);
        }
        g_free(chr->unix_path);
        g_free(chr->id);
        g_free(chr);
    }
    g_ptr_array_free(chardevs, TRUE);
    chardevs = NULL;
}
