"""Backends: prompts in, candidate texts out (see base.py). ``make_backend(name, **options)``
builds ``transformers``, ``openai`` or ``fake``; each registers itself on import."""

from reviewer.backends.base import (Backend, BackendError, FormConstraint, GenerationRequest,
                                    backend_names, make_backend, register_backend)

__all__ = ["Backend", "BackendError", "FormConstraint", "GenerationRequest", "backend_names",
           "make_backend", "register_backend"]
