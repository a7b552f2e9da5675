"""Helpers shared by several test areas (real servers started by tests)."""
