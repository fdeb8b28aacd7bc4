"""How a Swarm rollout reaches the front doors: which state each node's server gets, and that one
poll's changes go to a door as one admin-socket command that cannot be cut short."""

from __future__ import annotations

from typing import Any, cast

import pytest

from cargohold.errors import RuntimeFailure
from cargohold.frontdoor.doors import update_states
from cargohold.frontdoor.haproxy import HAProxy
from cargohold.model import ObservedTask


def task(node: str, desired: str, state: str) -> ObservedTask:
    return ObservedTask(1, node, state, desired, "site:1", "", True)


def test_a_stopping_or_starting_instance_drains_its_node_a_running_one_serves():
    tasks = (task("web1", "shutdown", "running"), task("web1", "running", "starting"),
             task("web2", "running", "running"), task("web3", "running", "preparing"),
             task("web4", "shutdown", "shutdown"))
    assert update_states(tasks) == {"web1": "drain", "web2": "ready", "web3": "drain"}


class Recording:
    def __init__(self, answer: str = "\n") -> None:
        self.sent: list[str] = []
        self.answer = answer

    def admin(self, socket_path: str, command: str) -> str:
        self.sent.append(command)
        return self.answer


def test_changes_go_as_one_command_and_a_missing_server_is_skipped():
    host = Recording("\nNo such server.\n\n")
    door = HAProxy("web1", "/srv/door", cast(Any, host))
    door.set_states([("a.example.com", "web1", "drain"), ("b.example.com", "web2", "ready")])
    assert host.sent == ["set server a.example.com/web1 state drain; set server b.example.com/web2 state ready"]


def test_an_answer_that_is_not_success_or_missing_server_fails():
    door = HAProxy("web1", "/srv/door", cast(Any, Recording("Require 'admin' level.\n")))
    with pytest.raises(RuntimeFailure, match="admin"):
        door.set_states([("a.example.com", "web1", "drain")])


@pytest.mark.parametrize("bad", ["a.example.com; shutdown sessions", "web1\nset", "", "a b"])
def test_a_word_that_could_end_the_command_early_is_refused_before_anything_is_sent(bad: str):
    host = Recording()
    door = HAProxy("web1", "/srv/door", cast(Any, host))
    with pytest.raises(RuntimeFailure, match="refusing"):
        door.set_states([("a.example.com", "web1", "drain"), (bad, "web1", "drain")])
    assert host.sent == []
