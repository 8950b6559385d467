"""Thin commands: parse arguments, call one library function, print.

Failures print one line, ``error: ...``, and exit with status 1 (2 for bad
arguments); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

DEFAULT_RESULTS = "data/demo"
DEFAULT_STORE = "sqlite:///data/demo/moderation.db"  # the demo's store, which the dashboard uses by default
SHOWN_PROBLEMS = 10  # train-offtopic's report is about learning; the input problems are for `ingest`
SHOWN_RUNS = 10


def _ingest_options(args: argparse.Namespace) -> dict:
    options = {}
    if args.map:
        pairs = [item.split("=", 1) for item in args.map]
        bad = [item for item, pair in zip(args.map, pairs) if len(pair) != 2 or not all(pair)]
        if bad:
            raise ValueError(f"--map takes THEIRS=CANONICAL, not {bad[0]!r}")
        options["columns"] = dict(pairs)
    if args.reactions:
        options["reaction_labels"] = tuple(label.strip() for label in args.reactions.split(","))
    for name in ("timezone", "source", "comments_file", "articles_file"):
        if getattr(args, name):
            options[name] = getattr(args, name)
    return options


def _add_strict(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict", action="store_true",
                        help="fail (exit 1) on any problem in the input instead of reporting it and keeping the good "
                             "records; the results folder is then left as it was")


def _add_corpus(parser: argparse.ArgumentParser) -> None:
    from moderation.formats import CORPUS_ENV, CORPUS_SUFFIX

    parser.add_argument("--corpus", metavar="PATH",
                        help=f"PostgreSQL store: the DuckDB file holding its comments (same as {CORPUS_ENV}=PATH); "
                             f"an SQLite store's is next to it, e.g. data/moderation{CORPUS_SUFFIX}")


def _add_ingest_arguments(parser: argparse.ArgumentParser, paths: str = "+") -> None:
    from moderation.formats import INGEST_FORMATS

    parser.add_argument("paths", nargs=paths, metavar="PATH", help="files or folders, any supported format")
    parser.add_argument("--format", choices=INGEST_FORMATS, help="skip detection and read every PATH as this format")
    parser.add_argument("--map", action="append", metavar="THEIRS=CANONICAL",
                        help="canonical CSV/JSONL/Parquet: rename a column (repeatable)")
    parser.add_argument("--comments-file", help="canonical format: the comments file inside a folder")
    parser.add_argument("--articles-file", help="canonical format: the articles file inside a folder")
    parser.add_argument("--reactions", metavar="LABELS",
                        help="page format: what each unlabeled reaction count means, e.g. up,down or up,ignore")
    parser.add_argument("--timezone", help="time zone of times given without one (page and canonical formats; default UTC)")
    parser.add_argument("--source", help="name of the source (default: the format's name; canonical: the file or folder name)")


def cmd_ingest(args: argparse.Namespace) -> int:
    from moderation import threads
    from moderation.pipeline import StrictFailure, ingest_paths
    from moderation.store import Store

    store = Store(args.store)
    run_id = store.start_run("ingest", args.paths)
    try:
        problems, records = ingest_paths(store, args.paths, args.format, run_id, args.strict, **_ingest_options(args))
        tree_problems = threads.resolve_stored(store.reply_tree())[1]
        store.record_problems(run_id, tree_problems)
        if args.strict and tree_problems:
            raise StrictFailure(f"--strict: {len(tree_problems)} reply-tree problem(s), first {tree_problems[0]}")
    except BaseException as error:
        store.finish_run(run_id, "failed", message=str(error).splitlines()[0] if str(error) else repr(error))
        raise
    store.finish_run(run_id, "done", records)
    problems += tree_problems
    for problem in problems:
        print(problem)
    stored = store.counts()
    print(f"{stored['comments']} comments on {stored['articles']} articles in {args.store}; {len(problems)} problems "
          f"(run {run_id})")
    return 0


def _params(args: argparse.Namespace):
    """Stage parameters from the options: ``--offtopic-weights`` replaces the shipped off-topic combiner."""
    from dataclasses import replace

    from moderation.pipeline import Params
    from moderation.offtopic import OfftopicParams, load_weights

    params = Params()
    if getattr(args, "offtopic_weights", None):
        load_weights(args.offtopic_weights)  # a bad file fails here, before any ingest
        params = replace(params, offtopic=OfftopicParams(weights_path=Path(args.offtopic_weights)))
    return params


def cmd_run(args: argparse.Namespace) -> int:
    from moderation import queues, reports
    from moderation.pipeline import run

    if args.scheduler and args.engine != "dask":
        raise ValueError("--scheduler is for --engine dask")
    dask = None
    if args.engine == "dask":
        from moderation.dask_engine import DaskOptions

        dask = DaskOptions(scheduler=args.scheduler)
    results = run(args.paths, args.out, args.store, args.format, _params(args), args.strict, args.refit,
                  engine=args.engine, dask=dask, **_ingest_options(args))
    flagged = {
        name: int(results.comments[spec.member].sum())
        for name, spec in queues.QUEUES.items() if spec.member in results.comments
    }
    # the same counts as the dashboard's Overview (reports.kpis); articles nobody commented on are said apart
    counts = reports.kpis(results.comments)
    silent = len(results.articles) - counts["articles"]
    earlier = len(results.problems) - results.run_problems
    print(
        f"{counts['comments']} comments on {counts['articles']} articles by {counts['authors']} authors"
        + (f" ({silent} more articles without comments)" if silent > 0 else "")
        + f" -> {args.out}; queues: " + ", ".join(f"{k} {v}" for k, v in flagged.items())
        + f"; {results.run_problems} input problems in run {results.run_id}"
        + (f" (and {earlier} from earlier runs)" if earlier else "")
        + f" (see {Path(args.out) / 'problems.csv'}); {results.scoring}"
    )
    return 0


def cmd_problems(args: argparse.Namespace) -> int:
    import pandas as pd

    from moderation import catalog, queues
    from moderation.store import Store

    store = Store(args.store or catalog.default_store_url(args.results))
    runs = store.runs()
    if runs.empty:
        raise ValueError(f"{store.engine.url.render_as_string(hide_password=True)}: no run recorded yet")
    if args.run and args.run not in set(runs["run_id"]):
        raise ValueError(f"no run {args.run!r}; `python -m moderation problems` lists the runs")
    if args.out:
        frame = store.problems(None if args.all else args.run or runs["run_id"].iloc[0])
        queues.to_csv(frame, Path(args.out))
        print(f"{len(frame)} problems -> {args.out}")
        return 0
    shown = runs[runs["run_id"] == args.run] if args.run else runs if args.all else runs.head(SHOWN_RUNS)
    for run in shown.itertuples():
        status = "running or killed" if run.status == "running" else run.status
        count = "?" if pd.isna(run.problems) else run.problems
        print(f"run {run.run_id} ({run.command}, {status}, started {run.started_at:%Y-%m-%d %H:%M:%S} UTC): "
              f"{count} problems; inputs: {', '.join(run.inputs)}"
              + (f"; {run.message}" if isinstance(run.message, str) else ""))
        if args.all or args.run:
            for problem in store.problems(run.run_id).itertuples(index=False):
                print(f"  {problem.file}: {problem.record}: {problem.problem} ({problem.action})")
    if len(shown) < len(runs):
        print(f"... {len(runs) - len(shown)} earlier runs (--all lists every run with its problems)")
    return 0


def cmd_train_offtopic(args: argparse.Namespace) -> int:
    import json

    from moderation import catalog
    from moderation.pipeline import learn_offtopic

    store = args.store or (catalog.default_store_url(args.results) if args.results else None)
    if not args.labels and not store:
        raise ValueError("say where the labels are: --labels COLUMN (in the input) or --results DIR "
                         "(what moderators labelled in the dashboard)")
    if not args.paths and not store:
        raise ValueError("nothing to learn from: give PATHs, or --results DIR / --store URL")
    weights, evaluation, problems = learn_offtopic(
        args.paths, args.labels, store, args.format, _params(args), args.speculative_labels, **_ingest_options(args)
    )
    for problem in problems[:SHOWN_PROBLEMS]:
        print(problem)
    if len(problems) > SHOWN_PROBLEMS:
        print(f"... and {len(problems) - SHOWN_PROBLEMS} more problems (`python -m moderation ingest` lists them all)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(weights, indent=1) + "\n")
    print(evaluation.round(3).to_string(index=False))
    print(f"{len(problems)} problems; learned weights -> {out}; use them with "
          f"`python -m moderation run PATH --out DIR --offtopic-weights {out}`")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import pandas as pd

    from moderation import catalog, queues, reports
    from moderation.store import Store

    results = Path(args.results)
    if args.decisions:
        frame = Store(args.store or catalog.default_store_url(results)).decisions()
    else:
        path = catalog.current(results) / "comments.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path}: no results; run `python -m moderation run PATH --out {results}` first")
        # the dashboard's filter (reports.filter_comments): same author match, same inclusive days
        filters = reports.Filters(
            article=args.article, author=args.author,
            since=queues.as_day(args.since) if args.since else None,
            until=queues.as_day(args.until) if args.until else None,
        )
        comments = reports.filter_comments(pd.read_parquet(path), filters)
        options = {"min_votes": args.min_votes, "members_only": not args.all}
        frame = queues.queue(comments, args.queue, without_text=args.without_text.replace("-", "_"), **options)
    queues.to_csv(frame, Path(args.out))
    print(f"{len(frame)} rows -> {args.out}")
    if not args.decisions and args.without_text == "leave-out":
        left_out = len(queues.queue(comments, args.queue, without_text="only", **options))
        if left_out:
            print(f"{left_out} comments without readable text (image-only answers) left out; "
                  "--without-text include keeps them, --without-text only lists just them")
    return 0


def cmd_staff(args: argparse.Namespace) -> int:
    import getpass

    from moderation import engagement
    from moderation.store import Store

    store = Store(args.store or f"sqlite:///{Path(args.results) / 'moderation.db'}")
    changes = {"staff_names": args.name, "staff_patterns": args.pattern, "staff_columns": args.column}
    for kind in args.clear or []:
        changes[f"staff_{kind}"] = []
    changes = {key: values for key, values in changes.items() if values is not None}
    if "staff_patterns" in changes:
        engagement.check_patterns(changes["staff_patterns"])  # a bad pattern fails before anything is saved
    by = args.by or getpass.getuser()
    for key, values in changes.items():
        store.set_desk_setting(key, values, by)
    params = engagement.with_staff_settings(engagement.EngagementParams(), store.desk_settings())
    for key in engagement.STAFF_SETTINGS:
        print(f"{key}: " + (", ".join(getattr(params, key)) or "(none)"))
    if changes:
        print(f"saved by {by}; applied on the next `python -m moderation run ... --out {args.results}`")
    return 0


def cmd_reasons(args: argparse.Namespace) -> int:
    import getpass

    from moderation.store import DEFAULT_DECISION_REASONS, Store

    store = Store(args.store or f"sqlite:///{Path(args.results) / 'moderation.db'}")
    by = args.by or getpass.getuser()
    if args.reason or args.default:
        store.set_desk_setting("decision_reasons", list(DEFAULT_DECISION_REASONS) if args.default else args.reason,
                               by)
    reasons = store.decision_reasons()
    print("decision reasons: " + (", ".join(reasons) or "(none: moderators type their own)"))
    if args.reason or args.default:
        print(f"saved by {by}; the dashboard offers them from now on")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    import socket

    from moderation import auth

    with socket.socket(socket.AF_INET6 if ":" in args.address else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is no clash
        try:
            probe.bind((args.address, args.port))
        except OSError as error:
            raise OSError(f"cannot listen on {args.address} port {args.port} ({error.strerror}); choose another "
                          f"with --port PORT (make demo PORT={args.port + 1}) or --address ADDRESS") from None
    if args.check:
        return 0
    dashboards = Path(__file__).resolve().parent.parent / "dashboards"
    app = dashboards / "streamlit_app.py"
    env = dict(os.environ, MODERATION_RESULTS=str(Path(args.results).resolve()),
               MODERATION_IDLE_MINUTES=str(args.idle_minutes), MODERATION_CLAIM_MINUTES=str(args.claim_minutes))
    if args.store:
        env["MODERATION_STORE"] = args.store
    # streamlit run, with the results read while the server starts (dashboards/serve.py)
    command = [sys.executable, str(dashboards / "serve.py"), "run", str(app), "--server.address", args.address,
               "--server.port", str(args.port), "--browser.gatherUsageStats", "false", "--server.headless", "true"]
    mode = ("single-user mode while the store has no users" if auth.is_local(args.address)
            else "sign-in required")
    print(f"dashboard on http://{args.address}:{args.port} (results: {args.results}; {mode}); Ctrl+C stops it",
          flush=True)
    # become the server, so stopping this command (Ctrl+C, a signal) stops the server with it
    os.execve(sys.executable, command, env)


def _read_password(name: str) -> str:
    """The new password: asked twice on a terminal, else the first line of standard input."""
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != password:
        raise ValueError("the two passwords differ; nothing changed")
    return password


def cmd_users(args: argparse.Namespace) -> int:
    from moderation.store import Store

    store = Store(args.store)
    if args.users_command == "list":
        users = store.users()
        print(users.to_string(index=False) if len(users) else
              f"no users in {args.store}: single-user store (decisions by any name on 127.0.0.1)")
        return 0
    if args.users_command == "add":
        store.add_user(args.name, args.role, _read_password(args.name))
        print(f"added {args.name} ({args.role}) to {args.store}")
    elif args.users_command == "passwd":
        store.set_password(args.name, _read_password(args.name))
        print(f"new password for {args.name}; their sessions ended")
    elif args.users_command == "role":
        store.set_role(args.name, args.role)
        print(f"{args.name} is now {args.role}")
    else:
        store.remove_user(args.name)
        print(f"removed {args.name}; their decisions stay in the log")
    return 0


def cmd_store(args: argparse.Namespace) -> int:
    from moderation.store import upgrade

    before, after = upgrade(args.store, args.corpus)
    if before == after:
        print(f"{args.store} is already at schema revision {after}")
    else:
        print(f"{args.store}: schema revision {before or '(new store)'} -> {after}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m moderation`` argument parser (tested for help text on every command)."""
    from moderation import auth

    parser = argparse.ArgumentParser(prog="python -m moderation", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show the traceback when a command fails")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    formatter = argparse.RawDescriptionHelpFormatter

    ingest = commands.add_parser(
        "ingest", help="load files into the store (idempotent)", formatter_class=formatter,
        description="Load comment files into the store; records already there are not added twice.",
        epilog="example:\n  python -m moderation ingest seeds/ --store sqlite:///data/moderation.db",
    )
    _add_ingest_arguments(ingest)
    _add_strict(ingest)
    ingest.add_argument("--store", default="sqlite:///data/moderation.db", help="SQLAlchemy URL of the store")
    _add_corpus(ingest)
    ingest.set_defaults(handler=cmd_ingest)

    run = commands.add_parser(
        "run", help="ingest, score every stage, write a results folder", formatter_class=formatter,
        description="Ingest every PATH, run every analysis stage over the store and write "
                    "comments.parquet, articles.parquet, authors.parquet (and more) into --out. When --out holds "
                    "results with fitted state made with the same parameters, only the articles with new "
                    "comments are scored, with that state; --refit fits and scores everything again.",
        epilog="examples:\n  python -m moderation run seeds/ data/stackexchange_bicycles_meta --out data/demo"
               "\n  python -m moderation run new_comments.csv --out data/demo   (scores the touched articles)"
               "\n  python -m moderation run new_comments.csv --out data/demo --refit",
    )
    _add_ingest_arguments(run)
    _add_strict(run)
    run.add_argument("--out", required=True, help="results folder")
    run.add_argument("--store", help="SQLAlchemy URL of the store (default: OUT/moderation.db)")
    _add_corpus(run)
    run.add_argument("--offtopic-weights", metavar="FILE",
                     help="off-topic combiner learned by train-offtopic (default: the shipped one)")
    run.add_argument("--refit", action="store_true",
                     help="fit the text features and vote outlier models on everything stored and score it all, "
                          "even when --out holds fitted state that could score only the new comments' articles")
    run.add_argument("--engine", choices=("pandas", "dask"), default="pandas",
                     help="where a full fit and scoring runs: in this process (pandas), or over partitions of whole "
                          "articles on Dask (a local cluster of 2 workers, or --scheduler)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="with --engine dask: a running dask.distributed scheduler (tcp://host:8786) whose workers "
                          "reach the store and see the results folder at the same path")
    run.set_defaults(handler=cmd_run)

    train = commands.add_parser(
        "train-offtopic", help="learn the off-topic score from your moderators' labels", formatter_class=formatter,
        description="Learn how the off-topic evidence (similarities to the article, parent and discussion, "
                    "novelty, length) is weighed from comments your moderators labelled, print how well it "
                    "does on articles it did not see (grouped cross-validation) next to the current "
                    "combiner and the naive baseline, and write the weights for `run --offtopic-weights`. "
                    "Speculation labels teach the conjecture score too (measured the same way).",
        epilog="examples:\n  python -m moderation train-offtopic labelled/ --labels label_offtopic "
               "--speculative-labels label_speculative --out data/offtopic_weights.json\n  python -m moderation train-offtopic --results data/demo "
               "--out data/offtopic_weights.json   (labels moderators gave in the dashboard)"
               "\n  python -m moderation run new/ --out data/demo --offtopic-weights data/offtopic_weights.json",
    )
    _add_ingest_arguments(train, paths="*")
    train.add_argument("--labels", metavar="COLUMN",
                       help="comments column of 0/1 labels (1 = off topic; empty = not labelled); without it, "
                            "the Off topic / On topic labels recorded in the store")
    train.add_argument("--speculative-labels", metavar="COLUMN",
                       help="comments column of 0/1 speculation labels (1 = conjecture); without it, the "
                            "Speculative / Not speculative labels recorded in the store (Teach page), if any; "
                            "the desk's conjecture score is learned into the same weights file")
    train.add_argument("--out", required=True, metavar="FILE", help="weights file (JSON) to write")
    train.add_argument("--results", help="results folder of a run: learn from its store (RESULTS/moderation.db)")
    train.add_argument("--store", help="SQLAlchemy URL of a store to ingest into and learn from "
                                       "(default: --results' store, else a throw-away one)")
    _add_corpus(train)
    train.add_argument("--offtopic-weights", metavar="FILE",
                       help="combiner to compare against (default: the shipped one)")
    train.set_defaults(handler=cmd_train_offtopic)

    problems = commands.add_parser(
        "problems", help="list the runs recorded in a store and the problems each met", formatter_class=formatter,
        description="Every run (and ingest, and dashboard import) records the problems it met in the store; "
                    "problems.csv shows only the ones behind the current results. List the runs, newest "
                    "first, or one run's problems, or write them to CSV.",
        epilog="examples:\n  python -m moderation problems --results data/demo\n"
               "  python -m moderation problems --results data/demo --all --out problems_history.csv",
    )
    problems.add_argument("--results", default=DEFAULT_RESULTS, help="results folder of a run")
    problems.add_argument("--store", help="SQLAlchemy URL of the store (default: RESULTS/moderation.db)")
    problems.add_argument("--run", metavar="RUN_ID", help="only this run, with its problems")
    problems.add_argument("--all", action="store_true", help="every run, each with its problems")
    problems.add_argument("--out", metavar="FILE.csv",
                          help="write the problems (latest run's, --run's or --all) to CSV")
    problems.set_defaults(handler=cmd_problems)

    export = commands.add_parser(
        "export", help="write a queue or the decision log to CSV", formatter_class=formatter,
        description="Write a moderation queue (or the decision log) to CSV; cells that a spreadsheet "
                    "would run as formulas are neutralised.",
        epilog="example:\n  python -m moderation export --queue controversial --results data/demo --out queue.csv",
    )
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument("--queue", help="heavily_up, heavily_down, controversial, anomalous or offtopic")
    what.add_argument("--decisions", action="store_true", help="the decision log (audit trail)")
    export.add_argument("--out", required=True, help="CSV file to write")
    export.add_argument("--results", default=DEFAULT_RESULTS, help="results folder of a run")
    export.add_argument("--store", help="SQLAlchemy URL of the store (default: RESULTS/moderation.db)")
    export.add_argument("--article", help="only this article id")
    export.add_argument("--author", help="only authors whose name contains this (any case), as the dashboard's filter")
    export.add_argument("--since", metavar="YYYY-MM-DD", help="only comments created on or after this day (UTC)")
    export.add_argument("--until", metavar="YYYY-MM-DD",
                        help="only comments created on or before this day (UTC; the whole day counts)")
    export.add_argument("--min-votes", type=int, default=0, help="only comments with at least this many votes")
    export.add_argument("--all", action="store_true",
                        help="rank every comment by the queue's measure, members or not (column in_queue)")
    export.add_argument("--without-text", choices=["leave-out", "include", "only"], default="leave-out",
                        help="comments without readable text (image-only answers): left out and counted "
                             "(default), included, or only them")
    export.set_defaults(handler=cmd_export)

    staff = commands.add_parser(
        "staff", help="show or set who is staff (applied on the next run)", formatter_class=formatter,
        description="Show or set who the desk's staff are: handles, regular expressions matching handles, and "
                    "columns of a source that mark staff comments. Each option given replaces that list; the "
                    "settings live in the store and the next run applies them (staff responsiveness, is_staff).",
        epilog='example:\n  python -m moderation staff --results data/demo --name "Jeff Atwood" '
               '--name "Robert Cartaino" --pattern "\\(staff\\)$"',
    )
    staff.add_argument("--results", default=DEFAULT_RESULTS, help="results folder whose store holds the settings")
    staff.add_argument("--store", help="SQLAlchemy URL of the store (default: RESULTS/moderation.db)")
    staff.add_argument("--name", action="append", metavar="HANDLE", help="a staff handle, any case (repeatable)")
    staff.add_argument("--pattern", action="append", metavar="REGEX",
                       help="a regular expression searched in handles, any case (repeatable)")
    staff.add_argument("--column", action="append", metavar="COLUMN",
                       help="a source column marking staff comments true/false (repeatable; default is_staff, "
                            "isModerator)")
    staff.add_argument("--clear", action="append", choices=["names", "patterns", "columns"],
                       help="empty that list (repeatable)")
    staff.add_argument("--by", help="who makes the change (default: the local user name)")
    staff.set_defaults(handler=cmd_staff)

    reasons = commands.add_parser(
        "reasons", help="show or set the reasons offered when deciding", formatter_class=formatter,
        description="Show or set the desk's decision reasons: the list a moderator picks from on Review and in "
                    "the queues' Decide panels (typing another reason is always possible). --reason given "
                    "replaces the list; the setting lives in the store and needs an admin once the store has "
                    "users; --default brings back the usual list (off topic, speculation/rumour, ...).",
        epilog='example:\n  python -m moderation reasons --results data/demo --reason "off topic" '
               '--reason "personal attack" --reason spam',
    )
    reasons.add_argument("--results", default=DEFAULT_RESULTS, help="results folder whose store holds the setting")
    reasons.add_argument("--store", help="SQLAlchemy URL of the store (default: RESULTS/moderation.db)")
    group = reasons.add_mutually_exclusive_group()
    group.add_argument("--reason", action="append", metavar="REASON", help="a reason, in the order offered "
                       "(repeatable; the ones given replace the list)")
    group.add_argument("--default", action="store_true", help="back to the usual list")
    reasons.add_argument("--by", help="who makes the change (default: the local user name)")
    reasons.set_defaults(handler=cmd_reasons)

    dashboard = commands.add_parser(
        "dashboard", help="open the moderation dashboard", formatter_class=formatter,
        description="Start the Streamlit dashboard on a results folder.",
        epilog="example:\n  python -m moderation dashboard --results data/demo",
    )
    dashboard.add_argument("--results", default=DEFAULT_RESULTS, help="results folder of a run")
    dashboard.add_argument("--store", help="SQLAlchemy URL of the store (default: RESULTS/moderation.db)")
    _add_corpus(dashboard)
    dashboard.add_argument("--address", default="127.0.0.1",
                           help="address to listen on (default 127.0.0.1: this machine only; any other address "
                                "requires sign-in)")
    dashboard.add_argument("--port", type=int, default=8501, help="port to listen on (default 8501)")
    dashboard.add_argument("--idle-minutes", type=float, default=auth.DEFAULT_IDLE.total_seconds() / 60,
                           help="a signed-in session ends after this many idle minutes (default %(default)s)")
    dashboard.add_argument("--claim-minutes", type=float, default=auth.DEFAULT_CLAIM.total_seconds() / 60,
                           help="opening a comment on /review claims it for this many minutes (default %(default)s)")
    dashboard.add_argument("--check", action="store_true",
                           help="only check that the address and port are free, then exit (make demo does)")
    dashboard.set_defaults(handler=cmd_dashboard)

    users = commands.add_parser(
        "users", help="add, change, remove and list the users of a store", formatter_class=formatter,
        description="Users and roles: a viewer reads everything and decides nothing; a moderator decides, "
                    "labels and claims; an admin also undoes anyone's decisions and manages users. Passwords "
                    "are read from a prompt (or the first line of standard input when it is not a terminal) "
                    "and kept only as argon2 hashes. A store without users is a single-user store.",
        epilog="examples:\n  python -m moderation users add alice --role moderator "
               "--store sqlite:///data/demo/moderation.db"
               "\n  printf 'a long password\\n' | python -m moderation users add viv --role viewer --store URL"
               "\n  python -m moderation users list --store URL",
    )
    users_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    for name, text in (("add", "add a user with a role and a password"), ("passwd", "set a user's password"),
                       ("role", "change a user's role"), ("remove", "remove a user (their decisions stay)"),
                       ("list", "list users and roles")):
        action = users_commands.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        if name != "list":
            action.add_argument("name", metavar="NAME", help="user name")
        if name in ("add", "role"):
            action.add_argument("--role", required=True, choices=auth.ROLES, help="viewer, moderator or admin")
        action.add_argument("--store", default=DEFAULT_STORE,
                            help=f"SQLAlchemy URL of the store (default {DEFAULT_STORE})")
    users.set_defaults(handler=cmd_users)

    store = commands.add_parser(
        "store", help="upgrade a store's schema to this version", formatter_class=formatter,
        description="Bring a store made by an earlier version to this version's schema (Alembic revisions); "
                    "every comment, decision and label is kept. A store made by a newer version is refused.",
        epilog="example:\n  python -m moderation store upgrade --store sqlite:///data/demo/moderation.db",
    )
    store_commands = store.add_subparsers(dest="store_command", required=True, metavar="ACTION")
    upgrade = store_commands.add_parser("upgrade", help="upgrade the schema, keeping every row",
                                        description="Upgrade the store's schema, keeping every row.")
    upgrade.add_argument("--store", required=True, help="SQLAlchemy URL of the store")
    _add_corpus(upgrade)
    store.set_defaults(handler=cmd_store)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m moderation`` and the ``moderation`` console script."""
    # before pyarrow loads: its own pool (mimalloc) keeps the buffers it frees, which pandas and NumPy (malloc)
    # cannot reuse; with malloc for both, a 200,000-comment run peaks about 90 MB lower at the same speed
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
    args = build_parser().parse_args(argv)
    if getattr(args, "corpus", None):  # every PostgreSQL store this command (and a dashboard it starts) opens
        from moderation.formats import CORPUS_ENV

        os.environ[CORPUS_ENV] = str(Path(args.corpus).resolve())
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # noqa: BLE001 - the contract is one readable line, not a traceback
        if args.debug:
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        return 1
