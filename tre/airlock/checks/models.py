"""Model weights and opaque serialisations: always elevated review, with a membership-inference
hook.

Weights can memorise training images; a pickle can hold any object (and runs code when loaded).
Neither can be proven harmless by reading bytes, so they are routed to two checkers. A node can
plug in a membership-inference test (``CheckContext.membership_inference``): a callable given
the file's name and bytes that returns extra findings (docs/airlock.md shows one).
"""

from __future__ import annotations

from tre.airlock.checks.context import CheckContext
from tre.airlock.checks.sniff import Content
from tre.domain.egress import Finding, Severity

CHECK = "models"

_WHAT = {
    Content.TORCH: "a PyTorch checkpoint (zip with data.pkl)",
    Content.PICKLE: "a Python pickle (can hold any object and runs code when loaded)",
    Content.HDF5: "an HDF5 file (model weights or arrays)",
    Content.NPY: "a NumPy array",
    Content.NPZ: "a NumPy archive of arrays",
}


def check(name: str, content: Content, data: bytes, ctx: CheckContext,
          where: str = "") -> list[Finding]:
    """Findings for weights, pickles and arrays."""
    findings = [Finding(
        CHECK, "model-weights" if content in (Content.TORCH, Content.PICKLE, Content.HDF5)
        else "array-data", Severity.WARN,
        f"{_WHAT[content]}: may memorise or hold patient data; needs elevated review", where)]
    if content in (Content.TORCH, Content.PICKLE, Content.HDF5):
        if ctx.membership_inference is None:
            findings.append(Finding(
                CHECK, "membership-inference-not-run", Severity.INFO,
                "no membership-inference test is configured on this node: reviewers judge "
                "the training set size and the model's capacity", where))
        else:
            findings += ctx.membership_inference(name, data)
    return findings
