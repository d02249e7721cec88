"""The math accuracy verifier (``design/math-conventions.md``).

- ``verify(response, gold)``: grade one response, bounded (time budget, memory cap) in worker
  processes; for trainers that want no server.
- ``MathVerifier``: the same as an owned pool (what the engine and the service use).
- ``grade(response, gold)``: the grading function itself, unbounded, in the calling process.
- ``extract_answer(response)``: which answer a response gives (section 1 of the conventions).
"""

from .compare import MathGrade, grade
from .extract import Extraction, extract_answer
from .verifier import MathVerifier, VerifierError, verify

__all__ = ["Extraction", "MathGrade", "MathVerifier", "VerifierError", "extract_answer", "grade", "verify"]
