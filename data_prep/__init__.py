"""Dataset-building stage of lipread: video -> landmarks -> mouth crops -> dataset folder.

This package never imports :mod:`lipread`; the dependency runs the other way so that
transcription can reuse exactly the cropping code that built the training data.
"""

__version__ = "0.1.0"
