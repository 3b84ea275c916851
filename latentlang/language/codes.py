"""Language codes, the names prompts use for them, and the colour of each in every view.

Prompts name each language in that language (``Français``, ``中文``), as in the published
translation task (Wendler et al., 2024, *Do Llamas Work in English?*). Figures and HTML views take
their colours from :func:`language_colors`, so a language, and the language-ID labels ``other``
and ``none`` (no letters), look the same everywhere.
"""

from latentlang.errors import LatentLangError

#: ISO 639-1 code -> the language's name in itself, as written in few-shot prompts.
LANGUAGE_NAMES: dict[str, str] = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "it": "Italiano",
    "pt": "Português",
    "nl": "Nederlands",
    "pl": "Polski",
    "cs": "Čeština",
    "sv": "Svenska",
    "da": "Dansk",
    "nb": "Norsk",
    "fi": "Suomi",
    "et": "Eesti",
    "hu": "Magyar",
    "ro": "Română",
    "tr": "Türkçe",
    "id": "Bahasa Indonesia",
    "vi": "Tiếng Việt",
    "ru": "Русский",
    "uk": "Українська",
    "bg": "Български",
    "el": "Ελληνικά",
    "he": "עברית",
    "ar": "العربية",
    "fa": "فارسی",
    "hi": "हिन्दी",
    "bn": "বাংলা",
    "zh": "中文",
    "ja": "日本語",
    "ko": "한국어",
    "th": "ไทย",
}


def check_language(code: str, available: list[str] | None = None) -> str:
    """Return ``code`` if latentlang knows it (and ``available`` has it), else raise.

    Args:
        code: An ISO 639-1 code such as ``"fr"``.
        available: The codes a word list holds; ``None`` checks only that the code is known.

    Raises:
        LatentLangError: The code is unknown or missing from ``available``.
    """
    if code not in LANGUAGE_NAMES:
        known = ", ".join(sorted(LANGUAGE_NAMES))
        raise LatentLangError(f"unknown language code {code!r}; use one of: {known}")
    if available is not None and code not in available:
        raise LatentLangError(
            f"the word list has no column for {code!r}; it has: {', '.join(available)} "
            "(add a column, or pass --words with a list that has it)"
        )
    return code


#: One colour per language in every figure and view; English orange, as in the published figures.
LANGUAGE_COLORS = {
    "en": "#e66101",
    "zh": "#1b9e77",
    "fr": "#5e3c99",
    "de": "#0571b0",
    "ja": "#d01c8b",
    "ru": "#a6761d",
    "es": "#66a61e",
    "it": "#e6ab02",
    "ko": "#7570b3",
    "ar": "#666666",
}
#: Colours for languages without one above, in order of appearance.
SPARE_COLORS = ["#1f78b4", "#33a02c", "#fb9a99", "#cab2d6", "#b15928", "#8dd3c7", "#bebada", "#80b1d3"]
#: The language-ID labels that are not languages: a token in another language, one with no letters.
OTHER_COLOR, NO_LETTERS_COLOR = "#bdbdbd", "#e0e0e0"
_LABEL_COLORS = {"other": OTHER_COLOR, "none": NO_LETTERS_COLOR}


def language_colors(languages: list[str]) -> list[str]:
    """The colour of each language (or language-ID label): fixed for common languages and for
    ``other`` and ``none``, spare colours for the rest in order of appearance."""
    spare = iter(SPARE_COLORS * (1 + len(languages) // len(SPARE_COLORS)))
    return [LANGUAGE_COLORS.get(lang) or _LABEL_COLORS.get(lang) or next(spare) for lang in languages]
