"""The infra/ Bicep as data: parsed by pycep (checkov's Bicep parser), with a small evaluator for the
expressions our templates use, so tests can ask what a resource would be given its parameters.

pycep writes identifiers and string literals alike as strings: a string naming a parameter or
variable of the file is taken as a reference to it, anything else as a literal. Only what the
templates here use is evaluated (literals, references, parameter defaults that use other
parameters, `for` loops, `concat`, `empty`, `union`, `split`, `last`, `resourceGroup(sub, name)`,
`==`, `!=`, `&&`, `||`, `!`, the conditional operator, `${...}` interpolation, property access on
values it computed); anything else (resource properties, other functions) comes back as `Opaque`,
which tests may compare by its text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

INFRA = Path(__file__).resolve().parents[2] / "infra"
_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}")


@dataclass(frozen=True)
class Ref:
    """A parameter the test gave no value."""

    name: str


@dataclass(frozen=True)
class Opaque:
    """An expression the evaluator does not compute, kept as pycep parsed it."""

    node: Any

    def text(self) -> str:
        return _text(self.node)


def _text(node: Any) -> str:
    """Property and index access as written (`runnerNetwork.outputs.vnetId`); anything else as parsed."""
    operator = node.get("operator", {}) if isinstance(node, dict) else {}
    operands = operator.get("operands", {})
    if operator.get("type") == "property_accessor":
        return f"{_text(operands['operand_1'])}.{_text(operands['operand_2'])}"
    if operator.get("type") == "index_accessor":
        return f"{_text(operands['operand_1'])}[{_text(operands['operand_2'])}]"
    return node if isinstance(node, str) else repr(node)


@cache
def parsed(relative: str) -> dict[str, Any]:
    # pycep types its answer as a TypedDict of the known sections; tests read it as plain data.
    document: dict[str, Any] = dict(BicepParser().parse(file_path=INFRA / relative))
    return document


@dataclass(frozen=True)
class GroupScope:
    """`resourceGroup(subscriptionId, name)`: where a module is deployed."""

    subscription: Any
    group: Any


@dataclass
class Template:
    relative: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def document(self) -> dict[str, Any]:
        return parsed(self.relative)

    def resource(self, name: str) -> dict[str, Any]:
        """A resource or a module, as parsed (its body under `config`)."""
        document = self.document
        found: dict[str, Any] = document["resources"].get(name) or document["modules"][name]
        return found

    def config(self, name: str) -> Any:
        """A resource's body (name, properties, scope, ...) evaluated; without its `if`, if it has one."""
        body = self.resource(name)["config"]
        if "condition" in body and "loop_type" not in body:
            body = body["config"]
        return self.value(body)

    def deployed(self, name: str) -> bool:
        """Whether a resource or module is made: its `if` condition evaluated (True without one)."""
        body = self.resource(name)["config"]
        if "condition" not in body or "loop_type" in body:
            return True
        condition = self.value(body["condition"])
        assert isinstance(condition, bool), f"{name}: its condition is not computed: {condition!r}"
        return condition

    def output(self, name: str) -> Any:
        return self.value(self.document["outputs"][name]["value"])

    def configs(self, name: str) -> list[Any]:
        """Every copy of a resource: one, or one per item of its `for` loop."""
        body = self.resource(name)["config"]
        if "loop_type" not in body:
            return [self.config(name)]
        looped = self._loop(body)
        assert looped is not None, f"{name}: its loop's array is not computed"
        return looped

    def _loop(self, body: dict[str, Any]) -> list[Any] | None:
        """A `for` loop over an array, item by item (with its `if` filter); None for anything else."""
        detail = body["loop_type"]["detail"]
        items = self.value(detail["array_name"]) if "array_name" in detail else None
        if not isinstance(items, list):
            return None
        found = []
        for index, item in enumerate(items):
            bound = {detail["item_name"]: item} | (
                {detail["index_name"]: index} if "index_name" in detail else {}
            )
            scoped = Template(self.relative, self.params | bound)
            if body.get("condition") is not None and scoped.value(body["condition"]) is False:
                continue
            found.append(scoped.value(body["config"]))
        return found

    def variable(self, name: str) -> Any:
        return self.value(self.document["variables"][name]["value"])

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if isinstance(node, str):
            return self._name(node)
        if not isinstance(node, dict):
            return node
        if "loop_type" in node and "config" in node:
            looped = self._loop(node)
            return Opaque(node) if looped is None else looped
        # An expression is a one-key node; an object literal may have a property of that name too.
        if _expression(node, "function"):
            return self._function(node["function"])
        if _expression(node, "operator"):
            return self._operator(node["operator"], node)
        return {key: self.value(item) for key, item in node.items()}

    def _name(self, text: str) -> Any:
        if text in self.params:
            return self.params[text]
        parameters = self.document.get("parameters", {})
        if text in parameters:
            default = parameters[text].get("default")
            return Ref(text) if default is None else self.value(default)
        if text in self.document.get("variables", {}):
            return self.variable(text)
        return _INTERPOLATION.sub(self._interpolated, text)

    def _interpolated(self, match: re.Match[str]) -> str:
        """`${name}` or `${name.property...}`; a path through something not computed stays as written."""
        value = self._name(match.group(1))
        for part in filter(None, match.group(2).split(".")):
            if not isinstance(value, dict) or part not in value:
                return match.group(0)
            value = value[part]
        return str(value)

    def _function(self, call: dict[str, Any]) -> Any:
        args = [self.value(a) for a in call.get("parameters", {}).values()]
        kind = call["type"]
        if kind == "concat":
            return (
                [item for arg in args for item in arg]
                if all(isinstance(a, list) for a in args)
                else Opaque(call)
            )
        if kind == "empty":
            return not args[0]
        if kind == "subscription_resource_id":
            return f"{args[0]}/{args[1]}"
        if kind == "union" and all(isinstance(a, list) for a in args):
            found: list[Any] = []
            for item in (i for a in args for i in a):
                if item not in found:
                    found.append(item)
            return found
        if kind == "union" and args and all(isinstance(a, dict) for a in args):
            merged: dict[str, Any] = {}
            for arg in args:
                merged = _merged(merged, arg)
            return merged
        if kind == "string" and _computed(args[0]):
            value = args[0]
            return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        if kind == "split" and all(isinstance(a, str) for a in args):
            parts = args[0].split(args[1])
            return parts[call["index"]] if "index" in call else parts
        if kind == "last" and args and isinstance(args[0], list | str):
            return args[0][-1]
        if kind == "resource_group" and len(args) == 2 and None not in args:
            parameters = call["parameters"]
            return GroupScope(
                self.value(parameters["subscription_id"]), self.value(parameters["resource_group_name"])
            )
        return Opaque({"function": call})

    def _operator(self, operator: dict[str, Any], node: Any) -> Any:
        operands = operator["operands"]
        kind = operator["type"]
        if kind == "conditional":
            condition = self.value(operands["condition"])
            if isinstance(condition, bool):
                return self.value(operands["true_value" if condition else "false_value"])
        if kind == "property_accessor":
            owner = self.value(operands["operand_1"])
            if isinstance(owner, dict) and operands["operand_2"] in owner:
                return owner[operands["operand_2"]]
        if kind == "not":
            value = self.value(operands["bool_value"])
            if isinstance(value, bool):
                return not value
        values = [self.value(operand) for operand in operands.values()]
        known = not any(isinstance(v, Ref | Opaque) for v in values)
        if kind in ("and", "or") and all(isinstance(v, bool) for v in values):
            return all(values) if kind == "and" else any(values)
        if kind == "divide" and known and all(type(v) is int for v in values):
            return int(values[0] / values[1])  # ARM's div truncates toward zero
        if kind in ("equals", "not_equals") and known:
            return (values[0] == values[1]) == (kind == "equals")
        return Opaque(node)


def _computed(value: Any) -> bool:
    """Whether `value` holds nothing the evaluator left uncomputed (a `Ref` or an `Opaque`)."""
    if isinstance(value, dict):
        return all(_computed(v) for v in value.values())
    if isinstance(value, list):
        return all(_computed(v) for v in value)
    return not isinstance(value, Ref | Opaque | GroupScope)


def _merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """ARM's `union` of two objects: later keys win, nested objects are merged the same way."""
    merged = dict(base)
    for key, value in extra.items():
        old = merged.get(key)
        merged[key] = _merged(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return merged


def _expression(node: dict[str, Any], kind: str) -> bool:
    """Whether `node` is pycep's function call or operator (`{kind: {"type": ...}}`)."""
    inner = node.get(kind)
    return len(node) == 1 and isinstance(inner, dict) and "type" in inner
