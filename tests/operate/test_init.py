from __future__ import annotations

from pathlib import Path

import pytest
from operate_helpers import Cli

from mailflow_cli.config import load_config
from mailflow_cli.operate import init, init_command


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_writes_a_valid_commented_config_from_flags(workdir: Path, cli: Cli) -> None:
    result = cli(
        "init", "--environment", "prod", "--region", "us-east-1",
        "--domain", "Example.com", "--domain", "mail.example.org", "--app", "billing,support",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    path = workdir / "mailflow.yaml"
    config = load_config(path)
    assert config.environment == "prod"
    assert config.region == "us-east-1"
    assert config.domains == ("example.com", "mail.example.org")
    assert config.app_names == ("billing", "support")
    text = path.read_text()
    assert "# Part of every resource name" in text
    assert "maxReceiveCount: 5" in text  # the optional keys keep their defaults and comments
    assert "mailflow send-test billing --wait" in result.stderr


def test_refuses_to_overwrite_without_force(workdir: Path, cli: Cli) -> None:
    (workdir / "mailflow.yaml").write_text("keep me")
    args = ("init", "--environment", "dev", "--region", "eu-west-1", "--domain", "example.com", "--app", "a1")
    result = cli(*args)
    assert result.exit_code == 2
    assert "already exists" in result.stderr
    assert (workdir / "mailflow.yaml").read_text() == "keep me"
    assert cli(*args, "--force").exit_code == 0
    assert load_config(workdir / "mailflow.yaml").app_names == ("a1",)


def test_missing_flags_without_a_terminal_is_an_error(workdir: Path, cli: Cli) -> None:
    result = cli("init", "--environment", "dev")
    assert result.exit_code == 2
    assert "missing --region, --domain, --app (and no terminal to ask)" in result.stderr
    assert not (workdir / "mailflow.yaml").exists()


def test_prompts_for_what_is_missing(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(init_command, "stdin_is_tty", lambda: True)
    answers = iter(["eu-west-2", "a.example.com, b.example.com", "crm"])
    monkeypatch.setattr("typer.prompt", lambda text, default=None: next(answers))
    path = init_command.run(environment="stage", region=None, domains=[], apps=[], force=False, cwd=workdir)
    config = load_config(path)
    assert (config.environment, config.region) == ("stage", "eu-west-2")
    assert config.domains == ("a.example.com", "b.example.com")
    assert config.app_names == ("crm",)


def test_invalid_values_are_reported_and_nothing_is_written(workdir: Path, cli: Cli) -> None:
    result = cli(
        "init", "--environment", "Prod_1", "--region", "eu-west-1", "--domain", "x.com", "--app", "a"
    )
    assert result.exit_code == 2
    assert "environment 'Prod_1' is not valid" in result.stderr
    assert not (workdir / "mailflow.yaml").exists()


def test_the_minimal_template_also_validates(tmp_path: Path) -> None:
    answers = init.InitAnswers("dev", "eu-west-1", ("example.com",), ("app1", "app2"))
    text = init.render(answers, template=init.MINIMAL_TEMPLATE)
    assert init.validate(text, tmp_path / "mailflow.yaml").app_names == ("app1", "app2")
