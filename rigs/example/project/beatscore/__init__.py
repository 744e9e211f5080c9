"""Scoring for a rhythm workout game."""
