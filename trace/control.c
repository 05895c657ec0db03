/*
 * trace/control.c: the list of trace events and their run-time control.
 *
 * The generated registry (trace/trace-events-all.c) lists every event
 * compiled into the binary; groups registered at run time are appended.
 * Patterns use '*' and '?' like QEMU's --trace.  The --trace option
 * value is parsed here, in QemuOpts syntax with the implied key "enable".
 */
#include "qemu/osdep.h"
#include "qemu/error.h"
#include "qemu/log.h"
#include "trace/control.h"

/* Generated: every event of the binary, NULL-terminated. */
extern TraceEvent *const trace_events_all[];

static GPtrArray *trace_events;     /* TraceEvent *, in id order */
static char *trace_opts_file;       /* file= of the last --trace */

static void trace_events_add(TraceEvent *const *list)
{
    for (; *list; list++) {
        (*list)->id = trace_events->len;
        g_ptr_array_add(trace_events, *list);
    }
}

static GPtrArray *trace_events_get(void)
{
    if (!trace_events) {
        trace_events = g_ptr_array_new();
        trace_events_add(trace_events_all);
    }
    return trace_events;
}

void trace_event_register_group(TraceEvent **events)
{
    trace_events_get();
    trace_events_add(events);
}

size_t trace_event_count(void)
{
    return trace_events_get()->len;
}

void trace_event_set_state_dynamic(TraceEvent *ev, bool state)
{
    if (!trace_event_get_state_static(ev)) {
        return;
    }
    *ev->dstate = state ? 1 : 0;
}

bool trace_event_is_pattern(const char *str)
{
    return strpbrk(str, "*?") != NULL;
}

bool trace_pattern_match(const char *pattern, const char *str)
{
    const char *star = NULL;    /* last '*' seen in pattern */
    const char *resume = NULL;  /* where str restarts after that '*' */

    while (*str) {
        if (*pattern == '*') {
            star = pattern++;
            resume = str;
        } else if (*pattern == '?' || *pattern == *str) {
            pattern++;
            str++;
        } else if (star) {
            pattern = star + 1;
            str = ++resume;
        } else {
            return false;
        }
    }
    while (*pattern == '*') {
        pattern++;
    }
    return *pattern == '\0';
}

TraceEvent *trace_event_name(const char *name)
{
    GPtrArray *all = trace_events_get();

    for (guint i = 0; i < all->len; i++) {
        TraceEvent *ev = g_ptr_array_index(all, i);
        if (strcmp(ev->name, name) == 0) {
            return ev;
        }
    }
    return NULL;
}

void trace_event_iter_init_all(TraceEventIter *iter)
{
    iter->idx = 0;
    iter->pattern = NULL;
}

void trace_event_iter_init_pattern(TraceEventIter *iter, const char *pattern)
{
    iter->idx = 0;
    iter->pattern = pattern;
}

TraceEvent *trace_event_iter_next(TraceEventIter *iter)
{
    GPtrArray *all = trace_events_get();

    while (iter->idx < all->len) {
        TraceEvent *ev = g_ptr_array_index(all, iter->idx++);
        if (!iter->pattern || trace_pattern_match(iter->pattern, ev->name)) {
            return ev;
        }
    }
    return NULL;
}

void trace_list_events(FILE *f)
{
    TraceEventIter iter;
    TraceEvent *ev;

    trace_event_iter_init_all(&iter);
    while ((ev = trace_event_iter_next(&iter)) != NULL) {
        fprintf(f, "%s\n", trace_event_get_name(ev));
    }
#if CONFIG_TRACE_DTRACE
    fprintf(f, "USDT probes: provider 'blockd', one probe per event above "
            "(readelf -n shows them).\n");
#endif
}

size_t trace_enable_events(const char *line)
{
    bool enable = line[0] != '-';
    const char *pattern = enable ? line : line + 1;
    bool is_pattern = trace_event_is_pattern(pattern);
    TraceEventIter iter;
    TraceEvent *ev;
    size_t n = 0;

    trace_event_iter_init_pattern(&iter, pattern);
    while ((ev = trace_event_iter_next(&iter)) != NULL) {
        if (!trace_event_get_state_static(ev)) {
            if (!is_pattern) {
                warn_report("trace event '%s' is not traceable", pattern);
                return 0;
            }
            continue;
        }
        trace_event_set_state_dynamic(ev, enable);
        n++;
        if (!is_pattern) {
            return n;
        }
    }
    if (!is_pattern) {
        warn_report("trace event '%s' does not exist", pattern);
    }
    return n;
}

bool trace_load_events_file(const char *file, Error **errp)
{
    FILE *fp;
    char *line = NULL;
    size_t cap = 0;

    if (!file) {
        return true;
    }
    fp = fopen(file, "r");
    if (!fp) {
        error_setg(errp, "%s: %s", file, strerror(errno));
        return false;
    }
    while (getline(&line, &cap, fp) >= 0) {
        char *l = g_strstrip(line);
        if (l[0] == '\0' || l[0] == '#') {
            continue;
        }
        trace_enable_events(l);
    }
    free(line);
    fclose(fp);
    return true;
}

void trace_init_events(const char *file)
{
    Error *err = NULL;

    if (!trace_load_events_file(file, &err)) {
        error_report_err(err);
        exit(1);
    }
}

bool trace_init_file(const char *file, Error **errp)
{
    return qemu_log_set_file(file, errp);
}

/*
 * Split the next "key=value" (or bare value) off *p, turning ",," into
 * ",".  Returns a new string; *p moves past the separating comma.
 */
static char *trace_opt_next(const char **p)
{
    GString *s = g_string_new(NULL);
    const char *c = *p;

    while (*c) {
        if (*c == ',') {
            if (c[1] != ',') {
                c++;
                break;
            }
            c++;
        }
        g_string_append_c(s, *c++);
    }
    *p = c;
    return g_string_free(s, false);
}

bool trace_opt_parse(const char *optarg, Error **errp)
{
    g_autofree char *enable = NULL;
    g_autofree char *events = NULL;
    g_autofree char *file = NULL;
    bool has_file = false;
    const char *p = optarg;
    bool first = true;

    while (*p) {
        g_autofree char *item = trace_opt_next(&p);
        char *eq = strchr(item, '=');
        const char *key = item;
        const char *value;

        if (!eq) {
            if (!first) {
                error_setg(errp, QERR_INVALID_PARAMETER, item);
                return false;
            }
            key = "enable";
            value = item;
        } else {
            *eq = '\0';
            value = eq + 1;
        }
        first = false;
        if (strcmp(key, "enable") == 0) {
            g_free(enable);
            enable = g_strdup(value);
        } else if (strcmp(key, "events") == 0) {
            g_free(events);
            events = g_strdup(value);
        } else if (strcmp(key, "file") == 0) {
            g_free(file);
            file = g_strdup(value);
            has_file = true;
        } else {
            error_setg(errp, QERR_INVALID_PARAMETER, key);
            return false;
        }
    }

    if (enable) {
        if (strcmp(enable, "help") == 0 || strcmp(enable, "?") == 0) {
            trace_list_events(stdout);
            exit(0);
        }
        trace_enable_events(enable);
    }
    if (!trace_load_events_file(events, errp)) {
        return false;
    }
    if (has_file) {
        g_free(trace_opts_file);
        trace_opts_file = g_steal_pointer(&file);
    }
    return true;
}

bool trace_init_backends(void)
{
    Error *err = NULL;

    if (trace_opts_file && !trace_init_file(trace_opts_file, &err)) {
        error_report_err(err);
        return false;
    }
    return true;
}
