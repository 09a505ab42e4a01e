"""The one redaction used for everything logged, printed and reported."""

from __future__ import annotations

import pytest

from mlctl import redact

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:s3cr3t@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("redis://:pw-1234@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("cannot connect to postgresql://u:p@ss@h/db: refused", "postgresql://u:***@h/db: refused"),
        ("https://hooks.example/x?token=abc123&a=1", "https://hooks.example/x?token=***&a=1"),
        ("host=db user=app password=hunter22 dbname=x", "password=*** dbname=x"),
        ("https://user@host/path", "https://user@host/path"),  # no password: unchanged
        ("plain text with no url", "plain text with no url"),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    out = redact.redact_text(text)
    assert expected in out
    for secret in ("s3cr3t", "pw-1234", "p@ss", "abc123", "hunter22"):
        assert secret not in out


def test_redact_tree_masks_secret_keys_but_not_names() -> None:
    doc = {
        "deploy": {
            "serve": {"api_key_env": "MY_KEY", "log": {"url": "postgresql://a:b1b2@h/d"}},
            "k8s": {"secret": "churn-secrets"},
        },
        "models": {"candidates": {"x": {"params": {"api_key": "k-123456", "n": 3}}}},
        "data": {"coerce": {"token_count": "float"}},
        "extra": {"db_password": "pw-98765", "aws_secret_access_key": "AKIA-xyz"},
    }
    out = redact.redact_tree(doc)
    assert out["deploy"]["serve"]["api_key_env"] == "MY_KEY"
    assert out["deploy"]["k8s"]["secret"] == "churn-secrets"
    assert out["deploy"]["serve"]["log"]["url"] == "postgresql://a:***@h/d"
    assert out["models"]["candidates"]["x"]["params"] == {"api_key": "***", "n": 3}
    assert out["data"]["coerce"] == {"token_count": "float"}
    assert out["extra"] == {"db_password": "***", "aws_secret_access_key": "***"}
    assert doc["extra"]["db_password"] == "pw-98765"  # a copy: the original is untouched


def test_remembered_env_secrets_are_masked_anywhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_TOKEN", "tok-unique-4711")
    monkeypatch.setenv("PLAIN_PATH", "data/x.csv")
    redact.remember_env_refs({"name": "n-${oc.env:SERVICE_TOKEN}", "p": "${oc.env:PLAIN_PATH}"})
    assert redact.redact_text("experiment n-tok-unique-4711") == "experiment n-***"
    assert redact.redact_text("reading data/x.csv") == "reading data/x.csv"
    assert "tok-unique-4711" not in redact.redact_text("a%20tok-unique-4711")


def test_url_password_from_an_env_value_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREDLOG_URL", "postgresql://u:only-here-5150@h/d")
    redact.remember_env_refs(["${oc.env:PREDLOG_URL}"])
    # a driver message that echoes the password without the URL around it
    assert redact.redact_text('password "only-here-5150" rejected') == 'password "***" rejected'


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("PGPASSWORD", True),
        ("db_pass", True),
        ("api_key", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("service_token", True),
        ("credentials", True),
        ("passed", False),
        ("bypass", False),
        ("monkey", False),
        ("api_key_env", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert redact.is_secret_key(name) is secret
