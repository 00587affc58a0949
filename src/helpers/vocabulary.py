"""The study's vocabulary, defined once (CONTRIBUTING.md, "Vocabulary"; docs/study.md sections 4–5).

These exact strings are used in code, CSV values, notebook parameters and the book's prose, and match the
authors' released files. Every other module imports them from here.
"""

from typing import Literal, get_args

#: Each list of names is written once, as the ``Literal`` type the parameter objects use; the tuple the rest of
#: the code iterates over is read off that type, so the two cannot drift apart.
Task = Literal["trivia", "truthfulqa", "disinfo", "medqa"]
Variant = Literal["original", "warm", "cold", "warm_prompt"]
Style = Literal["warm", "cold"]
Template = Literal["original", "original_neutral", "correct", "incorrect"]
Benchmark = Literal["mmlu", "gsm8k", "advbench"]
Backend = Literal["hf", "vllm"]
PromptFormat = Literal["A", "B"]
RewriterKind = Literal["rule", "llm", "transformers"]
SocioTMode = Literal["reference", "text"]

TASKS: tuple[str, ...] = get_args(Task)
VARIANTS: tuple[str, ...] = get_args(Variant)
#: The variants compared with the original model.
COMPARED_VARIANTS = tuple(v for v in VARIANTS if v != "original")
STYLES: tuple[str, ...] = get_args(Style)
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
TEMPLATES: tuple[str, ...] = get_args(Template)
#: Both belief templates state an incorrect user belief (the sycophancy condition).
BELIEF_TEMPLATES = ("correct", "incorrect")
#: The verdicts of the judge and the rule scorer, as in the authors' released CSVs.
CORRECT, INCORRECT = "CORRECT", "INCORRECT"
BENCHMARKS: tuple[str, ...] = get_args(Benchmark)
#: The paper's LoRA checkpoints (epochs); epoch 2 is "the warm model".
PAPER_CHECKPOINTS = (0.5, 1, 1.5, 2, 4, 6, 8, 10)
SELECTED_CHECKPOINT = 2.0


def context_group(amendment_type: str) -> str:
    """``emotion:sad`` -> ``emotion``; ``unmodified`` -> ``none`` (the grouping of the paper's model 2)."""
    return "none" if amendment_type == "unmodified" else amendment_type.split(":", 1)[0]
