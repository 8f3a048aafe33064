"""The suite's tests of itself: oracle vs torch, tolerances, fault catalogue, plugin end to end."""
