"""Wire models (pydantic v2) for the token server, the storage API and storage format v5.

Contract:

1. Validation only: no I/O, no clock; :func:`new_sync_id` takes its randomness as ``rng``.
2. Every model is frozen and strict (no ``"12"`` for an integer, no ``true`` for a number).
   Models that Firefox may extend (meta/global, engines, clients, info/configuration) keep
   unknown fields so a read-modify-write loses nothing.
3. :func:`parse_model` is the one door from untrusted bytes to a model: every failure, JSON or
   validation, becomes :class:`~beacon.ProtocolViolation` whose message names the fields and
   rules broken but never echoes input values (a token response carries secrets).
4. Timestamps are seconds with two decimals (docs/protocol.md §3.3); :func:`format_timestamp`
   and the ``to_json`` methods render them with exactly two decimals.

§ numbers refer to docs/protocol.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    ValidationError,
    model_validator,
)

from beacon._crypto import CollectionKeys, KeyBundle, b64decode_strict
from beacon._errors import ProtocolViolation, UsageError
from beacon._parse import parse_json
from beacon._protocol import MAX_TTL, SORTINDEX_LIMIT, format_timestamp, new_sync_id, node_of

__all__ = [
    "Bso",
    "ClientCommand",
    "ClientRecord",
    "CryptoKeysRecord",
    "EncryptedPayload",
    "EngineEntry",
    "InfoCollections",
    "InfoConfiguration",
    "MetaGlobal",
    "TokenResponse",
    "format_timestamp",
    "new_sync_id",
    "parse_model",
]

# One home for the protocol's numbers (beacon._protocol); re-exported here for the models.
TTL_LIMIT = MAX_TTL


def _two_decimals(value: float) -> float:
    # Server timestamps have 10 ms resolution (§3.3): accept 1234.5 and 1234.50, refuse finer.
    if not math.isfinite(value) or value < 0:
        raise ValueError("a timestamp must be a finite, non-negative number of seconds")
    centis = value * 100
    if not math.isfinite(centis):  # 1e308 is finite, a hundred times it is not
        raise ValueError("a timestamp is out of range")
    if abs(centis - round(centis)) > 1e-3:
        raise ValueError("a timestamp has at most two decimals")
    return round(value, 2)


def _standard_key(text: str) -> str:
    raw = b64decode_strict(text)
    if raw is None or len(raw) != 32:
        raise ValueError("a key must be 32 bytes in standard base64")
    return text


Timestamp = Annotated[float, AfterValidator(_two_decimals)]
SyncId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{12}$")]
BsoId = Annotated[str, StringConstraints(pattern=r"^[ -~]{1,64}$")]
CollectionName = Annotated[str, StringConstraints(pattern=r"^[a-zA-Z0-9._-]{1,32}$")]
PositiveInt = Annotated[int, Field(gt=0)]
KeyPair = Annotated[
    list[Annotated[str, AfterValidator(_standard_key)]], Field(min_length=2, max_length=2)
]


class _Wire(BaseModel):
    model_config = ConfigDict(
        strict=True,
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        # Built on first use: a no-change sync validates one or two of these models, and
        # building all of them at import was ~15% of its process's CPU.
        defer_build=True,
    )


class _Open(_Wire):
    model_config = ConfigDict(extra="allow")


class TokenResponse(_Wire):
    """The token server's 200 body (docs/protocol.md §1.5); ``repr`` hides ``id`` and ``key``."""

    model_config = ConfigDict(extra="ignore")

    # The id travels inside a quoted Hawk attribute: printable ASCII without " or \.
    id: str = Field(min_length=1, pattern=r"^[ !#-\[\]-~]+$", repr=False)
    key: str = Field(min_length=1, pattern=r"^[ -~]+$", repr=False)
    uid: Annotated[int, Field(ge=0, le=2**63 - 1)]
    api_endpoint: str = Field(pattern=r"^https?://[^/?#\s]+(/\S*)?$")
    duration: PositiveInt
    hashed_fxa_uid: str
    hashalg: Literal["sha256"] = "sha256"
    node_type: str | None = None

    @property
    def node(self) -> str:
        """The storage node: ``api_endpoint`` without its ``/1.5/<uid>`` tail."""
        return node_of(self.api_endpoint)


class Bso(_Wire):
    """A Basic Storage Object (docs/protocol.md §3.2).

    ``modified`` is server-set; ``ttl`` is write-only; ``collection`` is accepted on input and
    ignored, like the servers do. Any other key makes the BSO invalid.
    """

    id: BsoId
    payload: str = ""
    modified: Timestamp | None = None
    sortindex: Annotated[int, Field(ge=-SORTINDEX_LIMIT, le=SORTINDEX_LIMIT)] | None = None
    ttl: Annotated[int, Field(ge=0, le=TTL_LIMIT)] | None = None
    collection: str | None = Field(default=None, exclude=True, repr=False)

    def to_json(self, *, include_ttl: bool = True) -> str:
        """Compact JSON without unset fields; ``modified`` with exactly two decimals (§3.3)."""
        fields = self.model_dump(exclude_none=True, exclude={"modified"})
        if not include_ttl:
            fields.pop("ttl", None)
        text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
        if self.modified is None:
            return text
        return text[:-1] + f',"modified":{format_timestamp(self.modified)}}}'


class EncryptedPayload(_Wire):
    """The shape of an encrypted BSO payload: ``{"ciphertext", "IV", "hmac"}`` (§4.2).

    Only the shape is checked here; :func:`beacon.decrypt_record` does the verification.
    """

    model_config = ConfigDict(extra="ignore")

    ciphertext: str
    iv: str = Field(alias="IV")
    hmac: str


class EngineEntry(_Open):
    """One engine in meta/global: its version and syncID (docs/protocol.md §4.3)."""

    version: Annotated[int, Field(ge=0)]
    sync_id: SyncId = Field(alias="syncID")


class MetaGlobal(_Open):
    """The meta/global payload (docs/protocol.md §4.3).

    An engine listed in both ``engines`` and ``declined`` counts as enabled: it is dropped
    from ``declined`` when parsed.
    """

    sync_id: SyncId = Field(alias="syncID")
    storage_version: Annotated[int, Field(ge=0)] = Field(alias="storageVersion")
    engines: dict[CollectionName, EngineEntry] = Field(default_factory=dict)
    declined: list[CollectionName] = Field(default_factory=list)

    @model_validator(mode="after")
    def _engines_win_over_declined(self) -> MetaGlobal:
        kept = [name for name in dict.fromkeys(self.declined) if name not in self.engines]
        if kept != self.declined:
            object.__setattr__(self, "declined", kept)
        return self


class CryptoKeysRecord(_Wire):
    """The decrypted crypto/keys record (docs/protocol.md §4.4); ``repr`` hides the keys."""

    model_config = ConfigDict(extra="ignore")

    id: Literal["keys"] = "keys"
    collection: Literal["crypto"] = "crypto"
    default: KeyPair = Field(repr=False)
    collections: dict[str, KeyPair] = Field(default_factory=dict, repr=False)

    def to_collection_keys(self) -> CollectionKeys:
        """The bundles this record holds."""
        return CollectionKeys(
            KeyBundle.from_b64(self.default),
            {name: KeyBundle.from_b64(pair) for name, pair in self.collections.items()},
        )

    @classmethod
    def from_collection_keys(cls, keys: CollectionKeys) -> CryptoKeysRecord:
        """The record for a set of bundles."""
        return cls(
            default=keys.default.to_b64(),
            collections={name: bundle.to_b64() for name, bundle in keys.collections.items()},
        )


class InfoCollections(RootModel[dict[CollectionName, Timestamp]]):
    """``GET info/collections``: collection name → last-modified seconds (§3.4)."""

    model_config = ConfigDict(strict=True, frozen=True)

    def to_json(self) -> str:
        """Compact JSON with every timestamp rendered with exactly two decimals (§3.3)."""
        items = (f"{json.dumps(name)}:{format_timestamp(ts)}" for name, ts in self.root.items())
        return "{" + ",".join(items) + "}"


class InfoConfiguration(_Open):
    """``GET info/configuration`` limits; absent keys take syncstorage-rs defaults (§3.7)."""

    max_request_bytes: PositiveInt = 2_625_536
    max_post_records: PositiveInt = 100
    max_post_bytes: PositiveInt = 2_621_440
    max_total_records: PositiveInt = 10_000
    max_total_bytes: PositiveInt = 262_144_000
    max_record_payload_bytes: PositiveInt = 2_621_440
    max_quota_limit: PositiveInt | None = 2_097_152_000


def _device_type(value: Any) -> Any:
    # Readers map "phone" to mobile and anything unknown to "unknown" (§4.6).
    if isinstance(value, str):
        if value == "phone":
            return "mobile"
        if value not in ("desktop", "mobile", "tablet", "vr", "tv"):
            return "unknown"
    return value


DeviceType = Annotated[
    Literal["desktop", "mobile", "tablet", "vr", "tv", "unknown"], BeforeValidator(_device_type)
]


class ClientCommand(_Open):
    """A command for another client, e.g. ``wipeEngine`` with ``["bookmarks"]`` (§4.6)."""

    command: str = Field(min_length=1)
    args: list[Any] = Field(default_factory=list)
    flow_id: str | None = Field(default=None, alias="flowID")


class ClientRecord(_Open):
    """The cleartext of a ``clients`` record, engine version 1 (docs/protocol.md §4.6)."""

    id: BsoId
    name: str
    type: DeviceType
    commands: list[ClientCommand] = Field(default_factory=list)
    fxa_device_id: str | None = Field(default=None, alias="fxaDeviceId")
    version: str | None = None
    protocols: list[str] = Field(default_factory=list)
    formfactor: str | None = None
    os: str | None = None
    app_package: str | None = Field(default=None, alias="appPackage")
    application: str | None = None
    device: str | None = None


ModelT = TypeVar("ModelT", bound=BaseModel)


def _describe(error: ValidationError) -> str:
    # Field locations and rule names only; never the offending input (it may be a secret).
    parts = []
    for item in error.errors(include_url=False, include_input=False, include_context=False)[:5]:
        where = ".".join(str(p) for p in item["loc"]) or "(root)"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_model(model: type[ModelT], data: bytes | str | Mapping[str, Any]) -> ModelT:
    """Validate JSON text or an already-decoded mapping as ``model``.

    Raises:
        ProtocolViolation: the data is not JSON or does not fit the model; the message names
            the model, the fields and the rules, never the values.
        UsageError: ``model`` is not a pydantic model or ``data`` has an unsupported type.

    >>> parse_model(InfoCollections, b'{"tabs": 1234.5}').to_json()
    '{"tabs":1234.50}'
    """
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise UsageError("parse_model needs a pydantic model class")
    if not isinstance(data, bytes | str | Mapping):
        raise UsageError("parse_model takes bytes, str or a mapping")
    result = _validate(model, data)
    if isinstance(result, str):
        # Raised outside the except block: the ValidationError holds the input values
        # (secrets, for a token response) and must not ride along as __context__.
        raise ProtocolViolation(f"invalid {model.__name__}: {result}")
    return result


def _validate(model: type[ModelT], data: bytes | str | Mapping[str, Any]) -> ModelT | str:
    """The model, or a description of what is wrong with ``data``."""
    if isinstance(data, Mapping):
        data = dict(data)
    else:
        # The one JSON door (beacon._parse): depth and number range bounded like every parse.
        parsed, problem = _parse_text(data)
        if problem is not None:
            return problem
        data = parsed
    try:
        # Wire data is read by the wire names only: "sync_id" is not "syncID" (§4.3).
        return model.model_validate(data, by_alias=True, by_name=False)
    except ValidationError as exc:
        return _describe(exc)
    except (RecursionError, OverflowError, ValueError):  # validators over hostile values
        return "a value is nested too deeply or out of range"


def _parse_text(data: bytes | str) -> tuple[Any, str | None]:
    try:
        return parse_json(data, "(root)"), None
    except ProtocolViolation as exc:
        return None, str(exc)
