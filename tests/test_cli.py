"""The command line: the `run` contract other tools rely on, errors, help and README coverage."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from moderation import reports, schema
from moderation.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "xinjiang_sanctions_article_page.txt"


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "moderation", *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=300,
    )


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return out, run_cli("run", SEED, "--out", out)


def test_run_writes_the_three_tables_with_every_canonical_column(seed_run):
    """`run PATH --out DIR` exits 0, prints one line, and writes comments/articles/authors.parquet."""
    out, result = seed_run
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1 and "6 comments" in result.stdout
    comments = pd.read_parquet(out / "comments.parquet")
    assert set(schema.columns("comments")) <= set(comments.columns)
    assert comments["author"].tolist()[0] == "Undisclosed Manufacturer #1"
    assert comments["position"].is_monotonic_increasing
    articles = pd.read_parquet(out / "articles.parquet")
    assert set(schema.columns("articles")) <= set(articles.columns)
    authors = pd.read_parquet(out / "authors.parquet")
    assert {"comments", "replies_made"} <= set(authors.columns)


def test_run_adds_every_stage_score(seed_run):
    """Vote, off-topic and speculation scores are columns of comments.parquet."""
    out, _ = seed_run
    comments = pd.read_parquet(out / "comments.parquet")
    for column in ("wilson_lower", "controversy", "vote_flag", "vote_reason", "offtopic_score",
                   "speculation_score", "offtopic_speculation_score", "offtopic_reason", "topic_id"):
        assert column in comments, column


def test_rerun_is_idempotent(seed_run):
    """Running again on the same input and folder gives the same six comments."""
    out, _ = seed_run
    again = run_cli("run", SEED, "--out", out)
    assert again.returncode == 0, again.stderr
    assert len(pd.read_parquet(out / "comments.parquet")) == 6


def test_failure_is_one_line_without_traceback(tmp_path):
    """A missing path exits non-zero with a single `error:` line on stderr."""
    result = run_cli("run", tmp_path / "nope.txt", "--out", tmp_path / "out")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error:") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_unknown_format_names_the_formats_tried(tmp_path, capsys):
    """A file no format recognises is refused with the list of formats tried."""
    path = tmp_path / "data.bin"
    path.write_bytes(b"\x00\x01 nothing here")
    assert main(["ingest", str(path), "--store", f"sqlite:///{tmp_path / 's.db'}"]) == 1
    error = capsys.readouterr().err
    assert "not a recognised format" in error and "stackexchange" in error and "page" in error


def test_format_names_are_the_ingest_modules():
    """``--format``'s choices (listed without importing the parsers) are the format modules' names, in order."""
    from moderation import ingest
    from moderation.formats import INGEST_FORMATS

    assert [module.NAME for module in ingest._formats().values()] == list(INGEST_FORMATS)
    assert build_parser().parse_args(["run", "x", "--out", "o", "--format", "page"]).format == "page"


def test_the_dashboard_command_imports_no_data_libraries(tmp_path):
    """``dashboard`` becomes the server process: seconds of pandas, scikit-learn and parser imports in the
    command before it would be waited for at every start and used by nothing."""
    probe = ("import sys; from moderation.cli import main; "
             f"main(['dashboard', '--results', {str(tmp_path)!r}, '--port', '8599', '--check']); "
             "print(sorted({'pandas', 'sklearn', 'moderation.ingest', 'moderation.store'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_run_records_the_offtopic_combiner(seed_run):
    """The results folder says which combiner scored it; by default the shipped one."""
    out, _ = seed_run
    assert reports.offtopic_combiner_note(out).startswith("Off-topic scores come from the shipped combiner, trained on")
    assert reports.offtopic_combiner_note(out.parent) is None  # a folder without it


def test_export_queue_writes_csv(seed_run, tmp_path):
    """`export --queue` writes the queue of a results folder to CSV."""
    out, _ = seed_run
    target = tmp_path / "queue.csv"
    result = run_cli("export", "--queue", "offtopic", "--results", out, "--out", target)
    assert result.returncode == 0, result.stderr
    assert target.exists() and "rows" in result.stdout


def test_export_all_ranks_the_seed_discussion(seed_run, tmp_path):
    """`export --queue offtopic --all` ranks all six seed comments: the two speculative drifts first."""
    out, _ = seed_run
    target = tmp_path / "ranked.csv"
    result = run_cli("export", "--queue", "offtopic", "--all", "--results", out, "--out", target)
    assert result.returncode == 0, result.stderr
    ranked = pd.read_csv(target)
    assert len(ranked) == 6 and "in_queue" in ranked
    assert set(ranked["author"].head(2)) == {"Undisclosed Manufacturer #1", "Undisclosed Manufacturer #2"}


def test_every_command_has_help_with_an_example_and_is_in_the_readme():
    """Each subcommand's help ends with an example, and the README documents it."""
    readme = (ROOT / "README.md").read_text()
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in subparsers.choices.items():
        assert parser.epilog and "python -m moderation " + name in parser.epilog, name
        assert f"python -m moderation {name}" in readme, name


def test_train_offtopic_learns_from_a_label_column_and_run_uses_the_weights(tmp_path):
    """`train-offtopic --labels COL` prints its cross-validated figures and writes weights `run` then applies."""
    from test_topics import labelled_discussions

    articles, comments, labels = labelled_discussions()
    folder = tmp_path / "labelled"
    folder.mkdir()
    articles[["article_id", "title", "text"]].to_csv(folder / "articles.csv", index=False)
    labelled = comments[["comment_id", "article_id", "text"]].assign(label_offtopic=labels.astype("Int64"))
    labelled.loc[1, "label_offtopic"] = pd.NA
    labelled = labelled.astype({"label_offtopic": "str"}).replace({"<NA>": ""})
    labelled.loc[1, "label_offtopic"] = "perhaps"  # reported, not learned from
    # the drifted comments of half the articles also conjecture ("Perhaps ..."): speculation labels
    conjecturing = labelled["comment_id"].str.endswith("c6")
    labelled.loc[conjecturing, "text"] = "Perhaps they hide something. " + labelled.loc[conjecturing, "text"]
    labelled["label_speculative"] = conjecturing.astype(int)
    labelled.to_csv(folder / "comments.csv", index=False)
    weights = tmp_path / "weights.json"

    result = run_cli("train-offtopic", folder, "--labels", "label_offtopic", "--speculative-labels",
                     "label_speculative", "--out", weights)
    assert result.returncode == 0, result.stderr
    assert "labelled/a0c1: label 'perhaps' is not 0/1" in result.stdout
    learned = next(line for line in result.stdout.splitlines() if line.strip().startswith("learned"))
    assert float(learned.split()[-3]) > 0.9  # ROC AUC on articles the combiner did not see (then ap, f1)
    assert "speculation: learned (grouped 5-fold CV)" in result.stdout
    written = json.loads(weights.read_text())
    assert written["positives"] == 16 and written["conjecture"]["features"]

    out = tmp_path / "run"
    result = run_cli("run", folder, "--out", out, "--offtopic-weights", weights)
    assert result.returncode == 0, result.stderr
    scored = pd.read_parquet(out / "comments.parquet")
    assert json.loads((out / "offtopic_combiner.json").read_text())["file"] == str(weights)
    assert f"learned with train-offtopic ({weights})" in reports.offtopic_combiner_note(out)
    drifted = scored["comment_id"].str.endswith(("c6", "c7"))
    assert scored["offtopic_score"][drifted].min() > scored["offtopic_score"][~drifted].max()


def test_bad_weights_file_fails_before_ingest(tmp_path):
    """`run --offtopic-weights` with a file that is no combiner is one error line; nothing is written."""
    bad = tmp_path / "weights.json"
    bad.write_text('{"coef": [1]}')
    result = run_cli("run", SEED, "--out", tmp_path / "run", "--offtopic-weights", bad)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error:") and "not a combiner weights file" in result.stderr
    assert not (tmp_path / "run").exists()


def test_train_offtopic_learns_from_labels_moderators_recorded(tmp_path):
    """After a run, labels recorded in its store (the dashboard's buttons) are what `--results` learns from."""
    from test_topics import labelled_discussions

    from moderation.store import Store

    articles, comments, labels = labelled_discussions()
    folder = tmp_path / "site"
    folder.mkdir()
    articles[["article_id", "title", "text"]].to_csv(folder / "articles.csv", index=False)
    comments[["comment_id", "article_id", "text"]].to_csv(folder / "comments.csv", index=False)
    out = tmp_path / "run"
    assert run_cli("run", folder, "--out", out).returncode == 0
    store = Store(f"sqlite:///{out / 'moderation.db'}")
    for value in (True, False):
        picked = comments.loc[labels == value, "comment_id"]
        store.record_label([("site", c) for c in picked], "offtopic", value, "ann")
    store.engine.dispose()

    weights = tmp_path / "weights.json"
    result = run_cli("train-offtopic", "--results", out, "--out", weights)
    assert result.returncode == 0, result.stderr
    learned = json.loads(weights.read_text())
    assert learned["positives"] == 16 and learned["rows"] == labels.notna().sum()
    assert learned["trained_on"].startswith("off-topic labels moderators recorded in sqlite:///")


def test_train_offtopic_says_where_labels_can_come_from(tmp_path):
    """Without --labels or a store there is nothing to learn from: one error line naming both options."""
    result = run_cli("train-offtopic", SEED, "--out", tmp_path / "w.json")
    assert result.returncode == 1
    assert "--labels COLUMN" in result.stderr and "--results DIR" in result.stderr


def test_users_commands_read_the_password_from_standard_input(tmp_path):
    """`users add/role/passwd/remove/list`: the password comes from standard input and never shows."""
    store = f"sqlite:///{tmp_path / 'team.db'}"

    def users(*args, password=None):
        return subprocess.run([sys.executable, "-m", "moderation", "users", *args, "--store", store],
                              input=password, capture_output=True, text=True, cwd=ROOT, timeout=120)

    added = users("add", "alice", "--role", "moderator", password="a long password\n")
    assert added.returncode == 0, added.stderr
    assert users("role", "alice", "--role", "admin").returncode == 0
    assert users("passwd", "alice", password="another long one\n").returncode == 0
    listed = users("list")
    assert "alice" in listed.stdout and "admin" in listed.stdout and "long" not in listed.stdout
    short = users("add", "bob", "--role", "viewer", password="short\n")
    assert short.returncode == 1 and short.stderr.startswith("error: a password needs at least")
    assert users("remove", "alice").returncode == 0
    assert "no users" in users("list").stdout
    from moderation import auth
    from moderation.store import Store

    assert Store(store).events()["event"].tolist() == [
        "user_removed", "password_changed", "role_changed", "user_added"]
    assert auth.SINGLE_USER_ROLE == Store(store).role("anyone")


def test_dashboard_on_a_busy_port_is_one_line_naming_the_option(tmp_path):
    """A port someone listens on already: `dashboard` exits 1 with one line that names --port."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("dashboard", "--results", tmp_path, "--port", port, "--check")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "--port" in result.stderr and f"port {port}" in result.stderr
    free = run_cli("dashboard", "--results", tmp_path, "--port", port, "--check")
    assert free.returncode == 0, free.stderr


def test_run_summary_counts_what_the_overview_shows(seed_run):
    """`run` prints the comments, articles and authors that reports.kpis (the Overview) counts."""
    out, result = seed_run
    counts = reports.kpis(pd.read_parquet(out / "comments.parquet"))
    assert result.stdout.startswith(
        f"{counts['comments']} comments on {counts['articles']} articles by {counts['authors']} authors")


def test_export_dates_are_inclusive_days_and_author_a_substring(seed_run, tmp_path):
    """`export --until DAY` keeps all of that day (as the dashboard's To); `--author` matches part of a name."""
    out, _ = seed_run
    target = tmp_path / "q.csv"
    comments = pd.read_parquet(out / "comments.parquet")
    last_day = comments["created_at"].max().date().isoformat()
    result = run_cli("export", "--queue", "offtopic", "--all", "--results", out, "--out", target,
                     "--until", last_day, "--author", "undisclosed")
    assert result.returncode == 0, result.stderr
    ranked = pd.read_csv(target)
    assert set(ranked["author"]) == {"Undisclosed Manufacturer #1", "Undisclosed Manufacturer #2"}
    filtered = reports.filter_comments(comments, reports.Filters(until=comments["created_at"].max().date(),
                                                                 author="undisclosed"))
    assert len(ranked) == len(filtered)
    bad = run_cli("export", "--queue", "offtopic", "--results", out, "--out", target, "--since", "yesterday")
    assert bad.returncode == 1 and "not a date" in bad.stderr


def test_staff_command_saves_and_shows_the_desks_settings(tmp_path):
    """`staff --name/--pattern` saves to the store; without options it shows them; a bad pattern saves nothing."""
    result = run_cli("staff", "--results", tmp_path, "--name", "Charles Rollet", "--pattern", "[(]staff[)]$",
                     "--by", "ann")
    assert result.returncode == 0, result.stderr
    assert "staff_names: Charles Rollet" in result.stdout and "applied on the next" in result.stdout
    bad = run_cli("staff", "--results", tmp_path, "--name", "Someone Else", "--pattern", "(")
    assert bad.returncode == 1 and "not a regular expression" in bad.stderr
    shown = run_cli("staff", "--results", tmp_path)
    assert "staff_names: Charles Rollet" in shown.stdout and "staff_patterns: [(]staff[)]$" in shown.stdout
    assert "staff_columns: is_staff, isModerator" in shown.stdout


def test_reasons_command_sets_shows_and_restores_the_desks_reasons(tmp_path):
    """`reasons --reason` replaces the list the dashboard offers, `--default` brings the usual one back."""
    shown = run_cli("reasons", "--results", tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == "decision reasons: off topic, speculation/rumour, abuse, spam, other"
    saved = run_cli("reasons", "--results", tmp_path, "--reason", "personal attack", "--reason", "spam", "--by", "ann")
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.splitlines()[0] == "decision reasons: personal attack, spam"
    assert "saved by ann" in saved.stdout
    bad = run_cli("reasons", "--results", tmp_path, "--reason", "x" * 200)
    assert bad.returncode == 1 and bad.stderr.startswith("error: reason ")
    assert run_cli("reasons", "--results", tmp_path).stdout.startswith("decision reasons: personal attack, spam\n")
    back = run_cli("reasons", "--results", tmp_path, "--default")
    assert back.stdout.startswith("decision reasons: off topic, speculation/rumour, abuse, spam, other\n")


def test_export_says_how_many_image_only_answers_it_left_out(tmp_path):
    """`export` leaves out comments without readable text and says how many; `--without-text` keeps or lists them."""
    from tests.dashboard_fixtures import write_results

    folder = write_results(tmp_path / "results", n_comments=60, n_articles=3, image_only=2)
    target = tmp_path / "queue.csv"
    result = run_cli("export", "--queue", "heavily_up", "--results", folder, "--out", target)
    assert result.returncode == 0, result.stderr
    assert "2 comments without readable text (image-only answers) left out" in result.stdout
    assert not pd.read_csv(target)["comment_id"].isin(["c58", "c59"]).any()
    result = run_cli("export", "--queue", "heavily_up", "--results", folder, "--out", target, "--without-text", "only")
    assert result.returncode == 0, result.stderr
    assert sorted(pd.read_csv(target)["comment_id"]) == ["c58", "c59"] and "left out" not in result.stdout
    run_cli("export", "--queue", "heavily_up", "--results", folder, "--out", target, "--without-text", "include")
    assert pd.read_csv(target)["comment_id"].isin(["c58", "c59"]).sum() == 2
