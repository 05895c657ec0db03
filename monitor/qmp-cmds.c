/*
 * qmp-cmds.c: the QMP control commands: qmp_capabilities, query-version,
 * query-commands and quit.
 */
#include "qemu/osdep.h"
#include "monitor/monitor.h"
#include "monitor-internal.h"
#include "qapi/qapi-commands.h"
#include "sysemu/runstate.h"

void qmp_qmp_capabilities(QMPCapabilityList *enable, Error **errp)
{
    Monitor *mon = monitor_cur();
    bool oob = false;

    if (!mon || !monitor_in_negotiation(mon)) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "Capabilities negotiation is already complete, command ignored");
        return;
    }
    for (QMPCapabilityList *l = enable; l; l = l->next) {
        if (l->value == QMP_CAPABILITY_OOB) {
            oob = true;
        }
    }
    mon->oob_enabled = oob;
    monitor_enter_command_mode(mon);
}

VersionInfo *qmp_query_version(Error **errp)
{
    VersionInfo *info = g_new0(VersionInfo, 1);

    info->qemu = g_new0(VersionTriple, 1);
    info->qemu->major = BLOCKD_VERSION_MAJOR;
    info->qemu->minor = BLOCKD_VERSION_MINOR;
    info->qemu->micro = BLOCKD_VERSION_MICRO;
    info->package = g_strdup("blockd " BLOCKD_VERSION);
    return info;
}

static void query_commands_cb(const QmpCommand *cmd, void *opaque)
{
    CommandInfoList ***tailp = opaque;
    CommandInfoList *elem;

    if (!cmd->enabled) {
        return;
    }
    elem = g_new0(CommandInfoList, 1);
    elem->value = g_new0(CommandInfo, 1);
    elem->value->name = g_strdup(cmd->name);
    **tailp = elem;
    *tailp = &elem->next;
}

CommandInfoList *qmp_query_commands(Error **errp)
{
    CommandInfoList *list = NULL;
    CommandInfoList **tail = &list;

    qmp_for_each_command(&qmp_commands, query_commands_cb, &tail);
    return list;
}

void qmp_quit(Error **errp)
{
    qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT);
}
