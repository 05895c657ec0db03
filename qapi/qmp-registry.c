/*
 * qmp-registry.c: the table of QMP commands (QmpCommandList): registration,
 * lookup, disabling and iteration in registration order.
 */
#include "qemu/osdep.h"
#include "qapi/qmp-dispatch.h"

void qmp_command_list_init(QmpCommandList *cmds)
{
    cmds->table = g_hash_table_new(g_str_hash, g_str_equal);
    cmds->ordered = g_ptr_array_new_with_free_func(g_free);
}

void qmp_command_list_destroy(QmpCommandList *cmds)
{
    if (cmds->table) {
        g_hash_table_destroy(cmds->table);
        g_ptr_array_free(cmds->ordered, true);
        cmds->table = NULL;
        cmds->ordered = NULL;
    }
}

void qmp_register_command(QmpCommandList *cmds, const char *name,
                          QmpCommandFunc *fn, unsigned options,
                          unsigned special_features)
{
    QmpCommand *cmd;

    if (!cmds->table) {
        qmp_command_list_init(cmds);
    }
    g_assert(!g_hash_table_contains(cmds->table, name));
    cmd = g_new0(QmpCommand, 1);
    cmd->name = name;
    cmd->fn = fn;
    cmd->options = options;
    cmd->special_features = special_features;
    cmd->enabled = true;
    g_hash_table_insert(cmds->table, (gpointer)name, cmd);
    g_ptr_array_add(cmds->ordered, cmd);
}

const QmpCommand *qmp_find_command(const QmpCommandList *cmds,
                                   const char *name)
{
    if (!cmds->table) {
        return NULL;
    }
    return g_hash_table_lookup(cmds->table, name);
}

void qmp_disable_command(QmpCommandList *cmds, const char *name,
                         const char *reason)
{
    QmpCommand *cmd = cmds->table ? g_hash_table_lookup(cmds->table, name)
                                  : NULL;

    if (cmd) {
        cmd->enabled = false;
        cmd->disable_reason = reason;
    }
}

void qmp_for_each_command(const QmpCommandList *cmds,
                          void (*fn)(const QmpCommand *cmd, void *opaque),
                          void *opaque)
{
    guint i;

    if (!cmds->ordered) {
        return;
    }
    for (i = 0; i < cmds->ordered->len; i++) {
        fn(g_ptr_array_index(cmds->ordered, i), opaque);
    }
}

bool qmp_command_is_coroutine(const QmpCommand *cmd)
{
    return cmd->options & QCO_COROUTINE;
}

bool qmp_command_available(const QmpCommand *cmd, Error **errp)
{
    if (!cmd->enabled) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "The command %s has been disabled for this instance",
                  cmd->name);
        return false;
    }
    return true;
}
