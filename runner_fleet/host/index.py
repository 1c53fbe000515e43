"""What `function_app.app` declares: HTTP routes, queue triggers and timers, with their handlers."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any


@dataclass(frozen=True)
class _Function:
    name: str
    handler: Callable[..., Any]
    arg_name: str  # the handler's parameter that receives the trigger's input


@dataclass(frozen=True)
class HttpFunction(_Function):
    route: str
    methods: tuple[str, ...]


@dataclass(frozen=True)
class QueueFunction(_Function):
    queue_name: str
    connection: str


@dataclass(frozen=True)
class TimerFunction(_Function):
    schedule: str
    run_on_startup: bool


@dataclass(frozen=True)
class AppIndex:
    http: tuple[HttpFunction, ...]
    queues: tuple[QueueFunction, ...]
    timers: tuple[TimerFunction, ...]


class IndexError_(Exception):
    """function_app declares something this host cannot run."""


def _value(raw: Any) -> Any:
    return getattr(raw, "value", raw)


@cache  # FunctionApp.get_functions() builds its functions once; a second call refuses the names
def index_app(module_name: str = "function_app") -> AppIndex:
    module = importlib.import_module(module_name)
    app = module.app
    http: list[HttpFunction] = []
    queues: list[QueueFunction] = []
    timers: list[TimerFunction] = []
    for function in app.get_functions():
        name = function.get_function_name()
        handler = function.get_user_function()
        trigger = function.get_trigger().get_dict_repr()
        kind, arg = trigger["type"], trigger["name"]
        if kind == "httpTrigger":
            methods = tuple(str(_value(m)).upper() for m in trigger.get("methods") or ["GET", "POST"])
            http.append(HttpFunction(name, handler, arg, trigger.get("route") or name, methods))
        elif kind == "queueTrigger":
            queues.append(
                QueueFunction(name, handler, arg, trigger["queueName"], trigger.get("connection", ""))
            )
        elif kind == "timerTrigger":
            timers.append(
                TimerFunction(name, handler, arg, trigger["schedule"], bool(trigger.get("runOnStartup")))
            )
        else:
            raise IndexError_(f"function {name!r} has a {kind} trigger, which the local host does not run")
    routes = [f.route.lower() for f in http]
    if len(set(routes)) != len(routes):
        raise IndexError_("two HTTP functions share a route")
    return AppIndex(tuple(http), tuple(queues), tuple(timers))
