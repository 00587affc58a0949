"""Batched chat generation with a resumable cache.

The paper samples one answer per prompt at temperature 0.8 with at most 300 new tokens, with no system prompt
(docs/study.md section 4); the warm-system-prompt control adds one. Generation is batched through the model's chat
template and the KV cache — about four times faster than one prompt at a time on a 2-core CPU (docs/design.md).

The decode loop is ours rather than ``model.generate`` because, on a CPU, the plain loop spends much of its time
on work whose result is thrown away (docs/design.md, "Known pitfalls"):

- a row that has stopped keeps its batch slot until the longest answer ends; here the next prompt of its group
  takes the slot at once (slot refill, :class:`_GroupDecoder`), and once a group has no prompt left a stopped
  row leaves the batch and its KV cache (``DynamicCache.batch_select_indices``);
- every prompt repeats the chat template's opening (SmolLM2 adds a 20-token default system prompt); the prefix
  that a batch's prompts share is run once and its KV cache repeated over the rows;
- prompts are sorted by their length in tokens, so batches carry little padding;
- the KV cache is allocated once at its final length (prompt plus answer cap) and written in place, where
  ``DynamicCache`` concatenates every layer's keys and values at every step (a fifth of a decode step at batch 64).

Groups (``GROUP_BATCHES`` batches' worth of prompts) are planned over all of a call's prompts before any is
generated, sorted by (length, seed key), and a group's prompts enter its slots in that order, so the schedule of
every group, and with it the arithmetic of every row, does not depend on what a cache already holds: a resumed
run gives exactly the answers of an uninterrupted one in any precision. Each row samples from a
random stream seeded by its own seed key (the cache key without the model's precision, so a bfloat16 and a float32
run sample from the same streams). Every finished group is appended to a JSONL cache, so an interrupted
run resumes where it stopped and a rerun regenerates nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers.cache_utils import DynamicCache, DynamicLayer

from helpers.storage import append_jsonl, read_jsonl
from helpers.validation import check_non_negative_float, check_positive_int


@dataclass(frozen=True)
class GenerationSettings:
    """How answers are sampled. Defaults are the paper's (temperature 0.8, 300 new tokens)."""

    temperature: float = 0.8
    max_new_tokens: int = 300
    batch_size: int = 16
    seed: int = 0
    system_prompt: str | None = None

    def __post_init__(self) -> None:
        check_non_negative_float("temperature", self.temperature)
        check_positive_int("max_new_tokens", self.max_new_tokens)
        check_positive_int("batch_size", self.batch_size)


def chat_messages(prompt: str, system_prompt: str | None = None) -> list[dict[str, str]]:
    """One user turn, optionally preceded by a system prompt (the warm-prompt control, docs/study.md section 7)."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return messages + [{"role": "user", "content": prompt}]


def cache_key(model_id: str, prompt: str, settings: GenerationSettings, precision: str = "") -> str:
    """Identify one generation by everything that changes its output.

    ``precision`` (:func:`model_precision`: dtype and device type) is part of it because the same weights give
    other answers in bfloat16 than in float32, and other answers on a GPU than on a CPU: a cache filled in one
    precision must not answer for another. Without it (``""``) the key is the answer's *seed key*: what its random
    stream is drawn from, so the same prompt samples from the same stream in every precision.
    """
    fields = {"model": model_id, "prompt": prompt, **asdict(settings)} | (
        {"precision": precision} if precision else {}
    )
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def model_precision(model) -> str:
    """The arithmetic a loaded model answers in, for the cache key: its dtype and device type, "float32@cpu"."""
    return f"{str(model.dtype).removeprefix('torch.')}@{model.device.type}"


def prompt_token_ids(tokenizer, prompts: Sequence[str], system_prompt: str | None = None) -> list[list[int]]:
    """Token ids of each prompt wrapped in the model's chat template, ready for the assistant's answer."""
    texts = [
        tokenizer.apply_chat_template(
            chat_messages(p, system_prompt), tokenize=False, add_generation_prompt=True
        )
        for p in prompts
    ]
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def plan_batches(keys: Sequence[str], lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices of ``keys`` in batches of ``batch_size``, sorted by (prompt length, key).

    The plan depends only on the prompts, never on a cache's state, so every batch — and every row's
    arithmetic, which in bfloat16 depends on its batch — is the same in a resumed run as in an uninterrupted one.
    """
    order = sorted(range(len(keys)), key=lambda i: (lengths[i], keys[i]))
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def _row_generator(key: str) -> torch.Generator:
    """The random stream of one answer, seeded by its seed key (which holds the settings' seed)."""
    return torch.Generator().manual_seed(int(key[:15], 16))


def _sample(probs: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """One token per row, drawn from the row's distribution with one uniform number from the row's own stream.

    Inverse-CDF sampling over the whole batch at once: the same distribution as ``torch.multinomial`` row by row
    (which drew a tenth of the decode time on a 2-core CPU), and each row's draw still depends only on its key.
    """
    uniform = torch.cat([torch.rand(1, generator=g) for g in generators])
    cdf = probs.cumsum(dim=-1)
    tokens = torch.searchsorted(cdf, (uniform * cdf[:, -1]).unsqueeze(-1), side="right").squeeze(-1)
    return tokens.clamp_(max=probs.shape[-1] - 1)


def _stop_token_ids(model, tokenizer) -> torch.Tensor:
    """The tokens that end an answer: the generation config's EOS ids (as ``model.generate`` uses them)."""
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    return torch.tensor(sorted({eos} if isinstance(eos, int) else set(eos)), dtype=torch.long)


def _shared_prefix_length(rows: Sequence[Sequence[int]]) -> int:
    """How many leading tokens all rows share, leaving every row at least one token of its own to prefill."""
    shortest = min(len(r) for r in rows)
    length = 0
    while length < shortest - 1 and all(r[length] == rows[0][length] for r in rows):
        length += 1
    return length


class _PreallocatedLayer(DynamicLayer):
    """A ``DynamicLayer`` whose keys and values live in one buffer, written in place.

    ``keys``/``values`` are views of the filled part (the first ``length`` positions), so attention sees exactly
    what ``DynamicLayer`` would hold; only the copy of the whole cache at every step is gone. The buffer is sized
    by the first update plus ``capacity`` more positions, or allocated whole by :meth:`allocate` for a slot batch,
    whose rows :meth:`write_rows` refills and :meth:`compact` shifts left.
    """

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity
        self._length = 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        super().lazy_initialization(key_states, value_states)
        batch, heads, length, _ = key_states.shape
        size = length + self.capacity
        self._keys = key_states.new_empty(batch, heads, size, key_states.shape[-1])
        self._values = value_states.new_empty(batch, heads, size, value_states.shape[-1])

    def allocate(self, like: "_PreallocatedLayer", rows: int, size: int) -> None:
        """An empty buffer of ``rows`` x ``size`` positions, in the dtype, device and head shape of ``like``."""
        super().lazy_initialization(like._keys, like._values)
        _, heads, _, dim = like._keys.shape
        self._keys = like._keys.new_zeros(rows, heads, size, dim)
        self._values = like._values.new_zeros(rows, heads, size, dim)

    def _expose(self) -> None:
        self.keys, self.values = self._keys[:, :, : self._length], self._values[:, :, : self._length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self._length + key_states.shape[-2]
        if end > self._keys.shape[-2]:
            raise RuntimeError(f"KV cache of {self._keys.shape[-2]} positions cannot hold {end}")
        self._keys[:, :, self._length : end] = key_states
        self._values[:, :, self._length : end] = value_states
        self._length = end
        self._expose()
        return self.keys, self.values

    def write_rows(self, slots: torch.Tensor, source: "_PreallocatedLayer", end: int) -> None:
        """Put ``source``'s filled positions into rows ``slots``, ending at position ``end`` (right-aligned)."""
        width = source._length
        self._keys[slots, :, end - width : end] = source._keys[:, :, :width]
        self._values[slots, :, end - width : end] = source._values[:, :, :width]
        self._length = max(self._length, end)
        self._expose()

    def compact(self, shift: int) -> None:
        """Drop the first ``shift`` positions of every row (masked for every live row) to make room at the end."""
        self._keys[:, :, : self._length - shift] = self._keys[:, :, shift : self._length].clone()
        self._values[:, :, : self._length - shift] = self._values[:, :, shift : self._length].clone()
        self._length -= shift
        self._expose()

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self._length:
            self._keys = self._keys.repeat_interleave(repeats, dim=0)
            self._values = self._values.repeat_interleave(repeats, dim=0)
            self._expose()

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self._length:
            self._keys, self._values = self._keys[indices], self._values[indices]
            self._expose()


def _preallocated_cache(model, capacity: int):
    """A ``DynamicCache`` of :class:`_PreallocatedLayer`, one per decoder layer, each ``capacity`` positions long."""
    cache = DynamicCache(config=model.config)
    cache.layers = [_PreallocatedLayer(capacity) for _ in cache.layers]
    return cache


#: How many batches' worth of prompts one refilled group holds: the unit a resumed run regenerates whole.
GROUP_BATCHES = 4


@dataclass
class _Admitted:
    """Rows just prefilled, ready to join the slot batch: their cache, mask, next positions and first tokens."""

    cache: DynamicCache
    mask: torch.Tensor
    positions: torch.Tensor
    tokens: torch.Tensor


class _GroupDecoder:
    """Answers a group of prompts through ``slots`` batch rows, refilling a row as soon as its answer ends.

    Every row's KV cache is right-aligned in one buffer per layer: a prompt admitted when the batch has ``T``
    positions occupies ``[T - w, T)`` (``w``: its prefill width) and the positions before it are masked, which is
    what the model sees with left padding. Prompts are admitted in plan order into the lowest free slots, once at
    least an eighth of the slots are free (or the rest of the group fits), so the schedule depends only on the
    group's prompts and sampled tokens: a resumed run regenerates the group exactly. When the buffer is full its
    oldest positions, masked for every live row, are dropped. With nothing left to admit, finished rows leave the
    batch as in a plain loop's tail.
    """

    def __init__(self, model, rows, settings: GenerationSettings, keys, stop_ids: torch.Tensor, pad_id: int,
                 slots: int) -> None:  # fmt: skip
        self.model, self.rows, self.settings, self.pad_id = model, rows, settings, pad_id
        self.device = model.device
        self.stop_set = set(stop_ids.tolist())
        self.sampled = settings.temperature > 0
        self.row_keys = keys
        self.slots = min(slots, len(rows))
        self.prefix = _shared_prefix_length(rows)
        self.capacity = max(len(r) for r in rows) + settings.max_new_tokens + max(16, settings.max_new_tokens // 4)
        self.outputs: list[list[int]] = [[] for _ in rows]
        self.prefix_cache = None
        if self.prefix:
            self.prefix_cache = _preallocated_cache(model, 0)
            model(input_ids=torch.tensor([rows[0][: self.prefix]], device=self.device), cache=self.prefix_cache,
                  use_cache=True, logits_to_keep=1)  # fmt: skip

    def _first_tokens(self, logits: torch.Tensor, generators: list[torch.Generator]) -> torch.Tensor:
        logits = logits[:, -1, :].float()
        if self.sampled:
            return _sample(torch.softmax(logits / self.settings.temperature, dim=-1).cpu(), generators)
        return logits.argmax(dim=-1).cpu()

    def _prefill(self, indices: list[int], generators: list[torch.Generator]) -> _Admitted:
        """Prefill rows ``indices`` as one left-padded batch behind the shared prefix; sample their first tokens."""
        own = [self.rows[i][self.prefix :] for i in indices]
        width = max(len(r) for r in own)
        cache = _preallocated_cache(self.model, width)
        if self.prefix_cache is not None:
            for layer, shared in zip(cache.layers, self.prefix_cache.layers, strict=True):
                layer.update(shared.keys.expand(len(own), -1, -1, -1), shared.values.expand(len(own), -1, -1, -1))
        input_ids = torch.tensor([[self.pad_id] * (width - len(r)) + list(r) for r in own], device=self.device)
        own_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in own], device=self.device)
        mask = torch.cat([own_mask.new_ones(len(own), self.prefix), own_mask], dim=1)
        positions = (self.prefix + own_mask.cumsum(-1) - 1).masked_fill(own_mask == 0, 0)
        logits = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, cache=cache,
                            use_cache=True, logits_to_keep=1).logits  # fmt: skip
        return _Admitted(cache, mask, positions[:, -1:] + 1, self._first_tokens(logits, generators))

    def _finished(self, row: int) -> bool:
        out = self.outputs[row]
        return len(out) >= self.settings.max_new_tokens or out[-1] in self.stop_set

    def run(self) -> list[list[int]]:
        queue = list(range(len(self.rows)))
        first = [queue.pop(0) for _ in range(self.slots)]
        generators = [_row_generator(self.row_keys[i]) for i in first] if self.sampled else []
        admitted = self._prefill(first, generators)
        cache = _preallocated_cache(self.model, 0)
        for layer, source in zip(cache.layers, admitted.cache.layers, strict=True):
            layer.allocate(source, self.slots, self.capacity)
            layer.write_rows(torch.arange(self.slots, device=self.device), source, source._length)
        length = admitted.mask.shape[1]
        mask = admitted.mask.new_zeros(self.slots, self.capacity)
        mask[:, :length] = admitted.mask
        positions, tokens = admitted.positions, admitted.tokens
        slot_rows: list[int | None] = list(first)
        for slot, row in enumerate(first):
            self.outputs[row].append(int(tokens[slot]))
        threshold = max(1, self.slots // 8)
        while True:
            for slot, row in enumerate(slot_rows):
                if row is not None and self._finished(row):
                    slot_rows[slot] = None
            free = [s for s, r in enumerate(slot_rows) if r is None]
            if queue and free and len(free) >= min(threshold, len(queue)):
                fits = [i for i in queue[: len(free)] if len(self.rows[i]) <= length]
                fits = fits[: next((k for k, i in enumerate(fits) if i != queue[k]), len(fits))]
                if fits:
                    del queue[: len(fits)]
                    chosen = free[: len(fits)]
                    new_generators = [_row_generator(self.row_keys[i]) for i in fits] if self.sampled else []
                    fresh = self._prefill(fits, new_generators)
                    slot_index = torch.tensor(chosen, device=self.device)
                    for layer, source in zip(cache.layers, fresh.cache.layers, strict=True):
                        layer.write_rows(slot_index, source, length)
                    width = fresh.mask.shape[1]
                    mask[slot_index] = 0
                    mask[slot_index, length - width : length] = fresh.mask
                    positions[slot_index] = fresh.positions
                    for k, (slot, row) in enumerate(zip(chosen, fits, strict=True)):
                        slot_rows[slot] = row
                        tokens[slot] = fresh.tokens[k]
                        if self.sampled:
                            generators[slot] = new_generators[k]
                        self.outputs[row].append(int(fresh.tokens[k]))
                    continue  # an admitted row may have stopped at its first token
            if not queue and free:
                keep = [s for s, r in enumerate(slot_rows) if r is not None]
                if not keep:
                    return self.outputs
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                mask, positions, tokens = mask[index], positions[index], tokens[keep]
                generators = [generators[s] for s in keep] if self.sampled else []
                slot_rows = [slot_rows[s] for s in keep]
            if length == mask.shape[1]:
                live = [s for s, r in enumerate(slot_rows) if r is not None]
                shift = int(mask[live, :length].argmax(dim=1).min())
                for layer in cache.layers:
                    layer.compact(shift)
                mask = torch.cat([mask[:, shift:], mask.new_zeros(len(slot_rows), shift)], dim=1)
                length -= shift
            mask[:, length] = 1
            logits = self.model(
                input_ids=tokens.to(self.device)[:, None], attention_mask=mask[:, : length + 1],
                position_ids=positions, cache=cache, use_cache=True, logits_to_keep=1,
            ).logits  # fmt: skip
            length += 1
            positions = positions + 1
            tokens = self._first_tokens(logits, generators)
            for slot, row in enumerate(slot_rows):
                if row is not None:
                    self.outputs[row].append(int(tokens[slot]))


def decode_group(
    model, rows: Sequence[Sequence[int]], settings: GenerationSettings, keys: Sequence[str], stop_ids: torch.Tensor,
    pad_id: int, slots: int,
) -> list[list[int]]:  # fmt: skip
    """New token ids of each row (its stop token included), greedy or sampled at ``settings.temperature``.

    The rows (a group from :func:`plan_batches`) are answered ``slots`` at a time, a finished row's slot refilled
    by the next prompt (:class:`_GroupDecoder`); the shared prefix is prefilled once and each prompt's own tokens
    follow it with padding in between (``[prefix][pad…][own tokens]``), masked and with position ids that skip
    the padding, which is what the model sees with left padding. The mask is built from the prompts' lengths,
    never from the pad token, which for SmolLM2 is its end-of-turn token and occurs inside every chat prompt.
    """
    return _GroupDecoder(model, rows, settings, keys, stop_ids, pad_id, slots).run()


def generate_responses(
    model,
    tokenizer,
    prompts: Sequence[str],
    settings: GenerationSettings = GenerationSettings(),
    model_id: str = "",
    cache_path: Path | None = None,
    desc: str = "generating",
    group_batches: int = GROUP_BATCHES,
) -> list[str]:
    """Answer every prompt (in the given order), reusing cached answers and caching new ones batch by batch.

    ``model_id`` names the model and adapter in the cache key, so answers of different variants never mix.
    Batches are planned over all prompts (:func:`plan_batches`); a batch with any answer missing from the cache
    is generated whole, so its rows meet the same arithmetic as in an uninterrupted run, and only the missing
    answers are appended. A group holds ``group_batches`` batches' worth of prompts, answered ``batch_size`` at a
    time with finished rows refilled (:func:`decode_group`); ``group_batches=1`` is a loop without refill, as the
    benchmark times it.
    """
    check_positive_int("group_batches", group_batches)
    precision = model_precision(model)
    keys = [cache_key(model_id, p, settings, precision) for p in prompts]
    done = {r["key"]: r["output"] for r in read_jsonl(cache_path)} if cache_path else {}
    unique = dict(zip(keys, prompts, strict=True))
    seed_keys = {k: cache_key(model_id, p, settings) for k, p in unique.items()}
    unique_keys, unique_prompts = list(unique), list(unique.values())
    token_ids = prompt_token_ids(tokenizer, unique_prompts, settings.system_prompt)
    batches = plan_batches(
        [seed_keys[k] for k in unique_keys], [len(t) for t in token_ids], settings.batch_size * group_batches
    )
    todo = [batch for batch in batches if any(unique_keys[i] not in done for i in batch)]
    stop_ids = _stop_token_ids(model, tokenizer)
    missing = sum(key not in done for key in unique_keys)
    with (
        tqdm(total=missing, desc=desc, unit="prompt", disable=None if missing else True) as bar,
        torch.inference_mode(),
    ):
        for batch in todo:
            batch_keys = [unique_keys[i] for i in batch]
            new_tokens = decode_group(
                model, [token_ids[i] for i in batch], settings, [seed_keys[k] for k in batch_keys], stop_ids,
                tokenizer.pad_token_id, settings.batch_size,
            )  # fmt: skip
            texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            records = [
                {"key": key, "prompt": unique[key], "output": text.strip()}
                for key, text in zip(batch_keys, texts, strict=True)
                if key not in done
            ]
            if cache_path:
                append_jsonl(cache_path, records)
            done.update({r["key"]: r["output"] for r in records})
            bar.update(len(records))
    return [done[k] for k in keys]
