"""Optional plug-in: anomalib's PatchCore as the expert (``pip install anomalib``; needs torch/torchvision).

Offline use requires ``pre_trained=False`` (the default backbone download needs a model hub); without
pretrained weights PatchCore is much weaker than the built-in detector on our synthetic set (notes: image
AUROC 0.70 vs 0.94), so this is for users who load their own weights. Same API as ``Detector``:
``fit(normal_images)`` then ``predict(image) -> (map, score)``. A third of the references is held out to
set the image threshold (their highest score); the memory bank is built from the rest.
Written against anomalib 2.x's ``PatchcoreModel``; not exercised in CI (the extra is not installed there).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from ...errors import MissingExtraError


def _import():
    try:
        from anomalib.models.image.patchcore.torch_model import PatchcoreModel  # imports torch itself
        import torch
    except ImportError:
        raise MissingExtraError("anomalib", "anomalib") from None
    return torch, PatchcoreModel


class AnomalibDetector:
    def __init__(self, side: int = 256, backbone: str = "wide_resnet50_2", pre_trained: bool = False,
                 coreset_ratio: float = 0.1):
        self.side, self.backbone, self.pre_trained, self.coreset_ratio = side, backbone, pre_trained, coreset_ratio
        self.n_references = 0

    def _tensor(self, images: list[np.ndarray]):
        torch, _ = self._mods
        arrs = [np.asarray(Image.fromarray(np.asarray(im)[..., :3].astype(np.uint8)).convert("RGB")
                           .resize((self.side, self.side), Image.Resampling.BILINEAR), np.float32) / 255.0
                for im in images]
        return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()

    def _infer(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        torch, _ = self._mods
        self.model.eval()
        with torch.no_grad():
            out = self.model(self._tensor(images))
        maps = getattr(out, "anomaly_map", None)
        scores = getattr(out, "pred_score", None)
        if maps is None and isinstance(out, dict):
            maps, scores = out["anomaly_map"], out["pred_score"]
        if maps is None:
            maps, scores = out
        return maps.reshape(len(images), self.side, self.side).cpu().numpy(), scores.reshape(-1).cpu().numpy()

    def fit(self, normal_images: list[np.ndarray]) -> "AnomalibDetector":
        self._mods = _import()
        torch, PatchcoreModel = self._mods
        n_hold = max(1, len(normal_images) // 3) if len(normal_images) >= 3 else 0
        bank, held = normal_images[: len(normal_images) - n_hold], normal_images[len(normal_images) - n_hold:]
        self.model = PatchcoreModel(layers=["layer2", "layer3"], backbone=self.backbone,
                                    pre_trained=self.pre_trained)
        self.model.train()
        with torch.no_grad():
            embedding = self.model(self._tensor(bank))
        self.model.subsample_embedding(embedding, self.coreset_ratio)
        held_scores = self._infer(held)[1] if held else self._infer(bank)[1]
        self.threshold = float(held_scores.max())
        self.normal_range = (float(held_scores.min()), float(held_scores.max()))
        self.n_references = len(normal_images)
        return self

    def predict(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        maps, scores = self._infer([image])
        h, w = np.asarray(image).shape[:2]
        amap = np.asarray(Image.fromarray(maps[0].astype(np.float32), mode="F").resize((w, h)))
        return amap.astype(np.float32), float(scores[0])
