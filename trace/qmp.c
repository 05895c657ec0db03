/*
 * trace/qmp.c: the QMP commands trace-event-get-state and
 * trace-event-set-state.
 *
 * Semantics and error texts follow QEMU: a plain name must exist
 * ("unknown event \"%s\""); a pattern may match nothing (empty list, no
 * change); events compiled out are reported as 'unavailable' and, unless
 * ignore-unavailable is true, refuse set-state ("event \"%s\" is
 * disabled").  blockd has no vCPUs, so any 'vcpu' is an invalid index.
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "trace/control.h"
#include "qapi/qapi-commands.h"

static bool trace_qmp_check_vcpu(bool has_vcpu, int64_t vcpu, Error **errp)
{
    if (has_vcpu) {
        error_setg(errp, "invalid vCPU index %u", (unsigned)vcpu);
        return false;
    }
    return true;
}

static bool trace_qmp_check_events(const char *name, bool ignore_unavailable,
                                   Error **errp)
{
    TraceEventIter iter;
    TraceEvent *ev;

    if (!trace_event_is_pattern(name)) {
        ev = trace_event_name(name);
        if (!ev) {
            error_setg(errp, "unknown event \"%s\"", name);
            return false;
        }
        if (!ignore_unavailable && !trace_event_get_state_static(ev)) {
            error_setg(errp, "event \"%s\" is disabled", name);
            return false;
        }
        return true;
    }

    trace_event_iter_init_pattern(&iter, name);
    while ((ev = trace_event_iter_next(&iter)) != NULL) {
        if (!ignore_unavailable && !trace_event_get_state_static(ev)) {
            error_setg(errp, "event \"%s\" is disabled",
                       trace_event_get_name(ev));
            return false;
        }
    }
    return true;
}

static TraceEventState trace_qmp_state(const TraceEvent *ev)
{
    if (!trace_event_get_state_static(ev)) {
        return TRACE_EVENT_STATE_UNAVAILABLE;
    }
    return trace_event_get_state_dynamic(ev) ? TRACE_EVENT_STATE_ENABLED
                                             : TRACE_EVENT_STATE_DISABLED;
}

TraceEventInfoList *qmp_trace_event_get_state(const char *name,
                                              bool has_vcpu, int64_t vcpu,
                                              Error **errp)
{
    TraceEventInfoList *head = NULL;
    TraceEventIter iter;
    TraceEvent *ev;

    if (!trace_qmp_check_vcpu(has_vcpu, vcpu, errp) ||
        !trace_qmp_check_events(name, true, errp)) {
        return NULL;
    }

    /* QEMU prepends, so the reply lists matches in reverse order. */
    trace_event_iter_init_pattern(&iter, name);
    while ((ev = trace_event_iter_next(&iter)) != NULL) {
        TraceEventInfo *info = g_new0(TraceEventInfo, 1);
        TraceEventInfoList *node = g_new0(TraceEventInfoList, 1);

        info->name = g_strdup(trace_event_get_name(ev));
        info->state = trace_qmp_state(ev);
        info->vcpu = false;
        node->value = info;
        node->next = head;
        head = node;
    }
    return head;
}

void qmp_trace_event_set_state(const char *name, bool enable,
                               bool has_ignore_unavailable,
                               bool ignore_unavailable,
                               bool has_vcpu, int64_t vcpu, Error **errp)
{
    TraceEventIter iter;
    TraceEvent *ev;

    if (!trace_qmp_check_vcpu(has_vcpu, vcpu, errp) ||
        !trace_qmp_check_events(name,
                                has_ignore_unavailable && ignore_unavailable,
                                errp)) {
        return;
    }

    trace_event_iter_init_pattern(&iter, name);
    while ((ev = trace_event_iter_next(&iter)) != NULL) {
        if (trace_event_get_state_static(ev)) {
            trace_event_set_state_dynamic(ev, enable);
        }
    }
}
