/*
 * error.h: Error objects and the `Error **errp` convention.
 *
 * A function that can fail takes `Error **errp` as its last argument and
 * on failure calls error_setg(errp, ...) and returns false / NULL / -errno.
 * errp may be NULL (caller does not care), &error_abort (abort on error) or
 * &error_fatal (print and exit(1)).  Callers that need to inspect an error
 * pass the address of a local `Error *err = NULL`.
 */
#ifndef QEMU_ERROR_H
#define QEMU_ERROR_H

/* QMP error classes, in the order and spelling QEMU uses on the wire. */
typedef enum ErrorClass {
    ERROR_CLASS_GENERIC_ERROR,
    ERROR_CLASS_COMMAND_NOT_FOUND,
    ERROR_CLASS_DEVICE_NOT_ACTIVE,
    ERROR_CLASS_DEVICE_NOT_FOUND,
    ERROR_CLASS_KVM_MISSING_CAP,
    ERROR_CLASS__MAX,
} ErrorClass;

typedef struct Error Error;

extern Error *error_abort;
extern Error *error_fatal;

/* "GenericError", "CommandNotFound", ... */
const char *error_class_name(ErrorClass cls);

void error_set(Error **errp, ErrorClass cls, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void error_setg(Error **errp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends ": strerror(os_errno)" to the message. */
void error_setg_errno(Error **errp, int os_errno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds text in front of the message of *errp, if set. */
void error_prepend(Error **errp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A hint printed by error_report_err() but not sent over QMP. */
void error_append_hint(Error **errp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Moves local_err into *dst (or frees it if dst is NULL or already set). */
void error_propagate(Error **dst, Error *local_err);

const char *error_get_pretty(const Error *err);
ErrorClass error_get_class(const Error *err);
Error *error_copy(const Error *err);
void error_free(Error *err);
void error_free_or_abort(Error **errp);

/* Print "blockd: MSG" (with hint) to the log and free the error. */
void error_report_err(Error *err);
void warn_report_err(Error *err);

/* Printing helpers: stderr, with timestamp when enabled. */
void error_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void warn_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void info_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Error message texts QEMU uses for common parameter errors (QERR_*). */
#define QERR_MISSING_PARAMETER      "Parameter '%s' is missing"
#define QERR_INVALID_PARAMETER      "Invalid parameter '%s'"
#define QERR_INVALID_PARAMETER_TYPE "Invalid parameter type for '%s', expected: %s"
#define QERR_INVALID_PARAMETER_VALUE "Parameter '%s' expects %s"
#define QERR_UNEXPECTED_PARAMETER   "Parameter '%s' is unexpected"
#define QERR_PARAMETER_VALUE        "Parameter '%s' does not accept value '%s'"

#endif /* QEMU_ERROR_H */
