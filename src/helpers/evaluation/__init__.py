"""Stage 4: prompts, generation and scoring on the four tasks, and the capability benchmarks."""
