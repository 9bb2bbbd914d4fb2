"""Guards as boolean formulas: parsing ``cond``/``unless`` and deciding exclusivity.

Contract: pure functions over guard expression strings (python-statemachine's dialect:
``not``/``!``, ``and``/``^``, ``or``/``v``, comparisons, ``In('state')``). Used by the checks
(nondeterminism, completeness) and by ``Structure.guards()`` to find the names to bind.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from statemachine.io.evaluators import normalize_cond
from statemachine.spec_parser import replace_operators

__all__ = ["Formula", "conjunction", "in_states", "normalize_guard", "parse_guard", "satisfiable"]


class _Guarded(Protocol):
    @property
    def cond(self) -> tuple[str, ...]: ...

    @property
    def unless(self) -> tuple[str, ...]: ...


# Names the guard dialect provides itself; they never bind to services.
_BUILTIN_NAMES = frozenset({"True", "False", "None", "true", "false", "null", "In"})


@dataclass(frozen=True)
class Formula:
    """A guard as a boolean formula over atoms (names and comparisons).

    ``tree`` is a nested tuple: ``("atom", key)``, ``("not", f)``, ``("and", f, g, ...)``,
    ``("or", ...)``, ``("const", bool)``. Comparisons with complementary operators on the same
    operands share one atom (``n < 2`` is ``not (n >= 2)``), which is what lets the
    nondeterminism check prove ``x`` / ``not x`` and ``n < 2`` / ``n >= 2`` exclusive.
    """

    tree: tuple[Any, ...]
    names: frozenset[str]

    def atoms(self) -> set[str]:
        """The atom keys the formula mentions."""
        out: set[str] = set()
        _collect_atoms(self.tree, out)
        return out

    def evaluate(self, values: Mapping[str, bool]) -> bool:
        """The formula's truth under an assignment of its atoms."""
        return _evaluate(self.tree, values)


_COMPLEMENT = {ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq, ast.Is: ast.IsNot}
_COMPLEMENT.update({v: k for k, v in list(_COMPLEMENT.items())})
_OP_TEXT = {ast.Lt: "<", ast.GtE: ">=", ast.LtE: "<=", ast.Gt: ">", ast.Eq: "==", ast.NotEq: "!="}
_OP_TEXT.update({ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"})
_CANONICAL = (ast.Lt, ast.LtE, ast.Eq, ast.Is, ast.In)


def normalize_guard(expr: str) -> str:
    """The expression in Python syntax, as python-statemachine's guard dialect reads it.

    The library's own two steps, in its order: ``normalize_cond`` (JavaScript-style
    ``===``/``&&``/``true``...) then ``replace_operators`` (its ``!``/``^``/``v`` DSL).
    """
    return str(replace_operators(normalize_cond(expr))).strip()


def parse_guard(expr: str) -> Formula:
    """Parse a ``cond``/``unless`` expression; raise ``SyntaxError`` when it is not one."""
    tree = ast.parse(normalize_guard(expr), mode="eval").body
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in _BUILTIN_NAMES:
            names.add(node.id)
        elif isinstance(node, ast.Call) and (
            not isinstance(node.func, ast.Name) or node.func.id != "In"
        ):
            raise SyntaxError(f"guard {expr!r} calls {ast.unparse(node.func)!r}; only In() is")
    return Formula(_formula(tree), frozenset(names))


def in_states(expr: str) -> list[str]:
    """The state ids an expression tests with ``In('...')``."""
    tree = ast.parse(normalize_guard(expr), mode="eval")
    return [
        arg.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "In"
        for arg in node.args
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
    ]


def _formula(node: ast.expr) -> tuple[Any, ...]:
    if isinstance(node, ast.BoolOp):
        kind = "and" if isinstance(node.op, ast.And) else "or"
        return (kind, *(_formula(v) for v in node.values))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return ("not", _formula(node.operand))
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return ("const", node.value)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        op = type(node.ops[0])
        left, right = ast.unparse(node.left), ast.unparse(node.comparators[0])
        if op in _CANONICAL or op not in _COMPLEMENT:
            return ("atom", f"{left} {_OP_TEXT.get(op, '?')} {right}")
        return ("not", ("atom", f"{left} {_OP_TEXT[_COMPLEMENT[op]]} {right}"))
    return ("atom", ast.unparse(node))


def _collect_atoms(tree: tuple[Any, ...], out: set[str]) -> None:
    if tree[0] == "atom":
        out.add(tree[1])
    elif tree[0] != "const":
        for sub in tree[1:]:
            _collect_atoms(sub, out)


def _evaluate(tree: tuple[Any, ...], values: Mapping[str, bool]) -> bool:
    kind = tree[0]
    if kind == "atom":
        return values[tree[1]]
    if kind == "const":
        return bool(tree[1])
    if kind == "not":
        return not _evaluate(tree[1], values)
    if kind == "and":
        return all(_evaluate(t, values) for t in tree[1:])
    return any(_evaluate(t, values) for t in tree[1:])


def conjunction(transition: _Guarded) -> Formula | None:
    """A transition's whole guard (all ``cond`` and no ``unless``), ``None`` when unguarded."""
    parts: list[tuple[Any, ...]] = []
    names: set[str] = set()
    for expr in transition.cond:
        f = parse_guard(expr)
        parts.append(f.tree)
        names |= f.names
    for expr in transition.unless:
        f = parse_guard(expr)
        parts.append(("not", f.tree))
        names |= f.names
    if not parts:
        return None
    return Formula(("and", *parts), frozenset(names))


# Truth tables grow as 2**atoms; past this the check gives up and says so.
MAX_ATOMS = 12


def satisfiable(formulas: Sequence[Formula]) -> bool | None:
    """Whether all formulas can hold at once; ``None`` when there are too many atoms to tell."""
    atoms = sorted(set().union(*(f.atoms() for f in formulas)))
    if len(atoms) > MAX_ATOMS:
        return None
    for values in itertools.product((False, True), repeat=len(atoms)):
        assignment = dict(zip(atoms, values, strict=True))
        if all(f.evaluate(assignment) for f in formulas):
            return True
    return False
