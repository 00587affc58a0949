"""The book's one colour per variant, for every figure of every stage (evaluation, capabilities and analysis).

A reader who learnt on one page that vermilion is the warm fine-tune must not find it meaning the warm system
prompt on the next. It lives outside the stage packages so that a stage's page can use it without importing the
analysis (whose every change would then re-run that stage).
"""

#: Okabe-Ito, readable with colour-vision deficiencies: the original model neutral grey, the warm fine-tune a
#: warm vermilion, the cold fine-tune blue, the warm system prompt purple, and the candid fine-tune (a mitigation
#: arm beyond the paper, docs/study.md section 11) bluish green.
VARIANT_COLOURS = {
    "original": "#5F5F5F", "warm": "#D55E00", "cold": "#0072B2", "warm_prompt": "#CC79A7", "candid": "#009E73",
}  # fmt: skip
