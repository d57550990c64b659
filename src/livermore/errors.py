"""Every error the service raises on purpose, in one tree (as httpx keeps its exceptions):

LivermoreError                  anything we raise on purpose; the CLI prints its message, no traceback
├── UsageError                  the operator's input is wrong (unknown exchange, bad --symbols): fix the command
├── ExchangeError               an exchange request failed for good, after the retries that were due
│   ├── UnknownSymbolError      the exchange does not know the symbol: check its spelling (never retried)
│   ├── UnfitCandleError        the exchange sent a candle the original could not read: nothing of it is written
│   └── ExchangeBannedError     HTTP 418: nothing is sent before `until_s`; wait, or use another IP
├── WarmupAlreadyRunning        a warmup, backfill or cache clear of the exchange holds the lease: wait or cancel it
│   └── BackfillRunning         this process backfills the exchange: a warmup or another backfill waits for its end
├── InstanceAlreadyServing      another live instance's status key names the exchange: one instance per exchange
└── CommandError                a control command was refused or failed; the message goes in its `error` reply
    └── CommandConflict         refused because of what runs now (a backfill during a warmup, a cancel of nothing)
"""

from __future__ import annotations

from typing import Any


class LivermoreError(Exception):
    """The root: whatever is raised on purpose, with a message an operator can act on."""


class UsageError(LivermoreError):
    """The operator's input is wrong; the message says what to give instead."""


class ExchangeError(LivermoreError):
    """An exchange request failed for good (after whatever retries were due)."""


class UnknownSymbolError(ExchangeError):
    """The exchange does not know this symbol (Binance -1121, Coinbase 404/400): never retried."""


class UnfitCandleError(ExchangeError):
    """The exchange answered with a candle we refuse to store (a non-positive price, high below low,
    off the timeframe's grid...): the original's reader throws for a whole key on one such member."""


class ExchangeBannedError(ExchangeError):
    """The exchange answered 418 (IP ban) or still bans us; nothing is sent until `until_s` (epoch s)."""

    def __init__(self, message: str, until_s: float):
        super().__init__(message)
        self.until_s = until_s


class WarmupAlreadyRunning(LivermoreError):
    """Another warmup (or backfill, cache clear) of this exchange holds the lease (in this process or another)."""


class BackfillRunning(WarmupAlreadyRunning):
    """An ad-hoc backfill of this exchange runs in this process: it holds the warmup lease, so
    nothing else warms the exchange meanwhile. Apart from its parent, as no `already_started`
    reply may say a warmup runs when it is a backfill."""


class InstanceAlreadyServing(LivermoreError):
    """Another instance's `exchange:<id>:status` key is live: the original serves an exchange from one
    instance at a time, and so do we; stop that one (or wait for its key to expire) first."""


class CommandError(LivermoreError):
    """A command was refused or failed; the message (and any data) goes in the `error` reply."""

    def __init__(self, message: str, data: Any = None):
        super().__init__(message)
        self.data = data


class CommandConflict(CommandError):
    """Refused because of what is running now (a backfill during a warmup or a start during a
    backfill, a cancel with nothing to cancel); the admin API answers 409."""
