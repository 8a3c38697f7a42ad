"""The emulator's pieces on their own: email syntax, windows, options, rules, serving."""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import fields

import httpx
import pytest

from ac_sync.activecampaign.emulator import ConfigError, Emulator, EmulatorConfig, EmulatorServer
from ac_sync.activecampaign.emulator.__main__ import add_config_arguments, config_from_arguments
from ac_sync.activecampaign.emulator.config import CHOICES
from ac_sync.activecampaign.emulator.emails import is_valid_email
from ac_sync.activecampaign.emulator.faults import FaultRule, RequestInfo
from ac_sync.activecampaign.emulator.limits import SlidingWindow, format_retry_after


@pytest.mark.parametrize(
    "email",
    [
        "a@example.com",
        "first.last+tag@sub.example.co.uk",
        "o'brien@example.ie",
        "x_y-z@my-domain.io",
        "!#$%&'*+/=?^_`{|}~-@example.com",
        "a@" + "b" * 63 + ".com",
    ],
)
def test_valid_emails(email: str) -> None:
    assert is_valid_email(email)


@pytest.mark.parametrize(
    "email",
    [
        "",
        "plain",
        "@example.com",
        "a@",
        "a@@example.com",
        "a@b@example.com",
        "a b@example.com",
        " a@example.com",
        "a@example.com\n",
        "a\t@example.com",
        ".a@example.com",
        "a.@example.com",
        "a..b@example.com",
        "a@localhost",
        "a@-example.com",
        "a@example-.com",
        "a@example.c",
        "a@example.123",
        "a@exa_mple.com",
        "a@example..com",
        "a(b)@example.com",
        "a,b@example.com",
        "a@" + "b" * 64 + ".com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "jörg@example.de",
        "a@exämple.de",
        None,
        42,
    ],
)
def test_invalid_emails(email: object) -> None:
    assert not is_valid_email(email)


def test_unicode_emails_only_when_allowed() -> None:
    assert is_valid_email("jörg@exämple.de", allow_unicode=True)
    assert is_valid_email("用户@例子.广告", allow_unicode=True)
    assert not is_valid_email("a b@exämple.de", allow_unicode=True)
    assert not is_valid_email("a@example.c0m", allow_unicode=True)


def test_sliding_window() -> None:
    window = SlidingWindow()
    assert [window.acquire(t, 2, 1.0).admitted for t in (0.0, 0.1, 0.2, 0.5)] == [True, True, False, False]
    refused = window.acquire(0.6, 2, 1.0)
    assert (refused.remaining, round(refused.retry_after, 6)) == (0, 0.4)
    # Refusals took no slot: the first arrival's expiry frees exactly one.
    assert window.acquire(1.0, 2, 1.0).admitted
    assert not window.acquire(1.05, 2, 1.0).admitted
    assert window.acquire(1.1, 2, 1.0).remaining == 0


def test_retry_after_format() -> None:
    assert format_retry_after(0.2, 1.0) == "1"
    assert format_retry_after(1.2, 1.0) == "2"
    assert format_retry_after(0.04, 10.0) == "0.04"
    assert format_retry_after(0.00001, 10.0) == "0.001"


def test_config_validation() -> None:
    config = EmulatorConfig.from_mapping({"time_scale": 5, "name_filter": "exact"})
    assert config.time_scale == 5.0 and isinstance(config.time_scale, float)
    for bad in (
        {"time_scale": "fast"},
        {"accept_unicode_email": 1},
        {"requests_per_second": True},
        {"invalid_email_status": 418},
        {"bulk_per_minute": 0},
        {"info_false_s": -1},
        {"nope": 1},
    ):
        with pytest.raises(ConfigError):
            EmulatorConfig.from_mapping(bad)


def test_every_option_is_a_flag_with_its_choices() -> None:
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    flags = {action.dest: action for action in parser._actions}
    defaults = EmulatorConfig()
    for option in fields(EmulatorConfig):
        action = flags[option.name]
        assert action.default == getattr(defaults, option.name)
        if option.name in CHOICES:
            assert tuple(action.choices or ()) == CHOICES[option.name]
            assert getattr(defaults, option.name) in CHOICES[option.name]
    args = parser.parse_args(["--invalid-option", "fail_contact", "--unknown-batch-status", "400", "--ignore-paging"])
    config = config_from_arguments(args)
    assert (config.invalid_option, config.unknown_batch_status, config.ignore_paging) == ("fail_contact", 400, True)
    with pytest.raises(SystemExit):
        parser.parse_args(["--automations", "sometimes"])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("retention", [0.0, 30.0])
def test_batch_retention(retention: float) -> None:
    clock = Clock()
    emu = Emulator(
        EmulatorConfig(batch_retention_s=retention, processing_base_s=10.0, processing_per_contact_s=0), clock
    )
    done = emu.schedule_batch([{"email": "a@example.com"}])
    clock.now += 20
    emu.process_due()
    emu.config.processing_base_s = 1000.0
    waiting = emu.schedule_batch([{"email": "b@example.com"}])
    clock.now += 25  # done is 45 s old, waiting 25 s
    emu.process_due()
    assert list(emu.batches) == ([done.id, waiting.id] if retention == 0 else [waiting.id])
    clock.now += 10_000
    emu.process_due()
    # Forgotten or not, a batch still has its effects when its time comes.
    assert list(emu.batches) == ([done.id, waiting.id] if retention == 0 else [])
    assert sorted(c.email for c in emu.account.contacts.values()) == ["a@example.com", "b@example.com"]


def test_fault_rule_matching() -> None:
    rule = FaultRule.from_dict(
        {
            "method": "post",
            "path": "^/api/3/listGroups$",
            "status": 403,
            "match_json": {"listGroup.groupid": "5"},
            "match_query": "x=1",
        }
    )
    body = b'{"listGroup": {"listid": 1, "groupid": 5}}'
    assert rule.matches(RequestInfo("POST", "/api/3/listGroups", "x=1", body))
    assert not rule.matches(RequestInfo("POST", "/api/3/listGroups", "", body))
    assert not rule.matches(RequestInfo("GET", "/api/3/listGroups", "x=1", body))
    assert not rule.matches(RequestInfo("POST", "/api/3/listGroups", "x=1", b'{"listGroup": {"groupid": 6}}'))
    assert not rule.matches(RequestInfo("POST", "/api/3/listGroups", "x=1", b"not json"))


def test_server_context_manager() -> None:
    with EmulatorServer(EmulatorConfig(api_key="k")) as server:
        assert server.base_url.startswith("http://127.0.0.1:")
        assert server.api_key == "k"
        assert httpx.get(f"{server.api_url}/users/me", headers={"Api-Token": "k"}).status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.api_url}/users/me", headers={"Api-Token": "k"})


def test_command_line_serves_with_options() -> None:
    command = [
        sys.executable,
        "-m",
        "ac_sync.activecampaign.emulator",
        "--port",
        "0",
        "--api-key",
        "cli-key",
        "--name-filter",
        "exact",
        "--accept-unicode-email",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        base_url = line.split(" at ")[1].split()[0]
        assert "cli-key" in line
        config = httpx.get(f"{base_url}/__emulator__/config").json()
        assert (config["name_filter"], config["accept_unicode_email"], config["api_key"]) == (
            "exact",
            True,
            "cli-key",
        )
        assert httpx.get(f"{base_url}/api/3/users/me", headers={"Api-Token": "cli-key"}).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
