"""The gluster CLI parsers against output captured from GlusterFS 10.3 (tests/unit/gluster_xml/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cargohold.storage.gluster.cli import (
    GlusterError,
    _root,
    check_op,
    parse_heal_count,
    parse_heal_summary,
    parse_pool,
    parse_volume_info,
    parse_volume_status,
)

XML = Path(__file__).parent / "gluster_xml"


def text(name: str) -> str:
    return (XML / name).read_text()


def test_pool_list():
    peers = parse_pool(text("pool-list.xml"))
    assert [(p.hostname, p.connected) for p in peers] == [("127.1.1.2", True), ("127.1.1.3", True),
                                                            ("localhost", True)]


def test_volume_info_layout_and_options():
    info = parse_volume_info(text("volume-info.xml"), "web")
    assert info is not None
    assert (info.status, info.replica, info.arbiter) == ("Started", 3, 1)
    assert [(b.address, b.arbiter) for b in info.bricks] == [("127.1.1.1", False), ("127.1.1.2", False),
                                                             ("127.1.1.3", True)]
    assert info.bricks[0].path == "/dev/shm/gx/s1/bricks/web"
    assert "network.ping-timeout" in info.options
    assert parse_volume_info(text("volume-info.xml"), "other") is None


def test_a_missing_volume_is_none_not_an_error():
    assert parse_volume_info(text("volume-info-missing.xml"), "web") is None


def test_volume_status_lists_bricks_only():
    bricks = parse_volume_status(text("volume-status.xml"), "web")
    assert [(b.address, b.online, b.pid) for b in bricks] == [("127.1.1.1", True, 8431), ("127.1.1.2", True, 8495),
                                                              ("127.1.1.3", True, 8504)]


def test_heal_summary_and_count():
    summary = parse_heal_summary(text("heal-info-summary.xml"))
    assert len(summary) == 3 and all(s.connected and s.pending == 0 and s.split_brain == 0 for s in summary)
    counts = parse_heal_count(text("heal-count.xml"))
    assert counts == {f"127.1.1.{i}:/dev/shm/gx/s{i}/bricks/web": 0 for i in (1, 2, 3)}
    with pytest.raises(GlusterError):
        parse_heal_count("Volume web is not started")


@pytest.mark.parametrize("name, words", [("volume-set-unknown.xml", "does not exist"),
                                         ("volume-create-again.xml", "already exists")])
def test_a_failed_call_raises_with_glusters_words(name, words):
    """--xml calls that fail still exit 0: <opRet> decides."""
    with pytest.raises(GlusterError, match=words):
        check_op(_root(text(name), name), name)


def test_a_successful_call_passes():
    check_op(_root(text("volume-create.xml"), "create"), "create")


def test_not_xml_is_a_clear_error():
    with pytest.raises(GlusterError, match="not XML"):
        _root("Connection failed. Please check if gluster daemon is operational.", "pool list")
