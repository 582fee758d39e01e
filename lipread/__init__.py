"""lipread: visual speech recognition, from raw video of a talking face to text."""

__version__ = "0.1.0"
