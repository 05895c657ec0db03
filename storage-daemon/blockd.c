/*
 * blockd.c: main() of the blockd storage daemon.
 *
 * The command line follows qemu-storage-daemon's: options are handled
 * strictly in command-line order (define a chardev before the monitor that
 * uses it, a node before its export), any error is fatal at start-up with
 * exit status 1.  Then the main loop runs until `quit` or a signal.
 */
#include "qemu/osdep.h"
#include "block/export.h"
#include "block/nbd.h"
#include "qapi/qapi-visit.h"
#include "qapi/visitor.h"
#include "qemu/aio.h"
#include "qemu/keyval.h"
#include "qemu/log.h"
#include "block/block.h"
#include "block/qmp-blockdev.h"
#include "qemu/job.h"
#include "monitor/chardev.h"
#include "monitor/monitor.h"
#include "qapi/qapi-events.h"
#include "sysemu/os-posix.h"
#include "sysemu/runstate.h"
#include "trace/control.h"
#include "trace/trace-storage_daemon.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>

enum {
    OPTION_BLOCKDEV = 256,
    OPTION_CHARDEV,
    OPTION_DAEMONIZE,
    OPTION_EXPORT,
    OPTION_MONITOR,
    OPTION_NBD_SERVER,
    OPTION_OBJECT,
    OPTION_PIDFILE,
};

static const struct option long_options[] = {
    { "blockdev", required_argument, NULL, OPTION_BLOCKDEV },
    { "chardev", required_argument, NULL, OPTION_CHARDEV },
    { "daemonize", no_argument, NULL, OPTION_DAEMONIZE },
    { "export", required_argument, NULL, OPTION_EXPORT },
    { "help", no_argument, NULL, 'h' },
    { "monitor", required_argument, NULL, OPTION_MONITOR },
    { "nbd-server", required_argument, NULL, OPTION_NBD_SERVER },
    { "object", required_argument, NULL, OPTION_OBJECT },
    { "pidfile", required_argument, NULL, OPTION_PIDFILE },
    { "trace", required_argument, NULL, 'T' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 }
};
static const char short_options[] = "-:hT:V";

static void help(void)
{
    printf(
"Usage: blockd [options]\n"
"blockd: a block-job engine and storage daemon, compatible with qemu-storage-daemon\n"
"\n"
"  -h, --help             display this help and exit\n"
"  -T, --trace [[enable=]<pattern>][,events=<file>][,file=<file>]\n"
"                         specify tracing options (--trace help lists events)\n"
"  -V, --version          output version information and exit\n"
"\n"
"  --blockdev [driver=]<driver>[,node-name=<N>][,discard=ignore|unmap]\n"
"             [,cache.direct=on|off][,cache.no-flush=on|off]\n"
"             [,read-only=on|off][,auto-read-only=on|off]\n"
"             [,force-share=on|off][,detect-zeroes=on|off|unmap]\n"
"             [,driver specific parameters...]\n"
"                         configure a block backend (same as QMP blockdev-add;\n"
"                         a JSON object is accepted too)\n"
"\n"
"  --chardev <options>    configure a character device backend: socket with\n"
"                         path=<unix path> or host=<host>,port=<port>, and\n"
"                         server=on|off, wait=on|off; or stdio\n"
"\n"
"  --daemonize            daemonize the process, and have the parent exit\n"
"                         once start-up is complete\n"
"\n"
"  --export [type=]nbd,id=<id>,node-name=<node-name>[,name=<export-name>]\n"
"           [,writable=on|off][,bitmaps.0=<name>]\n"
"                         export the specified block node over NBD\n"
"                         (requires --nbd-server)\n"
"\n"
"  --monitor [chardev=]name[,mode=control][,pretty[=on|off]]\n"
"                         configure a QMP monitor\n"
"\n"
"  --nbd-server addr.type=inet,addr.host=<host>,addr.port=<port>\n"
"               [,max-connections=<n>]\n"
"  --nbd-server addr.type=unix,addr.path=<path>[,max-connections=<n>]\n"
"                         start an NBD server for exporting block nodes\n"
"\n"
"  --object help          list object types that can be added\n"
"  --object <type>,help   list properties for the given object type\n"
"  --object <type>[,<property>=<value>...]\n"
"                         create a new object of type <type>, setting\n"
"                         properties in the order they are specified.\n"
"\n"
"  --pidfile <path>       write process ID to a file after startup\n"
"\n"
"Documentation: docs/ in the blockd source tree.\n");
}

static void version(void)
{
    printf("blockd version " BLOCKD_VERSION "\n"
           "QMP-compatible with qemu-storage-daemon\n");
}

static QEMU_NORETURN void fatal_err(Error *err)
{
    error_report_err(err);
    exit(1);
}

/* First pass: options that must act before anything else is set up. */
static void process_early_options(int argc, char **argv, bool *daemonize,
                                  const char **pidfile)
{
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
        switch (c) {
        case 'h':
            help();
            exit(0);
        case 'V':
            version();
            exit(0);
        case OPTION_DAEMONIZE:
            *daemonize = true;
            break;
        case OPTION_PIDFILE:
            *pidfile = optarg;
            break;
        case '?':
            if (optopt > 0 && optopt < 256 && g_ascii_isprint(optopt)) {
                error_report("Unknown option '-%c'", optopt);
            } else {
                error_report("Unknown option '%s'", argv[optind - 1]);
            }
            exit(1);
        case ':':
            error_report("Option '%s' requires an argument", argv[optind - 1]);
            exit(1);
        case 1:
            error_report("Unexpected argument: %s", optarg);
            exit(1);
        default:
            break;
        }
    }
}

/* A JSON object, or keyval with implied_key (string leaves). */
static json_object *option_parse(const char *optarg, const char *implied_key,
                                 bool *keyval, Error **errp)
{
    json_object *obj;

    *keyval = optarg[0] != '{';
    if (*keyval) {
        return keyval_parse(optarg, implied_key, errp);
    }
    obj = json_tokener_parse(optarg);
    if (!obj || !json_object_is_type(obj, json_type_object)) {
        json_object_put(obj);
        error_setg(errp, "Invalid JSON object given");
        return NULL;
    }
    return obj;
}

/* --nbd-server: nbd-server-start with the flat address form */
static bool nbd_server_option(const char *optarg, Error **errp)
{
    NbdServerOptions *opts = NULL;
    bool keyval, ok;
    json_object *obj = option_parse(optarg, NULL, &keyval, errp);

    if (!obj) {
        return false;
    }
    qapi_visit_keyval_mode(keyval);
    ok = visit_type_NbdServerOptions(obj, NULL, &opts, errp);
    qapi_visit_keyval_mode(false);
    json_object_put(obj);
    if (!ok) {
        return false;
    }
    nbd_server_start_options(opts, errp);
    ok = nbd_server_is_running();
    qapi_free_NbdServerOptions(opts);
    return ok;
}

/* --export: block-export-add */
static bool export_option(const char *optarg, Error **errp)
{
    BlockExportOptions *opts = NULL;
    bool keyval, ok;
    json_object *obj = option_parse(optarg, "type", &keyval, errp);

    if (!obj) {
        return false;
    }
    qapi_visit_keyval_mode(keyval);
    ok = visit_type_BlockExportOptions(obj, NULL, &opts, errp);
    qapi_visit_keyval_mode(false);
    json_object_put(obj);
    if (!ok) {
        return false;
    }
    ok = blk_exp_add(opts, errp) != NULL;
    qapi_free_BlockExportOptions(opts);
    return ok;
}

static void option_not_available(const char *name)
{
    error_report("--%s is not available in this build of blockd yet", name);
    exit(1);
}

/* Second pass: everything else, strictly in command-line order. */
static void process_options(int argc, char **argv)
{
    Error *err = NULL;
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
        switch (c) {
        case 'T':
            if (!trace_opt_parse(optarg, &err)) {
                fatal_err(err);
            }
            break;
        case OPTION_CHARDEV:
            if (!chardev_new_from_opts(optarg, &err)) {
                fatal_err(err);
            }
            break;
        case OPTION_MONITOR:
            if (!monitor_init_opts(optarg, &err)) {
                fatal_err(err);
            }
            break;
        case OPTION_BLOCKDEV:
            if (!blockdev_add_cmdline(optarg, &err)) {
                error_prepend(&err, "--blockdev %s: ", optarg);
                fatal_err(err);
            }
            break;
        case OPTION_EXPORT:
            if (!export_option(optarg, &err)) {
                error_prepend(&err, "--export %s: ", optarg);
                fatal_err(err);
            }
            break;
        case OPTION_NBD_SERVER:
            if (!nbd_server_option(optarg, &err)) {
                error_prepend(&err, "--nbd-server %s: ", optarg);
                fatal_err(err);
            }
            break;
        case OPTION_OBJECT:
            option_not_available("object");
            break;
        default:
            break;     /* handled in the first pass */
        }
    }
}

/* SIGTERM, SIGINT and SIGHUP arrive through a signalfd in the main loop. */
static int signal_fd = -1;

static void signal_ready(void *opaque)
{
    struct signalfd_siginfo si;

    while (read(signal_fd, &si, sizeof(si)) == sizeof(si)) {
        qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_SIGNAL);
    }
}

static void signals_block(sigset_t *set)
{
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
    /* before any thread exists, so that workers inherit the mask */
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

static void signals_init(sigset_t *set)
{
    signal_fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd < 0) {
        error_report("signalfd: %s", strerror(errno));
        exit(1);
    }
    aio_set_fd_handler(qemu_get_aio_context(), signal_fd, signal_ready, NULL, NULL);
}

static void daemon_shutdown(ShutdownCause cause)
{
    trace_blockd_main_loop_exit(ShutdownCause_str(cause));
    qapi_event_send_shutdown(false, cause);
    /* Exports go first: they hold nodes and clients hold exports */
    blk_exp_close_all();
    nbd_server_stop();
    /* Jobs hold nodes too: cancel them and wait before closing */
    job_cancel_sync_all();
    bdrv_close_all();
    monitor_cleanup();
    chardev_cleanup_all();
    os_remove_pidfile();
}

int main(int argc, char **argv)
{
    bool daemonize = false;
    const char *pidfile = NULL;
    Error *err = NULL;
    ShutdownCause cause;
    sigset_t sigs;

    qemu_log_set_prefix("blockd");
    process_early_options(argc, argv, &daemonize, &pidfile);
    if (daemonize) {
        os_daemonize();
    }
    signals_block(&sigs);
    if (!qemu_init_main_loop(&err)) {
        fatal_err(err);
    }
    signals_init(&sigs);
    bdrv_init();
    monitor_init_globals();
    /* clients may connect during start-up; their commands wait until it is done */
    monitor_hold_dispatch(true);
    process_options(argc, argv);
    if (!trace_init_backends()) {
        exit(1);              /* it has said why */
    }
    if (pidfile && !os_write_pidfile(pidfile, &err)) {
        error_prepend(&err, "cannot create PID file: ");
        fatal_err(err);
    }
    os_setup_post();
    monitor_hold_dispatch(false);

    while (!qemu_shutdown_requested(&cause)) {
        aio_poll(qemu_get_aio_context(), true);
    }
    daemon_shutdown(cause);
    return 0;
}
