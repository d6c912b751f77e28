"""The mutation runner (mmad_eval/testing/mutation.py): its operators plant the bugs they name, and every
area it covers maps to source and test files that exist (so a renamed module cannot drop out silently)."""
import ast

import pytest

from mmad_eval.testing.mutation import AREAS, ROOT, load_equivalent, source_files, mapped_tests
from mmad_eval.testing.mutation_ops import mutants_of, mutated_source

SOURCE = '''"""Docstring with 1 < 2 inside."""
def f(xs: list[int] = None, limit=3):
    """Another docstring: a and b."""
    total = 0
    for x in xs:
        if x < limit and not x == 0:
            continue
        total += x * 2
    return min(total, -1), f"{limit + 1}", g(xs, limit)
'''


def _by_operator(source=SOURCE):
    return {m.operator: m for m in mutants_of("m.py", source)}


def test_operators_plant_the_bug_they_name():
    ops = _by_operator()
    assert {"< -> <=", "< -> >=", "and -> or", "drop not", "== -> !=", "drop branch", "continue -> break",
            "* -> /", "min -> max", "swap arguments", "drop minus", "0 -> 1", "2 -> 3", "3 -> 4"} <= set(ops)
    assert "negate if" in ops                            # the if test is no single comparison
    assert "negate if" not in _by_operator("if a < b:\n    pass\n")    # a comparison: its flips cover it
    assert "x < limit" not in mutated_source(SOURCE, ops["< -> >="]) and "x >= limit" in mutated_source(SOURCE, ops["< -> >="])
    assert "if False:" in mutated_source(SOURCE, ops["drop branch"])
    assert "break" in mutated_source(SOURCE, ops["continue -> break"])
    assert "g(limit, xs)" in mutated_source(SOURCE, ops["swap arguments"])
    assert "max(total, -1)" in mutated_source(SOURCE, ops["min -> max"])
    zero = [mutated_source(SOURCE, m) for m in mutants_of("m.py", SOURCE) if m.operator == "0 -> 1"]
    assert len(zero) == 2 and any("total = 1" in s for s in zero) and any("x == 1" in s for s in zero)
    for m in mutants_of("m.py", SOURCE):
        ast.parse(mutated_source(SOURCE, m))              # every mutant is valid Python
        assert mutated_source(SOURCE, m) != ast.unparse(ast.parse(SOURCE)), m.key


def test_docstrings_annotations_and_f_strings_are_left_alone():
    lines = {m.line for m in mutants_of("m.py", SOURCE)}
    assert not any("Docstring" in line or "docstring" in line for line in lines)
    assert not any(m.line.startswith("def f") and m.operator == "1 -> 0" for m in mutants_of("m.py", SOURCE))
    assert all("limit + 1" not in mutated_source(SOURCE, m) or m.operator != "+ -> -"
               for m in mutants_of("m.py", SOURCE))
    assert "+ -> -" not in _by_operator()                # the only "+" is inside an f-string


def test_same_arguments_are_not_swapped_and_keys_have_no_line_numbers():
    ops = _by_operator("def f(d, k):\n    return d.get(k, k)\n")
    assert "swap arguments" not in ops
    assert "swap arguments" not in _by_operator("x = max(0, min(a, b))\n")       # symmetric: never a bug
    assert "swap arguments" in _by_operator("x = max(a, b, key=len)\n") and "swap arguments" in _by_operator("x = g(a, b)\n")
    m = _by_operator()["< -> >="]
    assert m.key == "m.py | if x < limit and not x == 0: | < -> >=" and m.lineno == 6


@pytest.mark.parametrize("area", sorted(AREAS))
def test_every_area_maps_existing_sources_to_existing_tests(area):
    sources, tests = AREAS[area]
    assert all((ROOT / p.split("::")[0]).exists() for p in sources + tests), area
    files = source_files(area)
    assert files and all(mapped_tests(f)[-len(tests):] == tests for f in files)


def test_the_equivalent_list_names_live_mutants_with_a_reason():
    equivalent = load_equivalent()
    assert all(reason for reason in equivalent.values())
    for key in equivalent:
        path, line, operator = key.split(" | ")
        live = {m.key for m in mutants_of(path, (ROOT / path).read_text())}
        assert key in live, f"{key}: no such mutant any more (the line changed): remove or update it"


def test_list_shows_each_files_mutants_and_tests(capsys):
    from mmad_eval.testing.mutation import main

    assert main(["atomic_write", "--sample", "3", "--list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mmad_eval/atomic_write.py: 3 mutants; tests: tests/mutation_kills/test_atomic_write_kills.py")
    assert main(["mmad_eval/atomic_write.py", "--only", "os.replace(old, path)", "--list"]) == 0
    assert capsys.readouterr().out.startswith("mmad_eval/atomic_write.py: 1 mutants")
