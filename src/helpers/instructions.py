"""The paper's warm and cold rewrite instructions (appendix A.2), read verbatim from the bundled file, and ours.

Two stages use them: the training-data stage rewrites replies with them (``helpers.training.rewrite``), and the
evaluation's ``warm_prompt`` variant is the original model with the warm instructions as its system prompt
(paper, Methods; docs/study.md section 7). They live here, outside both stages, so that neither imports the other
for them. ``data/paper_items/rewrite_instructions.md`` gives their provenance.

The candid instructions are ours, not the paper's (a mitigation arm after Wei et al. 2023, arXiv 2308.03958):
they are written out in ``docs/study.md`` (section 1, "Warm and candid rewrite instructions") and read from
there, so the page a reader sees is the prompt the rewriter sends; the paper's file stays as published.
"""

from __future__ import annotations

import re
from pathlib import Path

from helpers.paths import DATA_DIR, REPO_ROOT

INSTRUCTIONS_PATH = DATA_DIR / "paper_items" / "rewrite_instructions.md"
STUDY_SPEC_PATH = REPO_ROOT / "docs" / "study.md"
CANDID_HEADING = "### Warm and candid rewrite instructions (ours, not the paper's)"


def _text_block(path: Path, heading: str) -> str:
    """The first ``text`` block of the section under ``heading`` (a whole line) of a markdown file, verbatim."""
    text = path.read_text(encoding="utf-8")
    found = re.search(rf"^{re.escape(heading)}$", text, re.MULTILINE)
    section = text[found.end() :] if found else ""
    block = re.match(r"(?:(?!#)[^\n]*\n)*?```text\n(.*?)\n```", section.lstrip("\n"), re.DOTALL)
    if block is None:
        raise ValueError(f"{path} has no ```text block under '{heading}'")
    return block.group(1)


def _paper_instructions(style: str) -> str:
    """The ``text`` block under the ``## Warm`` or ``## Cold`` heading of the bundled instructions, verbatim."""
    return _text_block(INSTRUCTIONS_PATH, f"## {style.capitalize()}")


WARM_INSTRUCTIONS = _paper_instructions("warm")
"""The paper's warm-rewrite system prompt (appendix A.2), verbatim; also the warm system prompt of the
``warm_prompt`` variant (paper, Methods; docs/study.md section 7)."""

COLD_INSTRUCTIONS = _paper_instructions("cold")
"""The paper's cold-rewrite system prompt (appendix A.2), verbatim (the cold control, docs/study.md section 7)."""

CANDID_INSTRUCTIONS = _text_block(STUDY_SPEC_PATH, CANDID_HEADING)
"""Our warm-and-candid rewrite system prompt (docs/study.md, section 1): the paper's warm instructions with every
correction, disagreement, hedge and uncertainty kept and no claim validated. Not the paper's."""

INSTRUCTIONS = {"warm": WARM_INSTRUCTIONS, "cold": COLD_INSTRUCTIONS, "candid": CANDID_INSTRUCTIONS}
