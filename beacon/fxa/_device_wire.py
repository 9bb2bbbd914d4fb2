"""The device routes' answers, parsed: the device list, a commands page, a tab payload.

Contract: pure functions over decoded JSON; anything out of protocol (fxa
``devices-and-sessions.js`` response schemas, application-services ``send_tab.rs``) is a
:class:`~beacon.ProtocolViolation` naming the route, never the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from beacon._errors import ProtocolViolation
from beacon.fxa._device_state import ReceivedTab
from beacon.fxa._send_tab_crypto import OPEN_URI

__all__ = ["Device", "Message", "parse_device", "parse_page", "parse_tabs"]


@dataclass(frozen=True)
class Device:
    """One device of the account, as ``GET /v1/account/devices`` lists it."""

    id: str
    name: str
    type: str
    is_current: bool
    last_access_time: int | None = None
    available_commands: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def can_receive_tabs(self) -> bool:
        return OPEN_URI in self.available_commands

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "current": self.is_current,
            "last_access_time": self.last_access_time,
            "can_receive_tabs": self.can_receive_tabs,
        }


def parse_device(item: object) -> Device:
    if not isinstance(item, dict):
        raise ProtocolViolation("GET /v1/account/devices: a device is not an object")
    ident, name, kind = item.get("id"), item.get("name"), item.get("type")
    if not isinstance(ident, str) or not ident or not isinstance(name, str):
        raise ProtocolViolation("GET /v1/account/devices: a device without an id or a name")
    commands = item.get("availableCommands") or {}
    if not isinstance(commands, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in commands.items()
    ):
        raise ProtocolViolation("GET /v1/account/devices: availableCommands is not a string map")
    access = item.get("lastAccessTime")
    return Device(
        id=ident,
        name=name,
        type=kind if isinstance(kind, str) else "unknown",
        is_current=item.get("isCurrentDevice") is True,
        last_access_time=access if isinstance(access, int) and access >= 0 else None,
        available_commands=dict(commands),
    )


Message = tuple[int, str, dict[str, Any], str | None]


def parse_page(page: object) -> tuple[list[Message], bool]:
    what = "GET /v1/account/device/commands"
    if not isinstance(page, dict) or not isinstance(page.get("index"), int):
        raise ProtocolViolation(f"{what}: not an object with an index")
    raw = page.get("messages", [])
    if not isinstance(raw, list):
        raise ProtocolViolation(f"{what}: messages is not a list")
    out: list[Message] = []
    for message in raw:
        data = message.get("data") if isinstance(message, dict) else None
        index = message.get("index") if isinstance(message, dict) else None
        if (
            not isinstance(index, int)
            or isinstance(index, bool)
            or not isinstance(data, dict)
            or not isinstance(data.get("command"), str)
            or not isinstance(data.get("payload"), dict)
        ):
            raise ProtocolViolation(f"{what}: a message without index, command or payload")
        sender = data.get("sender")
        out.append(
            (index, data["command"], data["payload"], sender if isinstance(sender, str) else None)
        )
    return out, page.get("last") is not False


def parse_tabs(
    index: int, payload: dict[str, Any], sender: str | None, now: float
) -> list[ReceivedTab]:
    entries = payload.get("entries")
    if not isinstance(entries, list) or not entries:
        raise ProtocolViolation("a received tab has no entries")
    flow = payload.get("flowID")
    out = []
    for entry in entries:
        url = entry.get("url") if isinstance(entry, dict) else None
        if not isinstance(url, str) or not url:
            raise ProtocolViolation("a received tab entry has no URL")
        title = entry.get("title")
        out.append(
            ReceivedTab(
                index=index,
                url=url,
                title=title if isinstance(title, str) else "",
                sender_id=sender,
                received_at=now,
                flow_id=flow if isinstance(flow, str) else "",
            )
        )
    # A send-tab payload is one tab with its history; the last entry is the page to open.
    return out[-1:]
