/*
 * test-util-block.c: the block-layer helpers of the unit tests
 * (test-util-block.h).
 */
#include "qemu/osdep.h"
#include "qapi/qapi-visit.h"
#include "test-util-block.h"

BlockDriverState *test_open_json(const char *json, Error **errp)
{
    json_object *tree = json_tokener_parse(json);
    BlockdevOptions *o = NULL;
    BlockDriverState *bs;

    g_assert_nonnull(tree);
    visit_type_BlockdevOptions(tree, NULL, &o, &error_abort);
    json_object_put(tree);
    bs = bdrv_open_blockdev(o, errp);
    qapi_free_BlockdevOptions(o);
    return bs;
}

static QEMUTimer *ticker;

static void ticker_cb(void *opaque)
{
    timer_mod(ticker, qemu_clock_get_ns() + 5000000);
}

void test_start_ticker(void)
{
    g_assert_null(ticker);
    ticker = aio_timer_new(qemu_get_aio_context(), ticker_cb, NULL);
    ticker_cb(NULL);
}
