"""evals: benchmarks that say whether Plumb's answers are right (retrieval first)."""
