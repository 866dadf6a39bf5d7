"""Placeholder: commands of this family are not written yet."""

COMMANDS: list = []
