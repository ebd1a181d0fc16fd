"""Retrieval benchmark: labelled engineer queries against the local index."""
