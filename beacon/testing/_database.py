"""Example databases for campaigns: where shards share the failures they find.

Contract:

* :func:`open_database` turns a URL into a Hypothesis ``ExampleDatabase``: ``dir:PATH`` or a
  plain path is a ``DirectoryBasedExampleDatabase`` (one machine, or a shared file system);
  ``redis://host[:port][/db]`` (``rediss://`` for TLS) is Hypothesis's
  ``RedisExampleDatabase``, for shards spread over machines (install ``beacon[shards]``).
  Anything else is a :class:`~beacon.UsageError` naming the accepted forms; no third-party
  exception escapes (a missing ``redis`` package, a malformed URL).
* :class:`Namespaced` prefixes every key with a namespace, so campaigns of different
  configurations sharing one store never replay each other's examples: Hypothesis derives a
  state machine's key from the machine class alone, the same for every campaign. A store that
  cannot be reached raises :class:`DatabaseUnavailable` (a ``TransportError``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

from beacon._errors import TransportError, UsageError

__all__ = ["DATABASE_FORMS", "DatabaseUnavailable", "Namespaced", "open_database"]

DATABASE_FORMS = "dir:PATH, a directory path, or redis://HOST[:PORT][/DB]"


class DatabaseUnavailable(TransportError):
    """The example database could not be read or written (a Redis server down, a directory
    not writable): the campaign stops, it did not fail."""


class Namespaced(ExampleDatabase):
    """``inner`` with every key prefixed by ``namespace`` (see the module docstring)."""

    def __init__(self, inner: ExampleDatabase, namespace: bytes) -> None:
        super().__init__()
        self.inner = inner
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"Namespaced({self.inner!r}, {self.namespace!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Namespaced)
            and self.inner == other.inner
            and self.namespace == other.namespace
        )

    def __hash__(self) -> int:
        return hash((type(self), self.namespace))

    def _key(self, key: bytes) -> bytes:
        return self.namespace + b"/" + key

    def _unavailable(self, exc: Exception) -> DatabaseUnavailable:
        # The type only: a Redis error's text may hold the URL, and so a password.
        return DatabaseUnavailable(f"example database unavailable: {type(exc).__name__}")

    def save(self, key: bytes, value: bytes) -> None:
        try:
            self.inner.save(self._key(key), value)
        except Exception as exc:
            raise self._unavailable(exc) from None

    def fetch(self, key: bytes) -> Iterable[bytes]:
        try:
            return list(self.inner.fetch(self._key(key)))
        except Exception as exc:
            raise self._unavailable(exc) from None

    def delete(self, key: bytes, value: bytes) -> None:
        try:
            self.inner.delete(self._key(key), value)
        except Exception as exc:
            raise self._unavailable(exc) from None

    def move(self, src: bytes, dest: bytes, value: bytes) -> None:
        try:
            self.inner.move(self._key(src), self._key(dest), value)
        except Exception as exc:
            raise self._unavailable(exc) from None


def open_database(url: str) -> ExampleDatabase:
    """The example database ``url`` names (see the module docstring)."""
    text = url.strip()
    if not text:
        raise UsageError(f"example database URL is empty; expected {DATABASE_FORMS}")
    if text.startswith("dir:"):
        path = text[len("dir:") :]
        if not path:
            raise UsageError(f"example database {url!r} needs a path; expected {DATABASE_FORMS}")
        return _directory(Path(path), url)
    scheme = text.split(":", 1)[0].lower() if "://" in text else ""
    if scheme in ("redis", "rediss"):
        return _redis(text)
    if scheme:
        raise UsageError(f"unsupported example database {url!r}; expected {DATABASE_FORMS}")
    return _directory(Path(text), url)


def _directory(path: Path, url: str) -> ExampleDatabase:
    if path.exists() and not path.is_dir():
        raise UsageError(f"example database {url!r} is a file, not a directory")
    return DirectoryBasedExampleDatabase(path)


def _redis(url: str) -> ExampleDatabase:
    parts = urlsplit(url)
    try:
        _ = parts.port
    except ValueError:
        raise UsageError(f"example database {url!r}: the port is not a number") from None
    if not parts.hostname:
        raise UsageError(f"example database {url!r} names no host; expected {DATABASE_FORMS}")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise UsageError(f"example database {url!r}: the database must be a number, not {db!r}")
    try:
        from hypothesis.extra.redis import RedisExampleDatabase
        from redis import Redis
    except ImportError:
        raise UsageError(
            f"example database {url!r} needs the redis package: pip install 'beacon[shards]'"
        ) from None
    # Connecting is lazy: a server that is down shows up at the first fetch or save.
    return RedisExampleDatabase(Redis.from_url(url))
