"""Shared fixtures: seeded tiny random models of each architecture, a tiny tokenizer, and the real
Gemma-3-270M (tests that load it are marked ``slow``; CI runs them too)."""

import importlib
import pkgutil

import pandas as pd
import pytest
import torch
import transformers
from jaxtyping import install_import_hook
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

# Check the tensor shapes and dtypes in latentlang's annotations at run time, in every test: every
# module is imported under the hook (the package imports its names lazily).
with install_import_hook("latentlang", "beartype.beartype"):
    import latentlang

    for _module in pkgutil.walk_packages(latentlang.__path__, "latentlang."):
        importlib.import_module(_module.name)

VOCAB = 96
_COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
)

#: Tiny configs, one per architecture the lens must support.
TINY_CONFIGS = {
    "llama": lambda: transformers.LlamaConfig(**_COMMON),
    "qwen2": lambda: transformers.Qwen2Config(**_COMMON),
    "qwen3": lambda: transformers.Qwen3Config(**_COMMON, head_dim=8),
    "mistral": lambda: transformers.MistralConfig(**_COMMON),
    "gemma2": lambda: transformers.Gemma2Config(**_COMMON, head_dim=8, final_logit_softcapping=0.3),
    "gemma3": lambda: transformers.Gemma3TextConfig(**_COMMON, head_dim=8, sliding_window=4),
    "gpt2": lambda: transformers.GPT2Config(
        vocab_size=VOCAB, n_embd=32, n_layer=3, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0
    ),
    "olmo2": lambda: transformers.Olmo2Config(**_COMMON),
}


def tiny_model(arch: str, seed: int = 0, vocab_size: int = VOCAB) -> torch.nn.Module:
    """A seeded random model of ``arch`` (float32, eval mode, eager attention)."""
    torch.manual_seed(seed)
    config = TINY_CONFIGS[arch]()
    config.vocab_size = vocab_size
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=torch.float32)
    with torch.no_grad():  # random norm weights and biases, so no norm is the identity
        for param in model.parameters():
            if param.ndim == 1:
                param.add_(0.5 * torch.randn_like(param))
    if arch == "gemma2":
        # Make logits large enough that the softcap (0.3) visibly bends them.
        with torch.no_grad():
            model.get_output_embeddings().weight.mul_(20)
    return model.eval()


@pytest.fixture(params=sorted(TINY_CONFIGS))
def arch(request) -> str:
    return request.param


def tiny_tokenizer(corpus: list[str]) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on ``corpus`` (GPT-2/Llama-3 style vocabulary)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<bos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>")


def tiny_sp_tokenizer(corpus: list[str]) -> PreTrainedTokenizerFast:
    """A SentencePiece-style BPE tokenizer trained on ``corpus``: ``▁`` marks word starts and
    ``<0x00>`` … ``<0xFF>`` byte tokens catch what the vocabulary lacks (as in Llama-2 and Gemma)."""
    import json

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    trained.train_from_iterator(
        corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<bos>"])
    )
    spec = json.loads(trained.to_str())["model"]
    pieces = ["<pad>", "<bos>", *(f"<0x{b:02X}>" for b in range(256))]
    pieces += [t for t in sorted(spec["vocab"], key=spec["vocab"].get) if t not in pieces]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in spec["merges"]]
    tok = Tokenizer(models.BPE({t: i for i, t in enumerate(pieces)}, merges, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>")


def save_tiny_llama(path, tokenizer, n_layers: int = 2) -> None:
    """Save a seeded tiny random Llama sized for ``tokenizer``, with it, like a downloaded model."""
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        **{
            **_COMMON,
            "vocab_size": len(tokenizer),
            "num_hidden_layers": n_layers,
            "max_position_embeddings": 256,
        }
    )
    AutoModelForCausalLM.from_config(config).save_pretrained(path)
    tokenizer.save_pretrained(path)


@pytest.fixture(scope="session")
def words_csv(tmp_path_factory):
    """The first 14 concepts of the shipped list, in en, fr and zh."""
    from latentlang.language.datasets import load_words

    path = tmp_path_factory.mktemp("words") / "words.csv"
    load_words().table[["en", "fr", "zh"]].head(14).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, words_csv):
    """A tiny random Llama with a byte-level tokenizer trained on those words, saved like a
    downloaded model."""
    table = pd.read_csv(words_csv)
    corpus = [" ".join(table[c]) for c in table.columns] + ['Français: "chien" - 中文: "狗"\n'] * 5
    path = tmp_path_factory.mktemp("tiny-llama")
    save_tiny_llama(path, tiny_tokenizer(corpus))
    return path


@pytest.fixture(scope="session")
def word_lm(words_csv):
    """A tiny random Llama whose byte-level tokenizer was trained on the words of ``words_csv``
    and a translation line (for the studies that build translation prompts)."""
    import pandas as pd

    from latentlang import LensModel

    table = pd.read_csv(words_csv)
    corpus = [" ".join(table[c]) for c in table.columns] + [
        'Français: "chien" - 中文: "狗" English: "dog"\n'
    ] * 5
    tok = tiny_tokenizer(corpus)
    return LensModel.from_hf(tiny_model("llama", vocab_size=len(tok)), tok)


@pytest.fixture(scope="session")
def gemma():
    """The real Gemma-3-270M (float32, CPU), loaded once per test session."""
    import latentlang

    return latentlang.load_model("gemma-3-270m", device="cpu", dtype="float32")


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Runs without --out write into runs/ of the working folder: keep that in the test's own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def published(tmp_path_factory):
    from published_layout import write_published

    folder = tmp_path_factory.mktemp("langs")
    write_published(folder)
    return folder


@pytest.fixture(scope="session")
def sp_model_dir(tmp_path_factory):
    """A tiny random Llama with a SentencePiece-style tokenizer (``▁``, byte fallback)."""
    from published_layout import CONCEPTS

    corpus = [" ".join(c) for c in CONCEPTS] * 8 + ['Français: "chien" - 中文: "狗"\n'] * 4
    path = tmp_path_factory.mktemp("tiny-sp")
    save_tiny_llama(path, tiny_sp_tokenizer(corpus))
    return path


@pytest.fixture(scope="session")
def sp_model(sp_model_dir):
    from latentlang.core.loading import load_model

    return load_model(str(sp_model_dir), device="cpu", dtype="float32")


class BatchLog:
    """What the runner computed: the item indices of every batch, in order."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        #: Interrupt (Ctrl-C) when this many batches have started.
        self.interrupt_at: int | None = None
        #: Fail any batch: a run that must only be loaded.
        self.forbid = False


@pytest.fixture
def batches(monkeypatch) -> BatchLog:
    """Spy on every batch any study computes (through the one runner), optionally interrupting
    the run or forbidding any computation."""
    from latentlang.studies import runner

    log, real = BatchLog(), runner.run_batches

    def spied(n_items, batch_size, compute, *args, **kwargs):
        def spy(indices):
            if log.forbid:
                raise AssertionError("a finished run was computed again")
            log.calls.append(indices)
            if log.interrupt_at == len(log.calls):
                raise KeyboardInterrupt
            return compute(indices)

        return real(n_items, batch_size, spy, *args, **kwargs)

    monkeypatch.setattr(runner, "run_batches", spied)
    return log
