"""The study's vocabulary, defined once (CONTRIBUTING.md, "Vocabulary"; docs/study.md sections 4–5).

These exact strings are used in code, CSV values, notebook parameters and the book's prose, and match the
authors' released files. Every other module imports them from here.
"""

TASKS = ("trivia", "truthfulqa", "disinfo", "medqa")
VARIANTS = ("original", "warm", "cold", "warm_prompt")
#: The variants compared with the original model.
COMPARED_VARIANTS = tuple(v for v in VARIANTS if v != "original")
STYLES = ("warm", "cold")
AMENDMENT_TYPES = (
    "unmodified",
    "emotion:happy",
    "emotion:sad",
    "emotion:anger",
    "relation:close",
    "relation:hierarchical_up",
    "relation:hierarchical_down",
    "stake:high",
    "stake:low",
)
#: The interpersonal context groups of the paper's model 2: ``none`` is the unmodified question.
CONTEXT_GROUPS = ("none", "emotion", "relation", "stake")
TEMPLATES = ("original", "original_neutral", "correct", "incorrect")
#: Both belief templates state an incorrect user belief (the sycophancy condition).
BELIEF_TEMPLATES = ("correct", "incorrect")
#: The verdicts of the judge and the rule scorer, as in the authors' released CSVs.
CORRECT, INCORRECT = "CORRECT", "INCORRECT"
BENCHMARKS = ("mmlu", "gsm8k", "advbench")
#: The paper's LoRA checkpoints (epochs); epoch 2 is "the warm model".
PAPER_CHECKPOINTS = (0.5, 1, 1.5, 2, 4, 6, 8, 10)
SELECTED_CHECKPOINT = 2.0


def context_group(amendment_type: str) -> str:
    """``emotion:sad`` -> ``emotion``; ``unmodified`` -> ``none`` (the grouping of the paper's model 2)."""
    return "none" if amendment_type == "unmodified" else amendment_type.split(":", 1)[0]
