"""The producer's partitioner picks the partition every Kafka client picks for a key."""

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from plumbing.kafka import murmur2, partition_of_key


@given(st.binary(max_size=200))
def test_murmur2_equals_aiokafkas(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


@given(st.binary(max_size=80), st.integers(min_value=1, max_value=64))
def test_a_keys_partition_is_the_default_partitioners(key: bytes, partitions: int) -> None:
    every = list(range(partitions))
    assert partition_of_key(key, every, every[::2]) == DefaultPartitioner()(key, every, every[::2])


@pytest.mark.parametrize(
    ("key", "java"),
    [  # org.apache.kafka.common.utils.UtilsTest.testMurmur2 (Java's signed ints)
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_equals_the_java_clients(key: bytes, java: int) -> None:
    assert murmur2(key) == java & 0xFFFFFFFF


def test_no_key_goes_to_an_available_partition() -> None:
    assert {partition_of_key(None, [0, 1, 2, 3], [2]) for _ in range(20)} == {2}
    assert partition_of_key(None, [0, 1, 2, 3], []) in {0, 1, 2, 3}
