"""Every Redis name, pinned to its literal string: the original's services read the same keys."""

from __future__ import annotations

import inspect

from redis.crc import key_slot

from livermore import keys


def test_the_originals_names_byte_for_byte() -> None:
    assert keys.exchange_candle_key(1, "BTC-USD", "5m") == "candles:1:BTC-USD:5m"
    assert keys.warmup_schedule_key(1) == "exchange:1:warm-up-schedule:symbols"
    assert keys.warmup_stats_key(2) == "exchange:2:warm-up-schedule:stats"
    assert keys.commands_channel("default") == "livermore:commands:default"
    assert keys.responses_channel("default") == "livermore:responses:default"
    assert keys.command_queue_key("default") == "livermore:command-queue:default"
    assert keys.ticker_key(1, "BTC-USD") == "ticker:1:BTC-USD"
    assert keys.indicator_key(1, "BTC-USD", "5m") == "indicator:1:BTC-USD:5m"
    assert keys.instance_status_key(2) == "exchange:2:status"


def test_our_names() -> None:
    assert keys.monitored_symbols_key(2) == "livermore:symbols:2"
    assert keys.instance_lease_key(2) == "livermore:instance:2"
    assert keys.warmup_events_channel(2) == "exchange:2:warm-up-schedule:events"
    assert keys.warmup_lock_key(2) == "exchange:2:warm-up-schedule:lock"
    assert keys.warmup_queue_key(2) == "exchange:2:warm-up-schedule:queue"
    assert keys.WARMUP_QUEUE_GROUP == "warmup"
    assert keys.warmup_workers_key(2) == "exchange:2:warm-up-schedule:workers"
    assert keys.candle_ledger_key(2) == "exchange:2:candle-ledger"
    ledger = keys.candle_ledger_cluster_key(2, "candles:2:BTCUSDT:1h")
    assert ledger == "exchange:2:candle-ledger:{candles:2:BTCUSDT:1h}"
    assert keys.budget_window_key(2, "default", 875000000) == "livermore:budget:{2:default}:w:875000000"
    assert keys.budget_bucket_key(1, "127.0.0.2") == "livermore:budget:{1:127.0.0.2}:bucket"
    assert keys.budget_pause_key(2, "default") == "livermore:budget:{2:default}:pause"
    assert keys.budget_terms_key(2, "default", "vm") == "livermore:budget:{2:default}:terms:vm"


def test_every_name_in_the_module_is_pinned_above() -> None:
    """A name added to keys.py without a pin here fails this test."""
    pinned = {
        "exchange_candle_key",
        "warmup_schedule_key",
        "warmup_stats_key",
        "commands_channel",
        "responses_channel",
        "command_queue_key",
        "ticker_key",
        "indicator_key",
        "instance_status_key",
        "monitored_symbols_key",
        "instance_lease_key",
        "warmup_events_channel",
        "warmup_lock_key",
        "warmup_queue_key",
        "WARMUP_QUEUE_GROUP",
        "warmup_workers_key",
        "candle_ledger_key",
        "candle_ledger_cluster_key",
        "budget_window_key",
        "budget_bucket_key",
        "budget_pause_key",
        "budget_terms_key",
    }
    defined = {
        name
        for name, value in vars(keys).items()
        if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, str)) and name != "annotations"
    }
    assert defined == pinned


def test_on_a_cluster_a_ledger_entry_shares_its_candle_keys_slot() -> None:
    """One script call writes both: they must hash to one slot, and the candle key stays untagged."""
    for symbol, tf in [("BTCUSDT", "1h"), ("BTC-USD", "5m"), ("1000SHIBUSDT", "1d")]:
        candle = keys.exchange_candle_key(2, symbol, tf)
        assert key_slot(keys.candle_ledger_cluster_key(2, candle).encode()) == key_slot(candle.encode())
