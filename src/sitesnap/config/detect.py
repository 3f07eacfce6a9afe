"""Find a Flask app's databases and upload folder, to write its ``sitesnap.toml``.

:func:`detect_flask_app` takes what ``flask --app`` takes: a file
(``path/to/app.py``), a directory holding ``wsgi.py`` or ``app.py``, a module
(``package.module``), optionally with ``:name`` or ``:factory(args)``.  It
imports the module (its directory is put on ``sys.path`` only for the
import), finds the app by duck typing — an object with a ``config`` mapping,
never by importing Flask, which this layer must not — and reads
``SQLALCHEMY_DATABASE_URI``, ``SQLALCHEMY_BINDS`` and ``UPLOAD_FOLDER``.

Importing runs the app's module code: call it only on apps you trust (your
own site).  Modules imported from the app's directory are removed from
``sys.modules`` afterwards, so detecting two apps whose modules share a name
works in one process.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from sitesnap.config.template import render_config
from sitesnap.errors import ConfigError
from sitesnap.secrets import SecretRef

__all__ = ["DetectedDatabase", "DetectedSite", "detect_flask_app", "normalize_database_uri", "render_config"]

_DIALECTS = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql", "mariadb": "mysql"}
_URL_SCHEMES = {"postgres": "postgresql", "mysql": "mysql"}
_FACTORIES = ("create_app", "make_app")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_HINT = "Give the app as path/to/app.py, package.module or module:create_app()."


@dataclass(frozen=True)
class DetectedDatabase:
    """One database the app uses, as a source: ``type`` is sqlite, postgres or mysql."""

    name: str
    type: str
    setting: str  # the config key it came from, e.g. SQLALCHEMY_DATABASE_URI
    path: Path | None = None  # sqlite
    url: str | None = None  # postgres/mysql, without the password
    password: SecretRef | None = None  # the URI's password, if it had one


@dataclass(frozen=True)
class DetectedSite:
    """What was found in a Flask app; ``notes`` say what could not be used and why."""

    name: str
    spec: str
    root_path: Path
    instance_path: Path | None
    databases: tuple[DetectedDatabase, ...] = ()
    upload_folder: Path | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def detect_flask_app(spec: str) -> DetectedSite:
    """Import the Flask app named by ``spec`` and read what a site backup needs.

    Raises ConfigError when the module cannot be imported or holds no app.
    """
    target, _, attr = spec.partition(":")
    search_dir, module_name = _locate(target)
    with _temporary_import_path(search_dir, module_name):
        module = _import(module_name, spec)
        app = _find_app(module, attr.strip(), spec)
        config: Mapping[str, Any] = app.config
        root = Path(getattr(app, "root_path", None) or search_dir or Path.cwd()).absolute()
        instance = getattr(app, "instance_path", None)
        instance_path = Path(instance).absolute() if instance else None
        databases, notes = _databases(config, root, instance_path)
        upload = config.get("UPLOAD_FOLDER")
    upload_folder = None
    if isinstance(upload, str | os.PathLike) and str(upload):
        upload_folder = Path(os.path.normpath(root / Path(upload).expanduser()))
    elif upload is None:
        notes.append("UPLOAD_FOLDER is not set: add the folders to back up by hand")
    return DetectedSite(
        name=_safe_name(root.name) or "site",
        spec=spec,
        root_path=root,
        instance_path=instance_path,
        databases=tuple(databases),
        upload_folder=upload_folder,
        notes=tuple(notes),
    )


def normalize_database_uri(uri: str) -> tuple[str, str, SecretRef | None]:
    """A SQLAlchemy URI as ``(type, url-or-path, password)``; raises ValueError if unsupported.

    ``postgresql+psycopg2://u:p@h/db`` → ``("postgres", "postgresql://u@h/db", SecretRef(p))``;
    ``mysql+pymysql://...`` → ``("mysql", "mysql://...", ...)``; ``sqlite:///x.db`` →
    ``("sqlite", "x.db", None)`` with the path as written (relative or absolute).
    """
    parts = urlsplit(uri)
    dialect = parts.scheme.partition("+")[0].lower()
    if dialect == "sqlite":
        path = uri.split("://", 1)[1].partition("?")[0]
        path = path[1:] if path.startswith("/") else path
        if not path or path == ":memory:":
            raise ValueError("an in-memory SQLite database has nothing to back up")
        return "sqlite", unquote(path), None
    kind = _DIALECTS.get(dialect)
    if kind is None:
        raise ValueError(f"database dialect {dialect!r} is not supported (sqlite, postgresql, mysql)")
    password = SecretRef(value=unquote(parts.password)) if parts.password else None
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}@{host}"
    url = urlunsplit((_URL_SCHEMES[kind], netloc, parts.path, parts.query, ""))
    return kind, url, password


# -- importing ------------------------------------------------------------------


def _locate(target: str) -> tuple[Path | None, str]:
    """The directory to put on sys.path and the dotted module name for ``target``."""
    looks_like_path = target.endswith(".py") or os.sep in target or "/" in target
    path = Path(target).expanduser()
    if not looks_like_path and not path.is_dir():
        if not target or not all(part.isidentifier() for part in target.split(".")):
            raise ConfigError(f"{target!r} is neither a Python file nor a module name", hint=_HINT)
        return Path.cwd(), target
    path = path.absolute()
    if path.is_dir() and not (path / "__init__.py").is_file():
        found = next((path / n for n in ("wsgi.py", "app.py") if (path / n).is_file()), None)
        if found is None:
            raise ConfigError(f"{path}: no wsgi.py or app.py in this directory", hint=_HINT)
        path = found
    if not path.exists():
        raise ConfigError(f"{path}: no such file", hint=_HINT)
    parts = [] if path.is_dir() else ([] if path.stem == "__init__" else [path.stem])
    folder = path if path.is_dir() else path.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    return folder, ".".join(parts)


@contextmanager
def _temporary_import_path(folder: Path | None, module_name: str) -> Iterator[None]:
    """Put ``folder`` first on sys.path; afterwards drop the modules imported from it.

    Modules already imported from ``folder``, and any other module holding the
    target's top-level name, are set aside for the import and put back after.
    """
    before = set(sys.modules)
    shadowed = {}
    top = module_name.split(".")[0]
    if folder is not None:
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None) or ""
            same_name = name == top or name.startswith(top + ".")
            if same_name or (file and _inside(Path(file), folder)):
                shadowed[name] = sys.modules.pop(name)
                before.discard(name)
        sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        if folder is not None:
            with suppress(ValueError):
                sys.path.remove(str(folder))
            for name in set(sys.modules) - before:
                file = getattr(sys.modules[name], "__file__", None) or ""
                if file and _inside(Path(file), folder):
                    del sys.modules[name]
            sys.modules.update(shadowed)


def _inside(file: Path, folder: Path) -> bool:
    try:
        file.absolute().relative_to(folder)
    except ValueError:
        return False
    return True


def _import(name: str, spec: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ConfigError:
        raise
    except Exception as exc:  # the app's own code can raise anything while importing
        raise ConfigError(
            f"cannot import {spec!r}: {type(exc).__name__}: {exc}",
            hint="Run sitesnap where the app's dependencies are installed (its virtualenv).",
        ) from None


def _is_app(obj: object) -> bool:
    return not isinstance(obj, type | ModuleType) and isinstance(getattr(obj, "config", None), Mapping)


def _find_app(module: ModuleType, attr: str, spec: str) -> Any:
    if attr:
        return _evaluate(module, attr, spec)
    for name in ("app", "application"):
        candidate = getattr(module, name, None)
        if _is_app(candidate):
            return candidate
    apps = [value for value in vars(module).values() if _is_app(value)]
    if len(apps) == 1:
        return apps[0]
    if len(apps) > 1:
        raise ConfigError(f"{spec!r} holds several apps; name one as {spec}:NAME", hint=_HINT)
    for name in _FACTORIES:
        factory = getattr(module, name, None)
        if callable(factory):
            return _checked(_call(factory, [], {}, f"{name}()"), f"{name}()", spec)
    raise ConfigError(f"no Flask app or create_app() factory found in {spec!r}", hint=_HINT)


def _evaluate(module: ModuleType, attr: str, spec: str) -> Any:
    """``name`` or ``factory(literal args)`` evaluated in ``module``, like ``flask --app``."""
    try:
        expr = ast.parse(attr, mode="eval").body
    except SyntaxError:
        raise ConfigError(f"cannot parse {attr!r} in {spec!r}", hint=_HINT) from None
    if isinstance(expr, ast.Name):
        return _checked(_attribute(module, expr.id, spec), attr, spec)
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
        try:
            args = [ast.literal_eval(arg) for arg in expr.args]
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in expr.keywords if kw.arg}
        except ValueError:
            raise ConfigError(f"{attr!r}: factory arguments must be literals", hint=_HINT) from None
        factory = _attribute(module, expr.func.id, spec)
        return _checked(_call(factory, args, kwargs, attr), attr, spec)
    raise ConfigError(f"{attr!r} in {spec!r} is not a name or a call", hint=_HINT)


def _attribute(module: ModuleType, name: str, spec: str) -> Any:
    if not hasattr(module, name):
        raise ConfigError(f"{module.__name__} has no attribute {name!r} ({spec!r})", hint=_HINT)
    return getattr(module, name)


def _call(factory: Any, args: list[Any], kwargs: dict[str, Any], what: str) -> Any:
    try:
        return factory(*args, **kwargs)
    except Exception as exc:  # the app's factory can raise anything
        raise ConfigError(f"{what} failed: {type(exc).__name__}: {exc}") from None


def _checked(obj: Any, what: str, spec: str) -> Any:
    if not _is_app(obj):
        raise ConfigError(f"{what} in {spec!r} is not a Flask app (it has no config mapping)")
    return obj


# -- reading the config -----------------------------------------------------------


def _databases(
    config: Mapping[str, Any], root: Path, instance: Path | None
) -> tuple[list[DetectedDatabase], list[str]]:
    found: list[DetectedDatabase] = []
    notes: list[str] = []
    entries: list[tuple[str, str, Any]] = [
        ("db", "SQLALCHEMY_DATABASE_URI", config.get("SQLALCHEMY_DATABASE_URI"))
    ]
    binds = config.get("SQLALCHEMY_BINDS") or {}
    if isinstance(binds, Mapping):
        for key, value in binds.items():
            uri = value.get("url") if isinstance(value, Mapping) else value
            entries.append((_safe_name(str(key)) or "bind", f"SQLALCHEMY_BINDS[{key!r}]", uri))
    names: set[str] = set()
    for name, setting, uri in entries:
        if uri is None:
            if setting == "SQLALCHEMY_DATABASE_URI":
                notes.append("SQLALCHEMY_DATABASE_URI is not set: no database found")
            continue
        try:
            kind, location, password = normalize_database_uri(str(uri))
        except ValueError as exc:
            notes.append(f"{setting}: {exc}")
            continue
        unique = _unique(name, names)
        if kind == "sqlite":
            path = _sqlite_path(location, root, instance)
            found.append(DetectedDatabase(unique, kind, setting, path=path))
        else:
            found.append(DetectedDatabase(unique, kind, setting, url=location, password=password))
    return found, notes


def _sqlite_path(location: str, root: Path, instance: Path | None) -> Path:
    """Flask-SQLAlchemy 3 puts relative SQLite paths in the instance folder, 2.x in the root."""
    path = Path(location).expanduser()
    if path.is_absolute():
        return path
    candidates = [base / path for base in (instance, root) if base is not None]
    existing = next((c for c in candidates if c.exists()), candidates[0])
    return Path(os.path.normpath(existing))


def _unique(name: str, taken: set[str]) -> str:
    candidate, number = name, 2
    while candidate in taken or candidate == "uploads":
        candidate, number = f"{name}{number}", number + 1
    taken.add(candidate)
    return candidate


def _safe_name(text: str) -> str:
    return _UNSAFE.sub("-", text).strip("-.")[:64]
