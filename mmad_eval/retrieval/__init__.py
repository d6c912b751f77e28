"""Nearest-normal image retrieval shared by question generation (``similar_templates``) and the run's
``--templates retrieved``: image embedders (:mod:`.embed`) and the per-category index (:mod:`.index`)."""
