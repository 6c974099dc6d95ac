"""Whole jobs, the same for the CLI and the app: train-and-save workflows (workflows) and
`evenodd run`, the whole pipeline with its report (pipeline)."""
