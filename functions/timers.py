from __future__ import annotations

import azure.functions as func

from runner_fleet import runtime

bp = func.Blueprint()


@bp.timer_trigger(schedule="0 17 * * * *", arg_name="timer", run_on_startup=False)
async def housekeeping(timer: func.TimerRequest) -> None:
    await runtime.current().housekeeping()


# Every minute: webhooks make the fleet fast, this makes it correct.
@bp.timer_trigger(schedule="0 */1 * * * *", arg_name="timer", run_on_startup=False)
async def reconcile(timer: func.TimerRequest) -> None:
    await runtime.current().reconcile_round()
