from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator
from operate_helpers import Cli

from mailflow_cli.config import load_config
from mailflow_cli.config_schema import config_schema
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


def _schema_of(config_path: Path) -> Path:
    """The schema the config's first line names, resolved as yaml-language-server does: relative to the
    config file's directory."""
    first = config_path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    return (config_path.parent / first.split("=", 1)[1]).resolve()


def test_writes_the_json_schema_beside_the_config_and_names_it_on_the_first_line(
    workdir: Path, cli: Cli
) -> None:
    result = cli(
        "init", "--environment", "dev", "--region", "eu-west-1", "--domain", "example.com", "--app", "a1"
    )
    assert result.exit_code == 0, result.stderr
    config = workdir / "mailflow.yaml"
    assert config.read_text().startswith("# yaml-language-server: $schema=./mailflow.schema.json\n")
    schema_file = _schema_of(config)
    assert schema_file == (workdir / "mailflow.schema.json").resolve()
    schema = json.loads(schema_file.read_text())
    assert schema == config_schema(init.example_text())
    assert list(Draft7Validator(schema).iter_errors(yaml.safe_load(config.read_text()))) == []
    assert load_config(config).app_names == ("a1",)


def test_the_schema_can_go_elsewhere(workdir: Path, cli: Cli) -> None:
    (workdir / ".vscode").mkdir()
    args = ("init", "-e", "dev", "--region", "eu-west-1", "-d", "example.com", "-a", "a1")
    result = cli(*args, "--schema-path", ".vscode/mailflow.schema.json")
    assert result.exit_code == 0, result.stderr
    assert _schema_of(workdir / "mailflow.yaml") == (workdir / ".vscode" / "mailflow.schema.json").resolve()
    assert not (workdir / "mailflow.schema.json").exists()


def test_an_existing_schema_file_is_kept_without_force(workdir: Path, cli: Cli) -> None:
    (workdir / "mailflow.schema.json").write_text("mine")
    args = ("init", "-e", "dev", "--region", "eu-west-1", "-d", "example.com", "-a", "a1")
    result = cli(*args)
    assert result.exit_code == 2
    assert "mailflow.schema.json already exists" in result.stderr
    assert (workdir / "mailflow.schema.json").read_text() == "mine"
    assert not (workdir / "mailflow.yaml").exists()
    missing = cli(*args, "--schema-path", "no/such/dir/schema.json")
    assert missing.exit_code == 2
    assert "--schema-path no/such/dir/schema.json names no file in an existing directory" in missing.stderr
    assert not (workdir / "mailflow.yaml").exists()


def test_a_schema_line_in_the_template_is_replaced_not_repeated() -> None:
    text = init.with_schema_line("# yaml-language-server: $schema=old.json\nenvironment: dev\n", "./new.json")
    assert text == "# yaml-language-server: $schema=./new.json\nenvironment: dev\n"
    assert init.schema_reference(Path("/a/b/mailflow.yaml"), Path("/a/schemas/s.json")) == "../schemas/s.json"
