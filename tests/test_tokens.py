"""Token sets in a byte-level BPE vocabulary (tiny, trained here) and in Gemma's real vocabulary."""

import pytest
from conftest import tiny_tokenizer

from latentlang.errors import LatentLangError
from latentlang.tokens import TokenSet, VocabIndex, find_collisions, require_tokens, resolve_overlaps

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


def test_words_with_spaces_are_rejected(byte_level):
    _, index = byte_level
    with pytest.raises(LatentLangError, match="single word"):
        index.token_set("ice cream")


def test_collisions_and_missing_tokens():
    sets = {
        "en": TokenSet("cat", (1, 2), 2),
        "fr": TokenSet("chat", (1, 5), 5),
        "zh": TokenSet("猫", (9,), 9),
    }
    assert find_collisions(sets) == [("en", "fr")]
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
