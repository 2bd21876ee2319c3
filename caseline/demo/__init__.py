"""Demo data for `caseline demo`: realistic accounts, staff and ticket conversations.

``content`` holds the data (names, domains, conversation scripts); ``seed`` writes it
through the services, deterministically and idempotently.
"""
