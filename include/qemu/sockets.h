/*
 * sockets.h: listening and connecting UNIX/TCP stream sockets.
 * All sockets are created close-on-exec; listeners are non-blocking.
 */
#ifndef QEMU_SOCKETS_H
#define QEMU_SOCKETS_H

#include "qemu/osdep.h"
#include "qemu/error.h"

/* Listen on a UNIX socket; a stale socket file at path is replaced. */
int unix_listen(const char *path, int backlog, Error **errp);
/* Listen on host:port (host NULL or "" = any address); port "0" picks one. */
int inet_listen(const char *host, const char *port, int backlog, Error **errp);
int unix_connect(const char *path, Error **errp);
int inet_connect(const char *host, const char *port, Error **errp);
/* accept4 with CLOEXEC|NONBLOCK; -1 with errno set (EAGAIN when none pending). */
int socket_accept_nonblock(int listen_fd);
/* Port number a listening TCP socket is bound to, -1 on error. */
int inet_socket_port(int fd);
void qemu_socket_set_nonblock(int fd);
void qemu_socket_set_block(int fd);
void qemu_socket_set_nodelay(int fd);

#endif
