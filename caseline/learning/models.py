"""Post-mortems, their action items, and the trends read from them (SPEC §7).

Tables only; every change goes through ``services.py`` (docs/learning.md).
"""
