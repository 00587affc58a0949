"""Stage 1-2: warm and cold training data (ShareGPT rewrites) and LoRA fine-tuning (paper, Methods)."""
