"""Thin routers: parse, call the knowledge base, return its models."""
