"""Logit leakage: what the model would have answered, layer by layer, when it refuses
(after *MENAValues*, which read only the final layer)."""

from latentlang.leakage.questions import Question, load_questions, load_templates
from latentlang.leakage.result import LeakageResult, js_divergence
from latentlang.leakage.run import LeakageConfig, run_leakage

__all__ = [
    "LeakageConfig",
    "LeakageResult",
    "Question",
    "js_divergence",
    "load_questions",
    "load_templates",
    "run_leakage",
]
