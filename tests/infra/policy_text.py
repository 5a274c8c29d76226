"""Policy documents of a synthesized template as text, for the tests' assertions."""

from __future__ import annotations


def rendered(value: object) -> str:
    """A policy resource as text: <logical id> for a reference or an ARN attribute, joins joined."""
    if isinstance(value, str):
        return value
    assert isinstance(value, dict), value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<{value['Fn::GetAtt'][0]}>"
    return "".join(rendered(part) for part in value["Fn::Join"][1])
