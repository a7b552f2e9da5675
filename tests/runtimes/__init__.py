"""Tests of the runtime servers (one package per language, plus the shared contract)."""
