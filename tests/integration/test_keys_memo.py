"""A long-running process derives a slot's key once: the scheduler does not pay Argon2id per job."""

from __future__ import annotations

from pathlib import Path

import pytest

import sitesnap.repository.keys as keyfiles
from sitesnap.errors import WrongPassword
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

FAST = {"name": "scrypt", "n": 1024, "r": 8, "p": 1}


def counting_derivations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every real key derivation (the function still runs)."""
    calls: list[str] = []
    real = keyfiles.derive_key

    def derive(password: str, salt: bytes, params: dict[str, object]) -> bytes:
        calls.append(password)
        return real(password, salt, params)

    monkeypatch.setattr(keyfiles, "derive_key", derive)
    return calls


def test_second_open_reuses_the_unwrapped_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Repository.init(LocalStorage(str(tmp_path / "r")), "right horse", kdf=FAST).close()
    calls = counting_derivations(monkeypatch)
    first = Repository.open(LocalStorage(str(tmp_path / "r")), "right horse")
    second = Repository.open(LocalStorage(str(tmp_path / "r")), "right horse")
    assert first.config.id == second.config.id and first.key_id == second.key_id
    assert len(calls) == 1
    first.close()
    second.close()


def test_wrong_password_is_never_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Repository.init(LocalStorage(str(tmp_path / "r")), "right horse", kdf=FAST).close()
    Repository.open(LocalStorage(str(tmp_path / "r")), "right horse").close()
    calls = counting_derivations(monkeypatch)
    for _ in range(2):
        with pytest.raises(WrongPassword):
            Repository.open(LocalStorage(str(tmp_path / "r")), "wrong horse")
    assert len(calls) >= 2  # derived every time: failures are not cached


def test_another_slot_with_the_same_password_is_derived_again(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    a = Repository.init(LocalStorage(str(tmp_path / "a")), "same", kdf=FAST)
    b = Repository.init(LocalStorage(str(tmp_path / "b")), "same", kdf=FAST)
    a.close()
    b.close()
    calls = counting_derivations(monkeypatch)
    ra = Repository.open(LocalStorage(str(tmp_path / "a")), "same")
    rb = Repository.open(LocalStorage(str(tmp_path / "b")), "same")
    assert ra.config.id != rb.config.id  # each repository's own key, not the other's
    assert len(calls) == 2
    ra.close()
    rb.close()
