import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headcount.core.events import ATTR_KEY_RE, MAX_RECORD_BYTES, TYPE_RE, Event, Reason, Rejection, parse_event

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
def test_arbitrary_documents_get_a_verdict_never_an_exception(document):
    assert isinstance(verdict(document), Event | Rejection)


# Near-valid documents: every field drawn valid, then at most one drawn from that field's invalid values, so each
# document has exactly one expected verdict, which a literal reading of docs/DESIGN.md's rules gives (`expected` below).
PAST, FUTURE = NOW - 30 * 86_400_000, NOW + 15 * 60_000
ABSENT = object()
OFFSETS = [timedelta(0), timedelta(hours=5, minutes=30), timedelta(hours=-8), timedelta(hours=14)]


def iso(ms: int, offset: timedelta) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone(offset)).isoformat(timespec="milliseconds")


def not_aware_iso(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is None
    except ValueError:
        return True


attr_key = st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True) | st.from_regex(r"[a-z][a-z0-9_]{31}", fullmatch=True)
attr_value = st.text(max_size=64) | st.text(min_size=64, max_size=64) | st.integers(-(10**18), 10**18) | st.booleans()
valid_fields = {
    "type": st.from_regex(r"[a-z][a-z0-9_]{0,63}", fullmatch=True)
    | st.from_regex(r"[a-z][a-z0-9_]{63}", fullmatch=True),
    "player_id": st.text(min_size=1, max_size=128)
    | st.text(min_size=128, max_size=128)
    | st.integers(-(10**18), 10**18),
    "ts": st.integers(PAST, FUTURE)
    | st.sampled_from([PAST, FUTURE])
    | st.builds(iso, st.integers(PAST, FUTURE), st.sampled_from(OFFSETS)).filter(
        lambda text: PAST <= parse_ms(text) <= FUTURE
    ),
    "event_id": st.just(ABSENT) | st.none() | st.text(min_size=1, max_size=128) | st.text(min_size=128, max_size=128),
    "attrs": st.just(ABSENT)
    | st.none()
    | st.dictionaries(attr_key, attr_value, max_size=16)
    | st.dictionaries(attr_key, attr_value, min_size=16, max_size=16),
}
not_a_string = st.integers() | st.booleans() | st.lists(st.integers(), max_size=2) | st.just({})
invalid_fields = {
    "type": (
        Reason.BAD_TYPE,
        st.just(ABSENT) | st.none() | not_a_string | st.text(max_size=70).filter(lambda t: not TYPE_RE.fullmatch(t)),
    ),
    "player_id": (
        Reason.BAD_PLAYER_ID,
        st.just(ABSENT)
        | st.none()
        | st.just("")
        | st.text(min_size=129, max_size=160)
        | st.booleans()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.lists(st.text(), max_size=2),
    ),
    "ts": (
        Reason.BAD_TS,
        st.just(ABSENT)
        | st.none()
        | st.booleans()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=40).filter(not_aware_iso)
        | st.lists(st.integers(), max_size=2),
    ),
    "ts_future": (Reason.TS_IN_FUTURE, st.just(FUTURE + 1) | st.integers(FUTURE + 1, FUTURE + 10**12)),
    "ts_old": (Reason.TS_TOO_OLD, st.just(PAST - 1) | st.integers(0, PAST - 1)),
    "event_id": (
        Reason.BAD_EVENT_ID,
        st.just("")
        | st.text(min_size=129, max_size=160)
        | st.integers()
        | st.booleans()
        | st.lists(st.text(), max_size=2),
    ),
    "attrs": (
        Reason.BAD_ATTRS,
        st.text(max_size=5)
        | st.integers()
        | st.lists(attr_value, max_size=2)
        | st.dictionaries(attr_key, attr_value, min_size=17, max_size=20)
        | st.builds(
            lambda k, v: {k: v}, st.text(max_size=40).filter(lambda k: not ATTR_KEY_RE.fullmatch(k)), attr_value
        )
        | st.builds(
            lambda k, v: {k: v}, attr_key, st.text(min_size=65, max_size=80) | st.none() | st.just([1]) | st.just({})
        ),
    ),
}


def parse_ms(text: str) -> int:
    parsed = datetime.fromisoformat(text)
    return (parsed - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


@st.composite
def near_valid_documents(draw):
    document = {name: draw(strategy) for name, strategy in valid_fields.items()}
    broken = draw(st.sampled_from([None, *invalid_fields]))
    reason = None
    if broken is not None:
        reason, strategy = invalid_fields[broken]
        document[broken.split("_")[0] if broken.startswith("ts") else broken] = draw(strategy)
    return {k: v for k, v in document.items() if v is not ABSENT}, reason


def expected(document: dict) -> Event:
    """docs/DESIGN.md's rules, read literally, for a document that satisfies them."""

    def text(value: object) -> str:
        return ("true" if value else "false") if isinstance(value, bool) else str(value)

    ts = document["ts"]
    return Event(
        document["type"],
        str(document["player_id"]),
        ts if isinstance(ts, int) else parse_ms(ts),
        document.get("event_id"),
        {k: text(v) for k, v in (document.get("attrs") or {}).items()},
    )


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(near_valid_documents())
def test_a_document_breaking_one_rule_is_rejected_for_that_rule_and_a_valid_one_is_parsed_as_written(case):
    document, reason = case
    result = verdict(document)
    if reason is None:
        assert result == expected(document)
    else:
        assert isinstance(result, Rejection) and result.reason is reason, (document, result)


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


PLAIN_REPEATS = [  # records without a single backslash: the validator's quick check, not its scan, sees them
    b'{"type":"a","type":"b","player_id":"p-1","ts":%d}',
    b'{"type":"session_start","player_id":"p-1","ts":%d,"player_id":"p-2"}',
    b'{"type":"session_start","player_id":"p-1","ts":%d,"attrs":{"country":"DE","country":"FR"}}',
    b'{"type":"session_start","player_id":"p-1","ts":%d,"attrs":{"level":3,"level":3}}',  # even with one value
    b'{"type":"session_start","player_id":"p-1","ts":%d,"extra":{"deep":[{"k":1,"k":2}]}}',  # an ignored field's
]


def test_a_key_repeated_plainly_is_a_duplicate_key_at_any_depth():
    for record in PLAIN_REPEATS:
        # Given a record that repeats a key, with no escape anywhere in it
        assert b"\\" not in record % NOW
        # When it is validated
        result = parse_event(record % NOW, NOW)
        # Then it is rejected for that: readers disagree on which value is the event's
        assert isinstance(result, Rejection) and result.reason is Reason.DUPLICATE_KEY, record


def test_a_key_repeated_through_an_escape_is_a_duplicate_key_and_look_alikes_are_not():
    # Given a repeat spelled with an escape, at top level and in attrs
    escaped = [
        b'{"type":"a","\\u0074ype":"b","player_id":"p-1","ts":%d}',
        b'{"type":"session_start","player_id":"p-1","ts":%d,"attrs":{"os":"ios","\\u006fs":"tv"}}',
    ]
    # Then each is a duplicate key
    assert [parse_event(r % NOW, NOW).reason for r in escaped] == [Reason.DUPLICATE_KEY] * 2
    # Given values equal to keys, one key in two objects, and an escaped quote in a value: no object repeats a key
    alike = [
        b'{"type":"type","player_id":"type","ts":%d,"attrs":{"type":"type"}}',
        b'{"type":"session_start","player_id":"p-1","ts":%d,"attrs":{"k":"a"},"extra":{"attrs":{"k":"b"}}}',
        b'{"type":"session_start","player_id":"p-\\"1\\"","ts":%d,"attrs":{"say":"\\"type\\":1"}}',
    ]
    # Then each is a valid event
    assert all(isinstance(parse_event(r % NOW, NOW), Event) for r in alike)
