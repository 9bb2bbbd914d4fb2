"""``beacon proxy``: the fault vocabulary of the embedded service, in front of any deployment.

:class:`FaultProxy` is a reverse proxy for a Sync 1.5 token server and its storage nodes
(syncstorage-rs, Mozilla's): it rewrites ``api_endpoint`` in token responses so storage traffic
flows through it, re-signs Hawk for the upstream, and injects faults on demand through the
embedded service's admin API shape. See ``_proxy`` (the object), ``_faults`` (every fault),
``_app`` (what it relays and how), ``_routing`` (the pure parts).
"""

from __future__ import annotations

from beacon.proxy._faults import PROXY_FAULTS, ProxyFaults
from beacon.proxy._proxy import FaultProxy

__all__ = ["PROXY_FAULTS", "FaultProxy", "ProxyFaults"]
