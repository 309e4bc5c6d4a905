"""Events the service tells customers about (outgoing webhooks)."""
