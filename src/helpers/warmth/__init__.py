"""Stage 3: SocioT warmth of each checkpoint's answers, and the blinded human check (paper, Fig. 1a)."""
