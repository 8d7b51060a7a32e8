"""Notifications: an outbox written in the cause's transaction, delivered by the worker in the app
(list and Server-Sent Events), by Web Push and by text message."""
