"""
types.py: the C types back end (qapi-types.h / qapi-types.c).

Enums become `typedef enum` with a FOO__MAX sentinel and a QEnumLookup
table; structs and unions become C structs with base members first,
`bool has_X` for optional non-pointer members and `union { ... } u` for
union branches (embedded by value); alternates hold a QType and a union;
every list type is a singly linked FooList.  Each pointer type gets
qapi_free_Foo(), qapi_clear_Foo() (free members only) and g_autoptr support.
"""

from .common import c_enum_const, c_name, wrap_if, gen_if, gen_endif
from .gen import gen_c_pair, gen_free, member_c_decl
from .schema import (QAPISchemaAlternateType, QAPISchemaArrayType,
                     QAPISchemaBuiltinType, QAPISchemaEnumType,
                     QAPISchemaObjectType, alternate_qtype)


def gen_enum_decl(typ):
    lines = ['typedef enum %s {\n' % typ.c_name()]
    for m in typ.members:
        lines.append(wrap_if(m.ifcond, '    %s,\n'
                             % c_enum_const(typ.name, m.name, typ.prefix)))
    lines.append('    %s,\n' % c_enum_const(typ.name, '_MAX', typ.prefix))
    lines.append('} %s;\n\n' % typ.c_name())
    lines.append('#define %s_str(val) qapi_enum_lookup(&%s_lookup, (val))\n'
                 % (typ.c_name(), typ.c_name()))
    lines.append('extern const QEnumLookup %s_lookup;\n\n' % typ.c_name())
    return ''.join(lines)


def gen_enum_lookup(typ):
    special = [m for m in typ.members
               if any(f.is_special() for f in m.features)]
    lines = []
    if special:
        lines.append('static const unsigned char %s_special[] = {\n'
                     % typ.c_name())
        for m in special:
            bits = ' | '.join('(1u << QAPI_%s)' % f.name.upper()
                              for f in m.features if f.is_special())
            lines.append(wrap_if(m.ifcond, '    [%s] = %s,\n' % (
                c_enum_const(typ.name, m.name, typ.prefix), bits)))
        lines.append('};\n\n')
    lines.append('static const char *const %s_names[] = {\n' % typ.c_name())
    for m in typ.members:
        lines.append(wrap_if(m.ifcond, '    [%s] = "%s",\n' % (
            c_enum_const(typ.name, m.name, typ.prefix), m.name)))
    lines.append('};\n\n')
    lines.append('const QEnumLookup %s_lookup = {\n' % typ.c_name())
    lines.append('    .array = %s_names,\n' % typ.c_name())
    if special:
        lines.append('    .special_features = %s_special,\n' % typ.c_name())
    lines.append('    .size = %s,\n' % c_enum_const(typ.name, '_MAX', typ.prefix))
    lines.append('};\n\n')
    return ''.join(lines)


def gen_members_decl(members):
    out = []
    for m in members:
        text = ''
        if m.needs_has():
            text += '    bool has_%s;\n' % m.c_name()
        text += '    %s;\n' % member_c_decl(m.type, m.c_name())
        out.append(wrap_if(m.ifcond, text))
    return ''.join(out)


def gen_object_decl(typ):
    text = 'struct %s {\n' % typ.c_name()
    if typ.base and not typ.base.is_implicit():
        text += '    /* Members inherited from %s: */\n' % typ.base.c_name()
    text += gen_members_decl(typ.members)
    if typ.variants:
        text += '    union { /* union tag is @%s */\n' % typ.tag_member.c_name()
        for v in typ.variants:
            text += wrap_if(v.ifcond, '        %s %s;\n'
                            % (v.type.c_unboxed_type(), v.c_name()))
        text += '    } u;\n'
    if typ.is_empty():
        text += '    char qapi_dummy_for_empty_struct;\n'
    text += '};\n\n'
    if typ.base:
        text += ('static inline %s *qapi_%s_base(const %s *obj)\n{\n'
                 '    return (%s *)obj;\n}\n\n'
                 % (typ.base.c_name(), typ.c_name(), typ.c_name(),
                    typ.base.c_name()))
    return text


def gen_alternate_decl(typ):
    text = 'struct %s {\n    QType type;\n    union {\n' % typ.c_name()
    for v in typ.variants:
        text += wrap_if(v.ifcond, '        %s;\n'
                        % member_c_decl(v.type, v.c_name()))
    text += '    } u;\n};\n\n'
    return text


def gen_list_decl(typ):
    return ('struct %s {\n    %s *next;\n    %s;\n};\n\n'
            % (typ.c_name(), typ.c_name(),
               member_c_decl(typ.element_type, 'value')))


def gen_free_decl(typ):
    cn = typ.c_name()
    return ('void qapi_free_%s(%s *obj);\n'
            'void qapi_clear_%s(%s *obj);\n'
            'G_DEFINE_AUTOPTR_CLEANUP_FUNC(%s, qapi_free_%s)\n\n'
            % (cn, cn, cn, cn, cn, cn))


def gen_clear_members(members, prefix):
    out = []
    for m in members:
        code = gen_free(m.type, prefix + m.c_name())
        out.append(wrap_if(m.ifcond, code))
    return ''.join(out)


def _indent(text, n=1):
    pad = '    ' * n
    return ''.join(pad + l if l.strip() and not l.startswith('#') else l
                   for l in text.splitlines(True))


def gen_free_def(typ):
    cn = typ.c_name()
    body = ''
    if isinstance(typ, QAPISchemaObjectType):
        body += _indent(gen_clear_members(typ.members, 'obj->'))
        if typ.variants:
            body += '    switch (obj->%s) {\n' % typ.tag_member.c_name()
            for v in typ.variants:
                body += wrap_if(v.ifcond, '    case %s:\n'
                                '        qapi_clear_%s(&obj->u.%s);\n'
                                '        break;\n'
                                % (c_enum_const(typ.tag_member.type.name,
                                                v.name,
                                                typ.tag_member.type.prefix),
                                   v.type.c_name(), v.c_name()))
            body += '    default:\n        break;\n    }\n'
    elif isinstance(typ, QAPISchemaAlternateType):
        body += '    switch (obj->type) {\n'
        for v in typ.variants:
            code = gen_free(v.type, 'obj->u.' + v.c_name())
            if code:
                body += wrap_if(v.ifcond, '    case %s:\n%s        break;\n'
                                % (alternate_qtype(v.type), _indent(code, 2)))
        body += '    default:\n        break;\n    }\n'
    elif isinstance(typ, QAPISchemaArrayType):
        code = gen_free(typ.element_type, 'obj->value')
        body += ('    while (obj) {\n        %s *next = obj->next;\n\n'
                 % cn + _indent(code, 2) + '        g_free(obj);\n'
                 '        obj = next;\n    }\n')
        return ('void qapi_clear_%s(%s *obj)\n{\n    (void)obj;\n}\n\n'
                'void qapi_free_%s(%s *obj)\n{\n%s}\n\n'
                % (cn, cn, cn, cn, body))
    return ('void qapi_clear_%s(%s *obj)\n{\n    if (!obj) {\n        return;\n'
            '    }\n%s}\n\n'
            'void qapi_free_%s(%s *obj)\n{\n    if (obj) {\n'
            '        qapi_clear_%s(obj);\n        g_free(obj);\n    }\n}\n\n'
            % (cn, cn, body, cn, cn, cn))


def order_objects(types):
    """Objects before the unions that embed them by value."""
    done = set()
    order = []

    def visit(t):
        if t.name in done:
            return
        done.add(t.name)
        if isinstance(t, QAPISchemaObjectType) and t.variants:
            for v in t.variants:
                visit(v.type)
        order.append(t)
    for t in types:
        visit(t)
    return order


def gen_builtin_types(schema):
    h, c = gen_c_pair('qapi-builtin-types', 'QAPI built-in list types',
                      schema.fname, 'QAPI built-in list types: free functions')
    h.add('#include "qapi/util.h"\n\n')
    c.add('#include "qemu/osdep.h"\n#include "qapi/qapi-builtin-types.h"\n\n')
    for t in schema.builtin_arrays:
        h.add('typedef struct %s %s;\n' % (t.c_name(), t.c_name()))
    h.add('\n')
    for t in schema.builtin_arrays:
        h.add(gen_list_decl(t) + gen_free_decl(t))
        c.add(gen_free_def(t))
    return [h, c]


def gen_types(schema, prefix):
    name = prefix + 'qapi-types'
    h, c = gen_c_pair(name, 'QAPI schema types (C structs, enums, lists)',
                      schema.fname,
                      'QAPI schema types: enum lookup tables, free functions')
    h.add('#include "qapi/qapi-builtin-types.h"\n\n')
    c.add('#include "qemu/osdep.h"\n#include "%s.h"\n\n' % name)
    named = schema.object_types()
    arrays = schema.array_types()
    # forward declarations
    for t in named + arrays:
        if not isinstance(t, QAPISchemaEnumType):
            h.add(wrap_if(t.ifcond, 'typedef struct %s %s;\n'
                          % (t.c_name(), t.c_name())))
    h.add('\n')
    for t in named:
        if isinstance(t, QAPISchemaEnumType):
            h.add(wrap_if(t.ifcond, gen_enum_decl(t)))
            c.add(wrap_if(t.ifcond, gen_enum_lookup(t)))
    for t in arrays:
        h.add(wrap_if(t.ifcond, gen_list_decl(t)))
    for t in order_objects([t for t in named
                            if not isinstance(t, QAPISchemaEnumType)]):
        if isinstance(t, QAPISchemaObjectType):
            h.add(wrap_if(t.ifcond, gen_object_decl(t)))
        else:
            h.add(wrap_if(t.ifcond, gen_alternate_decl(t)))
    for t in named + arrays:
        if isinstance(t, QAPISchemaEnumType):
            continue
        h.add(wrap_if(t.ifcond, gen_free_decl(t)))
        c.add(wrap_if(t.ifcond, gen_free_def(t)))
    return [h, c]
