"""Jinja2 templates, one per target kind and API version (shipped as package data)."""
