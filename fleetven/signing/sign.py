"""Signing: a whole signed ``oadrPayload`` document around the ``oadrSignedObject`` that build made."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

from fleetven._fast import seal
from fleetven.messages.build import build_signed_object
from fleetven.openadr.model import Message
from fleetven.signing.keys import SigningKey

__all__ = ("NONCE_BATCH", "nonce", "sign_message")


def sign_message(msg_or_signed_object: Message | bytes, key: SigningKey, *,
                 now: float | None = None) -> bytes:
    """Sign a message: the whole ``oadrPayload`` document with its ``ds:Signature``.

    :param msg_or_signed_object: the bytes :func:`~fleetven.messages.build.build_signed_object`
        made, signed as they are (they are not built again: build a message sent again and again
        once), or a model message, built here with ``build_signed_object`` once.
    :param key: from :func:`~fleetven.signing.keys.load_signing_key`.
    :param now: the signing time (POSIX seconds) for the ``ReplayProtect`` timestamp (written with
        ``key.stamps``); default: the clock.
    :returns: UTF-8 bytes, ready to send.
    :raises BuildError: the message cannot be built.
    """
    kind = type(msg_or_signed_object)
    if kind is bytes:
        signed_object: Any = msg_or_signed_object
    elif isinstance(msg_or_signed_object, (bytes, bytearray)):
        signed_object = bytes(msg_or_signed_object)
    else:
        signed_object = build_signed_object(msg_or_signed_object)
    return seal(signed_object, key, key.stamps.timestamp(time.time() if now is None else now), nonce())


def _new_nonces() -> Iterator[str]:
    """A batch of fresh nonces: 128 random bits each, as 32 hex digits, from one read of ``os.urandom``."""
    pool = os.urandom(NONCE_BATCH * 16).hex()
    return iter([pool[i:i + 32] for i in range(0, len(pool), 32)])


#: How many nonces one read of ``os.urandom`` makes.
NONCE_BATCH = 256
# The process's pool of unused random nonces (not a cache: each is handed out once). Module state on purpose:
# one pool per process is what makes a forked child drop its parent's (os.register_at_fork, below).
_nonces: Iterator[str] = iter(())


def nonce() -> str:
    """A fresh ``ReplayProtect`` nonce (``os.urandom(16).hex()``, read from the system 256 at a time).

    Taking the next item of a list iterator is atomic, so threads never get the same one; a
    forked child drops what its parent had read (below).
    """
    global _nonces
    try:
        return next(_nonces)
    except StopIteration:
        _nonces = fresh = _new_nonces()
        return next(fresh)


def _forget_nonces() -> None:
    global _nonces
    _nonces = iter(())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_nonces)
