"""Retrieval core: parse → chunk → embed → store → search."""
