/*
 * img-options.c: the command lines of blockd-img's subcommands, parsed
 * as qemu-img parses them: getopt_long() with qemu-img's usage errors and
 * -h, the options most subcommands share (-f, -q, -U, --output), size
 * arguments and -o lists.  Each subcommand handles only its own options.
 */
#include "img-common.h"

bool img_parse_output_format(const char *arg, OutputFormat *oformat)
{
    if (!strcmp(arg, "json")) {
        *oformat = OFORMAT_JSON;
    } else if (!strcmp(arg, "human")) {
        *oformat = OFORMAT_HUMAN;
    } else {
        error_report("--output must be used with human or json as argument.");
        return false;
    }
    return true;
}

int img_usage_error(const char *fmt, ...)
{
    va_list ap;
    g_autofree char *msg = NULL;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    error_report("%s", msg);
    fprintf(stderr, "Try 'blockd-img --help' for more information\n");
    return 1;
}

/*
 * Nothing is open while the options are parsed, so a usage error or -h
 * ends the process here, as qemu-img's error_exit() and help() do.
 */
int img_getopt(int argc, char **argv, const char *shortopts,
               const struct option *longopts, ImgOptions *o)
{
    int c;

    for (;;) {
        c = getopt_long(argc, argv, shortopts, longopts, NULL);
        switch (c) {
        case ':':
            exit(img_usage_error("option '%s' requires an argument",
                                 argv[optind - 1]));
        case '?':
            exit(img_usage_error("unrecognized option '%s'", argv[optind - 1]));
        case 'h':
            printf("Usage: blockd-img %s\n", img_command_syntax(argv[0]));
            exit(0);
        case 'f':
            o->fmt = optarg;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'U':
            o->force_share = true;
            break;
        case IMG_OPTION_OUTPUT:
            if (!img_parse_output_format(optarg, &o->oformat)) {
                exit(1);
            }
            break;
        default:
            return c;
        }
    }
}

int64_t img_parse_size_arg(const char *arg, const char *what)
{
    int64_t size = img_parse_size(arg);

    if (size < 0) {
        error_report("Invalid %s specified. You may use k, M, G, T, P or E "
                     "suffixes for", what);
        error_report("kilobytes, megabytes, gigabytes, terabytes, petabytes "
                     "and exabytes.");
        return -1;
    }
    return size;
}

void img_append_options(char **options, const char *arg)
{
    char *old = *options;

    *options = old ? g_strdup_printf("%s,%s", old, arg) : g_strdup(arg);
    g_free(old);
}
