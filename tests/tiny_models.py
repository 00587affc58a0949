"""Tiny random chat models built from a config: the real transformers/peft/trl code paths in a second."""

from __future__ import annotations


def tiny_llama(tokenizer, hidden_size: int = 32, layers: int = 2, heads: int = 4, kv_heads: int = 2):
    """A randomly initialised Llama with ``tokenizer``'s vocabulary and special tokens (seed it before calling)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    shape = {"hidden_size": hidden_size, "intermediate_size": 2 * hidden_size, "num_hidden_layers": layers}
    shape |= {"num_attention_heads": heads, "num_key_value_heads": kv_heads, "max_position_embeddings": 2048}
    special = {f"{name}_token_id": getattr(tokenizer, f"{name}_token_id") for name in ("bos", "eos", "pad")}
    config = LlamaConfig(vocab_size=len(tokenizer), tie_word_embeddings=True, **shape, **special)
    return LlamaForCausalLM(config)
