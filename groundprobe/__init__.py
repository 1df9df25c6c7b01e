"""groundprobe: how well speech in web videos is grounded in what they show (Hessel et al. 2020)."""

__version__ = "0.1.0"
