"""Word lists (shipped and published layout) and the translation prompt builder."""

import pandas as pd
import pytest

from latentlang.errors import LatentLangError
from latentlang.tasks import translation_prompts
from latentlang.words import WordList, load_words

REQUIRED = ["en", "de", "fr", "es", "it", "ru", "zh", "ja", "ko", "ar"]


def test_shipped_list_covers_the_required_languages():
    words = load_words()
    assert set(REQUIRED) <= set(words.languages)
    full = words.rows_with(REQUIRED)
    assert len(full) >= 120
    for lang in REQUIRED:
        assert full[lang].is_unique, lang
        assert not full[lang].str.contains(r"\s").any(), lang


def test_published_layout_is_joined_on_english(tmp_path):
    for lang, rows in {
        "fr": [("dog", "chien"), ("cat", "chat")],
        "zh": [("dog", "狗"), ("sun", "太阳")],
    }.items():
        (tmp_path / lang).mkdir()
        pd.DataFrame(
            {"lang": lang, "word_original": [r[0] for r in rows], "word_translation": [r[1] for r in rows]}
        ).to_csv(tmp_path / lang / "clean.csv", index=False)
    words = load_words(tmp_path)
    table = words.table.set_index("en")
    assert table.loc["dog", "fr"] == "chien" and table.loc["dog", "zh"] == "狗"
    assert pd.isna(table.loc["sun", "fr"]) and pd.isna(table.loc["cat", "zh"])
    assert list(words.rows_with(["fr", "zh"])["en"]) == ["dog"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("en,fr\n", "is empty"),
        ("fr,zh\nchien,狗\n", "no 'en' column"),
        ("en,xx\ndog,foo\n", "unknown language code 'xx'"),
        ("en,fr\nice cream,glace\n", "has a space"),
    ],
)
def test_bad_word_lists(tmp_path, content, message):
    path = tmp_path / "words.csv"
    path.write_text(content)
    with pytest.raises(LatentLangError, match=message):
        load_words(path)


def test_missing_word_list_path():
    with pytest.raises(LatentLangError, match="does not exist"):
        load_words("/no/such/words.csv")


def _words():
    table = pd.DataFrame(
        {
            "en": ["dog", "flower", "mountain", "water"],
            "fr": ["chien", "fleur", "montagne", "eau"],
            "zh": ["狗", "花", "山", "水"],
        }
    )
    return WordList(table, "test")


def test_translation_prompt_exact_text():
    prompts = translation_prompts(_words(), "fr", "zh", n_shots=2, seed=0)
    assert len(prompts) == 4
    dog = prompts[0]
    lines = dog.text.split("\n")
    assert lines[-1] == 'Français: "chien" - 中文: "'
    assert len(lines) == 3
    for line in lines[:-1]:
        assert line.startswith('Français: "') and '" - 中文: "' in line and line.endswith('"')
        assert "chien" not in line  # the query never appears among its demonstrations
    assert dog.answers == {"en": "dog", "fr": "chien", "zh": "狗"}
    assert dog.concept == "dog"


def test_translation_prompts_are_reproducible_and_seeded():
    a = translation_prompts(_words(), "fr", "zh", n_shots=2, seed=0)
    b = translation_prompts(_words(), "fr", "zh", n_shots=2, seed=0)
    c = translation_prompts(_words(), "fr", "zh", n_shots=2, seed=1)
    assert [p.text for p in a] == [p.text for p in b]
    assert [p.text for p in a] != [p.text for p in c]


def test_english_source_measures_two_languages():
    prompts = translation_prompts(_words(), "en", "zh", n_shots=1)
    assert prompts[0].text.endswith('English: "dog" - 中文: "')
    assert list(prompts[0].answers) == ["en", "zh"]


@pytest.mark.parametrize(
    ("src", "tgt", "message"),
    [
        ("fr", "fr", "two different languages"),
        ("fr", "xx", "unknown language code"),
        ("fr", "de", "no column for 'de'"),
    ],
)
def test_translation_bad_languages(src, tgt, message):
    with pytest.raises(LatentLangError, match=message):
        translation_prompts(_words(), src, tgt)


def test_too_few_concepts_for_the_shots():
    with pytest.raises(LatentLangError, match="too few"):
        translation_prompts(_words(), "fr", "zh", n_shots=4)
