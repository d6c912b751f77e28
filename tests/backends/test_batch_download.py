"""Reading a Batch API result file as it streams in, within bounds: however the bytes are split into chunks,
the lines that fit come out parsed, the lines over the cap come out as their custom_id, and a file past its size
or deadline is cut off after the lines that ended within it."""
import json

from hypothesis import given, settings, strategies as st

from mmad_eval.backends.batch_download import DownloadLimits, LineReader


def _line(i: int, size: int) -> bytes:
    return json.dumps({"id": f"r{i}", "custom_id": f"k-{i}", "response": {"body": "x" * size}}).encode() + b"\n"


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


@settings(max_examples=80, derandomize=True, deadline=None)
@given(st.lists(st.integers(0, 400), min_size=1, max_size=12), st.lists(st.integers(0, 10_000), max_size=20),
       st.integers(120, 300))
def test_any_chunking_gives_the_same_lines(sizes, cuts, cap):
    data = b"".join(_line(i, s) for i, s in enumerate(sizes)) + b"\n  \nnot json\n"
    reader = LineReader(DownloadLimits(cap, 10 ** 9))
    got = list(reader.read(_chunks(data, cuts)))
    expected = [("line", json.loads(_line(i, s))) if len(_line(i, s)) - 1 <= cap else ("too_large", f"k-{i}")
                for i, s in enumerate(sizes)]
    assert got == expected and reader.cut is None


def test_a_file_over_its_size_keeps_the_lines_that_ended_within_it():
    data = b"".join(_line(i, 10) for i in range(10))
    one = len(_line(0, 10))
    reader = LineReader(DownloadLimits(1000, 3 * one + 5))
    got = list(reader.read(_chunks(data, [7, 100, 333])))
    assert [x[1]["custom_id"] for x in got] == ["k-0", "k-1", "k-2"]
    assert reader.cut == f"larger than {3 * one + 5:,} bytes"


def test_a_file_past_its_deadline_is_cut_off():
    ticks = iter(range(100))
    reader = LineReader(DownloadLimits(1000, 10 ** 9, deadline_s=2.5), clock=lambda: next(ticks))
    got = list(reader.read([_line(i, 5) for i in range(10)]))
    assert [x[1]["custom_id"] for x in got] == ["k-0", "k-1", "k-2"] and reader.cut == "not complete within 2.5 s"


def test_limits_for_a_job_scale_with_its_requests():
    limits = DownloadLimits.for_job(1000, 16, 30.0)
    assert (limits.max_line_bytes, limits.max_file_bytes, limits.deadline_s) == (5096, 16 * 5096, 30.0)
