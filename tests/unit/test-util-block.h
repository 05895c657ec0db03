/*
 * test-util-block.h: helpers the unit tests of the block layer and the
 * jobs share: a node from JSON BlockdevOptions text, polling the main
 * loop until a condition holds, and a timer that keeps the polls short.
 */
#ifndef TESTS_UNIT_TEST_UTIL_BLOCK_H
#define TESTS_UNIT_TEST_UTIL_BLOCK_H

#include "block/block_int.h"
#include "qemu/aio.h"

/*
 * Open a node from BlockdevOptions written as JSON text (which must
 * parse and match the schema); NULL with errp set if the open fails.
 */
BlockDriverState *test_open_json(const char *json, Error **errp);

/*
 * Poll the main AioContext until cond holds.  The 20 s limit only turns
 * a hang into a failure; it is not a timing check.
 */
#define WAIT_FOR(cond) \
    do { \
        int64_t deadline_ = qemu_clock_get_ns() + 20 * NANOSECONDS_PER_SECOND; \
        while (!(cond)) { \
            g_assert_cmpint(qemu_clock_get_ns(), <, deadline_); \
            aio_poll(qemu_get_aio_context(), true); \
        } \
    } while (0)

/*
 * Start a timer in the main AioContext that fires every 5 ms, so that
 * aio_poll(ctx, true) never blocks for long (WAIT_FOR on a condition
 * that no event announces).
 */
void test_start_ticker(void);

#endif
