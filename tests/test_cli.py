"""The ``latentlang`` command on a tiny local model: outputs, one-line errors, resuming."""

import numpy as np
import pandas as pd
import pytest
import transformers
from conftest import save_tiny_llama

from latentlang.cli import main
from latentlang.results.lens_result import LensResult


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))


def main_run(capsys, command, *args):
    code = main([command, "--quiet", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def _run(capsys, *args):
    return main_run(capsys, "translate", *args)


def test_translate_writes_summary_figures_and_result(tiny_dir, words_csv, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, _ = _run(
        capsys,
        "--src",
        "fr",
        "--tgt",
        "zh",
        "--model",
        tiny_dir,
        "--words",
        words_csv,
        "--out",
        out,
        "--batch-size",
        4,
    )
    assert code == 0
    for name in (
        "summary.csv",
        "result.npz",
        "latent_language.png",
        "latent_language.pdf",
        "language_mass.png",
    ):
        assert (out / name).is_file(), name
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns)[:5] == ["layer", "language", "mean", "ci_low", "ci_high"]
    assert set(summary.language) == {"en", "fr", "zh"}
    assert summary.layer.max() == 2
    result = LensResult.load(out / "result.npz")
    assert result.n_prompts + result.meta["n_dropped"] == 14
    assert "mean probability at the last layer" in stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--src", "xx", "--tgt", "zh"], "unknown language code 'xx'"),
        (["--src", "fr", "--tgt", "fr"], "both 'fr'"),
        (["--src", "fr", "--tgt", "zh", "--model", "/no/such/model"], "is not a model directory"),
        (["--src", "fr", "--tgt", "zh", "--batch-size", "0"], "batch_size must be at least 1"),
    ],
)
def test_bad_input_gives_one_line_error(args, message, capsys):
    code, _, err = _run(capsys, *args)
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_empty_word_list(tmp_path, tiny_dir, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("en,fr,zh\n")
    code, _, err = _run(capsys, "--src", "fr", "--tgt", "zh", "--model", tiny_dir, "--words", empty)
    assert code == 2 and "is empty" in err


def test_word_list_without_the_language(tmp_path, tiny_dir, words_csv, capsys):
    code, _, err = _run(capsys, "--src", "fr", "--tgt", "ja", "--model", tiny_dir, "--words", words_csv)
    assert code == 2 and "no column for 'ja'" in err


def test_broken_gguf(tmp_path, capsys):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    code, _, err = _run(capsys, "--src", "fr", "--tgt", "zh", "--model", bad)
    assert code == 2 and "could not load GGUF file" in err and err.count("\n") == 1


def test_word_without_tokens(tmp_path, tiny_dir, capsys):
    """A vocabulary without byte fallback cannot start every word: that word is named."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["<pad>", "<bos>", '"', ":", "-", "Français", "中文", "chien", "chat", "dog", "cat", "狗"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>")
    model_dir = tmp_path / "wordlevel"
    save_tiny_llama(model_dir, fast, n_layers=1)
    word_csv = tmp_path / "w.csv"
    word_csv.write_text("en,fr,zh\ndog,chien,狗\ncat,chat,猫\n")
    code, _, err = _run(
        capsys, "--src", "fr", "--tgt", "zh", "--model", model_dir, "--words", word_csv, "--n-shots", 1
    )
    assert code == 2 and "the zh word '猫' has no token" in err


def test_interrupted_run_resumes_without_recomputing(tiny_dir, words_csv, tmp_path, capsys, batches):
    args = ["--src", "fr", "--tgt", "zh", "--model", tiny_dir, "--words", words_csv, "--batch-size", 3]
    reference_out = tmp_path / "reference"
    assert _run(capsys, *args, "--out", reference_out)[0] == 0
    reference = LensResult.load(reference_out / "result.npz")

    out = tmp_path / "resumed"
    batches.calls.clear()
    batches.interrupt_at = 3
    code, _, err = _run(capsys, *args, "--out", out)
    assert code == 130 and "resume" in err
    assert len(list((out / "parts").glob("*.npz"))) == 2
    assert not (out / "result.npz").exists()

    batches.calls.clear()
    batches.interrupt_at = None
    assert _run(capsys, *args, "--out", out)[0] == 0
    done_first = {i for part in batches.calls for i in part}
    assert min(done_first) == 6  # the two saved batches (prompts 0-5) were not recomputed
    resumed = LensResult.load(out / "result.npz")
    np.testing.assert_allclose(resumed.probs, reference.probs, rtol=1e-6)
    assert list(resumed.prompts.concept) == list(reference.prompts.concept)
    assert not (out / "parts").exists()  # the finished result replaces its parts

    batches.forbid = True
    assert _run(capsys, *args, "--out", out)[0] == 0  # a rerun of a finished run only loads it


def test_out_folder_of_another_run_is_refused(tiny_dir, words_csv, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["--model", tiny_dir, "--words", words_csv, "--out", out]
    assert _run(capsys, "--src", "fr", "--tgt", "zh", *base)[0] == 0
    code, _, err = _run(capsys, "--src", "zh", "--tgt", "fr", *base)
    assert code == 2 and "holds a run with other settings" in err


def test_backends_give_the_same_summary(tiny_dir, words_csv, tmp_path, capsys):
    summaries = {}
    for backend in ("hf", "nnsight", "transformer_lens"):
        out = tmp_path / backend
        args = ["--src", "fr", "--tgt", "zh", "--model", tiny_dir, "--words", words_csv, "--out", out]
        assert _run(capsys, *args, "--backend", backend)[0] == 0
        summaries[backend] = pd.read_csv(out / "summary.csv")
    for backend in ("nnsight", "transformer_lens"):
        np.testing.assert_allclose(summaries[backend]["mean"], summaries["hf"]["mean"], atol=1e-3, rtol=0)


def test_repeat_and_cloze_commands(tiny_dir, words_csv, tmp_path, capsys):
    code, _, err = main_run(
        capsys, "repeat", "--lang", "fr", "--model", tiny_dir, "--words", words_csv, "--out", tmp_path / "rep"
    )
    assert code == 0, err
    summary = pd.read_csv(tmp_path / "rep" / "summary.csv")
    assert set(summary.language) == {"en", "fr"}
    table = pd.read_csv(words_csv)
    cloze = tmp_path / "cloze.csv"
    pd.DataFrame(
        {
            "en": table.en,
            "lang": "fr",
            "sentence": [f'Un "___" est un {w}. Réponse : "{w}".' for w in table.fr],
        }
    ).to_csv(cloze, index=False)
    code, _, err = main_run(
        capsys,
        "cloze",
        "--lang",
        "fr",
        "--latent",
        "en,zh",
        "--model",
        tiny_dir,
        "--words",
        words_csv,
        "--cloze",
        cloze,
        "--out",
        tmp_path / "cloze",
    )
    assert code == 0, err
    result = LensResult.load(tmp_path / "cloze" / "result.npz")
    assert result.languages == ["en", "zh", "fr"]
    assert result.prompts.text[0].endswith('Réponse : "')
    code, _, err = main_run(capsys, "cloze", "--lang", "ko", "--model", tiny_dir, "--cloze", cloze)
    assert code == 2 and "no cloze sentences in 'ko'" in err


def test_grid_reuses_one_loaded_model(tiny_dir, words_csv, tmp_path, capsys, monkeypatch):
    import latentlang.core.loading

    loads = []
    real_load = latentlang.core.loading.load_model
    monkeypatch.setattr(
        latentlang.core.loading, "load_model", lambda *a, **k: loads.append(a) or real_load(*a, **k)
    )
    out = tmp_path / "grid"
    code, stdout, err = main_run(
        capsys,
        "grid",
        "--task",
        "translation",
        "--langs",
        "fr,zh,en",
        "--model",
        tiny_dir,
        "--words",
        words_csv,
        "--out",
        out,
    )
    assert code == 0, err
    assert len(loads) == 1
    table = pd.read_csv(out / "grid.csv")
    assert sorted(table.cell) == sorted(
        f"translation-{s}-{t}" for s in ("fr", "zh", "en") for t in ("fr", "zh", "en") if s != t
    )
    for name in ("grid.png", "grid_summary.pdf", "translation-zh-en/summary.csv"):
        assert (out / name).is_file(), name


def test_grid_of_one_language_is_refused(capsys):
    code, _, err = main_run(capsys, "grid", "--task", "repetition", "--langs", "fr")
    assert code == 2 and "a grid needs at least two languages" in err


def test_tokens_command(tiny_dir, tmp_path, capsys):
    out = tmp_path / "tokens"
    code, _, err = main_run(
        capsys,
        "tokens",
        "--prompt",
        'Français: "chien" - 中文: "',
        "--model",
        tiny_dir,
        "--out",
        out,
        "--top-k",
        3,
    )
    assert code == 0, err
    cells = pd.read_csv(out / "token_grid.csv")
    assert set(cells["rank"]) == {0, 1, 2} and cells.layer.max() == 2
    assert (out / "token_grid.png").is_file()
    code, _, err = main_run(capsys, "tokens", "--prompt", "", "--model", tiny_dir)
    assert code == 2 and "--prompt is empty" in err


def test_shared_demonstrations_run_through_the_prefix_cache(
    tiny_dir, words_csv, tmp_path, capsys, monkeypatch
):
    import latentlang.core.model

    args = ["--src", "fr", "--tgt", "zh", "--model", tiny_dir, "--words", words_csv, "--shared-demos"]
    assert _run(capsys, *args, "--out", tmp_path / "cached")[0] == 0
    monkeypatch.setattr(latentlang.core.model, "MIN_PREFIX", 10**6)  # no prompt prefix is long enough now
    assert _run(capsys, *args, "--out", tmp_path / "plain")[0] == 0
    cached, plain = (LensResult.load(tmp_path / name / "result.npz") for name in ("cached", "plain"))
    assert cached.n_prompts == 14 - 4 - cached.meta["n_dropped"]  # the 4 demonstrations are not queried
    assert len({t.split("\n")[0] for t in cached.prompts.text}) == 1  # one prefix for all
    np.testing.assert_allclose(cached.probs, plain.probs, atol=1e-6)
    np.testing.assert_allclose(cached.entropy, plain.entropy, atol=1e-4)


def test_control_is_another_concepts_words_at_the_same_prompt(tiny_dir, words_csv, tmp_path, capsys):
    from latentlang import load_model
    from latentlang.core.lens import TokenSetIndex

    out = tmp_path / "out"
    assert (
        _run(capsys, "--src", "fr", "--tgt", "zh", "--model", tiny_dir, "--words", words_csv, "--out", out)[0]
        == 0
    )
    result = LensResult.load(out / "result.npz")
    lm = load_model(str(tiny_dir), device="cpu", dtype="float32")
    table = pd.read_csv(words_csv).set_index("en")
    for i in (0, result.n_prompts - 1):
        control = result.prompts.control_concept[i]
        assert control != result.prompts.concept[i]
        residual = lm.capture(lm.tokenize([result.prompts.text[i]])).residuals[:, :, -1]
        words = {"en": control, "fr": table.loc[control, "fr"], "zh": table.loc[control, "zh"]}
        sets = TokenSetIndex.from_lists(
            [[list(lm.vocab.token_set(words[lang]).ids) for lang in result.languages]]
        )
        expected = lm.lens.readout(residual, sets, 1).set_logprob.exp()[0].numpy()
        np.testing.assert_allclose(result.control[i], expected, rtol=1e-4, atol=1e-9)
