/*
 * options.c: process set-up for the daemon: daemonizing and the pid file.
 */
#include "qemu/osdep.h"
#include "sysemu/os-posix.h"

#include <sys/file.h>
#include <sys/wait.h>

static int daemon_pipe = -1;
static char *pidfile_path;
static int pidfile_fd = -1;

void os_daemonize(void)
{
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        error_report("cannot create pipe: %s", strerror(errno));
        exit(1);
    }
    pid = fork();
    if (pid < 0) {
        error_report("cannot fork: %s", strerror(errno));
        exit(1);
    }
    if (pid > 0) {
        /* parent: wait for the child to finish start-up */
        char status = 1;
        ssize_t n;

        close(fds[1]);
        n = RETRY_ON_EINTR(read(fds[0], &status, 1));
        if (n != 1) {
            int wstatus;
            waitpid(pid, &wstatus, 0);
            exit(1);
        }
        exit(status == 0 ? 0 : 1);
    }
    close(fds[0]);
    daemon_pipe = fds[1];
    setsid();
}

bool os_is_daemonized(void)
{
    return daemon_pipe >= 0;
}

void os_setup_post(void)
{
    char status = 0;
    int null_fd;

    if (daemon_pipe < 0) {
        return;
    }
    if (chdir("/") < 0) {
        /* not fatal: relative paths were all resolved during start-up */
    }
    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        dup2(null_fd, STDOUT_FILENO);
        dup2(null_fd, STDERR_FILENO);
        close(null_fd);
    }
    if (RETRY_ON_EINTR(write(daemon_pipe, &status, 1)) != 1) {
        /* parent is gone; nothing to tell */
    }
    close(daemon_pipe);
    daemon_pipe = -1;
}

bool os_write_pidfile(const char *path, Error **errp)
{
    char buf[32];
    int fd, len;
    struct stat a, b;

    fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Cannot open pid file");
        return false;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        error_setg(errp, "Cannot lock pid file, is another instance running?");
        close(fd);
        return false;
    }
    /* make sure we locked the file that is at path now */
    if (fstat(fd, &a) < 0 || stat(path, &b) < 0 || a.st_ino != b.st_ino) {
        error_setg(errp, "Cannot lock pid file: it was replaced while we opened it");
        close(fd);
        return false;
    }
    if (ftruncate(fd, 0) < 0) {
        error_setg_errno(errp, errno, "Failed to truncate pid file");
        close(fd);
        return false;
    }
    len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    if (RETRY_ON_EINTR(write(fd, buf, len)) != len) {
        error_setg_errno(errp, errno, "Failed to write pid file");
        close(fd);
        return false;
    }
    pidfile_fd = fd;
    pidfile_path = g_strdup(path);
    return true;
}

void os_remove_pidfile(void)
{
    if (pidfile_path) {
        unlink(pidfile_path);
        g_free(pidfile_path);
        pidfile_path = NULL;
    }
    if (pidfile_fd >= 0) {
        close(pidfile_fd);
        pidfile_fd = -1;
    }
}
