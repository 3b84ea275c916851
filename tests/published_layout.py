"""A small folder in Wendler et al.'s published ``data/langs/{lang}/clean.csv`` layout, written
for the tests, with the awkward rows real data has (another row order per file, a missing concept,
an empty cell, cloze answers in single and nested quotes, zh's ``"_"`` blank)."""

import pandas as pd

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
