"""
introspect.py: the introspection back end (qapi-introspect.h / .c).

Builds the value of query-qmp-schema in QEMU's SchemaInfo format: every
command and event in schema order, then every type they use (transitively).
Names of non-builtin types are masked as decimal numbers in order of first
use, as QEMU does (so clients look at commands, not type names); all
integer types are reported as "int".  Conditional entities, members,
branches and features are wrapped in #if, so they drop out when their
CONFIG_ macro is not defined.  The data is a static QLitObject tree
(include/qapi/qlit.h) turned into json-c by qlit_to_json().
"""

from .common import c_name, gen_if, gen_endif
from .gen import gen_c_pair
from .schema import (QAPISchemaAlternateType, QAPISchemaArrayType,
                     QAPISchemaBuiltinType, QAPISchemaEnumType,
                     QAPISchemaObjectType)


class Annotated:
    def __init__(self, value, ifcond=None, comment=None):
        self.value = value
        self.ifcond = ifcond
        self.comment = comment


class IntrospectBuilder:

    def __init__(self, schema, unmask=False):
        self.schema = schema
        self.unmask = unmask
        self.names = {}
        self.used = []
        self.trees = []

    def _name(self, name):
        if self.unmask:
            return name
        if name not in self.names:
            self.names[name] = '%d' % len(self.names)
        return self.names[name]

    def use_type(self, typ):
        if typ.json_type() == 'int':
            typ = self.schema.lookup_type('int')
        elif (isinstance(typ, QAPISchemaArrayType)
              and typ.element_type.json_type() == 'int'):
            typ = self.schema.lookup_type('intList')
        if typ not in self.used:
            self.used.append(typ)
        if isinstance(typ, QAPISchemaBuiltinType):
            return typ.name
        if isinstance(typ, QAPISchemaArrayType):
            return '[' + self.use_type(typ.element_type) + ']'
        return self._name(typ.name)

    @staticmethod
    def features(feats):
        return [Annotated(f.name, f.ifcond) for f in feats]

    def tree(self, name, mtype, obj, ifcond, feats):
        comment = None
        if mtype not in ('command', 'event', 'builtin', 'array'):
            comment = name
            name = self._name(name)
        obj['name'] = name
        obj['meta-type'] = mtype
        if feats:
            obj['features'] = self.features(feats)
        self.trees.append(Annotated(obj, ifcond, comment))

    def member(self, m):
        obj = {'name': m.name, 'type': self.use_type(m.type)}
        if m.optional:
            obj['default'] = None
        if m.features:
            obj['features'] = self.features(m.features)
        return Annotated(obj, m.ifcond)

    def build(self):
        empty = self.schema.the_empty_object_type
        for ent in self.schema.entities:
            if ent.meta == 'command':
                obj = {'arg-type': self.use_type(ent.arg_type or empty),
                       'ret-type': self.use_type(ent.ret_type or empty)}
                if ent.allow_oob:
                    obj['allow-oob'] = True
                self.tree(ent.name, 'command', obj, ent.ifcond, ent.features)
            elif ent.meta == 'event':
                obj = {'arg-type': self.use_type(ent.arg_type or empty)}
                self.tree(ent.name, 'event', obj, ent.ifcond, ent.features)
        i = 0
        while i < len(self.used):
            self.type_tree(self.used[i])
            i += 1
        return self.trees

    def type_tree(self, typ):
        if isinstance(typ, QAPISchemaBuiltinType):
            self.tree(typ.name, 'builtin', {'json-type': typ.json_type()},
                      None, [])
        elif isinstance(typ, QAPISchemaArrayType):
            elt = self.use_type(typ.element_type)
            self.tree('[' + elt + ']', 'array', {'element-type': elt},
                      typ.ifcond, [])
        elif isinstance(typ, QAPISchemaEnumType):
            members = []
            for m in typ.members:
                obj = {'name': m.name}
                if m.features:
                    obj['features'] = self.features(m.features)
                members.append(Annotated(obj, m.ifcond))
            values = [Annotated(m.name, m.ifcond) for m in typ.members]
            self.tree(typ.name, 'enum', {'members': members,
                                         'values': values},
                      typ.ifcond, typ.features)
        elif isinstance(typ, QAPISchemaObjectType):
            obj = {'members': [self.member(m) for m in typ.members]}
            if typ.variants is not None:
                obj['tag'] = typ.tag_member.name
                obj['variants'] = [
                    Annotated({'case': v.name,
                               'type': self.use_type(v.type)}, v.ifcond)
                    for v in typ.variants]
            self.tree(typ.name, 'object', obj, typ.ifcond, typ.features)
        elif isinstance(typ, QAPISchemaAlternateType):
            members = [Annotated({'type': self.use_type(v.type)}, v.ifcond)
                       for v in typ.variants]
            self.tree(typ.name, 'alternate', {'members': members},
                      typ.ifcond, typ.features)


def c_string(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


def to_qlit(node, level=0):
    pad = '    ' * level
    if isinstance(node, Annotated):
        text = ''
        if node.comment:
            text += pad + '/* %s */\n' % node.comment
        body = pad + to_qlit(node.value, level) + ',\n'
        if node.ifcond:
            body = gen_if(node.ifcond) + body + gen_endif(node.ifcond)
        return text + body
    if node is None:
        return 'QLIT_NULL'
    if isinstance(node, bool):
        return 'QLIT_BOOL(%s)' % ('true' if node else 'false')
    if isinstance(node, str):
        return 'QLIT_STR(%s)' % c_string(node)
    inner = '    ' * (level + 1)
    if isinstance(node, list):
        text = 'QLIT_LIST(((QLitObject[]) {\n'
        for elt in node:
            if not isinstance(elt, Annotated):
                elt = Annotated(elt)
            text += to_qlit(elt, level + 1)
        return text + inner + '{ 0 }\n' + pad + '}))'
    assert isinstance(node, dict)
    text = 'QLIT_DICT(((QLitDictEntry[]) {\n'
    for key in sorted(node):
        text += inner + '{ %s, %s },\n' % (c_string(key),
                                           to_qlit(node[key], level + 1))
    return text + inner + '{ 0 }\n' + pad + '}))'


def gen_introspect(schema, prefix, unmask=False):
    name = prefix + 'qapi-introspect'
    var = c_name(prefix, False) + 'qmp_schema_qlit'
    h, c = gen_c_pair(name, 'QAPI introspection data (query-qmp-schema)',
                      schema.fname)
    h.add('#include "qapi/qlit.h"\n\nextern const QLitObject %s;\n' % var)
    c.add('#include "qemu/osdep.h"\n#include "%s.h"\n\n' % name)
    trees = IntrospectBuilder(schema, unmask).build()
    c.add('const QLitObject %s = %s;\n' % (var, to_qlit(trees)))
    return [h, c]
