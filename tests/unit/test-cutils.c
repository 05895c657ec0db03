/*
 * test-cutils.c: unit tests for qemu_strtosz().
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"

static void check_ok(const char *s, uint64_t want)
{
    uint64_t v = 0;

    g_assert_cmpint(qemu_strtosz(s, &v), ==, 0);
    g_assert_cmpuint(v, ==, want);
}

static void check_bad(const char *s, int err)
{
    uint64_t v = 0;

    g_assert_cmpint(qemu_strtosz(s, &v), ==, err);
}

static void test_strtosz_valid(void)
{
    check_ok("0", 0);
    check_ok("4096", 4096);
    check_ok("0x1000", 4096);
    check_ok("0xbe", 0xbe);
    check_ok("512b", 512);
    check_ok("512B", 512);
    check_ok("64k", 64 * KiB);
    check_ok("64K", 64 * KiB);
    check_ok("1M", MiB);
    check_ok("2G", 2 * GiB);
    check_ok("1T", TiB);
    check_ok("1P", 1024 * TiB);
    check_ok("15E", UINT64_C(15) << 60);
    check_ok("1.5G", 3 * GiB / 2);
    check_ok("0.5k", 512);
    check_ok("18446744073709551615", UINT64_MAX);
}

static void test_strtosz_invalid(void)
{
    check_bad("", -EINVAL);
    check_bad(" 1", -EINVAL);
    check_bad("-1", -EINVAL);
    check_bad("1x", -EINVAL);
    check_bad("1MB", -EINVAL);
    check_bad("1e5", -EINVAL);
    check_bad("12a", -EINVAL);
    check_bad("1.5", -EINVAL);
    check_bad("k", -EINVAL);
    check_bad("18446744073709551616", -ERANGE);
    check_bad("16E", -ERANGE);
    check_bad("16384P", -ERANGE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cutils/strtosz/valid", test_strtosz_valid);
    g_test_add_func("/cutils/strtosz/invalid", test_strtosz_invalid);
    return g_test_run();
}
