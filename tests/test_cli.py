from __future__ import annotations

import orjson
import pytest
from typer.testing import CliRunner

from livermore.cli import app
from livermore.embedded import RedisServer, free_port


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan", "--symbols", "BTC-USD", "--timeframes", "7m"], "unknown timeframe '7m'"),
        (["schedule", "--symbols", " , "], "no symbols given"),
        (["scan", "--symbols", "BTC-USD", "--redis-url", f"redis://127.0.0.1:{free_port()}/0"], "Redis is unreachable"),
        (["warmup", "--exchange", "kraken", "--symbols", "X"], "unknown exchange 'kraken'"),
    ],
)
def test_bad_input_is_one_clear_line(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_scan_and_schedule_json(runner: CliRunner, redis_server: RedisServer) -> None:
    url = ["--redis-url", redis_server.url, "--exchange-id", "9"]
    scan = runner.invoke(app, ["scan", "--symbols", "BTC-USD,ETH-USD", "--timeframes", "1h,1d", "--json", *url])
    assert scan.exit_code == 0, scan.output
    rows = orjson.loads(scan.stdout)
    assert [(r["symbol"], r["timeframe"], r["reason"]) for r in rows] == [
        ("BTC-USD", "1d", "empty"), ("ETH-USD", "1d", "empty"), ("BTC-USD", "1h", "empty"), ("ETH-USD", "1h", "empty"),
    ]
    schedule = runner.invoke(app, ["schedule", "--symbols", "BTC-USD", "--timeframes", "5m", "--json", *url])
    assert schedule.exit_code == 0, schedule.output
    assert orjson.loads(schedule.stdout)["needsFetching"] == 1
    table = runner.invoke(app, ["schedule", "--symbols", "BTC-USD", "--timeframes", "5m", *url])
    assert "1 of 1 pairs need fetching" in table.stdout
