/*
 * test-error.c: Error objects, propagation, the sentinels, and the
 * error_report()/qemu_log() output format.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/log.h"

static bool fail_with(int code, Error **errp)
{
    if (code) {
        error_setg(errp, "failure %d", code);
        return false;
    }
    return true;
}

static void test_setg_propagate(void)
{
    Error *err = NULL, *local = NULL;

    g_assert_true(fail_with(0, &err));
    g_assert_null(err);
    g_assert_false(fail_with(7, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(error_get_pretty(err), ==, "failure 7");
    g_assert_cmpint(error_get_class(err), ==, ERROR_CLASS_GENERIC_ERROR);

    /* NULL: the caller does not care. */
    g_assert_false(fail_with(1, NULL));

    /* Propagating into a set error keeps the first one. */
    fail_with(2, &local);
    error_propagate(&err, local);
    g_assert_cmpstr(error_get_pretty(err), ==, "failure 7");
    error_free_or_abort(&err);
    g_assert_null(err);

    local = NULL;
    fail_with(3, &local);
    error_propagate(&err, local);
    g_assert_cmpstr(error_get_pretty(err), ==, "failure 3");
    error_propagate(&err, NULL);          /* no-op */
    error_propagate(NULL, error_copy(err));
    error_free(err);
}

static void test_set_class_prepend_hint(void)
{
    Error *err = NULL, *copy;

    error_set(&err, ERROR_CLASS_DEVICE_NOT_FOUND, "Device '%s' not found", "d0");
    g_assert_cmpint(error_get_class(err), ==, ERROR_CLASS_DEVICE_NOT_FOUND);
    g_assert_cmpstr(error_class_name(error_get_class(err)), ==, "DeviceNotFound");
    error_prepend(&err, "Cannot open: ");
    g_assert_cmpstr(error_get_pretty(err), ==, "Cannot open: Device 'd0' not found");
    error_append_hint(&err, "Try %s\n", "query-block");
    copy = error_copy(err);
    g_assert_cmpstr(error_get_pretty(copy), ==, error_get_pretty(err));
    g_assert_cmpint(error_get_class(copy), ==, ERROR_CLASS_DEVICE_NOT_FOUND);
    error_free(copy);
    error_free(err);

    g_assert_cmpstr(error_class_name(ERROR_CLASS_GENERIC_ERROR), ==, "GenericError");
    g_assert_cmpstr(error_class_name(ERROR_CLASS_COMMAND_NOT_FOUND), ==, "CommandNotFound");
    g_assert_cmpstr(error_class_name(ERROR_CLASS_DEVICE_NOT_ACTIVE), ==, "DeviceNotActive");
    g_assert_cmpstr(error_class_name(ERROR_CLASS_KVM_MISSING_CAP), ==, "KVMMissingCap");

    /* Prepend/hint on an unset error do nothing. */
    err = NULL;
    error_prepend(&err, "x");
    error_append_hint(&err, "y");
    g_assert_null(err);
    error_prepend(NULL, "x");
}

static void test_setg_errno(void)
{
    Error *err = NULL;

    error_setg_errno(&err, ENOENT, "Could not open '%s'", "/nonexistent");
    g_assert_cmpstr(error_get_pretty(err), ==,
                    "Could not open '/nonexistent': No such file or directory");
    error_free(err);
    err = NULL;
    /* -errno works too (I/O paths carry negative values). */
    error_setg_errno(&err, -EIO, "read failed");
    g_assert_cmpstr(error_get_pretty(err), ==, "read failed: Input/output error");
    error_free(err);
}

static void test_error_abort(void)
{
    if (g_test_subprocess()) {
        error_setg(&error_abort, "boom %d", 42);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();
    g_test_trap_assert_stderr("*Unexpected error: boom 42*");
}

static void test_error_fatal(void)
{
    if (g_test_subprocess()) {
        Error *local = NULL;

        qemu_log_set_prefix("blockd");
        error_setg(&local, "fatal thing");
        error_append_hint(&local, "a hint\n");
        error_propagate(&error_fatal, local);
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_failed();          /* exit(1) */
    g_test_trap_assert_stderr("blockd: fatal thing\na hint\n");
}

static void test_report_format(void)
{
    if (g_test_subprocess()) {
        Error *err = NULL;

        qemu_log_set_prefix("blockd");
        error_report("plain %d", 1);
        warn_report("careful");
        info_report("fyi");
        error_setg(&err, "as error");
        error_report_err(err);
        err = NULL;
        error_setg(&err, "as warning");
        warn_report_err(err);
        qemu_log_set_prefix("blockd-img");
        error_report("other tool");
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("blockd: plain 1\n"
                              "blockd: warning: careful\n"
                              "blockd: fyi\n"
                              "blockd: as error\n"
                              "blockd: warning: as warning\n"
                              "blockd-img: other tool\n");
}

static void test_report_timestamp(void)
{
    if (g_test_subprocess()) {
        qemu_log_set_prefix("blockd");
        qemu_log_set_timestamps(true);
        error_report("stamped");
        return;
    }
    g_test_trap_subprocess(NULL, 0, 0);
    g_test_trap_assert_passed();
    g_test_trap_assert_stderr("20*-*-*T*:*:*.*Z blockd: stamped\n");
}

static void test_timestamp_string(void)
{
    char *ts = qemu_log_timestamp();

    g_assert_true(g_regex_match_simple(
        "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$",
        ts, 0, 0));
    g_free(ts);
}

static void test_log_file(void)
{
    char *dir = g_dir_make_tmp("test-error-XXXXXX", NULL);
    char *path = g_build_filename(dir, "log", NULL);
    char *contents = NULL;
    Error *err = NULL;

    g_assert_true(qemu_log_set_file(path, &error_abort));
    qemu_log("hello %s", "wor");
    qemu_log("ld\n");
    qemu_log_set_timestamps(true);
    qemu_log("second line\n");
    qemu_log_set_timestamps(false);
    g_assert_true(qemu_log_set_file(NULL, &error_abort));

    g_assert_true(g_file_get_contents(path, &contents, NULL, NULL));
    g_assert_true(g_regex_match_simple(
        "^hello world\n[0-9-]+T[0-9:.]+Z second line\n$", contents, 0, 0));

    g_assert_false(qemu_log_set_file("/nonexistent/dir/log", &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(error_get_pretty(err), "No such file or directory"));
    error_free(err);

    unlink(path);
    rmdir(dir);
    g_free(contents);
    g_free(path);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/error/setg-propagate", test_setg_propagate);
    g_test_add_func("/error/set-class-prepend-hint", test_set_class_prepend_hint);
    g_test_add_func("/error/setg-errno", test_setg_errno);
    g_test_add_func("/error/abort", test_error_abort);
    g_test_add_func("/error/fatal", test_error_fatal);
    g_test_add_func("/error/report-format", test_report_format);
    g_test_add_func("/error/report-timestamp", test_report_timestamp);
    g_test_add_func("/error/timestamp-string", test_timestamp_string);
    g_test_add_func("/error/log-file", test_log_file);
    return g_test_run();
}
