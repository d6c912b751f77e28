"""OpenAIBackend's prepare pipeline and client shards: order, bounded caches, exact round robin, limits."""
from PIL import Image

from backend_helpers import make_request, run_backend
from mmad_eval.backends.base import GenerationSettings
from mmad_eval.backends.openai_api import OpenAIBackend
from mmad_eval.prompt.images import ImageRegistry, ImageSettings
from mmad_eval.testing import FakeOpenAIServer

FAST = {"backoff_s": 0.01, "backoff_max_s": 0.05, "timeout": 5.0, "api_key": "x"}


def _images(tmp_path, n):
    paths = []
    for i in range(n):
        p = tmp_path / f"im{i}.png"
        Image.new("RGB", (60, 50), (i * 40 % 256, 90, 10)).save(p)
        paths.append(p)
    return paths


def test_requests_in_image_order_encode_each_image_once_with_tiny_caches(tmp_path):
    # look-ahead 4 + 4 workers span at most 3 images of 4 requests each: a 6-URL cache never evicts one in use
    reg = ImageRegistry(ImageSettings(max_side=32), max_images=2, max_urls=6)
    paths = _images(tmp_path, 12)
    items = [(f"k{i}-{j}", make_request(reg, text=f"Q{j} of {i}?\nA. y\nB. n", images=[p]))
             for i, p in enumerate(paths) for j in range(4)]
    with FakeOpenAIServer(latency_s=0.005) as srv:
        be = OpenAIBackend("m", GenerationSettings(), reg, base_url=srv.base_url, concurrency=4,
                           prepare_threads=3, lookahead=4, **FAST)
        got = run_backend(be, items)
        bodies = srv.requests
    assert all(r.ok for r in got.values())
    assert reg.encodes == 12 and reg.cache_sizes()["urls"] <= 6
    assert len({b["messages"][0]["content"][0]["image_url"]["url"] for b in bodies}) == 12
    assert be.describe()["transport"]["prepare_threads"] == 3 and be.describe()["transport"]["lookahead"] == 4


def test_many_in_flight_over_two_servers_with_sharded_clients():
    reg = ImageRegistry()
    with FakeOpenAIServer(latency_s=0.05) as a, FakeOpenAIServer(latency_s=0.05) as b:
        be = OpenAIBackend("m", GenerationSettings(), reg, base_url=[a.base_url, b.base_url], concurrency=48,
                           **FAST)
        got = run_backend(be, [(f"k{i}", make_request(reg, text=f"Q{i}\nA. y\nB. n")) for i in range(96)])
        assert a.count == 48 and b.count == 48                   # exact round robin across endpoints
        assert a.max_in_flight + b.max_in_flight <= 48
        assert a.max_in_flight > 8 and b.max_in_flight > 8
    assert all(r.ok for r in got.values())


def test_unexpected_json_shape_is_malformed_not_text():
    responses = [{"choices": []}, {"choices": [{"message": {"content": ["x"]}, "finish_reason": "stop"}]}]

    class Shaped(FakeOpenAIServer):
        def completion(self, index, body, fault):
            return responses[index]

    with Shaped() as srv:
        be = OpenAIBackend("m", GenerationSettings(), ImageRegistry(), base_url=srv.base_url, concurrency=1,
                           **FAST)
        got = run_backend(be, [("a", make_request(ImageRegistry())), ("b", make_request(ImageRegistry()))])
    assert got["a"].error_type == "malformed_response" and got["a"].text is None
    assert got["b"].error_type == "malformed_response" and got["b"].text is None
