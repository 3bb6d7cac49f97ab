"""The learned window ranker: chat features per window → a model's score (the chat part of fusion).

``messages`` (per-message attributes) → ``features`` (scale-free window features per bin) →
``model`` (a logistic regression stored as JSON, numpy-only inference; the shipped default is
``default_model.json``) → the chat signal's ``ranker`` feature. ``training`` turns labelled chat into
samples; ``fit`` fits the default (scikit-learn, a dev extra); ``adapt`` re-weights it for one
community from its own labels (numpy).
"""
