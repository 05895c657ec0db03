/*
 * blockd-img.c: the image tool, qemu-img's commands on blockd's block
 * layer.  This file holds main() (subcommand dispatch, start-up of the
 * event loop and the drivers) and the small runtime helpers every
 * subcommand uses: running a coroutine, the progress bar.  The
 * subcommands live in tools/img-*.c (docs/tools/blockd-img.md); the
 * command table here also gives each one's -h syntax.
 */
#include "img-common.h"
#include <signal.h>
#include "qemu/aio.h"
#include "qemu/log.h"
#include "trace/control.h"

/* ---- coroutines from the command line ---- */

typedef struct CoRun {
    CoroutineEntry *fn;
    void *opaque;
    bool done;
} CoRun;

static void coroutine_fn co_run_entry(void *opaque)
{
    CoRun *r = opaque;

    r->fn(r->opaque);
    r->done = true;
    aio_notify(qemu_get_aio_context());
}

void img_run_co(CoroutineEntry *fn, void *opaque)
{
    CoRun r = { .fn = fn, .opaque = opaque };

    qemu_coroutine_enter(qemu_coroutine_create(co_run_entry, &r));
    while (!r.done) {
        aio_poll(qemu_get_aio_context(), true);
    }
}

/* ---- progress bar ---- */

static struct {
    bool enabled;
    double min_step;
    double last;
} progress;

void img_progress_init(bool enabled, double min_step)
{
    progress.enabled = enabled;
    progress.min_step = min_step;
    progress.last = -1;
}

void img_progress_print(double percent)
{
    if (!progress.enabled) {
        return;
    }
    if (percent > 100) {
        percent = 100;
    }
    if (progress.last >= 0 && percent > 0 && percent < 100 &&
        percent <= progress.last + progress.min_step) {
        return;
    }
    progress.last = percent;
    printf("    (%3.2f/100%%)\r", percent);
    fflush(stdout);
}

void img_progress_end(void)
{
    if (progress.enabled) {
        printf("\n");
        fflush(stdout);
    }
}

/* ---- main ---- */

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *syntax;
} commands[] = {
    { "bitmap", img_bitmap,
      "bitmap (--merge SOURCE | --add | --remove | --clear | --enable | "
      "--disable)... [-b SOURCE_FILE [-F SOURCE_FMT]] [-g GRANULARITY] "
      "[-f FMT] FILENAME BITMAP" },
    { "check", img_check,
      "check [-q] [--output=human|json] [-f FMT] [-r [leaks | all]] [-U] "
      "FILENAME" },
    { "compare", img_compare,
      "compare [-f FMT] [-F FMT] [-p] [-q] [-s] [-U] FILENAME1 FILENAME2" },
    { "convert", img_convert,
      "convert [-c] [-p] [-q] [-n] [-f FMT] [-O OUTPUT_FMT] [-B BACKING_FILE "
      "[-F BACKING_FMT]] [-o OPTIONS] [-S SPARSE_SIZE] [-m NUM_COROUTINES] [-W] "
      "[-t CACHE] [-T SRC_CACHE] [-U] FILENAME OUTPUT_FILENAME" },
    { "create", img_create,
      "create [-q] [-f FMT] [-b BACKING_FILE [-F BACKING_FMT]] [-u] "
      "[-o OPTIONS] FILENAME [SIZE]" },
    { "info", img_info,
      "info [-f FMT] [--output=human|json] [--backing-chain] [-U] FILENAME" },
    { "map", img_map,
      "map [-f FMT] [--output=human|json] [--start-offset=OFFSET] "
      "[--max-length=LEN] [-U] FILENAME" },
    { "resize", img_resize,
      "resize [-f FMT] [--preallocation=PREALLOC] [--shrink] [-q] "
      "FILENAME [+ | -]SIZE" },
    { "snapshot", img_snapshot,
      "snapshot [-l | -a SNAPSHOT | -c SNAPSHOT | -d SNAPSHOT] [-q] [-U] "
      "FILENAME" },
};

const char *img_command_syntax(const char *name)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(commands); i++) {
        if (!strcmp(name, commands[i].name)) {
            return commands[i].syntax;
        }
    }
    g_assert_not_reached();
}

static void help(void)
{
    size_t i;

    printf("blockd-img: the blockd image tool (qemu-img's commands and "
           "output)\n"
           "usage: blockd-img [standard options] command [command options]\n"
           "\n"
           "Standard options:\n"
           "  -h, --help         display this help and exit\n"
           "  -V, --version      output version information and exit\n"
           "  -T, --trace [[enable=]PATTERN][,events=FILE][,file=FILE]\n"
           "                     enable trace events (as blockd's --trace)\n"
           "\n"
           "Command syntax:\n");
    for (i = 0; i < ARRAY_SIZE(commands); i++) {
        printf("  %s\n", commands[i].syntax);
    }
    printf("\n"
           "Sizes take the suffixes k, M, G, T, P, E (powers of 1024).\n"
           "Exit status: 0 on success, 1 on errors; check: 2 corruptions,\n"
           "3 leaks, 63 format without checks; compare: 1 different, 2 error.\n"
           "See docs/tools/blockd-img.md.\n");
}

int main(int argc, char **argv)
{
    Error *err = NULL;
    const char *cmd;
    int first = 1;
    size_t i;

    signal(SIGPIPE, SIG_IGN);
    qemu_log_set_prefix("blockd-img");
    /* standard options before the command: only --trace takes an argument */
    while (first < argc && (!strcmp(argv[first], "-T") ||
                            !strcmp(argv[first], "--trace") ||
                            g_str_has_prefix(argv[first], "--trace="))) {
        const char *arg;

        if (argv[first][1] == 'T' || !strcmp(argv[first], "--trace")) {
            if (first + 1 >= argc) {
                return img_usage_error("option '%s' requires an argument",
                                       argv[first]);
            }
            arg = argv[first + 1];
            first += 2;
        } else {
            arg = argv[first] + strlen("--trace=");
            first++;
        }
        if (!trace_opt_parse(arg, &err)) {
            error_report_err(err);
            return 1;
        }
    }
    if (!trace_init_backends()) {
        return 1;
    }
    argc -= first - 1;
    argv += first - 1;
    if (argc < 2) {
        return img_usage_error("Not enough arguments");
    }
    cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        help();
        return 0;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("blockd-img (blockd), qemu-img compatible\n");
        return 0;
    }
    if (!qemu_init_main_loop(&err)) {
        error_report_err(err);
        return 1;
    }
    bdrv_init();
    for (i = 0; i < ARRAY_SIZE(commands); i++) {
        if (!strcmp(cmd, commands[i].name)) {
            int ret;

            /* getopt starts at argv[1]: the subcommand plays argv[0] */
            optind = 0;
            ret = commands[i].fn(argc - 1, argv + 1);
            bdrv_close_all();
            return ret;
        }
    }
    return img_usage_error("Command not found: %s", cmd);
}
