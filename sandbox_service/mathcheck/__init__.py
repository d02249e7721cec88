"""The math accuracy verifier (``design/math-conventions.md``); in progress, see issue 4.

So far: ``extract_answer`` (which answer a response gives). Parsing, equivalence, the bounded worker
processes and serving through the engine come next.
"""

from .extract import Extraction, extract_answer

__all__ = ["Extraction", "extract_answer"]
