"""agentnas: agentic neural architecture search with honest, isolated evaluation."""

__version__ = "0.1.0"
