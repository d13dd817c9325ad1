"""Use cases: each owns its transaction, decides authorization, publishes after commit."""
