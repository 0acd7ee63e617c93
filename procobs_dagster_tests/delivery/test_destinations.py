"""Where a webhook may point: no secret in its URL, no link-local or cloud-metadata
address (unless the sink allows it), whether spelled in the URL or reached through DNS."""

import ipaddress

import pytest

from procobs_dagster.delivery import Relay, SinkConfig, addresses, load_sinks_table, save_sinks
from procobs_dagster.delivery.addresses import refused_host, refused_peer
from procobs_dagster.delivery.config import parse_sink
from procobs_dagster.errors import ConfigurationError
from procobs_dagster_tests.delivery.helpers import (
    SECRET_ENV,
    emit_events,
    state_counts,
    states,
    webhook_config,
)

METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",  # ECS task credentials
    "http://2852039166/latest/",  # 169.254.169.254 as one decimal number
    "http://0xA9FEA9FE/latest/",  # … in hex
    "http://0251.0376.0251.0376/latest/",  # … in octal
    "http://169.254.43518/latest/",  # … with fewer parts
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.google.internal./computeMetadata/v1/",
    "http://metadata/computeMetadata/v1/",
    "http://[fe80::1]/x",
    "http://[fe80::1%25eth0]/x",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/latest/",
    "http://[64:ff9b::a9fe:a9fe]/latest/",
    "http://100.100.100.200/latest/meta-data/",
    "http://instance-data/latest/",
]


def refusal(url: str) -> str:
    """The one-line error a sinks file (or table row) with this webhook URL gets."""
    raw = {"name": "hook", "kind": "webhook", "url": url, "secret_env": SECRET_ENV}
    with pytest.raises(ConfigurationError) as caught:
        parse_sink(raw, "sinks.yaml[0]")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("sinks.yaml[0] sink 'hook': url")
    return message


@pytest.mark.parametrize("url", METADATA_URLS)
def test_link_local_and_metadata_destinations_are_refused_unless_allowed(url):
    assert "set allow_link_local: true on the sink to allow it" in refusal(url)
    assert webhook_config(url, allow_link_local=True).allow_link_local


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "https://hooks.example.com/procobs",
        "https://169.254.example.com/x",  # a name, checked when connecting
    ],
)
def test_loopback_private_and_public_destinations_are_allowed(url):
    assert webhook_config(url).url == url


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("http://user:HookPass1@127.0.0.1:18504/x", "HookPass1"),
        ("http://HookUser1@127.0.0.1/x", "HookUser1"),
        ("http://127.0.0.1/x?token=HookTok2&sig=HookTok3", "HookTok2"),
        ("http://127.0.0.1/x?", None),
        ("https://hooks.example.com/x#HookTok4", "HookTok4"),
    ],
)
def test_a_url_carrying_a_secret_is_refused_pointing_to_secret_env(url, secret):
    message = refusal(url)
    assert "credentials, a query or a fragment" in message and "secret_env" in message
    assert secret is None or secret not in message


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://h/x", "http(s)://host"),
        ("http:///x", "http(s)://host"),
        ("http://h:abc/x", "port"),
        ("http://h:0/x", "port"),
        ("http://h:99999/x", "port"),
        ("http://h/x\x1b[2J", "control character"),
        ("http://h/a b", "spaces"),
        ("http://" + "h" * 3000 + "/", "over the limit of 2048"),
        ("http://1.2.3.4 x/", "spaces"),
        ("http://123/x", "write it as 0.0.0.123"),
    ],
)
def test_a_malformed_url_is_one_line_naming_the_problem(url, problem):
    assert problem in refusal(url)


def test_allow_link_local_only_applies_to_webhooks(tmp_path):
    with pytest.raises(ValueError, match="allow_link_local does not apply to a file sink"):
        SinkConfig(name="f", kind="file", path=str(tmp_path / "x"), allow_link_local=True)


def test_refused_hosts_and_peers():
    assert refused_host("169.254.169.254") and refused_host("0xa9fea9fe")
    assert refused_host("metadata.goog.") and not refused_host("metadata.example.com")
    assert refused_peer(("169.254.169.254", 80)) and refused_peer(("fe80::1%eth0", 80, 0, 2))
    assert not refused_peer(("127.0.0.1", 80)) and not refused_peer(None)


def test_a_name_that_resolves_to_a_refused_address_is_caught_before_anything_is_sent(
    db, receiver, secret_env, clock, monkeypatch
):
    """DNS is the one part of the URL the configuration cannot see: the address the
    connection reached is checked before the request goes out. Here loopback stands in
    for a metadata address (no test machine has one), reached through a name."""
    emit_events(db, 2)
    monkeypatch.setattr(addresses, "REFUSED_NETWORKS", (ipaddress.ip_network("127.0.0.0/8"),))
    by_name = receiver.url.replace("127.0.0.1", "localhost")
    with Relay(db, [webhook_config(by_name)], clock=clock) as relay:
        report = relay.run_once()
    assert report.total("retried") == 2 and receiver.received() == []
    for row in states(db).values():
        assert row["last_error"] == (
            "not sent: the host resolved to 127.0.0.1, a link-local or cloud metadata "
            "address; set allow_link_local: true on the sink to allow it"
        )
    allowed = webhook_config(by_name, allow_link_local=True)
    clock.advance(allowed.backoff_cap_seconds)
    with Relay(db, [allowed], clock=clock) as relay:
        assert relay.run_once().total("delivered") == 2
    assert state_counts(db, "hook") == {"delivered": 2}
    assert len(receiver.received()) == 2


def test_the_allowance_is_stored_with_the_sink(db):
    allowed = SinkConfig(
        name="imds",
        kind="webhook",
        url="http://169.254.169.254/hook",
        secret_env=SECRET_ENV,
        allow_link_local=True,
    )
    with db.begin() as conn:
        save_sinks(conn, [allowed])
    with db.read() as conn:
        assert load_sinks_table(conn).configs == [allowed]
