/*
 * log.h: diagnostic output to stderr (or a file), optionally timestamped.
 * Trace events of the `log` backend print through qemu_log().
 */
#ifndef QEMU_LOG_H
#define QEMU_LOG_H

#include "qemu/osdep.h"
#include "qemu/error.h"

void qemu_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void qemu_log_vprintf(const char *fmt, va_list ap);
/* Redirect log output to a file (NULL: back to stderr). */
bool qemu_log_set_file(const char *path, Error **errp);
void qemu_log_set_timestamps(bool on);
void qemu_log_set_prefix(const char *prefix);  /* e.g. "blockd" for error_report */
const char *qemu_log_prefix(void);

/*
 * Print one "[TIMESTAMP ]PREFIX: [TYPE: ]MESSAGE" line to stderr; used by
 * error_report() and friends (type is NULL or e.g. "warning").  hint, if
 * non-NULL, is printed verbatim after the line.
 */
void qemu_log_report(const char *type, const char *hint, const char *fmt,
                     va_list ap) __attribute__((format(printf, 3, 0)));
/* "2026-11-25T14:09:38.123456Z" (UTC, microseconds); g_free() the result. */
char *qemu_log_timestamp(void);

#endif
