/*
 * fuzz-qmp.c: libFuzzer target over the QMP input path.
 *
 * Each input is written into one end of a socketpair whose other end is a
 * fresh QMP session, exactly as bytes from a client would arrive; the
 * event loop then runs until the session has parsed and answered
 * everything and closed.  If the first byte is odd the input is preceded by
 * qmp_capabilities, so that the fuzzer also reaches command mode.
 * Only commands without lasting side effects stay enabled: a command that
 * creates nodes, servers or exports would carry state from one input to
 * the next (and be reported as a leak).
 */
#include "qemu/osdep.h"
#include "qemu/aio.h"
#include "monitor/monitor.h"
#include "qapi/qmp-dispatch.h"
#include "sysemu/runstate.h"

#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static const char negotiate[] = "{\"execute\": \"qmp_capabilities\"}";

static const char *const fuzz_allowed_commands[] = {
    "qmp_capabilities", "query-version", "query-commands", "query-qmp-schema",
    "query-named-block-nodes", "query-block-exports", "trace-event-get-state",
    NULL
};

static void fuzz_disable_cb(const QmpCommand *cmd, void *opaque)
{
    if (!g_strv_contains(fuzz_allowed_commands, cmd->name)) {
        qmp_disable_command((QmpCommandList *)monitor_qmp_commands(), cmd->name,
                            "disabled while fuzzing");
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    Error *err = NULL;

    if (!qemu_init_main_loop(&err)) {
        error_report_err(err);
        abort();
    }
    monitor_init_globals();
    qmp_for_each_command(monitor_qmp_commands(), fuzz_disable_cb, NULL);
    return 0;
}

/* Write all of buf to fd while letting the loop consume the other end. */
static void fuzz_write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                aio_poll(qemu_get_aio_context(), false);
                continue;
            }
            return;
        }
        buf += n;
        len -= n;
    }
}

/* Read and discard the session's replies so it never stalls. */
static void fuzz_drain(int fd)
{
    char buf[65536];
    while (read(fd, buf, sizeof(buf)) > 0) {
        /* discard */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    AioContext *ctx = qemu_get_aio_context();

    if (size > 4 * 1024 * 1024) {
        return 0;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
        abort();
    }
    monitor_qmp_new(NULL, sv[1], sv[1], false);
    if (size > 0 && (data[0] & 1)) {
        fuzz_write_all(sv[0], (const uint8_t *)negotiate, strlen(negotiate));
    }
    fuzz_write_all(sv[0], data, size);
    shutdown(sv[0], SHUT_WR);
    /* run until the session has seen EOF and gone away */
    for (int i = 0; i < 100000 && monitor_count() > 0; i++) {
        fuzz_drain(sv[0]);
        aio_poll(ctx, false);
    }
    fuzz_drain(sv[0]);
    if (monitor_count() > 0) {
        monitor_cleanup();
    }
    close(sv[0]);
    return 0;
}
