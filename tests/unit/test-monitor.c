/*
 * test-monitor.c: the QMP session over a socketpair: greeting, negotiation,
 * and dispatch held back while the daemon starts up.
 */
#include "qemu/osdep.h"
#include "qemu/aio.h"
#include "monitor/monitor.h"

#include <sys/socket.h>

/* Poll the loop a little, then return what the client end has received. */
static GString *poll_and_read(int fd, GString *acc)
{
    char buf[4096];
    ssize_t n;

    for (int i = 0; i < 200; i++) {
        aio_poll(qemu_get_aio_context(), false);
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        g_string_append_len(acc, buf, n);
    }
    return acc;
}

static void send_str(int fd, const char *s)
{
    g_assert_cmpint(write(fd, s, strlen(s)), ==, (ssize_t)strlen(s));
}

static void test_hold_dispatch(void)
{
    int sv[2];
    g_autoptr(GString) out = g_string_new(NULL);

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), ==, 0);
    monitor_qmp_new(NULL, sv[1], sv[1], false);
    poll_and_read(sv[0], out);
    g_assert_nonnull(strstr(out->str, "\"QMP\""));      /* greeting at once */

    monitor_hold_dispatch(true);
    g_string_truncate(out, 0);
    send_str(sv[0], "{\"execute\": \"qmp_capabilities\", \"id\": 1}");
    poll_and_read(sv[0], out);
    g_assert_cmpstr(out->str, ==, "");                  /* held: no reply yet */

    monitor_hold_dispatch(false);
    poll_and_read(sv[0], out);
    g_assert_cmpstr(out->str, ==, "{\"return\": {}, \"id\": 1}\r\n");

    close(sv[0]);
    for (int i = 0; i < 200 && monitor_count() > 0; i++) {
        aio_poll(qemu_get_aio_context(), false);
    }
    g_assert_cmpuint(monitor_count(), ==, 0);            /* session freed on EOF */
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qemu_init_main_loop(&error_abort);
    monitor_init_globals();
    g_test_add_func("/monitor/hold-dispatch", test_hold_dispatch);
    return g_test_run();
}
