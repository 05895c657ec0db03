"""
events.py: the event back end (qapi-events.h / qapi-events.c).

For each event FOO_BAR: void qapi_event_send_foo_bar(ARGS...) fills the
event's data struct, converts it with the generated output visitor and
hands it to qapi_event_emit() (implemented by the monitor).  Also the enum
QAPIEvent of all events with its lookup table.
"""

from .common import c_enum_const, c_name, wrap_if
from .gen import gen_c_pair
from .schema import QAPISchemaEnumMember, QAPISchemaEnumType
from .types import gen_enum_decl, gen_enum_lookup


def event_params(ev):
    if ev.arg_type is None:
        return 'void'
    if ev.boxed:
        return 'const %s *arg' % ev.arg_type.c_name()
    out = []
    for m in ev.arg_type.members:
        if m.needs_has():
            out.append('bool has_%s' % m.c_name())
        ptype = m.type.c_param_type()
        if ptype.endswith('*') and not ptype.startswith('const'):
            ptype = 'const ' + ptype
        sep = '' if ptype.endswith('*') else ' '
        out.append('%s%s%s' % (ptype, sep, m.c_name()))
    return ', '.join(out)


def gen_event_send(ev):
    fn = 'qapi_event_send_%s' % c_name(ev.name.lower())
    text = 'void %s(%s)\n{\n' % (fn, event_params(ev))
    if ev.arg_type is None:
        text += '    qapi_event_emit("%s", NULL);\n}\n\n' % ev.name
        return text
    text += '    json_object *data = json_object_new_object();\n'
    if ev.boxed:
        text += ('\n    visit_out_%s_members(data, arg);\n'
                 % ev.arg_type.c_name())
    else:
        text += '    %s param = {0};\n\n' % ev.arg_type.c_name()
        for m in ev.arg_type.members:
            a = ''
            if m.needs_has():
                a += '    param.has_%s = has_%s;\n' % (m.c_name(), m.c_name())
            cast = '(%s)' % m.type.c_type() if m.type.is_pointer() else ''
            a += '    param.%s = %s%s;\n' % (m.c_name(), cast, m.c_name())
            text += wrap_if(m.ifcond, a)
        text += ('    visit_out_%s_members(data, &param);\n'
                 % ev.arg_type.c_name())
    text += '    qapi_event_emit("%s", data);\n}\n\n' % ev.name
    return text


def gen_events(schema, prefix):
    name = prefix + 'qapi-events'
    h, c = gen_c_pair(name, 'QAPI events: qapi_event_send_*()', schema.fname)
    h.add('#include "qapi/qmp-dispatch.h"\n#include "%sqapi-types.h"\n\n'
          % prefix)
    c.add('#include "qemu/osdep.h"\n#include "%sqapi-visit.h"\n'
          '#include "%s.h"\n\n' % (prefix, name))
    enum_name = c_name(prefix + 'QAPIEvent', False)
    enum = QAPISchemaEnumType(
        enum_name, None,
        [QAPISchemaEnumMember(e.name, None, e.ifcond) for e in schema.events],
        prefix=c_name(prefix, False).upper() + 'QAPI_EVENT')
    h.add(gen_enum_decl(enum))
    c.add(gen_enum_lookup(enum))
    for ev in schema.events:
        h.add(wrap_if(ev.ifcond, 'void qapi_event_send_%s(%s);\n'
                      % (c_name(ev.name.lower()), event_params(ev))))
        c.add(wrap_if(ev.ifcond, gen_event_send(ev)))
    return [h, c]
