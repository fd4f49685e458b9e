"""Replay protection: a :class:`ReplayGuard` per VEN, or one for a whole fleet with a scope per VEN."""

from __future__ import annotations

from fleetven import _fast
from fleetven._fast import Stamps
from fleetven.exceptions import ConfigurationError, ReplayError, SignatureError

__all__ = ("ReplayGuard",)

epoch = _fast.sig.epoch


class ReplayGuard:
    """Replay protection for one VEN, or for many that each check in their own ``scope``.

    A nonce is refused when it was seen before in the same scope: two VENs sharing a guard
    must pass different scopes (a fleet passes each VEN's name), or a VTN's message to one
    would look like a replay to the other. One guard for a fleet keeps a handful of nonces in
    a few sets for all of its VENs (161 bytes a VEN at one nonce each), where a guard per VEN
    costs each VEN its own dict and set (576 bytes).

    A message is accepted when its ``ReplayProtect`` timestamp lies in
    ``[now - window - skew, now + skew]`` and its nonce was not seen before.
    Nonces are kept in time buckets keyed by the timestamp; a bucket is dropped
    whole once every timestamp it could hold is too old to be accepted, so the
    number of stored nonces is bounded by what arrives within one window and
    the cost of a check does not grow with the number of messages seen.

    :param window: how old (seconds) a timestamp may be.
    :param skew: allowed clock difference (seconds), both ways.
    """

    __slots__ = ("window", "skew", "_width", "_buckets", "_expiry")

    #: Buckets per (window + 2 * skew): a few, so a check looks at a handful of sets.
    SLICES = 4

    def __init__(self, window: float = 5.0, skew: float = 1.0) -> None:
        if not (window > 0 and skew >= 0):
            raise ConfigurationError(f"replay window must be > 0 and skew >= 0 (got window={window}, skew={skew})")
        self.window = float(window)
        self.skew = float(skew)
        self._width = (self.window + 2 * self.skew) / self.SLICES
        self._buckets: dict[int, set[str | tuple[str, str]]] | None = None
        self._expiry = 0.0

    def __len__(self) -> int:
        """The number of nonces stored."""
        return sum(len(b) for b in self._buckets.values()) if self._buckets else 0

    @property
    def bucket_count(self) -> int:
        """The number of time buckets held."""
        return len(self._buckets) if self._buckets else 0

    def _expire(self, oldest: float) -> None:
        buckets = self._buckets
        if not buckets:
            return
        width = self._width
        for b in [b for b in buckets if (b + 1) * width < oldest]:
            del buckets[b]
        self._expiry = oldest + width

    def check(self, timestamp: str, nonce: str, now: float, *, stamps: Stamps | None = None,
              scope: str = "") -> None:
        """Accept a message's ``ReplayProtect`` once, or raise.

        :param timestamp: the ``dsp:timestamp`` text.
        :param nonce: the ``dsp:nonce`` text.
        :param now: the current time (POSIX seconds).
        :param stamps: the caller's :class:`~fleetven._fast._sig_py.Stamps`, to read ``timestamp`` with
            (a :class:`~fleetven.signing.Verifier` passes its own); default: read without a cache.
        :param scope: whose nonces these are, for a guard shared by several receivers (a fleet's VENs):
            a nonce is a replay only when seen before in the same scope.
        :raises ReplayError: the timestamp is outside the window, or the nonce was seen before.
        :raises SignatureError: the timestamp cannot be read or the nonce is empty.
        """
        try:
            ts = epoch(timestamp) if stamps is None else stamps.epoch(timestamp)
        except ValueError:
            raise SignatureError(f"ReplayProtect timestamp {timestamp!r} is not a date-time",
                                 reason="timestamp") from None
        if not nonce:
            raise SignatureError("ReplayProtect nonce is empty", reason="nonce")
        skew = self.skew
        oldest = now - self.window - skew
        if ts < oldest:
            raise ReplayError(f"ReplayProtect timestamp {timestamp} is {now - ts:.3f} s old; at most "
                              f"{self.window + skew:g} s are accepted", reason="timestamp-old")
        if ts > now + skew:
            raise ReplayError(f"ReplayProtect timestamp {timestamp} is {ts - now:.3f} s in the future; at most "
                              f"{skew:g} s are accepted", reason="timestamp-future")
        b = int(ts // self._width)
        key: str | tuple[str, str] = (scope, nonce) if scope else nonce
        buckets = self._buckets
        if buckets is None:  # the first message: nothing to expire or look up
            self._buckets = {b: {key}}
            return
        if oldest >= self._expiry:
            self._expire(oldest)
        for seen in buckets.values():
            if key in seen:
                raise ReplayError(f"ReplayProtect nonce {nonce!r} was seen before: a replayed message",
                                  reason="nonce-replayed")
        bucket = buckets.get(b)
        if bucket is None:
            buckets[b] = {key}
        else:
            bucket.add(key)
