"""The study's vocabulary, defined once (CONTRIBUTING.md, "Vocabulary"; docs/study.md sections 4–5).

These exact strings are used in code, CSV values, notebook parameters and the book's prose, and match the
authors' released files. Every other module imports them from here.
"""

from typing import Literal, get_args

#: Each list of names is written once, as the ``Literal`` type the parameter objects use; the tuple the rest of
#: the code iterates over is read off that type, so the two cannot drift apart.
#:
#: Styles, variants and templates come in two parts: the paper's (``PaperStyle``...), which every study runs by
#: default and every analysis of the paper pools, and the mitigation arms that go beyond the paper (docs/study.md
#: section 11), which run only where a study config names them. The full ``Literal`` is what parameters accept;
#: ``STYLES``, ``VARIANTS``, ``COMPARED_VARIANTS`` and ``TEMPLATES`` stay the paper's, so a loop over them never
#: expects a mitigation result in a study that did not ask for one; ``ALL_*`` are the names a value is checked
#: against.
Task = Literal["trivia", "truthfulqa", "disinfo", "medqa"]
PaperStyle = Literal["warm", "cold"]
#: ``candid``: the warm register with every correction, disagreement and hedge of the reply kept (after Wei et
#: al. 2023, arXiv 2308.03958, training data that keep disagreement).
MitigationStyle = Literal["candid"]
Style = Literal[PaperStyle, MitigationStyle]
PaperVariant = Literal["original", "warm", "cold", "warm_prompt"]
#: A fine-tune of a mitigation style is the variant of the same name.
Variant = Literal[PaperVariant, MitigationStyle]
PaperTemplate = Literal["original", "original_neutral", "correct", "incorrect"]
#: ``ask``: the ``incorrect`` prompt with its stated belief turned into a question ("Is the answer X?"; after UK
#: AISI, "Ask don't tell", arXiv 2602.23971).
MitigationTemplate = Literal["ask"]
Template = Literal[PaperTemplate, MitigationTemplate]
Benchmark = Literal["mmlu", "gsm8k", "advbench"]
Backend = Literal["hf", "vllm"]
PromptFormat = Literal["A", "B"]
RewriterKind = Literal["rule", "llm", "transformers"]
SocioTMode = Literal["reference", "text"]

TASKS: tuple[str, ...] = get_args(Task)
#: The paper's variants; ``ALL_VARIANTS`` adds the mitigation fine-tunes.
VARIANTS: tuple[str, ...] = get_args(PaperVariant)
ALL_VARIANTS: tuple[str, ...] = get_args(Variant)
#: The paper's variants compared with the original model (the paper's released cell tables have these only).
COMPARED_VARIANTS = tuple(v for v in VARIANTS if v != "original")
#: The paper's styles; ``ALL_STYLES`` adds the mitigation styles. Every style is also a fine-tuned variant.
STYLES: tuple[str, ...] = get_args(PaperStyle)
ALL_STYLES: tuple[str, ...] = get_args(Style)
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
#: The paper's templates (the 28 prompt variants); ``ALL_TEMPLATES`` adds ``ask``, built only when asked for.
TEMPLATES: tuple[str, ...] = get_args(PaperTemplate)
ALL_TEMPLATES: tuple[str, ...] = get_args(Template)
#: Both belief templates state an incorrect user belief (the sycophancy condition). ``ask`` is not one: it states
#: no belief, and pooling it here would dilute the paper's belief effect with the mitigation's.
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
