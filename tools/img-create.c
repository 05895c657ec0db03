/*
 * img-create.c: "blockd-img create" and "blockd-img resize" (qemu-img's):
 * create parses qemu-img's -o options for the format, prints the
 * "Formatting ..." line and runs blockdev-create jobs (the protocol file
 * first, then the format on it) through the job core; resize truncates
 * the image through a BlockBackend.
 */
#include "img-common.h"
#include <getopt.h>
#include "qemu/job.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"

typedef enum OptType {
    OPT_STRING,
    OPT_BOOL,
    OPT_NUMBER,
    OPT_SIZE,
} OptType;

/* One -o option of a format (QEMU's QemuOptDesc for its create_opts) */
typedef struct CreateOpt {
    const char *name;
    OptType type;
    const char *help;
    const char *def;                /* printed in "Formatting" when unset */
    const char *qapi;               /* member of BlockdevCreateOptions<Fmt> */
    bool protocol;                  /* the file's option (not in -o help) */
    bool unsupported;               /* listed in -o help, refused when used */
} CreateOpt;

/* In qemu-img's "Formatting" order */
static const CreateOpt raw_opts[] = {
    { "size", OPT_SIZE, "Virtual disk size", NULL, "size" },
    { "preallocation", OPT_STRING, "Preallocation mode (allowed values: off, "
      "falloc, full)", NULL, "preallocation", true },
    { "nocow", OPT_BOOL, "Turn off copy-on-write (valid only on btrfs)", NULL,
      "nocow", true },
    { "extent_size_hint", OPT_SIZE, "Extent size hint for the image file, 0 to "
      "disable", NULL, "extent-size-hint", true },
    { NULL },
};

static const CreateOpt qcow2_opts[] = {
    { "cluster_size", OPT_SIZE, "qcow2 cluster size", "65536", "cluster-size" },
    { "extended_l2", OPT_BOOL, "Extended L2 tables", "off", "extended-l2" },
    { "preallocation", OPT_STRING, "Preallocation mode (allowed values: off, "
      "metadata, falloc, full)", NULL, "preallocation" },
    { "compression_type", OPT_STRING, "Compression method used for image "
      "cluster compression", "zlib", "compression-type" },
    { "size", OPT_SIZE, "Virtual disk size", NULL, "size" },
    { "compat", OPT_STRING, "Compatibility level (v2 [0.10] or v3 [1.1])", NULL,
      "version" },
    { "backing_file", OPT_STRING, "File name of a base image", NULL,
      "backing-file" },
    { "backing_fmt", OPT_STRING, "Image format of the base image", NULL,
      "backing-fmt" },
    { "data_file", OPT_STRING, "File name of an external data file", NULL,
      NULL, false, true },
    { "data_file_raw", OPT_BOOL, "The external data file must stay valid as a "
      "raw image", NULL, NULL, false, true },
    { "encryption", OPT_BOOL, "Encrypt the image with format 'aes'. "
      "(Deprecated in favor of encrypt.format=aes)", NULL, NULL, false, true },
    { "encrypt.format", OPT_STRING, "Encrypt the image, format choices: 'aes', "
      "'luks'", NULL, NULL, false, true },
    { "encrypt.key-secret", OPT_STRING, "ID of secret providing qcow AES key or "
      "LUKS passphrase", NULL, NULL, false, true },
    { "encrypt.cipher-alg", OPT_STRING, "Name of encryption cipher algorithm",
      NULL, NULL, false, true },
    { "encrypt.cipher-mode", OPT_STRING, "Name of encryption cipher mode", NULL,
      NULL, false, true },
    { "encrypt.ivgen-alg", OPT_STRING, "Name of IV generator algorithm", NULL,
      NULL, false, true },
    { "encrypt.ivgen-hash-alg", OPT_STRING, "Name of IV generator hash "
      "algorithm", NULL, NULL, false, true },
    { "encrypt.hash-alg", OPT_STRING, "Name of encryption hash algorithm", NULL,
      NULL, false, true },
    { "encrypt.iter-time", OPT_NUMBER, "Time to spend in PBKDF in milliseconds",
      NULL, NULL, false, true },
    { "lazy_refcounts", OPT_BOOL, "Postpone refcount updates", "off",
      "lazy-refcounts" },
    { "refcount_bits", OPT_NUMBER, "Width of a reference count entry in bits",
      "16", "refcount-bits" },
    { "nocow", OPT_BOOL, "Turn off copy-on-write (valid only on btrfs)", NULL,
      NULL, true },
    { "extent_size_hint", OPT_SIZE, "Extent size hint for the image file, 0 to "
      "disable", NULL, NULL, true },
    { NULL },
};

static const CreateOpt *format_opts(const char *fmt)
{
    return !strcmp(fmt, "qcow2") ? qcow2_opts : raw_opts;
}

static const char *const opt_type_names[] = {
    [OPT_STRING] = "str", [OPT_BOOL] = "bool (on/off)",
    [OPT_NUMBER] = "num", [OPT_SIZE] = "size",
};

static int opt_cmp(const void *a, const void *b)
{
    return strcmp((*(const CreateOpt *const *)a)->name,
                  (*(const CreateOpt *const *)b)->name);
}

static void print_opts_help(const char *fmt)
{
    const CreateOpt *o = format_opts(fmt);
    g_autoptr(GPtrArray) sorted = g_ptr_array_new();
    guint i;

    for (; o->name; o++) {
        if (!o->protocol) {
            g_ptr_array_add(sorted, (gpointer)o);
        }
    }
    qsort(sorted->pdata, sorted->len, sizeof(gpointer), opt_cmp);
    printf("Supported %s options:\n", fmt);
    for (i = 0; i < sorted->len; i++) {
        const CreateOpt *d = sorted->pdata[i];
        g_autofree char *lhs = g_strdup_printf("%s=<%s>", d->name,
                                               opt_type_names[d->type]);

        printf("  %-22s - %s\n", lhs, d->help);
    }
    printf("\nThe protocol level may support further options.\n"
           "Specify the target filename to include those options.\n");
}

static const CreateOpt *find_opt(const CreateOpt *o, const char *name)
{
    for (; o->name; o++) {
        if (!strcmp(o->name, name)) {
            return o;
        }
    }
    return NULL;
}

static bool add_qapi_opt(json_object *obj, const CreateOpt *d, const char *value,
                         Error **errp);

/* Parse "a=1,b=2" (",," escapes a comma) into values[] of the format's table */
static bool parse_create_opts(const char *fmt, const char *optstr,
                              GHashTable *values, Error **errp)
{
    const CreateOpt *table = format_opts(fmt);
    const CreateOpt *d;
    const char *p = optstr;

    while (p && *p) {
        GString *item = g_string_new(NULL);
        g_autofree char *key = NULL;
        char *eq;

        for (; *p; p++) {
            if (*p == ',') {
                if (p[1] == ',') {
                    p++;
                } else {
                    p++;
                    break;
                }
            }
            g_string_append_c(item, *p);
        }
        key = g_string_free(item, false);
        if (!*key) {
            continue;
        }
        eq = strchr(key, '=');
        if (eq) {
            *eq = '\0';
        }
        if (!find_opt(table, key)) {
            error_setg(errp, "Invalid parameter '%s'", key);
            return false;
        }
        if (!eq) {
            error_setg(errp, "Parameter '%s' is missing a value", key);
            return false;
        }
        d = find_opt(table, key);
        if (d->unsupported) {
            error_setg(errp, "Parameter '%s' is not supported by blockd-img", key);
            return false;
        }
        if (!strcmp(key, "size") && g_hash_table_contains(values, "size")) {
            error_setg(errp, "The image size must be specified only once");
            return false;
        }
        if (d->type != OPT_STRING) {
            /* checked now, as QEMU parses typed options before "Formatting" */
            json_object *scratch = json_object_new_object();
            CreateOpt typed = *d;
            bool ok;

            typed.qapi = "v";
            ok = add_qapi_opt(scratch, &typed, eq + 1, errp);
            if (ok && (d->type == OPT_SIZE || d->type == OPT_NUMBER)) {
                g_hash_table_replace(values, g_strdup(key), g_strdup_printf(
                    "%" PRId64, json_object_get_int64(
                        json_object_object_get(scratch, "v"))));
            } else if (ok) {
                g_hash_table_replace(values, g_strdup(key), g_strdup(eq + 1));
            }
            json_object_put(scratch);
            if (!ok) {
                return false;
            }
            continue;
        }
        g_hash_table_replace(values, g_strdup(key), g_strdup(eq + 1));
    }
    return true;
}

/* Add opt=value to the QAPI create options (as the QAPI type of the member) */
static bool add_qapi_opt(json_object *obj, const CreateOpt *d, const char *value,
                         Error **errp)
{
    json_object *v;

    if (!d->qapi) {
        return true;
    }
    switch (d->type) {
    case OPT_BOOL:
        if (!strcmp(value, "on") || !strcmp(value, "yes") || !strcmp(value, "true")) {
            v = json_object_new_boolean(true);
        } else if (!strcmp(value, "off") || !strcmp(value, "no") ||
                   !strcmp(value, "false")) {
            v = json_object_new_boolean(false);
        } else {
            error_setg(errp, "Parameter '%s' expects 'on' or 'off'", d->name);
            return false;
        }
        break;
    case OPT_SIZE:
    case OPT_NUMBER: {
        int64_t n = img_parse_size(value);

        if (n < 0 || (d->type == OPT_NUMBER && !g_ascii_isdigit(value[strlen(value) - 1]))) {
            error_setg(errp, "Parameter '%s' expects %s", d->name,
                       d->type == OPT_SIZE ?
                       "a non-negative number below 2^64" : "a number");
            return false;
        }
        v = json_object_new_int64(n);
        break;
    }
    default:
        if (!strcmp(d->name, "compat")) {
            /* other values reach blockdev-create, which names them */
            if (!strcmp(value, "0.10")) {
                value = "v2";
            } else if (!strcmp(value, "1.1")) {
                value = "v3";
            }
        }
        v = json_object_new_string(value);
    }
    json_object_object_add(obj, d->qapi, v);
    return true;
}

/* ---- running blockdev-create jobs ---- */

/* blockdev-create with these options as job "img-create"; wait for it. */
static int run_create_job(json_object *json, Error **errp)
{
    static unsigned counter;
    g_autofree char *id = g_strdup_printf("img-create%u", counter++);
    BlockdevCreateOptions *opts = NULL;
    Error *local_err = NULL;
    Job *job, *dismiss;
    int ret;

    if (!visit_type_BlockdevCreateOptions(json, NULL, &opts, errp)) {
        return -EINVAL;
    }
    qmp_blockdev_create(id, opts, &local_err);
    qapi_free_BlockdevCreateOptions(opts);
    if (local_err) {
        error_propagate(errp, local_err);
        return -EINVAL;
    }
    job = job_get(id);
    g_assert(job);
    job_ref(job);
    while (job->status != JOB_STATUS_CONCLUDED) {
        aio_poll(qemu_get_aio_context(), true);
    }
    ret = job->ret;
    if (job->err) {
        error_propagate(errp, error_copy(job->err));
    } else if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not create image");
    }
    dismiss = job;
    job_dismiss(&dismiss, &local_err);
    error_free(local_err);
    job_unref(job);
    return ret;
}

static BlockDriver *create_driver(const char *fmt, Error **errp)
{
    BlockDriver *drv = bdrv_find_format(fmt);

    if (!drv || (!drv->is_format && strcmp(fmt, "file"))) {
        error_setg(errp, "Unknown file format '%s'", fmt);
        return NULL;
    }
    if (strcmp(fmt, "raw") && !drv->bdrv_co_create) {
        error_setg(errp, "Format driver '%s' does not support image creation",
                   fmt);
        return NULL;
    }
    return drv;
}

/* The protocol file: driver file with the options the format passes down */
static int create_file(const char *filename, int64_t size, GHashTable *values,
                       bool is_raw, Error **errp)
{
    json_object *json = json_object_new_object();
    const char *v;
    int ret = 0;

    json_object_object_add(json, "driver", json_object_new_string("file"));
    json_object_object_add(json, "filename", json_object_new_string(filename));
    json_object_object_add(json, "size", json_object_new_int64(size));
    if (is_raw && (v = g_hash_table_lookup(values, "preallocation"))) {
        if (!add_qapi_opt(json, find_opt(raw_opts, "preallocation"), v, errp)) {
            ret = -EINVAL;
        }
    }
    if (!ret && (v = g_hash_table_lookup(values, "nocow"))) {
        ret = add_qapi_opt(json, find_opt(raw_opts, "nocow"), v, errp) ? 0 : -EINVAL;
    }
    if (!ret && (v = g_hash_table_lookup(values, "extent_size_hint"))) {
        ret = add_qapi_opt(json, find_opt(raw_opts, "extent_size_hint"), v, errp) ?
              0 : -EINVAL;
    }
    if (!ret) {
        ret = run_create_job(json, errp);
    }
    json_object_put(json);
    return ret;
}

static int create_qcow2(const char *filename, int64_t size, GHashTable *values,
                        Error **errp)
{
    static const char *const file_node = "img-create-file";
    json_object *json, *fopts;
    BlockdevOptions *bopts = NULL;
    BlockDriverState *file;
    GHashTableIter iter;
    gpointer k, v;
    int ret;

    ret = create_file(filename, 0, values, false, errp);
    if (ret < 0) {
        return ret;
    }
    fopts = json_object_new_object();
    json_object_object_add(fopts, "driver", json_object_new_string("file"));
    json_object_object_add(fopts, "filename", json_object_new_string(filename));
    json_object_object_add(fopts, "node-name", json_object_new_string(file_node));
    {
        /* qemu-img creates images without syncing them (the caller may) */
        json_object *cache = json_object_new_object();

        json_object_object_add(cache, "no-flush", json_object_new_boolean(true));
        json_object_object_add(fopts, "cache", cache);
    }
    if (!visit_type_BlockdevOptions(fopts, NULL, &bopts, errp)) {
        json_object_put(fopts);
        return -EINVAL;
    }
    json_object_put(fopts);
    file = bdrv_open_blockdev(bopts, errp);
    qapi_free_BlockdevOptions(bopts);
    if (!file) {
        return -EIO;
    }

    json = json_object_new_object();
    json_object_object_add(json, "driver", json_object_new_string("qcow2"));
    json_object_object_add(json, "file", json_object_new_string(file_node));
    json_object_object_add(json, "size", json_object_new_int64(size));
    g_hash_table_iter_init(&iter, values);
    while (g_hash_table_iter_next(&iter, &k, &v)) {
        const CreateOpt *d = find_opt(qcow2_opts, k);

        if (strcmp(k, "size") && !add_qapi_opt(json, d, v, errp)) {
            ret = -EINVAL;
            break;
        }
    }
    if (!ret) {
        ret = run_create_job(json, errp);
    }
    json_object_put(json);
    bdrv_unref(file);
    return ret;
}

/* The "Formatting" line: each option set, or its default, in table order */
static void print_formatting(const char *filename, const char *fmt,
                             GHashTable *values)
{
    const CreateOpt *o;

    printf("Formatting '%s', fmt=%s", filename, fmt);
    for (o = format_opts(fmt); o->name; o++) {
        const char *v = g_hash_table_lookup(values, o->name);

        if (!v) {
            v = o->def;
        }
        if (v) {
            printf(" %s=%s", o->name, v);
        }
    }
    printf("\n");
    fflush(stdout);
}

/* The backing file's name relative to the new image (QEMU's path_combine) */
static char *backing_path(const char *filename, const char *backing)
{
    const char *slash = strrchr(filename, '/');

    if (backing[0] == '/' || !slash || strstr(backing, "://")) {
        return g_strdup(backing);
    }
    return g_strdup_printf("%.*s%s", (int)(slash - filename + 1), filename,
                           backing);
}

/* The size of the backing file (opened as qemu-img does), or -errno */
static int64_t backing_size(const char *filename, const char *backing,
                            const char *backing_fmt, Error **errp)
{
    g_autofree char *full = backing_path(filename, backing);
    BlockBackend *blk;
    int64_t size;

    blk = img_open(full, backing_fmt, IMG_OPEN_NO_BACKING | IMG_OPEN_SHARE |
                   IMG_OPEN_BARE_ERRORS, errp);
    if (!blk) {
        return -EIO;
    }
    size = blk_getlength(blk);
    img_close(blk);
    return size;
}

int img_do_create(const char *filename, const char *fmt, const char *base,
                  const char *base_fmt, const char *options, int64_t size,
                  bool unsafe, bool quiet, Error **errp)
{
    g_autoptr(GHashTable) values = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                         g_free, g_free);
    BlockDriver *drv;
    const char *v;
    int ret;

    drv = create_driver(fmt, errp);
    if (!drv) {
        return -EINVAL;
    }
    if (!parse_create_opts(fmt, options, values, errp)) {
        return -EINVAL;
    }
    if (base) {
        g_hash_table_replace(values, g_strdup("backing_file"), g_strdup(base));
    }
    if (base_fmt) {
        g_hash_table_replace(values, g_strdup("backing_fmt"), g_strdup(base_fmt));
    }
    if (size >= 0 && g_hash_table_contains(values, "size")) {
        error_setg(errp, "The image size must be specified only once");
        return -EINVAL;
    }
    if (size >= 0) {
        g_hash_table_replace(values, g_strdup("size"),
                             g_strdup_printf("%" PRId64, size));
    } else if ((v = g_hash_table_lookup(values, "size"))) {
        size = img_parse_size(v);
        if (size < 0) {
            error_setg(errp, "Parameter 'size' expects a non-negative number "
                       "below 2^64");
            return -EINVAL;
        }
        g_hash_table_replace(values, g_strdup("size"),
                             g_strdup_printf("%" PRId64, size));
    }
    base = g_hash_table_lookup(values, "backing_file");
    base_fmt = g_hash_table_lookup(values, "backing_fmt");
    if (base && !drv->supports_backing) {
        error_setg(errp, "Backing file not supported for file format '%s'", fmt);
        return -EINVAL;
    }
    if (base && !base_fmt) {
        g_autofree char *full = backing_path(filename, base);
        const char *probed = img_probe_format(full, NULL);

        error_setg(errp, "Backing file specified without backing format");
        if (probed) {
            error_append_hint(errp, "Detected format of %s.", probed);
        }
        return -EINVAL;
    }
    if (base && !unsafe) {
        int64_t bsize = backing_size(filename, base, base_fmt, errp);

        if (bsize < 0) {
            error_append_hint(errp, "Could not open backing image.\n");
            return -EINVAL;
        }
        if (size < 0) {
            size = bsize;
            g_hash_table_replace(values, g_strdup("size"),
                                 g_strdup_printf("%" PRId64, size));
        }
    }
    if (size < 0) {
        error_setg(errp, "Image creation needs a size parameter");
        return -EINVAL;
    }
    if (!quiet) {
        print_formatting(filename, fmt, values);
    }
    if (!strcmp(fmt, "qcow2")) {
        ret = create_qcow2(filename, size, values, errp);
    } else {
        ret = create_file(filename, size, values, true, errp);
    }
    return ret;
}

int img_create(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    ImgOptions o = { .fmt = "raw" };
    const char *base = NULL, *base_fmt = NULL, *filename;
    g_autofree char *options = NULL;
    int64_t size = -1;
    bool unsafe = false;
    Error *err = NULL;
    int c;

    while ((c = img_getopt(argc, argv, ":F:b:f:ho:qu", long_options, &o)) != -1) {
        switch (c) {
        case 'F':
            base_fmt = optarg;
            break;
        case 'b':
            base = optarg;
            break;
        case 'o':
            img_append_options(&options, optarg);
            break;
        case 'u':
            unsafe = true;
            break;
        }
    }
    if (options && (!strcmp(options, "help") || !strcmp(options, "?"))) {
        if (!bdrv_find_format(o.fmt)) {
            error_report("Unknown file format '%s'", o.fmt);
            return 1;
        }
        print_opts_help(o.fmt);
        return 0;
    }
    if (optind >= argc) {
        return img_usage_error("Expecting image file name");
    }
    filename = argv[optind++];
    if (optind < argc) {
        size = img_parse_size_arg(argv[optind], "image size");
        if (size < 0) {
            return 1;
        }
        optind++;
    }
    if (optind != argc) {
        return img_usage_error("Unexpected argument: %s", argv[optind]);
    }
    if (img_do_create(filename, o.fmt, base, base_fmt, options, size, unsafe,
                      o.quiet, &err) < 0) {
        error_prepend(&err, "%s: ", filename);
        error_report_err(err);
        return 1;
    }
    return 0;
}

/* ---- resize ---- */

typedef struct ResizeCo {
    BlockBackend *blk;
    int64_t size;
    PreallocMode prealloc;
    Error **errp;
    int ret;
} ResizeCo;

static void coroutine_fn resize_co(void *opaque)
{
    ResizeCo *r = opaque;

    r->ret = blk_co_truncate(r->blk, r->size, false, r->prealloc, 0, r->errp);
}

int img_resize(int argc, char **argv)
{
    enum { OPTION_PREALLOCATION = IMG_OPTION_SUBCOMMAND, OPTION_SHRINK };
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "preallocation", required_argument, NULL, OPTION_PREALLOCATION },
        { "shrink", no_argument, NULL, OPTION_SHRINK },
        { NULL, 0, NULL, 0 },
    };
    ImgOptions o = { 0 };
    const char *filename, *size_arg;
    PreallocMode prealloc = PREALLOC_MODE_OFF;
    bool shrink = false;
    int64_t n, current, total;
    int relative = 0;
    BlockBackend *blk;
    Error *err = NULL;
    ResizeCo r;
    int c;

    /* "-SIZE" must not be taken for an option: hide it from getopt */
    if (argc < 3) {
        return img_usage_error("Not enough arguments");
    }
    size_arg = argv[--argc];
    while ((c = img_getopt(argc, argv, ":f:hq", long_options, &o)) != -1) {
        switch (c) {
        case OPTION_PREALLOCATION: {
            int i;

            for (i = 0; i < PREALLOC_MODE__MAX; i++) {
                if (!strcmp(optarg, PreallocMode_str(i))) {
                    break;
                }
            }
            if (i == PREALLOC_MODE__MAX) {
                error_report("Invalid preallocation mode '%s'", optarg);
                return 1;
            }
            prealloc = i;
            break;
        }
        case OPTION_SHRINK:
            shrink = true;
            break;
        }
    }
    if (optind != argc - 1) {
        return img_usage_error("Expecting image file name and size");
    }
    filename = argv[optind];

    if (size_arg[0] == '+' || size_arg[0] == '-') {
        relative = size_arg[0] == '+' ? 1 : -1;
        size_arg++;
    }
    n = img_parse_size_arg(size_arg, "image size");
    if (n < 0) {
        return 1;
    }
    blk = img_open(filename, o.fmt, IMG_OPEN_RDWR, &err);
    if (!blk) {
        error_report_err(err);
        return 1;
    }
    current = blk_getlength(blk);
    if (current < 0) {
        error_report("Failed to inquire current image length: %s",
                     strerror(-current));
        img_close(blk);
        return 1;
    }
    total = relative ? current + relative * n : n;
    if (total <= 0) {
        error_report("New image size must be positive");
        img_close(blk);
        return 1;
    }
    if (total <= current && prealloc != PREALLOC_MODE_OFF) {
        error_report("Preallocation can only be used for growing images");
        img_close(blk);
        return 1;
    }
    if (total < current && !shrink) {
        error_report("Use the --shrink option to perform a shrink operation.");
        warn_report("Shrinking an image will delete all data beyond the "
                    "shrunken image's end. Before performing such an "
                    "operation, make sure there is no important data there.");
        img_close(blk);
        return 1;
    }
    r = (ResizeCo) { .blk = blk, .size = total, .prealloc = prealloc, .errp = &err };
    img_run_co(resize_co, &r);
    img_close(blk);
    if (r.ret < 0) {
        error_report_err(err);
        return 1;
    }
    if (!o.quiet) {
        printf("Image resized.\n");
    }
    return 0;
}
