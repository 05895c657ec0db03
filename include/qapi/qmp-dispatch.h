/*
 * qmp-dispatch.h: the table of QMP commands and the dispatcher that turns
 * one request object into one response object.
 *
 * The generated qapi/qapi-commands.c registers every schema command with
 * qmp_init_marshal(); a command's marshaller converts the json-c
 * "arguments" object into C values (strictly: missing, extra, wrong-typed
 * or out-of-range members are errors naming the parameter in QEMU's
 * words), calls the hand-written qmp_<name>() function and converts its
 * return value back to json-c.
 */
#ifndef QAPI_QMP_DISPATCH_H
#define QAPI_QMP_DISPATCH_H

#include "qemu/osdep.h"
#include "qemu/error.h"
#include <json-c/json.h>

/* args is a json object (never NULL: {} when absent); *ret receives the result. */
typedef void QmpCommandFunc(json_object *args, json_object **ret, Error **errp);

typedef enum QmpCommandOptions {
    QCO_NO_OPTIONS = 0,
    QCO_NO_SUCCESS_RESP = 1 << 0,   /* 'success-response': false */
    QCO_ALLOW_OOB = 1 << 1,         /* 'allow-oob': true */
    QCO_ALLOW_PRECONFIG = 1 << 2,
    QCO_COROUTINE = 1 << 3,         /* 'coroutine': true: run in a coroutine */
} QmpCommandOptions;

typedef struct QmpCommand {
    const char *name;
    QmpCommandFunc *fn;
    unsigned options;
    unsigned special_features;      /* bit 0: deprecated, bit 1: unstable */
    bool enabled;
    const char *disable_reason;
} QmpCommand;

typedef struct QmpCommandList {
    GHashTable *table;               /* name -> QmpCommand * */
    GPtrArray *ordered;              /* registration order */
} QmpCommandList;

void qmp_command_list_init(QmpCommandList *cmds);
/* Free the table of a list made by qmp_command_list_init(). */
void qmp_command_list_destroy(QmpCommandList *cmds);
void qmp_register_command(QmpCommandList *cmds, const char *name,
                          QmpCommandFunc *fn, unsigned options,
                          unsigned special_features);
const QmpCommand *qmp_find_command(const QmpCommandList *cmds, const char *name);
void qmp_disable_command(QmpCommandList *cmds, const char *name, const char *reason);
void qmp_for_each_command(const QmpCommandList *cmds,
                          void (*fn)(const QmpCommand *cmd, void *opaque),
                          void *opaque);
/* Must cmd run in coroutine context (QCO_COROUTINE)? */
bool qmp_command_is_coroutine(const QmpCommand *cmd);
/* false with CommandNotFound "...has been disabled..." if cmd is disabled. */
bool qmp_command_available(const QmpCommand *cmd, Error **errp);

/* Filled by generated code: every command of the schema. */
void qmp_init_marshal(QmpCommandList *cmds);

/*
 * Validate the request's shape ("execute"/"exec-oob", "arguments", "id"),
 * look the command up in cmds, call it and build the response:
 * {"return": ...} or {"error": {"class", "desc"}}, with "id" copied
 * verbatim.  Returns NULL for commands with QCO_NO_SUCCESS_RESP that
 * succeeded.  Coroutine commands (QCO_COROUTINE) must be dispatched from
 * coroutine context; the monitor arranges this (qmp_command_is_coroutine).
 */
json_object *qmp_dispatch(const QmpCommandList *cmds, json_object *request,
                          bool allow_oob);
/* Look up only: which command would request run (NULL if shape is bad)? */
const QmpCommand *qmp_dispatch_lookup(const QmpCommandList *cmds, json_object *request);

/* {"error": {"class": ..., "desc": ...}} (+ "id" copied from request if any); frees err. */
json_object *qmp_error_response(Error *err);
bool qmp_is_oob(json_object *request);

/* ---- events ---- */
/*
 * Generated qapi_event_send_<name>() build the data object and call
 * qapi_event_emit(); the monitor implements it (adds the timestamp and
 * broadcasts to every monitor that finished capabilities negotiation).
 * data may be NULL for events without members; ownership passes to the callee.
 */
void qapi_event_emit(const char *event_name, json_object *data);

#endif
