"""Long-running work kept alive (bot/supervise.py): a failing job or polling loop is logged,
shown in the health report, and run again with backoff; the others are not affected."""

from __future__ import annotations

import asyncio

from bot.supervise import Health, backoff, keep_polling, repeat


def test_backoff_doubles_up_to_a_ceiling() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert backoff(30) == 60.0


def test_a_failing_job_is_retried_and_the_others_keep_running() -> None:
    health = Health()
    runs = {"broken": 0, "fine": 0}

    async def broken() -> None:
        runs["broken"] += 1
        raise RuntimeError("database is locked")

    async def fine() -> None:
        runs["fine"] += 1

    async def main() -> None:
        tasks = [
            asyncio.create_task(repeat("broken", broken, 0.01, health, first_backoff=0.01)),
            asyncio.create_task(repeat("fine", fine, 0.01, health)),
        ]
        await asyncio.sleep(0.3)
        report = health.report()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert report["status"] == "degraded"
        assert report["tasks"] == {
            "broken": "failing: RuntimeError: database is locked",
            "fine": "ok",
        }

    asyncio.run(main())
    assert runs["broken"] >= 2  # retried, after growing waits
    assert runs["fine"] > runs["broken"]  # never held up by the broken one


def test_a_job_woken_early_runs_at_once() -> None:
    health, wake, ran = Health(), asyncio.Event(), []

    async def main() -> None:
        async def work() -> None:
            ran.append(1)

        task = asyncio.create_task(repeat("outbox", work, 60, health, wake=wake))
        await asyncio.sleep(0.05)
        wake.set()
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert not wake.is_set()  # cleared by the job that consumed it

    asyncio.run(main())
    assert len(ran) == 2


def test_a_polling_loop_that_raises_is_restarted_and_shown_down_meanwhile() -> None:
    health, stop = Health(), asyncio.Event()
    attempts: list[int] = []
    seen: list[str] = []

    async def poll(stop: asyncio.Event) -> None:
        attempts.append(1)
        if len(attempts) <= 2:
            raise RuntimeError("(sqlite3.OperationalError) disk I/O error")
        await stop.wait()

    async def main() -> None:
        health.channels["telegram"] = None  # registered when the app starts (bot/web.py)
        task = asyncio.create_task(
            keep_polling("telegram", poll, stop, health, healthy_after=0.2, first_backoff=0.05)
        )
        for _ in range(60):
            seen.append(str(health.report()["channels"]["telegram"]))  # type: ignore[index]
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 2)

    asyncio.run(main())
    assert len(attempts) == 3
    down = [s for s in seen if s.startswith("down: RuntimeError")]
    assert down and "restart" in down[0]
    assert seen[-1] == "ok"  # the third run has lasted: up again


def test_a_channel_reports_its_own_trouble_while_its_loop_runs() -> None:
    health = Health()
    problem: list[str | None] = [None]
    health.channels["x"] = None
    health.troubles["x"] = lambda: problem[0]
    assert health.report() == {"status": "ok", "channels": {"x": "ok"}, "tasks": {}}
    problem[0] = "the X API fails: ConnectionError"
    assert health.report()["channels"] == {"x": "down: the X API fails: ConnectionError"}
    assert health.report()["status"] == "degraded"
