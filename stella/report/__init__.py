"""The book's side of stella: everything the notebooks compute, built on the core package.

Core modules (config, store, data, models, selection, continual, eval, cli) never import
this package; tests/test_architecture.py enforces the direction (docs/ARCHITECTURE.md).
"""
