"""ac-sync CLI (placeholder until the CLI lands)."""
