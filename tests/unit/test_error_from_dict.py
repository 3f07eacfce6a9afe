"""error_from_dict: an error reported by another process (the scheduler) becomes the same error here."""

from __future__ import annotations

import pytest

from sitesnap.errors import SitesnapError, WrongPassword, all_errors
from sitesnap.errorwire import error_from_dict


@pytest.mark.parametrize("cls", all_errors(), ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("detail", ["", "plain", "with: colons: inside", "line one\nline two"])
def test_every_error_survives_its_dict(cls: type[SitesnapError], detail: str) -> None:
    needs_location = "{location}" in (cls.__doc__ or "")
    error = cls(detail, location="/srv/repo: old") if needs_location else cls(detail)
    again = error_from_dict(error.to_dict())
    assert type(again) is cls
    assert again.to_dict() == error.to_dict()
    assert (again.message, again.hint, again.exit_code) == (error.message, error.hint, error.exit_code)


def test_a_hint_given_or_left_out_stays_so() -> None:
    assert error_from_dict(WrongPassword(hint="ask the admin").to_dict()).hint == "ask the admin"
    no_hint = {"error": "wrong_password", "message": WrongPassword().message, "exit_code": 12}
    assert error_from_dict(no_hint).hint == ""


def test_an_unknown_code_is_a_plain_error_with_the_message() -> None:
    again = error_from_dict({"error": "from_the_future", "message": "something new", "exit_code": 99})
    assert type(again) is SitesnapError and again.message == "something new" and again.exit_code == 1
