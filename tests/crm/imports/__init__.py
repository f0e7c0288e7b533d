"""Tests for the CSV reader and value parsers of the import."""
