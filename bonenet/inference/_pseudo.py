"""Pseudonymisation of study and series identifiers: salted HMAC-SHA256.

The same salt gives the same pseudonym for the same identifier, so results of separate runs
can be joined by a person who holds the salt, and nobody without it can reverse or confirm an
identifier by hashing guesses (which an unsalted hash of a patient ID would allow).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from ..errors import ConfigError

__all__ = ["SALT_ENV", "Pseudonymizer", "resolve_salt"]

#: Environment variable read for the salt when ``--salt`` is not given.
SALT_ENV = "BONENET_SALT"
_MIN_SALT_CHARS = 8


def resolve_salt(salt: str | None, *, keep_ids: bool) -> str | None:
    """Return the salt to use: ``salt``, else ``$BONENET_SALT``; ``None`` only with ``keep_ids``.

    Raises
    ------
    ConfigError
        No salt was given and identifiers are not kept, or the salt is too short to protect
        identifiers against guessing.
    """
    if keep_ids:
        return None
    salt = salt if salt is not None else os.environ.get(SALT_ENV)
    if not salt:
        raise ConfigError(
            "no salt for pseudonymising study identifiers: pass --salt SECRET or set "
            f"{SALT_ENV}=SECRET (keep it private and reuse it to join runs), or pass --keep-ids "
            "to write the original identifiers"
        )
    if len(salt) < _MIN_SALT_CHARS:
        raise ConfigError(
            f"the salt is {len(salt)} characters long; use at least {_MIN_SALT_CHARS} random "
            "characters (for example `python -c \"import secrets; print(secrets.token_hex(16))\"`)"
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

    def fingerprint(self) -> str:
        """A value that identifies the salt without revealing it (stored in ``run.json``)."""
        if self._key is None:
            return "keep-ids"
        return hmac.new(self._key, b"bonenet-salt-fingerprint", hashlib.sha256).hexdigest()[:16]
