"""Splitting a tokenized text into words and looking them up: on made-up tokens, and on real
Gemma-3 tokens of en, de, fr, ru, zh and ja sentences (slow)."""

import pytest

from latentlang.language.datasets import load_words
from latentlang.language.segment import Dictionary, split_words

DICTIONARY = Dictionary.from_word_list(load_words())


def test_words_start_at_word_starts_and_end_before_punctuation():
    words = split_words(["The", " dog", " runs", ",", " fast", "er", "."], DICTIONARY, "en")
    assert [(w.text, w.start, w.end) for w in words] == [
        ("The", 0, 1),
        ("dog", 1, 2),
        ("runs", 2, 3),
        ("faster", 4, 6),
    ]
    assert DICTIONARY.english("dog", "en") == ("dog",) and DICTIONARY.english("Hund", "de") == ("dog",)


def test_runs_without_spaces_take_the_longest_entry_and_skip_words_inside_a_token():
    dictionary = Dictionary({("zh", "狗"): ("dog",), ("zh", "花园"): ("garden",)}, 2)
    words = split_words(["狗", "在", "花", "园", "里睡"], dictionary, "zh")
    assert [(w.text, w.start, w.end) for w in words] == [
        ("狗", 0, 1),
        ("在", 1, 2),
        ("花园", 2, 4),
        ("里", 4, 5),
    ]
    # "睡" starts inside the token "里睡": no position predicts it alone


def test_russian_case_forms_are_found_by_their_stem():
    dictionary = Dictionary(
        {("ru", "собака"): ("dog",), ("ru", "дом"): ("house",), ("de", "hund"): ("dog",)}, 1
    )
    assert dictionary.english("собаку", "ru") == ("dog",) and dictionary.english("Собакой", "ru") == ("dog",)
    assert dictionary.english("домом", "ru") == ("house",) and dictionary.english("собакус", "ru") == ()
    assert dictionary.english("hunde", "de") == ()  # only the languages of CASE_ENDINGS


def test_a_csv_dictionary_skips_and_counts_bad_rows(tmp_path):
    path = tmp_path / "dict.csv"
    path.write_text("word,lang,en\nHund,de,dog\n,de,cat\nKatze,de,cat\nchien,fr,\n")
    dictionary, skipped = Dictionary.from_csv(path)
    assert skipped == 2 and dictionary.english("katze", "de") == ("cat",)
    assert dictionary.languages_of("Hund") == ["de"]


SENTENCES = {
    "en": ("The dog sleeps in the garden.", ["dog", "garden"]),
    "de": ("Der Hund schläft im Garten.", ["Hund"]),
    "fr": ("Le chien dort dans le jardin.", ["chien"]),
    "ru": ("Собака спит в саду.", ["Собака"]),
    "zh": ("我的狗在花园里睡觉。", ["狗"]),
    "ja": ("私の犬は庭で寝ています。", ["犬"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_real_gemma_tokens(gemma, lang):
    text, listed = SENTENCES[lang]
    ids = gemma.tokenizer(text, add_special_tokens=False)["input_ids"]
    tokens = [gemma.tokenizer.decode([i]) for i in ids]
    words = split_words(tokens, DICTIONARY, lang)
    assert "".join(tokens) == text
    for word in words:  # each word is the text of its tokens, without the space before it
        assert "".join(tokens[word.start : word.end]).strip().startswith(word.text)
    found = {w.text: w for w in words}
    for entry in listed:
        assert entry in found, (lang, [w.text for w in words])
        assert found[entry].lang == lang and DICTIONARY.english(entry, lang), (lang, entry)
    if lang in ("en", "de", "fr", "ru"):  # scripts with spaces: every space-separated word is found
        expected = [w.strip(".,") for w in text.split()]
        assert [w.text for w in words] == expected
