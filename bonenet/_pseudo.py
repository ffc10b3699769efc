"""Pseudonymisation of study and series identifiers: salted HMAC-SHA256.

The same salt gives the same pseudonym for the same identifier, so results of separate runs
can be joined by a person who holds the salt, and nobody without it can reverse or confirm an
identifier by hashing guesses (which an unsalted hash of a patient ID would allow).

The salt is the secret. Rules (:func:`resolve_salt`):

* taken from ``--salt-file FILE`` (first line), else ``$BONENET_SALT``, else ``--salt`` —
  which works but warns: a command-line argument is visible to every user in ``ps``;
* at least 8 characters **and** an estimated 48 bits of entropy, where the estimate is
  ``min(n · H, n · log2(pool))``: ``n`` characters, ``H`` the Shannon entropy (bits) of the
  salt's own character frequencies, ``pool`` the size of the character classes used (26 lower,
  26 upper, 10 digits, 33 other). ``aaaaaaaaaaaaaaaa`` (0 bits) and ``password`` (22 bits) are
  refused; ``secrets.token_hex(16)`` (≈ 120 bits) passes. The estimate cannot see dictionary
  words or sequences; use a random salt.

``run.json`` never holds a value derived cheaply from the salt: to refuse resuming a run with
another salt it stores a *salt check* — scrypt (N=2^14, r=8, p=1) of the salt keyed by a
random 128-bit run key made for that output folder. Each guess of the salt then costs a
scrypt evaluation per folder (about 50 ms and 16 MiB), never an HMAC.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import math
import os
import secrets
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["MIN_SALT_BITS", "SALT_ENV", "Pseudonymizer", "resolve_salt", "salt_entropy_bits"]

log = logging.getLogger(__name__)

#: Environment variable read for the salt when no ``--salt-file`` is given.
SALT_ENV = "BONENET_SALT"
_MIN_SALT_CHARS = 8
#: Minimum estimated entropy of a salt, bits (see the module docstring for the estimate).
MIN_SALT_BITS = 48.0
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_ADVICE = "for example `python -c \"import secrets; print(secrets.token_hex(16))\"`"


def salt_entropy_bits(salt: str) -> float:
    """Estimated entropy of ``salt`` in bits: ``min(n·H, n·log2(pool))`` (module docstring)."""
    n = len(salt)
    if n == 0:
        return 0.0
    counts = collections.Counter(salt)
    shannon = -sum(c / n * math.log2(c / n) for c in counts.values())
    pool = (26 * any(ch.islower() for ch in salt) + 26 * any(ch.isupper() for ch in salt)
            + 10 * any(ch.isdigit() for ch in salt) + 33 * any(not ch.isalnum() for ch in salt))
    return max(0.0, min(n * shannon, n * math.log2(max(pool, 2))))


def _read_salt_file(path: str | os.PathLike[str]) -> str:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--salt-file {str(p)!r}: cannot read it ({exc}); give a UTF-8 text "
                          "file whose first line is the salt") from exc
    lines = text.splitlines()
    salt = lines[0].strip() if lines else ""
    if not salt:
        raise ConfigError(f"--salt-file {str(p)!r}: the first line is empty; write the salt "
                          f"there ({_ADVICE})")
    return salt


def resolve_salt(salt: str | None, *, keep_ids: bool,
                 salt_file: str | os.PathLike[str] | None = None) -> str | None:
    """Return the salt to use; ``None`` only with ``keep_ids``.

    Sources, first found wins: ``salt_file`` (``--salt-file``, its first line),
    ``$BONENET_SALT``, ``salt`` (``--salt``; a warning says it shows in ``ps``). Giving both
    ``salt`` and ``salt_file`` is an error.

    Raises
    ------
    ConfigError
        No salt was given and identifiers are not kept, or the salt is shorter than 8
        characters or has less than :data:`MIN_SALT_BITS` of estimated entropy.
    """
    if keep_ids:
        return None
    if salt is not None and salt_file is not None:
        raise ConfigError("both --salt and --salt-file given; keep --salt-file (a command-line "
                          "salt is visible to other users in `ps`)")
    if salt_file is not None:
        salt = _read_salt_file(salt_file)
    elif os.environ.get(SALT_ENV):
        if salt is not None and salt != os.environ[SALT_ENV]:
            raise ConfigError(f"--salt and ${SALT_ENV} differ; give the salt one way "
                              f"(${SALT_ENV} or --salt-file)")
        salt = os.environ[SALT_ENV]
    elif salt:
        log.warning("--salt on the command line is visible to every user of this machine (ps, "
                    "shell history); prefer $%s or --salt-file", SALT_ENV)
    if not salt:
        raise ConfigError(
            f"no salt for pseudonymising study identifiers: set {SALT_ENV}=SECRET or pass "
            "--salt-file FILE (keep it private and reuse it to join runs), or pass --keep-ids "
            "to write the original identifiers"
        )
    if len(salt) < _MIN_SALT_CHARS:
        raise ConfigError(
            f"the salt is {len(salt)} characters long; use at least {_MIN_SALT_CHARS} random "
            f"characters ({_ADVICE})"
        )
    bits = salt_entropy_bits(salt)
    if bits < MIN_SALT_BITS:
        raise ConfigError(
            f"the salt is too predictable (estimated {bits:.0f} bits of entropy, at least "
            f"{MIN_SALT_BITS:.0f} needed: repeated characters or a single character class); "
            f"use a random salt ({_ADVICE})"
        )
    return salt


class Pseudonymizer:
    """Map identifiers to stable pseudonyms ``<prefix>-<20 hex digits>`` (80 bits of HMAC).

    Parameters
    ----------
    salt : str or None
        Secret key of the HMAC. ``None`` keeps identifiers unchanged (``--keep-ids``).
    prefix : str
        Text before the digest, e.g. ``"sub"`` for subjects and ``"ser"`` for series.
    """

    def __init__(self, salt: str | None, *, prefix: str = "sub") -> None:
        self._key = None if salt is None else salt.encode("utf-8")
        self.prefix = prefix

    @property
    def keeps_ids(self) -> bool:
        """True when identifiers pass through unchanged."""
        return self._key is None

    def __call__(self, identifier: str) -> str:
        if self._key is None:
            return str(identifier)
        digest = hmac.new(self._key, str(identifier).encode("utf-8"), hashlib.sha256).hexdigest()
        return f"{self.prefix}-{digest[:20]}"

    def with_prefix(self, prefix: str) -> Pseudonymizer:
        """The same key with another prefix (series UIDs get ``ser-``)."""
        p = Pseudonymizer(None, prefix=prefix)
        p._key = self._key
        return p

    def salt_check(self, run_key: str | None = None) -> dict[str, Any]:
        """A salt check for ``run.json``: scrypt of the salt keyed by a random run key.

        ``run_key`` (hex) is made fresh when not given. With ``--keep-ids`` the check is
        ``{"keep_ids": True}``. See the module docstring for why this is not an HMAC.
        """
        if self._key is None:
            return {"keep_ids": True}
        key = run_key or secrets.token_hex(16)
        digest = hashlib.scrypt(self._key, salt=bytes.fromhex(key), dklen=16, **_SCRYPT,
                                maxmem=64 * 2**20)
        return {"kdf": "scrypt", **_SCRYPT, "run_key": key, "digest": digest.hex()}

    def matches(self, check: dict[str, Any] | None) -> bool:
        """True when ``check`` (from :meth:`salt_check`, read back from ``run.json``) was made
        with this salt (or both keep identifiers)."""
        if not isinstance(check, dict):
            return False
        if self._key is None or check.get("keep_ids"):
            return self._key is None and bool(check.get("keep_ids"))
        key = check.get("run_key")
        if check.get("kdf") != "scrypt" or not isinstance(key, str):
            return False
        try:
            mine = self.salt_check(key)
        except ValueError:  # not hex
            return False
        return hmac.compare_digest(mine["digest"], str(check.get("digest")))
