"""The embedded Firefox Sync 1.5 service: token server, storage nodes, accounts, faults.

``EmbeddedService`` is the door; see ``docs/architecture.md`` §3 and the module docstrings of
``_service`` (the object), ``_faults`` (every fault), ``_tokenserver``, ``_storage`` and
``_writes`` (protocol behaviour), ``_admin`` (HTTP admin API).
"""

from __future__ import annotations

from beacon._injection import LoggedRequest
from beacon.server._accounts import Account
from beacon.server._core import Limits
from beacon.server._faults import Faults
from beacon.server._service import IN_PROCESS_URL, EmbeddedService

__all__ = ["IN_PROCESS_URL", "Account", "EmbeddedService", "Faults", "Limits", "LoggedRequest"]
