"""Word lists (shipped and published layout) and the translation prompt builder."""

import pandas as pd
import pytest

from latentlang.errors import LatentLangError
from latentlang.language.datasets import load_cloze, load_words
from latentlang.language.words import WordList
from latentlang.studies.prompts import cloze_prompts, repetition_prompts, translation_prompts

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


def test_repetition_prompt_exact_text():
    words = WordList(pd.DataFrame({"en": ["sun", "flower", "dog"], "de": ["Sonne", "Blume", "Hund"]}), "t")
    prompts = repetition_prompts(words, "de", n_shots=1, seed=0)
    sun = prompts[0]
    demo, query = sun.text.split("\n")
    assert query == 'Deutsch: "Sonne" - Deutsch: "'
    assert demo in ('Deutsch: "Blume" - Deutsch: "Blume"', 'Deutsch: "Hund" - Deutsch: "Hund"')
    assert sun.answers == {"en": "sun", "de": "Sonne"}


CLOZE = pd.DataFrame(
    {
        "en": ["dog", "flower", "moon"],
        "lang": ["fr", "fr", "fr"],
        "sentence": [
            'Un "___" est un animal qui aboie. Réponse : "chien".',
            'Une "___" pousse dans les jardins. Réponse : "fleur".',
            'La "___" brille la nuit. Réponse : la "lune".',
        ],
    }
)


def test_cloze_prompt_exact_text():
    words = WordList(
        pd.DataFrame(
            {"en": ["dog", "flower", "moon"], "fr": ["chien", "fleur", "lune"], "zh": ["狗", "花", "月亮"]}
        ),
        "t",
    )
    prompts = cloze_prompts(CLOZE, words, "fr", ["en", "zh", "fr"], n_shots=2, seed=0)
    dog = prompts[0]
    lines = dog.text.split("\n")
    assert lines[-1] == 'Un "___" est un animal qui aboie. Réponse : "'
    assert sorted(lines[:2]) == sorted([CLOZE.sentence[1], CLOZE.sentence[2]])
    assert dog.answers == {"en": "dog", "zh": "狗", "fr": "chien"}
    assert prompts[2].text.endswith('Réponse : la "')  # an article before the answer is kept


def test_a_cloze_sentence_without_a_blank_is_skipped_and_counted():
    bad = CLOZE.copy()
    bad.loc[1, "sentence"] = 'Une fleur pousse dans les jardins. Réponse : "fleur".'
    words = WordList(pd.DataFrame({"en": ["dog", "flower", "moon"], "fr": ["chien", "fleur", "lune"]}), "t")
    prompts = cloze_prompts(bad, words, "fr", n_shots=1)
    assert [p.concept for p in prompts] == ["dog", "moon"]
    assert [(d.concept, d.reason) for d in prompts.dropped] == [("flower", "malformed row")]
    assert "no blank" in prompts.dropped[0].detail
    bad["sentence"] = "no blank here"
    with pytest.raises(LatentLangError, match="no usable fr cloze sentence"):
        cloze_prompts(bad, words, "fr", n_shots=1)


def test_cloze_language_without_data():
    words = WordList(pd.DataFrame({"en": ["dog"], "ko": ["개"]}), "t")
    with pytest.raises(LatentLangError, match="no cloze sentences in 'ko'"):
        cloze_prompts(CLOZE, words, "ko")


def test_published_cloze_layout(tmp_path):
    (tmp_path / "fr").mkdir()
    pd.DataFrame(
        {
            "lang": "fr",
            "word_original": ["dog"],
            "word_translation": ["chien"],
            "blank_prompt_translation_masked": ['Un "___" aboie. Réponse : "chien".'],
        }
    ).to_csv(tmp_path / "fr" / "clean.csv", index=False)
    frame = load_cloze(tmp_path)
    assert frame.to_dict("records") == [
        {
            "en": "dog",
            "lang": "fr",
            "sentence": 'Un "___" aboie. Réponse : "chien".',
            "answer": "chien",
            "problem": "",
        }
    ]


def test_shipped_cloze_sentences():
    from latentlang.studies.prompts import cloze_answer

    sentences = load_cloze()
    words = load_words().table.set_index("en")
    for lang in ["en", "de", "fr", "ru", "zh", "ja"]:
        mine = sentences[sentences.lang == lang]
        assert mine.en.nunique() >= 100, lang
        for concept, sentence in zip(mine.en, mine.sentence):
            expected = concept if lang == "en" else words.loc[concept, lang]
            assert cloze_answer(sentence) == expected, (lang, concept)


def write_dumas(folder) -> None:
    """A folder in Dumas et al.'s layout: {lang}/word_translation.csv, one Python-literal list of
    synonyms per language (one cell spanning two lines, one malformed, multi-word entries)."""
    rows = [
        {"word_original": "dog", "en": "['dog', 'hound']", "fr": "['chien', 'toutou']", "zh": "['狗', '犬']"},
        {"word_original": "cat", "en": "['cat']", "fr": "['chat',\n 'minou']", "zh": "['猫']"},
        {
            "word_original": "bag",
            "en": "['bag', 'paper bag']",
            "fr": "['sac', 'sac plastique']",
            "zh": "['包']",
        },
        {"word_original": "sun", "en": "['sun']", "fr": "['soleil']", "zh": "not a list ["},
        {"word_original": "moon", "en": "['moon']", "fr": "['lune']", "zh": "['月亮', '月']"},
        {"word_original": "", "en": "['x']", "fr": "['x']", "zh": "['x']"},
    ]
    (folder / "fr").mkdir(parents=True)
    pd.DataFrame(rows)[["fr", "zh", "en", "word_original"]].to_csv(
        folder / "fr" / "word_translation.csv", index=False
    )
    (folder / "zh").mkdir()
    pd.DataFrame(rows[:2]).to_csv(folder / "zh" / "word_translation.csv", index=False)


def test_dumas_layout_with_synonyms(tmp_path):
    write_dumas(tmp_path)
    words = load_words(tmp_path, source_lang="fr")
    table = words.table.set_index("en")
    assert table.loc["cat", "fr"] == "chat" and table.loc["bag", "fr"] == "sac"
    assert words.accepted("cat", "fr", "chat") == ("chat", "minou")  # the cell that spans two lines
    assert words.accepted("bag", "en", "bag") == ("bag", "paper bag")
    assert pd.isna(table.loc["sun", "zh"])  # its zh cell is not a list: no zh word, recorded
    assert {(d.concept, d.reason) for d in words.skipped} >= {("sun", "malformed row")}
    assert any("row 6" in d.concept for d in words.skipped)  # no word_original
    prompts = translation_prompts(words, "fr", "zh", n_shots=2)
    assert {p.concept for p in prompts} == {"dog", "cat", "bag", "moon"}
    assert "sun" in {d.concept for d in prompts.dropped}
    dog = next(p for p in prompts if p.concept == "dog")
    assert dog.text.endswith('Français: "chien" - 中文: "') and dog.words("zh") == ("狗", "犬")
    assert all('"toutou"' not in p.text for p in prompts)  # demonstrations show the first synonym
    assert len(load_words(tmp_path, source_lang="zh").table) == 2  # each input language has its file
    assert len(load_words(tmp_path / "fr" / "word_translation.csv").table) == 5  # or give the file


def test_dumas_folder_without_the_source_language(tmp_path):
    write_dumas(tmp_path)
    with pytest.raises(LatentLangError, match="word_translation.csv for fr, zh as input language, not 'de'"):
        load_words(tmp_path, source_lang="de")


def test_dumas_token_sets_are_unions_over_synonyms(tmp_path):
    from conftest import tiny_tokenizer

    from latentlang.language.tokens import VocabIndex

    write_dumas(tmp_path)
    words = load_words(tmp_path, source_lang="fr")
    index = VocabIndex(tiny_tokenizer(["chien toutou chat minou sac plastique 狗 犬 猫 dog hound"] * 20))
    dog = next(p for p in translation_prompts(words, "fr", "zh", n_shots=1) if p.concept == "dog")
    union = index.concept_set(dog.words("zh"))
    assert set(union.ids) == set(index.token_set("狗").ids) | set(index.token_set("犬").ids)
    bag = index.concept_set(words.accepted("bag", "fr", "sac"))  # "sac plastique" begins like "sac"
    assert set(index.token_set("sac").ids) <= set(bag.ids)


def test_a_multi_word_entry_is_a_word(tmp_path):
    path = tmp_path / "words.csv"
    path.write_text("en,fr\nice cream,glace\ncamera,appareil photo\n")
    words = load_words(path)
    assert list(words.table["fr"]) == ["glace", "appareil photo"]
