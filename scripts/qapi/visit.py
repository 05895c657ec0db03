"""
visit.py: the visitor back end (qapi-visit.h / qapi-visit.c).

Input:  bool visit_type_Foo(json_object *in, const char *path, Foo **obj,
                            Error **errp)
        (enums and scalars: Foo *obj).  path is the dotted name of the value
        ("cache.direct", "bitmaps[0]"; NULL for the top level) used in error
        messages.  Objects are strict: missing, extra and wrongly typed
        members fail with QEMU's wording.
Output: json_object *visit_out_Foo(const Foo *obj)  (enums/scalars by value).
Objects also get visit_type_Foo_members() / visit_out_Foo_members() that
work on an existing json object, used for bases, union branches, command
arguments and event data.
"""

from .common import c_enum_const, wrap_if
from .gen import gen_c_pair, out_param_type
from .schema import (QAPISchemaAlternateType, QAPISchemaArrayType,
                     QAPISchemaEnumType, QAPISchemaObjectType,
                     alternate_qtype)
from .types import _indent


def in_ptr_type(typ):
    """C type of the obj parameter of visit_type_X (without the '*')."""
    if isinstance(typ, QAPISchemaEnumType):
        return typ.c_name()
    return typ.c_type()


def gen_visit_decl(typ):
    cn = typ.c_name()
    text = ''
    if isinstance(typ, QAPISchemaObjectType):
        text += ('bool visit_type_%s_members(json_object *in, const char *path,'
                 ' %s *obj, GPtrArray *seen, Error **errp);\n'
                 'void visit_out_%s_members(json_object *out, const %s *obj);\n'
                 % (cn, cn, cn, cn))
    ptype = in_ptr_type(typ)
    sep = '' if ptype.endswith('*') else ' '
    text += ('bool visit_type_%s(json_object *in, const char *path, %s%s*obj,'
             ' Error **errp);\n'
             'json_object *visit_out_%s(%s%sval);\n\n'
             % (cn, ptype, sep, cn, out_param_type(typ),
                '' if out_param_type(typ).endswith('*') else ' '))
    return text


def gen_enum_visit(typ):
    cn = typ.c_name()
    return '''bool visit_type_%(cn)s(json_object *in, const char *path, %(cn)s *obj,
                   Error **errp)
{
    int val;

    if (!qapi_visit_enum(in, path, &%(cn)s_lookup, &val, errp)) {
        return false;
    }
    *obj = val;
    return true;
}

json_object *visit_out_%(cn)s(%(cn)s val)
{
    return json_object_new_string(%(cn)s_str(val));
}

''' % {'cn': cn}


def gen_member_in(m):
    """Code reading member m of object in into obj->m."""
    cn = m.c_name()
    tn = m.type.c_name()
    text = ('if (qapi_visit_member(in, path, "%s", seen, &v, &p)) {\n'
            % m.name)
    if m.needs_has():
        text += '    obj->has_%s = true;\n' % cn
    text += ('    ok = visit_type_%s(v, p, &obj->%s, errp);\n'
             '    g_free(p);\n'
             '    if (!ok) {\n        return false;\n    }\n' % (tn, cn))
    if not m.optional:
        text += ('} else {\n'
                 '    qapi_error_missing(path, "%s", errp);\n'
                 '    return false;\n' % m.name)
    text += '}\n'
    return wrap_if(m.ifcond, text)


def gen_member_out(m):
    cn = m.c_name()
    add = ('json_object_object_add(out, "%s", visit_out_%s(obj->%s));\n'
           % (m.name, m.type.c_name(), cn))
    if m.needs_has():
        text = 'if (obj->has_%s) {\n    %s}\n' % (cn, add)
    elif m.optional:
        text = 'if (obj->%s) {\n    %s}\n' % (cn, add)
    else:
        text = add
    return wrap_if(m.ifcond, text)


def _tag_case(typ, v):
    tag = typ.tag_member.type
    return c_enum_const(tag.name, v.name, tag.prefix)


def _variant_switch(typ, gen_case):
    """switch on typ's tag: each variant's case label, then gen_case(v)."""
    if not typ.variants:
        return ''
    text = '    switch (obj->%s) {\n' % typ.tag_member.c_name()
    for v in typ.variants:
        text += wrap_if(v.ifcond,
                        '    case %s:\n' % _tag_case(typ, v) + gen_case(v))
    return text + '    default:\n        break;\n    }\n'


def gen_object_visit(typ):
    cn = typ.c_name()
    d = {'cn': cn}
    body = ''
    if typ.members:
        body += '    json_object *v;\n    char *p;\n    bool ok;\n\n'
    for m in typ.members:
        body += _indent(gen_member_in(m))
    body += _variant_switch(typ, lambda v: (
        '        return visit_type_%s_members(in, path, &obj->u.%s, seen, '
        'errp);\n' % (v.type.c_name(), v.c_name())))
    d['in_body'] = body
    out = ''
    for m in typ.members:
        out += _indent(gen_member_out(m))
    out += _variant_switch(typ, lambda v: (
        '        visit_out_%s_members(out, &obj->u.%s);\n'
        '        break;\n' % (v.type.c_name(), v.c_name())))
    d['out_body'] = out
    return '''bool visit_type_%(cn)s_members(json_object *in, const char *path,
        %(cn)s *obj, GPtrArray *seen, Error **errp)
{
%(in_body)s    return true;
}

bool visit_type_%(cn)s(json_object *in, const char *path, %(cn)s **obj,
        Error **errp)
{
    g_autoptr(GPtrArray) seen = NULL;
    %(cn)s *o;

    *obj = NULL;
    if (!qapi_visit_check_object(in, path, errp)) {
        return false;
    }
    seen = g_ptr_array_new();
    o = g_new0(%(cn)s, 1);
    if (!visit_type_%(cn)s_members(in, path, o, seen, errp) ||
        !qapi_visit_check_extra(in, path, seen, errp)) {
        qapi_free_%(cn)s(o);
        return false;
    }
    *obj = o;
    return true;
}

void visit_out_%(cn)s_members(json_object *out, const %(cn)s *obj)
{
%(out_body)s}

json_object *visit_out_%(cn)s(const %(cn)s *obj)
{
    json_object *out = json_object_new_object();

    if (obj) {
        visit_out_%(cn)s_members(out, obj);
    }
    return out;
}

''' % d


def gen_alternate_visit(typ):
    cn = typ.c_name()
    cases = ''
    outs = ''
    for v in typ.variants:
        qt = alternate_qtype(v.type)
        cases += wrap_if(v.ifcond, '    case %s:\n'
                         '        ok = visit_type_%s(in, path, &o->u.%s, errp);\n'
                         '        break;\n' % (qt, v.type.c_name(), v.c_name()))
        outs += wrap_if(v.ifcond, '    case %s:\n'
                        '        return visit_out_%s(obj->u.%s);\n'
                        % (qt, v.type.c_name(), v.c_name()))
    return '''bool visit_type_%(cn)s(json_object *in, const char *path, %(cn)s **obj,
        Error **errp)
{
    %(cn)s *o = g_new0(%(cn)s, 1);
    bool ok;

    *obj = NULL;
    o->type = qapi_json_qtype(in);
    switch (o->type) {
%(cases)s    default:
        qapi_error_alternate(path, "%(name)s", errp);
        ok = false;
        break;
    }
    if (!ok) {
        qapi_free_%(cn)s(o);
        return false;
    }
    *obj = o;
    return true;
}

json_object *visit_out_%(cn)s(const %(cn)s *obj)
{
    if (!obj) {
        return NULL;
    }
    switch (obj->type) {
%(outs)s    default:
        return NULL;
    }
}

''' % {'cn': cn, 'name': typ.name, 'cases': cases, 'outs': outs}


def gen_list_visit(typ):
    cn = typ.c_name()
    return '''bool visit_type_%(cn)s(json_object *in, const char *path, %(cn)s **obj,
        Error **errp)
{
    %(cn)s *head = NULL, **tail = &head;
    size_t i, n;

    *obj = NULL;
    if (!qapi_visit_check_array(in, path, errp)) {
        return false;
    }
    n = json_object_array_length(in);
    for (i = 0; i < n; i++) {
        g_autofree char *p = qapi_path_index(path, i);
        %(cn)s *elt = g_new0(%(cn)s, 1);

        *tail = elt;
        tail = &elt->next;
        if (!visit_type_%(ecn)s(json_object_array_get_idx(in, i), p,
                                &elt->value, errp)) {
            qapi_free_%(cn)s(head);
            return false;
        }
    }
    *obj = head;
    return true;
}

json_object *visit_out_%(cn)s(const %(cn)s *obj)
{
    json_object *arr = json_object_new_array();

    for (; obj; obj = obj->next) {
        json_object_array_add(arr, visit_out_%(ecn)s(obj->value));
    }
    return arr;
}

''' % {'cn': cn, 'ecn': typ.element_type.c_name()}


def gen_visit_def(typ):
    if isinstance(typ, QAPISchemaEnumType):
        return gen_enum_visit(typ)
    if isinstance(typ, QAPISchemaObjectType):
        return gen_object_visit(typ)
    if isinstance(typ, QAPISchemaAlternateType):
        return gen_alternate_visit(typ)
    assert isinstance(typ, QAPISchemaArrayType)
    return gen_list_visit(typ)


def gen_builtin_visit(schema):
    h, c = gen_c_pair('qapi-builtin-visit',
                      'QAPI visitors of built-in list types', schema.fname)
    h.add('#include "qapi/qapi-builtin-types.h"\n#include "qapi/visitor.h"\n\n')
    c.add('#include "qemu/osdep.h"\n#include "qapi/qapi-builtin-visit.h"\n\n')
    for t in schema.builtin_arrays:
        h.add(gen_visit_decl(t))
        c.add(gen_visit_def(t))
    return [h, c]


def gen_visit(schema, prefix):
    name = prefix + 'qapi-visit'
    h, c = gen_c_pair(name, 'QAPI visitors: json-c <-> C conversion',
                      schema.fname)
    h.add('#include "qapi/qapi-builtin-visit.h"\n#include "%sqapi-types.h"\n\n'
          % prefix)
    c.add('#include "qemu/osdep.h"\n#include "%s.h"\n\n' % name)
    types = [t for t in schema.object_types()] + schema.array_types()
    for t in types:
        h.add(wrap_if(t.ifcond, gen_visit_decl(t)))
        c.add(wrap_if(t.ifcond, gen_visit_def(t)))
    return [h, c]
