"""Evaluation and benchmarks: the domain gold set, BEIR, XQuAD-R and peer pipelines."""
