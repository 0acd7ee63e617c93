from procobs_dagster.delivery import sign, verify_signature

BODY = b'{"id":"0190","specversion":"1.0","type":"process.run.started"}'
NOW = 1_700_000_000


def test_a_genuine_body_is_accepted():
    header = sign(BODY, "s3cret", NOW)
    assert header.startswith(f"t={NOW},v1=")
    assert verify_signature(BODY, header, "s3cret", now=NOW + 10)
    assert verify_signature(BODY, header, b"s3cret", now=NOW + 10)


def test_a_tampered_body_or_a_wrong_secret_is_refused():
    header = sign(BODY, "s3cret", NOW)
    assert not verify_signature(BODY.replace(b"started", b"failed!"), header, "s3cret", now=NOW)
    assert not verify_signature(BODY + b"\n", header, "s3cret", now=NOW)
    assert not verify_signature(BODY, header, "other", now=NOW)


def test_a_replayed_or_forged_timestamp_is_refused():
    header = sign(BODY, "s3cret", NOW)
    assert not verify_signature(BODY, header, "s3cret", now=NOW + 301)
    assert verify_signature(BODY, header, "s3cret", now=NOW + 3600, tolerance_seconds=7200)
    digest = header.split("v1=")[1]
    moved = f"t={NOW + 200},v1={digest}"  # a fresh timestamp on an old signature
    assert not verify_signature(BODY, moved, "s3cret", now=NOW + 200)


def test_malformed_headers_are_refused_not_raised():
    for header in (None, "", "garbage", "t=abc,v1=00", f"t={NOW}", "v1=00", f"t={NOW},v1"):
        assert not verify_signature(BODY, header, "s3cret", now=NOW)


def test_any_of_several_signatures_may_match_during_secret_rotation():
    old = sign(BODY, "old-secret", NOW)
    new_digest = sign(BODY, "new-secret", NOW).split("v1=")[1]
    header = f"{old},v1={new_digest}"
    assert verify_signature(BODY, header, "new-secret", now=NOW)
    assert verify_signature(BODY, header, "old-secret", now=NOW)


def test_hostile_headers_give_false_and_never_raise():
    """The probe's R7: '²' passed str.isdigit() and broke int(); 5 000 digits exceed
    int()'s limit; a non-ASCII digest broke hmac.compare_digest."""
    digest = sign(BODY, "s3cret", NOW).split("v1=")[1]
    for header in (
        f"t=²,v1={digest}",
        f"t=\u0661\u0667\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660,v1={digest}",
        f"t={'9' * 5000},v1={digest}",
        f"t={NOW},v1=é{digest[1:]}",
        f"t={NOW},v1={digest.upper()}",
        f"t={NOW},v1={digest}\x00",
        f"t=-{NOW},v1={digest}",
        f"t={NOW},v1={digest}," + "v1=00," * 5000,
        b"t=1,v1=00",
        12345,
    ):
        assert verify_signature(BODY, header, "s3cret", now=NOW) is False
    genuine = f"t={NOW},v1={digest}"
    assert verify_signature(BODY, genuine, "s3cret", now=NOW)
    assert not verify_signature(BODY, genuine, "s3cret", now=NOW, tolerance_seconds=float("nan"))
