"""Record crypto throughput: beacon's ``encrypt_record`` / ``decrypt_record`` against a bare loop.

The baseline is the least code that does the same job with the same primitives
(``cryptography``'s AES-256-CBC and PKCS#7, the standard library's HMAC-SHA256, base64 and
JSON): no argument checks, no envelope validation, no error mapping. Both sides process the
same records under the same keys, alternately, and each side's output is checked to be
readable by the other, so the two loops provably do the same work. Target: beacon reaches at
least 0.8 of the bare loop's records/s.

Each round runs the four loops once, one after the other; a figure's ratio is the median over
rounds of that round's ratio (both sides of it met the same machine load), its value the
median records/s (:func:`bench._figures.pairwise_rounds`, :func:`~bench._figures.median_ratio`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import statistics
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from beacon._crypto import KeyBundle, decrypt_record, encrypt_record
from bench._figures import figure, median_ratio, pairwise_rounds

TARGET = 0.8


def make_records(count: int, *, size: int = 1000, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` bookmark-like cleartexts of about ``size`` bytes of JSON each, reproducibly."""
    rnd = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    records = []
    for i in range(count):
        record_id = base64.urlsafe_b64encode(rnd.randbytes(9)).decode("ascii")
        body = "".join(rnd.choices(alphabet, k=max(0, size - 120)))
        records.append(
            {
                "id": record_id,
                "type": "bookmark",
                "title": f"record {i}",
                "bmkUri": f"https://example.com/{i}",
                "description": body,
            }
        )
    return records


def bare_encrypt(enc_key: bytes, hmac_key: bytes, cleartext: dict[str, Any], iv: bytes) -> str:
    """The minimal encrypt: the same steps as the Sync format requires, nothing else."""
    plain = json.dumps(cleartext, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(enc_key), modes.CBC(iv)).encryptor()
    ct_b64 = base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")
    mac = hmac.new(hmac_key, ct_b64.encode("ascii"), hashlib.sha256).hexdigest()
    return json.dumps(
        {"ciphertext": ct_b64, "IV": base64.b64encode(iv).decode("ascii"), "hmac": mac},
        separators=(",", ":"),
    )


def bare_decrypt(enc_key: bytes, hmac_key: bytes, payload: str) -> dict[str, Any]:
    """The minimal verify-then-decrypt."""
    env = json.loads(payload)
    ct_b64 = env["ciphertext"]
    mac = hmac.new(hmac_key, ct_b64.encode("ascii"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, env["hmac"]):
        raise ValueError("bad hmac")
    decryptor = Cipher(algorithms.AES(enc_key), modes.CBC(base64.b64decode(env["IV"]))).decryptor()
    padded = decryptor.update(base64.b64decode(ct_b64)) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    record: dict[str, Any] = json.loads(unpadder.update(padded) + unpadder.finalize())
    return record


def run(*, records: int = 5000, rounds: int = 7, quick: bool = False) -> dict[str, Any]:
    """Measure both directions; ``records`` per loop, ``rounds`` rounds of the four loops."""
    if quick:
        records, rounds = min(records, 200), min(rounds, 2)
    rnd = random.Random(11)
    bundle = KeyBundle.generate(rng=rnd.randbytes)
    enc_key, hmac_key = bundle.encryption_key, bundle.hmac_key
    cleartexts = make_records(records)
    ivs = [rnd.randbytes(16) for _ in cleartexts]
    ours = [encrypt_record(bundle, c, iv=iv) for c, iv in zip(cleartexts, ivs, strict=True)]
    bare = [bare_encrypt(enc_key, hmac_key, c, iv) for c, iv in zip(cleartexts, ivs, strict=True)]

    # Same work on both sides: each reads the other's payloads back to the same cleartexts.
    if [bare_decrypt(enc_key, hmac_key, p) for p in ours] != cleartexts:
        raise AssertionError("the bare loop cannot read beacon's payloads")
    if [decrypt_record(bundle, p) for p in bare] != cleartexts:
        raise AssertionError("beacon cannot read the bare loop's payloads")
    payload_bytes = sum(len(p) for p in ours) / len(ours)

    def beacon_encrypt() -> None:
        for c, iv in zip(cleartexts, ivs, strict=True):
            encrypt_record(bundle, c, iv=iv)

    def loop_encrypt() -> None:
        for c, iv in zip(cleartexts, ivs, strict=True):
            bare_encrypt(enc_key, hmac_key, c, iv)

    def beacon_decrypt() -> None:
        for p in ours:
            decrypt_record(bundle, p)

    def loop_decrypt() -> None:
        for p in ours:
            bare_decrypt(enc_key, hmac_key, p)

    candidates: dict[str, Callable[[], object]] = {
        "beacon_encrypt": beacon_encrypt,
        "loop_encrypt": loop_encrypt,
        "beacon_decrypt": beacon_decrypt,
        "loop_decrypt": loop_decrypt,
    }
    times = pairwise_rounds(candidates, rounds=rounds)

    def rate(name: str) -> float:
        return records / statistics.median(times[name])

    def ratio(direction: str) -> float:  # beacon's records/s over the loop's, per round
        return median_ratio(times[f"loop_{direction}"], times[f"beacon_{direction}"])

    note = f"median of {rounds} paired rounds of {records:,} records"
    return {
        "params": {"records": records, "rounds": rounds, "payload_bytes": round(payload_bytes)},
        "figures": [
            figure(
                "decrypt-and-verify",
                rate("beacon_decrypt"),
                "records/s",
                baseline=rate("loop_decrypt"),
                baseline_name="bare loop",
                ratio=ratio("decrypt"),
                target=TARGET,
                note=note,
            ),
            figure(
                "encrypt",
                rate("beacon_encrypt"),
                "records/s",
                baseline=rate("loop_encrypt"),
                baseline_name="bare loop",
                ratio=ratio("encrypt"),
                target=TARGET,
                note=note,
            ),
        ],
    }
