"""Analysis and benchmark tools (run as scripts; importable for their tests)."""
