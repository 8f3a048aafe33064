"""The contract as code: configurations, parameter layout, clause catalogue, NumPy oracle."""
