"""Live-runner configuration (typed, validated, secret kept secret) and static registration output."""

from __future__ import annotations

import json
import shlex

import pytest
from trickle_live.trickle.errors import ValidationError
from trickle_live.trickle.liverunner.config import LiveRunnerConfig
from trickle_live.trickle.liverunner.registration import (
    heartbeat_body,
    register_command,
    registration_info,
    static_config,
)


def test_defaults_serve_without_configuration() -> None:
    cfg = LiveRunnerConfig.from_env({})
    assert cfg.port == 0 and cfg.capacity == 1 and not cfg.dynamic
    assert cfg.app == "live-video-to-video/comfyui"
    assert cfg.effective_runner_url(8991) == "http://127.0.0.1:8991/trickle-live/lr"


def test_environment_is_typed_and_overrides_win() -> None:
    env = {
        "TRICKLE_LR_PORT": "8991",
        "TRICKLE_LR_CAPACITY": "2",
        "TRICKLE_LR_IDLE_TIMEOUT": "12.5",
        "TRICKLE_LR_VERIFY_TLS": "yes",
        "TRICKLE_LR_MODEL_ID": "sd-turbo",
        "TRICKLE_LR_ORCH_URL": "https://orch.example:8935",
        "TRICKLE_LR_ORCH_SECRET": "s3cret",
    }
    cfg = LiveRunnerConfig.from_env(env, capacity=3)
    assert (cfg.port, cfg.capacity, cfg.idle_timeout, cfg.verify_tls) == (8991, 3, 12.5, True)
    assert cfg.app == "live-video-to-video/sd-turbo" and cfg.dynamic
    assert "s3cret" not in repr(cfg)
    assert cfg.public()["orch_secret"] == "(set)"
    assert "s3cret" not in json.dumps(cfg.public())


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"TRICKLE_LR_PORT": "eighty"}, "TRICKLE_LR_PORT"),
        ({"TRICKLE_LR_PORT": "70000"}, "port"),
        ({"TRICKLE_LR_CAPACITY": "0"}, "capacity"),
        ({"TRICKLE_LR_PREFIX": "lr/"}, "prefix"),
        ({"TRICKLE_LR_LABEL": "a/b"}, "label"),
        ({"TRICKLE_LR_PRICE": "-1"}, "price"),
        ({"TRICKLE_LR_PRICE": "free"}, "price"),
        ({"TRICKLE_LR_PRICE_UNIT": "frame"}, "price_unit"),
        ({"TRICKLE_LR_ORCH_URL": "https://o:8935"}, "orch_secret"),
        ({"TRICKLE_LR_ORCH_URL": "o:8935", "TRICKLE_LR_ORCH_SECRET": "x"}, "orch_url"),
        ({"TRICKLE_LR_METADATA": "x" * 1025}, "metadata"),
        ({"TRICKLE_LR_VERIFY_TLS": "maybe"}, "TRICKLE_LR_VERIFY_TLS"),
    ],
)
def test_invalid_values_name_the_field(env: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        LiveRunnerConfig.from_env(env)
    assert info.value.field == field


def test_control_hosts() -> None:
    assert LiveRunnerConfig().control_host_allowed("anything")
    cfg = LiveRunnerConfig(control_hosts="127.0.0.1, Orch.Internal")
    assert cfg.control_host_allowed("orch.internal") and not cfg.control_host_allowed("evil")


def test_static_entry_matches_go_livepeer_fields() -> None:
    cfg = LiveRunnerConfig(
        port=8991,
        label="comfy-1",
        price="3.50",
        price_unit="720p",
        gpu_id="0",
        gpu_name="L40S",
        gpu_vram_mb=46068,
    )
    url = cfg.effective_runner_url()
    (entry,) = static_config(cfg, url, {"workflow": "sd-turbo"})["runners"]
    assert entry["label"] == "comfy-1" and entry["routing"] == "label"
    assert entry["runner_url"] == "http://127.0.0.1:8991/trickle-live/lr"
    assert entry["health_url"] == "http://127.0.0.1:8991/trickle-live/lr/health"
    assert entry["healthy_status_code"] == 200
    assert entry["app"] == "live-video-to-video/comfyui" and entry["mode"] == "persistent"
    assert entry["capacity"] == 1
    assert entry["gpu"] == {"id": "0", "name": "L40S", "vram_mb": 46068}
    assert entry["price_info"] == {"price": 3.5, "currency": "usd", "unit": "720p"}
    meta = json.loads(entry["metadata"])
    assert meta["workflow"] == "sd-turbo" and meta["pack"] == "trickle-live"


def test_register_command_is_a_runnable_curl_upsert() -> None:
    cfg = LiveRunnerConfig(port=8991, metadata="it's public")
    command = register_command(cfg, cfg.effective_runner_url())
    argv = shlex.split(command)
    assert argv[:4] == ["curl", "-sS", "-X", "POST"]
    assert argv[4] == "http://127.0.0.1:7935/registerLiveRunners"
    document = json.loads(argv[argv.index("--data-binary") + 1])
    assert document == static_config(cfg, cfg.effective_runner_url())
    assert document["runners"][0]["metadata"] == "it's public"


def test_offchain_omits_price_and_heartbeat_carries_status_and_sessions() -> None:
    cfg = LiveRunnerConfig(orch_url="http://o:1", orch_secret="top-secret")
    body = heartbeat_body(cfg, "http://r:1/lr", status="Loading ", session_ids=["s1"])
    assert "price_info" not in body and body["status"] == "loading"
    assert body["session_ids"] == ["s1"] and "runner_id" not in body
    assert "top-secret" not in json.dumps(registration_info(cfg, "http://r:1/lr"))
