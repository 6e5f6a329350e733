"""Checkpoints decode only our state records, also those written where a record lived in an earlier version."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

import agents.strategies.protocols as protocols
from agents.strategies.protocols import Proposal
from graph.checkpoint import MOVED_TYPES, make_serializer
from graph.state import TrialSpec
from knowledge.records import Provenance


def test_state_records_round_trip() -> None:
    serde = make_serializer()
    cited = Provenance("cognition", (7,), (3,), "model")
    value = {"proposal": Proposal("n", "m", "e", program="X = 2\n", provenance=cited),
             "spec": TrialSpec("g0001.0", 1, 3, (4,))}
    back = serde.loads_typed(serde.dumps_typed(value))
    assert isinstance(back["proposal"], Proposal) and isinstance(back["spec"], TrialSpec)
    assert isinstance(back["proposal"].provenance, Provenance)  # a trial resumed from its checkpoint keeps it
    assert back["proposal"].provenance.to_dict() == cited.to_dict()
    assert (back["proposal"].program, back["spec"].parent_id, list(back["spec"].inspiration_ids)) == ("X = 2\n", 3, [4])


def test_a_record_written_under_its_old_module_reads_as_the_new_type(monkeypatch: pytest.MonkeyPatch) -> None:
    [(old_module, name)] = [key for key, new in MOVED_TYPES.items() if new == ("agents.strategies.protocols",
                                                                                  "Proposal")]
    monkeypatch.setattr(Proposal, "__module__", old_module)  # serialise it as an earlier version did
    monkeypatch.setitem(sys.modules, old_module, protocols)
    old_serde = JsonPlusSerializer(allowed_msgpack_modules=[(old_module, name)])
    written = old_serde.dumps_typed({"p": Proposal("n", "m", "e")})
    monkeypatch.undo()
    assert old_module.encode() in written[1] and old_module not in sys.modules
    back = make_serializer().loads_typed(written)["p"]
    assert isinstance(back, Proposal) and (back.name, back.motivation, back.edit) == ("n", "m", "e")


@dataclass
class Stranger:
    value: int


def test_a_type_that_is_not_ours_is_not_constructed() -> None:
    written = JsonPlusSerializer(allowed_msgpack_modules=True).dumps_typed({"x": Stranger(3)})
    assert not isinstance(make_serializer().loads_typed(written)["x"], Stranger)
