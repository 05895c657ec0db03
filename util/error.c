/*
 * error.c: Error objects, the error_abort/error_fatal sentinels and the
 * error_report() family (printed through util/log.c).
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/log.h"

struct Error {
    char *msg;
    ErrorClass err_class;
    GString *hint;
};

/* Only the addresses matter: &error_abort and &error_fatal are sentinels. */
Error *error_abort;
Error *error_fatal;

static const char *const error_class_names[ERROR_CLASS__MAX] = {
    [ERROR_CLASS_GENERIC_ERROR] = "GenericError",
    [ERROR_CLASS_COMMAND_NOT_FOUND] = "CommandNotFound",
    [ERROR_CLASS_DEVICE_NOT_ACTIVE] = "DeviceNotActive",
    [ERROR_CLASS_DEVICE_NOT_FOUND] = "DeviceNotFound",
    [ERROR_CLASS_KVM_MISSING_CAP] = "KVMMissingCap",
};

const char *error_class_name(ErrorClass cls)
{
    assert(cls >= 0 && cls < ERROR_CLASS__MAX);
    return error_class_names[cls];
}

/* ---- printing ---- */

static void QEMU_PRINTF(3, 4) report(const char *type, const char *hint,
                                     const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    qemu_log_report(type, hint, fmt, ap);
    va_end(ap);
}

static void error_print(const char *type, const Error *err)
{
    report(type, err->hint ? err->hint->str : NULL, "%s", err->msg);
}

void error_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    qemu_log_report(NULL, NULL, fmt, ap);
    va_end(ap);
}

void warn_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    qemu_log_report("warning", NULL, fmt, ap);
    va_end(ap);
}

void info_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    qemu_log_report(NULL, NULL, fmt, ap);
    va_end(ap);
}

void error_report_err(Error *err)
{
    error_print(NULL, err);
    error_free(err);
}

void warn_report_err(Error *err)
{
    error_print("warning", err);
    error_free(err);
}

/* ---- creating and passing errors ---- */

/* Hand a new error to errp, honouring the sentinels. */
static void error_handle(Error **errp, Error *err)
{
    if (errp == &error_abort) {
        report(NULL, NULL, "Unexpected error: %s", err->msg);
        abort();
    }
    if (errp == &error_fatal) {
        error_report_err(err);
        exit(1);
    }
    if (!errp) {
        error_free(err);
        return;
    }
    /* Setting an error twice loses the first one: a bug in the caller. */
    assert(*errp == NULL);
    *errp = err;
}

static void QEMU_PRINTF(3, 0) error_setv(Error **errp, ErrorClass cls,
                                         const char *fmt, va_list ap,
                                         int os_errno)
{
    Error *err;

    if (!errp) {
        return;
    }
    err = g_new0(Error, 1);
    err->err_class = cls;
    err->msg = g_strdup_vprintf(fmt, ap);
    if (os_errno) {
        char *full = g_strdup_printf("%s: %s", err->msg,
                                     g_strerror(ABS(os_errno)));
        g_free(err->msg);
        err->msg = full;
    }
    error_handle(errp, err);
}

void error_set(Error **errp, ErrorClass cls, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_setv(errp, cls, fmt, ap, 0);
    va_end(ap);
}

void error_setg(Error **errp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_setv(errp, ERROR_CLASS_GENERIC_ERROR, fmt, ap, 0);
    va_end(ap);
}

void error_setg_errno(Error **errp, int os_errno, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_setv(errp, ERROR_CLASS_GENERIC_ERROR, fmt, ap, os_errno);
    va_end(ap);
}

void error_prepend(Error **errp, const char *fmt, ...)
{
    Error *err;
    GString *msg;
    va_list ap;

    if (!errp || !*errp) {
        return;
    }
    err = *errp;
    msg = g_string_new(NULL);
    va_start(ap, fmt);
    g_string_append_vprintf(msg, fmt, ap);
    va_end(ap);
    g_string_append(msg, err->msg);
    g_free(err->msg);
    err->msg = g_string_free(msg, FALSE);
}

void error_append_hint(Error **errp, const char *fmt, ...)
{
    Error *err;
    va_list ap;

    /* Nothing to attach to for the sentinels (their *errp stays NULL). */
    if (!errp || !*errp) {
        return;
    }
    err = *errp;
    if (!err->hint) {
        err->hint = g_string_new(NULL);
    }
    va_start(ap, fmt);
    g_string_append_vprintf(err->hint, fmt, ap);
    va_end(ap);
}

void error_propagate(Error **dst, Error *local_err)
{
    if (!local_err) {
        return;
    }
    if (dst == &error_abort || dst == &error_fatal) {
        error_handle(dst, local_err);
        return;
    }
    if (dst && !*dst) {
        *dst = local_err;
    } else {
        error_free(local_err);
    }
}

const char *error_get_pretty(const Error *err)
{
    return err->msg;
}

ErrorClass error_get_class(const Error *err)
{
    return err->err_class;
}

Error *error_copy(const Error *err)
{
    Error *copy = g_new0(Error, 1);

    copy->msg = g_strdup(err->msg);
    copy->err_class = err->err_class;
    if (err->hint) {
        copy->hint = g_string_new(err->hint->str);
    }
    return copy;
}

void error_free(Error *err)
{
    if (err) {
        g_free(err->msg);
        if (err->hint) {
            g_string_free(err->hint, TRUE);
        }
        g_free(err);
    }
}

void error_free_or_abort(Error **errp)
{
    assert(errp && *errp);
    error_free(*errp);
    *errp = NULL;
}
