"""The study as a whole: the config, the papermill runner and the book build."""
