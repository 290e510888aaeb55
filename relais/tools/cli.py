"""The `relais` command: seed the demo data, manage agents, triage messages, chat, evaluate."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import date, datetime, timezone
from pathlib import Path

from relais.core.config import settings
from relais.core.types import Role


def _seed(args: argparse.Namespace) -> int:
    from relais.storage.db import create_all, get_engine, session_scope
    from relais.tools.seed import seed

    anchor = date.fromisoformat(args.anchor) if args.anchor else datetime.now(timezone.utc).date()
    create_all(get_engine())
    from handoff.auth import generate_password
    from handoff.seed import DEMO_AGENTS, seed_agents

    demo = settings().demo
    given = settings().demo_password
    password = given or generate_password()
    with session_scope() as session:
        report = seed(session, anchor=anchor, reset=args.reset)
        agents = seed_agents(session, password) if demo else []
    if not demo:
        print(
            "no demo agents: not in demo mode (RELAIS_DEMO=1, which `make run` sets); "
            "add agents with `relais agent add`"
        )
    elif agents:
        # The one time it can be shown: only its hash is stored. scripts/run.sh shows this
        # line (it starts with "Demo agents:") in its banner.
        shown = "from RELAIS_DEMO_PASSWORD" if given else f"{password} (generated, shown once)"
        print(f"Demo agents: {' / '.join(agents)}, password {shown}")
    else:
        names = " / ".join(a[0] for a in DEMO_AGENTS)
        print(
            f"Demo agents: {names}, password as when they were created (shown then, or "
            "RELAIS_DEMO_PASSWORD); `relais agent passwd alice` sets another"
        )
    state = "created" if report.created else "already present (use --reset to recreate)"
    print(f"demo data {state} in {settings().database_url}")
    print(json.dumps(report.counts, sort_keys=True))
    return 0


def _agent(args: argparse.Namespace) -> int:
    """relais agent add | disable | passwd: exit 2 with a sentence when it cannot be done."""
    from handoff.accounts import (
        AccountError,
        add_agent,
        check_password_for,
        check_username,
        disable_agent,
        find_agent,
        set_password,
    )
    from relais.storage.db import create_all, get_engine, session_scope

    try:
        username = check_username(args.username)
        create_all(get_engine())
        password = None
        if args.action in ("add", "passwd"):
            # Said before the password is typed (twice) rather than after.
            with session_scope() as session:
                known = find_agent(session, username) is not None
            if known and args.action == "add":
                raise AccountError(f"the username {username!r} is taken")
            if not known and args.action == "passwd":
                raise AccountError(f"no agent is called {username!r}")
            password = _new_password(args, username)
            check_password_for(username, password)
        with session_scope() as session:
            if args.action == "add":
                assert password is not None
                agent = add_agent(
                    session, username, password, Role(args.role), args.name, args.capacity
                )
                done = f"agent {agent.username} added ({agent.role}, capacity {agent.capacity})"
            elif args.action == "disable":
                disabled = disable_agent(session, username)
                done = (
                    f"agent {username} disabled: {disabled.sessions_ended} login(s) ended, "
                    f"{disabled.requeued} conversation(s) back in the queue"
                )
            else:
                assert password is not None
                ended = set_password(session, username, password)
                done = f"password of {username} changed: {ended} login(s) ended"
    except AccountError as error:
        print(f"relais agent {args.action}: {error}", file=sys.stderr)
        return 2
    print(done)
    if args.action != "disable" and args.generate:
        print(f"password: {password}  (shown this once; only its hash is stored)")
    return 0


def _new_password(args: argparse.Namespace, username: str) -> str:
    """--generate, --password-stdin (one line, for scripts) or typed twice at a prompt."""
    from getpass import getpass

    from handoff.accounts import AccountError
    from handoff.auth import generate_password

    if args.generate:
        return generate_password()
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    try:
        first = getpass(f"New password for {username}: ")
        again = getpass("The same password again: ")
    except (EOFError, KeyboardInterrupt):
        raise AccountError("no password given") from None
    if first != again:
        raise AccountError("the two passwords differ")
    return first


def _triage(args: argparse.Namespace) -> int:
    from relais.tools.triage import Triage, TriageError, read_inputs, run

    try:
        triage = Triage.load(Path(args.model) if args.model else None)
    except TriageError as error:
        print(f"relais triage: {error}", file=sys.stderr)
        return 2
    errors = run(read_inputs(sys.stdin), sys.stdout, triage)
    if errors:
        print(
            f"relais triage: {errors} invalid input line(s), see the error lines", file=sys.stderr
        )
    return 1 if errors else 0


def _eval(args: argparse.Namespace) -> int:
    from relais.tools.evaluate import evaluate, table
    from relais.tools.triage import Triage

    triage = Triage.load(Path(args.model) if args.model else None)
    report = evaluate(Path(args.data), triage)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print(table(report))
    print(f"\nwritten to {out}")
    missed = [m for m, t in report["targets"].items() if not t["met"]]
    return 1 if missed else 0


def _nlu_check(args: argparse.Namespace) -> int:
    report = json.loads(Path(args.report).read_text(encoding="utf-8"))
    macro = report["macro avg"]["f1-score"]
    weakest = sorted(
        (v["f1-score"], k)
        for k, v in report.items()
        if isinstance(v, dict)
        and "support" in v
        and k not in ("macro avg", "weighted avg", "micro avg")
    )[:5]
    print(f"intent macro-F1 {macro:.3f} (minimum {args.min_f1:.2f})")
    print("weakest intents: " + ", ".join(f"{k} {f:.2f}" for f, k in weakest))
    return 0 if macro >= args.min_f1 else 1


def _intent_data(args: argparse.Namespace) -> int:
    """Our NLU data without the blocks tagged `use: anger`, which are not requests to the
    airline (the intent classifier skips them): what `make nlu-eval` splits and scores; the
    subfolders too (data/nlu/review: the examples designers exported)."""
    import yaml

    blocks, left_out = [], 0
    for path in sorted(Path(args.data).rglob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            if ((block.get("metadata") or {}).get("use")) == "anger":
                left_out += 1
                continue
            blocks.append(block)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        yaml.safe_dump({"version": "3.1", "nlu": blocks}, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )
    print(f"{len(blocks)} blocks written to {out} ({left_out} anger-only blocks left out)")
    return 0


def _anger_check(args: argparse.Namespace) -> int:
    from relais.tools.anger_check import check, table

    overrides = {}
    for item in args.set or []:
        key, _, value = item.partition("=")
        overrides[key] = float(value)
    report = check(Path(args.data), overrides, seed=args.seed)
    print(table(report))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2), encoding="utf-8")
    return 0 if report["all"]["f1"] >= args.min_f1 else 1


def _knowledge(args: argparse.Namespace) -> int:
    """relais knowledge check | eval | tune."""
    from relais.core.brand import load_brand
    from relais.core.knowledge import load_knowledge, problems

    brand = load_brand()
    if args.action == "check":
        import yaml

        domain = yaml.safe_load((settings().repo_root / "domain.yml").read_text("utf-8"))
        intents = [i if isinstance(i, str) else next(iter(i)) for i in domain["intents"]]
        found = problems(brand.knowledge_dir, brand.links["website"], intents)
        for line in found:
            print(f"{brand.knowledge_dir}/{line}")
        if found:
            return 1
        knowledge = load_knowledge(brand.knowledge_dir, brand.links["website"])
        passages = sum(len(a.passages) for a in next(iter(knowledge.articles.values())).values())
        langs = ", ".join(knowledge.articles)
        print(f"knowledge: {len(knowledge.ids)} articles, {passages} passages each in {langs}: ok")
        return 0

    from relais.core.policy import load_thresholds
    from relais.tools.knowledge_eval import load_questions, score, tune
    from relais.tools.triage import Triage

    knowledge = load_knowledge(brand.knowledge_dir, brand.links["website"])
    questions = [q for path in args.questions for q in load_questions(Path(path))]
    triage = Triage.load(Path(args.model) if args.model else None)
    parses = [triage.parse(q.text) for q in questions]
    if args.action == "tune":
        print(f"{'answer':>7} {'bonus':>6} {'margin':>7}  figures")
        for t, figures in tune(questions, parses, knowledge, load_thresholds())[:15]:
            shown = "  ".join(f"{k.removeprefix('knowledge_')} {v:.3f}" for k, v in figures.items())
            print(
                f"{t.knowledge_answer:7.3f} {t.knowledge_intent_bonus:6.2f}"
                f" {t.knowledge_outside_margin:7.2f}  {shown}"
            )
        return 0
    report = score(questions, parses, knowledge, load_thresholds())
    for metric, value in report["figures"].items():
        print(f"{metric:36} {value:.3f}")
    print(f"questions: {report['questions']}")
    for pair, count in list(report["confusions"].items())[: args.show]:
        print(f"  {count:3d}  {pair}")
    return 0


def _x_setup(args: argparse.Namespace) -> int:
    """relais x setup: the webhook registered, the account subscribed (relais/tools/x_setup.py)."""
    from bot.channels.config import x_settings
    from relais.core.errors import ConfigError
    from relais.tools.x_setup import setup

    try:
        found = x_settings()
    except ConfigError as error:
        print(f"relais x setup: {error}", file=sys.stderr)
        return 2
    if found is None:
        print(
            "relais x setup: X is off: set X_ACCOUNT_ID, X_CONSUMER_KEY, X_CONSUMER_SECRET, "
            "X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET first",
            file=sys.stderr,
        )
        return 2
    if found.mode != "webhook":
        print("relais x setup: X_MODE is polling: there is no webhook to register", file=sys.stderr)
        return 2
    public = settings().public_url
    url = args.url or (f"{public}/x/webhook" if public else None)
    if not url:
        print(
            "relais x setup: give --url https://your.host/x/webhook (or set RELAIS_PUBLIC_URL)",
            file=sys.stderr,
        )
        return 2
    return setup(found, url, dry_run=args.dry_run, replace=args.replace)


def _review(args: argparse.Namespace) -> int:
    """relais review export: what designers accepted, as Rasa files (handoff/review_export.py)."""
    import asyncio

    from handoff.review_export import (
        ExportError,
        FlagKind,
        build_export,
        pending_conversations,
        write_export,
    )
    from relais.core.types import utcnow
    from relais.storage.db import create_all, get_engine, session_scope

    day = args.day or datetime.now(timezone.utc).date()
    root = Path(args.root).resolve() if args.root else settings().repo_root
    create_all(get_engine())
    with session_scope() as session:
        wanted = pending_conversations(session)
    trackers, rasa_error = asyncio.run(_trackers(wanted))
    try:
        with session_scope() as session:
            files = build_export(session, day=day, trackers=trackers, root=root)
            written = [] if args.dry_run else write_export(session, files, root, utcnow())
    except ExportError as error:
        print(f"relais review export: {error}", file=sys.stderr)
        return 2
    counts = {files.nlu_path: len(files.examples), files.stories_path: len(files.stories)}
    if args.dry_run:
        for path, text in (
            (files.nlu_path, files.nlu_yaml()),
            (files.stories_path, files.stories_yaml()),
        ):
            if text:
                print(f"--- would add to {path} ({counts[path]}):\n{text}")
    for path in written:
        relative = path.relative_to(root)
        print(f"written: {relative} (+{counts[relative]})")
    if not files.examples and not files.stories:
        print("nothing new to export")
    if rasa_error and any(flag.kind == FlagKind.NO_TRACKER for flag in files.flags):
        print(
            f"stories need Rasa ({settings().rasa_url}), which did not answer: they stay for "
            f"the next export; the training examples went without them ({rasa_error[:160]})"
        )
    for flag in files.flags:
        print(f"flagged {flag.describe()}")
    return 0


async def _trackers(conversation_ids: Sequence[str]) -> tuple[dict[str, list[dict]], str | None]:
    """The trackers' events of these conversations from Rasa, and why it stopped if it did."""
    from bot.rasa_client import RasaClient
    from relais.core.errors import RasaUnavailable

    rasa = RasaClient(settings().rasa_url, timeout_s=15, token=settings().rasa_token)
    found: dict[str, list[dict]] = {}
    try:
        for conversation_id in conversation_ids:
            events = (await rasa.tracker(conversation_id)).get("events")
            found[conversation_id] = events if isinstance(events, list) else []
    except (RasaUnavailable, ValueError) as error:
        return found, str(error)
    finally:
        await rasa.close()
    return found, None


def _chat(args: argparse.Namespace) -> int:
    from relais.tools.chat import chat

    return chat(args.url or settings().rasa_url, args.sender)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="relais", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("seed", help="create the demo customer records (idempotent)")
    s.add_argument("--anchor", help="date the demo trips are placed around (default: today, UTC)")
    s.add_argument("--reset", action="store_true", help="delete and recreate the demo records")
    s.set_defaults(func=_seed)

    g = sub.add_parser("agent", help="console accounts: add, disable, set a password")
    actions = g.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="a new agent, supervisor or designer")
    add.add_argument("--role", choices=[str(r) for r in Role], default="agent")
    add.add_argument("--name", help="the name agents see (default: the username, capitalized)")
    add.add_argument(
        "--capacity", type=int, default=3, help="conversations held at once (default: 3)"
    )
    disable = actions.add_parser("disable", help="no more logins; ends the agent's sessions")
    passwd = actions.add_parser("passwd", help="a new password; ends the agent's sessions")
    for action in (add, disable, passwd):
        action.add_argument("username")
        action.set_defaults(func=_agent, generate=False)
    for action in (add, passwd):
        given = action.add_mutually_exclusive_group()
        given.add_argument("--generate", action="store_true", help="a random password, shown once")
        given.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of stdin (scripts), not a prompt",
        )

    t = sub.add_parser("triage", help='JSON lines {"text": ...} on stdin → one decision per line')
    t.add_argument(
        "--model", help="model archive (default: $RELAIS_MODEL, else models/relais.tar.gz)"
    )
    t.set_defaults(func=_triage)

    e = sub.add_parser("eval", help="score triage on the public evaluation files")
    e.add_argument("--data", default=str(settings().repo_root.parent / "shared" / "data" / "eval"))
    e.add_argument(
        "--model", help="model archive (default: $RELAIS_MODEL, else models/relais.tar.gz)"
    )
    e.add_argument("--out", default=str(settings().repo_root / "reports" / "eval.json"))
    e.set_defaults(func=_eval)

    n = sub.add_parser("nlu-check", help="fail when Rasa's intent report is below a macro-F1")
    n.add_argument("report")
    n.add_argument("--min-f1", type=float, default=0.90)
    n.set_defaults(func=_nlu_check)

    i = sub.add_parser("intent-data", help="write data/nlu without the anger-only blocks")
    i.add_argument("out")
    i.add_argument("--data", default=str(settings().repo_root / "data" / "nlu"))
    i.set_defaults(func=_intent_data)

    a = sub.add_parser(
        "anger-check", help="train the anger model on 80%% of our tagged examples, score the rest"
    )
    a.add_argument("--data", default=str(settings().repo_root / "data" / "nlu"))
    a.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="try another setting, e.g. --set C=1 (see relais/ml/anger_model.py)",
    )
    a.add_argument("--seed", type=int, default=7)
    a.add_argument("--out", help="also write the report as JSON here")
    a.add_argument("--min-f1", type=float, default=0.0)
    a.set_defaults(func=_anger_check)

    k = sub.add_parser("knowledge", help="check the knowledge articles; score or tune retrieval")
    kinds = k.add_subparsers(dest="action", required=True)
    kinds.add_parser("check", help="every article in both languages, links on the brand's site")
    for name, what, defaults in (
        ("eval", "the share of questions answered from the right article", ["knowledge_heldout"]),
        (
            "tune",
            "try thresholds on the development questions",
            ["knowledge_dev", "knowledge_fresh", "knowledge_paraphrased"],
        ),
    ):
        kind = kinds.add_parser(name, help=what)
        kind.add_argument(
            "--questions",
            nargs="+",
            default=[str(settings().repo_root / "tests" / "eval" / f"{d}.yml") for d in defaults],
            help="one or more question files, scored together",
        )
        kind.add_argument(
            "--model", help="model archive (default: $RELAIS_MODEL, else models/relais.tar.gz)"
        )
        kind.add_argument(
            "--show",
            type=int,
            default=0,
            help="how many confusions to list (not for a held-out set)",
        )
    k.set_defaults(func=_knowledge)

    x = sub.add_parser("x", help="X: register the webhook and subscribe the account")
    x_actions = x.add_subparsers(dest="action", required=True)
    xs = x_actions.add_parser(
        "setup",
        help="register the app's webhook with X and subscribe the brand's account to it "
        "(the app must be running and reachable at the URL)",
    )
    xs.add_argument(
        "--url", help="the webhook's public address (default: RELAIS_PUBLIC_URL/x/webhook)"
    )
    xs.add_argument(
        "--dry-run", action="store_true", help="only read, and print what would be done"
    )
    xs.add_argument(
        "--replace",
        action="store_true",
        help="delete the app's webhook at another address first (X allows one per app)",
    )
    xs.set_defaults(func=_x_setup)

    r = sub.add_parser("review", help="the designers' review loop: export what they accepted")
    review = r.add_subparsers(dest="action", required=True)
    export = review.add_parser(
        "export",
        help="add the accepted labels to data/nlu/review/<day>.yml and the stories to "
        "tests/stories/review/<day>.yml, personal data replaced; print what was flagged",
    )
    export.add_argument(
        "--day", type=date.fromisoformat, help="the files' date, YYYY-MM-DD (default: today, UTC)"
    )
    export.add_argument(
        "--dry-run", action="store_true", help="print what would be added; write and mark nothing"
    )
    export.add_argument("--root", help="the project to write into (default: this checkout)")
    export.set_defaults(func=_review)

    c = sub.add_parser("chat", help="talk to the running bot from the terminal")
    c.add_argument("--url", help="Rasa server URL (default: RASA_URL or http://127.0.0.1:5005)")
    c.add_argument(
        "--sender",
        default="web:demo-camille",
        help="who you are: web:demo-camille, telegram:100002, x:…, or any id",
    )
    c.set_defaults(func=_chat)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
