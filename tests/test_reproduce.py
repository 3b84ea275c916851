"""Published layouts read as the papers' code reads them, and ``latentlang reproduce`` over a whole
study (the fixture folder: tests/published_layout.py)."""

import pandas as pd
import pytest

from latentlang.cli import main
from latentlang.language.datasets import load_cloze, load_words
from latentlang.studies.prompts import cloze_prompts, translation_prompts

pytestmark = pytest.mark.usefixtures("in_tmp")


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


def test_reproduce_runs_the_whole_set_and_resumes(published, sp_model_dir, tmp_path, capsys, batches):
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

    batches.forbid = True
    assert main(args) == 0  # every run is finished: loaded, not recomputed
    pd.testing.assert_frame_equal(pd.read_csv(out / "n.csv"), table)


def test_reproduce_needs_the_data_folder(capsys):
    assert main(["reproduce", "wendler2024", "--data", "/no/such/folder"]) == 2
    assert "is not a folder" in capsys.readouterr().err
