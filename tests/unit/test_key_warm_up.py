"""The background key warm-up: the slow key derivation runs once, whoever asks first."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.test_keys_memo import counting_derivations

from sitesnap.engine.opening import open_repository, warm_up_key
from sitesnap.errors import WrongPassword
from sitesnap.repository.repository import Repository
from sitesnap.storage.local import LocalStorage

KDF = {"name": "scrypt", "n": 2**14, "r": 8, "p": 1}


def test_open_during_warm_up_derives_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Repository.init(LocalStorage(str(tmp_path / "r")), "pw", kdf=KDF).close()
    calls = counting_derivations(monkeypatch)
    thread = warm_up_key(str(tmp_path / "r"), "pw")
    repo = open_repository(str(tmp_path / "r"), "pw")  # usually arrives while the warm-up derives
    repo.close()
    thread.join(10)
    assert calls == ["pw"]
    open_repository(str(tmp_path / "r"), "pw").close()
    assert calls == ["pw"]


def test_wrong_password_is_still_refused(tmp_path: Path) -> None:
    Repository.init(LocalStorage(str(tmp_path / "r")), "pw", kdf=KDF).close()
    warm_up_key(str(tmp_path / "r"), "nope").join(10)
    with pytest.raises(WrongPassword):
        open_repository(str(tmp_path / "r"), "nope")
    open_repository(str(tmp_path / "r"), "pw").close()


def test_warm_up_of_a_missing_repository_reports_nothing(tmp_path: Path) -> None:
    warm_up_key(str(tmp_path / "nothing-here"), "pw").join(10)
    assert not (tmp_path / "nothing-here").exists()
