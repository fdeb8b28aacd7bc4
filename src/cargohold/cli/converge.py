"""plan and apply."""

from __future__ import annotations

import sys
import time

import click

from cargohold.cli.main import Context, cli, pass_context
from cargohold.cli.output import Output
from cargohold.model import ActionKind, Plan

SYMBOLS: dict[ActionKind, tuple[str, str]] = {
    "create": ("+", "green"), "update": ("~", "yellow"), "replace": ("±", "yellow"), "remove": ("-", "red"),
}


def plan_json(plan: Plan) -> dict[str, object]:
    return {
        "fleet": plan.fleet,
        "changes": len(plan.actions),
        "blockers": list(plan.blockers),
        "warnings": list(plan.warnings),
        "unreachable": [{"node": n, "why": why, "waiting": k} for n, why, k in plan.unreachable],
        "actions": [
            {"kind": a.kind, "target": a.target, "node": a.node, "reason": a.reason, "after": list(a.after)}
            for a in plan.actions
        ],
    }


def render_plan(out: Output, plan: Plan) -> None:
    if plan.empty and plan.unreachable:
        out.line(f"No changes on the nodes that answered; fleet {plan.fleet} could not be checked everywhere.",
                 style="yellow")
    elif plan.empty:
        out.line(f"No changes: fleet {plan.fleet} matches the fleet file.", style="green")
    else:
        counts = ", ".join(f"{plan.count(k)} to {k}" for k in SYMBOLS if plan.count(k))
        out.line(f"Plan for fleet {plan.fleet}: {counts}")
        for action in plan.actions:
            symbol, style = SYMBOLS[action.kind]
            node = f" on {action.node}" if action.node else ""
            out.line(f"  {symbol} {action.kind:<7} {action.target}{node}: {action.reason}", style=style)
    for warning in plan.warnings:
        out.line(f"  ! warning: {warning}", style="yellow")
    for node, why, waiting in plan.unreachable:  # an error: on stderr, the command exits 1
        sys.stderr.write(f"error: node {node} is unreachable ({why}): its instances, storage mount and front door "
                         f"are not checked, and nothing is changed on it ({waiting} change(s) wait for it)\n")
    for blocker in plan.blockers:
        out.line(f"  ! blocked: {blocker}", style="red bold")


@cli.command("plan")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@pass_context
def plan_command(ctx: Context, as_json: bool) -> int:
    """Show what apply would change, and why. Changes nothing."""
    fleet = ctx.fleet()
    from cargohold.backends import plan_fleet

    _desired, backends, plan = plan_fleet(fleet)
    backends.close()
    out = Output(as_json)
    if as_json:
        out.json(plan_json(plan))
    else:
        render_plan(out, plan)
    return 1 if plan.blockers or plan.unreachable else 0


@cli.command("apply")
@click.option("--json", "as_json", is_flag=True, help="Print the executed plan as JSON when done.")
@pass_context
def apply_command(ctx: Context, as_json: bool) -> int:
    """Converge the fleet to the fleet file: run the plan, then check that nothing differs."""
    fleet = ctx.fleet()
    from cargohold.apply import apply_plan
    from cargohold.backends import plan_fleet

    desired, backends, plan = plan_fleet(fleet)
    out = Output(as_json)
    try:
        if not as_json:
            render_plan(out, plan)
        if plan.empty and not plan.blockers:
            if as_json:
                out.json({**plan_json(plan), "seconds": 0.0})
            return 1 if plan.unreachable else 0
        started = time.monotonic()
        apply_plan(plan, desired, backends, report=out.progress)
        seconds = time.monotonic() - started
    finally:
        backends.close()
    if as_json:
        out.json({**plan_json(plan), "seconds": round(seconds, 3)})
    elif plan.unreachable:
        down = ", ".join(n for n, _, _ in plan.unreachable)
        out.line(f"Applied {len(plan.actions)} change(s) in {seconds:.1f}s on the nodes that answered; nothing changed "
                 f"on {down}: run apply again when it answers.", style="yellow")
    else:
        out.line(f"Applied {len(plan.actions)} change(s) in {seconds:.1f}s; fleet {plan.fleet} matches the file.",
                 style="green")
    return 1 if plan.unreachable else 0
