"""The deployment files agree with each other and with the settings they set."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import yaml

from service.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def test_compose_replicas_share_redis_and_data_behind_the_proxy() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    replicas = [name for name in services if name.startswith("api-")]
    assert len(replicas) == 2
    subnet = ipaddress.ip_network(compose["networks"]["default"]["ipam"]["config"][0]["subnet"])
    for name in replicas:
        env = services[name]["environment"]
        settings = Settings(**{k.removeprefix("BRIEFING_").lower(): v for k, v in env.items()})
        assert settings.redis_url == "redis://redis:6379/0" and "redis" in services
        assert settings.proxy_networks() == [subnet]
        assert services[name]["volumes"] == ["briefing-data:/data"]
    upstream = re.findall(r"server (\S+):8000", (DEPLOY / "nginx.conf").read_text())
    assert sorted(upstream) == sorted(replicas)
    for node in ("ray-head", "ray-worker"):
        assert services[node]["profiles"] == ["ray"]
        assert services[node]["environment"]["RAY_AUTH_MODE"] == "token"
