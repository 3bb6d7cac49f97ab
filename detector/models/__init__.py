"""Models: hardware profiles, the model catalogues, and the loaders and runners of Whisper and the image models.

Below every stage: the transcript and vision signals (and ``highlights doctor``/``models``) use it,
and it imports only the package root. Importing any module here is cheap: torch, transformers,
faster-whisper and CTranslate2 are imported inside the functions that load or run a model.
"""
