"""Embeddings, the Qdrant store, hybrid retrieval and cited answers."""

__version__ = "0.1.0"
