"""The command line as a user runs it: output formats, exit codes, settings errors."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.helpers import markdown, write_article

SECTIONS = {
    "world",
    "opinion",
    "international-relations",
    "indigenous-affairs",
    "business",
    "culture",
}


def test_gather_json_counts_then_nothing_new(project: Path):
    first = run_cli("gather", "--json", cwd=project)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert set(data) == {"sections", "errors", "not_modified"}
    assert set(data["sections"]) == SECTIONS
    total = sum(c["new"] for c in data["sections"].values())
    assert total == len(list((project / "content").rglob("*.md")))
    assert data["errors"] == []
    second = json.loads(run_cli("gather", "--json", cwd=project).stdout)
    assert all(c["new"] == c["updated"] == c["rejected"] == 0 for c in second["sections"].values())
    assert sum(c["unchanged"] for c in second["sections"].values()) == total
    assert (project / "var" / "publisher.db").exists()


def test_gather_one_section_and_list_articles(project: Path):
    out = run_cli("gather", "--section", "culture", "--json", cwd=project)
    assert set(json.loads(out.stdout)["sections"]) == {"culture"}
    listed = json.loads(run_cli("articles", "list", "--json", cwd=project).stdout)
    assert listed["count"] == len(listed["articles"]) > 0
    assert {a["section"] for a in listed["articles"]} == {"culture"}
    dates = [a["published"] for a in listed["articles"]]
    assert dates == sorted(dates, reverse=True)


def test_human_output_names_rejected_files(project: Path):
    (project / "content" / "opinion" / "broken.md").write_text("---\ndate: 2026-11-01\n---\nx\n")
    out = run_cli("gather", cwd=project)
    assert out.returncode == 0
    assert "broken.md: title: required field is missing" in out.stdout
    assert "Traceback" not in out.stderr


def test_postgres_by_environment(project: Path, postgres_url: str):
    out = run_cli("gather", "--json", cwd=project, env={"PUBLISHER_DATABASE_URL": postgres_url})
    assert out.returncode == 0, out.stderr
    assert sum(c["new"] for c in json.loads(out.stdout)["sections"].values()) > 0
    again = run_cli("gather", "--json", cwd=project, env={"PUBLISHER_DATABASE_URL": postgres_url})
    assert sum(c["new"] + c["updated"] for c in json.loads(again.stdout)["sections"].values()) == 0
    assert not (project / "var" / "publisher.db").exists()


@pytest.mark.parametrize(
    ("find", "replace", "message"),
    [
        ('timezone = "UTC"', 'timezone = "Nowhere/City"', "site.timezone: unknown time zone"),
        ('type = "markdown"', 'type = "gopher"', "sections[0].sources[0]: type must be one of"),
        ("port = 8080", 'port = "eighty"', "web.port: Input should be a valid integer"),
        (
            "max_article_bytes = 1_000_000",
            "max_article_bytz = 5",
            "gather.max_article_bytz: unknown key",
        ),
        (
            'slug = "opinion"',
            'slug = "Opinion Pieces"',
            "sections[1].slug: String should match pattern",
        ),
        ("[site]", "[site\n", "not valid TOML"),
    ],
)
def test_bad_settings_give_one_line_and_exit_2(
    project: Path, find: str, replace: str, message: str
):
    path = project / "settings.toml"
    path.write_text(path.read_text().replace(find, replace, 1))
    out = run_cli("gather", cwd=project)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert message in lines[0]


def test_unknown_section_and_missing_config_exit_2(project: Path):
    out = run_cli("gather", "--section", "sports", cwd=project)
    assert out.returncode == 2 and "unknown section 'sports'" in out.stderr
    out = run_cli("--config", "nope.toml", "gather", cwd=project)
    assert out.returncode == 2 and "settings file not found" in out.stderr


def test_unreachable_database_exits_1(project: Path):
    out = run_cli(
        "gather",
        cwd=project,
        env={"PUBLISHER_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/x"},
    )
    assert out.returncode == 1
    assert out.stderr.startswith("failed: cannot open the database")
    assert "Traceback" not in out.stderr


def test_gather_writes_feeds_and_feeds_command_then_writes_nothing(project: Path):
    run_cli("gather", cwd=project)
    feeds = sorted(p.name for p in (project / "feeds").glob("*.*.xml"))
    assert len(feeds) == 2 * (len(SECTIONS) + 1)
    out = run_cli("feeds", "--json", cwd=project)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["written"] == [] and report["files"] == 3 * (len(SECTIONS) + 1)
    assert run_cli("gather", cwd=project).stdout.count("feeds:") == 0  # nothing changed
    forced = json.loads(run_cli("feeds", "--force", "--json", cwd=project).stdout)
    assert forced["written"] == []  # rebuilt, but the bytes are the same


def test_digest_preview_and_dry_run(project: Path):
    env = {"PUBLISHER_SECRET_KEY": "cli-test-secret-0123456789"}
    run_cli("gather", "--no-feeds", cwd=project)
    run_cli(
        "subscribers",
        "add",
        "ana@example.com",
        "--name",
        "Ana",
        "--sections",
        "world,culture",
        "--confirmed",
        cwd=project,
    )
    run_cli(
        "subscribers",
        "add",
        "jun@example.com",
        "--sections",
        "business",
        "--confirmed",
        cwd=project,
    )
    run_cli("subscribers", "add", "pending@example.com", cwd=project)
    # The sample articles are older than the lookback: the first gather made them archive.
    nothing = run_cli("digest", "preview", "--subscriber", "ana@example.com", cwd=project, env=env)
    assert nothing.returncode == 2 and "nothing new for ana@example.com" in nothing.stderr
    assert "--latest" in nothing.stderr and "Traceback" not in nothing.stderr
    latest = run_cli("digest", "preview", "--sections", "world", "--latest", "3", cwd=project)
    assert latest.returncode == 0, latest.stderr
    assert latest.stdout.count('class="article"') == 3 and "Related" in latest.stdout
    fresh = datetime.now(UTC).isoformat(timespec="seconds")
    for section in ("world", "business"):
        write_article(
            project / "content" / section, "fresh.md", markdown(f"Fresh {section}", fresh)
        )
    run_cli("gather", "--no-feeds", cwd=project)
    html = run_cli("digest", "preview", "--subscriber", "ana@example.com", cwd=project, env=env)
    assert html.returncode == 0, html.stderr
    assert "Fresh world" in html.stdout and html.stdout.count('class="article"') == 1
    assert (
        "<!DOCTYPE html>" in html.stdout
        and "Hello Ana," in html.stdout
        and "pubslot" not in html.stdout
    )
    text = run_cli(
        "digest",
        "preview",
        "--sections",
        "opinion",
        "--latest",
        "2",
        "--format",
        "text",
        cwd=project,
        env=env,
    )
    assert "== OPINION ==" in text.stdout and "== WORLD ==" not in text.stdout
    assert "this daily digest" in text.stdout
    weekly = run_cli(
        *("digest", "preview", "--sections", "opinion", "--latest", "2", "--format", "text"),
        *("--edition", "weekly"),
        cwd=project,
        env=env,
    )
    assert "this weekly digest" in weekly.stdout, weekly.stderr
    out = run_cli(
        "digest",
        "preview",
        "--subscriber",
        "ana@example.com",
        "--format",
        "eml",
        "-o",
        "ana.eml",
        cwd=project,
        env=env,
    )
    assert out.returncode == 0 and (project / "ana.eml").read_bytes().startswith(
        b"To: Ana <ana@example.com>"
    )
    dry = run_cli("send", "--dry-run", "--json", cwd=project, env=env)
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["messages"] == 2 and report["variants"] == 2 and report["subscribers"] == 2
    assert (
        report["skipped"] == 0
        and report["bytes"] > 5_000
        and report["edition"].startswith("daily:")
    )
    again = json.loads(run_cli("send", "--dry-run", "--json", cwd=project, env=env).stdout)
    assert again["messages"] == 2  # a dry run marks nothing as sent
    asked = run_cli("send", cwd=project, env=env)  # no terminal to confirm on
    assert asked.returncode == 2 and "--yes" in asked.stderr
    sent = run_cli("send", "--yes", "--json", cwd=project, env=env)
    assert sent.returncode == 0, sent.stderr
    first = json.loads(sent.stdout)
    assert first["status"] == "done" and first["deliveries"]["sent"] == 2
    assert first["this_run"] == {"sent": 2}
    outbox = sorted((project / "var" / "outbox").glob("daily.*.eml"))
    assert len(outbox) == 2 and b"To: Ana <ana@example.com>" in b"".join(
        path.read_bytes() for path in outbox
    )
    resent = json.loads(run_cli("send", "--yes", "--json", cwd=project, env=env).stdout)
    assert resent["this_run"] == {} and resent["deliveries"]["sent"] == 2  # never twice
    # Without PUBLISHER_SECRET_KEY, every command uses (and the first creates) var/secret.key.
    no_secret = run_cli("send", "--dry-run", cwd=project, env={"PUBLISHER_SECRET_KEY": ""})
    assert no_secret.returncode == 0, no_secret.stderr
    assert "(dry run, nothing sent): 0 messages in 0 variants" in no_secret.stdout
    key_file = project / "var" / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600 and len(key_file.read_text().strip()) >= 32


def test_help_imports_nothing_heavy():
    """`publisher --help` answers at once: no command's heavy imports happen before it runs."""
    heavy = {"sqlalchemy", "alembic", "premailer", "httpx", "pydantic", "rich", "sklearn", "numpy"}
    code = (
        "import sys, publisher.cli; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {heavy!r}))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert found.stdout.strip() == "[]"
