"""TaskBell: real-time task status notifications over GraphQL subscriptions."""
