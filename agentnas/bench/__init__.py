"""Benchmarks that measure this machine (`agentnas bench ...`)."""
