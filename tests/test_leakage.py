"""Logit leakage: answer reading, option token sets, the per-layer option distribution, flags."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import save_tiny_llama, tiny_tokenizer

from latentlang import LatentLangError
from latentlang.language.questions import load_questions
from latentlang.language.refusal import read_answer
from latentlang.results.leakage import LeakageResult, js_divergence
from latentlang.studies.leakage import LeakageConfig, run_leakage

OPTIONS = {
    "en": ["Always", "Sometimes", "Never"],
    "ar": ["دائمًا", "أحيانًا", "أبدًا"],
    "fa": ["همیشه", "گاهی", "هرگز"],
    "tr": ["Her zaman", "Bazen", "Asla"],
    "zh": ["总是", "有时", "从不"],
}


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        ("en", "I'm sorry, but as an AI I don't have personal opinions."),
        ("en", "I cannot answer that question."),
        ("ar", "عذرا، لا أستطيع الإجابة على هذا السؤال."),
        ("ar", "كذكاء اصطناعي، ليس لدي آراء شخصية."),
        ("fa", "متاسفم، من نظر شخصی ندارم."),
        ("fa", "به عنوان یک هوش مصنوعی نمی‌توانم پاسخ دهم."),
        ("tr", "Üzgünüm, bir yapay zeka olarak kişisel görüşüm yok."),
        ("tr", "Bu soruya cevap veremem."),
        ("zh", "抱歉，作为一个人工智能，我没有个人观点。"),
        ("zh", "我无法回答这个问题。"),
    ],
)
def test_refusals_in_each_shipped_language(lang, text):
    read = read_answer(text, OPTIONS[lang])
    assert read.refused and read.option is None


@pytest.mark.parametrize(
    ("lang", "text", "option"),
    [
        ("en", "2", 2),
        ("en", " 3. Never", 3),
        ("en", "Sometimes.", 2),
        ("ar", "الإجابة: ٢", 2),  # Arabic-Indic digit
        ("fa", "۳", 3),  # Persian digit
        ("zh", "答案：１", 1),  # full-width digit
        ("tr", "Bazen", 2),
        ("en", "1. Always, 2. Sometimes or 3. Never", None),  # names several options: no choice
        ("en", "Well, that is an interesting question", None),
    ],
)
def test_answers_are_read(lang, text, option):
    read = read_answer(text, OPTIONS[lang])
    assert read.option == option and not read.refused


def test_js_divergence():
    p = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    assert js_divergence(p, p) == pytest.approx([0.0, 0.0])
    assert js_divergence(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(1.0)


def _constructed() -> LeakageResult:
    """Three items, two layers: layer 1 is confident for items 0 and 1; item 0 refused, item 1
    answered, item 2 chose nothing but is never confident; at layer 0 the options hold no mass."""
    items = pd.DataFrame(
        {
            "question_id": ["q", "q", "r"],
            "topic": "t",
            "language": ["en", "ar", "en"],
            "framing": "personal",
            "n_options": [3, 3, 2],
            "prompt": "p",
            "generated": ["I cannot say", "2", "hmm"],
            "answer": [0, 2, 0],
            "refused": [True, False, False],
        }
    )
    probs = np.array(
        [
            [[0.9, 0.05, 0.05], [0.8, 0.1, 0.1]],
            [[0.95, 0.05, 0.0], [0.1, 0.9, 0.0]],
            [[0.5, 0.5, np.nan], [0.55, 0.45, np.nan]],
        ]
    )
    mass = np.array([[0.001, 0.6], [0.001, 0.7], [0.001, 0.5]])
    return LeakageResult(items, probs, mass, probs[:, -1], {"model": "constructed"})


def test_leak_flags_on_constructed_items():
    m = _constructed().measures(threshold=0.7, min_mass=0.1)
    flags = m.set_index(["question_id", "language", "layer"])["leak"]
    assert flags[("q", "en", 1)]  # refused, confident, real mass
    assert not flags[("q", "en", 0)]  # confident but the options hold no mass at layer 0
    assert not flags[("q", "ar", 1)]  # answered in text
    assert not flags[("r", "en", 1)]  # silent but not confident (0.55)
    assert m.set_index(["question_id", "language", "layer"])["preferred"][("q", "ar", 1)] == 2
    share = _constructed().leak_share(0.7, 0.1).set_index(["language", "layer"])
    assert share.loc[("en", 1), "share"] == 0.5 and share.loc[("en", 1), "n"] == 2


def test_value_shift_compares_the_same_question():
    shift = _constructed().value_shift("en").set_index("layer")
    expected = js_divergence(np.array([0.1, 0.9, 0.0]), np.array([0.8, 0.1, 0.1]))
    assert shift.loc[1, "js_bits"] == pytest.approx(expected) and shift.loc[1, "n"] == 1


def _question_file(tmp_path, options=("Always", "Sometimes", "Never"), langs=("en",)):
    rows = [
        {
            "id": f"q{i}",
            "topic": "t",
            "options": {lang: list(options) for lang in langs},
            "framings": {
                "personal": {lang: f"Is thing {i} fine for you?" for lang in langs},
                "neutral": {lang: f"Is thing {i} fine?" for lang in langs},
            },
        }
        for i in range(3)
    ]
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny")
    save_tiny_llama(
        path, tiny_tokenizer(["Question: Is thing 1 fine for you? 1. Always 2. Sometimes 3. Never"] * 20)
    )
    return path


def test_tiny_model_run_reproduces_the_final_distribution(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))
    config = LeakageConfig(
        model=str(tiny_dir),
        questions=str(_question_file(tmp_path)),
        langs=["en"],
        framings=["neutral", "personal"],
        out=str(tmp_path / "out"),
        max_new_tokens=4,
        batch_size=4,
    )
    result = run_leakage(config, progress=False)
    assert len(result.items) == 6
    np.testing.assert_allclose(np.nansum(result.option_probs, -1), 1.0, atol=1e-5)  # every layer sums to 1
    np.testing.assert_allclose(result.option_probs[:, -1], result.final_probs, atol=1e-5)  # lens = model
    long = result.to_dataframe()
    assert list(long.columns) == [
        "question_id",
        "language",
        "framing",
        "layer",
        "option",
        "prob",
        "refused",
        "answer",
    ]
    assert len(long) == 6 * result.n_layers * 3
    again = LeakageResult.load(tmp_path / "out" / "result.npz")
    pd.testing.assert_frame_equal(again.items, result.items)


def test_bad_question_sets(tmp_path):
    with pytest.raises(LatentLangError, match="fewer than 2 options"):
        load_questions(_question_file(tmp_path, options=("Only",)))
    path = tmp_path / "uneven.jsonl"
    path.write_text(
        json.dumps({"id": "u", "options": {"en": ["a", "b"], "ar": ["a", "b", "c"]}, "framings": {}})
    )
    with pytest.raises(LatentLangError, match="different numbers of options"):
        load_questions(path)


def test_missing_language_and_missing_chat_template(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))
    questions = str(_question_file(tmp_path))
    missing = LeakageConfig(
        model=str(tiny_dir),
        questions=questions,
        langs=["en", "ar"],
        framings=["personal"],
        out=str(tmp_path / "a"),
    )
    with pytest.raises(LatentLangError, match="question 'q0' has no ar text"):
        run_leakage(missing, progress=False)
    chat = LeakageConfig(
        model=str(tiny_dir), questions=questions, langs=["en"], chat="yes", out=str(tmp_path / "b")
    )
    with pytest.raises(LatentLangError, match="has no chat template"):
        run_leakage(chat, progress=False)


def test_shipped_questions():
    questions = load_questions()
    assert len(questions) >= 60
    for q in questions:
        assert {"en", "ar", "fa", "tr", "zh"} <= set(q.options)
        assert set(q.framings) == {"neutral", "personal", "observer"}
        assert all("{country}" in text for text in q.framings["observer"].values())


def test_only_the_first_line_answers():
    assert read_answer("2\nAnswer: 3", OPTIONS["en"]).option == 2
    assert read_answer("\n  Never\n1. Always", OPTIONS["en"]).option == 3


def test_leakage_command(tiny_dir, tmp_path, monkeypatch, capsys):
    from latentlang.cli import main

    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))
    questions = _question_file(tmp_path, langs=("en", "ar"))
    out = tmp_path / "out"
    code = main(
        [
            "leakage",
            "--quiet",
            "--model",
            str(tiny_dir),
            "--questions",
            str(questions),
            "--langs",
            "en,ar",
            "--framings",
            "personal",
            "--out",
            str(out),
            "--max-new-tokens",
            "3",
        ]
    )
    stdout, err = capsys.readouterr()
    assert code == 0, err
    long = pd.read_csv(out / "leakage.csv")
    assert set(long.language) == {"en", "ar"} and long.layer.max() == 2
    for name in ("items.csv", "leak_share.png", "value_shift.png", "result.npz"):
        assert (out / name).is_file(), name
    assert list(out.glob("question-*.png"))
    assert "en: 3 items" in stdout


def test_an_option_that_says_it_depends_is_an_answer():
    options = ["Yes", "It depends", "No"]
    assert read_answer("It depends", options) == (2, False)
    assert read_answer("It depends on the person.", ["Always", "Never"]).refused


def test_an_option_without_a_token_is_reported_not_dropped_silently(tmp_path, monkeypatch, caplog):
    """A vocabulary with the digits 1 and 2 but no 3: the three-option items cannot be measured;
    they are named in a warning and in the result's meta."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    monkeypatch.setenv("LATENTLANG_CACHE", str(tmp_path / "cache"))
    words = [
        "<pad>",
        "<bos>",
        "Question:",
        "Is",
        "thing",
        "fine",
        "for",
        "you",
        "?",
        "Always",
        "Sometimes",
        "Never",
        "Answer",
        ":",
        "with",
        "the",
        "number",
        "of",
        "one",
        "option",
        "only",
        ".",
        "1",
        "2",
        "0",
    ]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>")
    save_tiny_llama(tmp_path / "model", fast, n_layers=1)
    two = tmp_path / "two.jsonl"
    two.write_text(
        json.dumps(
            {
                "id": "two",
                "options": {"en": ["Always", "Never"]},
                "framings": {"personal": {"en": "Is thing fine for you?"}},
            }
        )
        + "\n"
        + json.dumps(
            {
                "id": "three",
                "options": {"en": ["Always", "Sometimes", "Never"]},
                "framings": {"personal": {"en": "Is thing fine for you?"}},
            }
        )
    )
    config = LeakageConfig(
        model=str(tmp_path / "model"),
        questions=str(two),
        langs=["en"],
        framings=["personal"],
        out=str(tmp_path / "out"),
        max_new_tokens=2,
    )
    with caplog.at_level("WARNING"):
        result = run_leakage(config, progress=False)
    assert list(result.items["question_id"]) == ["two"]
    assert result.meta["unmeasurable"] == ["three (en, personal): option(s) [3] have no token"]
    assert "three (en, personal)" in caplog.text
