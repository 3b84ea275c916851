"""The lens over generation: the reading at generated position t is the prompt-mode reading of the
prompt plus the first t generated tokens (padded batches, several architectures), given texts are
read at every token, and the command writes generation.csv."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_model, tiny_tokenizer

from latentlang import LensModel
from latentlang.core.batch import left_pad
from latentlang.errors import LatentLangError
from latentlang.studies.generation import (
    GenerateConfig,
    generation_batch,
    generation_items,
    read_entries,
    run_generation,
)

CORPUS = ["the dog runs fast in the park", "le chien court vite", "der Hund läuft schnell", "狗跑得很快"] * 5
PROMPTS = ["the dog runs", "le chien court vite dans le"]


@pytest.fixture(
    scope="module",
    params=[
        ("llama", "hf"),
        ("gemma3", "hf"),
        ("gpt2", "hf"),
        ("llama", "nnsight"),
        ("gpt2", "transformer_lens"),
    ],
    ids=lambda p: "-".join(p),
)
def lm(request, tmp_path_factory):
    """A tiny model per architecture and backend: generation streams through the model's own
    forward pass, the reference reading (``lm.read``) through the backend's capture."""
    arch, backend = request.param
    tok = tiny_tokenizer(CORPUS)
    model = tiny_model(arch, vocab_size=len(tok))
    if backend != "transformer_lens":
        return LensModel.from_hf(model, tok, backend=backend)
    from latentlang import load_model

    folder = tmp_path_factory.mktemp(f"{arch}-tl")  # transformer_lens loads from a model folder
    model.config.architectures = [type(model).__name__]
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return load_model(str(folder), device="cpu", dtype="float32", backend=backend)


def test_each_step_reads_what_the_prompt_plus_the_tokens_so_far_reads(lm, tmp_path):
    config = GenerateConfig(
        prompts=_prompts_file(tmp_path), max_new_tokens=4, top_k=5, out=str(tmp_path / "g")
    )
    work = generation_items(config, lm)
    result = generation_batch(lm, work, [0, 1])  # a left-padded batch of two lengths
    pad = lm.tokenizer.pad_token_id or 0
    for row, prompt in enumerate(PROMPTS):
        ids = lm.tokenizer(prompt)["input_ids"]
        assert result.texts["start"][row] == len(ids) - 1 and result.tokens[row, 0] == ids[-1]
        for t in range(int(result.texts["n_positions"][row])):
            sequence = ids + result.tokens[row, 1 : t + 1].tolist()
            alone = lm.read(left_pad([sequence], pad, lm.device), None, top_k=5)
            np.testing.assert_allclose(
                result.top_probs[row, t], alone.top_logprob[0].exp().numpy(), atol=1e-4
            )
            np.testing.assert_allclose(result.entropy_bits[row, t], alone.entropy_bits[0].numpy(), atol=1e-4)
            # where the next token is known, the top layer's top token is the one generated
            if t + 1 < result.tokens.shape[1] and result.tokens[row, t + 1] >= 0:
                assert result.top_ids[row, t, -1, 0] == result.tokens[row, t + 1]
    np.testing.assert_allclose(
        result.mass.sum(-1)[result.tokens >= 0], result.top_probs.sum(-1)[result.tokens >= 0], atol=1e-5
    )


def test_given_texts_are_read_at_every_token(lm, tmp_path):
    path = tmp_path / "texts.jsonl"
    path.write_text(
        "\n".join(json.dumps({"text": t}) for t in ["le chien court", "the dog runs fast in the park"])
    )
    config = GenerateConfig(text=str(path), top_k=3, out=str(tmp_path / "t"))
    work = generation_items(config, lm)
    result = generation_batch(lm, work, [0, 1])
    for row, text in enumerate(["le chien court", "the dog runs fast in the park"]):
        ids = lm.tokenizer(text)["input_ids"]
        assert result.tokens[row, : len(ids)].tolist() == ids and (result.tokens[row, len(ids) :] == -1).all()
        batch = left_pad([ids], lm.tokenizer.pad_token_id or 0, lm.device)
        alone = lm.read(batch, None, top_k=3, positions=torch.arange(len(ids))[None])
        np.testing.assert_allclose(
            result.top_probs[row, : len(ids)], alone.top_logprob.exp().numpy(), atol=1e-4
        )


def test_entries_skip_and_count_bad_rows(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "one"}\nnot json\n\n{"other": 1}\n{"prompt": "two", "lang": "en"}\n')
    rows, skipped = read_entries(path, "prompt")
    assert [r["prompt"] for r in rows] == ["one", "two"] and skipped == 3
    shipped, _ = read_entries(None, "prompt")
    assert {"de", "fr", "ru", "zh", "ja"} <= {r["lang"] for r in shipped}
    with pytest.raises(LatentLangError, match="one of"):
        GenerateConfig(prompt="x", text=str(path))


def test_the_command_writes_generation_csv(tiny_dir, tmp_path, monkeypatch):
    from latentlang.cli import main

    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "gen"
    assert (
        main(
            [
                "generate",
                "--quiet",
                "--model",
                str(tiny_dir),
                "--prompt",
                "dog",
                "--max-new-tokens",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "generation.csv", keep_default_na=False)
    expected = {
        "text",
        "position",
        "layer",
        "token",
        "top1",
        "top1_prob",
        "entropy_bits",
        "mass_en",
        "mass_zh",
    }
    assert expected <= set(table.columns)
    n_layers = table["layer"].max() + 1
    assert len(table) == n_layers * table["position"].nunique() and table["position"].nunique() <= 4
    again = run_generation(
        GenerateConfig(model=str(tiny_dir), prompt="dog", max_new_tokens=3, out=str(out)), progress=False
    )
    assert len(again.to_dataframe()) == len(table)


def _prompts_file(tmp_path) -> str:
    path = tmp_path / "prompts.txt"
    path.write_text("\n".join(PROMPTS) + "\n")
    return str(path)


def test_a_text_shows_as_a_grid_and_its_figures_are_written(word_lm, words_csv, tmp_path):
    from latentlang import explore
    from latentlang.outputs.files import write_outputs

    fr = pd.read_csv(words_csv)["fr"].tolist()
    path = tmp_path / "texts.jsonl"
    texts = [" ".join(["le", *fr[:6]]), " ".join(["et", *fr[6:10]])]
    path.write_text("\n".join(json.dumps({"text": t, "lang": "fr"}) for t in texts))
    config = GenerateConfig(text=str(path), words=str(words_csv), top_k=3, out=str(tmp_path / "t"))
    result = run_generation(config, word_lm, progress=False)
    grid = explore(result, text=1)
    n = len(word_lm.tokenizer(texts[1])["input_ids"])
    assert grid.input_tokens == list(result.token_text[1, :n]) and grid.top_probs.shape == (
        word_lm.n_layers + 1,
        n,
        3,
    )
    assert (grid.top_tokens[:, 2, 1] == result.top_text[1, 2, :, 1]).all()
    labels = np.asarray(word_lm.languages.labels)[word_lm.languages.tags[result.top_ids[1, :n]]]
    assert (grid.top_labels == labels.transpose(1, 0, 2)).all()
    with pytest.raises(LatentLangError, match="out of range"):
        result.grid(2)
    assert len(result.words()) > 0  # dictionary words were read
    written = {p.name for p in write_outputs(result, tmp_path / "out")}
    assert {"token_grid.png", "language_mass.png", "routing.png", "text-0.html", "words.csv"} <= written
    assert "<table" in result._repr_html_()
