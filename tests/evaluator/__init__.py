"""The isolated evaluator, attacked and exercised for real, against every backend."""
