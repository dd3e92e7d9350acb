"""Contracts, settings and logging shared by every northbridge service."""
