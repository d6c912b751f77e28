"""Errata ``answer_pattern``: regular expressions matched in time linear in the text, whatever the pattern.

Python's ``re`` backtracks: a pattern such as ``(a+)+$`` takes exponential time on a long run of ``a``, so a
hostile or careless errata file could hang ``score``. Patterns are parsed with Python's own regex parser
(same syntax, same errors) and run on a Thompson automaton (a set of states stepped once per character):
literals, classes, ``.``, groups, alternation, repeats (greedy or lazy: the same yes/no), ``^ $ \\A \\Z \\b
\\B`` and the flags ``i m s x``. Backreferences, lookarounds, conditionals, atomic groups and possessive
repeats need backtracking and are refused when the file is read. Matching is always case-insensitive, as
errata patterns always were.
"""
from __future__ import annotations

import functools

try:                                   # Python >= 3.11
    from re import _constants as C, _parser as P
except ImportError:                    # pragma: no cover - older Pythons
    import sre_constants as C  # type: ignore[no-redef]
    import sre_parse as P  # type: ignore[no-redef]

MAX_PATTERN_CHARS = 1000
MAX_STATES = 10_000          # automaton size: ``x{1000}`` style repeats are expanded

_CATEGORIES = {
    C.CATEGORY_DIGIT: str.isdecimal, C.CATEGORY_NOT_DIGIT: lambda c: not c.isdecimal(),
    C.CATEGORY_SPACE: str.isspace, C.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    C.CATEGORY_WORD: lambda c: c.isalnum() or c == "_", C.CATEGORY_NOT_WORD: lambda c: not (c.isalnum() or c == "_"),
}
_REFUSED = {C.GROUPREF: "backreferences", C.GROUPREF_EXISTS: "conditional groups", C.ASSERT: "lookarounds",
            C.ASSERT_NOT: "lookarounds"}
for _name, _what in (("ATOMIC_GROUP", "atomic groups"), ("POSSESSIVE_REPEAT", "possessive repeats")):
    if hasattr(C, _name):
        _REFUSED[getattr(C, _name)] = _what


class PatternError(ValueError):
    """The pattern is not a regular expression, or uses what needs backtracking."""


def _word(c: str) -> bool:
    return c.isalnum() or c == "_"


class SafePattern:
    """A compiled pattern; :meth:`search` says whether it matches anywhere in a text (case-insensitively)."""

    def __init__(self, text: str):
        if not isinstance(text, str) or not text:
            raise PatternError("must be non-empty text")
        if len(text) > MAX_PATTERN_CHARS:
            raise PatternError(f"is {len(text):,} characters long, over the {MAX_PATTERN_CHARS:,} limit")
        try:
            parsed = P.parse(text, C.SRE_FLAG_IGNORECASE)
        except (C.error, RecursionError, OverflowError) as e:
            raise PatternError(f"is not a regular expression ({e})") from None
        flags = parsed.state.flags
        self.dotall, self.multiline = bool(flags & C.SRE_FLAG_DOTALL), bool(flags & C.SRE_FLAG_MULTILINE)
        self.literal = "".join(chr(av) for _, av in parsed).lower() \
            if all(op is C.LITERAL for op, _ in parsed) else None       # plain text: a substring test
        self.program: list[tuple] = []
        self._emit_sequence(parsed)
        self.program.append(("match",))

    # ---- compiling the parse tree to a program of states --------------------------------------------------
    def _add(self, *state) -> int:
        if len(self.program) >= MAX_STATES:
            raise PatternError(f"expands to more than {MAX_STATES:,} states (a repeat count too large)")
        self.program.append(state)
        return len(self.program) - 1

    def _emit_sequence(self, items) -> None:
        for op, av in items:
            self._emit(op, av)

    def _emit(self, op, av) -> None:
        if op in _REFUSED:
            raise PatternError(f"uses {_REFUSED[op]}, which need a backtracking matcher; not allowed here")
        if op in (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN):
            self._add("char", _predicate(op, av, self.dotall))
        elif op is C.SUBPATTERN:
            self._emit_sequence(av[-1])
        elif op is C.BRANCH:
            self._emit_branch(av[1])
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            self._emit_repeat(*av)
        elif op is C.AT:
            self._add("at", av)
        else:
            raise PatternError(f"uses {str(op).lower()}, which is not supported here")

    def _emit_branch(self, alternatives) -> None:
        jumps = []
        for i, alt in enumerate(alternatives):
            if i < len(alternatives) - 1:
                split = self._add("split", None, None)
                start = len(self.program)
                self._emit_sequence(alt)
                jumps.append(self._add("jmp", None))
                self.program[split] = ("split", start, len(self.program))
            else:
                self._emit_sequence(alt)
        for j in jumps:
            self.program[j] = ("jmp", len(self.program))

    def _emit_repeat(self, low: int, high: int, item) -> None:
        for _ in range(low):
            self._emit_sequence(item)
        if high is C.MAXREPEAT or high == C.MAXREPEAT:
            split = self._add("split", None, None)
            self._emit_sequence(item)
            self._add("jmp", split)
            self.program[split] = ("split", split + 1, len(self.program))
            return
        splits = []
        for _ in range(high - low):
            splits.append(self._add("split", None, None))
            self._emit_sequence(item)
        for s in splits:
            self.program[s] = ("split", s + 1, len(self.program))

    # ---- matching ----------------------------------------------------------------------------------------
    def _holds(self, kind, text: str, i: int) -> bool:
        before, after = (text[i - 1] if i else ""), (text[i] if i < len(text) else "")
        if kind in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
            return i == 0 or (kind is C.AT_BEGINNING and self.multiline and before == "\n")
        if kind is C.AT_END:
            return i == len(text) or (after == "\n" and (i == len(text) - 1 or self.multiline))
        if kind is C.AT_END_STRING:
            return i == len(text)
        boundary = bool(before and _word(before)) != bool(after and _word(after))
        if kind is C.AT_BOUNDARY:
            return boundary
        if kind is C.AT_NON_BOUNDARY:
            return bool(text) and not boundary       # as re: \B never matches in an empty text
        raise PatternError(f"uses the anchor {kind}, which is not supported here")

    def _closure(self, pcs, text: str, i: int, seen: set, out: list) -> None:
        stack = list(pcs)
        while stack:
            pc = stack.pop()
            if pc in seen:
                continue
            seen.add(pc)
            state = self.program[pc]
            kind = state[0]
            if kind == "split":
                stack += (state[2], state[1])
            elif kind == "jmp":
                stack.append(state[1])
            elif kind == "at":
                if self._holds(state[1], text, i):
                    stack.append(pc + 1)
            else:
                out.append(pc)

    def search(self, text: str) -> bool:
        """True when the pattern matches somewhere in ``text`` (case-insensitively); O(len(text) x states)."""
        text = text.lower()
        if self.literal is not None:
            return self.literal in text
        current: list[int] = []
        for i in range(len(text) + 1):
            seen: set = set()
            live: list[int] = []
            self._closure(current, text, i, seen, live)
            self._closure([0], text, i, seen, live)          # a match may start at any position
            if any(self.program[pc][0] == "match" for pc in live):
                return True
            if i == len(text):
                return False
            c = text[i]
            current = [pc + 1 for pc in live if self.program[pc][0] == "char" and self.program[pc][1](c)]
        return False


def _predicate(op, av, dotall: bool):
    """A test of one (lower-cased) character; classes also try its upper case (case-insensitive)."""
    if op is C.LITERAL:
        lit = chr(av).lower()
        return lambda c: c == lit
    if op is C.NOT_LITERAL:
        lit = chr(av).lower()
        return lambda c: c != lit
    if op is C.ANY:
        return (lambda c: True) if dotall else (lambda c: c != "\n")
    tests, negate = [], False
    for kind, value in av:
        if kind is C.NEGATE:
            negate = True
        elif kind is C.LITERAL:
            tests.append(lambda c, v=chr(value): c == v)
        elif kind is C.RANGE:
            tests.append(lambda c, lo=value[0], hi=value[1]: lo <= ord(c) <= hi)
        elif kind is C.CATEGORY and value in _CATEGORIES:
            tests.append(_CATEGORIES[value])
        else:
            raise PatternError(f"uses the class item {kind}, which is not supported here")

    def in_class(c: str) -> bool:
        hit = any(t(x) for x in {c, c.upper(), c.lower()} for t in tests)
        return hit != negate
    return in_class


@functools.lru_cache(maxsize=1024)
def compile_pattern(text: str) -> SafePattern:
    """The compiled pattern (cached); :class:`PatternError` says what is wrong with it."""
    return SafePattern(text)
