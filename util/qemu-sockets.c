/*
 * qemu-sockets.c: UNIX and TCP socket set-up for the QMP monitor and NBD.
 */
#include "qemu/osdep.h"
#include "qemu/sockets.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

bool unix_fill_addr(struct sockaddr_un *un, const char *path, Error **errp)
{
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(un->sun_path)) {
        error_setg(errp, "UNIX socket path '%s' is too long", path);
        return false;
    }
    strcpy(un->sun_path, path);
    return true;
}

int unix_listen(const char *path, int backlog, Error **errp)
{
    struct sockaddr_un un;
    int fd;

    if (!unix_fill_addr(&un, path, errp)) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to create a UNIX socket");
        return -1;
    }
    /* Replace a stale socket file, but never a regular file or directory. */
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            error_setg(errp, "Failed to bind socket to %s: file exists and is not a socket",
                       path);
            close(fd);
            return -1;
        }
        unlink(path);
    }
    /*
     * Bind under a temporary name and rename once listening, so a client
     * that sees the socket file never gets ECONNREFUSED.
     */
    g_autofree char *tmp = g_strdup_printf("%s.%d.tmp", path, (int)getpid());
    struct sockaddr_un tmp_un;
    const char *bound = path;

    if (unix_fill_addr(&tmp_un, tmp, NULL)) {
        unlink(tmp);
        un = tmp_un;
        bound = tmp;
    }
    if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
        error_setg_errno(errp, errno, "Failed to bind socket to %s", path);
        close(fd);
        return -1;
    }
    if (listen(fd, backlog) < 0 || (bound != path && rename(bound, path) < 0)) {
        error_setg_errno(errp, errno, "Failed to listen on socket");
        unlink(bound);
        close(fd);
        return -1;
    }
    return fd;
}

struct addrinfo *inet_resolve(const char *host, const char *port,
                              bool passive, Error **errp)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = passive ? AI_PASSIVE : 0,
    };
    struct addrinfo *res = NULL;
    int rc;

    if (host && !*host) {
        host = NULL;
    }
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        error_setg(errp, "address resolution failed for %s:%s: %s",
                   host ? host : "", port, gai_strerror(rc));
        return NULL;
    }
    return res;
}

/* What to do with a new socket for ai: 0, or -1 with errno set */
typedef int InetSocketStep(int fd, const struct addrinfo *ai, void *opaque);

/*
 * A socket (type_flags added to the address's type) for the first address
 * of res on which step succeeds, or -1 with *err the errno of the last
 * failure.
 */
static int inet_first_socket(struct addrinfo *res, int type_flags,
                             InetSocketStep *step, void *opaque, int *err)
{
    struct addrinfo *ai;

    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | type_flags,
                        ai->ai_protocol);

        if (fd < 0) {
            *err = errno;
            continue;
        }
        if (step(fd, ai, opaque) == 0) {
            return fd;
        }
        *err = errno;
        close(fd);
    }
    return -1;
}

static int inet_bind_listen(int fd, const struct addrinfo *ai, void *opaque)
{
    int backlog = *(int *)opaque;
    int on = 1;

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0) {
        return 0;
    }
    return -1;
}

static int inet_connect_addr(int fd, const struct addrinfo *ai, void *opaque)
{
    if (RETRY_ON_EINTR(connect(fd, ai->ai_addr, ai->ai_addrlen)) == 0) {
        return 0;
    }
    return -1;
}

int inet_listen(const char *host, const char *port, int backlog, Error **errp)
{
    struct addrinfo *res;
    int fd, saved_errno = 0;

    res = inet_resolve(host, port, true, errp);
    if (!res) {
        return -1;
    }
    fd = inet_first_socket(res, SOCK_NONBLOCK, inet_bind_listen, &backlog,
                           &saved_errno);
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, saved_errno, "Failed to bind socket on %s:%s",
                         host ? host : "", port);
    }
    return fd;
}

int unix_connect(const char *path, Error **errp)
{
    struct sockaddr_un un;
    int fd;

    if (!unix_fill_addr(&un, path, errp)) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to create a UNIX socket");
        return -1;
    }
    if (RETRY_ON_EINTR(connect(fd, (struct sockaddr *)&un, sizeof(un))) < 0) {
        error_setg_errno(errp, errno, "Failed to connect to '%s'", path);
        close(fd);
        return -1;
    }
    return fd;
}

int inet_connect(const char *host, const char *port, Error **errp)
{
    struct addrinfo *res;
    int fd, saved_errno = 0;

    res = inet_resolve(host, port, false, errp);
    if (!res) {
        return -1;
    }
    fd = inet_first_socket(res, 0, inet_connect_addr, NULL, &saved_errno);
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, saved_errno, "Failed to connect to '%s:%s'",
                         host ? host : "", port);
        return -1;
    }
    qemu_socket_set_nodelay(fd);
    return fd;
}

int socket_connect_start(const struct sockaddr *sa, socklen_t len, int *fdp)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int ret;

    *fdp = -1;
    if (fd < 0) {
        return -errno;
    }
    ret = RETRY_ON_EINTR(connect(fd, sa, len));
    if (ret < 0 && errno != EINPROGRESS) {
        ret = -errno;
        close(fd);
        return ret;
    }
    if (sa->sa_family != AF_UNIX) {
        qemu_socket_set_nodelay(fd);
    }
    *fdp = fd;
    return ret < 0 ? -EINPROGRESS : 0;
}

int socket_connect_finish(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        return -errno;
    }
    return -err;
}

int socket_accept_nonblock(int listen_fd)
{
    return RETRY_ON_EINTR(accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK));
}

int inet_socket_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        return -1;
    }
    if (ss.ss_family == AF_INET) {
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    if (ss.ss_family == AF_INET6) {
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return -1;
}

void qemu_socket_set_nonblock(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

void qemu_socket_set_block(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

void qemu_socket_set_nodelay(int fd)
{
    int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}
