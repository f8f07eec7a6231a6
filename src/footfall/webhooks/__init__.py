"""Outgoing webhooks: subscriptions, their deliveries, signing and the guard on where they go."""
