"""How the one consume loop of a consumer applies a fetch holding several topics' records: in
one transaction for a handler marked `across_topics`, else a topic a transaction; each
partition's records whole and in their order either way."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from plumbing.consume_loop import ConsumeLoop, across_topics, split_by_topic


def fetched() -> list[tuple[TopicPartition, list[object]]]:
    a0, b1, a2 = TopicPartition("a", 0), TopicPartition("b", 1), TopicPartition("a", 2)
    return [(a0, ["a0-1", "a0-2"]), (b1, ["b1-1"]), (a2, ["a2-1", "a2-2", "a2-3"])]


def test_a_fetch_is_one_transaction_for_a_handler_taking_all_topics():
    assert split_by_topic(fetched(), together=True) == [fetched()]
    assert split_by_topic([], together=True) == []


def test_otherwise_a_topic_a_transaction_in_the_order_topics_first_came_partitions_whole():
    parts = split_by_topic(fetched(), together=False)
    assert [[tp for tp, _ in part] for part in parts] == [
        [TopicPartition("a", 0), TopicPartition("a", 2)],
        [TopicPartition("b", 1)],
    ]
    assert [r for part in parts for _, records in part for r in records] == [
        "a0-1",
        "a0-2",
        "a2-1",
        "a2-2",
        "a2-3",
        "b1-1",
    ]


def test_one_loop_and_group_for_all_topics_together_only_for_a_handler_marked_across_topics():
    class Marked:
        name = "marked"
        batch_handler = across_topics(lambda ctx, items: None)

    class Plain:
        name = "plain"
        batch_handler = staticmethod(lambda ctx, items: None)

    marked = ConsumeLoop(Marked(), ["t1", "t2", "t1"], "localhost:1")  # type: ignore[arg-type]
    plain = ConsumeLoop(Plain(), ["t1", "t2"], "localhost:1")  # type: ignore[arg-type]
    assert marked.together and not plain.together
    assert marked.topics == ("t1", "t2") and marked.group_id == "marked.events"
    assert [d["topic"] for d in marked.state.as_dicts()] == ["t1", "t2"]
    with pytest.raises(ValueError):
        ConsumeLoop(Plain(), "t1", "localhost:1")  # type: ignore[arg-type]
