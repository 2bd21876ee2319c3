"""The email channel. ``caseline.mail.parsing`` is the pure parsing core (no Django):
raw bytes in, ``ParsedMessage`` and ``Classification`` out."""
