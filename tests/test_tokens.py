"""Token sets in a byte-level BPE vocabulary (tiny, trained here) and in Gemma's real vocabulary."""

import pytest
from conftest import tiny_sp_tokenizer, tiny_tokenizer

from latentlang.errors import LatentLangError
from latentlang.language.tokens import TokenSet, VocabIndex, find_collisions, require_tokens, resolve_overlaps

CORPUS = [
    "chien chien chat chat 狗 狗 猫 собака собака",
    'Français: "chien" - 中文: "狗"',
    "a, b. c! d?",
] * 20


@pytest.fixture(scope="module")
def byte_level():
    tok = tiny_tokenizer(CORPUS)
    return tok, VocabIndex(tok)


def test_byte_level_tokens_decode_to_their_text(byte_level):
    tok, index = byte_level
    assert index.byte_level
    checked = 0
    for token in tok.get_vocab():
        raw = index.token_bytes(token)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue  # partial character: no text to compare with
        assert text == tok.convert_tokens_to_string([token]), token
        checked += 1
    assert checked > 100


def test_byte_level_token_set_has_every_prefix_and_byte(byte_level):
    tok, index = byte_level
    vocab = tok.get_vocab()
    chien = index.token_set("chien")
    names = set(tok.convert_ids_to_tokens(list(chien.ids)))
    assert {"c", "Ġc"} <= names  # one-letter prefixes, with and without the marker
    assert "Ġchien" in vocab and "Ġchien" in names
    assert chien.first_id in chien.ids
    dog = index.token_set("狗")
    first_byte = "狗".encode()[0]
    dog_names = set(tok.convert_ids_to_tokens(list(dog.ids)))
    assert any(index.token_bytes(t) == bytes([first_byte]) for t in dog_names)  # the byte piece
    assert "Ġ" not in names and "Ġ" not in dog_names  # never the bare marker


def test_fillers_are_never_members(byte_level):
    tok, index = byte_level
    for word in ["chien", "chat", "狗", "собака"]:
        for token in tok.convert_ids_to_tokens(list(index.token_set(word).ids)):
            core = index.token_bytes(token).lstrip(b" ")
            assert core and core.strip(b' ,.!?"') == core


def test_a_multi_word_entry_gets_the_tokens_that_begin_it(byte_level):
    """As Dumas et al.'s prefix sets: ``chien chat`` can begin with anything that begins
    ``chien``, and with no token that does not."""
    _, index = byte_level
    phrase, first = index.token_set("chien chat"), index.token_set("chien")
    assert set(first.ids) <= set(phrase.ids)
    extra = [index.cores[i] for i in set(phrase.ids) - set(first.ids)]
    assert all(b"chien chat".startswith(core) and len(core) > len(b"chien") for core in extra)
    with pytest.raises(LatentLangError, match="need a word"):
        index.token_set("  ")


def test_synonyms_union_and_intersection(byte_level):
    _, index = byte_level
    union = index.concept_set(("chat", "chien"))
    assert set(union.ids) == set(index.token_set("chat").ids) | set(index.token_set("chien").ids)
    assert union.word == "chat"
    shared = index.token_set("chat") & index.token_set("chien")
    assert set(shared.ids) == set(index.token_set("chat").ids) & set(index.token_set("chien").ids)
    assert shared.ids and "chi" not in {index.cores[i].decode() for i in shared.ids}


def notebook_token_ids(word: str, tokenizer, lang: str) -> set[int]:
    """The published notebooks' token-set rule, restated step by step as a reference: every
    character prefix with and without ``▁`` that is a vocabulary string, plus, for zh and ru, the
    byte token named after the first ``\\x`` escape of the word's bytes."""
    vocab = tokenizer.get_vocab()
    prefixes = [word[:i] for i in range(1, len(word) + 1)]
    ids = {vocab[t] for t in ["▁" + p for p in prefixes] + prefixes if t in vocab}
    if lang in ("zh", "ru"):
        escapes = str(word.encode())[2:-1].split("\\x")
        key = f"<0x{escapes[1].upper()}>"
        if key in vocab:
            ids.add(vocab[key])
    return ids


WENDLER_WORDS = {
    "en": ["cat", "chien", "book"],
    "fr": ["chat", "chien"],
    "zh": ["狗", "猫", "书"],
    "ru": ["собака"],
}


def test_wendler_rule_is_the_notebooks_rule():
    tok = tiny_sp_tokenizer(CORPUS + ["book books cat", "书 书 猫 собака"] * 10)
    index = VocabIndex(tok)
    assert not index.byte_level
    for lang, words in WENDLER_WORDS.items():
        for word in words:
            assert set(index.token_set(word, "wendler2024", lang).ids) == notebook_token_ids(word, tok, lang)
    dog = set(tok.convert_ids_to_tokens(list(index.token_set("狗", "wendler2024", "zh").ids)))
    assert "<0xE7>" in dog  # the first UTF-8 byte of 狗 (E7 8B 97)
    assert "<0xE7>" not in set(
        tok.convert_ids_to_tokens(list(index.token_set("狗", "wendler2024", "ja").ids))
    )
    assert index.is_single_token("chien") and not index.is_single_token("chienchat")


def test_wendler_rule_in_a_byte_level_vocabulary(byte_level):
    """The same strings spelled in the byte alphabet: ``Ġchien`` for ``▁chien``, the byte ``ç``
    (0xE7) for ``<0xE7>``."""
    tok, index = byte_level
    names = set(tok.convert_ids_to_tokens(list(index.token_set("chien", "wendler2024", "fr").ids)))
    assert {"c", "Ġc", "chien", "Ġchien"} <= names
    dog = set(tok.convert_ids_to_tokens(list(index.token_set("狗", "wendler2024", "zh").ids)))
    assert "ç" in dog and index.is_single_token("chien")


def test_collisions_and_missing_tokens():
    sets = {
        "en": TokenSet("cat", (1, 2), 2),
        "fr": TokenSet("chat", (1, 5), 5),
        "zh": TokenSet("猫", (9,), 9),
    }
    assert find_collisions(sets) == [("en", "fr")]
    assert find_collisions(sets, [("zh", "en")]) == []  # the notebooks' rule: target against English
    with pytest.raises(LatentLangError, match="'ねこ' has no token"):
        require_tokens({"ja": TokenSet("ねこ", (), None)}, "tiny")


@pytest.mark.slow
def test_gemma_whitespace_is_not_chinese(gemma):
    """' 狗' tokenizes to the bare '▁' then '狗': the naive first token would be whitespace."""
    tok, index = gemma.tokenizer, gemma.vocab
    naive_first = tok(" 狗", add_special_tokens=False)["input_ids"][0]
    assert tok.convert_ids_to_tokens(naive_first) == "▁"
    dog = index.token_set("狗")
    assert naive_first not in dog.ids
    assert set(tok.convert_ids_to_tokens(list(dog.ids))) == {"狗", "<0xE7>"}


@pytest.mark.slow
def test_gemma_token_sets(gemma):
    tok, index = gemma.tokenizer, gemma.vocab

    def names(word):
        return set(tok.convert_ids_to_tokens(list(index.token_set(word).ids)))

    chien = names("chien")
    assert {"chien", "▁chien", "ch", "▁ch", "c", "▁c", "<0x63>"} <= chien
    assert not any(t in chien for t in ["▁", "▁chiens", "chiens", "ien"])
    assert {"▁с", "со", "▁со", "<0xD1>"} <= names("собака")  # Cyrillic, with the first UTF-8 byte
    assert {"花", "▁花", "<0xE8>"} == names("花")
    for word in ["chien", "собака", "花", "개", "كلب", "Hund"]:
        for t in names(word):
            assert t.replace("▁", "").strip(), f"{word}: whitespace token {t!r}"


def test_overlap_policies():
    zh, ja = TokenSet("狗", (7, 40), 40), TokenSet("犬", (7, 41), 41)
    en = TokenSet("dog", (1, 2), 2)
    sets = {"en": en, "zh": zh, "ja": ja}
    dropped, why = resolve_overlaps(sets, "drop")
    assert dropped is None and why == "zh/ja share tokens"
    kept, _ = resolve_overlaps(sets, "exclude")
    assert kept["zh"].ids == (40,) and kept["ja"].ids == (41,) and kept["en"] == en
    same = {"zh": TokenSet("猫", (9,), 9), "ja": TokenSet("猫", (9,), 9)}
    assert resolve_overlaps(same, "exclude")[0] is None
    assert resolve_overlaps({"en": en}, "drop") == ({"en": en}, "")


@pytest.mark.slow
def test_gemma_wendler_rule_is_the_notebooks_rule(gemma):
    """Every word of the shipped list in the notebooks' five languages, on Gemma's vocabulary."""
    from latentlang.language.datasets import load_words

    table = load_words().table
    for lang in ["en", "de", "fr", "ru", "zh"]:
        for word in table[lang].dropna():
            ours = set(gemma.vocab.token_set(word, "wendler2024", lang).ids)
            assert ours == notebook_token_ids(word, gemma.tokenizer, lang), (lang, word)
