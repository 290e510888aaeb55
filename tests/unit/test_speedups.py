"""Rasa's action-result validation, with the validator built once, and event classes found by
name from a table (relais/nlu/speedups.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from jsonschema import ValidationError

from relais.nlu import speedups
from relais.nlu.language import LanguageDetector


@pytest.fixture
def action():  # type: ignore[no-untyped-def]
    from rasa.core.actions.action import RemoteAction
    from rasa.utils.endpoints import EndpointConfig

    # Rasa creates (or loads) a Relais component before it serves: that applies the fix.
    LanguageDetector.create(LanguageDetector.get_default_config(), None, None, None)  # type: ignore[arg-type]
    return RemoteAction("action_escalate", EndpointConfig("http://127.0.0.1:9/webhook"))


def test_importing_the_components_leaves_rasa_as_it_is() -> None:
    code = (
        "import relais.nlu.anger, relais.nlu.intent, relais.nlu.language\n"
        "from rasa.core.actions.action import RemoteAction\n"
        "print(RemoteAction._validate_action_result.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "rasa.core.actions.action"


def test_the_fix_is_in_place_once_a_relais_component_is_created(action) -> None:  # type: ignore[no-untyped-def]
    assert type(action)._validate_action_result is speedups.validate_action_result


def test_a_valid_answer_passes(action) -> None:  # type: ignore[no-untyped-def]
    answer = {
        "events": [{"event": "slot", "name": "language", "value": "fr"}, {"event": "pause"}],
        "responses": [{"text": "Je transmets à un collègue.", "buttons": []}],
    }
    assert action._validate_action_result(answer) is True


@pytest.mark.parametrize(
    "answer, problem",
    [
        ({"events": "not a list", "responses": []}, "is not of type 'array'"),
        ({"events": [{"event": "no_such_event"}], "responses": []}, "no_such_event"),
        ({"events": [], "responses": ["text"]}, "is not of type 'object'"),
    ],
)
def test_a_bad_answer_is_rejected_as_rasa_rejects_it(action, answer, problem) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as raised:
        action._validate_action_result(answer)
    assert problem in raised.value.message
    assert "Failed to validate Action server response" in raised.value.message


ANSWERS = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "a", "value": None, "timestamp": 1.5}], "responses": []},
    {"events": [{"event": "slot", "value": 3}], "responses": []},  # a slot without its name
    {"events": [{"event": "slot", "name": 4, "value": 3}], "responses": []},
    {"events": [{"event": "bot", "text": "Hi", "data": {"buttons": []}}], "responses": []},
    {"events": [{"event": "bot", "text": 7}], "responses": []},
    {"events": [{"event": "pause"}, {"event": "followup", "name": "action_x"}], "responses": []},
    {"events": [{"event": "action", "name": "action_listen", "policy": None}], "responses": []},
    {"events": [{"event": "active_loop", "name": None}], "responses": [{"text": "x"}]},
    {"events": [{"event": "user", "text": "hi", "parse_data": {"intent": {}}}], "responses": []},
    {"events": [{"event": "user", "text": "hi", "parse_data": "no"}], "responses": []},
    {"events": [{"timestamp": 3}], "responses": []},  # no event name
    {"events": [{"event": 12}], "responses": []},
    {"events": [{"event": "slot", "name": "a", "value": 1, "timestamp": "now"}], "responses": []},
    {"events": [{"event": "reminder", "intent": "x", "date_time": "2026-12-05"}]},
    {"responses": [{"text": "only responses"}]},
    {"events": ["slot"], "responses": []},
    [],
]


@pytest.mark.parametrize("answer", ANSWERS)
def test_each_answer_gets_the_verdict_and_error_of_the_whole_schema(action, answer) -> None:  # type: ignore[no-untyped-def]
    from jsonschema import exceptions
    from jsonschema.validators import validator_for

    spec = action.action_response_format_spec()
    expected = exceptions.best_match(validator_for(spec)(spec).iter_errors(answer))
    if expected is None:
        assert action._validate_action_result(answer) is True
    else:
        with pytest.raises(ValidationError) as raised:
            action._validate_action_result(answer)
        assert raised.value.message.startswith(expected.message)


def test_events_read_back_as_rasa_reads_them(action) -> None:  # type: ignore[no-untyped-def]
    from rasa.shared.core.events import (
        ActionExecuted,
        Event,
        SessionStarted,
        SlotSet,
        UserUttered,
    )
    from rasa.shared.utils.common import all_subclasses

    assert Event.resolve_by_type is speedups.resolve_event_type  # type: ignore[comparison-overlap]
    # Every event class Rasa knows is found under its name, as Rasa's walk finds it.
    for cls in all_subclasses(Event):
        first = next(c for c in all_subclasses(Event) if c.type_name == cls.type_name)
        assert Event.resolve_by_type(cls.type_name) is first
    stored = [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        UserUttered("hi", {"name": "greet", "confidence": 0.9}),
        SlotSet("booking_reference", "XY7T2M"),
    ]
    assert [Event.from_parameters(e.as_dict()) for e in stored] == stored
    # Rasa's answers for names it does not know: old topic events skipped, the default
    # given, anything else refused.
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("no_such_event", default=SlotSet) is SlotSet
    with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
        Event.resolve_by_type("no_such_event")


def test_an_event_class_defined_later_is_found(action) -> None:  # type: ignore[no-untyped-def]
    from rasa.shared.core.events import Event, SlotSet

    Event.resolve_by_type("slot")  # the table is filled before the new class exists

    class CustomerRated(SlotSet):
        type_name = "relais_test_customer_rated"

    assert Event.resolve_by_type("relais_test_customer_rated") is CustomerRated


# --- running the model's graph without dask ---------------------------------------------------


def graph_runner(calls: list[str]):  # type: ignore[no-untyped-def]
    """A DaskGraphRunner over a small real schema whose nodes record their calls: `a` needs
    the input `__x__`, `b` needs `a`, `c` needs `a`, `b` and `__missing__` (nothing provides
    it), and `d` needs `a` but no target needs `d`."""
    from rasa.engine.graph import GraphSchema, SchemaNode
    from rasa.engine.runner.dask import DaskGraphRunner

    def node(**needs: str) -> SchemaNode:
        return SchemaNode(
            needs=needs, uses=LanguageDetector, constructor_name="create", fn="process", config={}
        )

    schema = GraphSchema(
        {
            "a": node(x="__x__"),
            "b": node(a="a"),
            "c": node(a="a", b="b", m="__missing__"),
            "d": node(a="a"),
        }
    )
    runner = DaskGraphRunner.__new__(DaskGraphRunner)
    runner._graph_schema = schema

    def recorder(name: str):  # type: ignore[no-untyped-def]
        def call(*inputs):  # type: ignore[no-untyped-def]
            calls.append(name)
            return name, [i if isinstance(i, str) else f"{i[0]}={i[1]}" for i in inputs]

        return call

    runner._instantiated_nodes = {name: recorder(name) for name in "abcd"}  # type: ignore[assignment]
    return runner


def test_the_graph_runs_each_needed_node_once_in_order_without_dask(action) -> None:  # type: ignore[no-untyped-def]
    from rasa.engine.runner.dask import DaskGraphRunner

    assert DaskGraphRunner.run is speedups.run_graph
    calls: list[str] = []
    runner = graph_runner(calls)
    result = runner.run(inputs={"__x__": 1}, targets=["c"])
    assert calls == ["a", "b", "c"]  # never d, which no target needs
    # Each node gets (name, output) of what it needs; a name nothing provides comes as itself.
    assert result == {"c": ["a=['__x__=1']", "b=[\"a=['__x__=1']\"]", "__missing__"]}
    calls.clear()
    assert runner.run(inputs={"__x__": 2}, targets=["b", "d"]) == {
        "b": ["a=['__x__=2']"],
        "d": ["a=['__x__=2']"],
    }
    assert calls == ["a", "b", "d"]  # a once, for both
    # What dask itself gives for the graph Rasa builds from the same schema.
    for inputs, targets in (({"__x__": 1}, ["c"]), ({"__x__": 2}, ["b", "d"]), ({}, ["b"])):
        assert runner.run(inputs=inputs, targets=targets) == dask_run(runner, inputs, targets)


def dask_run(runner, inputs, targets):  # type: ignore[no-untyped-def]
    """Rasa's DaskGraphRunner.run, from its own parts."""
    import dask

    graph = runner._build_dask_graph(runner._graph_schema.minimal_graph_schema(targets))
    runner._add_inputs_to_graph(inputs, graph)
    return dict(dask.get(graph, targets))


def test_the_graph_runner_keeps_rasas_errors(action) -> None:  # type: ignore[no-untyped-def]
    from rasa.engine.exceptions import GraphRunError

    runner = graph_runner([])
    with pytest.raises(GraphRunError, match="clashes with a node name"):
        runner.run(inputs={"__x__": "b"}, targets=["c"])

    def broken(*inputs):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    runner._instantiated_nodes["b"] = broken
    with pytest.raises(GraphRunError, match="Error running runner"):
        runner.run(inputs={"__x__": 1}, targets=["c"])
