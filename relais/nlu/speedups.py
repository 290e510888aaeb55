"""Three fixes to Rasa 3.6's own hot path, applied when Rasa loads Relais's components.

1. Validating what the action server answers.

`make profile` showed the Rasa server spending about 40% of its CPU in one place: every
time an action server answers, `RemoteAction._validate_action_result` calls
`jsonschema.validate`, which first checks the (constant) response schema against the JSON
Schema meta-schema, then builds a new validator, before validating the answer. Here the
schema is checked and the validators built once per process.

Even so, validating one answer took about 5 ms (2026-12-05): each event is tried against all
23 `oneOf` alternatives of Rasa's event schema. Every alternative fixes `event` to a
different constant, so an event can only match the one named like it: an answer is valid
exactly when its shape (the schema without the `oneOf`) is, and each event is valid against
its own alternative. That is checked first; an answer it does not pass is validated the
original way, so it is rejected with the very error Rasa gives.

2. Reading a stored conversation. Every message, the tracker store turns the conversation's
stored events back into objects, and for each event `Event.resolve_by_type` walks every
subclass of `Event` (recursively, checking each for abstract methods) to find the one of that
name: about 0.35 ms per event, so 25 ms for a conversation of 75 events (measured on
2026-12-05 with Relais's tracker store; Rasa's in-memory store does the same). Here the
name → class table is kept, and walked again only for a name it does not hold: an event class
defined since is still found, and an unknown name still fails as in Rasa.

3. Running the model's graph. Rasa parses each message and predicts each action by running
its graph through `DaskGraphRunner.run`, which first prunes the graph to what the targets
need (a recursive walk that builds lists and tests membership in them), then hands the pruned
graph to dask's scheduler. `make profile` put dask alone at about 9 % of the Rasa server's
CPU (2026-12-06). Here the pruned graph's order is worked out once per set of targets, and
each run calls the nodes in that order, each with the outputs of the nodes it needs, as dask
does: the same nodes, called with the same inputs, and the same errors.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _validator(schema_json: str) -> Any:
    from jsonschema.validators import validator_for

    schema = json.loads(schema_json)
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@dataclass(frozen=True)
class _Validators:
    whole: Any  #: the response schema as Rasa wrote it
    shape: Any | None  #: the same without the events' `oneOf` (None: not the layout known)
    events: dict[str, Any]  #: event name -> the `oneOf` alternative fixing that name


def _split(spec: dict[str, Any]) -> _Validators:
    whole = _validator(json.dumps(spec, sort_keys=True))
    items = ((spec.get("properties") or {}).get("events") or {}).get("items") or {}
    alternatives = items.get("oneOf") or []
    names = [((a.get("properties") or {}).get("event") or {}).get("const") for a in alternatives]
    if (
        not alternatives
        or any(not isinstance(n, str) for n in names)
        or len(set(names)) < len(names)
    ):
        return _Validators(whole, None, {})  # another Rasa's schema: validate it whole
    shape = copy.deepcopy(spec)
    del shape["properties"]["events"]["items"]["oneOf"]
    return _Validators(
        whole,
        _validator(json.dumps(shape, sort_keys=True)),
        {
            n: _validator(json.dumps(a, sort_keys=True))
            for n, a in zip(names, alternatives, strict=True)
        },
    )


@functools.lru_cache(maxsize=8)
def _validators_for(cls: type) -> _Validators:
    # The response format is a constant of the action's class.
    return _split(cls.action_response_format_spec())


def _valid_fast(checks: _Validators, result: Any) -> bool:
    if checks.shape is None or not checks.shape.is_valid(result):
        return False
    for event in result.get("events") or []:
        own = checks.events.get(event.get("event"))
        if own is None or not own.is_valid(event):
            return False
    return True


def validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    """Rasa's `RemoteAction._validate_action_result`, with the validators built once and
    each event checked against its own schema only."""
    from jsonschema import exceptions
    from rasa.shared.constants import DOCS_BASE_URL

    checks = _validators_for(type(self))
    if _valid_fast(checks, result):
        return True
    error = exceptions.best_match(checks.whole.iter_errors(result))
    if error is not None:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response "
            f"from the Action endpoint is valid. For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


#: Event type name -> its class, as `Event.resolve_by_type` would find it.
_event_classes: dict[str, type] = {}


def resolve_event_type(type_name: str, default: type | None = None) -> type | None:
    """Rasa's `Event.resolve_by_type`, from a table instead of a walk of the subclasses."""
    found = _event_classes.get(type_name)
    if found is None:
        from rasa.shared.core.events import Event
        from rasa.shared.utils.common import all_subclasses

        table: dict[str, type] = {}
        for cls in all_subclasses(Event):  # Rasa's order: the first of a name wins, as there
            table.setdefault(cls.type_name, cls)
        _event_classes.update(table)
        found = table.get(type_name)
    if found is not None:
        return found
    if type_name == "topic":
        return None  # as Rasa: the old TopicSet events are skipped
    if default is not None:
        return default
    raise ValueError(f"Unknown event name '{type_name}'.")


@dataclass(frozen=True)
class _Plan:
    """What running the graph for some targets calls: each node (by name) with the names of
    the nodes or inputs it needs, dependencies first."""

    steps: tuple[tuple[str, tuple[str, ...]], ...]
    names: frozenset[str]


def _plan(runner: Any, targets: tuple[str, ...]) -> _Plan:
    plans: dict[tuple[str, ...], _Plan] = runner.__dict__.setdefault("_relais_plans", {})
    found = plans.get(targets)
    if found is None:
        nodes = runner._graph_schema.minimal_graph_schema(list(targets)).nodes
        steps: list[tuple[str, tuple[str, ...]]] = []
        placed: set[str] = set()

        def place(name: str) -> None:  # depth first: what a node needs comes before it
            if name in placed or name not in nodes:
                return
            placed.add(name)
            needs = tuple(nodes[name].needs.values())
            for need in needs:
                place(need)
            steps.append((name, needs))

        for target in targets:
            place(target)
        found = plans[targets] = _Plan(tuple(steps), frozenset(nodes))
    return found


def run_graph(
    self: Any, inputs: dict[str, Any] | None = None, targets: list[str] | None = None
) -> dict[str, Any]:
    """Rasa's `DaskGraphRunner.run` without dask (see the module's docstring, 3)."""
    from rasa.engine.exceptions import GraphRunError

    run_targets = tuple(targets if targets else self._graph_schema.target_names)
    plan = _plan(self, run_targets)
    # As in dask's graph: each output is (name, value); an input replaces a node of its name.
    values: dict[str, Any] = {}
    for name, value in (inputs or {}).items():
        if isinstance(value, str) and (value in plan.names or value in values):
            raise GraphRunError(
                f"Input value '{value}' clashes with a node name. Make sure "
                f"that none of the input names passed to the `run` method are the "
                f"same as node names in the graph schema."
            )
        values[name] = (name, value)
    try:
        for name, needs in plan.steps:
            if name not in values:
                # A name nothing provides is passed as itself, as dask does (the node warns).
                values[name] = self._instantiated_nodes[name](*(values.get(n, n) for n in needs))
    except RuntimeError as error:
        raise GraphRunError("Error running runner.") from error
    # As Rasa: each target's (name, output) pair, made a dict.
    return dict(values[target] for target in run_targets)


def apply() -> None:
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.events import Event

    if getattr(RemoteAction._validate_action_result, "__module__", "") != __name__:
        RemoteAction._validate_action_result = validate_action_result
        logger.debug("action server answers are validated with a cached validator")
    if getattr(Event.resolve_by_type, "__module__", "") != __name__:
        Event.resolve_by_type = staticmethod(resolve_event_type)
        logger.debug("event classes are found by name from a table")
    from rasa.engine.runner.dask import DaskGraphRunner

    if getattr(DaskGraphRunner.run, "__module__", "") != __name__:
        DaskGraphRunner.run = run_graph
        logger.debug("the model's graph runs in an order worked out once")
