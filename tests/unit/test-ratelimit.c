/*
 * test-ratelimit.c: the rate limiter's arithmetic, on a virtual clock.
 */
#include "qemu/osdep.h"
#include "qemu/ratelimit.h"

#define SLICE (100 * SCALE_MS)

static void test_disabled(void)
{
    RateLimit rl;

    ratelimit_init(&rl);
    g_assert_false(ratelimit_enabled(&rl));
    g_assert_cmpint(ratelimit_calculate_delay(&rl, 0, 1 * GiB), ==, 0);
    ratelimit_account(&rl, 0, 1 * GiB);
    g_assert_cmpint(ratelimit_calculate_delay(&rl, 1, 1 * GiB), ==, 0);

    ratelimit_set_speed(&rl, 1000, SLICE);
    g_assert_true(ratelimit_enabled(&rl));
    ratelimit_set_speed(&rl, 0, SLICE);
    g_assert_false(ratelimit_enabled(&rl));
}

static void test_quota(void)
{
    RateLimit rl;
    int64_t t0 = 5 * NANOSECONDS_PER_SECOND;

    ratelimit_init(&rl);
    ratelimit_set_speed(&rl, 10 * MiB, SLICE);   /* 1 MiB per slice */
    g_assert_cmpuint(rl.slice_quota, ==, 1 * MiB);

    /* Fits: go now. */
    g_assert_cmpint(ratelimit_calculate_delay(&rl, t0, 512 * KiB), ==, 0);
    ratelimit_account(&rl, t0, 512 * KiB);
    g_assert_cmpint(ratelimit_calculate_delay(&rl, t0 + 10, 512 * KiB), ==, 0);
    ratelimit_account(&rl, t0 + 10, 512 * KiB);

    /* The slice is full: wait for the next one, which starts at t0 + SLICE. */
    g_assert_cmpint(ratelimit_calculate_delay(&rl, t0 + 20 * SCALE_MS, 1),
                    ==, SLICE - 20 * SCALE_MS);
    /* Asking does not charge anything. */
    g_assert_cmpint(ratelimit_calculate_delay(&rl, t0 + 20 * SCALE_MS, 1),
                    ==, SLICE - 20 * SCALE_MS);

    /* In the next slice the quota is back. */
    g_assert_cmpint(ratelimit_calculate_delay(&rl, t0 + SLICE, 1 * MiB), ==, 0);
    ratelimit_account(&rl, t0 + SLICE, 1 * MiB);
    g_assert_cmpint(ratelimit_calculate_delay(&rl, t0 + SLICE + 1, 4096),
                    ==, SLICE - 1);

    /* After a long idle time there is no saved-up burst beyond one slice. */
    g_assert_cmpint(ratelimit_calculate_delay(&rl, t0 + 100 * SLICE, 1 * MiB), ==, 0);
    ratelimit_account(&rl, t0 + 100 * SLICE, 1 * MiB);
    g_assert_cmpint(ratelimit_calculate_delay(&rl, t0 + 100 * SLICE, 1), >, 0);
}

static void test_oversized(void)
{
    RateLimit rl;
    int64_t t0 = NANOSECONDS_PER_SECOND;

    ratelimit_init(&rl);
    ratelimit_set_speed(&rl, 10 * MiB, SLICE);   /* 1 MiB per slice */

    /* Larger than a slice: allowed alone, then paid off by the next slices. */
    g_assert_cmpint(ratelimit_calculate_delay(&rl, t0, 3 * MiB + 1), ==, 0);
    ratelimit_account(&rl, t0, 3 * MiB + 1);
    /* Debt covers slices 0..3; a small request fits in slice 3 (1 byte used). */
    g_assert_cmpint(ratelimit_calculate_delay(&rl, t0 + 1, 4096), ==,
                    3 * SLICE - 1);
    /* A full-slice request waits until the debt is gone (slice 4). */
    g_assert_cmpint(ratelimit_calculate_delay(&rl, t0 + 1, 1 * MiB), ==,
                    4 * SLICE - 1);
    /* Half-way, the remaining debt is what counts. */
    g_assert_cmpint(ratelimit_calculate_delay(&rl, t0 + 2 * SLICE + 5, 4096),
                    ==, SLICE - 5);
}

/* Simulate a job that asks before each chunk and sleeps as told. */
static void test_long_run_rate(void)
{
    const uint64_t speed = 3 * MiB + 12345;
    const int64_t duration = 20 * NANOSECONDS_PER_SECOND;
    const uint64_t chunks[] = { 64 * KiB, 4 * KiB, 1 * MiB, 200 * KiB, 2 * MiB };
    uint64_t sent = 0, max_in_window = 0;
    int64_t now = 0;
    RateLimit rl;
    GArray *log = g_array_new(FALSE, FALSE, sizeof(int64_t) * 2);
    unsigned i = 0, w, first = 0;
    uint64_t in_window = 0;

    ratelimit_init(&rl);
    ratelimit_set_speed(&rl, speed, SLICE);
    while (now < duration) {
        uint64_t bytes = chunks[i++ % ARRAY_SIZE(chunks)];
        int64_t delay = ratelimit_calculate_delay(&rl, now, bytes);
        int64_t entry[2];

        g_assert_cmpint(delay, >=, 0);
        now += delay;
        if (delay == 0) {
            ratelimit_account(&rl, now, bytes);
            sent += bytes;
            entry[0] = now;
            entry[1] = bytes;
            g_array_append_val(log, entry);
            now += 1000;   /* the request itself takes a microsecond */
        } else {
            i--;           /* retry the same chunk */
        }
    }
    /* Long-run rate: within one slice quota (+ one oversized chunk). */
    g_assert_cmpuint(sent, <=, speed * 20 + rl.slice_quota + 2 * MiB);
    g_assert_cmpuint(sent, >=, speed * 20 - rl.slice_quota - 2 * MiB);

    /* No burst: any one-second window carries about `speed` bytes. */
    for (w = 0; w < log->len; w++) {
        int64_t *e = &g_array_index(log, int64_t, 2 * w);

        in_window += e[1];
        while (g_array_index(log, int64_t, 2 * first) <= e[0] - NANOSECONDS_PER_SECOND) {
            in_window -= g_array_index(log, int64_t, 2 * first + 1);
            first++;
        }
        max_in_window = MAX(max_in_window, in_window);
    }
    g_assert_cmpuint(max_in_window, <=, speed + rl.slice_quota + 2 * MiB);
    g_array_free(log, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/ratelimit/disabled", test_disabled);
    g_test_add_func("/ratelimit/quota", test_quota);
    g_test_add_func("/ratelimit/oversized", test_oversized);
    g_test_add_func("/ratelimit/long-run-rate", test_long_run_rate);
    return g_test_run();
}
