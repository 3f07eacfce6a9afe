"""Recovery codes: shape, entropy, forgiving spelling and typo detection before any KDF."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitesnap.errors import UsageError
from sitesnap.format.recovery import ALPHABET, canonical_code, new_recovery_code

SHAPE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){7}$")


def test_new_code_has_the_printed_shape_and_is_canonical() -> None:
    code = new_recovery_code()
    assert SHAPE.match(code)
    assert canonical_code(code) == code


def test_codes_differ_every_time() -> None:
    codes = {new_recovery_code() for _ in range(200)}
    assert len(codes) == 200
    # 7 random groups of 5 symbols of 5 bits: at least 128 bits of entropy.
    assert 7 * 5 * 5 >= 128


def test_lower_case_spaces_and_confusable_letters_are_tolerated() -> None:
    code = new_recovery_code()
    spaced = code.replace("-", " ").lower()
    assert canonical_code(spaced) == code
    assert canonical_code(code.replace("-", "")) == code
    assert canonical_code("  " + code.replace("-", " - ") + "\n") == code
    if "1" in code or "0" in code:
        assert canonical_code(code.replace("1", "l").replace("0", "O")) == code


@given(st.integers(min_value=0, max_value=39), st.integers(min_value=1, max_value=31))
def test_any_single_symbol_typo_in_printed_shape_is_reported(position: int, shift: int) -> None:
    code = new_recovery_code()
    chars = code.replace("-", "")
    wrong = ALPHABET[(ALPHABET.index(chars[position]) + shift) % 32]
    typo = chars[:position] + wrong + chars[position + 1 :]
    printed = "-".join(typo[i : i + 5] for i in range(0, 40, 5))
    with pytest.raises(UsageError, match="typo"):
        canonical_code(printed)


def test_swapped_groups_are_reported() -> None:
    code = new_recovery_code()
    groups = code.split("-")
    if groups[0] == groups[1]:
        pytest.skip("two equal groups (1 in 33 million)")
    groups[0], groups[1] = groups[1], groups[0]
    with pytest.raises(UsageError, match="typo"):
        canonical_code("-".join(groups))


@pytest.mark.parametrize("password", [
    "correct horse battery staple",
    "0123456789abcdef0123456789abcdef01234567",  # 40 hex digits: an ordinary generated password
    "",
    "UUUUU-UUUUU-UUUUU-UUUUU-UUUUU-UUUUU-UUUUU-UUUUU",  # U is not in the alphabet
])
def test_ordinary_passwords_are_left_alone(password: str) -> None:
    assert canonical_code(password) is None
