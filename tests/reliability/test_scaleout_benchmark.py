"""The scale-out benchmark at its smallest: one runner, then two, on two bots with one student
each, and both takeovers. Real `coursebot runner` processes, the stub Bot API process, the
test session's PostgreSQL and Redis. It checks that the benchmark still measures what its
table says (every update answered on the scripted path, CPU read for each runner, the bots
shared, each takeover ending with every bot answering from another runner), not how fast:
timings on a shared machine prove nothing, a benchmark that no longer runs does."""

from __future__ import annotations

import math
import os

import pytest

from benchmarks import scaleout

pytestmark = pytest.mark.integration

BOTS, STUDENTS, ACTIONS = 2, 1, 3


async def test_the_smallest_scale_out_run_fills_its_table(service_urls):
    args = scaleout.parse_args(
        [
            "--size",
            f"{BOTS}x{STUDENTS}",
            "--actions",
            str(ACTIONS),
            "--runners",
            "1,2",
            "--lease-ttl",
            "3",
            "--timeout",
            "60",
            "--database-url",
            service_urls.database_url,
            "--redis-url",
            service_urls.redis_url,
        ]
    )
    configurations = await scaleout.run(args)

    assert [c.runners for c in configurations] == [1, 2]
    for c in configurations:
        assert c.completed and c.script_followed, c
        assert c.updates == BOTS * STUDENTS * ACTIONS
        assert len(c.runner_cpu_s) == c.runners and all(s > 0 for s in c.runner_cpu_s)
        assert sum(c.bots_per_runner) == BOTS and min(c.bots_per_runner) >= 1
        assert c.max_connections >= c.runners, "each runner holds PostgreSQL connections"
        assert c.batches > 0, "the journal's batches were read from each runner's /metrics"
    single, double = configurations
    assert set(single.sends_by_runner) == {"r1"}
    assert set(double.sends_by_runner) == {"r1", "r2"}, "both runners answered students"
    assert single.takeovers == []
    assert [t.event for t in double.takeovers] == ["kill -9", "SIGTERM"]
    for takeover in double.takeovers:
        assert takeover.bots == 1, "each of two runners held one of the two bots"
        assert not math.isnan(takeover.answering_s), "every bot answered from another runner"
        assert takeover.leases_moved_s > 0 and takeover.exit_s > 0

    report = scaleout.report(args, configurations, "machine: (start)")
    lines = report.splitlines()
    assert "lease TTL 3 s" in lines[0]
    table = lines[lines.index("") - 3 : lines.index("")]
    assert table[0].startswith("runners") and "updates/s" in table[0]
    assert table[1].split()[:2] == ["1", str(BOTS * STUDENTS * ACTIONS)]
    assert table[2].split()[:2] == ["2", str(BOTS * STUDENTS * ACTIONS)]
    assert "-" not in table[2].split()[1:8], "no column of the two-runner row is empty"
    assert "2 runners / 1 runner: " in report and f"on {os.cpu_count()} CPUs" in report
    assert "kill -9" in report and "SIGTERM" in report
