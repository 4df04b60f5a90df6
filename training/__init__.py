"""Training the reviewer's adapter: data -> teacher -> SFT -> DPO -> export.

    python -m training.data      # (hunk, comment, category) pairs: filter, dedupe, split by id hash
    python -m training.teacher   # distillation haiku from an OpenAI-compatible teacher, form + relevance gated
    python -m training.sft       # LoRA SFT with trl on the inference prompt, completion-only loss
    python -m training.dpo       # form-preference DPO on top of the SFT adapter
    python -m training.export    # keep or merge the adapter, model card with harness numbers, push

Each module's docstring shows its CPU smoke command and its GPU command; training/README.md
explains the choices.
"""
