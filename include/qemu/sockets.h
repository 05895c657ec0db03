/*
 * sockets.h: listening and connecting UNIX/TCP stream sockets.
 * All sockets are created close-on-exec; listeners are non-blocking.
 */
#ifndef QEMU_SOCKETS_H
#define QEMU_SOCKETS_H

#include "qemu/osdep.h"
#include "qemu/error.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Listen on a UNIX socket; a stale socket file at path is replaced. */
int unix_listen(const char *path, int backlog, Error **errp);
/* Listen on host:port (host NULL or "" = any address); port "0" picks one. */
int inet_listen(const char *host, const char *port, int backlog, Error **errp);
int unix_connect(const char *path, Error **errp);
int inet_connect(const char *host, const char *port, Error **errp);
/* Fill a UNIX socket address; false (errp set) if path is too long. */
bool unix_fill_addr(struct sockaddr_un *un, const char *path, Error **errp);
/* getaddrinfo() for SOCK_STREAM (blocking: may ask DNS); freeaddrinfo() it. */
struct addrinfo *inet_resolve(const char *host, const char *port,
                              bool passive, Error **errp);
/*
 * Connecting without blocking, for event loops: socket_connect_start()
 * creates a non-blocking close-on-exec socket in *fdp and starts connecting
 * it to sa.  It returns 0 when connected at once, -EINPROGRESS when the
 * caller must wait for the fd to become writable and then ask
 * socket_connect_finish() (0 or the connect error as -errno), or another
 * -errno with *fdp = -1 (for a UNIX socket -EAGAIN means the listener's
 * backlog is full: try again later).
 */
int socket_connect_start(const struct sockaddr *sa, socklen_t len, int *fdp);
int socket_connect_finish(int fd);
/* accept4 with CLOEXEC|NONBLOCK; -1 with errno set (EAGAIN when none pending). */
int socket_accept_nonblock(int listen_fd);
/* Port number a listening TCP socket is bound to, -1 on error. */
int inet_socket_port(int fd);
void qemu_socket_set_nonblock(int fd);
void qemu_socket_set_block(int fd);
void qemu_socket_set_nodelay(int fd);

#endif
