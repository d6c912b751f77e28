"""The small, realistic bugs the mutation runner plants, one at a time, in a module's syntax tree.

Operators: comparison flips and boundary shifts, ``and``/``or`` swaps, a dropped ``not`` or minus sign,
arithmetic swaps, constants off by one (``True``/``False`` swapped), a dropped branch (``if`` test made
``False``), a negated ``if`` test, ``break``/``continue`` swapped, ``min``/``max`` and ``any``/``all``
swapped, and a call's first two positional arguments swapped (not a two-argument ``min``/``max``'s: they
are symmetric). Docstrings, annotations and f-strings are left alone. A mutant is named by the module, the
original line's text and the operator, so the checked-in list of equivalent mutants survives edits that only
move lines.
"""
from __future__ import annotations

import ast
from collections import Counter
from dataclasses import dataclass

_COMPARE_FLIPS = {ast.Lt: (ast.LtE, ast.GtE), ast.LtE: (ast.Lt, ast.Gt), ast.Gt: (ast.GtE, ast.LtE),
                  ast.GtE: (ast.Gt, ast.Lt), ast.Eq: (ast.NotEq,), ast.NotEq: (ast.Eq,),
                  ast.In: (ast.NotIn,), ast.NotIn: (ast.In,), ast.Is: (ast.IsNot,), ast.IsNot: (ast.Is,)}
_BINOP_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
                ast.FloorDiv: ast.Div, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult}
_NAME_SWAPS = {"min": "max", "max": "min", "any": "all", "all": "any"}
_SYMBOLS = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
            ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+",
            ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
            ast.And: "and", ast.Or: "or"}


@dataclass(frozen=True)
class Mutant:
    path: str           # the module's file, relative to the repository root
    node_index: int     # position of the mutated node in the module's ast.walk order
    variant: int        # which of the node's mutations
    lineno: int
    line: str           # the original line's text, stripped
    operator: str       # e.g. "< -> >="
    occurrence: int = 1  # the n-th mutant with this operator on this line (left to right, outer first)

    @property
    def key(self) -> str:
        """Stable name (no line number): path | original line | operator [#n for the n-th on the line]."""
        return f"{self.path} | {self.line} | {self.operator}" + (f" #{self.occurrence}" if self.occurrence > 1 else "")


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes inside docstrings, annotations and f-strings (never mutated)."""
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            roots.append(body[0])
        if isinstance(node, ast.arg) and node.annotation is not None:
            roots.append(node.annotation)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            roots.append(node.returns)
        if isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
        if isinstance(node, ast.JoinedStr):
            roots.append(node)
    return {id(sub) for root in roots for sub in ast.walk(root)}


def _constant_variants(value) -> list[tuple[object, str]]:
    if isinstance(value, bool):
        return [(not value, f"{value} -> {not value}")]
    if isinstance(value, int):
        new = {0: 1, 1: 0}.get(value, value + 1)
        return [(new, f"{value} -> {new}")]
    if isinstance(value, float):
        new = value / 2 if value else 1.0
        return [(new, f"{value} -> {new}")]
    return []


def variants(node: ast.AST) -> list[str]:
    """Descriptions of the mutations this node offers (index = variant)."""
    if isinstance(node, ast.Compare):
        return [f"{_SYMBOLS[type(op)]} -> {_SYMBOLS[new]}" for op in node.ops for new in _COMPARE_FLIPS[type(op)]]
    if isinstance(node, ast.BoolOp):
        return [f"{_SYMBOLS[type(node.op)]} -> {'or' if isinstance(node.op, ast.And) else 'and'}"]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        return ["drop not" if isinstance(node.op, ast.Not) else "drop minus"]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
        return [f"{_SYMBOLS[type(node.op)]} -> {_SYMBOLS[_BINOP_SWAPS[type(node.op)]]}"]
    if isinstance(node, ast.Constant):
        return [text for _, text in _constant_variants(node.value)]
    if isinstance(node, ast.If):
        return ["drop branch"] + ([] if isinstance(node.test, ast.Compare) else ["negate if"])
    if isinstance(node, (ast.Break, ast.Continue)):
        return ["break -> continue" if isinstance(node, ast.Break) else "continue -> break"]
    if isinstance(node, ast.Call):
        out = []
        if isinstance(node.func, ast.Name) and node.func.id in _NAME_SWAPS:
            out.append(f"{node.func.id} -> {_NAME_SWAPS[node.func.id]}")
        symmetric = isinstance(node.func, ast.Name) and node.func.id in ("min", "max") and len(node.args) == 2 \
            and not node.keywords                                              # min(a, b) == min(b, a)
        if len(node.args) >= 2 and not any(isinstance(a, ast.Starred) for a in node.args[:2]) \
                and ast.dump(node.args[0]) != ast.dump(node.args[1]) and not symmetric:   # f(x, x): nothing to swap
            out.append("swap arguments")
        return out
    return []


def _compare_op(node: ast.Compare, variant: int) -> None:
    pairs = [(i, new) for i, op in enumerate(node.ops) for new in _COMPARE_FLIPS[type(op)]]
    i, new = pairs[variant]
    node.ops[i] = new()


def _apply(node: ast.AST, variant: int, description: str) -> ast.AST:
    """Mutate ``node`` (in place where possible); returns the node to put in its place."""
    if isinstance(node, ast.Compare):
        _compare_op(node, variant)
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.UnaryOp):
        return node.operand
    elif isinstance(node, ast.BinOp):
        node.op = _BINOP_SWAPS[type(node.op)]()
    elif isinstance(node, ast.Constant):
        node.value = _constant_variants(node.value)[variant][0]
    elif isinstance(node, ast.If):
        node.test = ast.Constant(False) if description == "drop branch" else ast.UnaryOp(ast.Not(), node.test)
    elif isinstance(node, ast.Break):
        return ast.Continue()
    elif isinstance(node, ast.Continue):
        return ast.Break()
    elif description == "swap arguments":
        node.args[0], node.args[1] = node.args[1], node.args[0]
    else:
        node.func = ast.Name(_NAME_SWAPS[node.func.id], ast.Load())
    return node


def _candidates(tree: ast.AST) -> list[ast.AST]:
    skipped = _skipped_nodes(tree)
    return [node for node in ast.walk(tree) if id(node) not in skipped]


def mutants_of(path: str, source: str) -> list[Mutant]:
    """Every mutant the operators offer for one module's source."""
    tree = ast.parse(source)
    lines = source.splitlines()
    out, seen = [], Counter()
    for index, node in enumerate(_candidates(tree)):
        for variant, description in enumerate(variants(node)):
            lineno = getattr(node, "lineno", 0)
            seen[lineno, description] += 1
            out.append(Mutant(path, index, variant, lineno, lines[lineno - 1].strip() if lineno else "",
                              description, seen[lineno, description]))
    return out


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, replacement: ast.AST):
        self.target, self.replacement = target, replacement

    def visit(self, node):
        if node is self.target:
            return self.replacement
        return self.generic_visit(node)


def mutated_source(source: str, mutant: Mutant) -> str:
    """The module's source with ``mutant`` planted (re-rendered by ast.unparse)."""
    tree = ast.parse(source)
    node = _candidates(tree)[mutant.node_index]
    replacement = _apply(node, mutant.variant, mutant.operator)
    if replacement is not node:
        tree = _Replace(node, replacement).visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree))
