"""Caseline: support, escalations, incidents and customer success in one system."""

__version__ = "0.1.0"
