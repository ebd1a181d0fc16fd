"""The validator's checks, one module per concern; each yields Findings."""
