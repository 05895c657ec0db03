/*
 * monitor-internal.h: state shared between the QMP session code
 * (qmp.c), the event fan-out (monitor.c) and the control commands
 * (qmp-cmds.c).
 */
#ifndef MONITOR_INTERNAL_H
#define MONITOR_INTERNAL_H

#include "qemu/osdep.h"
#include "qemu/aio.h"
#include "qapi/qmp-dispatch.h"
#include "monitor/monitor.h"

/* Limits on one incoming message, as QEMU's JSON parser has them. */
#define QMP_MAX_MESSAGE_BYTES   (64 * 1024 * 1024)
#define QMP_MAX_NESTING         1024
/* Stop reading while this many requests wait or this much output is unsent. */
#define QMP_REQ_QUEUE_MAX       8
#define QMP_OUT_HIGH_WATER      (1024 * 1024)
/* A client that lets this much output pile up is disconnected. */
#define QMP_OUT_MAX             (64 * 1024 * 1024)

typedef enum QMPResync {
    QMP_RESYNC_NONE,
    QMP_RESYNC_WORD,            /* skipping the rest of a bad token */
    QMP_RESYNC_CLOSERS,         /* skipping the brackets of a spoiled message */
} QMPResync;

/* One parsed input message, or the error its parse produced. */
typedef struct QMPRequest {
    json_object *req;
    Error *err;
} QMPRequest;

struct Monitor {
    Chardev *chr;
    int in_fd;
    int out_fd;
    bool pretty;
    bool negotiating;           /* before qmp_capabilities */
    bool oob_enabled;
    const QmpCommandList *commands;

    json_tokener *tok;
    size_t msg_bytes;           /* bytes fed into the message being parsed */
    QMPResync resync;           /* resynchronising after a parse error */
    bool resync_closers;

    GQueue requests;            /* QMPRequest * */
    bool dispatching;           /* a command is running (maybe in a coroutine) */
    QEMUBH *dispatch_bh;

    GString *outbuf;
    size_t out_off;
    bool read_suspended;
    bool want_write;
    bool dead;                  /* connection closed; freed once idle */
    bool free_scheduled;
};

extern QmpCommandList qmp_commands;
extern QmpCommandList qmp_cap_negotiation_commands;

/* monitor.c */
void monitor_register(Monitor *mon);
void monitor_unregister(Monitor *mon);
void monitor_set_cur(Monitor *mon);
Monitor *monitor_first(void);
Monitor *monitor_next(Monitor *mon);
/* Serialise obj as QEMU does (`{"a": 1, "b": [2]}`), CRLF-terminated. */
char *qmp_format_message(json_object *obj, bool pretty);

/* qmp.c */
void monitor_qmp_send(Monitor *mon, json_object *obj);
void monitor_qmp_send_greeting(Monitor *mon);

#endif
