"""RunnerConfig: environment parsing, fallbacks, validation, masking."""

from __future__ import annotations

import pytest
from trickle_live.trickle.config import RunnerConfig
from trickle_live.trickle.errors import ValidationError


def test_defaults_serve_the_documented_flow() -> None:
    cfg = RunnerConfig.from_env({})
    assert (cfg.model_id, cfg.capacity, cfg.token, cfg.verify_tls) == ("comfystream", 1, "", False)
    assert cfg.input_timeout == 60.0 and cfg.status_interval == 10.0
    assert cfg.host_allowed("anything.example")


def test_environment_values_are_converted() -> None:
    env = {
        "TRICKLE_TOKEN": "s3cret",
        "TRICKLE_CAPACITY": "3",
        "TRICKLE_STALE_TIMEOUT": "2.5",
        "TRICKLE_VERIFY_TLS": "yes",
        "TRICKLE_ALLOWED_HOSTS": "orch.local, 10.0.0.5",
    }
    cfg = RunnerConfig.from_env(env)
    assert cfg.token == "s3cret" and cfg.capacity == 3 and cfg.stale_timeout == 2.5
    assert cfg.verify_tls is True
    assert cfg.allowed_hosts == ("orch.local", "10.0.0.5")
    assert cfg.host_allowed("ORCH.local") and not cfg.host_allowed("evil.example")


def test_names_users_know_from_peers_are_fallbacks() -> None:
    cfg = RunnerConfig.from_env(
        {"AUTH_TOKEN": "a", "MODEL_ID": "comfyui", "ORCH_URL": "https://o:8935", "ORCH_SECRET": "z"}
    )
    assert (cfg.token, cfg.model_id, cfg.byoc_orch_url) == ("a", "comfyui", "https://o:8935")
    assert RunnerConfig.from_env({"AUTH_TOKEN": "a", "TRICKLE_TOKEN": "b"}).token == "b"


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"TRICKLE_CAPACITY": "many"}, "TRICKLE_CAPACITY"),
        ({"TRICKLE_CAPACITY": "0"}, "TRICKLE_CAPACITY"),
        ({"TRICKLE_VERIFY_TLS": "maybe"}, "TRICKLE_VERIFY_TLS"),
        ({"TRICKLE_INPUT_TIMEOUT": "-1"}, "TRICKLE_INPUT_TIMEOUT"),
        ({"TRICKLE_LOG_LEVEL": "LOUD"}, "TRICKLE_LOG_LEVEL"),
        ({"TRICKLE_BYOC_ORCH_URL": "ftp://o"}, "TRICKLE_BYOC_ORCH_URL"),
        ({"ORCH_URL": "ftp://o"}, "ORCH_URL"),
        ({"TRICKLE_BYOC_ORCH_URL": "https://o"}, "TRICKLE_BYOC_ORCH_SECRET"),
        ({"TRICKLE_EXECUTOR": "fast"}, "TRICKLE_EXECUTOR"),
        ({"TRICKLE_FRAME_PLAN": "sometimes"}, "TRICKLE_FRAME_PLAN"),
        ({"TRICKLE_OUTPUT_DIGESTS": "x"}, "TRICKLE_OUTPUT_DIGESTS"),
        ({"TRICKLE_OUTPUT_DIGESTS": "-1"}, "TRICKLE_OUTPUT_DIGESTS"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], field: str) -> None:
    """The README: invalid values stop the runner at start with a message naming the variable
    (a range check too, not only a conversion), the expected and the received value."""
    with pytest.raises(ValidationError) as info:
        RunnerConfig.from_env(env)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: expected ")


def test_an_override_keeps_the_field_name() -> None:
    with pytest.raises(ValidationError) as info:
        RunnerConfig.from_env({}, capacity=0)  # --capacity 0
    assert info.value.field == "capacity"


def test_comfyui_settings_are_read_with_the_others() -> None:
    """TRICKLE_EXECUTOR, TRICKLE_FRAME_PLAN and TRICKLE_OUTPUT_DIGESTS are part of the one
    configuration object (read once at start), not read from os.environ by the nodes."""
    assert (RunnerConfig().executor, RunnerConfig().frame_plan) == ("private", True)
    assert RunnerConfig().output_digests == 0
    cfg = RunnerConfig.from_env(
        {"TRICKLE_EXECUTOR": " Queue ", "TRICKLE_FRAME_PLAN": "OFF", "TRICKLE_OUTPUT_DIGESTS": "3"}
    )
    assert (cfg.executor, cfg.frame_plan, cfg.output_digests) == ("queue", False, 3)
    assert RunnerConfig.from_env({"TRICKLE_FRAME_PLAN": "0"}).frame_plan is False
    assert RunnerConfig.from_env({"TRICKLE_FRAME_PLAN": "on"}).frame_plan is True


def test_unknown_variables_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A typo is not silent (it was kept in ``RunnerConfig.extra``, documented as logged, and
    never logged); TRICKLE_LR_* belong to the live runner's configuration."""
    with caplog.at_level("WARNING", logger="trickle_live.trickle.config"):
        RunnerConfig.from_env({"TRICKLE_CAPACITYY": "2", "TRICKLE_LR_PORT": "9"})
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "TRICKLE_CAPACITYY" in said[0] and "TRICKLE_LR" not in said[0]


def test_public_view_masks_secrets_and_config_is_frozen() -> None:
    cfg = RunnerConfig(token="t", byoc_orch_url="https://o", byoc_orch_secret="s")
    shown = cfg.public()
    assert shown["token"] == "(set)" and shown["byoc_orch_secret"] == "(set)"
    assert "t" not in (shown["token"], shown["byoc_orch_secret"])
    with pytest.raises(AttributeError):
        cfg.capacity = 2  # type: ignore[misc]
    assert cfg.with_overrides(capacity=2).capacity == 2


def test_channel_url_policy_settings_from_the_environment() -> None:
    cfg = RunnerConfig.from_env(
        {
            "TRICKLE_CHANNEL_PATHS": "/ai/trickle/, /proxy/trickle/",
            "TRICKLE_ALLOW_URL_USERINFO": "1",
            "TRICKLE_ALLOW_URL_QUERY": "yes",
            "TRICKLE_ALLOWED_HOSTS": "orch.example",
        }
    )
    policy = cfg.channel_policy()
    assert policy.paths == ("/ai/trickle/", "/proxy/trickle/")
    assert (
        policy.allow_userinfo and policy.allow_query and policy.allowed_hosts == ("orch.example",)
    )
    assert cfg.public()["channel_paths"] == ["/ai/trickle/", "/proxy/trickle/"]
    default = RunnerConfig().channel_policy()
    assert default.paths == ("/ai/trickle/",) and not default.allow_userinfo
    with pytest.raises(ValidationError) as err:
        RunnerConfig.from_env({"TRICKLE_CHANNEL_PATHS": "ai/trickle"})
    assert err.value.field == "TRICKLE_CHANNEL_PATHS"
