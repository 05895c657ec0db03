"""
commands.py: the command back end (qapi-commands.h / .c / .trace-events).

For each command 'foo-bar' it declares the hand-written handler
    RET qmp_foo_bar(ARGS..., Error **errp)
(non-boxed: one parameter per argument member, `bool has_X, T X` for
optional non-pointer members; boxed: `ArgType *arg`), generates the
marshaller qmp_marshal_foo_bar(json_object *args, json_object **ret,
Error **errp) and registers everything in qmp_init_marshal().  Commands
with 'gen': false only get their marshaller declared and registered.
Marshallers fire the qmp_enter_/qmp_exit_ trace events of the generated
trace-events file when the tracing header exists.
"""

from .common import c_name, wrap_if
from .gen import QAPIGenFile, gen_c_pair, gen_free


def handler_params(cmd):
    """Parameter list text of qmp_<name>() (without errp)."""
    if cmd.arg_type is None:
        return ''
    if cmd.boxed:
        return '%s *arg, ' % cmd.arg_type.c_name()
    out = ''
    for m in cmd.arg_type.members:
        if m.needs_has():
            out += 'bool has_%s, ' % m.c_name()
        ptype = m.type.c_param_type()
        sep = '' if ptype.endswith('*') else ' '
        out += '%s%s%s, ' % (ptype, sep, m.c_name())
    return out


def call_args(cmd):
    if cmd.arg_type is None:
        return ''
    if cmd.boxed:
        return '&arg, '
    out = ''
    for m in cmd.arg_type.members:
        if m.needs_has():
            out += 'arg.has_%s, ' % m.c_name()
        out += 'arg.%s, ' % m.c_name()
    return out


def ret_c_type(cmd):
    return cmd.ret_type.c_type() if cmd.ret_type else 'void'


def gen_handler_decl(cmd):
    rt = ret_c_type(cmd)
    sep = '' if rt.endswith('*') else ' '
    return '%s%sqmp_%s(%sError **errp);\n' % (rt, sep, c_name(cmd.name),
                                             handler_params(cmd))


def gen_marshal_decl(cmd):
    return ('void qmp_marshal_%s(json_object *args, json_object **ret, '
            'Error **errp);\n' % c_name(cmd.name))


def trace_guard(cmd, event):
    return 'TRACE_QMP_%s_%s' % (event.upper(), c_name(cmd.name).upper())


def gen_marshal(cmd, tracing):
    cn = c_name(cmd.name)
    d = {'cn': cn}
    decls = '    Error *err = NULL;\n'
    decls += '    g_autoptr(GPtrArray) seen = g_ptr_array_new();\n'
    if cmd.arg_type:
        decls += '    %s arg = {0};\n' % cmd.arg_type.c_name()
    if cmd.ret_type:
        decls += '    %s;\n' % _decl(cmd.ret_type, 'retval')
    body = ''
    if tracing:
        body += ('#ifdef BLOCKD_QAPI_TRACE\n'
                 '    if (trace_event_get_state_backends(%s)) {\n'
                 '        trace_qmp_enter_%s(json_object_to_json_string_ext('
                 'args, JSON_C_TO_STRING_PLAIN));\n'
                 '    }\n#endif\n' % (trace_guard(cmd, 'enter'), cn))
    if cmd.arg_type:
        body += ('    if (!visit_type_%s_members(args, NULL, &arg, seen, errp) ||\n'
                 '        !qapi_visit_check_extra(args, NULL, seen, errp)) {\n'
                 '        goto out;\n    }\n' % cmd.arg_type.c_name())
    else:
        body += ('    if (!qapi_visit_check_extra(args, NULL, seen, errp)) {\n'
                 '        goto out;\n    }\n')
    call = 'qmp_%s(%s&err);\n' % (cn, call_args(cmd))
    body += '    ' + ('retval = ' + call if cmd.ret_type else call)
    body += '    if (err) {\n'
    if tracing:
        body += ('#ifdef BLOCKD_QAPI_TRACE\n'
                 '        trace_qmp_exit_%s(error_get_pretty(err), false);\n'
                 '#endif\n' % cn)
    body += '        error_propagate(errp, err);\n        goto out;\n    }\n'
    if cmd.ret_type:
        body += '    *ret = visit_out_%s(retval);\n' % cmd.ret_type.c_name()
        free = gen_free(cmd.ret_type, 'retval')
        body += ''.join('    ' + l for l in free.splitlines(True))
    if tracing:
        res = ('json_object_to_json_string_ext(*ret, JSON_C_TO_STRING_PLAIN)'
               if cmd.ret_type else '"{}"')
        body += ('#ifdef BLOCKD_QAPI_TRACE\n'
                 '    if (trace_event_get_state_backends(%s)) {\n'
                 '        trace_qmp_exit_%s(%s, true);\n'
                 '    }\n#endif\n' % (trace_guard(cmd, 'exit'), cn, res))
    body += '\nout:\n'
    if cmd.arg_type:
        body += '    qapi_clear_%s(&arg);\n' % cmd.arg_type.c_name()
    else:
        body += '    return;\n'
    d['decls'] = decls
    d['body'] = body
    return '''void qmp_marshal_%(cn)s(json_object *args, json_object **ret,
        Error **errp)
{
%(decls)s
%(body)s}

''' % d


def _decl(typ, name):
    ctype = typ.c_type()
    init = ' = NULL' if ctype.endswith('*') else ''
    sep = '' if ctype.endswith('*') else ' '
    return '%s%s%s%s' % (ctype, sep, name, init)


def gen_register(cmd):
    opts = []
    if not cmd.success_response:
        opts.append('QCO_NO_SUCCESS_RESP')
    if cmd.allow_oob:
        opts.append('QCO_ALLOW_OOB')
    if cmd.allow_preconfig:
        opts.append('QCO_ALLOW_PRECONFIG')
    if cmd.coroutine:
        opts.append('QCO_COROUTINE')
    feats = ['(1u << QAPI_%s)' % f.name.upper() for f in cmd.special_features()]
    return wrap_if(cmd.ifcond,
                   '    qmp_register_command(cmds, "%s", qmp_marshal_%s,\n'
                   '                         %s, %s);\n'
                   % (cmd.name, c_name(cmd.name),
                      ' | '.join(opts) or 'QCO_NO_OPTIONS',
                      ' | '.join(feats) or '0'))


def gen_commands(schema, prefix, tracing):
    name = prefix + 'qapi-commands'
    h, c = gen_c_pair(name, 'QAPI commands: handler prototypes, marshallers',
                      schema.fname,
                      'QAPI commands: marshallers and registration')
    t = QAPIGenFile(name + '.trace-events',
                    '# AUTOMATICALLY GENERATED by scripts/qapi-gen.py, '
                    'DO NOT MODIFY\n\n')
    h.add('#include "qapi/qmp-dispatch.h"\n#include "%sqapi-types.h"\n\n'
          % prefix)
    c.add('#include "qemu/osdep.h"\n#include "%sqapi-visit.h"\n'
          '#include "%s.h"\n' % (prefix, name))
    if tracing:
        c.add('''
#if defined(__has_include)
#if __has_include("trace/trace-qapi_commands.h")
#include "trace/trace-qapi_commands.h"
#define BLOCKD_QAPI_TRACE 1
#endif
#endif
''')
    c.add('\n')
    for cmd in schema.commands:
        if not cmd.gen:
            h.add(wrap_if(cmd.ifcond, gen_marshal_decl(cmd)))
            continue
        h.add(wrap_if(cmd.ifcond, gen_handler_decl(cmd) +
                      gen_marshal_decl(cmd)))
        c.add(wrap_if(cmd.ifcond, gen_marshal(cmd, tracing)))
        if tracing:
            t.add('qmp_enter_%s(const char *json) "%%s"\n'
                  'qmp_exit_%s(const char *result, bool succeeded) "%%s %%d"\n'
                  % (c_name(cmd.name), c_name(cmd.name)))
    init = c_name(prefix, False) + 'qmp_init_marshal'
    if prefix:
        h.add('\nvoid %s(QmpCommandList *cmds);\n' % init)
    c.add('void %s(QmpCommandList *cmds)\n{\n' % init)
    for cmd in schema.commands:
        c.add(gen_register(cmd))
    c.add('}\n')
    return [h, c, t]
