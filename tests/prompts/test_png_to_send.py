"""What is sent of a PNG as it is: only IHDR, IDAT and IEND, and only when it decodes (issue 24, item 12)."""
import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from mmad_eval.imageio import BadImageError, jpeg_to_send, png_to_send


def _chunks(data: bytes) -> list[bytes]:
    pos, kinds = 8, []
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kinds.append(data[pos + 4:pos + 8])
        pos += 12 + length
        if kinds[-1] == b"IEND":
            break
    return kinds


def _png(seed: int, w: int, h: int, interlace: bool, text: str | None) -> tuple[bytes, bytes]:
    arr = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    im = Image.fromarray(arr)
    info = PngInfo()
    if text:
        info.add_text("Comment", text)
    buf = io.BytesIO()
    im.save(buf, "PNG", pnginfo=info, interlace=interlace)
    return buf.getvalue(), im.tobytes()


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.integers(0, 99), st.integers(1, 40), st.integers(1, 40), st.booleans(),
       st.one_of(st.none(), st.text(min_size=1, max_size=30)), st.binary(max_size=20))
def test_what_is_sent_gives_the_same_pixels_and_nothing_else(seed, w, h, interlace, text, trailing):
    data, pixels = _png(seed, w, h, interlace, text)
    sent = png_to_send(data + trailing, culprit="x.png")
    assert sent is not None and _chunks(sent) == [b"IHDR"] + [b"IDAT"] * (len(_chunks(sent)) - 2) + [b"IEND"]
    assert sent.endswith(b"IEND\xaeB`\x82") and (text is None or text.encode("latin-1", "replace") not in sent)
    assert Image.open(io.BytesIO(sent)).convert("RGB").tobytes() == pixels
    if text is None and not trailing:
        assert sent is data                                     # nothing to leave out: the bytes themselves


def _with_stream(data: bytes, stream: bytes) -> bytes:
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return data[:33] + chunk(b"IDAT", stream) + chunk(b"IEND", b"")


@settings(derandomize=True, max_examples=150, deadline=None)
@given(st.integers(0, 20), st.integers(0, 10_000), st.integers(1, 255), st.booleans())
def test_a_corrupt_stream_with_good_crcs_is_never_sent_unless_it_decodes(seed, where, xor, cut):
    data, pixels = _png(seed, 16, 12, False, None)
    raw = zlib.compress(b"".join(b"\0" + pixels[i * 48:(i + 1) * 48] for i in range(12)), 6)
    i = where % len(raw)
    bad = raw[:i] if cut else raw[:i] + bytes([raw[i] ^ xor]) + raw[i + 1:]
    broken = _with_stream(data, bad)
    try:
        sent = png_to_send(broken, culprit="x.png")
    except BadImageError as e:
        assert "x.png" in str(e)
        return
    decoded = Image.open(io.BytesIO(sent))
    decoded.load()                                                   # what is sent decodes, whole
    assert decoded.size == (16, 12) and len(decoded.convert("RGB").tobytes()) == len(pixels)


def test_jpeg_metadata_and_trailing_bytes_are_left_out():
    im = Image.fromarray(np.random.default_rng(1).integers(0, 255, (20, 30, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x010E] = "SECRET description"
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, exif=exif.tobytes(), comment=b"SECRET comment", icc_profile=b"SECRET" * 10)
    data = buf.getvalue() + b"SECRET trailing"
    size, sent = jpeg_to_send(data, culprit="x.jpg")
    assert size == (30, 20) and b"SECRET" not in sent and sent.endswith(b"\xff\xd9")
    assert Image.open(io.BytesIO(sent)).tobytes() == Image.open(io.BytesIO(data)).tobytes()
    plain = io.BytesIO()
    im.save(plain, "JPEG", quality=90)
    assert jpeg_to_send(plain.getvalue(), culprit="y.jpg")[1] is plain.getvalue()


@pytest.mark.parametrize("cut", [10, 200])
def test_a_cut_png_stream_names_the_file(cut):
    data, _ = _png(3, 40, 30, False, None)
    raw = zlib.compress(b"\0" * (1 + 120) * 30)
    with pytest.raises(BadImageError, match="x.png"):
        png_to_send(_with_stream(data, raw[:max(1, len(raw) - cut)]), culprit="x.png")
