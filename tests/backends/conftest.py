"""Fixtures for backend tests: small PNG images on disk (helpers live in backend_helpers.py)."""
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def image_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("imgs")
    paths = []
    for i, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        p = d / f"img{i}.png"
        img = Image.new("RGB", (40, 32), colour)
        img.putpixel((i, i), (255, 255, 255))
        img.save(p)
        paths.append(p)
    return paths
