"""The fault table's machinery: a case, the outcome it must have, running it, and the table in markdown.

A :class:`Case` is one bad input or fault: what was given (``input``, in words), the action that
gives it (``run``, called with an :class:`Env`: a fresh folder with tiny data made on demand) and
the outcome it must have, one of

* :class:`Raises` — the library raises this exception type before any work, with a message
  holding every fragment (what was expected, what came, the fix);
* :class:`Usage` — the command line exits with status 2 and says what was wrong in one line (an
  argparse error: its usage and one error line), never a traceback;
* :class:`Warns` — the input is converted, with a warning holding the fragments;
* :class:`Accepts` — the input is converted (or accepted, as documented) and ``check`` proves the
  result right.

``keeps`` names a file (relative to the case's folder, made by ``setup``) that must be byte-for-byte
the same afterwards (nothing overwritten); ``check`` adds assertions (no optimiser step taken,
nothing written). A case with ``open`` set is a known defect in a file another person owns: it runs
as ``xfail(strict=True)``, so it turns into a failure the day it is fixed (then drop ``open``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple, Type, Union

import torch

Fragments = Union[str, Tuple[str, ...]]


def _fragments(match: Fragments) -> Tuple[str, ...]:
    return (match,) if isinstance(match, str) else tuple(match)


def _quote(match: Fragments) -> str:
    return " … ".join(f"“{f}”" for f in _fragments(match))


class Env:
    """What a case's action gets: a fresh folder ``tmp``, tiny data on demand, and watched models."""

    def __init__(self, tmp: Path, in_subprocess: bool = False):
        self.tmp = tmp
        #: run command-line cases as ``python -m pyroml`` in a new process (else ``main`` in this one)
        self.in_subprocess = in_subprocess
        self._mnist: Optional[Path] = None
        self._watched: List[Tuple[torch.nn.Module, List[torch.Tensor]]] = []
        #: whatever an action wants its check to see (e.g. the model it trained)
        self.model: Any = None

    @property
    def mnist(self) -> Path:
        """A data directory holding 64 training and 32 test random images in MNIST's IDX format."""
        if self._mnist is None:
            from tests.conftest import write_idx
            self._mnist = write_idx(self.tmp / "data")
        return self._mnist

    def file(self, name: str, content: Union[str, bytes]) -> Path:
        """Write ``content`` to ``tmp/name`` (parents made) and return its path."""
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def watch(self, model: Any) -> Any:
        """Remember ``model``'s parameters now, to check later that no step changed them."""
        self._watched.append((model, [p.detach().clone() for p in model.parameters()]))
        return model

    def assert_untouched(self) -> None:
        """Every watched model holds the parameters it held when watched: no work was done."""
        for model, before in self._watched:
            after = list(model.parameters())
            assert len(after) == len(before) and all(torch.equal(a, b) for a, b in zip(after, before)), \
                f"{type(model).__name__}'s parameters changed: work was done before the error"


def with_kw(action: Callable[..., Any], kw: Dict[str, Any]) -> Callable[[Env], Any]:
    """The action ``action(env, **kw)`` (binds ``kw`` now, for cases made in a loop)."""
    return lambda env: action(env, **kw)


@dataclass(frozen=True)
class CliResult:
    """What one in-process run of ``pyroml`` gave: exit status and the text it wrote."""

    code: Any
    err: str
    out: str


def run_cli(argv: List[str], in_subprocess: bool = False) -> CliResult:
    """Run ``pyroml argv`` in this process (an exception escaping ``main`` is a traceback: it
    propagates), or as ``python -m pyroml`` in a new one (what a user sees, warnings included)."""
    if in_subprocess:
        res = subprocess.run([sys.executable, "-m", "pyroml", *argv], capture_output=True, text=True, timeout=300,
                             cwd=Path(__file__).resolve().parents[2])
        return CliResult(res.returncode, res.stderr, res.stdout)
    from pyroml.cli import main

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code: Any = main(argv)
        except SystemExit as e:  # argparse's usage errors
            code = e.code
    return CliResult(code, err.getvalue(), out.getvalue())


def cli(argv: Callable[[Env], List[str]]) -> Callable[[Env], CliResult]:
    """The action of a command-line case: ``pyroml`` with the arguments ``argv(env)``."""
    return lambda env: run_cli([str(a) for a in argv(env)], env.in_subprocess)


@dataclass(frozen=True)
class Raises:
    """A clear error: ``exc`` raised, its message holding every fragment of ``match``."""

    exc: Type[BaseException]
    match: Fragments

    def describe(self) -> str:
        return f"`{self.exc.__name__}`: {_quote(self.match)}"

    def verify(self, run: Callable[[], Any]) -> None:
        try:
            result = run()
        except self.exc as e:
            text = str(e)
            missing = [f for f in _fragments(self.match) if f not in text]
            assert not missing, f"{type(e).__name__} raised, but its message lacks {missing}: {text!r}"
            return
        raise AssertionError(f"no {self.exc.__name__} raised; the call returned {str(result)[:200]!r}")


@dataclass(frozen=True)
class Usage:
    """A command-line user error: exit status 2, no traceback, and the message (one line, or
    argparse's usage and one error line) holding every fragment."""

    match: Fragments

    def describe(self) -> str:
        return f"exit 2, one line: {_quote(self.match)}"

    def verify(self, run: Callable[[], Any]) -> CliResult:
        res = run()
        assert isinstance(res, CliResult), "a command-line case must run through cli(...)"
        lines = res.err.strip().splitlines()
        assert "Traceback" not in res.err, res.err[-2000:]
        assert res.code == 2, f"exit status {res.code!r}, expected 2; stderr: {res.err[-1000:]!r}"
        assert lines, "exit 2 without a message"
        if not lines[0].startswith("usage:"):   # not argparse's usage block: one line only
            assert len(lines) == 1, f"{len(lines)} lines, expected one: {res.err!r}"
        missing = [f for f in _fragments(self.match) if f not in lines[-1]]
        assert not missing, f"the message lacks {missing}: {lines[-1]!r}"
        return res


@dataclass(frozen=True)
class Warns:
    """Converted with a warning of type ``warning`` holding every fragment."""

    warning: Type[Warning]
    match: Fragments

    def describe(self) -> str:
        return f"converted, `{self.warning.__name__}`: {_quote(self.match)}"

    def verify(self, run: Callable[[], Any]) -> Any:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            result = run()
        texts = [str(w.message) for w in seen if issubclass(w.category, self.warning)]
        assert any(all(f in t for f in _fragments(self.match)) for t in texts), \
            f"no {self.warning.__name__} holding {_fragments(self.match)}; warnings: {texts}"
        return result


@dataclass(frozen=True)
class Accepts:
    """Converted or accepted as documented (``what``); the case's ``check`` proves the result right."""

    what: str

    def describe(self) -> str:
        return self.what

    def verify(self, run: Callable[[], Any]) -> Any:
        return run()


Outcome = Union[Raises, Usage, Warns, Accepts]


@dataclass(frozen=True)
class Case:
    """One bad input or fault and the outcome it must have (see the module docstring)."""

    id: str
    area: str
    input: str
    run: Callable[[Env], Any]
    outcome: Outcome
    check: Optional[Callable[[Env, Any], None]] = None
    setup: Optional[Callable[[Env], Any]] = None
    keeps: Optional[str] = None
    note: str = ""
    open: Optional[str] = None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_case(case: Case, tmp: Path, in_subprocess: bool = False) -> None:
    """Set the case up, run it (command-line cases ``in_subprocess`` if asked), and assert its
    outcome, the file it keeps and its checks."""
    env = Env(tmp, in_subprocess)
    if case.setup is not None:
        case.setup(env)
    kept = None
    if case.keeps is not None:
        assert (tmp / case.keeps).exists(), f"setup made no {case.keeps}"
        kept = _digest(tmp / case.keeps)
    result = case.outcome.verify(lambda: case.run(env))
    if kept is not None:
        assert (tmp / case.keeps).exists() and _digest(tmp / case.keeps) == kept, f"{case.keeps} was overwritten"
    env.assert_untouched()
    if case.check is not None:
        case.check(env, result)


def markdown(cases: List[Case]) -> str:
    """The table of ``cases``: number, area, input, outcome, status."""
    rows = ["| # | area | input | outcome | status |", "| --- | --- | --- | --- | --- |"]
    for i, c in enumerate(cases, 1):
        outcome = c.outcome.describe()
        if c.keeps is not None:
            outcome += f"; `{c.keeps}` kept"
        if c.note:
            outcome += f"; {c.note}"
        status = "pinned" if c.open is None else f"**open** ({c.open})"
        cells = [str(i), c.area, c.input, outcome, status]
        rows.append("| " + " | ".join(x.replace("|", "\\|").replace("\n", " ") for x in cells) + " |")
    return "\n".join(rows)
