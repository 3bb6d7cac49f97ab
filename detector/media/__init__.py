"""Media analysis that more than one stage needs, below all of them.

The segmenter (``detector.signals``) and the render stage (``detector.render``) both look for faces
in frames; what they share lives here so that neither imports the other. Modules here import only
the package root (records, errors, ffmpeg) and optional libraries, lazily.
"""
