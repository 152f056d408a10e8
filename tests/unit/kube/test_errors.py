import orjson
import pytest

from jupyternetes_operator.kube import errors


def status(code: int, reason: str, **extra: object) -> bytes:
    return orjson.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
                         "reason": reason, "message": f"{reason} happened", **extra})


@pytest.mark.parametrize(("code", "reason", "cls"), [
    (400, "BadRequest", errors.BadRequest),
    (401, "Unauthorized", errors.Unauthorized),
    (403, "Forbidden", errors.Forbidden),
    (404, "NotFound", errors.NotFound),
    (409, "Conflict", errors.Conflict),
    (409, "AlreadyExists", errors.AlreadyExists),
    (410, "Gone", errors.Gone),
    (422, "Invalid", errors.Invalid),
    (429, "TooManyRequests", errors.TooManyRequests),
    (500, "InternalError", errors.ServerError),
    (503, "ServiceUnavailable", errors.ServerError),
    (418, "Teapot", errors.ApiError),
])
def test_status_maps_to_its_class(code: int, reason: str, cls: type[errors.ApiError]) -> None:
    err = errors.error_from_response(code, status(code, reason), {})
    assert type(err) is cls
    assert err.status == code
    assert err.reason == reason
    assert err.message == f"{reason} happened"


def test_invalid_carries_causes() -> None:
    body = status(422, "Invalid", details={"causes": [
        {"field": "spec.endpoint.pod", "reason": "FieldValueInvalid", "message": "must name a pod"}]})
    err = errors.error_from_response(422, body, {})
    assert err.causes == (errors.Cause("spec.endpoint.pod", "FieldValueInvalid", "must name a pod"),)


def test_retry_after_from_header_wins_over_details() -> None:
    body = status(429, "TooManyRequests", details={"retryAfterSeconds": 7})
    assert errors.error_from_response(429, body, {"Retry-After": "3"}).retry_after == 3.0
    assert errors.error_from_response(429, body, {}).retry_after == 7.0


def test_watch_expired_status_is_gone() -> None:
    # A watch delivers 410 as an ERROR event whose Status says reason Expired.
    err = errors.error_from_status({"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"})
    assert isinstance(err, errors.Gone)


def test_non_status_body_keeps_the_text() -> None:
    err = errors.error_from_response(502, b"<html>bad gateway</html>", {})
    assert isinstance(err, errors.ServerError)
    assert "bad gateway" in err.message


def test_predicates() -> None:
    conflict = errors.error_from_response(409, status(409, "Conflict"), {})
    exists = errors.error_from_response(409, status(409, "AlreadyExists"), {})
    assert type(conflict) is errors.Conflict  # the same code, two reasons, two classes
    assert type(exists) is errors.AlreadyExists
    assert errors.is_retryable(conflict)
    assert not errors.is_retryable(exists)
    assert isinstance(errors.error_from_response(404, status(404, "NotFound"), {}), errors.NotFound)
