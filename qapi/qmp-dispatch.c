/*
 * qmp-dispatch.c: one QMP request object in, one response object out.
 *
 * Checks the request's shape with QEMU's error texts, finds the command,
 * calls its marshaller and wraps the result as {"return": ...} or
 * {"error": {"class", "desc"}}, echoing "id" verbatim.
 */
#include "qemu/osdep.h"
#include "qapi/qmp-dispatch.h"

/* The command name of a well-formed request; NULL and errp set if not. */
static const char *qmp_check_request(json_object *request, bool allow_oob,
                                     bool *oob, Error **errp)
{
    const char *exec_key = NULL;
    json_object *exec_val = NULL;

    if (!json_object_is_type(request, json_type_object)) {
        error_setg(errp, "QMP input must be a JSON object");
        return NULL;
    }
    json_object_object_foreach(request, key, val) {
        if (!strcmp(key, "execute") ||
            (allow_oob && !strcmp(key, "exec-oob"))) {
            if (!json_object_is_type(val, json_type_string)) {
                error_setg(errp, "QMP input member '%s' must be a string",
                           key);
                return NULL;
            }
            if (exec_key) {
                error_setg(errp, "QMP input member '%s' clashes with '%s'",
                           key, exec_key);
                return NULL;
            }
            exec_key = key;
            exec_val = val;
        } else if (!strcmp(key, "arguments")) {
            if (!json_object_is_type(val, json_type_object)) {
                error_setg(errp,
                           "QMP input member 'arguments' must be an object");
                return NULL;
            }
        } else if (strcmp(key, "id") != 0) {
            error_setg(errp, "QMP input member '%s' is unexpected", key);
            return NULL;
        }
    }
    if (!exec_key) {
        error_setg(errp, "QMP input lacks member 'execute'");
        return NULL;
    }
    *oob = !strcmp(exec_key, "exec-oob");
    return json_object_get_string(exec_val);
}

static const QmpCommand *qmp_lookup(const QmpCommandList *cmds,
                                    json_object *request, bool allow_oob,
                                    Error **errp)
{
    const QmpCommand *cmd;
    const char *name;
    bool oob = false;

    name = qmp_check_request(request, allow_oob, &oob, errp);
    if (!name) {
        return NULL;
    }
    cmd = qmp_find_command(cmds, name);
    if (!cmd) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "The command %s has not been found", name);
        return NULL;
    }
    if (!qmp_command_available(cmd, errp)) {
        return NULL;
    }
    if (oob && !(cmd->options & QCO_ALLOW_OOB)) {
        error_setg(errp, "The command %s does not support OOB", name);
        return NULL;
    }
    return cmd;
}

const QmpCommand *qmp_dispatch_lookup(const QmpCommandList *cmds,
                                      json_object *request)
{
    return qmp_lookup(cmds, request, true, NULL);
}

bool qmp_is_oob(json_object *request)
{
    json_object *val;

    return json_object_is_type(request, json_type_object) &&
           json_object_object_get_ex(request, "exec-oob", &val) &&
           !json_object_object_get_ex(request, "execute", &val);
}

json_object *qmp_error_response(Error *err)
{
    json_object *rsp = json_object_new_object();
    json_object *e = json_object_new_object();

    json_object_object_add(e, "class", json_object_new_string(
                               error_class_name(error_get_class(err))));
    json_object_object_add(e, "desc",
                           json_object_new_string(error_get_pretty(err)));
    json_object_object_add(rsp, "error", e);
    error_free(err);
    return rsp;
}

static void add_id(json_object *rsp, json_object *request)
{
    json_object *id;

    if (json_object_is_type(request, json_type_object) &&
        json_object_object_get_ex(request, "id", &id)) {
        json_object_object_add(rsp, "id", json_object_get(id));
    }
}

json_object *qmp_dispatch(const QmpCommandList *cmds, json_object *request,
                          bool allow_oob)
{
    const QmpCommand *cmd;
    json_object *args = NULL;
    json_object *ret = NULL;
    json_object *rsp;
    Error *err = NULL;

    cmd = qmp_lookup(cmds, request, allow_oob, &err);
    if (cmd) {
        if (!json_object_object_get_ex(request, "arguments", &args)) {
            args = NULL;
        }
        args = args ? json_object_get(args) : json_object_new_object();
        cmd->fn(args, &ret, &err);
        json_object_put(args);
    }
    if (err) {
        json_object_put(ret);
        rsp = qmp_error_response(err);
    } else if (cmd->options & QCO_NO_SUCCESS_RESP) {
        json_object_put(ret);
        return NULL;
    } else {
        rsp = json_object_new_object();
        json_object_object_add(rsp, "return",
                               ret ? ret : json_object_new_object());
    }
    add_id(rsp, request);
    return rsp;
}
