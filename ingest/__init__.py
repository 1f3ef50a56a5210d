"""Files to structured, cited chunks: loaders, metadata and chunking.

This package is the leaf of the dependency graph: it never imports ``kb`` or ``api``.
"""
