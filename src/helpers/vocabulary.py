"""The study's vocabulary, defined once (CONTRIBUTING.md, "Vocabulary"; STUDY.md sections 4–5).

These exact strings are used in code, CSV values, notebook parameters and the book's prose, and match the
authors' released files.
"""

TASKS = ("trivia", "truthfulqa", "disinfo", "medqa")
VARIANTS = ("original", "warm", "cold", "warm_prompt")
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
TEMPLATES = ("original", "original_neutral", "correct", "incorrect")
BELIEF_TEMPLATES = ("correct", "incorrect")
