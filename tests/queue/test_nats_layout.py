"""The pure parts of the NATS broker: subjects, consumer names, KV keys, the entry encoding, and
the broker's settings from the environment (refused by name when wrong)."""

from __future__ import annotations

import pytest

from wisp.queue.brokers import broker_settings_from_env
from wisp.queue.nats_layout import (
    consumer_name,
    decode_fields,
    encode_fields,
    kv_key,
    stream_sequence,
    subject,
)
from wisp.queue.settings import NatsSettings, RedisSettings


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        ("orders", "wisp.orders"),
        ("orders.dead", "wisp.orders.dead"),
        ("wisp:async:default:fn", "wisp.wisp:async:default:fn"),
        ("a b", "wisp.a%20b"),
        ("a.*", "wisp.a%2E%2A"),
        ("x>", "wisp.x%3E"),
        ("a..b", "wisp.a%2E%2Eb"),
        (".lead", "wisp.%2Elead"),
    ],
)
def test_every_stream_is_one_plain_subject(stream: str, expected: str) -> None:
    assert subject("wisp", stream) == expected


def test_different_streams_never_share_a_subject_or_consumer() -> None:
    names = ["a.b", "a%2Eb", "a b", "a_b", "a..b", "a.*", "a.%2A"]
    assert len({subject("wisp", n) for n in names}) == len(names)
    pairs = [("g", "s"), ("g_", "_s"), ("g__s", ""), ("g", "s.x"), ("g", "s_x")]
    consumers = {consumer_name(g, s) for g, s in pairs}
    assert len(consumers) == len(pairs)
    assert all(c.replace("_", "").replace("-", "").isalnum() for c in consumers)


def test_kv_keys_are_valid_for_any_text() -> None:
    for text in ["wisp:idempotency:fn.default:abc", "ünï cødé", "a/b=c", "x" * 300]:
        key = kv_key(text)
        assert key and all(c.isalnum() or c in "-_" for c in key)
    assert kv_key("a") != kv_key("b")


@pytest.mark.parametrize(
    "fields",
    [{}, {"body": b""}, {"body": bytes(range(256)), "": b"x", "ünï": b"\x00\xff"}, {"k": b"v" * 70_000}],
)
def test_entries_round_trip(fields: dict[str, bytes]) -> None:
    assert decode_fields(encode_fields(fields), {"Wisp-Fields": "1"}) == fields


def test_a_truncated_entry_is_an_error_and_a_foreign_message_is_data_and_headers() -> None:
    with pytest.raises(ValueError, match="truncated"):
        decode_fields(encode_fields({"body": b"abc"})[:-1], {"Wisp-Fields": "1"})
    plain = decode_fields(b'{"n": 1}', {"source": "shop", "Nats-Msg-Id": "x"})
    assert plain == {"data": b'{"n": 1}', "source": b"shop"}


def test_the_stream_sequence_comes_from_either_acknowledgement_subject() -> None:
    assert stream_sequence("$JS.ACK.WISP.c.1.42.7.1700000000000000000.0") == 42
    assert stream_sequence("$JS.ACK.hub.ACCHASH.WISP.c.1.42.7.1700000000000000000.0.rand") == 42


def test_the_broker_comes_from_the_environment() -> None:
    assert broker_settings_from_env({}) is None
    assert isinstance(broker_settings_from_env({"WISP_REDIS_URL": "redis://r:6379/0"}), RedisSettings)
    assert broker_settings_from_env({"WISP_QUEUE_BROKER": "nats"}) is None  # no URL: events off
    nats = broker_settings_from_env(
        {
            "WISP_QUEUE_BROKER": "NATS",
            "WISP_NATS_URL": "nats://a:4222, nats://b:4222",
            "WISP_NATS_REPLICAS": "3",
        }
    )
    assert isinstance(nats, NatsSettings)
    assert (nats.servers, nats.replicas, nats.stream) == (["nats://a:4222", "nats://b:4222"], 3, "WISP")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WISP_QUEUE_BROKER": "kafka"}, "WISP_QUEUE_BROKER"),
        (
            {"WISP_QUEUE_BROKER": "nats", "WISP_NATS_URL": "nats://a", "WISP_NATS_REPLICAS": "7"},
            "WISP_NATS_REPLICAS",
        ),
        (
            {"WISP_QUEUE_BROKER": "nats", "WISP_NATS_URL": "nats://a", "WISP_NATS_STREAM": "a.b"},
            "WISP_NATS_STREAM",
        ),
        (
            {"WISP_QUEUE_BROKER": "nats", "WISP_NATS_URL": "nats://a", "WISP_NATS_SUBJECT_PREFIX": "w.*"},
            "WISP_NATS_SUBJECT_PREFIX",
        ),
    ],
)
def test_bad_broker_settings_are_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        broker_settings_from_env(env)
