"""The access-control overlays (collector/auth.yaml, collector/tls.yaml) against
``otelcol-azora validate``: every combination docs/stack.md documents passes, an overlay
whose secret is missing fails (instead of starting an open Collector), and the auth
overlay keeps every extension of config.yaml (the Collector replaces lists on merge).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from _secure_stack import AUTH_OVERLAY, TLS_OVERLAY, stack, write_token_file

pytestmark = pytest.mark.e2e


def combinations(tmp: Path) -> dict[str, tuple[list[Path], dict[str, str]]]:
    """Every combination docs/stack.md documents, with the variables it needs."""
    token_file = write_token_file(tmp / "token", "t0ken")
    tls = {
        "AZORA_OTLP_TLS_CERT_FILE": str(tmp / "server.pem"),
        "AZORA_OTLP_TLS_KEY_FILE": str(tmp / "server-key.pem"),
    }
    token = {"AZORA_OTLP_TOKEN": "t0ken"}
    rw_overlay = stack.REMOTE_WRITE_OVERLAY
    rw = {"AZORA_REMOTE_WRITE_URL": "http://127.0.0.1:9/api/v1/write"}
    both = {**token, **tls}
    return {
        "auth, token": ([AUTH_OVERLAY], token),
        "auth, token file": ([AUTH_OVERLAY], {"AZORA_OTLP_TOKEN_FILE": str(token_file)}),
        "tls": ([TLS_OVERLAY], tls),
        "tls, mutual": ([TLS_OVERLAY], {**tls, "AZORA_OTLP_TLS_CLIENT_CA_FILE": str(tmp / "ca")}),
        "tls, reload": ([TLS_OVERLAY], {**tls, "AZORA_OTLP_TLS_RELOAD_INTERVAL": "1h"}),
        "auth + tls": ([AUTH_OVERLAY, TLS_OVERLAY], both),
        "tls + auth": ([TLS_OVERLAY, AUTH_OVERLAY], both),
        "remote write + auth + tls": ([rw_overlay, AUTH_OVERLAY, TLS_OVERLAY], {**rw, **both}),
    }  # fmt: skip


COMBINATIONS = [
    "auth, token",
    "auth, token file",
    "tls",
    "tls, mutual",
    "tls, reload",
    "auth + tls",
    "tls + auth",
    "remote write + auth + tls",
]
SECRETS = (
    "AZORA_OTLP_TOKEN",
    "AZORA_OTLP_TOKEN_FILE",
    "AZORA_OTLP_TLS_CERT_FILE",
    "AZORA_OTLP_TLS_KEY_FILE",
    "AZORA_OTLP_TLS_CLIENT_CA_FILE",
)


@pytest.mark.parametrize("name", COMBINATIONS)
def test_every_documented_overlay_combination_validates(tmp_path: Path, name: str) -> None:
    every = combinations(tmp_path)
    assert list(every) == COMBINATIONS
    overlays, env = every[name]
    blank = dict.fromkeys(SECRETS, "")
    result = stack.validate_collector_config([stack.COLLECTOR_CONFIG, *overlays], {**blank, **env})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("overlay", "message"),
    [
        (AUTH_OVERLAY, "no bearer token provided"),
        (TLS_OVERLAY, "must include both certificate and key"),
    ],
)
def test_an_overlay_without_its_secret_does_not_validate(overlay: Path, message: str) -> None:
    """Turning protection on and forgetting the secret must not start an open Collector."""
    env = dict.fromkeys(SECRETS, "")
    result = stack.validate_collector_config([stack.COLLECTOR_CONFIG, overlay], env)
    assert result.returncode != 0
    assert message in result.stderr


def test_auth_overlay_keeps_every_extension_of_the_base_config() -> None:
    """The Collector replaces lists when it merges configs: the overlay's extension list
    must still name every extension config.yaml starts (health_check, ...)."""
    base = yaml.safe_load(stack.COLLECTOR_CONFIG.read_text())
    overlay = yaml.safe_load(AUTH_OVERLAY.read_text())
    assert set(base["service"]["extensions"]) <= set(overlay["service"]["extensions"])
