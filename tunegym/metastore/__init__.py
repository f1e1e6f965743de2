"""Planned part of tunegym (see ARCHITECTURE.md); empty until its issue lands."""
