"""The version of skdeepcluster, in a module of its own: model files record it, and nothing is imported here."""

__version__ = "0.1.0.dev0"
