"""
schema.py: the semantic model of a QAPI schema.

QAPISchema(fname) parses the schema files, checks every definition
(allowed keys, value shapes, names, type references, union and alternate
rules, member clashes) and builds entity objects the back ends walk:
enums, structs and unions (QAPISchemaObjectType), alternates, arrays,
built-in types, commands and events.  Errors are QAPIError with the
file:line of the offending definition.
"""

import re

from .common import c_name
from .error import QAPIError
from .parser import QAPISchemaParser

NAME_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_.-]*$')
SPECIAL_FEATURES = ('deprecated', 'unstable')


def check_name(info, what, name, allow_optional=False, is_type=False):
    if not isinstance(name, str):
        raise QAPIError(info, '%s requires a string name' % what)
    if allow_optional and name.startswith('*'):
        name = name[1:]
    if not NAME_RE.match(name):
        raise QAPIError(info, "%s has an invalid name '%s'" % (what, name))
    if name.startswith('q_') or name.startswith('has_') and not is_type:
        raise QAPIError(info, "%s name '%s' is reserved" % (what, name))
    if is_type and name.endswith('List'):
        raise QAPIError(info, "%s name '%s' must not end with 'List'"
                        % (what, name))
    return name


def check_keys(info, expr, meta, required, optional):
    for k in required:
        if k not in expr:
            raise QAPIError(info, "%s lacks key '%s'" % (meta, k))
    allowed = set(required) | set(optional)
    for k in expr:
        if k not in allowed:
            raise QAPIError(info, "%s has unknown key '%s' (valid keys: %s)"
                            % (meta, k, ', '.join(sorted(allowed))))


def check_bool(info, expr, key):
    if key in expr and not isinstance(expr[key], bool):
        raise QAPIError(info, "'%s' must be true or false" % key)


def check_ifcond(info, cond, where='if'):
    """Validate an 'if' value: 'CONFIG_X', {'all': [..]}, {'any': [..]}, {'not': ..}."""
    if cond is None:
        return None
    if isinstance(cond, str):
        if not re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', cond):
            raise QAPIError(info, "'%s' condition '%s' is not a valid macro name"
                            % (where, cond))
        return cond
    if not isinstance(cond, dict) or len(cond) != 1:
        raise QAPIError(info, "'%s' condition must be a string or an object "
                        "with a single key 'all', 'any' or 'not'" % where)
    op, arg = next(iter(cond.items()))
    if op == 'not':
        check_ifcond(info, arg, where)
    elif op in ('all', 'any'):
        if not isinstance(arg, list) or not arg:
            raise QAPIError(info, "'%s' condition '%s' needs a non-empty list"
                            % (where, op))
        for a in arg:
            check_ifcond(info, a, where)
    else:
        raise QAPIError(info, "'%s' condition has unknown operator '%s'"
                        % (where, op))
    return cond


class QAPISchemaFeature:
    def __init__(self, name, info, ifcond=None):
        self.name = name
        self.info = info
        self.ifcond = ifcond

    def is_special(self):
        return self.name in SPECIAL_FEATURES


def parse_features(info, value):
    if value is None:
        return []
    if not isinstance(value, list):
        raise QAPIError(info, "'features' must be an array")
    feats = []
    seen = set()
    for f in value:
        if isinstance(f, dict):
            check_keys(info, f, 'feature', ['name'], ['if'])
            name, cond = f['name'], check_ifcond(info, f.get('if'))
        else:
            name, cond = f, None
        check_name(info, 'feature', name)
        if name in seen:
            raise QAPIError(info, "duplicate feature '%s'" % name)
        seen.add(name)
        feats.append(QAPISchemaFeature(name, info, cond))
    return feats


# ---------------------------------------------------------------- entities

class QAPISchemaEntity:
    meta = None

    def __init__(self, name, info, ifcond=None, features=None):
        self.name = name
        self.info = info
        self.ifcond = ifcond
        self.features = features or []

    def c_name(self):
        return c_name(self.name)

    def is_implicit(self):
        return self.info is None or self.name.startswith('q_')

    def check(self, schema):
        pass

    def special_features(self):
        return [f for f in self.features if f.is_special()]


class QAPISchemaType(QAPISchemaEntity):
    """A type: knows its C spelling and JSON type."""

    def c_type(self):
        """Type of a struct member / variable holding a value."""
        raise NotImplementedError

    def c_param_type(self):
        return self.c_type()

    def c_unboxed_type(self):
        return self.c_type()

    def is_pointer(self):
        return self.c_type().endswith('*')

    def json_type(self):
        raise NotImplementedError

    def visit_name(self):
        """Suffix of visit_type_X / visit_out_X / qapi_free_X."""
        return self.c_name()

    def doc_type(self):
        return self.name


class QAPISchemaBuiltinType(QAPISchemaType):
    meta = 'built-in'

    def __init__(self, name, json_type, c_type):
        super().__init__(name, None)
        self._json_type = json_type
        self._c_type = c_type

    def c_name(self):
        return self.name

    def c_type(self):
        return self._c_type

    def c_param_type(self):
        if self.name == 'str':
            return 'const char *'
        return self._c_type

    def json_type(self):
        return self._json_type

    def is_implicit(self):
        return False


class QAPISchemaEnumMember:
    def __init__(self, name, info, ifcond=None, features=None):
        self.name = name
        self.info = info
        self.ifcond = ifcond
        self.features = features or []


class QAPISchemaEnumType(QAPISchemaType):
    meta = 'enum'

    def __init__(self, name, info, members, prefix=None, ifcond=None,
                 features=None):
        super().__init__(name, info, ifcond, features)
        self.members = members
        self.prefix = prefix

    def c_type(self):
        return self.c_name()

    def json_type(self):
        return 'string'

    def member_names(self):
        return [m.name for m in self.members]


class QAPISchemaArrayType(QAPISchemaType):
    meta = 'array'

    def __init__(self, element_type):
        super().__init__(element_type.name + 'List', None)
        self.element_type = element_type
        self.ifcond = element_type.ifcond

    def c_name(self):
        return self.element_type.c_name() + 'List'

    def c_type(self):
        return self.c_name() + ' *'

    def c_unboxed_type(self):
        return self.c_name()

    def json_type(self):
        return 'array'

    def is_implicit(self):
        return True

    def doc_type(self):
        return '[%s]' % self.element_type.name


class QAPISchemaMember:
    def __init__(self, name, info, typ, optional, ifcond=None,
                 features=None):
        self.name = name
        self.info = info
        self.type_name = typ
        self.type = None
        self.optional = optional
        self.ifcond = ifcond
        self.features = features or []

    def c_name(self):
        return c_name(self.name)

    def needs_has(self):
        """Optional members of non-pointer type carry a has_X flag."""
        return self.optional and not self.type.is_pointer()


class QAPISchemaVariant:
    """One branch: the tag value (or alternate member name) and its type."""

    def __init__(self, name, info, typ, ifcond=None, features=None):
        self.name = name
        self.info = info
        self.type_name = typ
        self.type = None
        self.ifcond = ifcond
        self.features = features or []

    def c_name(self):
        return c_name(self.name)


class QAPISchemaObjectType(QAPISchemaType):
    """A struct (variants is None) or a union (tag member + variants)."""

    def __init__(self, name, info, base_name, members, ifcond=None,
                 features=None, tag_name=None, variants=None, meta='struct'):
        super().__init__(name, info, ifcond, features)
        self.meta = meta
        self.base_name = base_name
        self.base = None
        self.local_members = members
        self.members = None         # base members + local members
        self.tag_name = tag_name
        self.tag_member = None
        self.variants = variants
        self._checked = False
        self._checking = False

    def c_type(self):
        return self.c_name() + ' *'

    def c_unboxed_type(self):
        return self.c_name()

    def json_type(self):
        return 'object'

    def is_empty(self):
        return not self.members and not self.variants

    def check(self, schema):
        if self._checked:
            return
        if self._checking:
            raise QAPIError(self.info, "object %s contains itself" % self.name)
        self._checking = True
        members = []
        if self.base_name:
            base = schema.resolve(self.base_name, self.info, "'base'")
            if not isinstance(base, QAPISchemaObjectType) or base.variants:
                raise QAPIError(self.info, "'base' requires a struct type, "
                                "%s '%s' isn't" % (base.meta, base.name))
            base.check(schema)
            self.base = base
            members.extend(base.members)
        for m in self.local_members:
            m.type = schema.resolve(m.type_name, m.info,
                                    "member '%s'" % m.name)
            members.append(m)
        seen = {}
        for m in members:
            cn = m.c_name()
            if cn in seen:
                raise QAPIError(self.info, "member '%s' collides with member "
                                "'%s'" % (m.name, seen[cn].name))
            seen[cn] = m
        self.members = members
        if self.variants is not None:
            self._check_variants(schema, seen)
        self._checking = False
        self._checked = True

    def _check_variants(self, schema, members):
        tag = members.get(c_name(self.tag_name))
        if tag is None or tag.name != self.tag_name:
            raise QAPIError(self.info, "discriminator '%s' is not a member of "
                            "'base'" % self.tag_name)
        if not isinstance(tag.type, QAPISchemaEnumType):
            raise QAPIError(self.info, "discriminator member '%s' of 'base' "
                            "must be of enum type" % self.tag_name)
        if tag.optional:
            raise QAPIError(self.info, "discriminator member '%s' of 'base' "
                            "must not be optional" % self.tag_name)
        if tag.ifcond:
            raise QAPIError(self.info, "discriminator member '%s' of 'base' "
                            "must not be conditional" % self.tag_name)
        self.tag_member = tag
        values = tag.type.member_names()
        for v in self.variants:
            if v.name not in values:
                raise QAPIError(v.info, "branch '%s' is not a value of %s '%s'"
                                % (v.name, tag.type.meta, tag.type.name))
            v.type = schema.resolve(v.type_name, v.info, "branch '%s'" % v.name)
            if not isinstance(v.type, QAPISchemaObjectType):
                raise QAPIError(v.info, "branch '%s' cannot use %s type '%s'"
                                % (v.name, v.type.meta, v.type.name))
            v.type.check(schema)
            for m in v.type.members:
                if m.c_name() in members:
                    raise QAPIError(v.info, "member '%s' of branch '%s' "
                                    "collides with member of the union base"
                                    % (m.name, v.name))


class QAPISchemaAlternateType(QAPISchemaType):
    meta = 'alternate'

    def __init__(self, name, info, variants, ifcond=None, features=None):
        super().__init__(name, info, ifcond, features)
        self.variants = variants

    def c_type(self):
        return self.c_name() + ' *'

    def c_unboxed_type(self):
        return self.c_name()

    def json_type(self):
        return 'value'

    def check(self, schema):
        seen = {}
        for v in self.variants:
            v.type = schema.resolve(v.type_name, v.info,
                                    "branch '%s'" % v.name)
            if isinstance(v.type, QAPISchemaAlternateType):
                raise QAPIError(v.info, "branch '%s' cannot use alternate "
                                "type '%s'" % (v.name, v.type.name))
            if v.type.name == 'any':
                raise QAPIError(v.info, "branch '%s' cannot use type 'any'"
                                % v.name)
            jt = alternate_qtype(v.type)
            if jt in seen:
                raise QAPIError(v.info, "branch '%s' can't be distinguished "
                                "from '%s'" % (v.name, seen[jt].name))
            seen[jt] = v


def alternate_qtype(typ):
    """The QType constant an alternate branch is chosen by."""
    return {
        'string': 'QTYPE_QSTRING', 'number': 'QTYPE_QNUM',
        'int': 'QTYPE_QNUM', 'boolean': 'QTYPE_QBOOL',
        'null': 'QTYPE_QNULL', 'object': 'QTYPE_QDICT',
        'array': 'QTYPE_QLIST',
    }[typ.json_type()]


class QAPISchemaCommand(QAPISchemaEntity):
    meta = 'command'

    def __init__(self, name, info, arg_type, ret_type, ifcond, features,
                 boxed, success_response, gen, allow_oob, allow_preconfig,
                 coroutine):
        super().__init__(name, info, ifcond, features)
        self.arg_type_name = arg_type
        self.arg_type = None
        self.ret_type_name = ret_type
        self.ret_type = None
        self.boxed = boxed
        self.success_response = success_response
        self.gen = gen
        self.allow_oob = allow_oob
        self.allow_preconfig = allow_preconfig
        self.coroutine = coroutine

    def check(self, schema):
        if self.arg_type_name:
            self.arg_type = schema.resolve(self.arg_type_name, self.info,
                                           "command's 'data'")
            check_arg_type(self, self.arg_type)
        if self.ret_type_name:
            self.ret_type = schema.resolve(self.ret_type_name, self.info,
                                           "command's 'returns'")


class QAPISchemaEvent(QAPISchemaEntity):
    meta = 'event'

    def __init__(self, name, info, arg_type, ifcond, features, boxed):
        super().__init__(name, info, ifcond, features)
        self.arg_type_name = arg_type
        self.arg_type = None
        self.boxed = boxed

    def check(self, schema):
        if self.arg_type_name:
            self.arg_type = schema.resolve(self.arg_type_name, self.info,
                                           "event's 'data'")
            check_arg_type(self, self.arg_type)


def check_arg_type(ent, typ):
    if not isinstance(typ, QAPISchemaObjectType):
        raise QAPIError(ent.info, "%s's 'data' cannot take %s type '%s'"
                        % (ent.meta, typ.meta, typ.name))
    if typ.variants and not ent.boxed:
        raise QAPIError(ent.info, "%s's 'data' can take union type '%s' "
                        "only with 'boxed': true" % (ent.meta, typ.name))
    if not ent.boxed:
        for m in typ.members:
            if m.ifcond:
                raise QAPIError(ent.info, "conditional argument '%s' needs "
                                "'boxed': true" % m.name)


# ---------------------------------------------------------------- schema

BUILTINS = [
    ('str', 'string', 'char *'),
    ('number', 'number', 'double'),
    ('int', 'int', 'int64_t'),
    ('int8', 'int', 'int8_t'),
    ('int16', 'int', 'int16_t'),
    ('int32', 'int', 'int32_t'),
    ('int64', 'int', 'int64_t'),
    ('uint8', 'int', 'uint8_t'),
    ('uint16', 'int', 'uint16_t'),
    ('uint32', 'int', 'uint32_t'),
    ('uint64', 'int', 'uint64_t'),
    ('size', 'int', 'uint64_t'),
    ('bool', 'boolean', 'bool'),
    ('null', 'null', 'QNull *'),
    ('any', 'value', 'json_object *'),
]

META_KEYS = {
    'enum': (['data'], ['prefix', 'if', 'features']),
    'struct': (['data'], ['base', 'if', 'features']),
    'union': (['base', 'discriminator', 'data'], ['if', 'features']),
    'alternate': (['data'], ['if', 'features']),
    'command': ([], ['data', 'returns', 'boxed', 'success-response', 'gen',
                     'allow-oob', 'allow-preconfig', 'coroutine', 'if',
                     'features']),
    'event': ([], ['data', 'boxed', 'if', 'features']),
}


class QAPISchema:

    def __init__(self, fname):
        self.fname = fname
        self.entities = []          # definitions in schema order
        self.types = {}             # name -> type (incl. builtins, arrays)
        self.commands = []
        self.events = []
        self.builtins = []
        for name, json_type, ctype in BUILTINS:
            t = QAPISchemaBuiltinType(name, json_type, ctype)
            self.types[name] = t
            self.builtins.append(t)
        self.builtin_arrays = [self._make_array(t) for t in self.builtins]
        self.the_empty_object_type = QAPISchemaObjectType(
            'q_empty', None, None, [])
        self.types['q_empty'] = self.the_empty_object_type
        parser = QAPISchemaParser(fname)
        for expr, info in parser.exprs:
            self._define(expr, info)
        self.the_empty_object_type.check(self)
        for ent in list(self.entities):
            ent.check(self)

    # ---- lookup ----
    def _make_array(self, elt):
        name = elt.name + 'List'
        if name not in self.types:
            self.types[name] = QAPISchemaArrayType(elt)
        return self.types[name]

    def resolve(self, ref, info, what):
        """ref is a type name or a one-element list [name]."""
        if isinstance(ref, list):
            elt = self.resolve(ref[0], info, what)
            if isinstance(elt, QAPISchemaArrayType):
                raise QAPIError(info, "%s: arrays of arrays are not supported"
                                % what)
            return self._make_array(elt)
        typ = self.types.get(ref)
        if typ is None or isinstance(typ, QAPISchemaArrayType):
            raise QAPIError(info, "%s uses unknown type '%s'" % (what, ref))
        return typ

    def lookup_type(self, name):
        return self.types.get(name)

    def array_types(self):
        """Array types of non-builtin elements that the schema uses."""
        return [t for t in self.types.values()
                if isinstance(t, QAPISchemaArrayType)
                and not isinstance(t.element_type, QAPISchemaBuiltinType)]

    def object_types(self):
        return [e for e in self.entities if isinstance(e, QAPISchemaType)]

    # ---- definitions ----
    def _add(self, ent):
        if ent.name in self.types or any(
                e.name == ent.name for e in self.commands + self.events):
            raise QAPIError(ent.info, "'%s' is already defined" % ent.name)
        if isinstance(ent, QAPISchemaType):
            self.types[ent.name] = ent
        elif isinstance(ent, QAPISchemaCommand):
            self.commands.append(ent)
        else:
            self.events.append(ent)
        self.entities.append(ent)

    def _define(self, expr, info):
        metas = [m for m in META_KEYS if m in expr]
        if len(metas) != 1:
            raise QAPIError(info, "expression must have exactly one of the "
                            "keys %s" % ', '.join("'%s'" % m for m in META_KEYS))
        meta = metas[0]
        name = expr[meta]
        check_name(info, meta, name,
                   is_type=meta not in ('command', 'event'))
        info.set_defn(meta, name)
        req, opt = META_KEYS[meta]
        check_keys(info, expr, meta, [meta] + req, opt)
        for key in ('boxed', 'success-response', 'gen', 'allow-oob',
                    'allow-preconfig', 'coroutine'):
            check_bool(info, expr, key)
        ifcond = check_ifcond(info, expr.get('if'))
        features = parse_features(info, expr.get('features'))
        getattr(self, '_def_' + meta)(expr, info, name, ifcond, features)

    def _def_enum(self, expr, info, name, ifcond, features):
        data = expr['data']
        if not isinstance(data, list):
            raise QAPIError(info, "'data' must be an array")
        members = []
        seen = set()
        for v in data:
            if isinstance(v, dict):
                check_keys(info, v, 'enum member', ['name'], ['if', 'features'])
                vname, vif = v['name'], check_ifcond(info, v.get('if'))
                vfeat = parse_features(info, v.get('features'))
            else:
                vname, vif, vfeat = v, None, []
            if not isinstance(vname, str) or not re.match(
                    r'^[A-Za-z0-9_][A-Za-z0-9_.-]*$', vname):
                raise QAPIError(info, "enum member has an invalid name '%s'"
                                % vname)
            cn = c_name(vname, False).upper()
            if cn in seen:
                raise QAPIError(info, "enum member '%s' collides with an "
                                "earlier member" % vname)
            seen.add(cn)
            members.append(QAPISchemaEnumMember(vname, info, vif, vfeat))
        prefix = expr.get('prefix')
        if prefix is not None and not isinstance(prefix, str):
            raise QAPIError(info, "'prefix' must be a string")
        self._add(QAPISchemaEnumType(name, info, members, prefix, ifcond,
                                     features))

    def _members(self, info, data, what="'data'"):
        if not isinstance(data, dict):
            raise QAPIError(info, "%s must be an object" % what)
        members = []
        for key, val in data.items():
            mname = check_name(info, 'member', key, allow_optional=True)
            optional = key.startswith('*')
            typ, mif, mfeat = self._member_value(info, mname, val)
            members.append(QAPISchemaMember(mname, info, typ, optional, mif,
                                            mfeat))
        return members

    def _member_value(self, info, mname, val):
        if isinstance(val, dict):
            check_keys(info, val, "member '%s'" % mname, ['type'],
                       ['if', 'features'])
            return (self._type_ref(info, val['type'], mname),
                    check_ifcond(info, val.get('if')),
                    parse_features(info, val.get('features')))
        return self._type_ref(info, val, mname), None, []

    def _type_ref(self, info, val, what):
        if isinstance(val, list):
            if len(val) != 1 or not isinstance(val[0], str):
                raise QAPIError(info, "'%s': array type must contain a single "
                                "type name" % what)
            return val
        if not isinstance(val, str):
            raise QAPIError(info, "'%s' should be a type name" % what)
        return val

    def _implicit_object(self, name, info, data, ifcond):
        typ = QAPISchemaObjectType(name, info, None,
                                   self._members(info, data), ifcond)
        self.types[name] = typ
        self.entities.append(typ)
        return name

    def _def_struct(self, expr, info, name, ifcond, features):
        base = expr.get('base')
        if base is not None and not isinstance(base, str):
            raise QAPIError(info, "'base' must be a type name")
        self._add(QAPISchemaObjectType(name, info, base,
                                       self._members(info, expr['data']),
                                       ifcond, features))

    def _def_union(self, expr, info, name, ifcond, features):
        base = expr['base']
        if isinstance(base, dict):
            base = self._implicit_object('q_obj_%s-base' % name, info, base,
                                         ifcond)
        elif not isinstance(base, str):
            raise QAPIError(info, "'base' must be a type name or an object")
        tag = expr['discriminator']
        if not isinstance(tag, str):
            raise QAPIError(info, "'discriminator' must be a string")
        data = expr['data']
        if not isinstance(data, dict):
            raise QAPIError(info, "'data' must be an object")
        variants = []
        for key, val in data.items():
            if not re.match(r'^[A-Za-z0-9_][A-Za-z0-9_.-]*$', key):
                raise QAPIError(info, "branch has an invalid name '%s'" % key)
            if isinstance(val, list):
                raise QAPIError(info, "branch '%s' cannot be an array" % key)
            typ, vif, _ = self._member_value(info, key, val)
            variants.append(QAPISchemaVariant(key, info, typ, vif))
        self._add(QAPISchemaObjectType(name, info, base, [], ifcond, features,
                                       tag, variants, meta='union'))

    def _def_alternate(self, expr, info, name, ifcond, features):
        data = expr['data']
        if not isinstance(data, dict) or not data:
            raise QAPIError(info, "'data' must be a non-empty object")
        variants = []
        for key, val in data.items():
            check_name(info, 'branch', key)
            typ, vif, vfeat = self._member_value(info, key, val)
            variants.append(QAPISchemaVariant(key, info, typ, vif, vfeat))
        self._add(QAPISchemaAlternateType(name, info, variants, ifcond,
                                          features))

    def _arg_type(self, expr, info, name, ifcond, meta):
        data = expr.get('data')
        if data is None:
            if expr.get('boxed'):
                raise QAPIError(info, "'boxed': true requires 'data'")
            return None
        if isinstance(data, dict):
            if expr.get('boxed'):
                raise QAPIError(info, "'boxed': true requires 'data' to name "
                                "a type")
            if not data:
                return None
            return self._implicit_object('q_obj_%s-arg' % name, info, data,
                                         ifcond)
        if not isinstance(data, str):
            raise QAPIError(info, "'data' must be an object or a type name")
        return data

    def _def_command(self, expr, info, name, ifcond, features):
        arg = self._arg_type(expr, info, name, ifcond, 'command')
        ret = expr.get('returns')
        if ret is not None:
            ret = self._type_ref(info, ret, 'returns')
        gen = expr.get('gen', True)
        self._add(QAPISchemaCommand(
            name, info, arg, ret, ifcond, features, expr.get('boxed', False),
            expr.get('success-response', True), gen,
            expr.get('allow-oob', False), expr.get('allow-preconfig', False),
            expr.get('coroutine', False)))

    def _def_event(self, expr, info, name, ifcond, features):
        arg = self._arg_type(expr, info, name, ifcond, 'event')
        self._add(QAPISchemaEvent(name, info, arg, ifcond, features,
                                  expr.get('boxed', False)))
