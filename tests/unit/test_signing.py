"""Webhook signatures: headcount's own check, and the recipes docs/webhooks.md gives receivers (run from the markdown,
so the docs cannot drift from what is sent)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from headcount.core.messages import webhook_request
from headcount.core.notices import NoticeKind
from headcount.core.signing import SignatureError, new_signing_secret, sign, verify
from support.notices import sample_notice

DOCS = Path(__file__).resolve().parents[2] / "docs"
SECRET = "whsec_test-secret"
NOW = 1_765_004_400


def body_of(text: str = "hello") -> bytes:
    return json.dumps({"summary": text}).encode()


def test_a_signed_body_verifies() -> None:
    # Given a body signed now
    body = body_of()
    signature = sign(SECRET, NOW, body)

    # Then it has the documented form and verifies (10 s later)
    assert re.fullmatch(r"v1=[0-9a-f]{64}", signature)
    verify(SECRET, str(NOW), body, signature, now_s=NOW + 10)


def test_a_changed_body_fails() -> None:
    signature = sign(SECRET, NOW, body_of("hello"))
    with pytest.raises(SignatureError, match="signature mismatch"):
        verify(SECRET, str(NOW), body_of("hellO"), signature, now_s=NOW)


def test_another_secret_or_timestamp_fails() -> None:
    body = body_of()
    with pytest.raises(SignatureError, match="mismatch"):
        verify("whsec_other", str(NOW), body, sign(SECRET, NOW, body), now_s=NOW)
    with pytest.raises(SignatureError, match="mismatch"):  # the timestamp is signed: it cannot be moved
        verify(SECRET, str(NOW + 1), body, sign(SECRET, NOW, body), now_s=NOW)


def test_an_old_timestamp_fails_even_when_signed() -> None:
    # Given a delivery signed six minutes ago (a recording replayed)
    body = body_of()
    signature = sign(SECRET, NOW - 360, body)

    # Then it is refused, though its signature is right
    with pytest.raises(SignatureError, match="too old"):
        verify(SECRET, str(NOW - 360), body, signature, now_s=NOW)
    # And within the window it would have passed
    verify(SECRET, str(NOW - 360), body, signature, now_s=NOW - 100)


def test_a_future_timestamp_fails() -> None:
    body = body_of()
    with pytest.raises(SignatureError, match="future"):
        verify(SECRET, str(NOW + 301), body, sign(SECRET, NOW + 301, body), now_s=NOW)


@pytest.mark.parametrize("timestamp", [None, "", "abc", "-5", "1.5", "１２３"])
def test_a_missing_or_malformed_timestamp_fails(timestamp) -> None:
    with pytest.raises(SignatureError, match="timestamp"):
        verify(SECRET, timestamp, body_of(), sign(SECRET, NOW, body_of()), now_s=NOW)


def test_any_of_several_signatures_may_match_for_a_rotation() -> None:
    # Given a header signed with the old and the new secret
    body = body_of()
    header = f"{sign('whsec_old', NOW, body)}, {sign(SECRET, NOW, body)}"

    # Then a receiver knowing either accepts it, one knowing neither does not
    verify(SECRET, str(NOW), body, header, now_s=NOW)
    verify("whsec_old", str(NOW), body, header, now_s=NOW)
    with pytest.raises(SignatureError):
        verify("whsec_neither", str(NOW), body, header, now_s=NOW)
    with pytest.raises(SignatureError, match="no v1= signature"):
        verify(SECRET, str(NOW), body, "v0=abc", now_s=NOW)


def test_new_signing_secrets_are_long_random_and_prefixed() -> None:
    one, two = new_signing_secret(), new_signing_secret()
    assert one.startswith("whsec_") and len(one) >= 6 + 43 and one != two


# --- the docs ------------------------------------------------------------------------------------------------------


def docs_code(language: str) -> str:
    (block,) = re.findall(rf"```{language}\n(.*?)```", (DOCS / "webhooks.md").read_text(), flags=re.S)
    return block


def test_the_docs_python_recipe_verifies_what_headcount_sends() -> None:
    # Given the recipe from docs/webhooks.md, run on its own
    namespace: dict = {}
    exec(compile(docs_code("python"), "webhooks.md", "exec"), namespace)
    verify_headcount = namespace["verify_headcount"]
    # And a real delivery, signed now
    now = int(time.time())
    body, headers = webhook_request(sample_notice(), SECRET, now)

    # Then the recipe accepts it, and refuses it changed, under another secret, or signed long ago
    assert verify_headcount(SECRET, headers, body) is True
    assert verify_headcount(SECRET, headers, body.replace(b"12345", b"12346")) is False
    assert verify_headcount("whsec_other", headers, body) is False
    old_body, old_headers = webhook_request(sample_notice(), SECRET, now - 600)
    assert verify_headcount(SECRET, old_headers, old_body) is False
    # And with a clock given, the window is its own
    assert verify_headcount(SECRET, old_headers, old_body, now=now - 590) is True


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on this machine")
def test_the_docs_node_recipe_verifies_what_headcount_sends(tmp_path) -> None:
    # Given the Node recipe, and a real delivery, one changed and one old, stamped by node's clock (the recipe's: the
    # suite may run under a shifted clock, which node does not see)
    clock = subprocess.run(["node", "-e", "console.log(Math.floor(Date.now() / 1000))"], capture_output=True, text=True)
    now = int(clock.stdout)
    body, headers = webhook_request(sample_notice(), SECRET, now)
    old_body, old_headers = webhook_request(sample_notice(), SECRET, now - 600)
    cases = [
        (headers, body.decode()),
        (headers, body.decode().replace("12345", "12346")),
        (old_headers, old_body.decode()),
    ]
    script = docs_code("js") + (
        "const cases = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));\n"
        "console.log(JSON.stringify(cases.map(([h, b]) => verifyHeadcount("
        f"{json.dumps(SECRET)}, Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v])),"
        " Buffer.from(b, 'utf8')))));\n"
    )
    (tmp_path / "verify.js").write_text(script)

    # When node runs it
    run = subprocess.run(
        ["node", str(tmp_path / "verify.js")], input=json.dumps(cases), capture_output=True, text=True, timeout=30
    )

    # Then it accepts the real one only
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [True, False, False]


def test_the_webhook_schema_describes_the_body() -> None:
    # Given the documented schema, Then a real body of every kind validates, and a body missing its id does not
    schema = json.loads((DOCS / "webhook.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    jsonschema.Draft202012Validator.check_schema(schema)
    for kind in NoticeKind:
        doc = json.loads(webhook_request(sample_notice(kind=kind), SECRET, NOW)[0])
        assert list(validator.iter_errors(doc)) == []
    doc.pop("id")
    assert list(validator.iter_errors(doc)) != []
