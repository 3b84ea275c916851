"""The ``wendler2024`` protocol reproduces the published notebooks: their concept sets, prompts and
token ids, and per-layer means of a one-prompt-at-a-time reference computation.

The fixture is a small folder in the published ``data/langs/{lang}/clean.csv`` layout (written here,
with the awkward rows real data has); the references restate the notebooks' procedure step by step
(``Translation.ipynb``, ``Cloze.ipynb`` of epfl-dlab/llm-latent-language).
"""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import save_tiny_llama, tiny_sp_tokenizer
from test_lens_readout import notebook_energy
from test_tokens import notebook_token_ids

from latentlang.cli import main
from latentlang.datasets import load_cloze, load_words
from latentlang.errors import LatentLangError
from latentlang.experiments import ClozeConfig, RepetitionConfig, TranslationConfig, run_task
from latentlang.loading import load_model
from latentlang.tasks import cloze_prompts, translation_prompts

NAMES = {"fr": "Français", "de": "Deutsch", "ru": "Русский", "en": "English", "zh": "中文"}
#: en, de, fr, ru, zh. "hand"/"Hand" meets the substring filter; fr words starting like English
#: (chat/cat, montagne/mountain) stay under the notebooks' rule (target zh) but not latentlang's.
CONCEPTS = [
    ("dog", "Hund", "chien", "собака", "狗"),
    ("cat", "Katze", "chat", "кошка", "猫"),
    ("sun", "Sonne", "soleil", "солнце", "太阳"),
    ("moon", "Mond", "lune", "луна", "月亮"),
    ("water", "Wasser", "eau", "вода", "水"),
    ("fire", "Feuer", "feu", "огонь", "火"),
    ("tree", "Baum", "arbre", "дерево", "树"),
    ("house", "Haus", "maison", "дом", "房子"),
    ("book", "Buch", "livre", "книга", "书"),
    ("hand", "Hand", "main", "рука", "手"),
    ("mountain", "Berg", "montagne", "гора", "山"),
    ("flower", "Blume", "fleur", "цветок", "花"),
    ("bird", "Vogel", "oiseau", "птица", "鸟"),
    ("fish", "Fisch", "poisson", "рыба", "鱼"),
    ("apple", "Apfel", "pomme", "яблоко", "苹果"),
    ("bread", "Brot", "pain", "хлеб", "面包"),
]
LANGS = ["en", "de", "fr", "ru", "zh"]
ANSWER = {"en": "Answer", "de": "Antwort", "fr": "Réponse", "ru": "Ответ", "zh": "答案"}


def _cloze(lang: str, word: str, i: int) -> str:
    """A masked sentence in the published shapes: ``"___"``, zh's ``"_"`` and full-width colon,
    an answer in single quotes (de) and nested quotes (fr)."""
    if lang == "zh":
        return f'"_"是第{i}个东西。答案："{word}"。'
    if lang == "de" and i == 3:
        return f"Ein \"___\" ist Ding {i}. Antwort: '{word}'."
    if lang == "fr" and i == 4:
        return f'"Un "___" est la chose {i}". Réponse : le "{word}"".'
    return f'A "___" is thing number {i}. {ANSWER[lang]}: "{word}".'


def write_published(folder) -> None:
    """The fixture folder: each language's rows in its own order, ru without "apple", de with an
    empty cell, en's file without "bread"."""
    for j, lang in enumerate(LANGS):
        rows = [
            c
            for c in CONCEPTS
            if not (lang == "ru" and c[0] == "apple") and not (lang == "en" and c[0] == "bread")
        ]
        rows = rows[j:] + rows[:j]  # another order per file
        words = [c[LANGS.index(lang)] for c in rows]
        if lang == "de":
            words[5] = ""  # a malformed row: no translation
        frame = pd.DataFrame(
            {
                "lang": lang,
                "word_original": [c[0] for c in rows],
                "word_translation": words,
                "blank_prompt_translation_masked": [_cloze(lang, w, i) for i, w in enumerate(words)],
            }
        )
        (folder / lang).mkdir(parents=True)
        frame.to_csv(folder / lang / "clean.csv", index=False)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Runs without --out write into runs/ of the working folder: keep that in the test's own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    folder = tmp_path_factory.mktemp("langs")
    write_published(folder)
    return folder


@pytest.fixture(scope="module")
def sp_model_dir(tmp_path_factory):
    """A tiny random Llama with a SentencePiece-style tokenizer (``▁``, byte fallback)."""
    corpus = [" ".join(c) for c in CONCEPTS] * 8 + ['Français: "chien" - 中文: "狗"\n'] * 4
    path = tmp_path_factory.mktemp("tiny-sp")
    save_tiny_llama(path, tiny_sp_tokenizer(corpus))
    return path


@pytest.fixture(scope="module")
def sp_model(sp_model_dir):
    return load_model(str(sp_model_dir), device="cpu", dtype="float32")


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
    from latentlang.study import prepare
    from latentlang.tasks import TaskPrompt

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


def test_published_cloze_rows_are_tolerated(published):
    """zh's "_" blank, de's single-quoted answer and fr's nested quotes are all usable; a row with
    an empty cell is skipped and counted."""
    sentences = load_cloze(published)
    words = load_words(published)
    for lang in ["zh", "de", "fr", "ru", "en"]:
        prompts = cloze_prompts(sentences, words, lang)
        assert len(prompts) >= 14, lang
        for p in prompts:
            query = p.text.splitlines()[-1]
            assert query.endswith('"') and p.answers[lang] not in query, (lang, query)
    de = cloze_prompts(sentences, words, "de")
    assert [d.reason for d in de.dropped] == ["malformed row"]
    fr = cloze_prompts(sentences, words, "fr")
    nested = next(p for p in fr if "est la chose 4" in p.text.splitlines()[-1])
    assert nested.text.endswith('Réponse : le "')  # up to the quoted answer, its article kept
    single = next(p for p in de if "ist Ding 3" in p.text.splitlines()[-1])
    assert single.text.endswith('Antwort: "')  # the answer is not in double quotes: cut at the marker


def test_wendler_words_keep_each_file_and_its_order(published):
    words = load_words(published)
    assert words.files is not None and [d.reason for d in words.skipped] == ["malformed row"]
    rows = words.paper_rows("fr", "zh")
    zh_file = pd.read_csv(published / "zh" / "clean.csv")
    assert list(rows["en"]) == [e for e in zh_file["word_original"] if e in set(rows["en"])]
    assert "apple" not in set(words.paper_rows("ru", "zh")["en"])  # ru has no apple
    assert "bread" not in set(words.paper_rows("en", "zh")["en"])  # en's file lacks bread
    assert "bread" in set(words.paper_rows("fr", "zh")["en"])  # English is the key otherwise
    prompts = translation_prompts(words, "fr", "zh", protocol="wendler2024")
    assert prompts[0].text.count("\n") == 4 and len(prompts) == len(rows)


def test_reproduce_runs_the_whole_set_and_resumes(published, sp_model_dir, tmp_path, capsys, monkeypatch):
    from latentlang import study

    out = tmp_path / "repro"
    args = ["reproduce", "wendler2024", "--quiet", "--data", str(published), "--model", str(sp_model_dir)]
    args += ["--langs", "en,fr,zh", "--tasks", "translation", "--out", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    table = pd.read_csv(out / "n.csv")
    pairs = {f"translation-{s}-{t}" for s in "en fr zh".split() for t in "en fr zh".split() if s != t}
    pooled = {"translation-to-en", "translation-to-fr", "translation-to-zh"}
    assert set(table["run"]) == pairs | pooled
    by_run = table.set_index("run")
    # The paper pools the non-English sources: English's own pair is not part of it.
    assert by_run.loc["translation-to-zh", "n"] == by_run.loc["translation-fr-zh", "n"]
    to_en = by_run.loc[["translation-fr-en", "translation-zh-en"], "n"].sum()
    assert by_run.loc["translation-to-en", "n"] == to_en
    for run in pairs:
        assert (out / run / "dataset.csv").is_file() and (out / run / "dropped.csv").is_file(), run
    assert (out / "translation-to-zh" / "latent_language.png").is_file()
    assert (table["n_single"] <= table["n"]).all()

    def no_recompute(*_args, **_kwargs):
        raise AssertionError("a finished run was computed again")

    monkeypatch.setattr(study, "_run_batch", no_recompute)
    assert main(args) == 0  # every run is finished: loaded, not recomputed
    pd.testing.assert_frame_equal(pd.read_csv(out / "n.csv"), table)


def test_reproduce_needs_the_data_folder(capsys):
    assert main(["reproduce", "wendler2024", "--data", "/no/such/folder"]) == 2
    assert "is not a folder" in capsys.readouterr().err
