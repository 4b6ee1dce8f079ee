"""The deployment files agree with each other and with the settings they set."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import yaml

from service.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _default(value: object) -> object:
    """A compose value with ``${VAR:-default}`` as compose reads it when VAR is unset."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value) if isinstance(value, str) else value


def _settings(env: dict[str, object]) -> Settings:
    return Settings(
        **{k.removeprefix("BRIEFING_").lower(): v for k, v in env.items() if "BRIEFING_" in k}
    )


def test_compose_replicas_share_redis_and_data_behind_the_proxy() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    replicas = [name for name in services if name.startswith("api-")]
    assert len(replicas) == 2
    subnet = ipaddress.ip_network(compose["networks"]["default"]["ipam"]["config"][0]["subnet"])
    for name in replicas:
        env = {k: _default(v) for k, v in services[name]["environment"].items()}
        settings = _settings(env)
        assert settings.redis_url == "redis://redis:6379/0" and "redis" in services
        assert settings.proxy_networks() == [subnet]
        assert settings.shards == 0 and settings.ray_address is None  # shards are opt-in
        sharded = dict(env, BRIEFING_SHARDS="2", BRIEFING_RAY_ADDRESS="ray-head:6380")
        assert _settings(sharded).shards == 2
        assert env["RAY_AUTH_MODE"] == "token"
        assert services[name]["volumes"] == ["briefing-data:/data"]
    upstream = re.findall(r"server (\S+):8000", (DEPLOY / "nginx.conf").read_text())
    assert sorted(upstream) == sorted(replicas)
    for node in ("ray-head", "ray-worker"):
        assert services[node]["profiles"] == ["ray"]
        assert services[node]["environment"]["RAY_AUTH_MODE"] == "token"
