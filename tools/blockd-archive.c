/*
 * blockd-archive.c: the backup archive writer (docs/tools/blockd-archive.md).
 *
 *   blockd-archive serve ARCHIVE --disk NAME:SIZE... (--socket PATH | --port N)
 *       serve one writable NBD export per disk (nbd/server.c) and append
 *       everything written to them to ARCHIVE (tools/archive-writer.c);
 *       ends on SIGTERM/SIGINT, or with --once when the last client left.
 *   blockd-archive restore ARCHIVE DIR    recreate DIR/NAME.raw per disk
 *   blockd-archive verify ARCHIVE         check every checksum
 *   blockd-archive info ARCHIVE           disks and record counts
 *
 * The format: docs/archive-format.md (tools/archive-format.c).
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include <getopt.h>
#include <signal.h>
#include <sys/signalfd.h>
#include "archive-read.h"
#include "archive-writer.h"
#include "block/block-backend.h"
#include "block/export.h"
#include "block/nbd.h"
#include "qapi/qapi-types.h"
#include "qemu/aio.h"
#include "qemu/log.h"
#include "trace/control.h"

static void usage(FILE *f)
{
    fprintf(f,
"Usage: blockd-archive serve ARCHIVE --disk NAME:SIZE [--disk NAME:SIZE...]\n"
"                      (--socket PATH | --port PORT [--host HOST])\n"
"                      [--cluster-size BYTES] [--once]\n"
"       blockd-archive restore ARCHIVE DIR\n"
"       blockd-archive verify ARCHIVE\n"
"       blockd-archive info ARCHIVE\n"
"\n"
"serve: one writable NBD export per disk (export name = NAME); every write\n"
"is appended to ARCHIVE (zero clusters are recorded, not stored).  Ends on\n"
"SIGTERM/SIGINT, or with --once when the last NBD client disconnected.\n"
"restore: writes DIR/NAME.raw for each disk.  verify: checks every record.\n");
}

/* ---- serve ---- */

typedef struct ServeArgs {
    const char *archive;
    const char *socket;
    const char *host;
    const char *port;
    uint64_t cluster_size;
    bool once;
    GArray *disks;              /* ArchiveDisk */
} ServeArgs;

static bool serve_quit;
static bool serve_had_client;
static int serve_signal_fd = -1;

static void serve_signal(void *opaque)
{
    struct signalfd_siginfo si;

    while (read(serve_signal_fd, &si, sizeof(si)) == sizeof(si)) {
        serve_quit = true;
    }
}

static QEMUTimer *serve_timer;

/* --once: done when clients came and all have gone */
static void serve_check_clients(void *opaque)
{
    unsigned n = nbd_client_count();

    if (n) {
        serve_had_client = true;
    } else if (serve_had_client) {
        serve_quit = true;
    }
    timer_mod(serve_timer, qemu_clock_get_ns() + 50 * 1000 * 1000);
}

static bool parse_disk(const char *arg, ArchiveDisk *d)
{
    const char *colon = strrchr(arg, ':');
    uint64_t size;
    size_t i, n;

    if (!colon || colon == arg || qemu_strtosz(colon + 1, &size) < 0 || !size) {
        return false;
    }
    n = colon - arg;
    if (n > ARCHIVE_MAX_NAME || !g_ascii_isalpha(arg[0])) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (!g_ascii_isalnum(arg[i]) && !strchr("-_.", arg[i])) {
            return false;
        }
    }
    d->name = g_strndup(arg, n);
    d->size = size;
    return true;
}

static bool serve_start_nbd(ServeArgs *a, Error **errp)
{
    SocketAddress addr = { 0 };
    NbdServerOptions opts = { .addr = &addr };

    if (a->socket) {
        addr.type = SOCKET_ADDRESS_TYPE_UNIX;
        addr.u.q_unix.path = (char *)a->socket;
    } else {
        addr.type = SOCKET_ADDRESS_TYPE_INET;
        addr.u.inet.host = (char *)(a->host ? a->host : "127.0.0.1");
        addr.u.inet.port = (char *)a->port;
    }
    opts.has_max_connections = true;
    opts.max_connections = 0;
    nbd_server_start_options(&opts, errp);
    return nbd_server_is_running();
}

static bool serve_add_export(ArchiveWriter *w, uint32_t index,
                             const char *name, Error **errp)
{
    BlockExportOptions opts = {
        .type = BLOCK_EXPORT_TYPE_NBD,
        .id = (char *)name,
        .node_name = (char *)name,
        .has_writable = true,
        .writable = true,
    };
    BlockDriverState *bs = archive_writer_open_disk(w, index, errp);
    BlockExport *exp;

    if (!bs) {
        return false;
    }
    opts.u.nbd.name = (char *)name;
    exp = blk_exp_add(&opts, errp);
    /* the export's BlockBackend holds the node now */
    bdrv_unref(bs);
    return exp != NULL;
}

static void serve_block_signals(sigset_t *set)
{
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
}

static int serve_main(ServeArgs *a)
{
    ArchiveHeader h = { 0 };
    ArchiveWriterStats stats;
    ArchiveWriter *w;
    Error *err = NULL;
    sigset_t sigs;
    uint32_t i;
    int ret;

    serve_block_signals(&sigs);
    if (!qemu_init_main_loop(&err)) {
        error_report_err(err);
        return 1;
    }
    serve_signal_fd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
    if (serve_signal_fd < 0) {
        error_report("signalfd: %s", strerror(errno));
        return 1;
    }
    aio_set_fd_handler(qemu_get_aio_context(), serve_signal_fd, serve_signal,
                       NULL, NULL);
    if (!trace_init_backends()) {
        return 1;
    }
    bdrv_init();

    h.cluster_size = a->cluster_size;
    h.created = time(NULL);
    h.ndisks = a->disks->len;
    h.disks = (ArchiveDisk *)a->disks->data;
    w = archive_writer_new(a->archive, &h, &err);
    if (!w) {
        error_report_err(err);
        return 1;
    }
    if (!serve_start_nbd(a, &err)) {
        goto fail;
    }
    for (i = 0; i < h.ndisks; i++) {
        if (!serve_add_export(w, i, h.disks[i].name, &err)) {
            goto fail;
        }
    }
    if (a->once) {
        serve_timer = aio_timer_new(qemu_get_aio_context(), serve_check_clients,
                                    NULL);
        timer_mod(serve_timer, qemu_clock_get_ns());
    }
    printf("blockd-archive: serving %u disk(s) into %s\n", h.ndisks, a->archive);
    fflush(stdout);

    while (!serve_quit) {
        aio_poll(qemu_get_aio_context(), true);
    }
    if (serve_timer) {
        timer_del(serve_timer);
    }
    blk_exp_close_all();
    nbd_server_stop();
    while (archive_writer_in_flight(w)) {
        aio_poll(qemu_get_aio_context(), true);
    }
    ret = archive_writer_finish(w, &stats, &err);
    if (ret < 0) {
        error_report_err(err);
        return 1;
    }
    printf("blockd-archive: %s: %" PRIu64 " data records (%" PRIu64 " bytes), "
           "%" PRIu64 " zero records (%" PRIu64 " bytes), file %" PRIu64
           " bytes\n", a->archive, stats.data_records, stats.data_bytes,
           stats.zero_records, stats.zero_bytes, stats.file_size);
    if (stats.error) {
        error_report("writing the archive failed: %s", strerror(-stats.error));
        return 1;
    }
    return 0;

fail:
    error_report_err(err);
    nbd_server_stop();
    while (archive_writer_in_flight(w)) {
        aio_poll(qemu_get_aio_context(), true);
    }
    archive_writer_finish(w, NULL, NULL);
    unlink(a->archive);
    return 1;
}

static int cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "disk", required_argument, NULL, 'd' },
        { "socket", required_argument, NULL, 's' },
        { "port", required_argument, NULL, 'p' },
        { "host", required_argument, NULL, 'H' },
        { "cluster-size", required_argument, NULL, 'c' },
        { "once", no_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    ServeArgs a = { .cluster_size = ARCHIVE_DEFAULT_CLUSTER };
    ArchiveDisk d;
    int c;

    a.disks = g_array_new(false, false, sizeof(ArchiveDisk));
    while ((c = getopt_long(argc, argv, "d:s:p:H:c:oh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (!parse_disk(optarg, &d)) {
                error_report("Invalid --disk '%s' (expected NAME:SIZE, NAME "
                             "a node name)", optarg);
                return 1;
            }
            g_array_append_val(a.disks, d);
            break;
        case 's':
            a.socket = optarg;
            break;
        case 'p':
            a.port = optarg;
            break;
        case 'H':
            a.host = optarg;
            break;
        case 'c':
            if (qemu_strtosz(optarg, &a.cluster_size) < 0 ||
                a.cluster_size < 512 || a.cluster_size > ARCHIVE_MAX_EXTENT ||
                !is_power_of_2(a.cluster_size)) {
                error_report("Invalid --cluster-size '%s' (a power of two "
                             "from 512 to 32M)", optarg);
                return 1;
            }
            break;
        case 'o':
            a.once = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind != argc - 1 || !a.disks->len || !a.socket == !a.port) {
        usage(stderr);
        return 1;
    }
    a.archive = argv[optind];
    return serve_main(&a);
}

/* ---- restore, verify, info ---- */

static int cmd_restore(int argc, char **argv)
{
    Error *err = NULL;

    if (argc != 3) {
        usage(stderr);
        return 1;
    }
    if (!archive_restore(argv[1], argv[2], false, &err)) {
        error_prepend(&err, "%s: ", argv[1]);
        error_report_err(err);
        return 1;
    }
    return 0;
}

static int scan_file(const char *path, ArchiveHeader *h, ArchiveScanStats *stats,
                     Error **errp)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    bool ok;

    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", path);
        return -1;
    }
    ok = archive_scan(fd, h, NULL, NULL, stats, errp);
    close(fd);
    return ok ? 0 : -1;
}

static int cmd_verify(int argc, char **argv)
{
    ArchiveHeader h;
    ArchiveScanStats st;
    Error *err = NULL;

    if (argc != 2) {
        usage(stderr);
        return 1;
    }
    if (scan_file(argv[1], &h, &st, &err) < 0) {
        error_prepend(&err, "%s: ", argv[1]);
        error_report_err(err);
        archive_header_free(&h);
        return 1;
    }
    printf("%s: OK, %u disk(s), %" PRIu64 " data records (%" PRIu64 " bytes), %"
           PRIu64 " zero records (%" PRIu64 " bytes)\n", argv[1], h.ndisks,
           st.data_records, st.data_bytes, st.zero_records, st.zero_bytes);
    archive_header_free(&h);
    return 0;
}

static int cmd_info(int argc, char **argv)
{
    ArchiveHeader h;
    ArchiveScanStats st;
    Error *err = NULL;
    uint32_t i;
    int ret;

    if (argc != 2) {
        usage(stderr);
        return 1;
    }
    ret = scan_file(argv[1], &h, &st, &err);
    if (!h.disks && ret < 0) {
        error_prepend(&err, "%s: ", argv[1]);
        error_report_err(err);
        return 1;
    }
    printf("archive: %s\nversion: %u\ncluster size: %u\ndisks: %u\n", argv[1],
           h.version, h.cluster_size, h.ndisks);
    for (i = 0; i < h.ndisks; i++) {
        printf("  %s: %" PRIu64 " bytes\n", h.disks[i].name, h.disks[i].size);
    }
    printf("data records: %" PRIu64 " (%" PRIu64 " bytes)\n"
           "zero records: %" PRIu64 " (%" PRIu64 " bytes)\n",
           st.data_records, st.data_bytes, st.zero_records, st.zero_bytes);
    archive_header_free(&h);
    if (ret < 0) {
        printf("status: damaged\n");
        error_report_err(err);
        return 1;
    }
    printf("status: complete\n");
    return 0;
}

int main(int argc, char **argv)
{
    qemu_log_set_prefix("blockd-archive");
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    if (!strcmp(argv[1], "serve")) {
        return cmd_serve(argc - 1, argv + 1);
    } else if (!strcmp(argv[1], "restore")) {
        return cmd_restore(argc - 1, argv + 1);
    } else if (!strcmp(argv[1], "verify")) {
        return cmd_verify(argc - 1, argv + 1);
    } else if (!strcmp(argv[1], "info")) {
        return cmd_info(argc - 1, argv + 1);
    } else if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 1;
}
