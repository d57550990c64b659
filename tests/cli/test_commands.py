from __future__ import annotations

from asyncio.subprocess import PIPE

import orjson
import pytest
import redis
from redis.asyncio import Redis
from typer.testing import CliRunner

from livermore.cli import app
from livermore.embedded import RedisServer, free_port
from livermore.models import Timeframe
from livermore.simulator import SimulatorConfig, serve_simulator
from tests.support.candles import clear_of_interval_end
from tests.support.processes import livermore


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
        (["warmup", "--symbols", "X", "--source-address", "nope"], "--source-address: 'nope' is not an IP address"),
        (["serve", "--egress", "a{b}"], "egress label 'a{b}': use letters, digits and . _ : - only"),
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
        ("BTC-USD", "1d", "empty"),
        ("ETH-USD", "1d", "empty"),
        ("BTC-USD", "1h", "empty"),
        ("ETH-USD", "1h", "empty"),
    ]
    schedule = runner.invoke(app, ["schedule", "--symbols", "BTC-USD", "--timeframes", "5m", "--json", *url])
    assert schedule.exit_code == 0, schedule.output
    assert orjson.loads(schedule.stdout)["needsFetching"] == 1
    table = runner.invoke(app, ["schedule", "--symbols", "BTC-USD", "--timeframes", "5m", *url])
    assert "1 of 1 pairs need fetching" in table.stdout


async def test_warmup_json_report_and_exit_code(redis: Redis, redis_server: RedisServer) -> None:
    """`livermore warmup --json` prints one JSON report; a failed pair makes the exit code non-zero."""
    async with serve_simulator(SimulatorConfig(exchange="binance", symbols=3)) as sim:

        async def warmup(symbols: str) -> tuple[int, dict[str, object]]:
            args = ["warmup", "--base-url", sim.base_url, "--redis-url", redis_server.url, "--symbols", symbols]
            proc = await livermore(*args, "--timeframes", "1h,5m", "--json", stdout=PIPE)
            out, _ = await proc.communicate()
            return proc.returncode or 0, orjson.loads(out)

        await clear_of_interval_end(Timeframe.M5, 20)  # a 5m candle that closed since would be fetched again
        code, report = await warmup("BTCUSDT,ETHUSDT")
        assert code == 0
        assert set(report) >= {
            "status",
            "totalPairs",
            "skippedPairs",
            "completedPairs",
            "failedPairs",
            "restCalls",
            "weightUsed",
            "throttled",
            "banned",
            "retries",
            "candlesWritten",
            "durationMs",
            "policy",
        }
        # 4 klines pages, and exchangeInfo once: it sets the limiter's budget before the first page
        assert (report["totalPairs"], report["completedPairs"], report["restCalls"], report["policy"]) == (
            4,
            4,
            5,
            "smart",
        )
        code, report = await warmup("BTCUSDT,NOPEUSDT")
        assert (code, report["outcome"]) == (2, "failed")
        # exchangeInfo (the symbol list) only: NOPEUSDT is found unknown there, without a klines request
        assert (report["skippedPairs"], report["failedPairs"], report["restCalls"]) == (2, 2, 1)


def test_scan_takes_its_chunk_size_from_the_settings(runner: CliRunner, redis_server: RedisServer) -> None:
    """`livermore scan` once built its cache with a hard-coded chunk; LIVERMORE_SCAN_CHUNK was ignored."""
    args = ["scan", "--symbols", "A,B,C", "--timeframes", "1h", "--json", "--redis-url", redis_server.url]
    with redis.Redis.from_url(redis_server.url) as client:
        assert runner.invoke(app, args).exit_code == 0  # the script is loaded, whatever ran before
        client.config_resetstat()
        assert runner.invoke(app, args, env={"LIVERMORE_SCAN_CHUNK": "1"}).exit_code == 0
        stats = client.info("commandstats")
    assert sum(v["calls"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval")) == 3
