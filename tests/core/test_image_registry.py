"""ImageRegistry: bounded caches, re-encode after eviction, one encode per image under threads."""
import base64
import io
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from mmad_eval.errors import DataError
from mmad_eval.prompt.images import ImageRegistry, ImageSettings, LRUCache


def _png(i: int, size=(48, 40)) -> bytes:
    img = Image.new("RGB", size, (10 * i % 256, 50, 200 - i))
    img.putpixel((i % size[0], 0), (255, 255, 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def test_caches_stay_bounded_and_evicted_images_are_reencoded_identically():
    reg = ImageRegistry(ImageSettings(max_side=32, format="jpeg"), max_images=3, max_urls=4)
    shas = [reg.add_bytes(_png(i)) for i in range(10)]
    first = [reg.data_url(s) for s in shas]
    sizes = reg.cache_sizes()
    assert sizes["images"] == 3 and sizes["urls"] == 4
    assert reg.encodes == 10
    assert reg.data_url(shas[-1]) == first[-1] and reg.encodes == 10      # still cached: no encode
    again = reg.data_url(shas[0])                                         # evicted: encoded again
    assert reg.encodes == 11 and again == first[0]
    img = Image.open(io.BytesIO(base64.b64decode(again.split(",", 1)[1])))
    assert img.format == "JPEG" and max(img.size) == 32
    assert reg.cache_sizes()["urls"] == 4


def test_byte_bound_evicts_least_recently_used():
    cache = LRUCache(max_items=100, max_bytes=10)
    cache.put("a", 1, 4)
    cache.put("b", 2, 4)
    assert cache.get("a") == 1            # a is now the most recently used
    cache.put("c", 3, 4)                  # 12 bytes > 10: evict b (least recent), keep a and c
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3 and cache.bytes == 8
    cache.put("big", 4, 50)               # larger than the bound: kept alone (the newest is always kept)
    assert len(cache) == 1 and cache.get("big") == 4


def test_consecutive_requests_of_each_image_encode_once_with_small_caches():
    reg = ImageRegistry(ImageSettings(), max_images=2, max_urls=2)
    shas = [reg.add_bytes(_png(i)) for i in range(20)]
    for s in shas:                        # image order: all requests of one image are consecutive
        for _ in range(5):
            reg.data_url(s)
    assert reg.encodes == 20


def test_threads_asking_for_the_same_image_share_one_encode():
    reg = ImageRegistry(ImageSettings(max_side=64), max_images=64, max_urls=64)
    shas = [reg.add_bytes(_png(i, size=(400, 300))) for i in range(6)]
    barrier = threading.Barrier(8)

    def work(_):
        barrier.wait()
        return [reg.data_url(s) for s in shas]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    assert all(r == results[0] for r in results)
    assert reg.encodes == 6


def test_corrupt_image_names_its_culprit_and_does_not_block_later_calls(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    reg = ImageRegistry()
    sha = reg.add_file(bad)
    for _ in range(2):                    # a failed make must not leave the image marked as busy
        with pytest.raises(DataError) as e:
            reg.data_url(sha)
        assert str(bad) in str(e.value)
    assert reg.encodes == 0


def test_decompression_bomb_is_a_data_error_naming_the_file(tmp_path, monkeypatch):
    from PIL import Image

    from mmad_eval.errors import DataError
    from mmad_eval.prompt.images import ImageRegistry

    path = tmp_path / "huge.png"
    Image.new("RGB", (64, 64)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)      # 64x64 is then over twice the limit: a "bomb"
    reg = ImageRegistry()
    sha = reg.add_file(path)
    with pytest.raises(DataError, match="huge.png"):
        reg.pil(sha)


def _encoded(img: Image.Image, **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **save)
    return buf.getvalue()


def _sent(url: str) -> bytes:
    assert url.startswith("data:image/png;base64,")
    return base64.b64decode(url.split(",", 1)[1])


def test_png_needing_no_change_is_sent_as_its_original_bytes(tmp_path):
    rgb = Image.new("RGB", (40, 30), (12, 200, 90))
    rgb.putpixel((3, 4), (255, 0, 0))
    original = _encoded(rgb, compress_level=1)            # our own re-encoding would use another level
    path = tmp_path / "as_is.png"
    path.write_bytes(original)
    reg = ImageRegistry(ImageSettings(max_side=64))       # fits: no resize
    assert _sent(reg.data_url(reg.add_file(path))) == original and reg.encodes == 1

    # a change is needed: resize, alpha dropped, grey to RGB: re-encoded, same pixels as decoding would give
    for img, settings in ((rgb, ImageSettings(max_side=20)), (Image.new("RGBA", (8, 8), (1, 2, 3, 4)), ImageSettings()),
                          (Image.new("L", (8, 8), 77), ImageSettings())):
        reg = ImageRegistry(settings)
        sha = reg.add_bytes(_encoded(img, compress_level=1))
        sent = _sent(reg.data_url(sha))
        assert sent != _encoded(img, compress_level=1)
        got = Image.open(io.BytesIO(sent))
        assert got.mode == "RGB" and got.tobytes() == reg.pil(sha).tobytes()


def test_truncated_png_that_would_be_sent_as_is_names_its_file(tmp_path):
    data = _encoded(Image.new("RGB", (32, 32), (5, 6, 7)))
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) - 20])               # header fine, end missing
    reg = ImageRegistry()
    with pytest.raises(DataError, match="cut.png: corrupt or unreadable image"):
        reg.data_url(reg.add_file(path))


def test_as_is_follows_every_resize_mode():
    img = Image.new("RGB", (84, 56), (9, 99, 199))           # multiples of 28 within bounds: qwen-smart keeps it
    original = _encoded(img, compress_level=1)
    cases = [(ImageSettings(resize="fit-area", max_side=84), True),
             (ImageSettings(resize="fit-area", max_side=90), False),
             (ImageSettings(resize="qwen-smart"), True), (ImageSettings(resize="square", max_side=84), False),
             (ImageSettings(jpeg_roundtrip=True), False), (ImageSettings(format="jpeg"), False)]
    for settings, as_is in cases:
        reg = ImageRegistry(settings)
        url = reg.data_url(reg.add_bytes(original))
        sent = base64.b64decode(url.split(",", 1)[1])
        assert (sent == original) is as_is, settings


def test_a_png_resized_there_and_back_by_qwen_smart_is_not_sent_as_it_is():
    """qwen-smart resizes twice (qwen_vl_utils' bounds, then the processor's): a 28x28 image is enlarged to
    56x56 and, with max_pixels under 56x56, shrunk back to 28x28. Its size ends as it began but its pixels
    were resampled twice: the original bytes are not what prepare_image gives."""
    img = Image.effect_noise((28, 28), 60).convert("RGB")
    original = _encoded(img, compress_level=1)
    for settings in (ImageSettings(resize="qwen-smart", max_pixels=1000),
                     ImageSettings(resize="qwen-smart", min_pixels=100, max_pixels=200)):
        reg = ImageRegistry(settings)
        sha = reg.add_bytes(original)
        assert not reg.quick_to_send(sha), settings
        sent = _sent(reg.data_url(sha))
        assert sent != original and Image.open(io.BytesIO(sent)).tobytes() == reg.pil(sha).tobytes(), settings


def _with_chunk_flipped(data: bytes, kind: bytes) -> bytes:
    """The PNG with one byte inside the first ``kind`` chunk's data changed (its CRC no longer matches)."""
    at = data.index(kind) + 4 + 2
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def test_png_sent_as_is_has_every_chunk_checked_without_decoding_it(tmp_path):
    img = Image.new("RGB", (48, 40), (10, 20, 30))
    img.putpixel((1, 1), (200, 100, 0))
    original = _encoded(img, compress_level=1)
    path = tmp_path / "flipped.png"
    path.write_bytes(_with_chunk_flipped(original, b"IDAT"))
    reg = ImageRegistry()
    with pytest.raises(DataError, match=r"flipped.png: corrupt or unreadable image: broken PNG chunk b'IDAT' \(CRC\)"):
        reg.data_url(reg.add_file(path))
    # an animated PNG (more than one frame) is not sent as it is: its first frame is re-encoded
    buf = io.BytesIO()
    img.save(buf, "PNG", save_all=True, append_images=[Image.new("RGB", (48, 40), (0, 0, 0))])
    reg = ImageRegistry()
    sha = reg.add_bytes(buf.getvalue())
    sent = _sent(reg.data_url(sha))
    assert sent != buf.getvalue() and Image.open(io.BytesIO(sent)).tobytes() == img.tobytes()


def test_an_image_changed_or_removed_during_a_run_names_itself_and_is_never_sent_under_the_old_hash(tmp_path):
    path = tmp_path / "q.png"
    path.write_bytes(_encoded(Image.new("RGB", (16, 16), (1, 2, 3))))
    reg = ImageRegistry()
    sha = reg.add_file(path)
    path.write_bytes(_encoded(Image.new("RGB", (16, 16), (9, 9, 9))))     # edited after its hash was taken
    with pytest.raises(DataError, match="q.png: image changed on disk while the run was using it"):
        reg.data_url(sha)
    with pytest.raises(DataError, match="q.png: image changed on disk"):
        reg.pil(sha)
    path.unlink()
    with pytest.raises(DataError, match="q.png: image can no longer be read"):
        reg.data_url(sha)


def test_quick_to_send_is_a_small_png_sent_as_it_is_or_a_cached_url(tmp_path):
    from mmad_eval.prompt import images as images_module

    small = _encoded(Image.new("RGB", (40, 30), (1, 2, 3)))
    big = _encoded(Image.frombytes("RGB", (300, 300), bytes(range(256)) * 1054 + bytes(246)), compress_level=0)
    assert len(small) <= images_module.QUICK_BYTES < len(big)
    grey = _encoded(Image.new("L", (40, 30), 7))
    reg = ImageRegistry()
    s_small, s_big, s_grey = reg.add_bytes(small), reg.add_bytes(big), reg.add_bytes(grey)
    assert reg.quick_to_send(s_small) and not reg.quick_to_send(s_big) and not reg.quick_to_send(s_grey)
    reg.data_url(s_grey)                                   # once encoded, cached: quick
    assert reg.quick_to_send(s_grey)
    for settings in (ImageSettings(max_side=20), ImageSettings(format="jpeg"), ImageSettings(jpeg_roundtrip=True)):
        reg = ImageRegistry(settings)
        assert not reg.quick_to_send(reg.add_bytes(small)), settings


def _jpeg(img: Image.Image, **save) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88, **save)
    return buf.getvalue()


def _url_parts(url: str) -> tuple[str, bytes]:
    head, b64 = url.split(",", 1)
    return head, base64.b64decode(b64)


def test_source_format_sends_an_unchanged_jpeg_or_png_as_its_original_bytes(tmp_path):
    photo = Image.new("RGB", (64, 48), (120, 30, 200))
    photo.putpixel((5, 5), (0, 255, 0))
    original = _jpeg(photo)
    reg = ImageRegistry(ImageSettings(format="source"))
    assert _url_parts(reg.data_url(reg.add_bytes(original))) == ("data:image/jpeg;base64", original)
    png = _encoded(photo, compress_level=1)
    assert _url_parts(reg.data_url(reg.add_bytes(png))) == ("data:image/png;base64", png)
    bmp = io.BytesIO()
    photo.save(bmp, "BMP")                                  # neither: sent as PNG
    head, sent = _url_parts(reg.data_url(reg.add_bytes(bmp.getvalue())))
    assert head == "data:image/png;base64" and Image.open(io.BytesIO(sent)).tobytes() == photo.tobytes()

    # a change is needed: re-encoded, still as JPEG, with the pixels our decoding gives
    exif = Image.Exif()
    exif[0x0112] = 6                                        # "rotate 90": viewers would show other pixels
    changed = {"resized": (original, ImageSettings(format="source", max_side=32)),
               "rotated": (_jpeg(photo, exif=exif.tobytes()), ImageSettings(format="source")),
               "cmyk": (_jpeg(photo.convert("CMYK")), ImageSettings(format="source")),
               "grey": (_jpeg(photo.convert("L")), ImageSettings(format="source")),
               "round trip": (original, ImageSettings(format="source", jpeg_roundtrip=True))}
    for name, (data, settings) in changed.items():
        reg = ImageRegistry(settings)
        sha = reg.add_bytes(data)
        head, sent = _url_parts(reg.data_url(sha))
        assert head == "data:image/jpeg;base64" and sent != data, name
        assert Image.open(io.BytesIO(sent)).size == reg.pil(sha).size, name
    # an EXIF block that asks for no rotation: the file as it is, less its EXIF block (issue 24: the model is
    # not sent metadata), so the same segments as the file without EXIF
    exif[0x0112] = 1
    upright = _jpeg(photo, exif=exif.tobytes())
    reg = ImageRegistry(ImageSettings(format="source"))
    sent = _url_parts(reg.data_url(reg.add_bytes(upright)))[1]
    assert sent != upright and b"Exif" not in sent and sent == original
    # format "jpeg" re-encodes as before (answers stored under those keys saw re-encoded pixels)
    reg = ImageRegistry(ImageSettings(format="jpeg"))
    assert _url_parts(reg.data_url(reg.add_bytes(original)))[1] != original


def test_a_damaged_jpeg_sent_as_it_is_names_its_file(tmp_path):
    data = _jpeg(Image.new("RGB", (40, 40), (9, 9, 9)))
    for name, broken in (("cut.jpg", data[:-40]), ("short.jpg", data[:30])):
        path = tmp_path / name
        path.write_bytes(broken)
        reg = ImageRegistry(ImageSettings(format="source"))
        with pytest.raises(DataError, match=f"{name}: corrupt or unreadable image: truncated JPEG"):
            reg.data_url(reg.add_file(path))


def test_a_jpeg_with_stray_bytes_between_segments_is_decoded_not_failed():
    """Extraneous bytes between two segments (padding after an APPn, an escaped FF 00) are a warning for
    libjpeg and Pillow, which decode the image: with format "source" it is re-encoded, as with png/jpeg,
    never failed as a damaged file."""
    data = _jpeg(Image.new("RGB", (40, 40), (9, 90, 190)))
    at = data.index(b"\xff\xdb")                            # the first DQT
    for junk in (b"\0\0", b"\xff\x00", b"\x12"):
        odd = data[:at] + junk + data[at:]
        reg = ImageRegistry(ImageSettings(format="source"))
        sha = reg.add_bytes(odd)
        head, sent = _url_parts(reg.data_url(sha))
        assert head == "data:image/jpeg;base64" and Image.open(io.BytesIO(sent)).size == (40, 40), junk


def test_a_png_without_image_data_before_iend_is_not_sent_as_it_is(tmp_path):
    """A PNG whose IDAT is missing (or comes after IEND) has every chunk whole with a correct CRC, but no
    pixels: Pillow cannot load it, so it must fail as a bad image naming the file, not go to the server."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    data = _encoded(Image.new("RGB", (16, 16), (1, 2, 3)))
    ihdr, idat = data[8:33], data[33:data.index(b"IEND") - 4]
    assert idat[4:8] == b"IDAT"
    signature = data[:8]
    for name, body in [("no-idat.png", signature + ihdr + chunk(b"IEND", b"")),
                       ("idat-after-iend.png", signature + ihdr + chunk(b"IEND", b"") + idat)]:
        path = tmp_path / name
        path.write_bytes(body)
        reg = ImageRegistry()
        with pytest.raises(DataError, match=f"{name}: corrupt or unreadable image"):
            reg.data_url(reg.add_file(path))


def test_a_changed_file_is_replaced_by_another_file_with_the_same_bytes(tmp_path):
    same = _encoded(Image.new("RGB", (12, 12), (7, 7, 7)))
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(same)
    b.write_bytes(same)
    reg = ImageRegistry()
    sha = reg.add_file(a)
    assert reg.add_file(b) == sha
    a.write_bytes(_encoded(Image.new("RGB", (12, 12), (0, 99, 0))))     # the first one read is edited
    assert _sent(reg.data_url(sha)) == same                             # b still has the bytes
    b.unlink()
    reg = ImageRegistry()
    sha2 = reg.add_file(a)
    a.write_bytes(same)
    with pytest.raises(DataError, match="a.png: image changed on disk"):
        reg.data_url(sha2)


def test_prepared_size_is_read_from_the_header_and_equals_the_decoded_size(tmp_path):
    shapes = [(1122, 682), (96, 1453), (300, 300), (37, 20)]
    settings = [ImageSettings(max_side=37), ImageSettings(max_side=512), ImageSettings(resize="qwen-smart"),
                ImageSettings(resize="fit-area", max_side=448), ImageSettings(resize="square", max_side=336)]
    for s in settings:
        reg = ImageRegistry(s)
        for w, h in shapes:
            sha = reg.add_bytes(_encoded(Image.new("RGB", (w, h), (3, 3, 3)), compress_level=1))
            assert reg.prepared_size(sha) == reg.pil(sha).size, (s, w, h)
    bomb = tmp_path / "bad.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 30)
    reg = ImageRegistry()
    with pytest.raises(DataError, match="bad.png"):
        reg.prepared_size(reg.add_file(bomb))


def test_urls_on_read_makes_small_pngs_data_urls_from_the_bytes_hashed(tmp_path):
    """A backend that sends data URLs (the OpenAI one) has small PNGs encoded as the plan reads them: no second
    read and hash while sending; a damaged one is left to fail, naming itself, when its URL is asked for; at
    most half the URL cache is filled this way (the images read first are the ones sent first)."""
    reg = ImageRegistry(max_urls=4)
    reg.urls_on_read = True
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"p{i}.png")
        paths[-1].write_bytes(_encoded(Image.new("RGB", (20, 10), (i, 9, 9))))
    originals = [p.read_bytes() for p in paths]
    shas = [reg.add_file(p) for p in paths]
    assert reg.encodes == 2 and reg.encode_on_read_cpu_s > 0
    paths[0].unlink()                                       # not read again: its URL was made from the read
    assert _sent(reg.data_url(shas[0])) == originals[0] and reg.encodes == 2
    assert _sent(reg.data_url(shas[3])) == originals[3] and reg.encodes == 3     # made when asked
    bad = tmp_path / "bad.png"
    bad.write_bytes(_with_chunk_flipped(originals[1], b"IDAT"))
    reg = ImageRegistry()
    reg.urls_on_read = True
    sha = reg.add_file(bad)
    assert reg.encodes == 0
    with pytest.raises(DataError, match="bad.png: corrupt or unreadable image: broken PNG chunk"):
        reg.data_url(sha)
    from mmad_eval.backends.openai_api import OpenAIBackend
    from mmad_eval.backends.base import GenerationSettings

    reg = ImageRegistry()
    OpenAIBackend("m", GenerationSettings(), reg, base_url="http://127.0.0.1:9/v1", api_key="k")
    assert reg.urls_on_read
