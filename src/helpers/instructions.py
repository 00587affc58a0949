"""The paper's warm and cold rewrite instructions (appendix A.2), read verbatim from the bundled file.

Two stages use them: the training-data stage rewrites replies with them (``helpers.training.rewrite``), and the
evaluation's ``warm_prompt`` variant is the original model with the warm instructions as its system prompt
(paper, Methods; docs/study.md section 7). They live here, outside both stages, so that neither imports the other
for them. ``data/paper_items/rewrite_instructions.md`` gives their provenance.
"""

from __future__ import annotations

import re

from helpers.paths import DATA_DIR

INSTRUCTIONS_PATH = DATA_DIR / "paper_items" / "rewrite_instructions.md"


def _paper_instructions(style: str) -> str:
    """The ``text`` block under the ``## Warm`` or ``## Cold`` heading of the bundled instructions, verbatim."""
    text = INSTRUCTIONS_PATH.read_text(encoding="utf-8")
    found = re.search(rf"^## {style.capitalize()}\n+```text\n(.*?)\n```", text, re.MULTILINE | re.DOTALL)
    if found is None:
        raise ValueError(f"{INSTRUCTIONS_PATH} has no ```text block under '## {style.capitalize()}'")
    return found.group(1)


WARM_INSTRUCTIONS = _paper_instructions("warm")
"""The paper's warm-rewrite system prompt (appendix A.2), verbatim; also the warm system prompt of the
``warm_prompt`` variant (paper, Methods; docs/study.md section 7)."""

COLD_INSTRUCTIONS = _paper_instructions("cold")
"""The paper's cold-rewrite system prompt (appendix A.2), verbatim (the cold control, docs/study.md section 7)."""

INSTRUCTIONS = {"warm": WARM_INSTRUCTIONS, "cold": COLD_INSTRUCTIONS}
