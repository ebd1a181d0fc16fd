"""Benchmarks: each measures Plumb beside an anchor in the same run."""
