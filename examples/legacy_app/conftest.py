"""Puts examples/legacy_app on sys.path so the tests import `legacy_app` from any working directory."""
