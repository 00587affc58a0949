"""Stage 5: paired tests, logistic regressions, figures, and the authors' released results."""
