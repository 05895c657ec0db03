/*
 * blockd-io.c: an I/O exerciser in the spirit of qemu-io, built on the
 * block layer itself.  It opens one image (a file, an NBD URI, or a
 * json:{...} BlockdevOptions definition), runs the -c commands in order
 * through a BlockBackend and prints qemu-io style lines.  The exit status
 * is non-zero if opening or any command failed (including a pattern
 * mismatch).
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include <getopt.h>
#include <signal.h>
#include <json-c/json.h>
#include "block/block-backend.h"
#include "block/nbd.h"
#include "qapi/qapi-visit.h"
#include "qemu/aio.h"
#include "qemu/log.h"
#include "trace/control.h"

typedef struct IOArgs {
    const char *format;         /* -f */
    bool nocache;               /* -n */
    bool read_only;             /* -r */
} IOArgs;

static BlockBackend *blk;

/* ---- numbers ---- */

/* "4096", "0x1000", "64k", "1M", "2G", "1T"; -1 on error */
static int64_t cvtnum(const char *s)
{
    uint64_t v;

    if (qemu_strtosz(s, &v) < 0 || v > INT64_MAX) {
        return -1;
    }
    return v;
}

/* qemu-io's human-readable sizes: "1 MiB", "1.500 KiB", "512 bytes" */
static void cvtstr(double value, char *str, size_t size)
{
    static const struct {
        double unit;
        const char *suffix;
    } units[] = {
        { (double)(INT64_C(1) << 60), " EiB" },
        { (double)(INT64_C(1) << 50), " PiB" },
        { (double)TiB, " TiB" },
        { (double)GiB, " GiB" },
        { (double)MiB, " MiB" },
        { (double)KiB, " KiB" },
    };
    const char *suffix = " bytes";
    char *trim;
    size_t i;

    for (i = 0; i < ARRAY_SIZE(units); i++) {
        if (value >= units[i].unit) {
            value /= units[i].unit;
            suffix = units[i].suffix;
            break;
        }
    }
    snprintf(str, size - 8, "%.3f", value);
    trim = strstr(str, ".000");
    if (trim) {
        *trim = '\0';
    }
    g_strlcat(str, suffix, size);
}

static void print_report(const char *op, int64_t start_ns, int64_t offset,
                         int64_t bytes, bool quiet)
{
    double secs = (qemu_clock_get_ns() - start_ns) / 1e9;
    char s1[64], s2[64];

    if (quiet) {
        return;
    }
    printf("%s %" PRId64 "/%" PRId64 " bytes at offset %" PRId64 "\n",
           op, bytes, bytes, offset);
    cvtstr(bytes, s1, sizeof(s1));
    cvtstr(secs > 0 ? bytes / secs : 0, s2, sizeof(s2));
    printf("%s, 1 ops; %02d.%02d sec (%s/sec and %.4f ops/sec)\n", s1,
           (int)secs, (int)((secs - (int)secs) * 100), s2,
           secs > 0 ? 1 / secs : 0.0);
}

/* qemu-io's hex dump */
static void dump_buffer(const uint8_t *buf, int64_t offset, int64_t len)
{
    int64_t i;
    int j;

    for (i = 0; i < len; i += 16) {
        int n = MIN(16, len - i);

        printf("%08" PRIx64 ":  ", offset + i);
        for (j = 0; j < n; j++) {
            printf("%02x ", buf[i + j]);
        }
        printf(" ");
        for (j = 0; j < n; j++) {
            printf("%c", g_ascii_isprint(buf[i + j]) ? buf[i + j] : '.');
        }
        printf("\n");
    }
}

/* ---- commands ---- */

typedef struct CmdOpts {
    bool pattern_set;
    int pattern;
    bool verbose;
    bool quiet;
    bool zero;
    bool unmap;
    bool fua;
    int64_t offset;
    int64_t bytes;
} CmdOpts;

/* Parse "[-P pat] [-v] [-q] [-z] [-u] [-f] OFF LEN" as the command allows. */
static bool parse_rw_args(int argc, char **argv, const char *allowed,
                          bool need_range, CmdOpts *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        char c = argv[i][1];

        if (argv[i][2] || !strchr(allowed, c)) {
            printf("%s: invalid option -- '%s'\n", argv[0], argv[i] + 1);
            return false;
        }
        switch (c) {
        case 'P': {
            char *end;
            long v;

            if (++i >= argc) {
                printf("%s: option requires an argument -- 'P'\n", argv[0]);
                return false;
            }
            v = strtol(argv[i], &end, 0);
            if (*end || v < 0 || v > 255) {
                printf("non-numeric or out-of-range pattern '%s'\n", argv[i]);
                return false;
            }
            o->pattern_set = true;
            o->pattern = v;
            break;
        }
        case 'v':
            o->verbose = true;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'z':
            o->zero = true;
            break;
        case 'u':
            o->unmap = true;
            break;
        case 'f':
            o->fua = true;
            break;
        }
    }
    if (!need_range) {
        return true;
    }
    if (argc - i != 2) {
        printf("%s: expected OFFSET LENGTH\n", argv[0]);
        return false;
    }
    o->offset = cvtnum(argv[i]);
    if (o->offset < 0) {
        printf("non-numeric offset argument -- %s\n", argv[i]);
        return false;
    }
    o->bytes = cvtnum(argv[i + 1]);
    if (o->bytes < 0) {
        printf("non-numeric length argument -- %s\n", argv[i + 1]);
        return false;
    }
    if (o->bytes > BDRV_REQUEST_MAX_BYTES) {
        printf("length cannot exceed %" PRId64 ", given %s\n",
               (int64_t)BDRV_REQUEST_MAX_BYTES, argv[i + 1]);
        return false;
    }
    return true;
}

static int cmd_read(int argc, char **argv)
{
    CmdOpts o;
    g_autofree uint8_t *buf = NULL;
    int64_t start;
    int ret;

    if (!parse_rw_args(argc, argv, "Pvq", true, &o)) {
        return -EINVAL;
    }
    buf = g_malloc(MAX(o.bytes, 1));
    memset(buf, 0xab, o.bytes);
    start = qemu_clock_get_ns();
    ret = blk_pread(blk, o.offset, o.bytes, buf, 0);
    if (ret < 0) {
        printf("read failed: %s\n", strerror(-ret));
        return ret;
    }
    if (o.pattern_set) {
        int64_t i;

        for (i = 0; i < o.bytes; i++) {
            if (buf[i] != o.pattern) {
                printf("Pattern verification failed at offset %" PRId64
                       ", %" PRId64 " bytes\n", o.offset, o.bytes);
                ret = -EILSEQ;
                break;
            }
        }
    }
    if (o.verbose) {
        dump_buffer(buf, o.offset, o.bytes);
    }
    print_report("read", start, o.offset, o.bytes, o.quiet);
    return ret;
}

static int cmd_write(int argc, char **argv)
{
    CmdOpts o;
    g_autofree uint8_t *buf = NULL;
    BdrvRequestFlags flags = 0;
    int64_t start;
    int ret;

    if (!parse_rw_args(argc, argv, "Pqzuf", true, &o)) {
        return -EINVAL;
    }
    if (o.unmap && !o.zero) {
        printf("-u requires -z to be specified\n");
        return -EINVAL;
    }
    if (o.zero && o.pattern_set) {
        printf("-z and -P cannot be specified at the same time\n");
        return -EINVAL;
    }
    if (o.fua) {
        flags |= BDRV_REQ_FUA;
    }
    start = qemu_clock_get_ns();
    if (o.zero) {
        if (o.unmap) {
            flags |= BDRV_REQ_MAY_UNMAP;
        }
        ret = blk_pwrite_zeroes(blk, o.offset, o.bytes, flags);
    } else {
        buf = g_malloc(MAX(o.bytes, 1));
        memset(buf, o.pattern_set ? o.pattern : 0xcd, o.bytes);
        ret = blk_pwrite(blk, o.offset, o.bytes, buf, flags);
    }
    if (ret < 0) {
        printf("write failed: %s\n", strerror(-ret));
        return ret;
    }
    print_report("wrote", start, o.offset, o.bytes, o.quiet);
    return 0;
}

static int cmd_discard(int argc, char **argv)
{
    CmdOpts o;
    int64_t start;
    int ret;

    if (!parse_rw_args(argc, argv, "q", true, &o)) {
        return -EINVAL;
    }
    start = qemu_clock_get_ns();
    ret = blk_pdiscard(blk, o.offset, o.bytes);
    if (ret < 0) {
        printf("discard failed: %s\n", strerror(-ret));
        return ret;
    }
    print_report("discard", start, o.offset, o.bytes, o.quiet);
    return 0;
}

static int cmd_flush(int argc, char **argv)
{
    int ret = blk_flush(blk);

    if (ret < 0) {
        printf("flush failed: %s\n", strerror(-ret));
    }
    return ret;
}

static int cmd_length(int argc, char **argv)
{
    int64_t len = blk_getlength(blk);
    char s[64];

    if (len < 0) {
        printf("getlength: %s\n", strerror(-len));
        return len;
    }
    cvtstr(len, s, sizeof(s));
    printf("%s\n", s);
    return 0;
}

typedef struct MapCo {
    int64_t offset;
    int64_t bytes;
    int64_t pnum;
    int ret;
    bool done;
} MapCo;

static void coroutine_fn map_entry(void *opaque)
{
    MapCo *m = opaque;

    m->ret = blk_co_block_status_above(blk, NULL, m->offset, m->bytes,
                                       &m->pnum, NULL, NULL);
    m->done = true;
}

static int block_status(int64_t offset, int64_t bytes, int64_t *pnum)
{
    MapCo m = { .offset = offset, .bytes = bytes };
    Coroutine *co = qemu_coroutine_create(map_entry, &m);

    qemu_coroutine_enter(co);
    AIO_POLL_WHILE(qemu_get_aio_context(), !m.done);
    *pnum = m.pnum;
    return m.ret;
}

static const char *map_status(int flags)
{
    if (flags & BDRV_BLOCK_DATA) {
        return flags & BDRV_BLOCK_ZERO ? "data, zero" : "data";
    }
    return flags & BDRV_BLOCK_ZERO ? "hole, zero" : "hole";
}

/*
 * One line per run of equal status, in qemu-io's map layout:
 * "64 KiB (0x10000) bytes     data at offset 0 bytes (0x0)"
 */
static int cmd_map(int argc, char **argv)
{
    int64_t len = blk_getlength(blk);
    int64_t offset = 0;

    if (len < 0) {
        printf("getlength: %s\n", strerror(-len));
        return len;
    }
    while (offset < len) {
        int64_t start = offset;
        int flags = -1;

        while (offset < len) {
            int64_t pnum;
            int ret = block_status(offset, MIN(len - offset, BDRV_REQUEST_MAX_BYTES),
                                   &pnum);
            if (ret < 0) {
                printf("block_status failed: %s\n", strerror(-ret));
                return ret;
            }
            ret &= BDRV_BLOCK_DATA | BDRV_BLOCK_ZERO;
            if (flags >= 0 && ret != flags) {
                break;
            }
            flags = ret;
            if (pnum <= 0) {
                printf("block_status failed: no progress at offset %" PRId64 "\n",
                       offset);
                return -EIO;
            }
            offset += pnum;
        }
        {
            char s1[64], s2[64];
            cvtstr(offset - start, s1, sizeof(s1));
            cvtstr(start, s2, sizeof(s2));
            printf("%s (0x%" PRIx64 ") bytes %10s at offset %s (0x%" PRIx64 ")\n",
                   s1, offset - start, map_status(flags), s2, start);
        }
    }
    return 0;
}

/* ---- aio_read / aio_write / aio_flush: requests in parallel ---- */

typedef struct AioReq {
    bool is_write;
    CmdOpts o;
    uint8_t *buf;
    int64_t start_ns;
} AioReq;

static int aio_in_flight;
static int aio_failed;

static void coroutine_fn aio_entry(void *opaque)
{
    AioReq *r = opaque;
    int ret;

    if (r->is_write && r->o.zero) {
        ret = blk_co_pwrite_zeroes(blk, r->o.offset, r->o.bytes,
                                   r->o.unmap ? BDRV_REQ_MAY_UNMAP : 0);
    } else if (r->is_write) {
        ret = blk_co_pwrite(blk, r->o.offset, r->o.bytes, r->buf, 0);
    } else {
        ret = blk_co_pread(blk, r->o.offset, r->o.bytes, r->buf, 0);
    }
    if (ret < 0) {
        printf("%s failed: %s\n", r->is_write ? "aio_write" : "aio_read",
               strerror(-ret));
        aio_failed = 1;
    } else if (!r->is_write && r->o.pattern_set) {
        int64_t i;
        for (i = 0; i < r->o.bytes; i++) {
            if (r->buf[i] != r->o.pattern) {
                printf("Pattern verification failed at offset %" PRId64
                       ", %" PRId64 " bytes\n", r->o.offset, r->o.bytes);
                aio_failed = 1;
                break;
            }
        }
    }
    if (ret >= 0) {
        print_report(r->is_write ? "wrote" : "read", r->start_ns, r->o.offset,
                     r->o.bytes, r->o.quiet);
    }
    g_free(r->buf);
    g_free(r);
    aio_in_flight--;
}

static int aio_start(int argc, char **argv, bool is_write)
{
    AioReq *r = g_new0(AioReq, 1);

    if (!parse_rw_args(argc, argv, is_write ? "Pqzu" : "Pq", true, &r->o)) {
        g_free(r);
        return -EINVAL;
    }
    r->is_write = is_write;
    if (!(is_write && r->o.zero)) {
        r->buf = g_malloc(MAX(r->o.bytes, 1));
        memset(r->buf, r->o.pattern_set ? r->o.pattern : 0xcd, r->o.bytes);
    }
    r->start_ns = qemu_clock_get_ns();
    aio_in_flight++;
    qemu_coroutine_enter(qemu_coroutine_create(aio_entry, r));
    return 0;
}

static int cmd_aio_read(int argc, char **argv)
{
    return aio_start(argc, argv, false);
}

static int cmd_aio_write(int argc, char **argv)
{
    return aio_start(argc, argv, true);
}

/* Wait for all aio requests; fails if any of them failed. */
static int cmd_aio_flush(int argc, char **argv)
{
    int failed;

    AIO_POLL_WHILE(qemu_get_aio_context(), aio_in_flight > 0);
    failed = aio_failed;
    aio_failed = 0;
    return failed ? -EIO : 0;
}

typedef struct SleepCo {
    int64_t ns;
    bool done;
} SleepCo;

static void coroutine_fn sleep_entry(void *opaque)
{
    SleepCo *sc = opaque;

    qemu_co_sleep_ns(sc->ns);
    sc->done = true;
}

/* sleep MS: let the event loop run for MS milliseconds */
static int cmd_sleep(int argc, char **argv)
{
    SleepCo sc = { 0 };
    char *end;
    long ms;

    if (argc != 2) {
        printf("sleep: expected MILLISECONDS\n");
        return -EINVAL;
    }
    ms = strtol(argv[1], &end, 0);
    if (*end || ms < 0) {
        printf("sleep: invalid argument -- %s\n", argv[1]);
        return -EINVAL;
    }
    sc.ns = ms * SCALE_MS;
    qemu_coroutine_enter(qemu_coroutine_create(sleep_entry, &sc));
    AIO_POLL_WHILE(qemu_get_aio_context(), !sc.done);
    return 0;
}

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    bool writes;
} commands[] = {
    { "read",    cmd_read,    false },
    { "write",   cmd_write,   true },
    { "discard", cmd_discard, true },
    { "flush",   cmd_flush,   false },
    { "length",  cmd_length,  false },
    { "map",     cmd_map,     false },
    { "sleep",   cmd_sleep,   false },
    { "aio_read",  cmd_aio_read,  false },
    { "aio_write", cmd_aio_write, true },
    { "aio_flush", cmd_aio_flush, false },
};

static int run_command(const char *line, bool read_only)
{
    g_auto(GStrv) argv = NULL;
    GError *gerr = NULL;
    int argc;
    size_t i;

    if (!g_shell_parse_argv(line, &argc, &argv, &gerr)) {
        printf("cannot parse command '%s': %s\n", line, gerr->message);
        g_error_free(gerr);
        return -EINVAL;
    }
    for (i = 0; i < ARRAY_SIZE(commands); i++) {
        if (!strcmp(argv[0], commands[i].name)) {
            if (commands[i].writes && read_only) {
                printf("command '%s' is not available in read-only mode\n",
                       argv[0]);
                return -EPERM;
            }
            return commands[i].fn(argc, argv);
        }
    }
    printf("command \"%s\" not found\n", argv[0]);
    return -EINVAL;
}

/* ---- opening ---- */

/* nbd://HOST[:PORT][/EXPORT] and nbd+unix:///[EXPORT]?socket=PATH */
static json_object *nbd_uri_to_options(const char *uri, Error **errp)
{
    json_object *server = json_object_new_object();
    json_object *opts = json_object_new_object();
    g_autofree char *export = NULL;

    json_object_object_add(opts, "driver", json_object_new_string("nbd"));
    if (g_str_has_prefix(uri, "nbd+unix://")) {
        const char *path = uri + strlen("nbd+unix://");
        const char *q = strstr(path, "?socket=");

        if (!q || (path[0] && path[0] != '/')) {
            error_setg(errp, "nbd+unix:// URIs need the form "
                       "nbd+unix:///EXPORT?socket=PATH");
            goto fail;
        }
        export = g_strndup(path[0] ? path + 1 : path,
                           q - path - (path[0] ? 1 : 0));
        json_object_object_add(server, "type", json_object_new_string("unix"));
        json_object_object_add(server, "path",
                               json_object_new_string(q + strlen("?socket=")));
    } else {
        const char *host = uri + strlen("nbd://");
        const char *slash = strchr(host, '/');
        g_autofree char *hostport = slash ? g_strndup(host, slash - host)
                                          : g_strdup(host);
        char *colon = strrchr(hostport, ':');
        char port[16];

        if (colon && !strchr(colon, ']')) {
            *colon = '\0';
            g_strlcpy(port, colon + 1, sizeof(port));
        } else {
            snprintf(port, sizeof(port), "%d", NBD_DEFAULT_PORT);
        }
        if (hostport[0] == '[' && hostport[strlen(hostport) - 1] == ']') {
            hostport[strlen(hostport) - 1] = '\0';
            memmove(hostport, hostport + 1, strlen(hostport));
        }
        if (!hostport[0]) {
            error_setg(errp, "nbd:// URI without a host: %s", uri);
            goto fail;
        }
        export = g_strdup(slash ? slash + 1 : "");
        json_object_object_add(server, "type", json_object_new_string("inet"));
        json_object_object_add(server, "host", json_object_new_string(hostport));
        json_object_object_add(server, "port", json_object_new_string(port));
    }
    json_object_object_add(opts, "server", server);
    json_object_object_add(opts, "export", json_object_new_string(export));
    return opts;

fail:
    json_object_put(server);
    json_object_put(opts);
    return NULL;
}

static json_object *image_to_options(const char *image, const IOArgs *args,
                                     Error **errp)
{
    json_object *proto;
    json_object *opts;

    if (g_str_has_prefix(image, "json:")) {
        proto = json_tokener_parse(image + strlen("json:"));
        if (!proto || !json_object_is_type(proto, json_type_object)) {
            error_setg(errp, "Could not parse the JSON options of '%s'", image);
            json_object_put(proto);
            return NULL;
        }
    } else if (g_str_has_prefix(image, "nbd://") ||
               g_str_has_prefix(image, "nbd+unix://")) {
        proto = nbd_uri_to_options(image, errp);
        if (!proto) {
            return NULL;
        }
    } else {
        proto = json_object_new_object();
        json_object_object_add(proto, "driver", json_object_new_string("file"));
        json_object_object_add(proto, "filename", json_object_new_string(image));
    }

    if (args->nocache) {
        json_object *cache = json_object_new_object();
        json_object_object_add(cache, "direct", json_object_new_boolean(true));
        json_object_object_add(proto, "cache", cache);
    }
    if (!args->format) {
        opts = proto;
    } else {
        opts = json_object_new_object();
        json_object_object_add(opts, "driver",
                               json_object_new_string(args->format));
        json_object_object_add(opts, "file", proto);
    }
    if (!json_object_object_get_ex(opts, "node-name", NULL)) {
        json_object_object_add(opts, "node-name",
                               json_object_new_string("blockd-io"));
    }
    json_object_object_add(opts, "read-only",
                           json_object_new_boolean(args->read_only));
    if (!args->read_only) {
        json_object_object_add(opts, "discard", json_object_new_string("unmap"));
    }
    return opts;
}

static BlockBackend *open_image(const char *image, const IOArgs *args,
                                Error **errp)
{
    json_object *json;
    BlockdevOptions *options = NULL;
    BlockDriverState *bs;
    BlockBackend *b;
    uint64_t perm = BLK_PERM_CONSISTENT_READ |
                    (args->read_only ? 0 : BLK_PERM_WRITE | BLK_PERM_RESIZE);

    json = image_to_options(image, args, errp);
    if (!json) {
        return NULL;
    }
    if (!visit_type_BlockdevOptions(json, "options", &options, errp)) {
        json_object_put(json);
        return NULL;
    }
    json_object_put(json);
    bs = bdrv_open_blockdev(options, errp);
    qapi_free_BlockdevOptions(options);
    if (!bs) {
        return NULL;
    }
    b = blk_new(perm, BLK_PERM_ALL);
    if (blk_insert_bs(b, bs, errp) < 0) {
        blk_unref(b);
        bdrv_unref(bs);
        return NULL;
    }
    bdrv_unref(bs);
    return b;
}

static void usage(FILE *f)
{
    fprintf(f,
"Usage: blockd-io [-f FMT] [-n] [-r] [-T TRACE] [-c CMD]... IMAGE\n"
"\n"
"IMAGE is a file name, nbd://HOST[:PORT]/EXPORT,\n"
"nbd+unix:///EXPORT?socket=PATH, or json:{BlockdevOptions}.\n"
"\n"
"  -f, --format FMT   open a FMT node (e.g. raw) on top of the image\n"
"  -n, --nocache      cache.direct=on (O_DIRECT for files)\n"
"  -r, --read-only    open read-only\n"
"  -c, --cmd CMD      run CMD (may be repeated; run in order)\n"
"  -T, --trace [[enable=]PATTERN][,events=FILE][,file=FILE]\n"
"                     enable trace events (as blockd's --trace)\n"
"  -h, --help         this text\n"
"\n"
"Commands:\n"
"  read [-P PAT] [-v] [-q] OFF LEN   read, verify the byte pattern, hex dump\n"
"  write [-P PAT] [-z [-u]] [-f] [-q] OFF LEN\n"
"                                    write the pattern (default 0xcd), or\n"
"                                    zeroes (-z; -u may unmap); -f for FUA\n"
"  discard [-q] OFF LEN              discard (unmap) a range\n"
"  flush                             flush to stable storage\n"
"  length                            print the image size\n"
"  map                               print block status (data/zero/hole)\n"
"  sleep MS                          run the event loop for MS milliseconds\n"
"  aio_read [-P PAT] [-q] OFF LEN    start a read, do not wait for it\n"
"  aio_write [-P PAT] [-z [-u]] [-q] OFF LEN\n"
"                                    start a write, do not wait for it\n"
"  aio_flush                         wait for all aio requests\n"
"Sizes take the suffixes k, M, G, T.  The exit status is 1 if anything\n"
"failed, including a pattern mismatch.\n");
}

int main(int argc, char **argv)
{
    static const struct option long_opts[] = {
        { "format", required_argument, NULL, 'f' },
        { "nocache", no_argument, NULL, 'n' },
        { "read-only", no_argument, NULL, 'r' },
        { "cmd", required_argument, NULL, 'c' },
        { "trace", required_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    IOArgs args = { 0 };
    g_autoptr(GPtrArray) cmds = g_ptr_array_new();
    Error *err = NULL;
    int failed = 0;
    int c;
    guint i;

    while ((c = getopt_long(argc, argv, "f:nrc:T:h", long_opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            args.format = optarg;
            break;
        case 'n':
            args.nocache = true;
            break;
        case 'r':
            args.read_only = true;
            break;
        case 'c':
            g_ptr_array_add(cmds, optarg);
            break;
        case 'T':
            if (!trace_opt_parse(optarg, &err)) {
                error_report_err(err);
                return 1;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 1;
    }

    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    qemu_log_set_prefix("blockd-io");
    if (!qemu_init_main_loop(&err)) {
        error_report_err(err);
        return 1;
    }
    if (!trace_init_backends()) {
        return 1;
    }
    bdrv_init();

    blk = open_image(argv[optind], &args, &err);
    if (!blk) {
        error_prepend(&err, "can't open device %s: ", argv[optind]);
        error_report_err(err);
        return 1;
    }
    for (i = 0; i < cmds->len; i++) {
        if (run_command(g_ptr_array_index(cmds, i), args.read_only) < 0) {
            failed = 1;
        }
    }
    if (cmd_aio_flush(0, NULL) < 0) {
        failed = 1;
    }
    blk_unref(blk);
    bdrv_close_all();
    return failed;
}
