/*
 * img-check.c: "blockd-img check" (qemu-img check): runs the format
 * driver's bdrv_co_check (and repair with -r leaks|all), prints the
 * findings as qemu-img does and exits with its codes: 0 clean, 1 check
 * failed, 2 corruptions, 3 leaks only, 63 format without checks.
 */
#include "img-common.h"
#include <getopt.h>
#include "qapi/qapi-visit.h"

typedef struct CheckCo {
    BlockDriverState *bs;
    BdrvCheckResult *result;
    BdrvCheckMode fix;
    int ret;
} CheckCo;

static void coroutine_fn check_co(void *opaque)
{
    CheckCo *c = opaque;

    c->ret = c->bs->drv->bdrv_co_check(c->bs, c->result, c->fix);
}

/* QEMU's bdrv_check(): -ENOTSUP when the format has no check */
static int img_bdrv_check(BlockDriverState *bs, BdrvCheckResult *res,
                          BdrvCheckMode fix)
{
    CheckCo c = { .bs = bs, .result = res, .fix = fix };

    memset(res, 0, sizeof(*res));
    if (!bs->drv) {
        return -ENOMEDIUM;
    }
    if (!bs->drv->bdrv_co_check) {
        return -ENOTSUP;
    }
    img_run_co(check_co, &c);
    return c.ret;
}

static int collect_image_check(BlockDriverState *bs, ImageCheck *check,
                               const char *filename, BdrvCheckMode fix)
{
    BdrvCheckResult result;
    int ret = img_bdrv_check(bs, &result, fix);

    if (ret < 0) {
        return ret;
    }
    check->filename = g_strdup(filename);
    check->format = g_strdup(bdrv_get_format_name(bs));
    check->check_errors = result.check_errors;
#define SET_NONZERO(member, value) \
    do { \
        check->member = (value); \
        check->has_##member = (value) != 0; \
    } while (0)
    SET_NONZERO(corruptions, result.corruptions);
    SET_NONZERO(leaks, result.leaks);
    SET_NONZERO(corruptions_fixed, result.corruptions_fixed);
    SET_NONZERO(leaks_fixed, result.leaks_fixed);
    SET_NONZERO(image_end_offset, result.image_end_offset);
    SET_NONZERO(total_clusters, (int64_t)result.bfi.total_clusters);
    SET_NONZERO(allocated_clusters, (int64_t)result.bfi.allocated_clusters);
    SET_NONZERO(fragmented_clusters, (int64_t)result.bfi.fragmented_clusters);
    SET_NONZERO(compressed_clusters, (int64_t)result.bfi.compressed_clusters);
#undef SET_NONZERO
    return 0;
}

static void dump_human_image_check(const ImageCheck *check, bool quiet)
{
    if (quiet) {
        return;
    }
    if (!check->corruptions && !check->leaks && !check->check_errors) {
        printf("No errors were found on the image.\n");
    } else {
        if (check->corruptions) {
            printf("\n%" PRId64 " errors were found on the image.\n"
                   "Data may be corrupted, or further writes to the image "
                   "may corrupt it.\n", check->corruptions);
        }
        if (check->leaks) {
            printf("\n%" PRId64 " leaked clusters were found on the image.\n"
                   "This means waste of disk space, but no harm to data.\n",
                   check->leaks);
        }
        if (check->check_errors) {
            printf("\n%" PRId64 " internal errors have occurred during the "
                   "check.\n", check->check_errors);
        }
    }
    if (check->total_clusters && check->allocated_clusters) {
        printf("%" PRId64 "/%" PRId64 " = %0.2f%% allocated, %0.2f%% fragmented, "
               "%0.2f%% compressed clusters\n",
               check->allocated_clusters, check->total_clusters,
               check->allocated_clusters * 100.0 / check->total_clusters,
               check->fragmented_clusters * 100.0 / check->allocated_clusters,
               check->compressed_clusters * 100.0 / check->allocated_clusters);
    }
    if (check->image_end_offset) {
        printf("Image end offset: %" PRId64 "\n", check->image_end_offset);
    }
}

static void dump_json_image_check(const ImageCheck *check, bool quiet)
{
    json_object *obj = visit_out_ImageCheck(check);
    g_autofree char *text = img_json_pretty(obj);

    if (!quiet) {
        printf("%s\n", text);
    }
    json_object_put(obj);
}

int img_check(int argc, char **argv)
{
    static const struct option long_options[] = {
        { "help", no_argument, NULL, 'h' },
        { "format", required_argument, NULL, 'f' },
        { "repair", required_argument, NULL, 'r' },
        { "output", required_argument, NULL, IMG_OPTION_OUTPUT },
        { "force-share", no_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 },
    };
    ImgOptions o = { 0 };
    const char *filename;
    BdrvCheckMode fix = 0;
    g_autoptr(ImageCheck) check = NULL;
    BlockBackend *blk;
    Error *err = NULL;
    int flags;
    int ret;
    int c;

    while ((c = img_getopt(argc, argv, ":hf:r:T:qU", long_options, &o)) != -1) {
        switch (c) {
        case 'r':
            if (!strcmp(optarg, "leaks")) {
                fix = BDRV_FIX_LEAKS;
            } else if (!strcmp(optarg, "all")) {
                fix = BDRV_FIX_LEAKS | BDRV_FIX_ERRORS;
            } else {
                return img_usage_error("Unknown option value for -r "
                                       "(expecting 'leaks' or 'all'): %s",
                                       optarg);
            }
            break;
        case 'T':
            break;                  /* cache mode: blockd-img always writes back */
        }
    }
    if (optind != argc - 1) {
        return img_usage_error("Expecting one image file name");
    }
    filename = argv[optind];

    flags = (fix ? IMG_OPEN_RDWR : 0) | (o.force_share ? IMG_OPEN_SHARE : 0);
    blk = img_open(filename, o.fmt, flags, &err);
    if (!blk) {
        error_report_err(err);
        return 1;
    }

    check = g_new0(ImageCheck, 1);
    ret = collect_image_check(blk_bs(blk), check, filename, fix);
    if (ret == -ENOTSUP) {
        error_report("This image format does not support checks");
        ret = 63;
        goto out;
    }
    if (check->corruptions_fixed || check->leaks_fixed) {
        int64_t leaks_fixed = check->leaks_fixed;
        int64_t corruptions_fixed = check->corruptions_fixed;

        if (o.oformat == OFORMAT_HUMAN && !o.quiet) {
            printf("The following inconsistencies were found and repaired:\n\n"
                   "    %" PRId64 " leaked clusters\n"
                   "    %" PRId64 " corruptions\n\n"
                   "Double checking the fixed image now...\n",
                   leaks_fixed, corruptions_fixed);
        }
        qapi_free_ImageCheck(check);
        check = g_new0(ImageCheck, 1);
        ret = collect_image_check(blk_bs(blk), check, filename, 0);
        check->has_leaks_fixed = leaks_fixed != 0;
        check->leaks_fixed = leaks_fixed;
        check->has_corruptions_fixed = corruptions_fixed != 0;
        check->corruptions_fixed = corruptions_fixed;
    }
    if (!ret) {
        if (o.oformat == OFORMAT_HUMAN) {
            dump_human_image_check(check, o.quiet);
        } else {
            dump_json_image_check(check, o.quiet);
        }
    }
    if (ret || check->check_errors) {
        if (ret) {
            error_report("Check failed: %s", strerror(-ret));
        } else {
            error_report("Check failed");
        }
        ret = 1;
        goto out;
    }
    ret = check->corruptions ? 2 : check->leaks ? 3 : 0;
out:
    img_close(blk);
    return ret;
}
