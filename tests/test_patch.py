"""Patching: the edit context manager and the patching study on tiny models, with the checks that
must hold whatever the model (a prompt patched into itself, a layer-0 patch of the same token at
the same position, the from-mode at the last layer)."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_model

from latentlang import LensModel
from latentlang.core.batch import left_pad
from latentlang.core.edits import Add, Patch, ProjectOut, edited
from latentlang.studies.patch import PatchConfig, _up_to_word, _word_end, patch_batch, patch_items, run_patch
from latentlang.studies.runner import Work


@pytest.fixture(scope="module", params=["llama", "gemma3", "gpt2"])
def lm(request):
    return LensModel.from_hf(tiny_model(request.param), None)


def _logits(lm, ids):
    return lm.capture(left_pad(ids, 0, lm.device)).final_logits


def test_patching_a_prompt_into_itself_changes_nothing(lm):
    ids = [[5, 6, 7, 9, 11], [3, 4, 9, 12, 10]]
    residuals = lm.capture(left_pad(ids, 0, lm.device)).residuals[:, :, -1]
    before = _logits(lm, ids)
    for j in range(lm.n_layers + 1):
        with edited(lm, [Patch(list(range(j, lm.n_layers + 1)), residuals[:, j:])]):
            after = _logits(lm, ids)
        assert float((after - before).abs().max()) <= 1e-5, j


def test_a_layer0_patch_of_the_same_token_at_the_same_position_changes_nothing(lm):
    source, target = [[5, 6, 7, 9]], [[8, 3, 2, 9]]  # the same last token at the same position
    embedding = lm.capture(left_pad(source, 0, lm.device)).residuals[:, 0, -1]
    before = _logits(lm, target)
    with edited(lm, [Patch([0], embedding)]):
        after = _logits(lm, target)
    assert float((after - before).abs().max()) <= 1e-5
    with edited(lm, [Patch([1], embedding)]):  # a real change elsewhere: the check is not vacuous
        assert float((_logits(lm, target) - before).abs().max()) > 1e-4


def test_patching_from_the_last_layer_gives_the_source_output(lm):
    source, target = [[5, 6, 7, 9]], [[8, 3, 2, 4, 1]]
    captured = lm.capture(left_pad(source, 0, lm.device))
    last = lm.n_layers
    with edited(lm, [Patch([last], captured.residuals[:, last, -1])]):
        patched = _logits(lm, target)
    torch.testing.assert_close(patched, captured.final_logits, atol=1e-4, rtol=0)


def test_hooks_are_removed_even_on_an_error(lm):
    ids = [[5, 6, 7]]
    before = _logits(lm, ids)
    with (
        pytest.raises(RuntimeError),
        edited(lm, [Add([1], torch.ones(lm.parts.unembed.weight.shape[1]), 3.0)]),
    ):
        raise RuntimeError("inside the block")
    torch.testing.assert_close(_logits(lm, ids), before)


def test_projecting_out_a_direction_removes_it():
    edit = ProjectOut([1], torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]))
    h = edit(torch.tensor([[2.0, 3.0, 5.0]]), 1)
    torch.testing.assert_close(h, torch.tensor([[0.0, -1.0, 1.0]]))


def test_the_study_reads_the_source_output_when_patching_the_last_layer(word_lm, words_csv, tmp_path):
    config = PatchConfig(
        source="fr:en", target="en:zh", position="last", words=str(words_csv), n_shots=1, out=str(tmp_path)
    )
    result = run_patch(config, word_lm, progress=False)
    last = result.probs.shape[1] - 1
    np.testing.assert_allclose(result.probs[:, last, -1], result.source_own[:, -1], atol=1e-5)
    assert (result.pairs["source_concept"] != result.pairs["target_concept"]).all()
    summary = result.summary()
    assert (
        list(summary["layer"]) == list(range(word_lm.n_layers + 1))
        and (summary["n"] == len(result.pairs)).all()
    )


def test_the_study_patching_a_prompt_into_itself_changes_nothing(word_lm, words_csv, tmp_path):
    config = PatchConfig(source="fr:en", target="fr:en", words=str(words_csv), n_shots=1, out=str(tmp_path))
    work = patch_items(config, word_lm)
    same = [
        replace(i, target_text=i.source_text, other=i.concept, sets=i.sets[:2] + i.sets[:2])
        for i in work.items
    ]
    same = [replace(i, where=_word_end(word_lm.tokenizer, i.target_text)) for i in same]
    result = patch_batch(word_lm, Work(same, [], 0, work.meta), list(range(len(same))))
    np.testing.assert_allclose(
        result.probs, np.broadcast_to(result.unpatched[:, None], result.probs.shape), atol=1e-5
    )


def test_mean_over_languages_and_the_command(word_lm, words_csv, tiny_dir, tmp_path, monkeypatch, capsys):
    from latentlang.cli import main

    config = PatchConfig(
        source="fr:en", target="en:zh", words=str(words_csv), mean_over=["fr", "zh"], n_shots=1
    )
    assert patch_items(config, word_lm).meta["inputs"] == ["fr", "zh"]
    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "patch"
    args = ["patch", "--quiet", "--source", "fr:en", "--target", "en:zh", "--model", str(tiny_dir)]
    assert (
        main([*args, "--words", str(words_csv), "--n-shots", "1", "--mode", "single", "--out", str(out)]) == 0
    )
    table = pd.read_csv(out / "patch.csv")
    names = ["src_concept_src_lang", "src_concept_tgt_lang", "tgt_concept_src_lang", "tgt_concept_tgt_lang"]
    expected = ["layer", *[f"p_{n}{s}" for n in names for s in ("", "_ci_low", "_ci_high")], "n"]
    assert list(table.columns) == expected and table["layer"].tolist() == list(range(len(table)))
    assert (out / "patch.png").is_file() and (out / "result.npz").is_file()
    assert main([*args, "--source", "fr"]) == 2 and "INPUT:OUTPUT" in capsys.readouterr().err


def test_backends_agree_and_padded_batches_give_per_prompt_results(tiny_dir, tmp_path, monkeypatch):
    """A patched forward pass read by the hf and TransformerLens backends (each on its own copy: the
    bridge wraps modules in place), and each prompt of a left-padded batch alone; nnsight, which
    reads a block's output before forward hooks edit it, is refused in one line."""
    from latentlang import LatentLangError, load_model

    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))
    source, target = [[5, 6, 7, 9], [3, 3, 4]], [[8, 3, 2, 4, 1], [7, 7]]
    read = {}
    for backend in ("hf", "transformer_lens"):
        lm = load_model(str(tiny_dir), backend=backend, device="cpu", dtype="float32")
        latents = lm.capture(left_pad(source, 0, lm.device)).residuals[:, :, -1]
        with edited(lm, [Patch([1, 2], latents[:, 1:3])]):
            read[backend] = lm.read(left_pad(target, 0, lm.device), None, top_k=3)
        if backend == "hf":
            for row in range(2):
                alone = lm.capture(left_pad([source[row]], 0, lm.device)).residuals[:, :, -1]
                with edited(lm, [Patch([1, 2], alone[:, 1:3])]):
                    single = lm.read(left_pad([target[row]], 0, lm.device), None, top_k=3)
                torch.testing.assert_close(
                    single.entropy_bits[0], read["hf"].entropy_bits[row], atol=1e-4, rtol=0
                )
    torch.testing.assert_close(
        read["transformer_lens"].entropy_bits, read["hf"].entropy_bits, atol=1e-4, rtol=0
    )
    torch.testing.assert_close(
        read["transformer_lens"].top_logprob, read["hf"].top_logprob, atol=1e-4, rtol=0
    )
    lm = load_model(str(tiny_dir), backend="nnsight", device="cpu", dtype="float32")
    with (
        pytest.raises(LatentLangError, match="use backend hf or transformer_lens"),
        edited(lm, [Patch([1], latents[:, 1])]),
    ):
        pass


def test_the_paper_patches_the_target_concept_word(word_lm, words_csv, tmp_path):
    """--position object: the source prompt ends with its word; the patched token is the last
    token of the target's own word; patching from the last layer there leaves the output alone
    (nothing reads that position after the last layer)."""
    config = PatchConfig(source="fr:en", target="en:zh", words=str(words_csv), n_shots=1, out=str(tmp_path))
    work = patch_items(config, word_lm)
    pair = work.items[0]
    latent = pair.latent_texts[0]
    assert pair.source_text.startswith(latent) and pair.source_text[len(latent) :].startswith('" - ')
    ids = word_lm.tokenizer(pair.target_text)["input_ids"]
    patched = word_lm.tokenizer.decode([ids[pair.where]]).strip()
    assert patched and _up_to_word(pair.target_text).endswith(patched) and pair.where < len(ids) - 1
    result = patch_batch(word_lm, work, list(range(len(work.items))))
    np.testing.assert_allclose(result.probs[:, -1, -1], result.unpatched[:, -1], atol=1e-5)
