#!/usr/bin/env python3
"""Check OCSF events (JSON Lines on stdin) against the vendored OCSF schema.

Written for Orchestra's tests (tests/it/audit_ocsf.rs); reads the schema's own
definition files in tests/vendor/ocsf-schema (see its README). For each event:
the class exists (class_uid = category uid * 1000 + class uid), type_uid =
class_uid * 100 + activity_id, activity_id and severity_id are values of
their enums, every attribute the class (with the classes it extends) marks
required is present, no attribute is unknown to the class, and objects are
checked the same way (their required attributes, at_least_one / just_one
constraints, unknown attributes, primitive types). Profiles are not applied:
an attribute only a profile defines is unknown. Exit 0 if every event passes,
1 with one line per problem otherwise.
"""

import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ocsf-schema")


def load(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return json.load(f)


DICT = load("dictionary.json")
CATS = load("categories.json")["attributes"]
TYPES = DICT["types"]["attributes"]
ATTRS = DICT["attributes"]


def find_class(name):
    for d, _, files in os.walk(os.path.join(ROOT, "events")):
        for f in files:
            with open(os.path.join(d, f), encoding="utf-8") as fh:
                c = json.load(fh)
            if c.get("name") == name:
                return c
    raise KeyError(name)


def merged(defn, finder):
    """Attributes of a class or object with those of what it extends."""
    chain = [defn]
    while chain[-1].get("extends"):
        chain.append(finder(chain[-1]["extends"]))
    attrs = {}
    for d in reversed(chain):
        for k, v in d.get("attributes", {}).items():
            if k == "$include" or not isinstance(v, dict):
                continue
            prev = attrs.get(k, {})
            attrs[k] = {**prev, **{kk: vv for kk, vv in v.items() if vv is not None}}
    constraints = {}
    for d in reversed(chain):
        constraints.update(d.get("constraints") or {})
    return chain, attrs, constraints


def find_object(name):
    return load(os.path.join("objects", name + ".json"))


CLASSES = {}
for d, _, files in os.walk(os.path.join(ROOT, "events")):
    for f in files:
        with open(os.path.join(d, f), encoding="utf-8") as fh:
            c = json.load(fh)
        chain, attrs, _ = merged(c, find_class)
        cat = next((x.get("category") for x in chain if x.get("category")), None)
        cat_uid = CATS.get(cat, {}).get("uid", 0) if cat else 0
        uid = c.get("uid", 0)
        CLASSES[cat_uid * 1000 + uid if cat else uid] = (c["name"], attrs, cat_uid)


def base_type(t):
    while t in TYPES and TYPES[t].get("type") and TYPES[t]["type"] != t:
        t = TYPES[t]["type"]
    return t


def check_value(path, value, spec, problems):
    info = ATTRS.get(path.split(".")[-1].split("[")[0], {})
    t = spec.get("type") or info.get("type")
    is_array = spec.get("is_array", info.get("is_array", False))
    if is_array:
        if not isinstance(value, list):
            problems.append(f"{path}: want an array")
            return
        for i, v in enumerate(value):
            check_scalar(f"{path}[{i}]", v, t, spec.get("object_type") or info.get("object_type"), problems)
    else:
        check_scalar(path, value, t, spec.get("object_type") or info.get("object_type"), problems)


def is_object(name):
    return bool(name) and os.path.exists(os.path.join(ROOT, "objects", name + ".json"))


def check_scalar(path, v, t, object_type, problems):
    name = object_type if t == "object_t" else t
    if name == "object":
        if not isinstance(v, dict):
            problems.append(f"{path}: want an object")
        return
    if is_object(name):
        check_object(path, v, name, problems)
        return
    b = base_type(t or "")
    want = {"string_t": str, "integer_t": int, "long_t": int, "boolean_t": bool, "float_t": (int, float)}.get(b)
    if want and (not isinstance(v, want) or (want is int and isinstance(v, bool))):
        problems.append(f"{path}: want {b}, got {type(v).__name__}")


def check_attrs(path, value, attrs, constraints, problems):
    for k, spec in attrs.items():
        if spec.get("requirement") == "required" and k not in value:
            problems.append(f"{path}: required attribute {k} missing")
    for k, v in value.items():
        if k not in attrs:
            problems.append(f"{path}: attribute {k} is not defined here")
            continue
        check_value(f"{path}.{k}" if path else k, v, attrs[k], problems)
        enum = attrs[k].get("enum") or ATTRS.get(k, {}).get("enum")
        # The class and category ids are checked against the class itself.
        if k in ("class_uid", "category_uid", "type_uid"):
            enum = None
        # 0 (Unknown) and 99 (Other) belong to every _id enum: the OCSF schema
        # server adds them where a definition file does not list them.
        if enum and isinstance(v, int) and str(v) not in enum and not (k.endswith("_id") and v in (0, 99)):
            problems.append(f"{path}.{k}: {v} is not one of {sorted(enum)}")
    for kind, names in constraints.items():
        present = [n for n in names if n in value]
        if kind == "at_least_one" and not present:
            problems.append(f"{path}: needs at least one of {names}")
        if kind == "just_one" and len(present) != 1:
            problems.append(f"{path}: needs exactly one of {names}")


def check_object(path, value, name, problems):
    if not isinstance(value, dict):
        problems.append(f"{path}: want an object")
        return
    _, attrs, constraints = merged(find_object(name), find_object)
    check_attrs(path, value, attrs, constraints, problems)


def check_event(i, e, problems):
    p = f"event {i}"
    cls = CLASSES.get(e.get("class_uid"))
    if cls is None:
        problems.append(f"{p}: unknown class_uid {e.get('class_uid')}")
        return
    name, attrs, cat_uid = cls
    if e.get("category_uid") != cat_uid:
        problems.append(f"{p} ({name}): category_uid is not {cat_uid}")
    if e.get("type_uid") != e.get("class_uid", 0) * 100 + e.get("activity_id", -1):
        problems.append(f"{p} ({name}): type_uid is not class_uid * 100 + activity_id")
    before = len(problems)
    check_attrs("", e, attrs, {}, problems)
    for j in range(before, len(problems)):
        problems[j] = f"{p} ({name}) {problems[j]}"


def main():
    problems = []
    n = 0
    for i, line in enumerate(sys.stdin):
        if line.strip():
            check_event(i, json.loads(line), problems)
            n += 1
    for pr in problems:
        print(pr)
    print(f"{n} events, {len(problems)} problems", file=sys.stderr)
    sys.exit(1 if problems or n == 0 else 0)


if __name__ == "__main__":
    main()
