"""The lens on tiny random models of every architecture, through both capture backends."""

import pytest
import torch
from conftest import VOCAB, tiny_model
from torch.testing import assert_close

from latentlang import LensModel
from latentlang.core.batch import left_pad


def _lens_model(arch: str, backend: str = "hf") -> LensModel:
    return LensModel.from_hf(tiny_model(arch), name=arch, backend=backend)


def _random_prompts(lengths: list[int], seed: int = 1) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(2, VOCAB, (n,), generator=gen).tolist() for n in lengths]


@pytest.mark.parametrize("backend", ["hf", "nnsight"])
def test_lens_at_last_layer_reproduces_logits(arch, backend):
    lm = _lens_model(arch, backend)
    prompts = _random_prompts([7, 4, 9])
    batch = left_pad(prompts, 0)
    seq = batch.input_ids.shape[1]
    positions = torch.arange(seq).expand(3, seq)
    captured = lm.capture(batch, positions)
    assert captured.residuals.shape == (3, lm.n_layers + 1, seq, 32)
    with torch.no_grad():
        logits = lm.model(**batch._asdict()).logits
    real = batch.attention_mask.bool()
    lens_logits = lm.lens.logits(captured.residuals[:, -1])
    assert (lens_logits[real] - logits[real]).abs().max() <= 1e-4
    assert (captured.final_logits - logits[:, -1]).abs().max() <= 1e-4


def test_final_norm_is_applied_exactly_once(arch):
    lm = _lens_model(arch)
    batch = left_pad(_random_prompts([6]), 0)
    h = lm.capture(batch).residuals[:, -1, -1]
    reference = lm.capture(batch).final_logits
    twice = lm.lens._logits(lm.lens.normed(lm.lens.normed(h)))
    skipped = lm.lens._logits(h.float())
    assert (lm.lens.logits(h) - reference).abs().max() <= 1e-4
    assert (skipped - reference).abs().max() > 1e-3
    assert (twice - reference).abs().max() > 1e-3


def test_softcap_is_found_and_matters():
    lm = _lens_model("gemma2")
    assert lm.parts.softcap == pytest.approx(0.3)
    batch = left_pad(_random_prompts([5]), 0)
    captured = lm.capture(batch)
    h = captured.residuals[:, -1, -1]
    lm.lens.softcap = None
    uncapped = lm.lens.logits(h)
    assert (uncapped - captured.final_logits).abs().max() > 1e-2


@pytest.mark.parametrize("backend", ["hf", "nnsight"])
def test_left_padding_gives_single_prompt_results(arch, backend):
    lm = _lens_model(arch, backend)
    prompts = _random_prompts([3, 8, 5])
    batched = lm.capture(left_pad(prompts, 0)).residuals[:, :, -1]
    for row, prompt in enumerate(prompts):
        alone = lm.capture(left_pad([prompt], 0)).residuals[0, :, -1]
        assert_close(batched[row], alone, atol=1e-5, rtol=1e-4)


def test_backends_agree(arch):
    prompts = _random_prompts([4, 6])
    batch = left_pad(prompts, 0)
    hf = _lens_model(arch, "hf").capture(batch)
    nn = _lens_model(arch, "nnsight").capture(batch)
    assert_close(hf.residuals, nn.residuals)
    assert_close(hf.final_logits, nn.final_logits)


def test_parts_found_structurally(arch):
    model = tiny_model(arch)
    lm = LensModel.from_hf(model)
    assert lm.n_layers == 3
    assert lm.parts.unembed is model.get_output_embeddings()
    norm_name = next(name for name, m in model.named_modules() if m is lm.parts.final_norm)
    assert norm_name in {"model.norm", "transformer.ln_f"}


def test_hooks_are_removed_even_on_error():
    lm = _lens_model("llama")
    layer = lm.parts.layers[1]

    def explode(*_):
        raise RuntimeError("boom")

    bomb = layer.register_forward_hook(explode)
    with pytest.raises(RuntimeError, match="boom"):
        lm.capture(left_pad(_random_prompts([4]), 0))
    bomb.remove()
    for module in lm.model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks


def test_positions_relative_to_each_prompt():
    batch = left_pad([[5, 6, 7], [8, 9, 10, 11, 12]], 0)
    assert batch.positions([0, -1]).tolist() == [[2, 4], [0, 4]]
    assert batch.position_ids.tolist() == [[0, 0, 0, 1, 2], [0, 1, 2, 3, 4]]


@pytest.fixture(scope="module")
def saved_tokenizer(tmp_path_factory):
    from conftest import tiny_tokenizer

    path = tmp_path_factory.mktemp("tokenizer")
    tiny_tokenizer(["the dog chien chat 狗 собака"] * 20).save_pretrained(path)
    return path


def test_three_backends_agree_through_load_model(arch, saved_tokenizer, tmp_path, monkeypatch):
    """hf, nnsight and transformer_lens read the same residuals from a saved model folder."""
    import shutil

    from transformers import AutoTokenizer

    from latentlang import load_model

    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))
    vocab = len(AutoTokenizer.from_pretrained(saved_tokenizer))
    model = tiny_model(arch, vocab_size=vocab)
    model.config.architectures = [type(model).__name__]
    model.save_pretrained(tmp_path / "model")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(saved_tokenizer / name, tmp_path / "model" / name)
    texts = ["the dog chien", "chat 狗 собака the dog"]
    captured = {}
    for backend in ("hf", "nnsight", "transformer_lens"):
        lm = load_model(str(tmp_path / "model"), device="cpu", dtype="float32", backend=backend)
        captured[backend] = lm.capture(lm.tokenize(texts))
    for backend in ("nnsight", "transformer_lens"):
        assert_close(captured[backend].residuals, captured["hf"].residuals, atol=1e-5, rtol=1e-4)
        assert_close(captured[backend].final_logits, captured["hf"].final_logits, atol=1e-4, rtol=1e-4)


def test_token_grid_cells_are_the_lens_at_each_position():
    from conftest import tiny_tokenizer

    from latentlang.studies.tokens import token_grid

    tok = tiny_tokenizer(["the dog chien chat"] * 20)
    lm = LensModel.from_hf(tiny_model("gemma3", vocab_size=len(tok)), tok)
    grid = token_grid(lm, "the dog chien chat the", top_k=3)
    batch = lm.tokenize(["the dog chien chat the"])
    seq = batch.input_ids.shape[1]
    assert grid.top_probs.shape == (lm.n_layers + 1, seq, 3)
    for position in (0, seq // 2, seq - 1):
        h = lm.capture(batch, torch.tensor([[position]])).residuals[:, :, 0]
        readout = lm.lens.readout(h, None, 3)
        assert_close(torch.from_numpy(grid.top_probs[:, position]), readout.top_logprob[0].exp())
        assert_close(torch.from_numpy(grid.entropy[:, position]), readout.entropy_bits[0])
    assert grid.input_tokens == [lm.token_text(i) for i in batch.input_ids[0].tolist()]


def test_prompt_longer_than_the_context_is_refused():
    from conftest import tiny_tokenizer

    from latentlang import LatentLangError

    tok = tiny_tokenizer(["the dog chien chat"] * 20)
    lm = LensModel.from_hf(tiny_model("llama", vocab_size=len(tok)), tok)  # 64 positions
    with pytest.raises(LatentLangError, match="reads at most 64"):
        lm.tokenize(["the dog chien chat " * 40])


def test_sharded_and_offloaded_model_gives_the_same_numbers(saved_tokenizer, tmp_path, monkeypatch):
    """accelerate's device_map: two of three layers offloaded to disk, the rest on the CPU."""
    import shutil

    from transformers import AutoTokenizer

    from latentlang import load_model

    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))
    model = tiny_model("llama", vocab_size=len(AutoTokenizer.from_pretrained(saved_tokenizer)))
    model.save_pretrained(tmp_path / "model")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(saved_tokenizer / name, tmp_path / "model" / name)
    whole = load_model(str(tmp_path / "model"), device="cpu", dtype="float32")
    device_map = {
        "model.embed_tokens": "cpu",
        "model.layers.0": "cpu",
        "model.layers.1": "disk",
        "model.layers.2": "disk",
        "model.norm": "cpu",
        "model.rotary_emb": "cpu",
        "lm_head": "cpu",
    }
    sharded = load_model(
        str(tmp_path / "model"), dtype="float32", device_map=device_map, offload_folder=tmp_path / "offload"
    )
    assert any(p.device.type == "meta" for p in sharded.model.parameters())  # really offloaded
    texts = ["the dog chien", "chat 狗 the dog"]
    a, b = whole.capture(whole.tokenize(texts)), sharded.capture(sharded.tokenize(texts))
    assert_close(b.residuals, a.residuals)
    assert_close(b.final_logits, a.final_logits)


def test_bfloat16_forward_with_float32_reductions(arch):
    """A bf16 model: the read-out is finite, float32, and close to the float32 model's."""
    model = tiny_model(arch)
    lm32 = LensModel.from_hf(model, check=False)
    batch = left_pad(_random_prompts([5, 7]), 0)
    ref = lm32.lens.readout(lm32.capture(batch).residuals[:, :, -1], None, 3)
    lm16 = LensModel.from_hf(tiny_model(arch).to(torch.bfloat16))
    out = lm16.lens.readout(lm16.capture(batch).residuals[:, :, -1], None, 3)
    assert out.entropy_bits.dtype == torch.float32 and torch.isfinite(out.entropy_bits).all()
    assert torch.isfinite(out.top_logprob).all() and torch.isfinite(out.energy).all()
    assert (out.entropy_bits - ref.entropy_bits).abs().max() < 0.1 * ref.entropy_bits.abs().max() + 0.05


@pytest.mark.parametrize("backend", ["hf", "nnsight"])
def test_shared_prefix_cache_gives_the_uncached_readings(arch, backend):
    """Prompts sharing a 20-token prefix: computing it once and running right-padded suffixes
    gives the residuals and logits of the plain left-padded batch."""
    lm = _lens_model(arch, backend)
    prefix = _random_prompts([20], seed=5)[0]
    prompts = [prefix + suffix for suffix in _random_prompts([3, 7, 5], seed=6)]
    plain = lm.capture(lm.make_batch(prompts))
    shared_batch = lm.make_batch(prompts, share_prefix=True)
    assert shared_batch.prefix is not None and shared_batch.input_ids.shape[1] == 7
    shared = lm.capture(shared_batch)
    assert_close(shared.residuals[:, :, -1], plain.residuals[:, :, -1], atol=1e-5, rtol=1e-4)
    assert_close(shared.final_logits, plain.final_logits, atol=1e-5, rtol=1e-4)
    again = lm.capture(lm.make_batch(prompts[:2], share_prefix=True))  # the cached prefix is reused
    assert_close(again.residuals[:, :, -1], plain.residuals[:2, :, -1], atol=1e-5, rtol=1e-4)


def test_short_common_prefixes_are_not_cached():
    lm = _lens_model("llama")
    prompts = _random_prompts([9, 12], seed=2)
    assert lm.make_batch(prompts, share_prefix=True).prefix is None
