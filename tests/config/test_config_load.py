"""Loading sitesnap.toml: the full example, every error kind with file:line:key, warnings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from config_examples import FULL

from sitesnap.config import (
    DingTalkChannel,
    EmailChannel,
    FilesSource,
    PostgresSource,
    SiteConfig,
    SqliteSource,
    find_config,
    load_config,
    loads_config,
)
from sitesnap.errors import ConfigError
from sitesnap.secrets import SecretRef


def test_full_example(load_text: Callable[[str], SiteConfig], tmp_path: Path) -> None:
    cfg = load_text(FULL)
    assert cfg.warnings == []
    assert cfg.path == tmp_path / "sitesnap.toml"
    assert cfg.site.name == "blog"
    assert cfg.site.rpo == timedelta(hours=12)
    assert cfg.site.console_url == "https://backups.example.com"

    db, uploads, main, shop = cfg.sources
    assert isinstance(db, SqliteSource) and db.path == tmp_path / "instance/blog.db"
    assert isinstance(uploads, FilesSource)
    assert uploads.exclude == ["*.tmp", "cache/"] and uploads.one_file_system
    assert isinstance(main, PostgresSource)
    assert main.url == "postgresql://postgres@127.0.0.1:5432/blog"  # driver dropped
    assert main.password == SecretRef(env="PGPASSWORD")
    assert shop.type == "mysql" and shop.password == SecretRef(file=str(tmp_path / "secrets/mysql"))
    assert cfg.source("shop") is shop

    local, oss, offsite = cfg.repositories
    assert cfg.primary is local
    assert local.kind == "local" and local.local_path == tmp_path / "backups"
    assert local.quota == 500 * 10**9 and local.copy_after_backup
    assert oss.kind == "s3" and oss.append_only and not oss.copy_after_backup
    assert oss.limit_upload == 10 * 2**20 and oss.limit_download == int(1.5 * 2**20)
    assert oss.s3 is not None and oss.s3.preset == "aliyun-oss"
    assert oss.s3.object_lock is not None and oss.s3.object_lock.days == 30
    assert offsite.kind == "sftp" and offsite.sftp is not None
    assert offsite.sftp.key_file == Path.home() / ".ssh/id_ed25519"
    assert offsite.sftp.known_hosts == tmp_path / "known_hosts"

    jobs = cfg.schedule.jobs()
    assert list(jobs) == ["incremental", "full", "prune", "check"]  # drill is off
    assert jobs["incremental"].hour == {0, 4, 8, 12, 16, 20}
    assert cfg.schedule.read_data_fraction == pytest.approx(0.1)

    assert cfg.retention.max_age() == {
        "full": timedelta(days=180),
        "incremental": timedelta(days=30),
        "realtime": timedelta(days=7),
        "snapshot": None,
        "pre-restore": timedelta(days=14),
    }
    assert cfg.retention.keep_monthly == -1 and cfg.retention.keep_within == timedelta(days=2)

    assert cfg.alerts.consecutive_failures == 3 and cfg.alerts.disabled == ["slow_backup"]
    mail, ding, hook = cfg.alerts.channels
    assert isinstance(mail, EmailChannel) and mail.sender == "backup@example.com"
    assert mail.port == 465 and mail.label == "ops-mail"
    assert isinstance(ding, DingTalkChannel) and ding.min_severity == "critical"
    assert ding.label == "dingtalk"
    assert hook.type == "webhook" and hook.headers == {"Authorization": "Bearer x"}

    assert cfg.runtime.broker == "redis://127.0.0.1:6379/0"
    assert cfg.runtime.state_dir == tmp_path / ".sitesnap"
    assert cfg.runtime.catalog_url == f"sqlite:///{tmp_path}/.sitesnap/catalog.db"
    assert cfg.web.port == 9000 and cfg.web.secret_key == SecretRef(file=str(tmp_path / "secrets/web"))
    assert cfg.web.tls_key == tmp_path / "tls/key.pem"


def test_minimal_config_has_the_seed_defaults(load_text: Callable[[str], SiteConfig]) -> None:
    cfg = load_text('[site]\nname = "blog"\n')
    assert cfg.sources == [] and cfg.repositories == []
    assert cfg.site.rpo == timedelta(hours=24)
    assert {job: spec.expression for job, spec in cfg.schedule.jobs().items()} == {
        "incremental": "0 */6 * * *",
        "full": "0 2 * * 0",
        "prune": "0 3 * * *",
        "check": "0 4 * * *",
        "drill": "0 5 * * 6",
    }
    assert cfg.retention.max_age()["full"] == timedelta(days=90)
    assert cfg.retention.max_age()["snapshot"] is None
    assert (cfg.alerts.consecutive_failures, cfg.alerts.storage_percent) == (2, 80.0)
    assert cfg.alerts.duration_factor == 2.0
    assert cfg.runtime.broker == "" and cfg.web.host == "127.0.0.1"
    with pytest.raises(ConfigError, match="no \\[\\[repositories\\]\\] configured"):
        _ = cfg.primary
    with pytest.raises(ConfigError, match="no source named 'x' \\(known: none\\)"):
        cfg.source("x")


def test_catalog_follows_state_dir(load_text: Callable[[str], SiteConfig], tmp_path: Path) -> None:
    cfg = load_text('[site]\nname = "b"\n[runtime]\nstate_dir = "/var/lib/sitesnap/b"\n')
    assert cfg.runtime.catalog_url == "sqlite:////var/lib/sitesnap/b/catalog.db"
    cfg = load_text('[site]\nname = "b"\n[runtime]\ncatalog_url = "postgresql://c@db/catalog"\n')
    assert cfg.runtime.catalog_url == "postgresql://c@db/catalog"


# -- errors name file, line and key -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a typo in a key name
        (
            '[site]\nname = "b"\n[[sources]]\nname = "u"\ntype = "files"\npath = "u"\n'
            'exlude = ["*.tmp"]\n',
            'sitesnap.toml:7: sources[0].exlude: unknown key \'exlude\' (did you mean \'exclude\'?)',
        ),
        # an unknown source type, in the second [[sources]]
        (
            '[site]\nname = "b"\n\n[[sources]]\nname = "a"\ntype = "sqlite"\npath = "a.db"\n\n'
            '[[sources]]\nname = "c"\ntype = "oracle"\n',
            "sitesnap.toml:11: sources[1].type: must be one of sqlite, postgres, mysql, files "
            "(got 'oracle')",
        ),
        # a missing type
        (
            '[site]\nname = "b"\n[[sources]]\nname = "a"\n',
            "sitesnap.toml:3: sources[0].type: missing required key (one of sqlite, postgres",
        ),
        # a missing required key points at its table
        (
            '[site]\nname = "b"\n[[repositories]]\nname = "r"\n',
            "sitesnap.toml:3: repositories[0].url: missing required key",
        ),
        ("[site]\n", "sitesnap.toml:1: site.name: missing required key"),
        ('description = "x"\n', "sitesnap.toml:1: description: unknown key 'description'"),
        ("", "sitesnap.toml:1: site: missing required key"),
        # wrong types
        ('[site]\nname = 5\n', "sitesnap.toml:2: site.name: expected a string, got integer 5"),
        (
            '[site]\nname = "b"\n[web]\nport = "80"\n',
            'sitesnap.toml:4: web.port: expected an integer, got string "80"',
        ),
        (
            '[site]\nname = "b"\n[[sources]]\nname = "u"\ntype = "files"\npath = "u"\n'
            'one_file_system = "yes"\n',
            'sitesnap.toml:7: sources[0].one_file_system: expected true or false, got string "yes"',
        ),
        ('site = "blog"\n', 'sitesnap.toml:1: site: expected a table, got string "blog"'),
        (
            '[site]\nname = "b"\n[[sources]]\nname = "u"\ntype = "files"\npath = "u"\n'
            'exclude = "*.tmp"\n',
            'sitesnap.toml:7: sources[0].exclude: expected an array, got string "*.tmp"',
        ),
        (
            '[site]\nname = "b"\n[[sources]]\nname = "u"\ntype = "files"\npath = "u"\n'
            'exclude = [\n  "a",\n  3,\n]\n',
            "sitesnap.toml:9: sources[0].exclude[1]: expected a string, got integer 3",
        ),
        # values
        ('[site]\nname = "b"\nrpo = "soon"\n', "sitesnap.toml:3: site.rpo: invalid duration 'soon'"),
        ('[site]\nname = "b"\nrpo = 24\n', "sitesnap.toml:3: site.rpo: expected a duration"),
        ('[site]\nname = "../etc"\n', "sitesnap.toml:2: site.name: invalid name '../etc'"),
        ('[site]\nname = "b"\ntimezone = "Mars/Olympus"\n', "site.timezone: unknown time zone"),
        (
            '[site]\nname = "b"\n[schedule]\nfull = "0 2 * *"\n',
            "sitesnap.toml:4: schedule.full: cron expression '0 2 * *' has 4 fields",
        ),
        (
            '[site]\nname = "b"\n[[repositories]]\nname = "r"\nurl = "/r"\nquota = "lots"\n',
            "sitesnap.toml:6: repositories[0].quota: invalid size 'lots'",
        ),
        (
            '[site]\nname = "b"\n[[repositories]]\nname = "r"\nurl = "s3://b/p"\n[repositories.s3]\n'
            'preset = "azure"\n',
            "sitesnap.toml:7: repositories[0].s3.preset: must be one of aws, aliyun-oss, "
            'tencent-cos (got string "azure")',
        ),
        (
            '[site]\nname = "b"\n[[repositories]]\nname = "r"\nurl = "ftp://host/x"\n',
            "sitesnap.toml:5: repositories[0].url: unsupported URL scheme 'ftp'",
        ),
        (
            '[site]\nname = "b"\n[[repositories]]\nname = "r"\nurl = "/r"\n[repositories.s3]\n'
            'region = "x"\n',
            "sitesnap.toml:6: repositories[0].s3: [s3] options need an s3:// URL",
        ),
        (
            '[site]\nname = "b"\n[[sources]]\nname = "m"\ntype = "postgres"\n'
            'url = "mysql://root@h/db"\n',
            "sitesnap.toml:6: sources[0].url: expected a postgresql:// URL",
        ),
        (
            '[site]\nname = "b"\n[[sources]]\nname = "m"\ntype = "mysql"\nurl = "mysql://root@h"\n',
            "sources[0].url: the URL names no database",
        ),
        (
            '[site]\nname = "b"\n[[repositories]]\nname = "r"\nurl = "/r"\n'
            'password = { envv = "X" }\n',
            "sitesnap.toml:6: repositories[0].password: unknown key 'envv'; a secret is",
        ),
        (
            '[site]\nname = "b"\n[alerts]\n[[alerts.channels]]\ntype = "slack"\nurl = "x"\n'
            '[[alerts.channels]]\ntype = "pager"\n',
            "sitesnap.toml:8: alerts.channels[1].type: must be one of email, webhook, slack, "
            "dingtalk, wecom (got 'pager')",
        ),
        (
            '[site]\nname = "b"\n[[alerts.channels]]\ntype = "email"\nhost = "h"\nfrom = "a@b"\n'
            "to = []\n",
            "sitesnap.toml:7: alerts.channels[0].to: must have at least 1 item",
        ),
        (
            '[site]\nname = "b"\n[alerts]\nstorage_percent = 120\n',
            "sitesnap.toml:4: alerts.storage_percent: must be less than or equal to 100",
        ),
        (
            '[site]\nname = "b"\n[web]\ntls_cert = "c.pem"\n',
            "sitesnap.toml:3: web.tls_key: give tls_cert and tls_key together",
        ),
    ],
)
def test_errors_name_file_line_and_key(
    config_error: Callable[[str], str], text: str, expected: str
) -> None:
    message = config_error(text)
    assert message.startswith("Invalid configuration: ")
    assert expected in message
    assert "\n" not in message


def test_duplicate_names(config_error: Callable[[str], str]) -> None:
    message = config_error(
        """\
        [site]
        name = "b"

        [[sources]]
        name = "db"
        type = "sqlite"
        path = "a.db"

        [[sources]]
        name = "db"
        type = "files"
        path = "up"
        """
    )
    assert "sitesnap.toml:10: sources[1].name: duplicate name 'db' (also sources[0])" in message
    message = config_error(
        '[site]\nname = "b"\n[[repositories]]\nname = "r"\nurl = "/a"\n'
        '[[repositories]]\nname = "r"\nurl = "/b"\n'
    )
    assert "sitesnap.toml:7: repositories[1].name: duplicate name 'r'" in message


def test_several_errors_are_listed_in_line_order(write_config: Callable[[str], Path]) -> None:
    path = write_config('[site]\nname = 1\n[web]\nport = 0\n[alerts]\nduration_factor = 0.5\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.kwargs["problems"]
    assert [p.split(": ")[0] for p in problems] == [
        f"{path}:2",
        f"{path}:4",
        f"{path}:6",
    ]
    assert info.value.exit_code == 2


def test_toml_syntax_errors_name_file_and_line(config_error: Callable[[str], str]) -> None:
    message = config_error('[site]\nname = "b"\n\n[[sources]]\nname = "x\n')
    assert "sitesnap.toml:5: TOML syntax error" in message
    message = config_error('[site]\nname = "b"\nname = "c"\n')
    assert "sitesnap.toml:3: TOML syntax error" in message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[site]\nname = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


# -- paths and secrets ------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitesnap.toml").write_text(
        '[site]\nname = "b"\n'
        '[[sources]]\nname = "u"\ntype = "files"\npath = "../shared/uploads"\n'
        '[[sources]]\nname = "d"\ntype = "sqlite"\npath = "/abs/blog.db"\n'
        '[[repositories]]\nname = "r"\nurl = "repo"\npassword = { file = "pw" }\n'
        '[[repositories]]\nname = "f"\nurl = "file:///srv/repo"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(Path("../site/sitesnap.toml"))
    assert cfg.sources[0].path == tmp_path / "shared/uploads"
    assert cfg.sources[1].path == Path("/abs/blog.db")
    assert cfg.repositories[0].url == str(site / "repo")
    assert cfg.repositories[0].password == SecretRef(file=str(site / "pw"))
    assert cfg.repositories[1].local_path == Path("/srv/repo")
    assert cfg.base_dir == site


def test_inline_secrets_are_accepted_with_a_warning(load_text: Callable[[str], SiteConfig]) -> None:
    cfg = load_text(
        """\
        [site]
        name = "b"

        [[sources]]
        name = "main"
        type = "postgres"
        url = "postgresql://blog:hunter2@127.0.0.1/blog"

        [[repositories]]
        name = "r"
        url = "/r"
        password = "correct horse"

        [runtime]
        broker = "redis://:pw@127.0.0.1:6379/0"
        """
    )
    assert cfg.repositories[0].password == SecretRef(value="correct horse")
    assert cfg.warnings == [
        f"{cfg.path}:7: sources[0].url: password written inline in the URL; "
        'use password = { env = "..." } or { file = "..." }',
        f"{cfg.path}:12: repositories[0].password: secret written inline; "
        'use { env = "..." } or { file = "..." }',
        f"{cfg.path}:15: runtime.broker: password written inline in the URL; "
        "keep this file readable only by its owner",
    ]
    assert "correct horse" not in repr(cfg)


def test_url_password_and_password_key_conflict(config_error: Callable[[str], str]) -> None:
    message = config_error(
        '[site]\nname = "b"\n[[sources]]\nname = "m"\ntype = "mysql"\n'
        'url = "mysql://root:x@h/db"\npassword = { env = "P" }\n'
    )
    assert "sitesnap.toml:7: sources[0].password: the URL already contains a password" in message


# -- finding the file --------------------------------------------------------------------


def test_find_config_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SITESNAP_CONFIG", raising=False)
    assert find_config() is None
    (tmp_path / "sitesnap.toml").write_text('[site]\nname = "here"\n')
    assert find_config() == Path("sitesnap.toml")
    other = tmp_path / "other.toml"
    other.write_text('[site]\nname = "env"\n')
    monkeypatch.setenv("SITESNAP_CONFIG", str(other))
    assert find_config() == other
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('[site]\nname = "c"\n')
    assert find_config(explicit) == explicit
    with pytest.raises(ConfigError, match=r"missing.toml: no such file \(given by -c\)"):
        find_config(tmp_path / "missing.toml")
    monkeypatch.setenv("SITESNAP_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match="given by SITESNAP_CONFIG"):
        find_config()


def test_loads_and_json_schema() -> None:
    cfg = loads_config('[site]\nname = "b"\n', path="/srv/site/sitesnap.toml")
    assert cfg.runtime.state_dir == Path("/srv/site/.sitesnap")
    schema = SiteConfig.model_json_schema()
    assert "site" in schema["required"]
