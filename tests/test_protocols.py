"""The ``wendler2024`` protocol reproduces the published notebooks: their concept sets, prompts and
token ids, and per-layer means of a one-prompt-at-a-time reference computation.

The fixture is a small folder in the published ``data/langs/{lang}/clean.csv`` layout
(tests/published_layout.py); the references restate the notebooks' procedure step by step
(``Translation.ipynb``, ``Cloze.ipynb`` of epfl-dlab/llm-latent-language).
"""

import numpy as np
import pandas as pd
import pytest
import torch
from published_layout import CONCEPTS
from test_lens_readout import notebook_energy
from test_tokens import notebook_token_ids

from latentlang.cli import main
from latentlang.errors import LatentLangError
from latentlang.studies.latent import ClozeConfig, RepetitionConfig, TranslationConfig, run_task

pytestmark = pytest.mark.usefixtures("in_tmp")
NAMES = {"fr": "Français", "de": "Deutsch", "ru": "Русский", "en": "English", "zh": "中文"}


def _notebook_read(folder, lang):
    # The one deliberate difference: a row with an empty cell (which the notebooks would print as
    # "nan" or fail on) is skipped before anything else.
    return pd.read_csv(folder / lang / "clean.csv").dropna(subset=["word_original", "word_translation"])


def notebook_translation(folder, input_lang, target_lang, tokenizer, single_token_only=False):
    """Translation.ipynb, cells 1, 5, 9, 11 and 12, restated."""
    np.random.seed(42)
    df_en_fr = _notebook_read(folder, input_lang).reset_index(drop=True)
    df_en_de = _notebook_read(folder, target_lang).reset_index(drop=True)
    vocab = tokenizer.get_vocab()
    if single_token_only:
        keep = [w in vocab or "▁" + w in vocab for w in df_en_de["word_translation"]]
        df_en_de = df_en_de[keep]
    if input_lang == target_lang:
        df = df_en_de.rename(columns={"word_original": "en", "word_translation": target_lang})
    else:
        df = df_en_de.merge(df_en_fr, on=["word_original"], suffixes=(f"_{target_lang}", f"_{input_lang}"))
        df = df.rename(
            columns={
                "word_original": "en",
                f"word_translation_{target_lang}": target_lang if target_lang != "en" else "en_tgt",
                f"word_translation_{input_lang}": input_lang if input_lang != "en" else "en_in",
            }
        )
    if target_lang != "en":
        for i, row in df.iterrows():
            if row["en"].lower() in row[target_lang].lower():
                df = df.drop(i)
    df = df.reset_index(drop=True)
    dataset = []
    for ind in range(len(df)):
        temp = df[df.index != ind]
        picked = pd.concat([temp.sample(4), df[df.index == ind]], axis=0)
        prompt = ""
        for idx, (_, row) in enumerate(picked.iterrows()):
            if idx < 4:
                prompt += (
                    f'{NAMES[input_lang]}: "{row[input_lang]}" - {NAMES[target_lang]}: "{row[target_lang]}"\n'
                )
            else:
                prompt += f'{NAMES[input_lang]}: "{row[input_lang]}" - {NAMES[target_lang]}: "'
                out_ids = notebook_token_ids(row[target_lang], tokenizer, target_lang)
                latent_ids = notebook_token_ids(row["en"], tokenizer, "en")
                if not out_ids or not latent_ids or (target_lang != "en" and out_ids & latent_ids):
                    continue
                dataset.append(
                    {
                        "prompt": prompt,
                        "out_token_id": out_ids,
                        "out_token_str": row[target_lang],
                        "latent_token_id": latent_ids,
                        "latent_token_str": row["en"],
                        "in_token_str": row[input_lang],
                    }
                )
    return dataset


def notebook_cloze(folder, target_lang, tokenizer):
    """Cloze.ipynb, cells 1, 3, 7 and 9, restated."""
    np.random.seed(42)
    key = "blank_prompt_translation_masked"
    df_en_de = _notebook_read(folder, target_lang).reset_index(drop=True)
    dataset = []
    for idx, (_, row) in enumerate(df_en_de.iterrows()):
        indices = set(range(len(df_en_de))) - {idx}
        examples = np.random.choice(list(indices), 2, replace=False)
        template = f"{df_en_de[key][examples[0]]}\n{df_en_de[key][examples[1]]}\n"
        out_ids = notebook_token_ids(row["word_translation"], tokenizer, target_lang)
        latent_ids = notebook_token_ids(row["word_original"], tokenizer, "en")
        if not out_ids or not latent_ids or (target_lang != "en" and out_ids & latent_ids):
            continue
        cut = row[key].split("：")[0] if target_lang == "zh" else row[key].split(":")[0]
        dataset.append(
            {
                "prompt": template + cut + ': "',
                "out_token_id": out_ids,
                "out_token_str": row["word_translation"],
                "latent_token_id": latent_ids,
                "latent_token_str": row["word_original"],
            }
        )
    return dataset


def _as_sets(table: pd.DataFrame) -> list[dict]:
    records = table.to_dict("records")
    for r in records:
        for column in ("out_token_id", "latent_token_id"):
            r[column] = set(eval(r[column])) if isinstance(r[column], str) else set(r[column])  # noqa: S307
    return records


@pytest.mark.parametrize(
    ("src", "tgt"), [("fr", "zh"), ("de", "zh"), ("zh", "de"), ("en", "zh"), ("de", "de")]
)
def test_prompts_concepts_and_token_ids_are_the_notebooks(published, sp_model, tmp_path, src, tgt):
    config_class, kwargs = (
        (RepetitionConfig, {"lang": tgt}) if src == tgt else (TranslationConfig, {"src": src, "tgt": tgt})
    )
    config = config_class(**kwargs, words=str(published), protocol="wendler2024", out=str(tmp_path))
    result = run_task(config, lm=sp_model, progress=False)
    expected = notebook_translation(published, src, tgt, sp_model.tokenizer)
    assert len(expected) >= 8
    assert _as_sets(result.dataset()) == expected


def test_single_token_subset_is_the_notebooks(published, sp_model, tmp_path):
    config = TranslationConfig(
        src="fr", tgt="de", words=str(published), protocol="wendler2024", tokens="single"
    )
    result = run_task(config, lm=sp_model, progress=False)
    expected = notebook_translation(published, "fr", "de", sp_model.tokenizer, single_token_only=True)
    assert 0 < len(expected) < len(notebook_translation(published, "fr", "de", sp_model.tokenizer))
    assert _as_sets(result.dataset()) == expected
    multi = run_task(
        TranslationConfig(src="fr", tgt="de", words=str(published), protocol="wendler2024", tokens="multi"),
        lm=sp_model,
        progress=False,
    )
    assert not set(multi.dataset()["out_token_str"]) & set(result.dataset()["out_token_str"])
    assert "token count" in set(multi.dropped()["reason"])


@pytest.mark.parametrize("lang", ["zh", "de", "fr"])
def test_cloze_is_the_notebooks(published, sp_model, lang):
    config = ClozeConfig(lang=lang, cloze=str(published), words=str(published), protocol="wendler2024")
    result = run_task(config, lm=sp_model, progress=False)
    expected = notebook_cloze(published, lang, sp_model.tokenizer)
    ours = [{k: v for k, v in r.items() if k != "in_token_str"} for r in _as_sets(result.dataset())]
    assert ours == expected and len(expected) >= 8


def reference_layers(
    model, tokenizer, prompt: str, sets: list[set[int]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """One prompt alone, as the notebooks read it: every decoder block's output (hooked, before the
    final norm), then ``norm`` and ``lm_head``, a softmax, summed over each set. Returns the set
    probabilities ``[layer, set]`` and the latents ``[layer, d_model]``."""
    outputs = []
    hooks = [
        layer.register_forward_hook(lambda m, a, o: outputs.append(o[0] if isinstance(o, tuple) else o))
        for layer in model.model.layers
    ]
    try:
        with torch.no_grad():
            model(**tokenizer(prompt, return_tensors="pt"))
    finally:
        for hook in hooks:
            hook.remove()
    latents = torch.cat([o[:, -1] for o in outputs])  # [layer, d_model]
    with torch.no_grad():
        last = torch.softmax(model.lm_head(model.model.norm(latents)).float(), dim=-1)
    return torch.stack([last[:, sorted(s)].sum(-1) for s in sets], -1), latents.float()


def reference_means(
    model, tokenizer, dataset: list[dict], gain: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-layer means over the dataset's prompts, one prompt at a time: P(latent), P(out)
    ``[layer, 2]``, and the notebooks' energy ``[layer]`` with the final norm's ``gain``."""
    refs = [
        reference_layers(model, tokenizer, d["prompt"], [d["latent_token_id"], d["out_token_id"]])
        for d in dataset
    ]
    latents = torch.stack([r[1] for r in refs])  # [prompt, layer, d_model]
    energy = notebook_energy(latents.flatten(0, 1), model.lm_head.weight.detach().float(), gain)
    return torch.stack([r[0] for r in refs]).mean(0).double(), energy.view(latents.shape[:2]).mean(0).double()


def test_layer_means_match_a_one_prompt_at_a_time_reference(published, sp_model):
    config = TranslationConfig(src="fr", tgt="zh", words=str(published), protocol="wendler2024", batch_size=5)
    result = run_task(config, lm=sp_model, progress=False)
    dataset = _as_sets(result.dataset())
    model = sp_model.model
    probs, energy = reference_means(model, sp_model.tokenizer, dataset, model.model.norm.weight.detach())
    assert_layer_means(result, probs, energy)
    assert result.meta["energy"] == "wendler2024" and result.meta["ci"] == "normal"


def assert_layer_means(result, probs: torch.Tensor, energy: torch.Tensor) -> None:
    """The result's per-layer means of P(en), P(tgt) and energy at layers 1..L equal the reference's
    within 1e-4 (the notebooks read no layer 0)."""
    summary = result.summary().set_index(["language", "layer"])["mean"]
    for j, lang in enumerate(["en", result.meta["tgt"]]):
        ours = torch.tensor(
            [summary[(lang, layer)] for layer in range(1, result.n_layers)], dtype=torch.float64
        )
        torch.testing.assert_close(ours, probs[:, j], atol=1e-4, rtol=0)
    ours_energy = torch.tensor(result.energy_summary()["mean"].to_numpy()[1:], dtype=torch.float64)
    torch.testing.assert_close(ours_energy, energy, atol=1e-4, rtol=0)


def test_source_copying_is_split_out_of_english(published, sp_model):
    """Under the notebooks' rule English may share tokens with the source word (chat/cat): that
    part is reported; under latentlang's it is always 0 (such concepts are dropped)."""
    wendler = run_task(
        TranslationConfig(src="fr", tgt="zh", words=str(published), protocol="wendler2024"),
        lm=sp_model,
        progress=False,
    )
    concepts = list(wendler.prompts["concept"])
    cat = concepts.index("cat")
    assert (wendler.from_source[cat, :, 0] > 0).all()  # c, ▁c begin both "cat" and "chat"
    assert (wendler.from_source[:, :, 0] <= wendler.probs[:, :, 0] + 1e-7).all()
    assert np.allclose(wendler.from_source[:, :, 1], wendler.probs[:, :, 1])  # the source's own set
    ours = run_task(TranslationConfig(src="fr", tgt="zh", words=str(published)), lm=sp_model, progress=False)
    assert "cat" not in set(ours.prompts["concept"]) and np.all(ours.from_source[:, :, 0] == 0)
    assert "from_source" in wendler.summary().columns


def test_outputs_and_dropped_reasons(published, sp_model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    args = ["translate", "--quiet", "--src", "zh", "--tgt", "de", "--model", str(sp_model_dir)]
    code = main([*args, "--words", str(published), "--protocol", "wendler2024", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    for name in ("dataset.csv", "dropped.csv", "summary.csv", "source_split.png", "latent_language.png"):
        assert (out / name).is_file(), name
    dataset = pd.read_csv(out / "dataset.csv")
    assert list(dataset.columns) == [
        "prompt",
        "out_token_id",
        "out_token_str",
        "latent_token_id",
        "latent_token_str",
        "in_token_str",
    ]
    assert dataset["out_token_id"].str.fullmatch(r"\[\d+(, \d+)*\]").all()
    dropped = pd.read_csv(out / "dropped.csv")
    reasons = dict(zip(dropped["concept"], dropped["reason"]))
    assert reasons["hand"] == "substring"  # English "hand" inside "Hand"
    assert any(r == "malformed row" for r in reasons.values())  # de's empty cell
    assert set(dataset["latent_token_str"]) | set(dropped["concept"]) >= {c[0] for c in CONCEPTS}


def test_protocol_options_that_do_not_fit_are_refused(sp_model):
    with pytest.raises(LatentLangError, match="--overlap exclude is latentlang's"):
        TranslationConfig(src="fr", tgt="zh", protocol="wendler2024", overlap="exclude")
    with pytest.raises(LatentLangError, match="draws demonstrations per prompt"):
        TranslationConfig(src="fr", tgt="zh", protocol="wendler2024", shared_demos=True)
    from latentlang.studies.prompts import TaskPrompt
    from latentlang.studies.readout import prepare

    with pytest.raises(LatentLangError, match="say which language is the target"):
        prepare(
            sp_model,
            [TaskPrompt("x", "dog", {"en": "dog", "zh": "狗"})],
            ["en", "zh"],
            protocol="wendler2024",
        )
    config = ClozeConfig(lang="fr", protocol="wendler2024")
    assert (config.n_shots, config.seed, config.ci) == (2, 42, "normal")
    assert (TranslationConfig(src="fr", tgt="zh").seed, TranslationConfig(src="fr", tgt="zh").ci) == (0, "t")
