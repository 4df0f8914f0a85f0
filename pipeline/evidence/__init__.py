"""What proved each accepted change: its evidence level (static, imported, exercised, shadowed), the tests
that ran its changed lines (from coverage.py's per-test contexts), and the policy that requires a level."""
