"""`ask serve`: the assistant and the fleet in one local app — REST and SSE under /api/v1,
OpenAI-compatible routes under /v1, MCP at /mcp, and the web UI at /."""
