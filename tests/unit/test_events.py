import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headcount.core.events import MAX_RECORD_BYTES, Event, Reason, Rejection, parse_event

NOW = 1_795_000_000_000  # 2026-11-18T11:06:40Z


def doc(**overrides):
    base = {"event_id": "e-1", "type": "session_start", "player_id": "p-1", "ts": NOW, "attrs": {"country": "DE"}}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def verdict(document) -> Event | Rejection:
    return parse_event(json.dumps(document).encode(), NOW)


def test_a_valid_event_is_parsed_with_its_fields():
    event = verdict(doc(ts="2026-11-18T12:06:40+01:00", attrs={"country": "DE", "level": 3, "vip": True}))
    assert event == Event("session_start", "p-1", NOW, "e-1", {"country": "DE", "level": "3", "vip": "true"})


def test_an_integer_player_id_is_its_decimal_string():
    assert verdict(doc(player_id=123)).player_id == "123"


def test_optional_fields_and_unknown_fields():
    event = verdict(doc(event_id=..., attrs=..., extra={"ignored": True}))
    assert isinstance(event, Event) and event.event_id is None and event.attrs == {}


def reason(document) -> Reason:
    result = verdict(document)
    assert isinstance(result, Rejection), result
    return result.reason


def test_each_rule_rejects_with_its_reason():
    assert parse_event(b"{not json", NOW).reason is Reason.NOT_JSON
    assert parse_event(b"[1, 2]", NOW).reason is Reason.NOT_OBJECT
    assert parse_event(b"\xff\xfe", NOW).reason is Reason.NOT_JSON
    assert parse_event(b" " * (MAX_RECORD_BYTES + 1), NOW).reason is Reason.TOO_LARGE
    assert reason(doc(type="Session")) is Reason.BAD_TYPE
    assert reason(doc(type="a" * 65)) is Reason.BAD_TYPE
    assert reason(doc(type=...)) is Reason.BAD_TYPE
    assert reason(doc(player_id="")) is Reason.BAD_PLAYER_ID
    assert reason(doc(player_id="p" * 129)) is Reason.BAD_PLAYER_ID
    assert reason(doc(player_id=True)) is Reason.BAD_PLAYER_ID
    assert reason(doc(player_id=1.5)) is Reason.BAD_PLAYER_ID
    assert reason(doc(ts="2026-11-18T11:06:40")) is Reason.BAD_TS  # no offset
    assert reason(doc(ts="yesterday")) is Reason.BAD_TS
    assert reason(doc(ts=1.5e12)) is Reason.BAD_TS
    assert reason(doc(ts=NOW + 15 * 60_000 + 1)) is Reason.TS_IN_FUTURE
    assert reason(doc(ts=NOW - 30 * 86_400_000 - 1)) is Reason.TS_TOO_OLD
    assert reason(doc(event_id="")) is Reason.BAD_EVENT_ID
    assert reason(doc(event_id=7)) is Reason.BAD_EVENT_ID
    assert reason(doc(attrs=[1])) is Reason.BAD_ATTRS
    assert reason(doc(attrs={f"k{i}": 1 for i in range(17)})) is Reason.BAD_ATTRS
    assert reason(doc(attrs={"Country": "DE"})) is Reason.BAD_ATTRS
    assert reason(doc(attrs={"country": "x" * 65})) is Reason.BAD_ATTRS
    assert reason(doc(attrs={"country": {"nested": 1}})) is Reason.BAD_ATTRS


def test_limits_are_inclusive():
    assert isinstance(verdict(doc(ts=NOW + 15 * 60_000)), Event)
    assert isinstance(verdict(doc(ts=NOW - 30 * 86_400_000)), Event)


def test_an_arrival_window_uses_its_end_for_the_future_and_its_start_for_the_past():
    hour_start, hour_end = NOW, NOW + 3_600_000
    late_in_hour = json.dumps(doc(ts=hour_end + 10 * 60_000)).encode()
    assert isinstance(parse_event(late_in_hour, hour_start, hour_end), Event)
    assert parse_event(late_in_hour, hour_start).reason is Reason.TS_IN_FUTURE


@given(st.binary(max_size=300))
def test_any_bytes_get_a_verdict_never_an_exception(data):
    assert isinstance(parse_event(data, NOW), Event | Rejection)


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=70)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["event_id", "type", "player_id", "ts", "attrs", "x"]), json_values))
def test_arbitrary_documents_are_accepted_only_when_every_rule_holds(document):
    result = verdict(document)
    if isinstance(result, Event):
        assert 0 < len(result.player_id) <= 128
        assert NOW - 30 * 86_400_000 <= result.ts_ms <= NOW + 15 * 60_000
        assert all(len(v) <= 64 for v in result.attrs.values())


@given(st.text(min_size=1, max_size=128), st.integers(NOW - 30 * 86_400_000, NOW + 15 * 60_000))
def test_every_valid_player_and_time_round_trips(player_id, ts):
    event = verdict(doc(player_id=player_id, ts=ts))
    assert isinstance(event, Event) and event.player_id == player_id and event.ts_ms == ts


@given(st.integers(NOW - 30 * 86_400_000, NOW), st.sampled_from(["Z", "+00:00", "+05:30", "-08:00"]))
def test_iso_and_epoch_forms_of_one_instant_agree(ts, suffix):
    from datetime import datetime, timedelta, timezone

    offset = timedelta(0) if suffix == "Z" else timedelta(hours=int(suffix[:3]), minutes=int(suffix[0] + suffix[4:]))
    local = datetime.fromtimestamp(ts / 1000, timezone(offset))
    text = local.isoformat(timespec="milliseconds")
    text = text.replace("+00:00", "Z") if suffix == "Z" else text
    assert verdict(doc(ts=text)).ts_ms == ts
