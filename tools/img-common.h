/*
 * img-common.h: what the blockd-img subcommands (tools/img-*.c) share:
 * opening images through the block layer, running coroutines from the
 * command line, qemu-img's number and size formats, its JSON layout and
 * the progress bar.  Each subcommand is one img_<name>() entry point.
 */
#ifndef TOOLS_IMG_COMMON_H
#define TOOLS_IMG_COMMON_H

#include "qemu/osdep.h"
#include <getopt.h>
#include <json-c/json.h>
#include "block/block-backend.h"
#include "block/block_int.h"

/* qemu-img's output formats */
typedef enum OutputFormat {
    OFORMAT_HUMAN,
    OFORMAT_JSON,
} OutputFormat;

/* How img_open() opens an image */
enum {
    IMG_OPEN_RDWR       = 1 << 0,   /* read-write (default read-only) */
    IMG_OPEN_NO_BACKING = 1 << 1,   /* backing: null (-u, unsafe) */
    IMG_OPEN_SHARE      = 1 << 2,   /* force-share (-U) */
    IMG_OPEN_NOCACHE    = 1 << 3,   /* cache.direct=on (-t none) */
    IMG_OPEN_QUIET      = 1 << 4,   /* no "probing guessed raw" warning */
    IMG_OPEN_BARE_ERRORS = 1 << 5,  /* no "Could not open 'F': " prefix */
    IMG_OPEN_NO_FLUSH   = 1 << 6,   /* cache.no-flush=on (-t unsafe) */
};

/* ---- img-open.c ---- */

/*
 * Open filename (a file, or json:{BlockdevOptions}) with format fmt (NULL:
 * probe) as a BlockBackend taking read (and with IMG_OPEN_RDWR write and
 * resize) permissions.  Errors are qemu-img's "Could not open 'F': ...".
 */
BlockBackend *img_open(const char *filename, const char *fmt, int flags,
                       Error **errp);
/* The format probed for filename ("raw" when nothing else matches). */
const char *img_probe_format(const char *filename, Error **errp);
/* Close blk and every node it used. */
void img_close(BlockBackend *blk);

/* ---- blockd-img.c: runtime helpers ---- */

/* Run fn(opaque) in a coroutine and poll the main loop until it returns. */
void img_run_co(CoroutineEntry *fn, void *opaque);

/* The progress bar (-p): "    (12.34/100%)\r" on stdout, as qemu-img. */
void img_progress_init(bool enabled, double min_step);
void img_progress_print(double percent);
void img_progress_end(void);

/* ---- img-options.c: the subcommands' command lines ---- */

/* The options most subcommands take, filled in by img_getopt() */
typedef struct ImgOptions {
    const char *fmt;            /* -f FMT */
    bool quiet;                 /* -q */
    bool force_share;           /* -U, --force-share */
    OutputFormat oformat;       /* --output=human|json */
} ImgOptions;

enum {
    IMG_OPTION_OUTPUT = 256,    /* the long option --output=human|json */
    IMG_OPTION_SUBCOMMAND,      /* the first value of a subcommand's own */
};

/*
 * getopt_long() for a subcommand (argv[0] is its name; shortopts start
 * with ':').  Handles what all subcommands share, as qemu-img does: a
 * missing argument or an unknown option is a usage error (exit status 1),
 * -h prints the subcommand's syntax (exit status 0); -f, -q, -U and
 * IMG_OPTION_OUTPUT are stored in o.  Returns any other option, or -1
 * after the last one.
 */
int img_getopt(int argc, char **argv, const char *shortopts,
               const struct option *longopts, ImgOptions *o);
/* "Try 'blockd-img --help' for more information" and exit status 1 */
int img_usage_error(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* --output=human|json; false (after printing qemu-img's error) otherwise */
bool img_parse_output_format(const char *arg, OutputFormat *oformat);
/*
 * A size argument (img_parse_size()); on error prints qemu-img's
 * "Invalid WHAT specified. You may use k, M, G, ..." and returns -1.
 */
int64_t img_parse_size_arg(const char *arg, const char *what);
/* Append one -o argument to *options ("a,b" after two -o), as qemu-img. */
void img_append_options(char **options, const char *arg);

/* ---- blockd-img.c: the command table ---- */
/* "create [-q] [-f FMT] ... FILENAME [SIZE]": a subcommand's syntax */
const char *img_command_syntax(const char *name);

/* ---- img-util.c ---- */

/*
 * qemu-img's size arguments: a number with an optional suffix
 * (b, k/K, M, G, T, P, E; powers of 1024).  -1 on error.
 */
int64_t img_parse_size(const char *s);
/* qemu's size_to_str(): "64 MiB", "0.977 KiB", "512 B"; g_free() it. */
char *img_size_to_str(uint64_t val);

/* ---- img-json.c: qemu-img's JSON text ---- */

/*
 * Print obj the way qemu-img prints a QObject: pretty (4 spaces), the
 * members of each object in QEMU's QDict iteration order (which is what
 * qemu-img shows), strings escaped as QEMU's JSON writer does.
 */
char *img_json_pretty(json_object *obj);
/* One line, members in insertion order (qemu-img map): { "a": 1, "b": true} */
char *img_json_inline(json_object *obj);
/*
 * qemu-img's human dump of an object (format-specific information):
 * "key: value" lines with '-' in keys turned into ' ', nested objects and
 * lists indented by 4, list items as "[i]:".
 */
void img_json_dump_human(json_object *obj, int indentation);

/* ---- img-create.c ---- */
/*
 * Create filename as fmt with qemu-img's -o options (may be NULL), the
 * backing file base (format base_fmt) and size (-1: the backing file's);
 * unsafe: do not open the backing file.  Prints the "Formatting" line
 * unless quiet.
 */
int img_do_create(const char *filename, const char *fmt, const char *base,
                  const char *base_fmt, const char *options, int64_t size,
                  bool unsafe, bool quiet, Error **errp);

/* ---- img-info.c ---- */
/* qemu's bdrv_snapshot_dump(): the column header (sn NULL) or one row */
void img_snapshot_dump(const SnapshotInfo *sn);

/* ---- subcommands: each returns the process exit status ---- */
int img_create(int argc, char **argv);
int img_info(int argc, char **argv);
int img_map(int argc, char **argv);
int img_check(int argc, char **argv);
int img_compare(int argc, char **argv);
int img_convert(int argc, char **argv);
int img_snapshot(int argc, char **argv);
int img_bitmap(int argc, char **argv);
int img_resize(int argc, char **argv);


#endif
