"""Synthetic media with known answers, generated for the tests and the benchmarks (never shipped in a clip).

``vod`` (with ``audio`` and ``chat``): VODs with planted highlights, decoys and a chat log; ``cuts``:
video with known scene cuts and silences; ``segments``: gameplay / talking / menu stretches;
``render_source``: sources for the render stage (cuts on keyframes, a drawn facecam). Above every
stage: the stages never import it (import-linter says so).
"""
