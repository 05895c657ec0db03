/*
 * monitor.c: the set of live QMP monitors, the `--monitor` option, event
 * delivery (qapi_event_emit) and QEMU's on-the-wire JSON formatting.
 */
#include "qemu/osdep.h"
#include "qemu/aio.h"
#include "qemu/keyval.h"
#include "monitor/monitor.h"
#include "monitor-internal.h"
#include "qapi/qapi-commands.h"
#include "trace/trace-monitor.h"

QmpCommandList qmp_commands;
QmpCommandList qmp_cap_negotiation_commands;

static GList *monitors;         /* Monitor * */
static Monitor *cur_mon;

void monitor_init_globals(void)
{
    static bool done;

    if (done) {
        return;
    }
    done = true;
    qmp_command_list_init(&qmp_commands);
    qmp_init_marshal(&qmp_commands);
    qmp_command_list_init(&qmp_cap_negotiation_commands);
    qmp_register_command(&qmp_cap_negotiation_commands, "qmp_capabilities",
                         qmp_marshal_qmp_capabilities, QCO_ALLOW_PRECONFIG, 0);
}

const void *monitor_qmp_commands(void)
{
    return &qmp_commands;
}

void monitor_register(Monitor *mon)
{
    monitors = g_list_append(monitors, mon);
}

void monitor_unregister(Monitor *mon)
{
    monitors = g_list_remove(monitors, mon);
    if (cur_mon == mon) {
        cur_mon = NULL;
    }
}

unsigned monitor_count(void)
{
    return g_list_length(monitors);
}

Monitor *monitor_first(void)
{
    return monitors ? monitors->data : NULL;
}

Monitor *monitor_next(Monitor *mon)
{
    GList *l = g_list_find(monitors, mon);

    return l && l->next ? l->next->data : NULL;
}

Monitor *monitor_cur(void)
{
    return cur_mon;
}

void monitor_set_cur(Monitor *mon)
{
    cur_mon = mon;
}

bool monitor_in_negotiation(Monitor *mon)
{
    return mon->negotiating;
}

void monitor_enter_command_mode(Monitor *mon)
{
    mon->negotiating = false;
    mon->commands = &qmp_commands;
}

/*
 * json-c writes `{"a":1,"b":[2]}`; QEMU writes `{"a": 1, "b": [2]}`.
 * Add the space after every ':' and ',' that is not inside a string, so
 * scripts that match QEMU's text keep working.
 */
static GString *qmp_respace(const char *compact)
{
    GString *out = g_string_sized_new(strlen(compact) + 32);
    bool in_string = false;

    for (const char *p = compact; *p; p++) {
        g_string_append_c(out, *p);
        if (in_string) {
            if (*p == '\\' && p[1]) {
                g_string_append_c(out, *++p);
            } else if (*p == '"') {
                in_string = false;
            }
        } else if (*p == '"') {
            in_string = true;
        } else if (*p == ':' || *p == ',') {
            g_string_append_c(out, ' ');
        }
    }
    return out;
}

char *qmp_format_message(json_object *obj, bool pretty)
{
    GString *out;

    if (pretty) {
        const char *s = json_object_to_json_string_ext(obj,
                            JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                            JSON_C_TO_STRING_NOSLASHESCAPE);
        out = g_string_new(NULL);
        for (const char *p = s; *p; p++) {
            if (*p == '\n') {
                g_string_append_c(out, '\r');
            }
            g_string_append_c(out, *p);
        }
    } else {
        out = qmp_respace(json_object_to_json_string_ext(obj,
                              JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    }
    g_string_append(out, "\r\n");
    return g_string_free(out, FALSE);
}

void qapi_event_emit(const char *event_name, json_object *data)
{
    json_object *msg = json_object_new_object();
    json_object *ts = json_object_new_object();
    int64_t now = qemu_realtime_ns();

    json_object_object_add(ts, "seconds", json_object_new_int64(now / NANOSECONDS_PER_SECOND));
    json_object_object_add(ts, "microseconds",
                           json_object_new_int64((now % NANOSECONDS_PER_SECOND) / 1000));
    json_object_object_add(msg, "timestamp", ts);
    json_object_object_add(msg, "event", json_object_new_string(event_name));
    if (data) {
        json_object_object_add(msg, "data", data);
    }
    trace_monitor_qmp_event_emit(event_name);
    for (GList *l = monitors; l; l = l->next) {
        Monitor *mon = l->data;
        if (!mon->negotiating && !mon->dead) {
            monitor_qmp_send(mon, msg);
        }
    }
    json_object_put(msg);
}

bool monitor_init_opts(const char *optstr, Error **errp)
{
    GPtrArray *opts = keyval_parse_flat(optstr, "chardev", errp);
    const char *id, *mode, *pretty_s;
    bool pretty = false, ok = false;
    Chardev *chr;

    if (!opts) {
        return false;
    }
    for (guint i = 0; i < opts->len; i++) {
        KeyvalPair *kv = g_ptr_array_index(opts, i);
        if (strcmp(kv->key, "chardev") && strcmp(kv->key, "mode") &&
            strcmp(kv->key, "pretty") && strcmp(kv->key, "id")) {
            error_setg(errp, "Invalid parameter '%s'", kv->key);
            goto out;
        }
    }
    id = keyval_get(opts, "chardev");
    mode = keyval_get(opts, "mode");
    pretty_s = keyval_get(opts, "pretty");
    if (!id) {
        error_setg(errp, "Parameter 'chardev' is missing");
        goto out;
    }
    if (mode && strcmp(mode, "control")) {
        error_setg(errp, "Only QMP is supported");
        goto out;
    }
    if (pretty_s && !keyval_parse_bool("pretty", pretty_s, &pretty, errp)) {
        goto out;
    }
    chr = chardev_find(id);
    if (!chr) {
        error_setg(errp, "chardev \"%s\" not found", id);
        goto out;
    }
    ok = monitor_init_qmp(chr, pretty, errp);
out:
    g_ptr_array_unref(opts);
    return ok;
}
